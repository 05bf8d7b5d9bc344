#!/usr/bin/env bash
# The Debian arm64 kernel as a pagoda guest in the arm64 lab: boots with the suite's
# initramfs on 2 vCPUs, reaches init, powers off through PSCI; pagoda must exit 0.
#   linux-boot.sh LAB_SH PAGODA INITRAMFS GUEST_TEST
set -euo pipefail
lab=$1 pagoda=$2 initramfs=$3 guest_test=$4
kernel=$("$lab" arm64 --kernel-path)
exec python3 "$guest_test" "$lab" --wall 1100 --exit 0 \
  --expect='PAGODA-INIT-OK' --expect='cpus online: 2' --expect='kernel: Linux version 6\.' \
  --expect='guest powered off' --expect='== linux exit 0' \
  -- arm64 --timeout 1000 --add "$pagoda" --add "$kernel:/Image" --add "$initramfs:/initramfs.cpio" -- \
  sh -c 'pagoda run -k /Image -i /initramfs.cpio -m 512M -c 2 --timeout 900 -p "panic=-1 -- poweroff"; echo "== linux exit $?"'
