#!/bin/sh
# Runs inside the arm64 lab (busybox sh): snapshots whose ITS record an attacker rewrote
# (CRC and all, with state_edit) must be refused by `pagoda restore` with exit 2 and a
# message naming what is wrong, before the guest runs a step; the snapshot untouched
# restores and its guest ticks on. The guest: the migrate guest on virtio-pci with a
# virtio-rng, so the VM has an ITS (MSI-X).
# Prints "== CASE ok" or "== CASE FAIL: why".
G=/bin/migrate.img
VM="-m 128M --virtio-transport pci --rng"
REC_ITS=0x281 # util/state_records.h
. /wait_for.sh # wait_for FILE REGEX SECONDS

rm -rf /tmp/snap /tmp/a.sock
pagoda run -k $G $VM --api-sock /tmp/a.sock --timeout 300 -p "steps=60000 tick=2000 mib=8" >/tmp/src.out 2>/tmp/src.err &
if ! wait_for /tmp/src.out 'tick 2 verified' 200; then
	echo "== its-snapshot FAIL: the guest did not reach tick 2"; cat /tmp/src.err /tmp/src.out; exit 1
fi
for c in pause "snapshot /tmp/snap" stop; do pagoda ctl /tmp/a.sock $c; done
wait
grep -q 'ITS' /tmp/src.err && cat /tmp/src.err
cp /tmp/snap/state /tmp/state.orig

# case, what the message must say, restore options, then state_edit's arguments (none:
# the state as saved).
refused() {
	name=$1 want=$2 opts=$3
	shift 3
	cp /tmp/state.orig /tmp/snap/state
	if [ $# -gt 0 ] && ! state_edit /tmp/snap/state "$@"; then
		echo "== $name FAIL: state_edit $*"; return
	fi
	timeout 60 pagoda restore /tmp/snap $opts --timeout 30 >/tmp/r.out 2>&1
	rc=$?
	echo "---- $name: exit $rc"; cat /tmp/r.out
	if [ $rc != 2 ]; then
		echo "== $name FAIL: exit $rc, expected 2"
	elif ! grep -q "$want" /tmp/r.out; then
		echo "== $name FAIL: no '$want' in the message"
	elif grep -q '^tick' /tmp/r.out; then
		echo "== $name FAIL: the guest ran"
	else
		echo "== $name ok"
	fi
}

# An entry is (register offset, value), 16 bytes; 13 of them (arch/arm64/saved_state.c).
refused its-short "ITS record of 200 bytes: not this machine's 13 registers" "$VM" $REC_ITS cut 8
refused its-long "ITS record of 224 bytes" "$VM" $REC_ITS grow 16
refused its-register "ITS record: register 0 is 0x40, not 0x80" "$VM" $REC_ITS set 0 0x40
refused its-ctlr-swapped "ITS record: register 12 is 0x100, not 0x0" "$VM" $REC_ITS set 192 0x100
# A valid device table (GITS_BASER0, entry 4: valid, type device, 8-byte entries) at 1 TiB,
# outside guest RAM: KVM cannot read it.
refused its-table-outside-ram "KVM refused the tables in guest RAM" "$VM" $REC_ITS set 72 0x8107010000000000
refused its-into-mmio "the state has an ITS and this VM has none" "-m 128M --virtio-transport mmio --rng"

cp /tmp/state.orig /tmp/snap/state
timeout 200 pagoda restore /tmp/snap $VM --timeout 150 >/tmp/r.out 2>&1
rc=$?
if [ $rc = 0 ] && grep -q 'every page verified' /tmp/r.out; then
	echo "== its-untouched ok"
else
	echo "== its-untouched FAIL: exit $rc"; cat /tmp/r.out
fi
