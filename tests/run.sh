#!/usr/bin/env bash
# Runs every test program in each BUILD/tests and every tests/cli_*.sh script against
# each BUILD/attsr, counts the PASS/FAIL/SKIP lines and ends with
# "N passed, N failed, N skipped".
# Usage: tests/run.sh [BUILD...]   (from anywhere; BUILD defaults to build)
# ATTSR_VALGRIND=1 also runs tests/valgrind.sh (the CLI under Valgrind, build-vg; about
# 5 minutes), once, after the builds' tests.
set -u
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- build
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for BUILD in "$@"; do
    export ATTSR_BIN=$PWD/$BUILD/attsr ATTSR_BUILD=$PWD/$BUILD
    # AddressSanitizer's runtime reads /proc (the maps, LeakSanitizer's threads): in a root
    # without it (a bare chroot) a sanitizer build cannot run, so its tests are skipped
    if [ ! -r /proc/self/maps ] && grep -q __asan_init "$BUILD/attsr" 2>/dev/null; then
        echo "SKIP run.sh:$BUILD: no /proc, which AddressSanitizer's runtime needs" | tee -a "$log"
        continue
    fi
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
        echo "== $s ($BUILD/attsr)"
        timeout 900 bash "$s" 2>&1 | tee -a "$log"
        rc=${PIPESTATUS[0]}
        if [ "$rc" -ne 0 ]; then echo "FAIL $s: exited with status $rc" | tee -a "$log"; fi
    done
done
if [ "${ATTSR_VALGRIND:-0}" = 1 ]; then
    echo "== tests/valgrind.sh (build-vg/attsr under Valgrind)"
    timeout 3600 bash tests/valgrind.sh 2>&1 | tee -a "$log"
    rc=${PIPESTATUS[0]}
    # 1: some FAIL lines printed; anything else is a crash or a timeout
    if [ "$rc" -gt 1 ]; then echo "FAIL tests/valgrind.sh: exited with status $rc" | tee -a "$log"; fi
fi
pass=$(grep -c '^PASS ' "$log")
fail=$(grep -c '^FAIL ' "$log")
skip=$(grep -c '^SKIP ' "$log")
echo
grep '^FAIL ' "$log" || true
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
