#!/bin/sh
# Inside the x86 lab (busybox): boots the Linux guest with a disk, a tap in a fresh network
# namespace, an rng and a balloon, reads the VM's RSS at the guest's markers, then prints
# what the host sees for virtio-test.sh to check.
#   virtio-lab.sh inflate BALLOON_MB [pci]  the guest fills and frees memory, then inflates
#                                           (pci: every device on virtio-pci)
#   virtio-lab.sh report  0                 free page reporting: the guest fills and frees memory
mode=$1 balloon_mb=$2 transport=${3:-mmio}
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$1/status; }
wait_for() { i=0; while ! grep -q "$1" /tmp/out; do i=$((i+1)); [ $i -gt 1800 ] && return 1; sleep 0.1; done; }

if [ "$mode" = inflate ]; then
  dd if=/dev/zero bs=1M count=16 2>/dev/null | tr '\000' '\253' > /tmp/disk.img
  tunctl -t tap0 >/dev/null && ip link set lo up && ip link set tap0 up && ip addr add 10.0.2.1/24 dev tap0 ||
    { echo "could not set up tap0"; exit 99; }
  devices="--disk /tmp/disk.img --net tap=tap0 --rng --balloon=${balloon_mb}M"
  marks="BALLOON-TOUCHED BALLOON-INFLATED"
  action=virtio
else
  devices="--balloon=0,report"
  marks="REPORT-HOLDING REPORT-FREED"
  action=report
fi
pagoda run -k /kernel -i /initramfs.cpio -m 256M --timeout 300 --stats --virtio-transport $transport $devices \
  -p "-- $action" > /tmp/out 2>&1 &
pid=$!
n=0
for m in $marks; do
  n=$((n+1))
  wait_for "$m" && sleep 1 && rss $pid > /tmp/rss$n
done
wait $pid
rc=$?
cat /tmp/out
echo "pagoda exit: $rc"
r1=$(cat /tmp/rss1 2>/dev/null || echo 0) r2=$(cat /tmp/rss2 2>/dev/null || echo 0)
echo "VM RSS: $r1 kB at $(echo $marks | cut -d' ' -f1), $r2 kB at $(echo $marks | cut -d' ' -f2): drop $(( (r1 - r2) / 1024 )) MiB"
if [ "$mode" = inflate ]; then
  echo "image records: $(dd if=/tmp/disk.img bs=1M count=1 2>/dev/null | sha256sum | cut -d' ' -f1)"
  echo "image discarded: $(dd if=/tmp/disk.img bs=1M skip=1 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)"
fi
exit $rc
