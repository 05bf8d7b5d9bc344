#!/usr/bin/env bash
# Linux mounts a host directory over virtio-9p in the x86 lab (tests/linux/fs-lab.sh runs
# there): reads what the host put, makes, renames, truncates, links and removes files, a
# 3 MiB file goes through many messages intact; the host sees every change after the VM
# ended. Shared read-only, the same directory refuses every write and stays unchanged.
#   fs-test.sh PAGODA INITRAMFS GUEST_TEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 initramfs=$2 guest_test=$3
kernel=$("$here/build-kernel.sh")/bzImage
exec python3 "$guest_test" "$here/../lab/lab.sh" --wall 1200 --exit 0 \
  --expect='^PAGODA-INIT-OK' --expect='fs host file says: hello from the host' \
  --expect='fs big file written and read back: ok' --expect='fs checks: all passed' \
  --expect='virtio-9p pagoda requests=[1-9][0-9]* errors=[0-9]+ fids=' \
  --expect='pagoda exit: 0$' --expect='host sees moved.txt: written mode 600' \
  --expect='host sees link: gdir/moved.txt' --expect='host sees doomed.txt: absent' \
  --expect='host sees big.bin: 3145728 bytes' \
  --expect='fs create on a read-only share refused: ok' --expect='fs ro checks: all passed' \
  --expect='pagoda ro exit: 0$' --expect='host sees the read-only share unchanged' -- \
  x86 --timeout 900 --add "$pagoda" --add "$kernel:/kernel" --add "$initramfs:/initramfs.cpio" \
  --add "$here/fs-lab.sh:/bin/fs-lab.sh" -- sh /bin/fs-lab.sh
