#!/usr/bin/env bash
# Runs pagoda's tests and ends with one line "N passed, N failed[, N skipped]":
#   1. unit tests and tiny guests on this host (suites unit, guests)
#   2. the same under ASan/UBSan (build-asan)
#   3. the libFuzzer targets, PAGODA_FUZZ_SECONDS each (default 30), clang build-fuzz
#   4. each memory backend with 5 GiB guests (suite memory, about 4 minutes)
#   5. the lab's own tests and the Linux boot suite inside the x86 lab (suites lab, linux)
#   6. the arm64 cross build (build-arm64, cross/setup-arm64.sh) and its tests in the arm64
#      lab (suite arm64): tiny guests, the Debian arm64 kernel, dirty tracking, eager split
#   7. PAGODA_TEST_SLOW=1 only: suite arm64-slow (the Debian arm64 guest: 4 minutes, and 10
#      more to make its image the first time)
# PAGODA_TEST_FAST=1 stops after step 2. Exit status 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")"
./setup.sh || { echo "0 passed, 1 failed"; exit 1; }

if [ ! -f build-asan/build.ninja ]; then
  meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null
fi
ninja -C build-asan >/dev/null || { echo "0 passed, 1 failed"; exit 1; }

# tools/migration-plot draws with gnuplot (the migrate-log test runs it).
command -v gnuplot >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y gnuplot-nox >/dev/null 2>&1 ||
  echo "test.sh: gnuplot-nox could not be installed: the migrate-log test will fail" >&2

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
# Every lab retry (a crashed lab kernel or QEMU, tests/lab/lab.sh) is listed at the end.
PAGODA_LAB_RETRY_LOG=$(mktemp); export PAGODA_LAB_RETRY_LOG
trap 'rm -f "$PAGODA_LAB_RETRY_LOG"' EXIT
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

logs=()
run() { # dir, log name, meson test args...
  local dir=$1 name=$2; shift 2
  echo "== meson test -C $dir $*" >&2
  meson test -C "$dir" --print-errorlogs "$@" >&2
  cp "$dir/meson-logs/testlog.json" "$dir/meson-logs/$name.json" 2>/dev/null && logs+=("$dir/meson-logs/$name.json")
}
run build fast --suite unit --suite guests
run build-asan asan --suite unit --suite guests
if [ "${PAGODA_TEST_FAST:-0}" != 1 ]; then
  command -v clang >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y clang >/dev/null 2>&1
  if [ ! -f build-fuzz/build.ninja ]; then
    CC=clang meson setup build-fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
  fi
  if ninja -C build-fuzz >/dev/null; then
    run build-fuzz fuzz --suite fuzz
  else
    echo "the fuzz build failed (counted as one failure)" >&2; export PAGODA_FUZZ_BUILD_FAILED=1
  fi
  run build memory --suite memory
  run build lab --suite lab --suite linux
  if cross/setup-arm64.sh; then
    run build-arm64 arm64 --suite arm64
    # No room in CI's 90 minutes (the Debian arm64 guest and the making of its image).
    [ "${PAGODA_TEST_SLOW:-0}" = 1 ] && run build-arm64 arm64-slow --suite arm64-slow
  else
    echo "the arm64 cross build failed (counted as one failure)" >&2; export PAGODA_ARM64_BUILD_FAILED=1
  fi
fi

if [ -s "$PAGODA_LAB_RETRY_LOG" ]; then
  echo "== lab faults retried: $(wc -l < "$PAGODA_LAB_RETRY_LOG") (each booted the lab once more; see the test logs)" >&2
  cat "$PAGODA_LAB_RETRY_LOG" >&2
fi
python3 - "${logs[@]}" <<'PY'
import json, sys
import os
passed = failed = skipped = 0
failed += 1 if os.environ.get("PAGODA_FUZZ_BUILD_FAILED") else 0
failed += 1 if os.environ.get("PAGODA_ARM64_BUILD_FAILED") else 0
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
sys.exit(1 if failed or not passed else 0)
PY
