#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time, starting from its seed corpus (copied: the
# inputs it finds stay out of the repository). Fails on any crash, leak or sanitizer
# report; prints the executions done.
#   run-fuzz.sh TARGET CORPUS_DIR [SECONDS]
set -euo pipefail
target=$(readlink -f "$1") corpus=$(readlink -f "$2") secs=${3:-${PAGODA_FUZZ_SECONDS:-30}}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work/"
cd "$work"
"$target" -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 . 2>&1 | tail -25
