#!/bin/sh
# Inside the x86 lab (busybox): the Linux guest (init's "load" action) idles, runs a load
# of 192 MiB, frees it, idles again, under --balloon auto (DAMON's working set on the
# stock lab kernel). At each stage the balloon's target and the VM's RSS are read; the
# host side (balloon-auto-test.sh) checks that they follow the load.
#   balloon-auto-lab.sh
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$1/status; }
wait_for() { i=0; while ! grep -q "$1" /tmp/out; do i=$((i+1)); [ $i -gt 3000 ] && return 1; sleep 0.1; done; }
target() { pagoda ctl /tmp/b.sock balloon | sed -n 's/.*"target": \([0-9]*\),.*/\1/p'; }

pagoda run -k /kernel -i /initramfs.cpio -m 512M --timeout 400 --stats --balloon=auto,stats=1 \
  --working-set 1 --api-sock /tmp/b.sock -p "-- load" > /tmp/out 2>&1 &
pid=$!
# Each stage: its marker, then time for the policy to act (4 windows to settle, then
# steps of RAM/16 per window when inflating).
for stage in "LOAD-IDLE 20" "LOAD-BUSY 8" "LOAD-FREED 25"; do
  set -- $stage
  if wait_for "$1"; then
    sleep "$2"
    echo "stage $1: balloon target $(( $(target) >> 20 )) MiB, VM RSS $(( $(rss $pid) >> 10 )) MiB"
    pagoda ctl /tmp/b.sock balloon
    echo
  else
    echo "stage $1: never reached"
  fi
done
wait $pid
rc=$?
cat /tmp/out
echo "pagoda exit: $rc"
exit $rc
