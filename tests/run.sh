#!/usr/bin/env bash
# Runs every test program in BUILD/tests and every tests/cli_*.sh script, counts the
# PASS/FAIL/SKIP lines and ends with "N passed, N failed, N skipped".
# Usage: tests/run.sh [BUILD]   (from the repo root; BUILD defaults to build)
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build}
export ATTSR_BIN=$PWD/$BUILD/attsr
export ATTSR_BUILD=$PWD/$BUILD
log=$(mktemp)
trap 'rm -f "$log"' EXIT
crashed=0
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    case "$t" in *.d|*.o) continue ;; esac
    echo "== $t"
    timeout 900 "$t" 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    # 0: all passed, 1: some FAIL lines printed; anything else is a crash or a timeout
    if [ "$rc" -gt 1 ]; then echo "FAIL $t: exited with status $rc" | tee -a "$log"; fi
done
for s in tests/cli_*.sh; do
    [ -f "$s" ] || continue
    echo "== $s"
    timeout 900 bash "$s" 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -gt 1 ]; then echo "FAIL $s: exited with status $rc" | tee -a "$log"; fi
done
pass=$(grep -c '^PASS ' "$log")
fail=$(grep -c '^FAIL ' "$log")
skip=$(grep -c '^SKIP ' "$log")
echo
grep '^FAIL ' "$log" || true
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
