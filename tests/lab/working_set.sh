#!/bin/sh
# Runs inside the x86 or arm64 lab (busybox sh): the wss guest (tests/guests/wss.c) wrote
# all of its RAM once and then reads a 64 MiB window of it over and over; pagoda's
# --working-set estimate (half-second windows, by METHOD: damon on a stock lab,
# access-log under --patched-kvm, page-idle on the arm64 patched kernel, which has page
# idle tracking) must come within 5% of those 64 MiB, on anon, THP and hugetlb RAM (
# page-idle: anon and THP, and hugetlb refused); on x86, with 1 GiB hugetlb pages, within
# 5% of the 1 GiB of 2 the guest then touches. Prints "== BACKEND ok ..." or
# "== BACKEND FAIL".
#   working_set.sh GUEST METHOD
G=$1
METHOD=${2:-damon}
MIB=64
echo 300 > /proc/sys/vm/nr_hugepages

if [ "$METHOD" = access-log ] && [ -e /sys/module/kvm/taint ]; then
	# Out-of-tree modules taint the kernel with O: the patched KVM is the one loaded.
	echo "kvm module taint: $(cat /sys/module/kvm/taint)"
elif [ "$METHOD" = access-log ]; then
	echo "lab kernel: $(uname -v) (arm64: KVM built in, the whole kernel is pagoda's build)"
elif [ "$METHOD" = page-idle ]; then
	echo "page idle tracking: $(ls /sys/kernel/mm/page_idle/bitmap)"
else
	# A stock KVM has no access log: asked for, it is refused with the reason.
	pagoda run -k "$G" -m 64M --working-set 0.5,method=access-log --timeout 20 >/tmp/r.out 2>&1
	echo "method=access-log on stock KVM: exit $?: $(cat /tmp/r.out)"
fi

. /wait_for.sh # wait_for FILE REGEX SECONDS

uptime_cs() { sed 's/^\([0-9]*\)\.\([0-9]*\).*/\1\2/' /proc/uptime; }
windows() { # scanned so far (access-log, page-idle; 0 for DAMON)
	n=$(pagoda ctl /tmp/w.sock working-set | sed -n 's/.*"windows": \([0-9]*\).*/\1/p')
	echo "${n:-0}"
}

# One backend: the estimate's median over five windows against what the guest reads.
#   measure NAME WANT_BYTES PAGODA-RUN-ARGS...
measure() {
	name=$1 want=$2
	shift 2
	rm -f /tmp/w.sock /tmp/w.out /tmp/w.err # a stale log would answer wait_progress
	pagoda run -k "$G" --api-sock /tmp/w.sock --working-set 0.5,method=$METHOD --timeout 900 "$@" >/tmp/w.out 2>/tmp/w.err &
	vm=$!
	# The guest first writes all its RAM (minutes under nested emulation): waited for as
	# long as it gets on with it.
	if ! wait_progress /tmp/w.out 'now reading' $vm 60; then
		echo "== $name FAIL: the guest did not start reading"; cat /tmp/w.err /tmp/w.out; kill $vm; reap 30 $vm; return
	fi
	# The populating writes age out (two whole windows after them: a page-idle scan of 4K
	# pages takes seconds here), DAMON's regions settle (8 s).
	w0=$(windows)
	sleep 8
	i=0
	while [ "$METHOD" != damon ] && [ "$(windows)" -lt $((w0 + 2)) ] && [ $i -lt 120 ]; do sleep 1; i=$((i + 1)); done
	: > /tmp/w.json
	# Each answer comes from the event loop that runs the scans: in slices, so that it
	# waits for none of them whole (an 11 s scan of 4K pages by page-idle here).
	slowest=0
	for i in 1 2 3 4 5; do
		t0=$(uptime_cs)
		pagoda ctl /tmp/w.sock working-set >> /tmp/w.json; echo >> /tmp/w.json
		t=$(( $(uptime_cs) - t0 )); [ $t -gt $slowest ] && slowest=$t
		sleep 1
	done
	echo "slowest answer of the control socket: $((slowest * 10)) ms"
	pagoda ctl /tmp/w.sock stop >/dev/null
	reap 60 $vm
	cat /tmp/w.err /tmp/w.out /tmp/w.json
	# The median of the five windows' totals.
	got=$(sed -n 's/.*"touched": \([0-9]*\), "within_windows".*/\1/p' /tmp/w.json | sort -n | sed -n 3p)
	diff=$(( ${got:-0} > want ? ${got:-0} - want : want - ${got:-0} ))
	if [ $slowest -ge 200 ]; then
		echo "== $name FAIL: the control socket took $((slowest * 10)) ms to answer"
	elif [ -n "$got" ] && [ $((diff * 20)) -le $want ]; then
		echo "== $name ok: touched $((got >> 10)) KiB per window, the guest reads $((want >> 10)) KiB"
	else
		echo "== $name FAIL: touched ${got:-nothing} bytes per window, the guest reads $want"
	fi
}

backends="anon thp hugetlb"
if [ "$METHOD" = page-idle ]; then
	# The kernel's page idle tracking does not see hugetlb pages: refused, saying so.
	backends="anon thp"
	pagoda run -k "$G" -m 64M --memory-backend hugetlb --working-set 0.5,method=page-idle --timeout 20 >/tmp/r.out 2>&1
	rc=$?
	cat /tmp/r.out
	if [ $rc != 0 ] && grep -q "cannot see hugetlb" /tmp/r.out; then
		echo "== hugetlb refused ok"
	else
		echo "== hugetlb refused FAIL: exit $rc"
	fi
fi
prefix=""; [ "$METHOD" = page-idle ] && prefix="page-idle "
for backend in $backends; do
	measure "$prefix$backend" $((MIB << 20)) -m 512M --memory-backend $backend -p "mib=$MIB"
done
# What follows (1 GiB pages, migrations) reads the working set through the same per-page
# code as access-log (mem/wss_pages.c), which covers it.
[ "$METHOD" = page-idle ] && exit 0

# 1 GiB pages (x86 lab): KVM maps them with 1 GiB leaves, so every method sees 1 GiB
# granules; the guest touches exactly its first GiB of 2 (code, tables and a window up to
# 1024 MiB): one whole 1 GiB page, the other never. The lab reserves the two pages at
# boot (lab.sh --append): asked for later, it gave one or two of them.
if [ "$(uname -m)" = x86_64 ]; then
	echo "1G pages free: $(cat /sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages)"
	measure hugetlb-1G $((1024 << 20)) -m 2G --memory-backend hugetlb --hugepage-size 1G -p "upto=1024"
	# The pool stays: in a shared lab the next job may want it, and 1 GiB pages given back
	# cannot be had again (a retry of this script found none).
fi

# A migration's pass records carry the working set while it is estimated.
rm -f /tmp/m.sock /tmp/w.sock /tmp/d.sock /tmp/mig.log /tmp/w.out /tmp/w.err /tmp/d.out /tmp/d.err
pagoda run --incoming unix:/tmp/m.sock -m 512M --api-sock /tmp/d.sock --timeout 900 >/tmp/d.out 2>/tmp/d.err &
dst=$!
wait_for /tmp/d.err 'waiting for a migration' 60
pagoda run -k "$G" -m 512M --api-sock /tmp/w.sock --working-set 0.5,method=$METHOD --migration-log /tmp/mig.log --timeout 900 \
	-p "mib=$MIB" >/tmp/w.out 2>/tmp/w.err &
src=$!
wait_progress /tmp/w.out 'now reading' $src 60
sleep 8 # as in measure: pass 0 orders pages by the estimate, which DAMON settles first
migrate_then_stop() { # MODE: the source ends once its guest has moved; then the destination
	echo "migrate${1:+ $1}: $(pagoda ctl /tmp/w.sock migrate unix:/tmp/m.sock $1 2>&1 | tail -1 | cut -c1-300)"
	reap 60 $src
	pagoda ctl /tmp/d.sock stop >/dev/null
	reap 60 $dst
	cat /tmp/w.err /tmp/d.err | grep -v '^$' | tail -5
}
migrate_then_stop
cat /tmp/mig.log
if grep '"event": "pass"' /tmp/mig.log | grep -q '"working_set": [1-9]'; then
	echo "== migration-log ok: the passes say what the guest used"
else
	echo "== migration-log FAIL: no pass record carries the working set"
fi
# Pre-copy sends the pages the guest used lately last: in pass 0, the 64 MiB window and a
# few pages of code and tables. The access log knows pages: within 5%. DAMON's answer is
# one reading of its regions, whose edges settle over a few windows (the estimates above
# are medians of five): up to 25% more (seen: +4% x86, +16% arm64).
hot0=$(sed -n 's/.*"pass": 0, .*"hot_sent_last": \([0-9]*\).*/\1/p' /tmp/mig.log | head -1)
want=$((MIB * 256))
over=5; [ "$METHOD" = access-log ] || over=25
echo "pre-copy pass 0: ${hot0:-none} pages sent last as hot; the guest reads $want"
if [ -n "$hot0" ] && [ "$hot0" -ge $((want * 95 / 100)) ] && [ "$hot0" -le $((want * (100 + over) / 100 + 256)) ]; then
	echo "== precopy-cold-first ok"
else
	echo "== precopy-cold-first FAIL"
fi

# Post-copy with the access log pushes the hot pages first: a guest reading a window high
# in its RAM asks its source for far fewer pages than when the push goes by address.
if [ "$METHOD" = access-log ]; then
	for run in address hot; do
		rm -f /tmp/m.sock /tmp/w.sock /tmp/d.sock /tmp/pc.log /tmp/w.out /tmp/w.err /tmp/d.out /tmp/d.err
		ws=""; [ $run = hot ] && ws="--working-set 0.5,method=access-log"
		pagoda run --incoming unix:/tmp/m.sock -m 512M --api-sock /tmp/d.sock --timeout 900 >/tmp/d.out 2>/tmp/d.err &
		dst=$!
		wait_for /tmp/d.err 'waiting for a migration' 60
		pagoda run -k "$G" -m 512M --api-sock /tmp/w.sock $ws --migration-log /tmp/pc.log --timeout 900 \
			-p "mib=$MIB base=384" >/tmp/w.out 2>/tmp/w.err &
		src=$!
		wait_progress /tmp/w.out 'now reading' $src 60
		sleep 3
		# The destination's guest runs on from the switch; the push ends the source.
		migrate_then_stop postcopy
		grep '"postcopy": true' /tmp/pc.log
		req=$(sed -n 's/.*"postcopy": true.*"requests": \([0-9]*\).*/\1/p' /tmp/pc.log)
		eval "req_$run=${req:-none}"
	done
	echo "post-copy requests: pushed by address $req_address, hot pages first $req_hot"
	if [ "$req_hot" != none ] && [ "$req_address" != none ] && [ $((req_hot * 4)) -lt "$req_address" ]; then
		echo "== postcopy-hot-first ok"
	else
		echo "== postcopy-hot-first FAIL"
	fi
fi
