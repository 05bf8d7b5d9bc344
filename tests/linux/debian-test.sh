#!/usr/bin/env bash
# A distribution guest: Debian bookworm from Debian's archive (tests/linux/build-debian-guest.sh,
# cached) boots in the x86 or arm64 lab with its own kernel and initramfs, systemd, a
# virtio-blk root and virtio-net over virtio-pci (tests/linux/debian-lab.sh runs there):
# it reaches the login prompt, root logs in on the console, it has an address from DHCP,
# and it powers off cleanly (pagoda exits 0).
# Exit 77 (a skip that says why) when the archive cannot be reached to make the image.
#   debian-test.sh PAGODA GUEST_TEST [x86|arm64 [VCPUS]]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 guest_test=$2 arch=${3:-x86} vcpus=${4:-1}
case "$arch" in
  x86) darch=amd64 opts=() lab_s=1200;;
  # arm64's default transport is mmio: PCI (through the ITS) is asked for. Its guest runs
  # under nested emulation: slower, much slower on a busy host (debian-lab.sh waits longer).
  arm64) darch=arm64 opts=(--virtio-transport pci) lab_s=2100;;
  *) echo "debian-test: unknown lab '$arch'"; exit 1;;
esac
set +e
d=$("$here/build-debian-guest.sh" "$darch")
st=$?
set -e
[ $st = 2 ] && { echo "debian-test: no Debian $darch image (above: it cannot be made here): skipped"; exit 77; }
[ $st = 0 ] || exit $st
exec python3 "$guest_test" "$here/../lab/lab.sh" --wall $((lab_s + 300)) --exit 0 \
  --expect='Debian GNU/Linux 12 pagoda-debian ttyS0' --expect='pagoda-debian login:' \
  --expect='root@pagoda-debian' --expect='address: .*inet 10\.0\.2\.(1[5-9]|20)/24' \
  --expect='reboot: Power down' --expect='pagoda exit: 0$' --expect='login prompt after [0-9.]+ s' \
  --expect="smp: Brought up 1 node, $vcpus CPU" \
  --expect='virtio-blk vda .*transport=pci' --expect='virtio-net tap0 .*transport=pci' -- \
  "$arch" --timeout $lab_s --drive "$d/rootfs.img" --add "$pagoda" --add "$d/vmlinuz:/vmlinuz" \
  --add "$d/initrd.img:/initrd.img" --add "$here/debian-lab.sh:/bin/debian-lab.sh" -- \
  sh /bin/debian-lab.sh "$vcpus" "${opts[@]}"
