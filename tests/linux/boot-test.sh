#!/usr/bin/env bash
# One Linux boot in the x86 lab: builds (or reuses) the test kernel, then boots it with
# pagoda inside the lab and checks that init ran and the VM ended as asked.
#   boot-test.sh PAGODA INITRAMFS GUEST_TEST bzimage|pvh poweroff|reboot CPUS
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 initramfs=$2 guest_test=$3 format=$4 action=$5 cpus=$6
kdir=$("$here/build-kernel.sh")
case "$format" in
  bzimage) kernel=$kdir/bzImage;;
  pvh) kernel=$kdir/vmlinux;;
  *) echo "boot-test.sh: format must be bzimage or pvh" >&2; exit 2;;
esac
exec python3 "$guest_test" "$here/../lab/lab.sh" --wall 900 --exit 0 \
  --expect='^PAGODA-INIT-OK' --expect="^cpus online: $cpus(\[ *[0-9.]+\] |\$)" --expect="cmdline: .* -- $action" \
  --expect='^real\s' -- \
  x86 --timeout 600 --add "$pagoda" --add "$kernel:/kernel" --add "$initramfs:/initramfs.cpio" -- \
  time pagoda run -k /kernel -i /initramfs.cpio -m 512M -c "$cpus" --timeout 120 -p "-- $action"
