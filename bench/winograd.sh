#!/usr/bin/env bash
# attsr with oneDNN direct convolutions (ATTSR_CONV=direct), with the default choice
# (auto: Winograd F(4x4,3x3) on the wide 3x3 layers) and PyTorch (default layout and
# channels_last) on the same weights and inputs, 2 threads, in one run; prints markdown
# rows for docs/benchmarks.md. Medians of REPS timed runs after a warm-up, each case in
# its own process.
#
#   bash bench/winograd.sh [paper|bundled|infer|sa4|train|train-paper|all] [REPS]  (default: infer 3)
#
# paper:   paper-size (C=64, 1/3/20, x2), attention none, one 128x128 LR image;
# bundled: the bundled x2 model (models/attsr_x2.safetensors) on one 512x512 LR image;
# infer:   both; sa4: paper-size, sa4, 128x128.
# train: one step, batch 16 of 48x48, the bundled model's shape (against channels_last);
# train-paper: the same for paper-size none (not in all: about 20 s a step).
# CPU s per run: the process's CPU time per run (all threads), steadier than the wall
# clock where other jobs share the cores. The rate is direct-equivalent: the direct algorithm's FLOPs over the time, also as a
# share of the 2-core FMA peak that build/bench/bench_peak measures (256-bit FMAs).
#
# BUILD (default build) picks the build, e.g. an AVX2-only one on an AVX-512 machine:
#   make BUILD=build-avx2 OPT="-O3 -march=haswell" bench build-avx2/attsr
#   BUILD=build-avx2 DNNL_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 LIBXSMM_TARGET=hsw bash bench/winograd.sh
# (the variables hold oneDNN, attsr's and PyTorch's, MKL and libxsmm to AVX2 kernels).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-infer}
REPS=${2:-3}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} ATTSR_THREADS=${OMP_NUM_THREADS:-2}
# idle OpenMP threads sleep instead of spinning (both sides): the CPU-time column then
# counts work, and on a shared machine a spinning thread no longer takes a core from one
# that works
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
PY=/usr/bin/python3
B=${BUILD:-build}
[ "$B" != build ] || make -s -j2 bench build/attsr >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
peak=$("$B"/bench/bench_peak 1 | field peak_gflops)
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, OMP_NUM_THREADS=$OMP_NUM_THREADS; $(date -u '+%F %H:%M'); FMA peak $peak GFLOP/s; build $B${DNNL_MAX_CPU_ISA:+, DNNL_MAX_CPU_ISA=$DNNL_MAX_CPU_ISA}"
echo

# one table: $1 title, $2 model, $3 mode (infer/train), $4 $5 sizes
table() {
    local title=$1 m=$2 mode=$3 a=$4 b=$5 gf best="" bestc=""
    echo "| $title | median s | CPU s per run | direct-eq GFLOP/s | % of FMA peak | peak RSS MiB |"
    echo "|---|---|---|---|---|---|"
    declare -A t c
    rate() { awk -v g="$gf" -v s="$1" -v p="$peak" 'BEGIN{printf "%.1f | %.0f%%", g/s, 100*g/s/p}'; }
    for conv in direct auto; do
        local r
        r=$(ATTSR_CONV=$conv "$B"/bench/bench_model "$mode" "$m" "$a" "$b" "$REPS")
        t[$conv]=$(echo "$r" | field median_s) c[$conv]=$(echo "$r" | field cpu_s)
        gf=$(echo "$r" | field gflop)
        echo "| attsr, --conv $conv | ${t[$conv]} | ${c[$conv]} | $(rate "${t[$conv]}") | $(echo "$r" | field peak_rss_mib) |"
    done
    local layouts=("" --channels-last)
    [ "$mode" = train ] && layouts=(--channels-last)
    for cl in "${layouts[@]}"; do
        local r pt pc
        r=$($PY tools/bench_torch.py "$mode" "$m" "$a" "$b" "$REPS" $cl)
        pt=$(echo "$r" | field median_s) pc=$(echo "$r" | field cpu_s)
        echo "| PyTorch${cl:+ channels_last} | $pt | $pc | $(rate "$pt") | $(echo "$r" | field peak_rss_mib) |"
        if [ -z "$best" ] || awk -v x="$pt" -v y="$best" 'BEGIN{exit !(x < y)}'; then best=$pt bestc=$pc; fi
    done
    echo
    awk -v w="${t[auto]}" -v d="${t[direct]}" -v p="$best" -v wc="${c[auto]}" -v dc="${c[direct]}" -v pc="$bestc" \
        'BEGIN{printf "wall: auto / direct %.2f, auto / PyTorch (faster layout) %.2f, direct / PyTorch %.2f; CPU time: %.2f, %.2f, %.2f\n\n", w/d, w/p, d/p, wc/dc, wc/pc, dc/pc}'
}

case "$what" in paper|infer|all)
    "$B"/attsr init --scale 2 --feats 64 --fe-groups 1 --groups 3 --blocks 20 --attention none --seed 1 -o "$tmp/paper.safetensors" >/dev/null
    table "paper-size none, 128x128 LR, x2" "$tmp/paper.safetensors" infer 128 128 ;;
esac
case "$what" in bundled|infer|all)
    table "bundled x2 (C=32 1/2/4 ca), 512x512 LR" models/attsr_x2.safetensors infer 512 512 ;;
esac
case "$what" in sa4|all)
    "$B"/attsr init --scale 2 --feats 64 --fe-groups 1 --groups 3 --blocks 20 --attention sa4 --seed 1 -o "$tmp/sa4.safetensors" >/dev/null
    table "paper-size sa4, 128x128 LR, x2" "$tmp/sa4.safetensors" infer 128 128 ;;
esac
case "$what" in train|all)
    table "training step, bundled shape, 16 x 48x48" models/attsr_x2.safetensors train 16 48 ;;
esac
case "$what" in train-paper)
    "$B"/attsr init --scale 2 --feats 64 --fe-groups 1 --groups 3 --blocks 20 --attention none --seed 1 -o "$tmp/paper.safetensors" >/dev/null
    table "training step, paper-size none, 16 x 48x48" "$tmp/paper.safetensors" train 16 48 ;;
esac
