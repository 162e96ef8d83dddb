#!/usr/bin/env bash
# The whole `attsr upscale` (default options: automatic tiling, planning, reading,
# colour conversion, writing) against the network's own time at the same size, and its
# peak RSS, for square LR images and a 1920x1080 one (4K out at x2); prints markdown rows
# for docs/benchmarks.md. One thread pinned to core 0 (CORE), each run its own process;
# medians of REPS runs.
#
#   bash bench/upscale_cost.sh [REPS] [SIZES...]        (default: 3 256 512 1024 2048 1920x1080)
#
# ATTSR (default build/attsr) and BENCH_MODEL (default build/bench/bench_model) may name
# other builds, to compare commits on the same images. The inputs are samples/zebra.png
# resized (bicubic) to each size, as 8-bit PNG and as float32 npy; the network's time is
# bench_model's median forward of one plan at that size (no tiling: at 2048x2048 about
# 6 GB), after a warm-up. NET=0 skips it (wall times and RSS only).
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(256 512 1024 2048 1920x1080)
ATTSR=${ATTSR:-build/attsr} BENCH_MODEL=${BENCH_MODEL:-build/bench/bench_model}
M=${MODEL:-models/attsr_x2.safetensors} CORE=${CORE:-0} NET=${NET:-1}
PY=/usr/bin/python3
[ "$ATTSR" != build/attsr ] || make -s -j2 build/attsr >/dev/null
[ "$NET" = 0 ] || [ "$BENCH_MODEL" != build/bench/bench_model ] || make -s -j2 build/bench/bench_model >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
median() { sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
# one run under /usr/bin/time -v: prints "wall_s cpu_s rss_mib"
timed() {
    /usr/bin/time -v -o "$tmp/time" taskset -c "$CORE" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
    awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]}
                /User time|System time/{c+=$2} /Maximum resident set size/{r=$2/1024}
                END{printf "%.3f %.2f %.0f\n", s, c, r}' "$tmp/time"
}
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), taskset -c $CORE, 1 thread; $(date -u '+%F %H:%M'); $ATTSR"
echo
echo "| LR size | network s (CPU s) | network RSS MiB | format | upscale s (CPU s) | ratio (CPU) | upscale peak RSS MiB |"
echo "|---|---|---|---|---|---|---|"
for size in "${SIZES[@]}"; do
    w=${size%x*} h=${size#*x}
    $PY - "$w" "$h" "$tmp/in" <<'EOF'
import sys, numpy as np
from PIL import Image
w, h, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
im = Image.open("samples/zebra.png").convert("RGB").resize((w, h), Image.BICUBIC)
im.save(out + ".png")
np.save(out + ".npy", np.asarray(im, dtype=np.float32) / 255)
EOF
    net="-" net_cpu="-" net_rss="-"
    if [ "$NET" != 0 ]; then
        r=$(taskset -c "$CORE" "$BENCH_MODEL" infer "$M" "$h" "$w" "$REPS")
        net=$(echo "$r" | field median_s) net_cpu=$(echo "$r" | field cpu_s) net_rss=$(echo "$r" | field peak_rss_mib)
    fi
    for ext in npy png; do
        : >"$tmp/runs"
        for ((i = 0; i < REPS; i++)); do
            timed "$ATTSR" upscale -m "$M" -i "$tmp/in.$ext" -o "$tmp/out.$ext" --threads 1 >>"$tmp/runs"
        done
        t=$(cut -d' ' -f1 "$tmp/runs" | median) c=$(cut -d' ' -f2 "$tmp/runs" | median)
        rss=$(cut -d' ' -f3 "$tmp/runs" | median)
        ratio=$(awk -v t="$t" -v n="$net" -v c="$c" -v nc="$net_cpu" \
            'BEGIN{if (n == "-") print "-"; else printf "%.3f (%.3f)", t / n, c / nc}')
        echo "| ${w}x${h} | $net ($net_cpu) | $net_rss | $ext | $t ($c) | $ratio | $rss |"
    done
done
