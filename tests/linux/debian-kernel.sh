#!/usr/bin/env bash
# Debian bookworm's cloud kernel and the part of its module tree pagoda exec takes from
# it (modules.dep; virtio, fuse/virtiofs and overlayfs), out of the cached Debian guest
# (tests/linux/build-debian-guest.sh, made when missing) into DIR: DIR/vmlinuz-VERSION and
# DIR/VERSION/. Prints VERSION. Exit 2 when the Debian image cannot be made here.
#   debian-kernel.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$1
d=$("$here/build-debian-guest.sh") || exit $?
ver=$(debugfs -R 'ls /lib/modules' "$d/rootfs.img" 2>/dev/null | grep -o '[0-9][^ ]*-amd64' | head -1)
[ -n "$ver" ] || { echo "debian-kernel: no module tree in $d/rootfs.img" >&2; exit 1; }
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
