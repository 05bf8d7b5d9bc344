#!/bin/sh
# Runs inside the arm64 lab (busybox sh): the migrate guest (tests/guests/migrate.c: pages
# that carry their own version, verified every tick, and a step counter kept both in a
# register and in memory) moved four ways on 2 vCPUs (the second powered off through
# PSCI, as an OS that never started it): snapshot and restore copied, restore lazy, live
# pre-copy and post-copy migration over a unix socket. Each move must continue the ticks
# in order (the first tick after it is the one after the last before it) and end with
# "every page verified". Prints "== CASE ok" or "== CASE FAIL: why".
G=/bin/migrate.img
# About 10 s of guest here (200 ticks): long enough to catch it mid-run.
source_vm() { pagoda run -k $G -m 128M -c 2 --timeout 400 -p "steps=400000 tick=2000 mib=8" "$@"; }

. /wait_for.sh # wait_for FILE REGEX SECONDS

# The ticks of both sides in order. The guest's console (stdout) of the two joined is one
# stream: a line cut by the move goes on at the destination. pagoda's own words go to
# stderr, kept apart (.err) so they cannot cut a line.
ticks() { cat "$1" "$2" | grep -o '^tick [0-9]* verified' | cut -d' ' -f2; }

# Whether the ticks run 1, 2, 3... with none lost or repeated, and some after the move.
ticks_continue() { # source log, destination log
	n=0
	for t in $(ticks "$1" "$2"); do
		n=$((n + 1))
		[ "$t" = "$n" ] || return 1
	done
	[ -n "$(grep -o 'tick [0-9]* verified' "$2")" ]
}

# case, the source's log, the destination's log, the destination's exit
judge() {
	echo "---- $1: source"; cat "${2%.out}.err" "$2"; echo; echo "---- $1: destination"; cat "${3%.out}.err" "$3"
	if [ "$4" != 0 ]; then
		echo "== $1 FAIL: the destination exited $4"
	elif ! grep -q 'every page verified' "$3"; then
		echo "== $1 FAIL: the destination's guest did not finish verified"
	elif ! ticks_continue "$2" "$3"; then
		echo "== $1 FAIL: the ticks do not go on in order across the move: $(ticks "$2" "$3" | tr '\n' ' ')"
	else
		echo "== $1 ok ($(ticks "$2" /dev/null | tail -n 1) ticks before the move, $(grep -c 'tick [0-9]* verified' "$3") after)"
	fi
}

# A case's logs go before it starts: the source's redirection truncates its log only once
# its shell runs, and wait_for could read the previous case's 'tick 2 verified' first.
snapshot_case() { # case, restore arguments
	rm -rf /tmp/snap /tmp/a.sock /tmp/src.out /tmp/src.err /tmp/dst.out /tmp/dst.err
	source_vm --api-sock /tmp/a.sock >/tmp/src.out 2>/tmp/src.err &
	if ! wait_for /tmp/src.out 'tick 2 verified' 200; then
		echo "== $1 FAIL: the source guest did not reach tick 2"; cat /tmp/src.err /tmp/src.out; return
	fi
	for c in pause "snapshot /tmp/snap" stop; do pagoda ctl /tmp/a.sock $c; done
	wait
	pagoda restore /tmp/snap --timeout 400 $2 >/tmp/dst.out 2>/tmp/dst.err
	judge "$1" /tmp/src.out /tmp/dst.out $?
}

migrate_case() { # case, mode
	rm -f /tmp/m.sock /tmp/b.sock /tmp/src.out /tmp/src.err /tmp/dst.out /tmp/dst.err
	pagoda run --incoming unix:/tmp/m.sock -m 128M -c 2 --timeout 400 >/tmp/dst.out 2>/tmp/dst.err &
	dst=$!
	wait_for /tmp/dst.err 'waiting for a migration' 60
	source_vm --api-sock /tmp/b.sock >/tmp/src.out 2>/tmp/src.err &
	if ! wait_for /tmp/src.out 'tick 2 verified' 200; then
		echo "== $1 FAIL: the source guest did not reach tick 2"; cat /tmp/src.err /tmp/src.out; kill $dst; return
	fi
	pagoda ctl /tmp/b.sock migrate unix:/tmp/m.sock $2
	wait $dst
	rc=$?
	wait
	judge "$1" /tmp/src.out /tmp/dst.out $rc
}

snapshot_case snapshot-copy ""
snapshot_case snapshot-lazy "--restore-memory lazy"
migrate_case migrate-precopy ""
migrate_case migrate-postcopy postcopy
