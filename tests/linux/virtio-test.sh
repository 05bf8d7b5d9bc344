#!/usr/bin/env bash
# Linux boots in the x86 lab with every virtio device (tests/linux/virtio-lab.sh runs
# there). The guest's init checks each device (tests/linux/init_virtio.c); the host side
# checks what it sees: the image holds the guest's records and the discarded range reads
# as zeros, and the VM's RSS drops by about the balloon's size when the guest inflates it
# (mode inflate), or by about what the guest freed with free page reporting (mode report).
#   virtio-test.sh PAGODA INITRAMFS GUEST_TEST inflate|report
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 initramfs=$2 guest_test=$3 mode=$4
kdir=$("$here/build-kernel.sh")
lab=(x86 --timeout 900 --add "$pagoda" --add "$kdir/bzImage:/kernel" --add "$initramfs:/initramfs.cpio"
     --add "$here/virtio-lab.sh:/bin/virtio-lab.sh")
# A drop within 25% of what was asked: the guest's own allocations move a few MiB.
drop='drop ([0-9]+) MiB'
if [ "$mode" = inflate ]; then
  mb=64
  records=$(python3 -c 'import hashlib; print(hashlib.sha256(b"".join(b"pagodablk %05x\n" % i for i in range(65536))).hexdigest())')
  zeros=$(head -c 1048576 /dev/zero | sha256sum | cut -d' ' -f1)
  exec python3 "$guest_test" "$here/../lab/lab.sh" --wall 1200 --exit 0 \
    --expect='^PAGODA-INIT-OK' --expect='virtio checks: all passed' \
    --expect='blk serial: pagoda-vda' --expect='rng current: virtio_rng' \
    --expect='net: eth0 10.0.2.15 ping 10.0.2.1: reply' --expect='virtio-net tap0 .* rx_packets=[1-9]' \
    --expect="image records: $records" --expect="image discarded: $zeros" \
    --expect="virtio-balloon target=${mb}M .* inflated=$((2 * mb))M deflated=${mb}M reported=0M" \
    --expect="drop (4[89]|5[0-9]|6[0-9]|7[0-9]|80) MiB" -- \
    "${lab[@]}" -- unshare -n sh /bin/virtio-lab.sh inflate $mb
fi
exec python3 "$guest_test" "$here/../lab/lab.sh" --wall 1200 --exit 0 \
  --expect='^PAGODA-INIT-OK' --expect='REPORT-FREED' --expect='virtio-balloon .* reported=[1-9][0-9]+M' \
  --expect="drop (1[0-9][0-9]) MiB" -- \
  "${lab[@]}" -- sh /bin/virtio-lab.sh report 0
