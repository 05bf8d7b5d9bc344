#!/usr/bin/env bash
# The Linux guest live-migrates once inside the x86 lab (tests/linux/migrate-lab.sh runs
# there) and keeps running its init: the ticks go on at the destination, none lost or
# repeated. With arm64, the Debian arm64 kernel (the lab's own) in the arm64 lab: its
# timer, GIC and PSCI state move with it.
#   migrate-test.sh PAGODA INITRAMFS GUEST_TEST [x86|arm64]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pagoda=$1 initramfs=$2 guest_test=$3 arch=${4:-x86}
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
# The guest reads its virtio-rng before every tick, on PCI: its MSI-X route (and on arm64
# the ITS's tables in guest RAM) must move with it or the ticks stop at the destination.
if [ "$arch" = arm64 ]; then
  kernel=$("$here/../lab/lab.sh" arm64 --kernel-path) limit=400
  "$here/arm64-initramfs.sh" "$initramfs" "$w/initramfs.cpio" drivers/char/hw_random/virtio-rng
  initramfs=$w/initramfs.cpio
else
  kernel=$("$here/build-kernel.sh")/bzImage limit=120
fi
# The lab's limit: the script's worst case (four steps of $limit) and a minute; the wall
# clock's: that, the lab job's margin (tests/lab/lab_job.py, 120 s) and a boot. A lab that
# hangs is then reported by lab.sh, with its console, before the wall clock kills it.
lab_limit=$((limit * 4 + 60)); [ $lab_limit -le 1100 ] || lab_limit=1100
wall=$((lab_limit + 120 + 240))
python3 "$guest_test" "$here/../lab/lab.sh" --wall "$wall" --exit 0 \
  --expect='LINUX-MIGRATED-OK' --expect='migrate: done: [0-9]+ passes' \
  --expect='hold: each tick reads /dev/hwrng' --expect='stats: virtio-rng bytes=[1-9]' -- \
  "$arch" --timeout "$lab_limit" --add "$pagoda" --add "$kernel:/kernel" --add "$initramfs:/initramfs.cpio" \
  --add "$here/migrate-lab.sh:/bin/migrate-lab.sh" -- sh /bin/migrate-lab.sh "$limit" --rng --virtio-transport pci
