#!/usr/bin/env bash
# The Linux guest live-migrates once inside the x86 lab (tests/linux/migrate-lab.sh runs
# there) and keeps running its init: the ticks go on at the destination, none lost or
# repeated.
#   migrate-test.sh PAGODA INITRAMFS GUEST_TEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 initramfs=$2 guest_test=$3
kdir=$("$here/build-kernel.sh")
exec python3 "$guest_test" "$here/../lab/lab.sh" --wall 1200 --exit 0 \
  --expect='LINUX-MIGRATED-OK' --expect='migrate: done: [0-9]+ passes' -- \
  x86 --timeout 900 --add "$pagoda" --add "$kdir/bzImage:/kernel" --add "$initramfs:/initramfs.cpio" \
  --add "$here/migrate-lab.sh:/bin/migrate-lab.sh" -- sh /bin/migrate-lab.sh
