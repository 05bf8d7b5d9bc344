#!/usr/bin/env bash
# The Linux guest boots on every memory backend (inside the x86 lab): anon, thp, hugetlb
# (memfd), memfd, and file= on the lab's hugetlbfs mount.
#   backends-test.sh PAGODA INITRAMFS GUEST_TEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 initramfs=$2 guest_test=$3
kdir=$("$here/build-kernel.sh")
script='for b in anon thp hugetlb memfd file=/hugetlb; do
  pagoda run -k /kernel -i /initramfs.cpio -m 256M --memory-backend $b --timeout 120 -p "-- poweroff" > /tmp/out 2>&1
  rc=$?; grep -q "^PAGODA-INIT-OK" /tmp/out && init=yes || init=no
  echo "backend $b: rc=$rc init=$init"
done'
exec python3 "$guest_test" "$here/../lab/lab.sh" --wall 900 --exit 0 \
  --expect='backend anon: rc=0 init=yes' --expect='backend thp: rc=0 init=yes' \
  --expect='backend hugetlb: rc=0 init=yes' --expect='backend memfd: rc=0 init=yes' \
  --expect='backend file=/hugetlb: rc=0 init=yes' -- \
  x86 --timeout 600 --add "$pagoda" --add "$kdir/bzImage:/kernel" --add "$initramfs:/initramfs.cpio" -- \
  sh -c "$script"
