#!/bin/sh
# Runs inside the x86 lab with a swap disk (/dev/vda) and pagoda's patched KVM: does the
# host's reclaim keep a guest's hot set resident while pagoda reads the access log?
# The wss guest (1 GiB, BACKEND memory, anon by default) writes 768 MiB once, then
# reads a 384 MiB window over and over (a pass takes longer than a scan's interval);
# pagoda runs in a memory cgroup (memory.max 768M) beside a tmpfs writer (128 MiB written
# and dropped over and over) that keeps the cgroup reclaiming. Per run, over WINDOW
# seconds once the cold part has been pushed to swap: the guest's passes over its hot
# window, the cgroup's anon refaults (workingset_refault_anon) and pages swapped in.
# Clearing the stage-2 Accessed bits every 20 ms should not make the hot window look cold
# to reclaim (kvm/patches mark the folio young for every bit cleared). A measurement
# (tools/lab-reclaim-hot-set), not a test: under TCG the scans themselves slow the guest
# (the cover letter has the figures).
#   reclaim_hot_set.sh GUEST WINDOW RUN...   RUN: none (no estimate) or access-log
# Prints "== RUN: passes N, refaults N, swapins N (cgroup: N MiB, swap N MiB)" per run.
G=$1 WINDOW=$2
shift 2
. /wait_for.sh # wait_progress

mkswap /dev/vda >/dev/null && swapon /dev/vda || { echo "FAIL: no swap on /dev/vda"; exit 1; }
mkdir -p /cg && mount -t cgroup2 none /cg && echo +memory > /cg/cgroup.subtree_control ||
	{ echo "FAIL: no memory cgroup"; exit 1; }

stat_of() { # cgroup key
	sed -n "s/^$2 //p" "/cg/$1/memory.stat"
}
vmstat_of() { # key
	sed -n "s/^$1 //p" /proc/vmstat
}
passes() { grep -c '^pass' "/tmp/$1.out"; }

one() { # name, pagoda arguments...
	name=$1
	shift
	mkdir "/cg/$name"
	echo 768M > "/cg/$name/memory.max"
	sh -c 'echo $$ > "/cg/$0/cgroup.procs"; exec "$@"' "$name" pagoda run -k "$G" -m 1G \
		--memory-backend "${BACKEND:-anon}" --timeout 900 -p "mib=384 every=1" "$@" > "/tmp/$name.out" 2>&1 &
	vm=$!
	if ! wait_progress "/tmp/$name.out" "now reading" $vm 120; then
		echo "FAIL: $name: the guest did not start reading"
		cat "/tmp/$name.out"
		kill $vm
		return
	fi
	# The writer: 128 MiB of tmpfs written and dropped over and over, in the same cgroup.
	sh -c 'echo $$ > "/cg/$0/cgroup.procs"
		while :; do dd if=/dev/zero of=/tmp/hog bs=1M count=128 2>/dev/null; rm -f /tmp/hog; done' \
		"$name" &
	hog=$!
	sleep 20 # the cold part goes to swap
	p0=$(passes "$name") r0=$(stat_of "$name" workingset_refault_anon) s0=$(vmstat_of pswpin)
	sleep "$WINDOW"
	p1=$(passes "$name") r1=$(stat_of "$name" workingset_refault_anon) s1=$(vmstat_of pswpin)
	mem=$(($(cat "/cg/$name/memory.current") >> 20)) swap=$(($(cat "/cg/$name/memory.swap.current") >> 20))
	kill $hog $vm
	wait $vm 2>/dev/null
	rm -f /tmp/hog
	echo "== $name: passes $((p1 - p0)), refaults $((r1 - r0)), swapins $((s1 - s0)) (cgroup: $mem MiB, swap $swap MiB)"
	swapoff /dev/vda && swapon /dev/vda # the next run starts with an empty swap
}

for run in "$@"; do
	case "$run" in
	none) one none;;
	access-log) one access-log --working-set 0.02,method=access-log;;
	*) echo "FAIL: unknown run $run";;
	esac
done
