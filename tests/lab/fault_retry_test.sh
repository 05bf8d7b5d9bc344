#!/usr/bin/env bash
# guest_test.py's one retry for the x86 lab's known fault (a guest triple fault in the
# lab): a stand-in lab.sh that faults once passes on its second run, with the retry said
# and logged; one that faults every time fails; a triple fault outside the lab (not
# lab.sh x86) is never retried, nor is a run that passed with a fault in its output (a
# lab script whose one nested guest faulted, its checks all passing).
#   fault_retry_test.sh GUEST_TEST
set -uo pipefail
guest_test=$1
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
mkdir -p "$d/lab" "$d/bare"
# Faults as many times as $d/faults says, then boots.
cat > "$d/lab/lab.sh" <<'STANDIN'
#!/bin/sh
n=$(cat "$FAULTS_FILE"); echo $((n - 1)) > "$FAULTS_FILE"
if [ -n "${PASSING_FAULT:-}" ]; then
  echo "  (the reset state: on AMD, KVM re-initialises a vCPU at a shutdown, so the registers at the fault are lost)"
  echo "pagoda: vCPU 1: guest triple fault (shutdown) (exit code 4)"
  echo "PAGODA-INIT-OK"
  exit 0
fi
if [ "$n" -gt 0 ]; then
  echo "  (the reset state: on AMD, KVM re-initialises a vCPU at a shutdown, so the registers at the fault are lost)"
  echo "pagoda: vCPU 1: guest triple fault (shutdown) (exit code 4)"
  exit 4
fi
echo "PAGODA-INIT-OK"
STANDIN
chmod +x "$d/lab/lab.sh"
cp "$d/lab/lab.sh" "$d/bare/pagoda"
export FAULTS_FILE=$d/faults
# Every retry of the stand-in goes to a log of its own: test.sh's lists real lab faults.
export PAGODA_LAB_RETRY_LOG=$d/retries
failures=0
check() { # what, condition...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; failures=$((failures + 1)); fi
}

echo 1 > "$d/faults"; : > "$d/retries"
out=$(python3 "$guest_test" "$d/lab/lab.sh" --exit 0 --expect '^PAGODA-INIT-OK' -- x86 -- true 2>&1)
rc=$?
check "a lab fault once: the test passes on its second run" [ $rc = 0 ]
check "the retry is said" grep -q "^LAB FAULT: " <<<"$out"
check "the retry is logged for test.sh's summary" grep -q "x86 lab guest triple fault, test run once more" "$d/retries"

echo 2 > "$d/faults"
python3 "$guest_test" "$d/lab/lab.sh" --exit 0 --expect '^PAGODA-INIT-OK' -- x86 -- true >/dev/null 2>&1
check "a lab fault twice: the test fails" [ $? = 1 ]

echo 1 > "$d/faults"
out=$(python3 "$guest_test" "$d/bare/pagoda" --exit 0 --expect '^PAGODA-INIT-OK' -- run 2>&1)
rc=$?
check "a triple fault outside the lab fails at once" [ $rc = 1 ]
check "... and is not retried" bash -c "! grep -q 'LAB FAULT' <<<\"\$1\"" _ "$out"
echo 5 > "$d/faults"; : > "$d/retries"
out=$(PASSING_FAULT=1 python3 "$guest_test" "$d/lab/lab.sh" --exit 0 --expect '^PAGODA-INIT-OK' -- x86 -- true 2>&1)
rc=$?
check "a passing run with a fault in its output passes" [ $rc = 0 ]
check "... and is not run again" [ "$(cat "$d/faults")" = 4 ]
check "... nor logged as a lab fault" [ ! -s "$d/retries" ]
[ $failures = 0 ]
