#!/usr/bin/env bash
# Debian bookworm's cloud kernel and the part of its module tree pagoda exec takes from
# it (modules.dep; virtio, fuse/virtiofs and overlayfs), out of the cached Debian guest
# (tests/linux/build-debian-guest.sh, made when missing) into DIR: DIR/vmlinuz-VERSION and
# DIR/VERSION/. Prints VERSION. Exit 2 when the Debian image cannot be made here.
#   debian-kernel.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
say() { echo "debian-kernel: $*" >&2; }
# Every step that can fail says so: under set -e a failing pipeline in an assignment
# would end the script without a word.
built=$("$here/build-debian-guest.sh") || { st=$?; say "making the Debian guest failed (exit $st, above)"; exit $st; }
d=$(printf '%s\n' "$built" | tail -1)
[ -f "$d/rootfs.img" ] || { say "build-debian-guest.sh printed '$built', not a directory holding rootfs.img"; exit 1; }
command -v debugfs >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y e2fsprogs >/dev/null 2>&1 ||
  { say "debugfs is missing and e2fsprogs could not be installed"; exit 1; }
listing=$(debugfs -R 'ls /lib/modules' "$d/rootfs.img" 2>&1) || { say "debugfs could not read $d/rootfs.img: $listing"; exit 1; }
ver=$(printf '%s\n' "$listing" | grep -o '[0-9][^ ]*-amd64' | head -1 || true)
[ -n "$ver" ] || { say "no module tree in $d/rootfs.img (its /lib/modules: $listing)"; exit 1; }
mkdir -p "$out/$ver/kernel/fs" "$out/$ver/kernel/drivers"
cp "$d/vmlinuz" "$out/vmlinuz-$ver"
debugfs -f - "$d/rootfs.img" >/dev/null 2>&1 <<CMDS
dump /lib/modules/$ver/modules.dep $out/$ver/modules.dep
rdump /lib/modules/$ver/kernel/drivers/virtio $out/$ver/kernel/drivers
rdump /lib/modules/$ver/kernel/fs/fuse $out/$ver/kernel/fs
rdump /lib/modules/$ver/kernel/fs/overlayfs $out/$ver/kernel/fs
CMDS
[ -s "$out/$ver/kernel/fs/fuse/virtiofs.ko" ] ||
  { echo "debian-kernel: could not take the modules out of $d/rootfs.img" >&2; exit 1; }
echo "$ver"
