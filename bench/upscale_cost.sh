#!/usr/bin/env bash
# The whole `attsr upscale` (default options: automatic tiling, planning, reading,
# colour conversion, writing) against the network's own time at the same size, and its
# peak RSS, for square LR images and a 1920x1080 one (4K out at x2); prints markdown rows
# for docs/benchmarks.md. One thread pinned to core 0 (CORE), each run its own process.
# The runs interleave (network, then each build and format, REPS rounds), so that load
# from other jobs falls on all cases alike; medians of the REPS rounds.
#
#   bash bench/upscale_cost.sh [REPS] [SIZES...]        (default: 3 256 512 1024 2048 1920x1080)
#
# ATTSR (default build/attsr) may list several builds ("OLD/attsr build/attsr"), to
# compare commits on the same images in the same rounds; BENCH_MODEL (default
# build/bench/bench_model) times the network: its median forward of one plan of the
# whole image (no tiling: at 2048x2048 about 6 GB) after a warm-up. The inputs are
# samples/zebra.png resized (bicubic) to each size, as 8-bit PNG and as float32 npy.
# Ratios use CPU time (user + system), steadier than the wall clock on a shared core;
# the system part (mostly the kernel handing out fresh pages) is shown beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${1:-3}
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(256 512 1024 2048 1920x1080)
ATTSR=${ATTSR:-build/attsr} BENCH_MODEL=${BENCH_MODEL:-build/bench/bench_model}
M=${MODEL:-models/attsr_x2.safetensors} CORE=${CORE:-0}
PY=/usr/bin/python3
[ "$ATTSR" != build/attsr ] || make -s -j2 build/attsr >/dev/null
[ "$BENCH_MODEL" != build/bench/bench_model ] || make -s -j2 build/bench/bench_model >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=1
median() { sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
# one run: prints "wall_s cpu_s rss_mib sys_s", the CPU times from the child's rusage
# (microseconds; /usr/bin/time rounds them to 0.01 s, 3% of a 256x256 run)
timed() {
    "$PY" -c '
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w")).returncode
w = time.perf_counter() - t
u = resource.getrusage(resource.RUSAGE_CHILDREN)
print("%.4f %.4f %.0f %.4f" % (w, u.ru_utime + u.ru_stime, u.ru_maxrss / 1024, u.ru_stime))
sys.exit(rc)' "$tmp/err" taskset -c "$CORE" "$@" || { cat "$tmp/err" >&2; return 1; }
}
col() { cut -d' ' -f"$1" "$2" | median; }
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), taskset -c $CORE, 1 thread; $(date -u '+%F %H:%M'); $M"
echo
echo "| LR size | network s (CPU s) | network RSS MiB | build | format | upscale s (CPU s; system) | ratio (CPU) | upscale peak RSS MiB |"
echo "|---|---|---|---|---|---|---|---|"
for size in "${SIZES[@]}"; do
    w=${size%x*} h=${size#*x}
    $PY - "$w" "$h" "$tmp/in" <<'EOF2'
import sys, numpy as np
from PIL import Image
w, h, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
im = Image.open("samples/zebra.png").convert("RGB").resize((w, h), Image.BICUBIC)
im.save(out + ".png")
np.save(out + ".npy", np.asarray(im, dtype=np.float32) / 255)
EOF2
    rm -f "$tmp"/runs.*
    for ((i = 0; i < REPS; i++)); do
        r=$(taskset -c "$CORE" "$BENCH_MODEL" infer "$M" "$h" "$w" 1)
        echo "$(echo "$r" | field median_s) $(echo "$r" | field cpu_s) $(echo "$r" | field peak_rss_mib)" >>"$tmp/runs.net"
        b=0
        for bin in $ATTSR; do
            for ext in npy png; do
                timed "$bin" upscale -m "$M" -i "$tmp/in.$ext" -o "$tmp/out.$ext" --threads 1 >>"$tmp/runs.$b.$ext"
            done
            b=$((b + 1))
        done
    done
    net=$(col 1 "$tmp/runs.net") net_cpu=$(col 2 "$tmp/runs.net") net_rss=$(col 3 "$tmp/runs.net")
    b=0
    for bin in $ATTSR; do
        for ext in npy png; do
            f="$tmp/runs.$b.$ext" t=$(col 1 "$tmp/runs.$b.$ext") c=$(col 2 "$tmp/runs.$b.$ext")
            ratio=$(awk -v t="$t" -v n="$net" -v c="$c" -v nc="$net_cpu" 'BEGIN{printf "%.3f (%.3f)", t / n, c / nc}')
            echo "| ${w}x${h} | $net ($net_cpu) | $net_rss | $bin | $ext | $t ($c; $(col 4 "$f")) | $ratio | $(col 3 "$f") |"
        done
        b=$((b + 1))
    done
done
