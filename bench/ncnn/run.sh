#!/usr/bin/env bash
# attsr against ncnn (Tencent's CPU inference library, with and without its Winograd
# kernels) on the same network, the same weights and the same input, in one run, 2
# threads; prints markdown for docs/benchmarks.md ("attsr vs ncnn").
#
#   NCNN_SRC=/path/to/ncnn bash bench/ncnn/run.sh [paper|bundled|all] [ROUNDS] [REPS]
#                                                          (default: all 3 5)
#
# ncnn's source is not part of attsr and this script downloads nothing: check it out
# anywhere outside this repository first, e.g.
#   git clone https://github.com/Tencent/ncnn /var/tmp/ncnn-src   (no submodules needed)
# (measured with ncnn a4d2ea1d4, 2026-07-22). It is built here by bench/ncnn/build_ncnn.sh
# into NCNN_BUILD (default /var/tmp/attsr-ncnn, outside the repository; kept between
# runs): CPU only (no Vulkan), OpenMP, fp32, once with its AVX-512 kernels and once with
# its AVX2 + FMA ones (NCNN_ISAS="avx512 avx2"; a CPU without AVX-512: NCNN_ISAS=avx2).
#
# paper:   paper-size (C=64, 1/3/20, x2), attention none, `attsr init --seed 1`, one
#          128x128 LR image;
# bundled: models/attsr_x2.safetensors (C=32, 1/2/4, ca), one 512x512 LR image.
# Each model goes through bench/ncnn/convert.py into ncnn's format. First a check on a
# real image (samples/butterfly.png, Set14 barbara.png from ATTSR_DATA, cropped to the
# timed size): the largest |difference| between attsr's SR output (`attsr upscale`,
# one tile) and ncnn's, for every pair of algorithms; above 1e-3 the run stops before
# timing anything. Then ROUNDS rounds, each running every case once, alternating, in
# its own process: REPS timed runs after one warm-up (bench_model for attsr, with
# ATTSR_CONV auto and direct; bench/ncnn/ncnn_time.cpp for ncnn). Reported: the median
# over all rounds of each process's median, the spread of those medians (min-max), the
# median CPU time per run (all threads; steadier than the wall clock when other jobs
# share the cores) and the direct-equivalent rate against the FMA peak that
# build/bench/bench_peak measures (256-bit FMAs; attsr's FLOP count of the network;
# FMA_PEAK=G replaces a lower reading, which a loaded machine gives).
# OMP_WAIT_POLICY=passive (idle OpenMP threads sleep), as bench/winograd.sh, for both.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all} ROUNDS=${2:-3} REPS=${3:-5}
: "${NCNN_SRC:?set NCNN_SRC to an ncnn source checkout (see the header of bench/ncnn/run.sh)}"
NCNN_BUILD=${NCNN_BUILD:-/var/tmp/attsr-ncnn}
NCNN_ISAS=${NCNN_ISAS:-avx512 avx2}
DATA=${ATTSR_DATA:-../shared/data/benchmark}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} ATTSR_THREADS=${OMP_NUM_THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
T=$OMP_NUM_THREADS
PY=/usr/bin/python3
case "$NCNN_BUILD" in "$PWD"/*) echo "run.sh: NCNN_BUILD must be outside the repository" >&2; exit 2 ;; esac
make -s -j2 bench build/attsr >/dev/null
mkdir -p "$NCNN_BUILD"
for isa in $NCNN_ISAS; do
    inst=$(bash bench/ncnn/build_ncnn.sh "$NCNN_SRC" "$NCNN_BUILD/$isa" "$isa")
    bin=$NCNN_BUILD/ncnn_time-$isa
    if [ ! -x "$bin" ] || [ bench/ncnn/ncnn_time.cpp -nt "$bin" ] || [ "$inst/lib/libncnn.a" -nt "$bin" ]; then
        g++ -std=c++11 -O2 -Wall -Wextra -fopenmp -I"$inst/include/ncnn" bench/ncnn/ncnn_time.cpp \
            "$inst/lib/libncnn.a" -lpthread -o "$bin"
    fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
field() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
peak=$(build/bench/bench_peak 1 | field peak_gflops)
# under load bench_peak reads low; FMA_PEAK=G (the best it has read on the machine) is
# used instead when it is higher
measured=$peak
[ -n "${FMA_PEAK:-}" ] && peak=$(awk -v a="$peak" -v b="$FMA_PEAK" 'BEGIN{print (b > a ? b : a)}')
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $T threads, OMP_WAIT_POLICY=$OMP_WAIT_POLICY;" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg) at the start; $(date -u '+%F %H:%M'); FMA peak $peak GFLOP/s (bench_peak now: $measured);" \
     "ncnn $(git -C "$NCNN_SRC" rev-parse --short HEAD 2>/dev/null || echo '(not a git checkout)')"
echo

# an LR input: $1 image, $2 size (square crop from the top left), $3 out .npy
mk_input() {
    $PY - "$1" "$2" "$3" <<'EOF'
import sys
import numpy as np
from PIL import Image
n = int(sys.argv[2])
a = np.asarray(Image.open(sys.argv[1]).convert("RGB"), dtype=np.float32)[:n, :n] / 255
np.save(sys.argv[3], np.ascontiguousarray(a))
print("%dx%d" % a.shape[:2])
EOF
}

# $1 name, $2 model, $3 LR size, $4 check image
bench_case() {
    local name=$1 m=$2 n=$3 img=$4 sz conv isa w
    $PY bench/ncnn/convert.py "$m" "$tmp/$name"
    sz=$(mk_input "$img" "$n" "$tmp/$name.in.npy")
    echo "check on $img ($sz LR): max |attsr - ncnn| of the SR output, and max |SR|:"
    for conv in auto direct; do
        build/attsr upscale -m "$m" -i "$tmp/$name.in.npy" -o "$tmp/$name.attsr-$conv.npy" --tile 4096 \
            --threads "$T" --conv $conv >/dev/null
    done
    for isa in $NCNN_ISAS; do
        for w in 1 0; do
            "$NCNN_BUILD/ncnn_time-$isa" "$tmp/$name" "$n" "$n" 1 $w "$T" "$tmp/$name.in.npy" "$tmp/$name.ncnn-$isa-$w.npy" >/dev/null
        done
    done
    $PY - "$tmp/$name" $NCNN_ISAS <<'EOF'
import sys
import numpy as np
base, isas = sys.argv[1], sys.argv[2:]
bad = 0
for conv in ("auto", "direct"):
    a = np.load("%s.attsr-%s.npy" % (base, conv))
    for isa in isas:
        for w, wn in ((1, "winograd"), (0, "no winograd")):
            b = np.load("%s.ncnn-%s-%d.npy" % (base, isa, w))
            d = float(np.abs(a - b).max()) if a.shape == b.shape else float("inf")
            bad |= not d <= 1e-3
            print("- attsr --conv %s vs ncnn %s %s: %.2e (max |SR| %.3f)" % (conv, isa, wn, d, float(np.abs(a).max())))
d = np.load(base + ".attsr-auto.npy") - np.load(base + ".attsr-direct.npy")
print("- attsr auto vs direct: %.2e" % float(np.abs(d).max()))
sys.exit(1 if bad else 0)
EOF
    echo
    # the cases, alternating: every round runs each once
    local cases=() c r
    for isa in $NCNN_ISAS; do cases+=("ncnn-$isa-1" "ncnn-$isa-0"); done
    cases+=(attsr-auto attsr-direct)
    declare -A med cpu rss best
    local gf=""
    for ((r = 0; r < ROUNDS; r++)); do
        for c in "${cases[@]}"; do
            local out
            case $c in
                attsr-*) out=$(ATTSR_CONV=${c#attsr-} build/bench/bench_model infer "$m" "$n" "$n" "$REPS")
                         gf=$(echo "$out" | field gflop) ;;
                ncnn-*) isa=${c#ncnn-}; w=${isa##*-}; isa=${isa%-*}
                        out=$("$NCNN_BUILD/ncnn_time-$isa" "$tmp/$name" "$n" "$n" "$REPS" "$w" "$T") ;;
            esac
            med[$c]+="$(echo "$out" | field median_s) " cpu[$c]+="$(echo "$out" | field cpu_s) "
            rss[$c]=$(echo "$out" | field peak_rss_mib) best[$c]+="$(echo "$out" | field min_s) "
        done
    done
    local ref=${cases[0]} rl=${cases[0]#ncnn-}
    rl="${rl%-1} Winograd"
    stat() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{v[NR]=$1} END{m=NR%2?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.3f %.3f %.3f", m, v[1], v[NR]}'; }
    echo "| $name, ${n}x${n} LR, x2, $T threads | median s | spread of medians | fastest run | CPU s per run | direct-eq GFLOP/s | % of FMA peak | peak RSS MiB | / ncnn $rl | CPU / ncnn $rl |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    local rm rc
    rm=$(echo "${med[$ref]}" | stat | cut -d' ' -f1) rc=$(echo "${cpu[$ref]}" | stat | cut -d' ' -f1)
    for c in "${cases[@]}"; do
        local s cs b label
        read -r s lo hi <<<"$(echo "${med[$c]}" | stat)"
        cs=$(echo "${cpu[$c]}" | stat | cut -d' ' -f1)
        b=$(echo "${best[$c]}" | stat | cut -d' ' -f2)
        case $c in
            attsr-*) label="attsr --conv ${c#attsr-}" ;;
            *-1) label="ncnn ${c#ncnn-}"; label="${label%-1}, Winograd" ;;
            *-0) label="ncnn ${c#ncnn-}"; label="${label%-0}, no Winograd" ;;
        esac
        echo "| $label | $s | $lo-$hi | $b | $cs | $(awk -v g="$gf" -v s="$s" -v p="$peak" 'BEGIN{printf "%.1f | %.0f%%", g/s, 100*g/s/p}') | ${rss[$c]} | $(awk -v a="$s" -v b="$rm" -v c="$cs" -v d="$rc" 'BEGIN{printf "%.2f | %.2f", a/b, c/d}') |"
    done
    echo
}

case "$what" in paper|all)
    build/attsr init --scale 2 --feats 64 --fe-groups 1 --groups 3 --blocks 20 --attention none --seed 1 \
        -o "$tmp/paper.safetensors" >/dev/null
    bench_case paper "$tmp/paper.safetensors" 128 samples/butterfly.png ;;
esac
case "$what" in bundled|all)
    img=$DATA/Set14/HR/barbara.png
    [ -f "$img" ] || img=samples/zebra.png  # without the benchmark data: checked at 192x192
    bench_case bundled models/attsr_x2.safetensors 512 "$img" ;;
esac
