#!/usr/bin/env bash
# Two jobs in one shared lab (tests/lab/lab_shared.sh): both run in the same lab boot,
# each gets its own status, output (stderr too) and files (with their libraries), and nothing of the
# first is left for the second: not its files in /tmp, its processes, its mounts, nor
# its hugetlb pool size. A third job out of time gets 124, and the lab after it is new.
#   shared_test.sh LAB_SH PAGODA
set -uo pipefail
lab=$1 pagoda=$2
PAGODA_LAB_SHARED=$(mktemp -d); export PAGODA_LAB_SHARED
trap '"$lab" --stop-shared; rm -rf "$PAGODA_LAB_SHARED"' EXIT
fail=0
check() { # what, got, want
  if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$2', want '$3'"; fail=1; fi
}
one=$("$lab" x86 --timeout 120 -- sh -c 'cat /proc/sys/kernel/random/boot_id; echo x > /tmp/leftover;
  sleep 1000 & mkdir -p /mnt/t; mount -t tmpfs t /mnt/t; echo 8 > /proc/sys/vm/nr_hugepages; exit 5')
check "the first job's status" $? 5
two=$("$lab" x86 --timeout 120 --add "$pagoda" -- sh -c 'cat /proc/sys/kernel/random/boot_id; ls -A /tmp | wc -l;
  ps -o args | grep -c "^sleep 1000"; grep -c " /mnt/t " /proc/mounts; cat /proc/sys/vm/nr_hugepages;
  pagoda --version | cut -d" " -f1; echo "on stderr" >&2; [ -t 0 ] && echo "stdin a terminal"')
check "the second job's status" $? 0
check "the job's stderr" "$(echo "$two" | sed -n 7p)" "on stderr"
check "the job's stdin (the console, as in a lab of its own)" "$(echo "$two" | sed -n 8p)" "stdin a terminal"
echo "first: $one"; echo "second: $two"
check "one lab boot for both" "$(echo "$one" | head -1)" "$(echo "$two" | sed -n 1p)"
check "the second job's /tmp (the first left a file)" "$(echo "$two" | sed -n 2p)" 0
check "the first job's processes left" "$(echo "$two" | sed -n 3p)" 0
check "the first job's mounts left" "$(echo "$two" | sed -n 4p)" 0
check "the 2 MiB pool after the first job" "$(echo "$two" | sed -n 5p)" 256
check "the second job's --add with its libraries" "$(echo "$two" | sed -n 6p)" pagoda
"$lab" x86 --timeout 2 -- sleep 60 >/dev/null 2>&1
check "a job out of time" $? 124
three=$("$lab" x86 --timeout 120 -- cat /proc/sys/kernel/random/boot_id)
check "a new lab after a job out of time" "$([ "$three" != "$(echo "$one" | head -1)" ] && echo new)" new
[ $fail = 0 ] && echo "shared lab: all checks passed"
exit $fail
