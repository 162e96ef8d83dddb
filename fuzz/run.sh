#!/usr/bin/env bash
# Builds the libFuzzer targets and runs each for SECONDS, one after another, then prints
# one summary line per target: executions, coverage, findings.
#
# Usage: fuzz/run.sh SECONDS [TARGET...]     (from anywhere; default: every target)
#        fuzz/run.sh 0                       (build only)
#
# The library is built with clang under ASan + UBSan (any UB aborts) and libFuzzer's
# coverage into build-fuzz/ (the Makefile's rules, BUILD=build-fuzz); each target in
# fuzz/*.c is linked with -fsanitize=fuzzer. A target starts from its committed seeds
# (fuzz/corpus/TARGET) and grows fuzz/corpus-TARGET/ (ignored by git); findings
# (crash-*, leak-*, timeout-*, oom-*, slow-unit-*) are written to
# build-fuzz/findings/TARGET/ and reproduced with `build-fuzz/fuzz/TARGET FILE`.
# Logs: build-fuzz/fuzz/TARGET.log. Extra libFuzzer flags: FUZZ_FLAGS="...".
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: fuzz/run.sh SECONDS [TARGET...]" >&2; exit 2; }
SECONDS_EACH=$1
shift
ALL="png jpeg npy webp tiff bmp y4m safetensors model checkpoint satv_cache cli"
TARGETS=${*:-$ALL}

B=build-fuzz
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
CC=${CC_FUZZ:-clang}
# -Wno-pass-failed: clang cannot vectorise a few `omp simd` loops; that is not a finding.
make -s -j"$(nproc)" BUILD=$B CC="$CC" OPT="-O1 -g -Wno-pass-failed" SAN="$SAN" \
    $B/libattsr.a $B/src/cli/cli.o $B/src/cli/upscale_image.o $B/src/cli/report.o \
    $(for f in src/cli/cmd_*.c; do echo "$B/${f%.c}.o"; done)

mkdir -p $B/fuzz
CFLAGS="-std=gnu11 -O1 -g -Wall -Wextra -Iinclude -Isrc -Ifuzz -fopenmp -fsanitize=address,undefined \
        -fno-sanitize-recover=all -fno-omit-frame-pointer"
LIBS="$B/libattsr.a -fopenmp -ldnnl -lpng -ljpeg -lwebp -lwebpdemux -lwebpmux -ltiff -lstb -ljansson -lz -lm -lpthread"
CLI_OBJ="$B/src/cli/cli.o $B/src/cli/upscale_image.o $B/src/cli/report.o $(ls $B/src/cli/cmd_*.o)"
link() {  # link NAME SOURCE EXTRA...
    local name=$1 src=$2
    shift 2
    $CC $CFLAGS -fsanitize=fuzzer "$@" -o $B/fuzz/$name $src $LIBS
}
link png fuzz/fuzz_image.c -DFUZZ_NAME='"fuzz.png"'
link jpeg fuzz/fuzz_image.c -DFUZZ_NAME='"fuzz.jpg"'
link npy fuzz/fuzz_image.c -DFUZZ_NAME='"fuzz.npy"'
link webp fuzz/fuzz_image.c -DFUZZ_NAME='"fuzz.webp"'
link tiff fuzz/fuzz_image.c -DFUZZ_NAME='"fuzz.tif"'
link bmp fuzz/fuzz_image.c -DFUZZ_NAME='"fuzz.bmp"'
link y4m fuzz/fuzz_y4m.c
link safetensors fuzz/fuzz_safetensors.c
link model fuzz/fuzz_model.c
link checkpoint fuzz/fuzz_checkpoint.c
link satv_cache fuzz/fuzz_satv_cache.c
link cli fuzz/fuzz_cli.c $CLI_OBJ -DFUZZ_DATA="\"$PWD/fuzz/data\""
# not a fuzz target: writes the generated seeds (`build-fuzz/fuzz/make_seeds fuzz`)
$CC $CFLAGS -o $B/fuzz/make_seeds fuzz/make_seeds.c $LIBS
[ "$SECONDS_EACH" -gt 0 ] || { echo "built: $(for t in $ALL; do printf '%s ' $B/fuzz/$t; done)"; exit 0; }

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # one core per fuzzer: the machine is shared
summary=()
for t in $TARGETS; do
    [ -d fuzz/corpus/$t ] || { echo "unknown target '$t' (targets: $ALL)" >&2; exit 2; }
    mkdir -p fuzz/corpus-$t $B/findings/$t
    before=$(ls $B/findings/$t | wc -l)
    flags="-max_total_time=$SECONDS_EACH -timeout=30 -rss_limit_mb=2048 -print_final_stats=1"
    flags="$flags -artifact_prefix=$B/findings/$t/"
    case $t in
    png | jpeg | npy) flags="$flags -dict=fuzz/dict/$t.dict" ;;
    safetensors | model | checkpoint) flags="$flags -dict=fuzz/dict/safetensors.dict" ;;
    cli) flags="$flags -timeout=60 -max_len=48 -close_fd_mask=3" ;;  # commands print a lot
    esac
    echo "== $t: ${SECONDS_EACH}s"
    set +e
    $B/fuzz/$t $flags ${FUZZ_FLAGS:-} fuzz/corpus-$t fuzz/corpus/$t >$B/fuzz/$t.log 2>&1
    rc=$?
    set -e
    execs=$(grep -a '^stat::number_of_executed_units' $B/fuzz/$t.log | awk '{print $2}' | tail -1)
    # edges: of the instrumented ones in the binary (the whole library, not only the parser)
    total=$(grep -aoE '\([0-9]+ inline 8-bit counters\)' $B/fuzz/$t.log | head -1 | grep -oE '[0-9]+' | head -1)
    cov=$(grep -aoE ' cov: [0-9]+ ft: [0-9]+' $B/fuzz/$t.log | tail -1 | awk -v t="$total" '{print $2 "/" t " edges, " $4 " features"}')
    corp=$(ls fuzz/corpus-$t | wc -l)
    found=$(( $(ls $B/findings/$t | wc -l) - before ))
    line="$t: ${execs:-?} executions, coverage ${cov:-?}, corpus $corp, findings $found (exit $rc)"
    [ $rc -eq 0 ] || line="$line -- see $B/fuzz/$t.log"
    echo "$line"
    summary+=("$line")
done
echo
echo "== summary (${SECONDS_EACH}s per target)"
printf '%s\n' "${summary[@]}"
