# Helpers for tests/cli_*.sh: source it, then call t_pass/t_fail/t_skip per case.
# $ATTSR_BIN is the CLI under test; $T is a fresh temp folder removed at exit.
set -u
ATTSR=${ATTSR_BIN:-$PWD/build/attsr}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
SCRIPT=$(basename "$0")
SHARED=${ATTSR_SHARED:-../shared}
[ -d "$SHARED" ] || SHARED=
t_pass() { echo "PASS $SCRIPT:$1"; }
t_fail() { echo "FAIL $SCRIPT:$1: ${2:-}"; }
t_skip() { echo "SKIP $SCRIPT:$1: ${2:-}"; }

# expect_error NAME OUTFILE CMD...: CMD must exit non-zero with exactly one line on
# stderr that starts with "attsr", must not crash (status >= 128), and must leave no
# OUTFILE (and no temp file beside it).
expect_error() {
    local name=$1 out=$2; shift 2
    local err rc
    err=$("$@" 2>&1 >/dev/null); rc=$?
    if [ $rc -eq 0 ]; then t_fail "$name" "exit 0, expected an error"; return; fi
    if [ $rc -ge 128 ]; then t_fail "$name" "crashed with status $rc: $err"; return; fi
    if [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || [[ "$err" != attsr* ]]; then
        t_fail "$name" "expected one 'attsr...' line on stderr, got: $err"; return; fi
    if [ -n "$out" ] && compgen -G "$out*" >/dev/null; then
        t_fail "$name" "output file left behind: $(ls "$out"*)"; return; fi
    t_pass "$name"
}
