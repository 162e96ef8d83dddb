#!/usr/bin/env bash
# The paper's experiment (its Table 2) at a size this project's CPU trains: seven
# variants with the same data, steps, seed and schedule —
#   Base (attention none), +CA, +SA1, +SA4, all with GradNorm on, and +SA4 with GradNorm off,
#   as the paper; +CA+SA4 (ca+sa4) and +CA (avg+max) (ca-avgmax), the two directions its
#   end names (docs/protocol.md), with GradNorm on —
# then each variant's best validation checkpoint on the benchmarks (attsr eval --json),
# its parameters, forward FLOPs and inference time (attsr info), the training curves of
# all variants on one PNG (gnuplot), the report docs/results.md, and HTML pages to open
# in a browser: OUT/report/index.html compares the variants (sortable tables of the sets
# and of every image's PSNR, linked to the variants' pages), OUT/report/VARIANT/index.html
# is `attsr eval --html`'s page of each variant's checkpoint (sliders, crops, branches).
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
#   --pages on|off    the variants' eval --html pages (on; some 40 MB per variant for
#                     Set5 + Set14 + BSD100 at x2; the comparison page, from the scores
#                     alone, is always written)
#
# It resumes where it stopped: a variant trained to --steps is skipped, an interrupted
# one continues from its checkpoint (attsr train --resume), and evaluations, pages and
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
time_size=128 time_runs=5 pages=on
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
    --time-runs) time_runs=$2 ;;  --cache) cache=$2 ;;  --pages) pages=$2 ;;
    *) die "unknown option $1 (see the head of $0)" ;;
    esac
    shift 2
done
[ ${#data[@]} -gt 0 ] || data=("$root/../shared/data/train/T91" "$root/../shared/data/train/BSD200")
[ ${#bench[@]} -gt 0 ] || bench=("$root/../shared/data/benchmark/"{Set5,Set14,BSD100})
[[ $steps =~ ^[1-9][0-9]*$ ]] || die "--steps: a positive integer"
[[ $pages =~ ^(on|off)$ ]] || die "--pages: on or off"
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
    rm -rf "$dir/eval.json" "$dir/info.json" "$out/report/$1"  # the model changed
    echo "$steps" > "$dir/trained"
}

# atomically: CMD > FILE
to_file() { local f=$1; shift; "$@" > "$f.tmp" && mv "$f.tmp" "$f"; }

measure() {  # name
    local dir=$out/$1 m=$out/$1/best.safetensors html=()
    [ -f "$m" ] || m=$dir/model.safetensors
    # the page comes with the scores (one evaluation), or alone for scores made without it
    [ "$pages" = off ] || html=(--html "$out/report/$1")
    if [ -s "$dir/eval.json" ]; then
        log "$1: evaluated; skipped"
        if [ "$pages" = off ]; then :
        elif [ -s "$out/report/$1/index.html" ]; then log "$1: HTML page written; skipped"
        else log "$1: HTML page of $(basename "$m")"; "$ATTSR" eval -m "$m" "${html[@]}" "${bench[@]}" >/dev/null; fi
    else
        log "$1: evaluating $(basename "$m")${html:+ (scores and HTML page)}"
        to_file "$dir/eval.json" "$ATTSR" eval -m "$m" --json "${html[@]}" "${bench[@]}"
    fi
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
out_shown=$(realpath -m --relative-to="$root" "$out")  # runs/experiment, or a path outside
[[ $out_shown != ../* ]] || out_shown=$(abs "$out")
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
echo "evaluated with \`attsr eval --json\` (docs/spec.md §2 protocol). Training data: $(for d in "${data[@]}"; do basename "$(abs "$d")"; done | paste -sd+ | sed 's/+/ + /g')"
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
echo "### Pages"
echo
echo "\`$out_shown/report/index.html\` (open it in a browser) compares the variants: sortable"
echo "tables of the set means and of every image's PSNR, bicubic's included, the best variant in bold."
if [ "$pages" = on ]; then
    echo "Each variant links to its own \`attsr eval --html\` page, \`report/VARIANT/index.html\`: per image a"
    echo "slider between bicubic and the variant, zoomed crops, the structure and texture branches (docs/protocol.md)."
fi
echo "They are in the runs' folder, not in the repository (self-contained files, to copy or publish)."
echo
echo "### Training curves"
echo
echo "![validation PSNR and losses of every variant]($rel_png) $curves_note"
echo
echo "<!-- experiment.sh: end -->"
} > "$tmp/gen"

# ---- the comparison page, OUT/report/index.html ---------------------------------------
# from the scores alone (eval.json, bicubic.json): one self-contained file (CSS and the
# sorting script inline), linking each variant's eval --html page and its image sections
images_tsv() {  # eval.json -> lines "set TAB image TAB psnr TAB ssim" (psnr null: identical)
    grep -oE '"name": "[^"]*", "psnr": [^,]*, "ssim": [^,}]*(, "images"|\})' "$1" |
        sed -E 's/"name": "([^"]*)", "psnr": ([^,]*), "ssim": ([^,}]*)(, "images"|\})/\1\t\2\t\3\t\4/' |
        awk -F'\t' -v OFS='\t' '$4 == ", \"images\"" { set = $1; next } { print set, $1, $2, $3 }'
}
overview_page() {
    local page=$out/report/index.html i
    mkdir -p "$out/report"
    images_tsv "$out/bicubic.json" > "$tmp/img_bicubic"
    for i in "${!names[@]}"; do images_tsv "$out/${names[$i]}/eval.json" > "$tmp/img$i"; done
    awk -F'\t' -v n="${#names[@]}" -v names="$(IFS=$'\t'; echo "${names[*]}")" \
        -v labels="$(IFS=$'\t'; echo "${labels[*]}")" -v benches="$bench_names" -v pages="$pages" \
        -v title="attsr x$scale: the paper's Table 2 at CPU scale, $steps steps per variant" \
        -v meta="x$scale, C = $feats, fe_groups $fe_groups, groups $groups, blocks $blocks, batch $batch of ${patch}x$patch, seed $seed; made by $cmdline at commit $commit, $(date -u +%F)" \
        -v tmp="$tmp" '
    function esc(s) { gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s); return s }
    # a score cell: data-v sorts (null: PSNR of identical images, +inf), bold when best
    function cell(v, fmt, best, link,   t) {
        if (v == "") return "<td data-v=\"NaN\">&ndash;</td>"
        t = v == "null" ? "inf" : sprintf(fmt, v)
        if (link != "") t = "<a href=\"" link "\">" t "</a>"
        return "<td data-v=\"" (v == "null" ? "Infinity" : v) "\"" (best ? " class=\"best\"" : "") ">" t "</td>"
    }
    function num(v) { return v == "null" ? 1e300 : v + 0 }
    BEGIN {
        split(names, nm, "\t"); split(labels, lb, "\t"); nb = split(benches, bn, " ")
        for (b = 1; b <= nb; b++) inbench[bn[b]] = 1
        while ((getline l < (tmp "/img_bicubic")) > 0) { split(l, f, "\t"); if (f[1] in inbench) { bic[f[1] SUBSEP f[2]] = f[3]; bics[f[1] SUBSEP f[2]] = f[4] } }
        for (i = 1; i <= n; i++) {
            k = 0
            while ((getline l < (tmp "/img" (i - 1))) > 0) {
                split(l, f, "\t"); key = f[1] SUBSEP f[2]
                if (!(key in seen)) { seen[key] = 1; order[++ni] = key; iset[key] = f[1]; iname[key] = f[2] }
                ps[i, key] = f[3]; anchor[i, key] = k++  # eval --html numbers its sections in this order
                sum[i, f[1]] += (f[3] == "null" ? 0 : f[3]); ssum[i, f[1]] += f[4]; cnt[i, f[1]]++
            }
        }
        for (key in bic) { split(key, kk, SUBSEP); bsum[kk[1]] += (bic[key] == "null" ? 0 : bic[key]); bssum[kk[1]] += bics[key]; bcnt[kk[1]]++ }
        print "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        print "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>" esc(title) "</title>"
        print "<style>body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;padding:1em 2em 3em;max-width:1400px;color:#1d2330;background:#f6f7f9}"
        print "h1{font-size:1.5em}table{border-collapse:collapse;background:#fff;box-shadow:0 1px 3px #0002;margin-bottom:1em}"
        print "th,td{padding:.3em .8em;border-bottom:1px solid #e3e5e9;text-align:right;white-space:nowrap}"
        print "th:first-child,td:first-child,#images th:nth-child(2),#images td:nth-child(2){text-align:left}"
        print "thead th{background:#2b3445;color:#fff;cursor:pointer;user-select:none;position:sticky;top:0}"
        print "th[aria-sort=ascending]::after{content:\" \\25B2\"}th[aria-sort=descending]::after{content:\" \\25BC\"}"
        print "td.best,td.best a{font-weight:bold;color:#0a7d2c}tbody tr:hover{background:#eef3ff}a{color:#2456c7;text-decoration:none}"
        print ".meta{color:#444}</style></head>\n<body>\n<h1>" esc(title) "</h1>"
        print "<p class=\"meta\">" esc(meta) ". PSNR (dB) and SSIM on Y, each variant with its best validation checkpoint"
        print "(docs/protocol.md)." (pages == "on" ? " A variant or a score links to that variant&#39;s own page: sliders between bicubic and the model, crops and branches." : "")
        print "Click a column header to sort; the best variant of each column (first table) or row (second) is in bold.</p>"
        print "<h2>Variants</h2>\n<table class=\"sortable\" id=\"variants\"><thead><tr><th>variant</th>"
        for (b = 1; b <= nb; b++) printf "<th>%s PSNR</th><th>%s SSIM</th>", esc(bn[b]), esc(bn[b])
        print "</tr></thead><tbody>"
        for (b = 1; b <= nb; b++) for (i = 1; i <= n; i++) {
            mp = sum[i, bn[b]] / cnt[i, bn[b]]; ms = ssum[i, bn[b]] / cnt[i, bn[b]]
            mps[i, b] = sprintf("%.2f", mp); mss[i, b] = sprintf("%.4f", ms)
            if (i == 1 || mps[i, b] + 0 > bp[b]) bp[b] = mps[i, b] + 0
            if (i == 1 || mss[i, b] + 0 > bsv[b]) bsv[b] = mss[i, b] + 0
        }
        for (i = 1; i <= n; i++) {
            printf "<tr><td>%s</td>", pages == "on" ? "<a href=\"" nm[i] "/index.html\">" esc(lb[i]) "</a>" : esc(lb[i])
            for (b = 1; b <= nb; b++) printf "%s%s", cell(mps[i, b], "%.2f", mps[i, b] + 0 == bp[b], ""), cell(mss[i, b], "%.4f", mss[i, b] + 0 == bsv[b], "")
            print "</tr>"
        }
        printf "<tr><td><i>bicubic</i></td>"
        for (b = 1; b <= nb; b++)
            printf "%s%s", cell(bcnt[bn[b]] ? sprintf("%.2f", bsum[bn[b]] / bcnt[bn[b]]) : "", "%.2f", 0, ""),
                           cell(bcnt[bn[b]] ? sprintf("%.4f", bssum[bn[b]] / bcnt[bn[b]]) : "", "%.4f", 0, "")
        print "</tr>\n</tbody></table>"
        printf "<h2>Images</h2>\n<table class=\"sortable\" id=\"images\"><thead><tr><th>set</th><th>image</th><th>bicubic</th>"
        for (i = 1; i <= n; i++) printf "<th>%s</th>", esc(lb[i])
        print "</tr></thead><tbody>"
        for (j = 1; j <= ni; j++) {
            key = order[j]; best = -1e308
            for (i = 1; i <= n; i++) if ((i, key) in ps && sprintf("%.3f", num(ps[i, key])) + 0 > best) best = sprintf("%.3f", num(ps[i, key])) + 0
            printf "<tr><td>%s</td><td>%s</td>%s", esc(iset[key]), esc(iname[key]), cell(key in bic ? bic[key] : "", "%.3f", 0, "")
            for (i = 1; i <= n; i++)
                printf "%s", (i, key) in ps ? cell(ps[i, key], "%.3f", sprintf("%.3f", num(ps[i, key])) + 0 == best,
                                                   pages == "on" ? nm[i] "/index.html#i" anchor[i, key] : "") : cell("", "", 0, "")
            print "</tr>"
        }
        print "</tbody></table>"
        print "<script>"
        print "for(const t of document.querySelectorAll(\"table.sortable\")){const hs=[...t.tHead.rows[0].cells];"
        print "hs.forEach((h,c)=>h.addEventListener(\"click\",()=>{const d=h.getAttribute(\"aria-sort\")==\"ascending\"?-1:1;"
        print "hs.forEach(x=>x.removeAttribute(\"aria-sort\"));h.setAttribute(\"aria-sort\",d>0?\"ascending\":\"descending\");"
        print "const key=r=>{const x=r.cells[c];return x.dataset.v!==undefined?parseFloat(x.dataset.v):x.textContent};"
        print "const rs=[...t.tBodies[0].rows].sort((a,b)=>{const p=key(a),q=key(b);if(typeof p!==\"number\")return d*p.localeCompare(q);"
        print "if(isNaN(p))return isNaN(q)?0:1;if(isNaN(q))return -1;return d*(p-q)});rs.forEach(r=>t.tBodies[0].appendChild(r))}))}"
        print "</script>\n</body></html>"
    }' > "$page.tmp"
    mv "$page.tmp" "$page"
}
overview_page

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
