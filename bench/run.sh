#!/usr/bin/env bash
# Benchmarks attsr against PyTorch (Debian's python3-torch) on the same weights, the
# same input shapes and the same thread count, in one run; prints markdown tables for
# docs/benchmarks.md. Medians of REPS timed runs after one warm-up; every case in its
# own process, so peak RSS is per case.
#
#   bash bench/run.sh [infer|train|peak|all] [REPS]      (default: all 5)
#
# infer: one 128x128 LR image, x2, paper-size model (C=64, 1/3/20), attention none, sa4.
# train: one step, batch 16 of 48x48 LR patches, x2; small (C=32, 1/2/4) and paper size.
# The standalone rate of oneDNN's 3x3 64->64 convolution comes from build/bench/bench_conv,
# the machine's FP32 FMA peak from build/bench/bench_peak (inference rates as a share of it).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-all}
REPS=${2:-5}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} ATTSR_THREADS=${OMP_NUM_THREADS:-2}
PY=/usr/bin/python3
make -s -j2 bench build/attsr >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, OMP_NUM_THREADS=$OMP_NUM_THREADS; $(date -u +%F)"
echo
peak=$(build/bench/bench_peak 1 | field peak_gflops)
echo "FP32 FMA peak (build/bench/bench_peak, $OMP_NUM_THREADS threads): $peak GFLOP/s"
echo
case "$what" in infer|all)
    conv=$(build/bench/bench_conv 2>/dev/null | grep -m1 -i "128x128.*gflop" || true)
    echo "oneDNN 3x3 64->64 convolution alone: ${conv:-n/a}"
    echo
    echo "| inference, 128x128 LR, x2, C=64 1/3/20 | median s | GFLOP/s | % of FMA peak | peak RSS MiB | attsr / this |"
    echo "|---|---|---|---|---|---|"
    pct() { awk -v g="$1" -v t="$2" -v p="$peak" 'BEGIN{r=g/t; printf "%.1f | %.0f%%", r, 100*r/p}'; }
    for att in none sa4; do
        build/attsr init --scale 2 --attention $att --seed 1 -o "$tmp/$att.safetensors" >/dev/null
        a=$(build/bench/bench_model infer "$tmp/$att.safetensors" 128 128 "$REPS")
        at=$(echo "$a" | field median_s) gf=$(echo "$a" | field gflop)
        echo "| attsr, $att | $at | $(pct "$gf" "$at") | $(echo "$a" | field peak_rss_mib) | 1 |"
        for cl in "" --channels-last; do
            p=$($PY tools/bench_torch.py infer "$tmp/$att.safetensors" 128 128 "$REPS" $cl)
            pt=$(echo "$p" | field median_s)
            echo "| PyTorch${cl:+ channels_last}, $att | $pt | $(pct "$gf" "$pt") | $(echo "$p" | field peak_rss_mib) | $(awk -v a="$at" -v b="$pt" 'BEGIN{printf "%.2f", a/b}') |"
        done
    done
    echo ;;
esac
case "$what" in train|all)
    echo "| training step, batch 16 x 48x48, x2 | median s | peak RSS MiB | attsr / PyTorch channels_last |"
    echo "|---|---|---|---|"
    for shape in "small:--feats 32 --groups 2 --blocks 4" "paper:--feats 64 --groups 3 --blocks 20"; do
        name=${shape%%:*}
        for att in none sa4; do
            build/attsr init --scale 2 ${shape#*:} --attention $att --seed 1 -o "$tmp/t.safetensors" >/dev/null
            a=$(build/bench/bench_model train "$tmp/t.safetensors" 16 48 "$REPS")
            p=$($PY tools/bench_torch.py train "$tmp/t.safetensors" 16 48 "$REPS" --channels-last)
            at=$(echo "$a" | field median_s); pt=$(echo "$p" | field median_s)
            echo "| attsr, $name, $att | $at | $(echo "$a" | field peak_rss_mib) | $(awk -v a="$at" -v b="$pt" 'BEGIN{printf "%.2f", a/b}') |"
            echo "| PyTorch channels_last, $name, $att | $pt | $(echo "$p" | field peak_rss_mib) | |"
        done
    done ;;
esac
