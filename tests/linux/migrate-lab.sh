#!/bin/sh
# Inside the x86 or arm64 lab: Linux (init "hold": a tick a second) live-migrates from one
# pagoda to another over a unix socket; the destination must carry on with the next tick.
# (The guest's tty ends lines with \r\n: patterns stop before the line's end.)
#   migrate-lab.sh [SECONDS [DEVICE OPTIONS...]]   how long a step may take (default 120;
#                                                 arm64's lab is slower); devices for both VMs
limit=${1:-120}
shift $(($# > 0 ? 1 : 0))
rm -f /tmp/m.sock /tmp/api /tmp/api2
wait_for() { i=0; while ! grep -q "$2" "$1"; do i=$((i+1)); [ $i -gt $((limit * 10)) ] && return 1; sleep 0.1; done; }
# The guest's console (stdout) and pagoda's words (stderr) go to separate files: a message
# printed at the move must not cut the tick line the guest was writing.
pagoda run --incoming unix:/tmp/m.sock -m 256M -c 2 --api-sock /tmp/api2 --timeout $((limit * 2)) --stats "$@" \
  > /tmp/dst 2>/tmp/dst.err &
dst=$!
pagoda run -k /kernel -i /initramfs.cpio -m 256M -c 2 --api-sock /tmp/api --timeout $((limit * 2)) "$@" \
  -p "-- hold" > /tmp/src 2>/tmp/src.err &
src=$!
wait_for /tmp/src "^tick 3[^0-9]" || { cat /tmp/src.err /tmp/src; echo "the guest never ticked"; exit 1; }
pagoda ctl /tmp/api migrate unix:/tmp/m.sock; mrc=$?
wait $src; src_rc=$?
ticks() { tr -d '\r' < "$1" | sed -n 's/^tick \([0-9]*\)$/\1/p'; }
last=$(ticks /tmp/src | tail -1)
wait_for /tmp/dst "^tick $((last + 3))[^0-9]"; ok=$?
pagoda ctl /tmp/api2 stop >/dev/null
wait $dst; dst_rc=$?
echo "== source"; cat /tmp/src.err /tmp/src; echo; echo "== destination"; cat /tmp/dst.err /tmp/dst
# The two consoles joined are one stream (a line the move cut goes on at the destination):
# its ticks must count up by one, none lost or repeated.
joined=$(cat /tmp/src /tmp/dst > /tmp/both; ticks /tmp/both)
prev="" inorder=0
for t in $joined; do
  [ -z "$prev" ] || [ "$t" = $((prev + 1)) ] || inorder=1
  prev=$t
done
first=$(ticks /tmp/dst | head -1)
echo "migrate exit $mrc, source exit $src_rc, destination exit $dst_rc; last whole tick line at the source $last, first at the destination $first; ticks in order across the move: $([ $inorder = 0 ] && echo yes || echo no: $joined)"
[ "$mrc" = 0 ] && [ "$src_rc" = 0 ] && [ "$dst_rc" = 0 ] && [ "$ok" = 0 ] && [ "$inorder" = 0 ] && [ -n "$first" ] && echo "LINUX-MIGRATED-OK"
