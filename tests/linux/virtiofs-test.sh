#!/usr/bin/env bash
# virtio-fs with a distribution's kernel, in the x86 lab (tests/linux/virtiofs-lab.sh runs
# there): pagoda exec boots Debian bookworm's cloud kernel (from the cached Debian guest,
# tests/linux/build-debian-guest.sh) with its modules, on the lab's root over virtio-fs;
# a shared directory is written by the guest (create, rename, chmod, links, remove, a
# 3 MiB file) and checked on the host, a tmpfs mounted below it is an empty directory to
# the guest; shared read-only it stays unchanged.
# Exit 77 (a skip that says why) when the archive cannot be reached to make the image.
#   virtiofs-test.sh PAGODA GUEST_TEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 guest_test=$2
k=$(mktemp -d); trap 'rm -rf "$k"' EXIT
set +e
ver=$("$here/debian-kernel.sh" "$k")
st=$?
set -e
[ $st = 2 ] && { echo "virtiofs-test: no Debian kernel (its packages cannot be fetched here, above): skipped"; exit 77; }
[ $st = 0 ] || exit $st
python3 "$guest_test" "$here/../lab/lab.sh" --wall 1500 --exit 0 \
  --expect="exec: hello from $ver in /bin" --expect='^scratch' --expect='^exec has its own /proc and /sys' --expect='^exec has its own /tmp' --expect='^exec sees /srv/mp empty' \
  --expect='pagoda-init: command starts [0-9]+ ms after boot \(root over virtio-fs\)' \
  --expect='virtio-fs pagoda-root requests=[1-9][0-9]* errors=[0-9]+ nodes=' \
  --expect='exec status: 7$' --expect='host sees scratch: absent' \
  --expect='pagoda-init: /no/such/command: No such file or directory' --expect='exec missing status: 127$' \
  --expect='fs host file says: hello from the host' --expect='fs big file written and read back: ok' \
  --expect='fs checks: all passed' --expect='pagoda exit: 0$' \
  --expect='host sees moved.txt: written mode 600 links 2' --expect='host sees link: gdir/moved.txt' \
  --expect='host sees doomed.txt: absent' --expect='host sees below the mount point: hidden $' --expect='host sees big.bin: 3145728 bytes, as the guest wrote it' \
  --expect='fs create on a read-only share refused: ok' --expect='fs ro checks: all passed' \
  --expect='pagoda ro exit: 0$' --expect='host sees the read-only share unchanged' -- \
  x86 --timeout 1200 --add "$pagoda" --add "$k/vmlinuz-$ver:/boot/vmlinuz-$ver" --add "$k/$ver:/lib/modules/$ver" \
  --add "$here/virtiofs-lab.sh:/bin/virtiofs-lab.sh" -- sh /bin/virtiofs-lab.sh
