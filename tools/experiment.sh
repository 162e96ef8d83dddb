#!/usr/bin/env bash
# The paper's experiment (its Table 2) at a size this project's CPU trains: seven
# variants with the same data, steps, seed and schedule —
#   Base (attention none), +CA, +SA1, +SA4, all with GradNorm on, and +SA4 with GradNorm off,
#   as the paper; +CA+SA4 (ca+sa4) and +CA (avg+max) (ca-avgmax), the two directions its
#   end names (docs/protocol.md), with GradNorm on —
# then each variant's best validation checkpoint on the benchmarks (attsr eval --json),
# its parameters, forward FLOPs and inference time (attsr info), the training curves of
# all variants on one PNG (gnuplot), and the report docs/results.md.
#
#   bash tools/experiment.sh [options]
#
#   --steps N         training steps of every variant (1500); learning rate halved at
#                     5/8 and 7/8 of them
#   --out DIR         the runs, one folder per variant (runs/experiment)
#   --data DIR        a training folder, repeatable (../shared/data/train/T91 and BSD200)
#   --val DIR         validation folder; it picks each variant's best checkpoint
#                     (../shared/data/benchmark/Set5)
#   --val-every N     (steps / 15)
#   --bench DIR       a benchmark folder, repeatable (../shared/data/benchmark/{Set5,Set14,BSD100})
#   --doc FILE        the report (docs/results.md)     --png FILE   the curves (docs/results_curves.png)
#   --scale S (2) --feats C (32) --fe-groups G (1) --groups G (2) --blocks B (4)
#   --batch B (16) --patch P (48) --lr LR (2e-4) --seed N (1) --threads N (2)
#   --time-size N (128) --time-runs R (5)   inference timing: R forward passes on an N x N LR image
#   --cache DIR       SATV decomposition cache shared by the variants (OUT/satv-cache)
#
# It resumes where it stopped: a variant trained to --steps is skipped, an interrupted
# one continues from its checkpoint (attsr train --resume), and evaluations and
# measurements already made are kept. A larger --steps continues the finished runs.
# SIGINT or SIGTERM stops the running training with a checkpoint (exit status 130).
# The report is rewritten between its <!-- experiment.sh --> markers; text outside them
# is kept. Paths are taken relative to the current folder; defaults to the repository.
set -euo pipefail
{  # parsed whole before it runs: editing this file cannot disturb a run in progress
root=$(cd "$(dirname "$0")/.." && pwd)
ATTSR=${ATTSR_BIN:-$root/build/attsr}
cmdline="tools/experiment.sh $*"

steps=1500 out=$root/runs/experiment val=$root/../shared/data/benchmark/Set5 val_every=
doc=$root/docs/results.md png=$root/docs/results_curves.png cache=
scale=2 feats=32 fe_groups=1 groups=2 blocks=4 batch=16 patch=48 lr=2e-4 seed=1 threads=2
time_size=128 time_runs=5
data=() bench=()
die() { echo "experiment: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || die "$1: a value is missing (see the head of $0)"
    case "$1" in
    --steps) steps=$2 ;;  --out) out=$2 ;;  --data) data+=("$2") ;;  --val) val=$2 ;;
    --val-every) val_every=$2 ;;  --bench) bench+=("$2") ;;  --doc) doc=$2 ;;  --png) png=$2 ;;
    --scale) scale=$2 ;;  --feats) feats=$2 ;;  --fe-groups) fe_groups=$2 ;;  --groups) groups=$2 ;;
    --blocks) blocks=$2 ;;  --batch) batch=$2 ;;  --patch) patch=$2 ;;  --lr) lr=$2 ;;
    --seed) seed=$2 ;;  --threads) threads=$2 ;;  --time-size) time_size=$2 ;;
    --time-runs) time_runs=$2 ;;  --cache) cache=$2 ;;
    *) die "unknown option $1 (see the head of $0)" ;;
    esac
    shift 2
done
[ ${#data[@]} -gt 0 ] || data=("$root/../shared/data/train/T91" "$root/../shared/data/train/BSD200")
[ ${#bench[@]} -gt 0 ] || bench=("$root/../shared/data/benchmark/"{Set5,Set14,BSD100})
[[ $steps =~ ^[1-9][0-9]*$ ]] || die "--steps: a positive integer"
[ -n "$val_every" ] || val_every=$((steps / 15 > 0 ? steps / 15 : 1))
cache=${cache:-$out/satv-cache}
for d in "${data[@]}" "$val" "${bench[@]}"; do [ -d "$d" ] || die "$d: no such folder"; done
[ -x "$ATTSR" ] || die "$ATTSR: not built (make)"
export OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

#                name      attention gradnorm  row label
VARIANTS=("base     none on  Base"
          "ca       ca   on  +CA"
          "sa1      sa1  on  +SA1"
          "sa4      sa4  on  +SA4"
          "ca-sa4    ca+sa4    on  +CA+SA4"
          "ca-avgmax ca-avgmax on  +CA (avg+max)"
          "sa4-nogn sa4  off +SA4, GradNorm off")
# (a folder made before a variant was added resumes: its finished variants are skipped)

# Everything but --steps (and --val-every) must match the runs already in OUT.
abs() { realpath -m "$1"; }
config="scale=$scale feats=$feats fe_groups=$fe_groups groups=$groups blocks=$blocks batch=$batch patch=$patch"
config+=" lr=$lr seed=$seed data=$(for d in "${data[@]}"; do printf '%s,' "$(abs "$d")"; done)"
config+=" val=$(abs "$val") bench=$(for d in "${bench[@]}"; do printf '%s,' "$(abs "$d")"; done)"
mkdir -p "$out"
if [ -f "$out/config" ]; then
    [ "$(cat "$out/config")" = "$config" ] ||
        die "$out holds runs made with other settings ($out/config); use another --out"
else
    echo "$config" > "$out/config"
fi

log() { echo "experiment: $*" >&2; }
m1=$((steps * 5 / 8)) m2=$((steps * 7 / 8))
[ $m1 -ge 1 ] || m1=1
[ $m2 -gt $m1 ] || m2=$((m1 + 1))
TRAIN=(--scale "$scale" --feats "$feats" --fe-groups "$fe_groups" --groups "$groups" --blocks "$blocks"
       --batch "$batch" --patch "$patch" --steps "$steps" --lr "$lr" --milestones "$m1,$m2" --seed "$seed"
       --val "$val" --val-every "$val_every" --ckpt-every 50 --log-every 20 --threads "$threads" --cache "$cache")
for d in "${data[@]}"; do TRAIN+=(-d "$d"); done

# SIGINT/SIGTERM: passed to the running training, which saves a checkpoint and exits 130.
child=
# Anywhere else the script stops at once: every other output is written atomically.
trap 'if [ -n "$launching" ]; then stopped=1; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null
      else log "stopped"; exit 130; fi' INT TERM
stopped=0 launching=
last_step() { { grep -o '"step":[0-9]*,"loss"' "$1/log.jsonl" 2>/dev/null || true; } | tail -1 | tr -dc 0-9; }

train() {  # name attention gradnorm
    local dir=$out/$1
    if [ "$(cat "$dir/trained" 2>/dev/null)" = "$steps" ]; then
        log "$1: trained to step $steps; skipped"
        return 0
    fi
    mkdir -p "$dir"
    local s0 t0 rc=0
    s0=$(last_step "$dir"); t0=$(date +%s.%N)
    log "$1: training (attention $2, GradNorm $3) from step ${s0:-0} to $steps"
    launching=1
    "$ATTSR" train "${TRAIN[@]}" --attention "$2" --gradnorm "$3" -o "$dir" --resume 2>>"$dir/train.err" &
    child=$!
    [ $stopped -eq 0 ] || kill -TERM $child 2>/dev/null  # the signal came before $! was known
    wait $child || rc=$?
    while kill -0 $child 2>/dev/null; do wait $child || rc=$?; done  # a signal interrupted wait
    child= launching=
    if [ $rc -ne 0 ] || [ $stopped -ne 0 ]; then
        log "$1: training stopped (status $rc; $dir/train.err: $(tail -1 "$dir/train.err")); run again to resume"
        exit $([ $rc -eq 130 ] || [ $stopped -ne 0 ] && echo 130 || echo 1)
    fi
    echo "${s0:-0} $(last_step "$dir") $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >> "$dir/train_time"
    rm -f "$dir/eval.json" "$dir/info.json"  # the model changed
    echo "$steps" > "$dir/trained"
}

# atomically: CMD > FILE
to_file() { local f=$1; shift; "$@" > "$f.tmp" && mv "$f.tmp" "$f"; }

measure() {  # name
    local dir=$out/$1 m=$out/$1/best.safetensors
    [ -f "$m" ] || m=$dir/model.safetensors
    if [ -s "$dir/eval.json" ]; then log "$1: evaluated; skipped"
    else log "$1: evaluating $(basename "$m")"; to_file "$dir/eval.json" "$ATTSR" eval -m "$m" --json "${bench[@]}"; fi
    if [ -s "$dir/info.json" ]; then log "$1: measured; skipped"
    else
        log "$1: parameters, FLOPs, inference time"
        to_file "$dir/info.json" "$ATTSR" info -m "$m" --size "$time_size" --runs "$time_runs" --json
    fi
}

t_start=$(date +%s)
for v in "${VARIANTS[@]}"; do
    read -r name att gn _ <<< "$v"
    train "$name" "$att" "$gn"
    measure "$name"
done
if [ -s "$out/bicubic.json" ]; then log "bicubic: evaluated; skipped"
else to_file "$out/bicubic.json" "$ATTSR" eval --bicubic --scale "$scale" --json "${bench[@]}" "$val"; fi

# ---- the report -------------------------------------------------------------------
# eval --json: the dataset-level objects are the ones followed by "images".
datasets() {  # eval.json -> lines "name psnr ssim"
    grep -o '{"name": "[^"]*", "psnr": [^,]*, "ssim": [^,]*, "images"' "$1" |
        sed 's/{"name": "\([^"]*\)", "psnr": \([^,]*\), "ssim": \([^,]*\), "images"/\1 \2 \3/'
}
field() { sed -n "s/.*\"$2\": \([-0-9.eE+]*\).*/\1/p" "$1"; }  # a number in a one-line JSON object

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
names=() labels=()
for v in "${VARIANTS[@]}"; do
    read -r name att gn label <<< "$v"
    names+=("$name"); labels+=("$label")
done

# score rows: label, then psnr ssim per benchmark, in --bench order
bench_names=$(datasets "$out/${names[0]}/eval.json" | awk '{ print $1 }' | tr '\n' ' ')
for i in "${!names[@]}"; do
    printf '%s\t%s\n' "${labels[$i]}" "$(datasets "$out/${names[$i]}/eval.json" | awk '{ printf "%s %s ", $2, $3 }')"
done > "$tmp/scores"
score_table() {
    printf '| Variant |'
    for b in $bench_names; do printf ' %s PSNR | %s SSIM |' "$b" "$b"; done
    printf '\n|---|'
    for b in $bench_names; do printf -- '---:|---:|'; done
    printf '\n'
    # best per column in bold (on the printed digits, so ties are all bold)
    awk -F'\t' '{ lab[NR] = $1; n = split($2, v, " "); for (j = 1; j <= n; j++) {
                     s = (j % 2 ? sprintf("%.2f", v[j]) : sprintf("%.4f", v[j])); cell[NR, j] = s
                     if (NR == 1 || s + 0 > best[j]) best[j] = s + 0 } cols = n }
                 END { for (i = 1; i <= NR; i++) { printf "| %s |", lab[i]
                         for (j = 1; j <= cols; j++) { f = cell[i, j] + 0 == best[j] ? " **%s** |" : " %s |"; printf f, cell[i, j] }
                         printf "\n" } }' "$tmp/scores"
    printf '| *Bicubic* |'
    datasets "$out/bicubic.json" | head -n "$(echo $bench_names | wc -w)" | awk '{ printf " *%.2f* | *%.4f* |", $2, $3 }'
    printf '\n'
}

cost_table() {
    printf '| Variant | Parameters | GFLOPs (%dx%d LR) | Inference (ms, %dx%d LR) | Training (s/step) | Training time | Best validation (dB @ step) |\n' \
        "$time_size" "$time_size" "$time_size" "$time_size"
    printf '|---|---:|---:|---:|---:|---:|---:|\n'
    for i in "${!names[@]}"; do
        local dir=$out/${names[$i]} bestv
        bestv=$({ grep '"best":true' "$dir/log.jsonl" || true; } | tail -1 |
                sed -n 's/.*"step":\([0-9]*\),"val_psnr":\([-0-9.]*\).*/\2 @ \1/p')
        awk -v lab="${labels[$i]}" -v p="$(field "$dir/info.json" parameters)" -v g="$(field "$dir/info.json" gflop)" \
            -v ms="$(field "$dir/info.json" median_ms)" -v bv="${bestv:-n/a}" '
            { st += $2 - $1; sec += $3 }
            END { printf "| %s | %.3f M | %.2f | %.0f | %s | %s | %s |\n", lab, p / 1e6, g, ms,
                         (st > 0 ? sprintf("%.2f", sec / st) : "n/a"),
                         (sec >= 3600 ? sprintf("%.1f h", sec / 3600) : sprintf("%.0f s", sec)), bv }' "$dir/train_time"
    done
}

paper_table() {
    printf '| Variant |'
    for b in $bench_names; do printf ' %s PSNR / SSIM |' "$b"; done
    printf '\n|---|'
    for b in $bench_names; do printf -- '---:|'; done
    printf '\n'
    for lab in "${labels[@]}"; do
        printf '| %s |' "$lab"
        for b in $bench_names; do printf ' (paper) |'; done
        printf '\n'
    done
}

# curves: validation PSNR per validation; losses and w_S as means over bins of steps
bin=$((steps / 100 > 0 ? steps / 100 : 1))
plot=""
for i in "${!names[@]}"; do
    f=$out/${names[$i]}/log.jsonl
    { grep '"val_psnr"' "$f" || true; } | sed 's/.*"step":\([0-9]*\),"val_psnr":\([-0-9.]*\).*/\1 \2/' > "$tmp/val$i"
    { grep '"loss"' "$f" || true; } | sed 's/[{}"]//g; s/,/ /g' |
        awk -v bin=$bin '{ for (k = 1; k <= NF; k++) { split($k, kv, ":"); v[kv[1]] = kv[2] }
                           n++; s += v["step"]; ls += v["loss_s"]; lt += v["loss_t"]; ws += v["w_s"]
                           if (n == bin) { print s / n, ls / n, lt / n, (ls + lt) / n, ws / n; n = s = ls = lt = ws = 0 } }
                         END { if (n) print s / n, ls / n, lt / n, (ls + lt) / n, ws / n }' > "$tmp/loss$i"
done
bic_val=$(datasets "$out/bicubic.json" | tail -1 | awk '{ print $2 }')
curves_note=
if command -v gnuplot >/dev/null; then
    mkdir -p "$(dirname "$png")"
    # +SA4: red, solid with GradNorm, dashed without
    colors=("#1f77b4" "#2ca02c" "#9467bd" "#d62728" "#ff7f0e" "#8c564b" "#d62728") dashes=(1 1 1 1 1 1 2)
    panel() {  # title ylabel file column [style [extra curve]]
        local p="" i
        for i in "${!names[@]}"; do
            p+="${p:+, }\"$tmp/$3$i\" using 1:$4 with ${5:-lines} lc rgb \"${colors[$i]}\" dt ${dashes[$i]} lw 1.5 title \"${labels[$i]}\""
        done
        echo "set title \"$1\"; set ylabel \"$2\"; plot $p${6:+, $6}"
    }
    gnuplot <<GP
set terminal pngcairo size 1400,1150 font ",10" noenhanced
set output "$png.tmp"
set multiplot layout 3,2 title "attsr x$scale, C=$feats, fe_groups $fe_groups, groups $groups, blocks $blocks, batch $batch of ${patch}x$patch: $steps steps (losses: means over $bin steps)"
set grid
set xrange [0:$steps]
set xlabel "step"
set key bottom right
set style line 100 lc rgb "gray50" dt 2 lw 1.5
$(panel "validation Y-PSNR ($(basename "$(abs "$val")"))" "dB" val 2 linespoints "$bic_val with lines ls 100 title \"bicubic\"")
set key top right
set logscale y
$(panel "L_S + L_T (unweighted)" "L1" loss 4)
$(panel "L_S (structure)" "L1" loss 2)
$(panel "L_T (texture)" "L1" loss 3)
unset logscale y
$(panel "GradNorm weight w_S (w_T = 2 - w_S)" "w_S" loss 5)
unset multiplot
GP
    mv "$png.tmp" "$png"
else
    curves_note="(gnuplot is not installed: no curves drawn)"
fi

total_steps=0
for n in "${names[@]}"; do total_steps=$((total_steps + $(last_step "$out/$n"))); done
train_h=$(cat "$out"/*/train_time | awk '{ s += $3 } END { printf(s >= 3600 ? "%.1f h" : "%.0f min", s >= 3600 ? s / 3600 : s / 60) }')
rel_png=$(realpath -m --relative-to="$(dirname "$(abs "$doc")")" "$(abs "$png")")
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
thread_word=$([ "$threads" = 1 ] && echo thread || echo threads)
# the CPU's name is cosmetic: lscpu fails without /sys (a chroot, a container), so it
# falls back to /proc/cpuinfo, then to none, and never stops the report
cpu=$({ lscpu 2>/dev/null || true; } | sed -n 's/^Model name: *//p' | head -1)
[ -n "$cpu" ] || cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -1) || cpu=
{
echo "<!-- experiment.sh: generated from here to the closing marker; edits outside are kept -->"
echo "Scale of this run: **$steps training steps per variant** (batch $batch of ${patch}x$patch LR patches),"
echo "x$scale, C = $feats, fe_groups $fe_groups, groups $groups, blocks $blocks; the paper trains C = 64, 3 groups x"
echo "20 blocks for far longer. Total training time $train_h on ${cpu:-this machine}, $(getconf _NPROCESSORS_ONLN) cores,"
echo "$threads $thread_word; made by \`$cmdline\` at commit $commit, $(date -u +%F)."
echo
echo "### PSNR (dB) / SSIM, Y channel, x$scale (best per column in bold)"
echo
score_table
echo
echo "Each variant's checkpoint with the best validation PSNR on $(basename "$(abs "$val")") (every $val_every steps) is"
echo "evaluated with \`attsr eval --json\` (SPEC section 2 protocol). Training data: $(for d in "${data[@]}"; do basename "$(abs "$d")"; done | paste -sd+ | sed 's/+/ + /g')"
echo "(seed $seed, Adam, lr $lr halved at steps $m1 and $m2, L1 on both branches)."
echo
echo "### Cost"
echo
cost_table
echo
echo "Parameters and forward FLOPs (2 per multiply-add, convolutions and CA's fully connected layers)"
echo "from \`attsr info\`; inference: median of $time_runs forward passes on a ${time_size}x$time_size LR image with"
echo "$threads $thread_word; training s/step: wall time of \`attsr train\` (with its validations) over the steps it ran."
echo "Times come from a shared machine and vary with its load."
echo
echo "### The paper's Table 2"
echo
echo "The paper's own numbers are not available to this project (we have its description, not"
echo "its table's text), so they are placeholders here, to be filled in from the paper. They"
echo "come from the full-size network and training, so only the ordering of the rows is"
echo "comparable with the table above, not the values."
echo
paper_table
echo
echo "### Training curves"
echo
echo "![validation PSNR and losses of every variant]($rel_png) $curves_note"
echo
echo "<!-- experiment.sh: end -->"
} > "$tmp/gen"

# keep what is outside the markers; a new report gets a title
if [ -f "$doc" ] && grep -q '^<!-- experiment.sh: generated' "$doc" && grep -q '^<!-- experiment.sh: end' "$doc"; then
    awk -v gen="$tmp/gen" '/^<!-- experiment.sh: generated/ { while ((getline l < gen) > 0) print l; skip = 1; next }
                           /^<!-- experiment.sh: end/ { skip = 0; next } !skip' "$doc" > "$tmp/doc"
else
    { echo "# Results: the paper's Table 2 at CPU scale"; echo; cat "$tmp/gen"; } > "$tmp/doc"
fi
mkdir -p "$(dirname "$doc")"
cp "$tmp/doc" "$doc.tmp" && mv "$doc.tmp" "$doc"
log "wrote $doc and $png in $(( $(date +%s) - t_start )) s ($total_steps steps trained in all)"
exit 0
}
