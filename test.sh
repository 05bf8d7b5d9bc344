#!/usr/bin/env bash
# Runs pagoda's tests and ends with one line "N passed, N failed[, N skipped]":
#   1. unit tests and tiny guests on this host (suites unit, guests)
#   2. the same under ASan/UBSan (build-asan), and the migration tests under
#      ThreadSanitizer (build-tsan)
#   3. the libFuzzer targets, PAGODA_FUZZ_SECONDS each (default 30), clang build-fuzz
#   4. each memory backend with 5 GiB guests (suite memory)
#   5. the lab's own tests and the Linux boot suite inside the x86 lab (suites lab, linux)
#   6. the arm64 cross build (build-arm64, cross/setup-arm64.sh) and its tests in the arm64
#      lab (suite arm64): tiny guests, the Debian arm64 kernel, dirty tracking, eager split
#   7. PAGODA_TEST_SLOW=1 only: suite arm64-slow (the Debian arm64 guest: 4 minutes, and 10
#      more to make its image the first time; the patched arm64 kernel, 15-25 more)
# PAGODA_TEST_FAST=1 stops after step 2. Exit status 0 only when nothing failed.
# While steps 1-4 run, tests/prepare.sh builds in the background (at low priority) what
# steps 5-6 need on a fresh machine (kernels, patched KVM, the Debian image, the arm64
# cross build). Steps 5-6 share lab boots (PAGODA_LAB_SHARED, tests/lab/lab_shared.sh):
# every test is still reported on its own, with its own status and log.
# Each step's time is printed at the end.
set -uo pipefail
cd "$(dirname "$0")"
t_start=$SECONDS
./setup.sh || { echo "0 passed, 1 failed"; exit 1; }

if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null
fi
ninja -C build-asan >/dev/null || { echo "0 passed, 1 failed"; exit 1; }

fast=${PAGODA_TEST_FAST:-0}
# Every package this run installs itself, before anything runs in the background (two
# apt-gets at once would fight over dpkg's lock): gnuplot for the migrate-log test, clang
# for the fuzz build.
if [ "$fast" != 1 ]; then
  for p in gnuplot-nox clang; do
    dpkg -s "$p" >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y "$p" >/dev/null 2>&1 ||
      echo "test.sh: $p could not be installed: the tests that need it will fail" >&2
  done
fi

stages=()
stage_t0=$t_start # the first step counts from the script's start
stage_end() { # name
  stages+=("$1 $((SECONDS - stage_t0)) s")
  stage_t0=$SECONDS
}
stage_end "setup and builds"

prep_log=$(mktemp)
prep_pid=
if [ "$fast" != 1 ]; then
  nice -n 19 tests/prepare.sh > "$prep_log" 2>&1 &
  prep_pid=$!
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# Every lab retry (a crashed lab kernel or QEMU, tests/lab/lab.sh) is listed at the end.
PAGODA_LAB_RETRY_LOG=$(mktemp); export PAGODA_LAB_RETRY_LOG
PAGODA_LAB_SHARED=$(mktemp -d); export PAGODA_LAB_SHARED
cleanup() {
  tests/lab/lab.sh --stop-shared 2>/dev/null
  [ -n "$prep_pid" ] && kill "$prep_pid" 2>/dev/null
  rm -rf "$PAGODA_LAB_RETRY_LOG" "$PAGODA_LAB_SHARED" "$prep_log"
}
trap cleanup EXIT

runs=()   # "EXIT_STATUS LOG" of each meson run, for the count
broken=() # what failed outside any test (a build)
# One meson test run, its results kept as NAME.json (the build directory's testlog.json
# removed first: a run that writes none must not be counted as the previous one's).
run() { # dir, log name, meson test args...
  local dir=$1 name=$2; shift 2
  echo "== meson test -C $dir $*" >&2
  rm -f "$dir/meson-logs/testlog.json" "$dir/meson-logs/$name.json"
  meson test -C "$dir" --print-errorlogs "$@" >&2
  local rc=$?
  mv "$dir/meson-logs/testlog.json" "$dir/meson-logs/$name.json" 2>/dev/null
  runs+=("$rc $dir/meson-logs/$name.json")
}

run build fast --suite unit --suite guests
stage_end "unit and guests"
run build-asan asan --suite unit --suite guests
stage_end "unit and guests under ASan/UBSan"
# Data races between the migration thread, the vCPUs, the I/O and main threads: the
# migration tests once more in a ThreadSanitizer build (util/race.h marks what races by
# design; pagoda runs unsandboxed there, saying so). No -Werror: GCC warns that TSan does
# not model atomic_thread_fence (virtio/virtq.c).
if [ ! -f build-tsan/build.ninja ]; then
  meson setup build-tsan -Db_sanitize=thread -Dwerror=false >/dev/null
fi
if ninja -C build-tsan >/dev/null 2>&1; then
  TSAN_OPTIONS="halt_on_error=1 exitcode=66" ASAN_OPTIONS= run build-tsan tsan --suite migration
else
  broken+=("tsan: the ThreadSanitizer build failed")
fi
stage_end "migration under ThreadSanitizer"
if [ "$fast" != 1 ]; then
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
  fi
  if ninja -C build-fuzz >/dev/null; then
    run build-fuzz fuzz --suite fuzz --num-processes 2
  else
    broken+=("fuzz: the fuzz build failed")
  fi
  stage_end "fuzz"
  run build memory --suite memory
  stage_end "memory"
  wait "$prep_pid"
  prep_pid=
  cat "$prep_log" >&2
  stage_end "waiting for the background builds"
  run build lab --suite lab --suite linux
  tests/lab/lab.sh --stop-shared # the x86 labs' memory is the arm64 lab's now
  stage_end "lab and linux (x86 lab)"
  if cross/setup-arm64.sh; then
    run build-arm64 arm64 --suite arm64
    # No room in CI's 90 minutes (the Debian arm64 guest and the making of its image).
    [ "${PAGODA_TEST_SLOW:-0}" = 1 ] && run build-arm64 arm64-slow --suite arm64-slow
  else
    broken+=("arm64: the arm64 cross build failed")
  fi
  tests/lab/lab.sh --stop-shared
  stage_end "arm64 (arm64 lab)"
fi

if [ -s "$PAGODA_LAB_RETRY_LOG" ]; then
  echo "== lab faults retried: $(wc -l < "$PAGODA_LAB_RETRY_LOG") (each booted the lab once more; see the test logs)" >&2
  cat "$PAGODA_LAB_RETRY_LOG" >&2
fi
for b in "${broken[@]}"; do echo "== counted as a failure: $b" >&2; done
echo "== time per step: $(IFS=,; echo "${stages[*]}" | sed 's/,/, /g'); total $((SECONDS - t_start)) s" >&2
# Each run's tests as meson recorded them; a run with no results, or whose meson exited
# non-zero while none of its tests failed, is one failure more (said). A test that ran a
# KTAP suite (the patched KVM's selftest) counts as its results: its last "# Totals" line.
python3 - "${#broken[@]}" "${runs[@]}" <<'PY'
import json, os, re, sys
KTAP_TOTALS = re.compile(r"^# Totals: pass:(\d+) fail:(\d+) xfail:(\d+) xpass:(\d+) skip:(\d+) error:(\d+)", re.M)
passed = skipped = 0
failed = int(sys.argv[1])
for run in sys.argv[2:]:
    rc, path = run.split(" ", 1)
    if not os.path.exists(path):
        print(f"== counted as a failure: {path}: meson test exited {rc} and wrote no results", file=sys.stderr)
        failed += 1
        continue
    run_failed = 0
    for line in open(path):
        if not line.strip():
            continue
        try:
            t = json.loads(line)
            r = t["result"]
        except (ValueError, KeyError):
            print(f"== counted as a failure: {path}: a line that is not a test's result", file=sys.stderr)
            run_failed += 1
            continue
        totals = KTAP_TOTALS.findall(t.get("stdout") or "")
        if totals and r != "SKIP":
            ok, fail, xfail, xpass, skip, error = map(int, totals[-1])
            if r == "OK":
                passed += ok + xfail
                skipped += skip
            else:
                run_failed += max(1, fail + xpass + error)
            continue
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            run_failed += 1
    if rc != "0" and not run_failed:
        print(f"== counted as a failure: {path}: meson test exited {rc} with no failing test", file=sys.stderr)
        run_failed = 1
    failed += run_failed
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed or not passed else 0)
PY
