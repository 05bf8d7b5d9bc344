#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time, starting from its seed corpus (copied: the
# inputs it finds stay out of the repository). Fails (exit 1, never libFuzzer's 77, which
# meson would count as skipped) on any crash, leak or sanitizer report, and keeps the
# crashing input in fuzz-crashes/ of the build directory; prints the executions done.
#   run-fuzz.sh TARGET CORPUS_DIR [SECONDS]
set -euo pipefail
target=$(readlink -f "$1") corpus=$(readlink -f "$2") secs=${3:-${PAGODA_FUZZ_SECONDS:-30}}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work/"
crashes=$PWD/fuzz-crashes
cd "$work"
set +e
"$target" -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/" \
  . > "$work/log" 2>&1
status=$?
set -e
tail -40 "$work/log"
if [ $status != 0 ]; then
  mkdir -p "$crashes"
  for f in "$work"/crash-*; do [ -e "$f" ] && cp "$f" "$crashes/" && echo "kept $crashes/$(basename "$f")"; done
  exit 1
fi
