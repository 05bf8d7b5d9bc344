#!/usr/bin/env bash
# A Debian bookworm guest made from Debian's archive, for the distribution-guest tests
# (tests/linux/debian-test.sh): debootstrap's minbase with systemd, udev, dbus, iproute2
# and Debian's cloud kernel with its own initramfs; root logs in without a password; systemd-
# networkd asks DHCP on every ethernet link. Nothing else of pagoda's is in it: the test
# logs in on the serial console like a user. Written as an ext4 image with no partition
# table (root=/dev/vda), next to the kernel and initrd copied out of its /boot.
#   build-debian-guest.sh [amd64|arm64]   prints the directory: rootfs.img, vmlinuz, initrd.img
# arm64 on an x86 host runs the packages' scripts under qemu-user (Debian's
# qemu-user-static, registered with binfmt_misc here when it is not yet).
# Cached in ${PAGODA_DEBIAN_CACHE:-/var/cache/pagoda/debian}, keyed by this script's hash.
# Exit 2 when Debian's archive cannot be reached or debootstrap fails (the test skips).
set -euo pipefail
darch=${1:-amd64}
case "$darch" in amd64|arm64) ;; *) echo "build-debian-guest: unknown architecture '$darch': use amd64 or arm64" >&2; exit 1;; esac
key=$(sha256sum "$0" | cut -c1-12)
out=${PAGODA_DEBIAN_CACHE:-/var/cache/pagoda/debian}/bookworm-$darch-$key
[ -f "$out/done" ] && { echo "$out"; exit 0; }
say() { echo "build-debian-guest: $*" >&2; }
need() { # command:package...
  for tool in "$@"; do
    command -v "${tool%%:*}" >/dev/null && continue
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${tool#*:}" >/dev/null 2>&1 ||
      { say "cannot install ${tool#*:} with apt-get"; exit 2; }
  done
}

# Another architecture's binaries run through qemu-user: binfmt_misc must know it, with
# the F flag (the interpreter opened now, so it works inside the chroot).
foreign_ready() {
  need qemu-aarch64-static:qemu-user-static
  local bm=/proc/sys/fs/binfmt_misc
  [ -e $bm/register ] || mount -t binfmt_misc binfmt_misc $bm 2>/dev/null ||
    { say "cannot mount binfmt_misc: arm64 binaries cannot run here"; exit 2; }
  [ -e $bm/qemu-aarch64 ] && return 0
  local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
  [ -f $conf ] && printf '%s' "$(cat $conf)" > $bm/register 2>/dev/null ||
    { say "cannot register qemu-aarch64 with binfmt_misc"; exit 2; }
}

need debootstrap:debootstrap mkfs.ext4:e2fsprogs
[ "$darch" = "$(dpkg --print-architecture)" ] || foreign_ready
# The archive this machine's apt uses for bookworm (a fresh machine reaches no other), as
# apt itself reads its configuration (one-line and deb822 sources alike); none: no image.
mirror=$(apt-get indextargets --format '$(CODENAME) $(BASE_URI)' 2>/dev/null |
  sed -n 's|^bookworm \(.*\)/dists/bookworm/$|\1|p' | head -1)
[ -n "$mirror" ] || { say "apt has no bookworm archive configured (apt-get indextargets): no Debian guest"; exit 2; }

w=$out.tmp
rm -rf "$w"
mkdir -p "$w"
trap 'rm -rf "$w"' EXIT
root=$w/root
say "debootstrap bookworm $darch from $mirror (a few minutes, once)"
if ! debootstrap --arch "$darch" --variant=minbase \
     --include=systemd-sysv,udev,dbus,iproute2,linux-image-cloud-$darch,initramfs-tools \
     bookworm "$root" "$mirror" > "$w/debootstrap.log" 2>&1; then
  tail -n 20 "$w/debootstrap.log" >&2
  say "debootstrap failed (above): no Debian guest"
  exit 2
fi

echo pagoda-debian > "$root/etc/hostname"
echo "/dev/vda / ext4 defaults 0 1" > "$root/etc/fstab"
chroot "$root" passwd -d root >/dev/null
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nType=ether\n\n[Network]\nDHCP=ipv4\n' > "$root/etc/systemd/network/20-wired.network"
chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1
# Slow labs (arm64 runs its guest under nested emulation): no ext4 snapshot scrub at boot
# (there are no LVM snapshots), and devices get 10 minutes to appear instead of 90 s: the
# serial getty waits for udev to announce /dev/ttyS0, which took longer than 90 s there.
chroot "$root" systemctl mask e2scrub_reap.service >/dev/null 2>&1
mkdir -p "$root/etc/systemd/system.conf.d"
printf '[Manager]\nDefaultDeviceTimeoutSec=600s\n' > "$root/etc/systemd/system.conf.d/slow-lab.conf"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/*

cp -L "$root"/boot/vmlinuz-* "$w/vmlinuz"
cp -L "$root"/boot/initrd.img-* "$w/initrd.img"
mb=$(( $(du -sm "$root" | cut -f1) + 256 ))
# stdout carries only the directory: mkfs says "Creating regular file" there even with -q
# (on a fresh machine that line made debian-kernel.sh's directory two lines).
mkfs.ext4 -q -L root -d "$root" "$w/rootfs.img" "${mb}M" >&2
rm -rf "$root"
touch "$w/done"
trap - EXIT
rm -rf "$out"
mv "$w" "$out"
say "made $out ($mb MiB image)"
echo "$out"
