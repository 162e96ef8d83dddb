#!/usr/bin/env bash
# The paper's experiment (its Table 2) at a size this project's CPU trains: eight
# variants, each with --seeds seeds, with the same data, steps and schedule —
#   Base (attention none), +CA, +SA1, +SA4, all with GradNorm on, and +SA4 with GradNorm off,
#   as the paper; +CA+SA4 (ca+sa4) and +CA (avg+max) (ca-avgmax), the two directions its
#   end names (docs/protocol.md), with GradNorm on; and +SA4 with GradNorm's warm-up
#   (--gradnorm-warmup), the GradNorm comparison off / on / warm-up at one budget —
# then each run's best validation checkpoint on the benchmarks (attsr eval --json),
# each variant's parameters, forward FLOPs and inference time (attsr info, first seed),
# the training curves of all variants (means over seeds) on one PNG (gnuplot), and the
# report docs/results.md: mean and sample standard deviation over seeds per benchmark,
# the best in bold only where its lead over the second exceeds the larger of the two
# deviations, and the paper's claims judged by the same rule.
# Each variant's HTML pages, to open in a browser: OUT/report/index.html compares the
# variants (sortable tables of the sets and of every image's PSNR, the first seed's runs,
# linked to the variants' pages), OUT/report/VARIANT/index.html is `attsr eval --html`'s
# page of the variant's first-seed checkpoint (sliders, crops, branches).
#
#   bash tools/experiment.sh [options]
#
#   --steps N         training steps of every run (1500); learning rate halved at
#                     5/8 and 7/8 of them
#   --seeds N         runs per variant (3), with seeds SEED, SEED+1, ..., SEED+N-1
#   --seed N          the first seed (1)
#   --gn-warmup K     the warm-up variant's --gradnorm-warmup (steps / 20, at least 1)
#   --report-only     train nothing: the report from the complete runs in OUT
#   --out DIR         the runs, OUT/VARIANT/seedK (runs/experiment)
#   --data DIR        a training folder, repeatable (../shared/data/train/T91 and BSD200)
#   --val DIR         validation folder; it picks each variant's best checkpoint
#                     (../shared/data/benchmark/Set5)
#   --val-every N     (steps / 15)
#   --bench DIR       a benchmark folder, repeatable (../shared/data/benchmark/{Set5,Set14,BSD100})
#   --doc FILE        the report (docs/results.md)     --png FILE   the curves (docs/results_curves.png)
#   --scale S (2) --feats C (32) --fe-groups G (1) --groups G (2) --blocks B (4)
#   --batch B (16) --patch P (48) --lr LR (2e-4) --threads N (2)
#   --time-size N (128) --time-runs R (5)   inference timing: R forward passes on an N x N LR image
#   --cache DIR       SATV decomposition cache shared by the variants (OUT/satv-cache)
#   --pages on|off    the variants' eval --html pages (on; some 40 MB per variant for
#                     Set5 + Set14 + BSD100 at x2; the comparison page, from the scores
#                     alone, is always written)
#
# It resumes where it stopped: a run trained to --steps is skipped, an interrupted one
# continues from its checkpoint (attsr train --resume), and evaluations and measurements
# already made are kept. A larger --steps continues the finished runs; a larger --seeds
# adds runs. It trains seed by seed, so a run stopped early has every variant at its first
# seeds. A folder of the single-seed layout (OUT/VARIANT holding the run) is moved to
# OUT/VARIANT/seedSEED and kept.
# HTML pages already written are kept until their run's model changes.
# SIGINT or SIGTERM stops the running training with a checkpoint (exit status 130).
# The report is rewritten between its <!-- experiment.sh --> markers; text outside them
# is kept. Paths are taken relative to the current folder; defaults to the repository.
set -euo pipefail
{  # parsed whole before it runs: editing this file cannot disturb a run in progress
root=$(cd "$(dirname "$0")/.." && pwd)
ATTSR=${ATTSR_BIN:-$root/build/attsr}
cmdline="tools/experiment.sh $*"

steps=1500 seeds=3 gn_warmup= report_only=0 out=$root/runs/experiment val=$root/../shared/data/benchmark/Set5 val_every=
doc=$root/docs/results.md png=$root/docs/results_curves.png cache=
scale=2 feats=32 fe_groups=1 groups=2 blocks=4 batch=16 patch=48 lr=2e-4 seed=1 threads=2
time_size=128 time_runs=5 pages=on
data=() bench=()
die() { echo "experiment: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    if [ "$1" = --report-only ]; then report_only=1; shift; continue; fi
    [ $# -ge 2 ] || die "$1: a value is missing (see the head of $0)"
    case "$1" in
    --steps) steps=$2 ;;  --out) out=$2 ;;  --data) data+=("$2") ;;  --val) val=$2 ;;
    --val-every) val_every=$2 ;;  --bench) bench+=("$2") ;;  --doc) doc=$2 ;;  --png) png=$2 ;;
    --scale) scale=$2 ;;  --feats) feats=$2 ;;  --fe-groups) fe_groups=$2 ;;  --groups) groups=$2 ;;
    --blocks) blocks=$2 ;;  --batch) batch=$2 ;;  --patch) patch=$2 ;;  --lr) lr=$2 ;;
    --seed) seed=$2 ;;  --threads) threads=$2 ;;  --time-size) time_size=$2 ;;
    --time-runs) time_runs=$2 ;;  --cache) cache=$2 ;;  --pages) pages=$2 ;;  --seeds) seeds=$2 ;;
    --gn-warmup) gn_warmup=$2 ;;
    *) die "unknown option $1 (see the head of $0)" ;;
    esac
    shift 2
done
[ ${#data[@]} -gt 0 ] || data=("$root/../shared/data/train/T91" "$root/../shared/data/train/BSD200")
[ ${#bench[@]} -gt 0 ] || bench=("$root/../shared/data/benchmark/"{Set5,Set14,BSD100})
[[ $steps =~ ^[1-9][0-9]*$ ]] || die "--steps: a positive integer"
[[ $pages =~ ^(on|off)$ ]] || die "--pages: on or off"
[[ $seeds =~ ^[1-9][0-9]*$ ]] || die "--seeds: a positive integer"
[[ $seed =~ ^[0-9]+$ ]] || die "--seed: a non-negative integer"
# the warm-up is a small fraction of the run: L_i(0) from steps K..2K-1, GradNorm from 2K
[ -n "$gn_warmup" ] || gn_warmup=$((steps / 20 > 0 ? steps / 20 : 1))
[[ $gn_warmup =~ ^[0-9]+$ ]] || die "--gn-warmup: a non-negative integer"
SEEDS=($(seq "$seed" $((seed + seeds - 1))))
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
          "sa4-nogn sa4  off +SA4, GradNorm off"
          "sa4-gnwarm sa4 warm +SA4, GradNorm warm-up")
# (a folder made before a variant was added resumes: its finished variants are skipped)
# +SA4 is the GradNorm comparison at one budget: off, on as the paper (L_i(0) from step 0),
# and on with --gradnorm-warmup (warm: L_i(0) from steps K..2K-1).

# Everything but --steps (and --val-every) must match the runs already in OUT.
abs() { realpath -m "$1"; }
config="scale=$scale feats=$feats fe_groups=$fe_groups groups=$groups blocks=$blocks batch=$batch patch=$patch"
config+=" lr=$lr seed=$seed data=$(for d in "${data[@]}"; do printf '%s,' "$(abs "$d")"; done)"
config+=" val=$(abs "$val") bench=$(for d in "${bench[@]}"; do printf '%s,' "$(abs "$d")"; done)"
mkdir -p "$out"
# --seeds, like --steps, may grow: the seeds are SEED, SEED+1, ..., so the config names the first
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
       --batch "$batch" --patch "$patch" --steps "$steps" --lr "$lr" --milestones "$m1,$m2"
       --val "$val" --val-every "$val_every" --ckpt-every 50 --log-every 20 --threads "$threads" --cache "$cache")
for d in "${data[@]}"; do TRAIN+=(-d "$d"); done

# SIGINT/SIGTERM: passed to the running training, which saves a checkpoint and exits 130.
child=
# Anywhere else the script stops at once: every other output is written atomically.
trap 'if [ -n "$launching" ]; then stopped=1; [ -z "$child" ] || kill -TERM "$child" 2>/dev/null
      else log "stopped"; exit 130; fi' INT TERM
stopped=0 launching=
last_step() { { grep -o '"step":[0-9]*,"loss"' "$1/log.jsonl" 2>/dev/null || true; } | tail -1 | tr -dc 0-9; }

# One folder per variant and seed: OUT/NAME/seedK. A folder of the single-seed layout
# (OUT/NAME holding the run itself, trained with the config's seed) becomes
# OUT/NAME/seedSEED, in two renames that a run stopped between them completes.
migrate() {  # name
    local dir=$out/$1 tmp=$out/.migrate-$1
    if [ -d "$tmp" ]; then
        if [ -d "$dir" ]; then rmdir "$tmp"  # stopped before the first rename
        else mv "$tmp" "$dir"; return 0; fi  # stopped between the two
    fi
    [ -f "$dir/log.jsonl" ] || [ -f "$dir/trained" ] || [ -f "$dir/checkpoint.safetensors" ] || return 0
    log "$1: a single-seed folder; moved to $1/seed$seed"
    mkdir "$tmp" && mv "$dir" "$tmp/seed$seed" && mv "$tmp" "$dir"
}

train() {  # name attention gradnorm seed
    local dir=$out/$1/seed$4 what=$1/seed$4
    if [ "$(cat "$dir/trained" 2>/dev/null)" = "$steps" ]; then
        log "$what: trained to step $steps; skipped"
        return 0
    fi
    mkdir -p "$dir"
    local s0 t0 rc=0 gn=(--gradnorm "$3")
    # a resume keeps the checkpoint's K (a larger --steps does not change it): the folder
    # records the K it was started with, for the report
    [ -s "$dir/gn_warmup" ] || [ "$3" != warm ] || echo "$gn_warmup" > "$dir/gn_warmup"
    [ "$3" != warm ] || gn=(--gradnorm on --gradnorm-warmup "$(cat "$dir/gn_warmup")")
    s0=$(last_step "$dir"); t0=$(date +%s.%N)
    log "$what: training (attention $2, GradNorm $3) from step ${s0:-0} to $steps"
    launching=1
    "$ATTSR" train "${TRAIN[@]}" --seed "$4" --attention "$2" "${gn[@]}" -o "$dir" --resume 2>>"$dir/train.err" &
    child=$!
    [ $stopped -eq 0 ] || kill -TERM $child 2>/dev/null  # the signal came before $! was known
    wait $child || rc=$?
    while kill -0 $child 2>/dev/null; do wait $child || rc=$?; done  # a signal interrupted wait
    child= launching=
    if [ $rc -ne 0 ] || [ $stopped -ne 0 ]; then
        log "$what: training stopped (status $rc; $dir/train.err: $(tail -1 "$dir/train.err")); run again to resume"
        exit $([ $rc -eq 130 ] || [ $stopped -ne 0 ] && echo 130 || echo 1)
    fi
    echo "${s0:-0} $(last_step "$dir") $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')" >> "$dir/train_time"
    rm -rf "$dir/eval.json" "$dir/info.json"  # the model changed (and with the first seed's, the page)
    [ "$4" != "$seed" ] || rm -rf "$out/report/$1"
    echo "$steps" > "$dir/trained"
}

# atomically: CMD > FILE
to_file() { local f=$1; shift; "$@" > "$f.tmp" && mv "$f.tmp" "$f"; }

measure() {  # name seed
    local dir=$out/$1/seed$2 what=$1/seed$2 m html=()
    m=$dir/best.safetensors
    [ -f "$m" ] || m=$dir/model.safetensors
    # the first seed's run gets the variant's page: with its scores (one evaluation), or
    # alone for scores made without it
    [ "$pages" = off ] || [ "$2" != "$seed" ] || html=(--html "$out/report/$1")
    if [ -s "$dir/eval.json" ]; then
        log "$what: evaluated; skipped"
        if [ ${#html[@]} -eq 0 ]; then :
        elif [ -s "$out/report/$1/index.html" ]; then log "$1: HTML page written; skipped"
        else log "$1: HTML page of $what/$(basename "$m")"; "$ATTSR" eval -m "$m" "${html[@]}" "${bench[@]}" >/dev/null; fi
    else
        log "$what: evaluating $(basename "$m")${html:+ (scores and HTML page)}"
        to_file "$dir/eval.json" "$ATTSR" eval -m "$m" --json "${html[@]}" "${bench[@]}"
    fi
    # parameters and FLOPs do not depend on the seed: the first seed's run is measured
    [ "$2" = "$seed" ] || return 0
    if [ -s "$dir/info.json" ]; then log "$what: measured; skipped"
    else
        log "$what: parameters, FLOPs, inference time"
        to_file "$dir/info.json" "$ATTSR" info -m "$m" --size "$time_size" --runs "$time_runs" --json
    fi
}

t_start=$(date +%s)
for v in "${VARIANTS[@]}"; do read -r name _ <<< "$v"; migrate "$name"; done
# seed by seed: a run stopped early has every variant at the first seeds
[ $report_only -eq 1 ] || for s in "${SEEDS[@]}"; do
    for v in "${VARIANTS[@]}"; do
        read -r name att gn _ <<< "$v"
        train "$name" "$att" "$gn" "$s"
        measure "$name" "$s"
    done
done
if [ -s "$out/bicubic.json" ]; then log "bicubic: evaluated; skipped"
else to_file "$out/bicubic.json" "$ATTSR" eval --bicubic --scale "$scale" --json "${bench[@]}" "$val"; fi


# ---- the report -------------------------------------------------------------------
# It covers the complete runs (trained to --steps and evaluated) and names the others,
# so --report-only after a stopped run reports what finished, honestly.
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
complete() { [ "$(cat "$1/trained" 2>/dev/null)" = "$steps" ] && [ -s "$1/eval.json" ]; }  # a run folder
runs=()  # "i dir" of every complete run
missing=()
for i in "${!names[@]}"; do
    for s in "${SEEDS[@]}"; do
        d=$out/${names[$i]}/seed$s
        if complete "$d"; then runs+=("$i $d"); else missing+=("${names[$i]}/seed$s"); fi
    done
done
[ ${#runs[@]} -gt 0 ] || die "no complete run in $out to report"
first_eval=${runs[0]#* }/eval.json
bench_names=$(datasets "$first_eval" | awk '{ print $1 }' | tr '\n' ' ')
nbench=$(echo $bench_names | wc -w)

# per run: "i psnr ssim psnr ssim ..." in --bench order
for r in "${runs[@]}"; do
    printf '%s %s\n' "${r%% *}" "$(datasets "${r#* }/eval.json" | awk '{ printf "%s %s ", $2, $3 }')"
done > "$tmp/scores"
# per variant: "i n mean sd mean sd ..." (sd: the sample standard deviation, n - 1; -1 for one seed)
awk '{ i = $1; k = ++n[i]; for (j = 2; j <= NF; j++) v[i, k, j] = $j; cols = NF }
     END { for (i in n) { printf "%s %d", i, n[i]
             for (j = 2; j <= cols; j++) { m = 0; for (k = 1; k <= n[i]; k++) m += v[i, k, j]; m /= n[i]
               q = 0; for (k = 1; k <= n[i]; k++) q += (v[i, k, j] - m) ^ 2
               printf " %.6f %.6f", m, (n[i] > 1 ? sqrt(q / (n[i] - 1)) : -1) }
             printf "\n" } }' "$tmp/scores" | sort -n > "$tmp/stats"

score_table() {
    printf '| Variant | Seeds |'
    for b in $bench_names; do printf ' %s PSNR | %s SSIM |' "$b" "$b"; done
    printf '\n|---|---:|'
    for b in $bench_names; do printf -- '---:|---:|'; done
    printf '\n'
    # bold: the best mean of a column, only where its lead over the second exceeds the
    # larger of the two standard deviations (and both have one, i.e. two seeds or more)
    awk -v labs="$(printf '%s\n' "${labels[@]}")" '
        BEGIN { split(labs, lab, "\n") }
        { i = $1; row[NR] = i; n[i] = $2; for (j = 3; j <= NF; j += 2) { m[i, j] = $j; sd[i, j] = $(j + 1) }; cols = NF }
        END {
            for (j = 3; j <= cols; j += 2) {
                b1 = b2 = ""
                for (r = 1; r <= NR; r++) { i = row[r]
                    if (b1 == "" || m[i, j] > m[b1, j]) { b2 = b1; b1 = i } else if (b2 == "" || m[i, j] > m[b2, j]) b2 = i }
                bold[j] = ""
                if (b2 != "" && sd[b1, j] >= 0 && sd[b2, j] >= 0 &&
                    m[b1, j] - m[b2, j] > (sd[b1, j] > sd[b2, j] ? sd[b1, j] : sd[b2, j])) bold[j] = b1
            }
            for (r = 1; r <= NR; r++) { i = row[r]; printf "| %s | %d |", lab[i + 1], n[i]
                for (j = 3; j <= cols; j += 2) {
                    ssim = ((j - 3) / 2) % 2; f = ssim ? "%.4f" : "%.2f"
                    c = sprintf(f, m[i, j]) (sd[i, j] >= 0 ? " ± " sprintf(f, sd[i, j]) : "")
                    printf (bold[j] == i ? " **%s** |" : " %s |"), c }
                printf "\n" } }' "$tmp/stats"
    printf '| *Bicubic* | |'
    datasets "$out/bicubic.json" | head -n "$nbench" | awk '{ printf " *%.2f* | *%.4f* |", $2, $3 }'
    printf '\n'
}

cost_table() {
    printf '| Variant | Parameters | GFLOPs (%dx%d LR) | Inference (ms, %dx%d LR) | Training (s/step) | Training time, all seeds | Best validation (dB, mean ± sd) |\n' \
        "$time_size" "$time_size" "$time_size" "$time_size"
    printf '|---|---:|---:|---:|---:|---:|---:|\n'
    local i info r dirs
    for i in "${!names[@]}"; do
        dirs=()
        for r in "${runs[@]}"; do [ "${r%% *}" != "$i" ] || dirs+=("${r#* }"); done
        [ ${#dirs[@]} -gt 0 ] || continue
        info=$out/${names[$i]}/seed$seed/info.json
        [ -s "$info" ] || info=/dev/null
        # each seed's best validation PSNR, then their mean and sample sd
        bestv=$(for d in "${dirs[@]}"; do { grep '"best":true' "$d/log.jsonl" || true; } | tail -1 |
                    sed -n 's/.*"val_psnr":\([-0-9.]*\).*/\1/p'; done |
                awk '{ v[++n] = $1; s += $1 } END { if (!n) { print "n/a"; exit } m = s / n
                       for (k = 1; k <= n; k++) q += (v[k] - m) ^ 2
                       printf(n > 1 ? "%.2f ± %.2f" : "%.2f", m, n > 1 ? sqrt(q / (n - 1)) : 0) }')
        cat "${dirs[@]/%//train_time}" |
        awk -v lab="${labels[$i]}" -v p="$(field "$info" parameters)" -v g="$(field "$info" gflop)" \
            -v ms="$(field "$info" median_ms)" -v bv="$bestv" '
            { st += $2 - $1; sec += $3 }
            END { printf "| %s | %s | %s | %s | %s | %s | %s |\n", lab,
                         (p != "" ? sprintf("%.3f M", p / 1e6) : "n/a"), (g != "" ? sprintf("%.2f", g) : "n/a"),
                         (ms != "" ? sprintf("%.0f", ms) : "n/a"), (st > 0 ? sprintf("%.2f", sec / st) : "n/a"),
                         (sec >= 3600 ? sprintf("%.1f h", sec / 3600) : sprintf("%.0f s", sec)), bv }'
    done
}

paper_table() {
    printf '| Variant |'
    for b in $bench_names; do printf ' %s PSNR / SSIM |' "$b"; done
    printf '\n|---|'
    for b in $bench_names; do printf -- '---:|'; done
    printf '\n'
    local i cell
    for i in "${!names[@]}"; do
        printf '| %s |' "${labels[$i]}"
        case ${names[$i]} in ca-sa4|ca-avgmax|sa4-gnwarm) cell="not in the paper" ;; *) cell="(paper)" ;; esac
        for b in $bench_names; do printf ' %s |' "$cell"; done
        printf '\n'
    done
}

# The claims, each "A B words": A's PSNR against B's on every benchmark. A lead larger
# than the larger of the two standard deviations supports it, a deficit as large
# contradicts it, anything between is within the spread.
CLAIMS=("ca base The paper: channel attention improves on Base (+CA over Base)."
        "sa1 base The paper: single-layer spatial attention improves on Base (+SA1 over Base)."
        "sa4 base The paper: multi-layer spatial attention improves on Base (+SA4 over Base)."
        "sa4 sa1 The paper: four layers of spatial attention beat one (+SA4 over +SA1)."
        "sa4 ca The paper: spatial attention beats channel attention (+SA4 over +CA)."
        "sa4 sa4-nogn The paper: GradNorm improves training (+SA4 over +SA4, GradNorm off)."
        "ca-sa4 sa4 Beyond the paper: channel and spatial attention together beat spatial alone (+CA+SA4 over +SA4)."
        "ca-avgmax ca Beyond the paper: a mean-and-max channel descriptor beats the mean alone (+CA (avg+max) over +CA)."
        "sa4-gnwarm sa4 GradNorm's reference losses after a warm-up beat those of step 0 (+SA4, GradNorm warm-up over +SA4)."
        "sa4-gnwarm sa4-nogn GradNorm with the warm-up beats no GradNorm (+SA4, GradNorm warm-up over +SA4, GradNorm off).")
index_of() { local i; for i in "${!names[@]}"; do [ "${names[$i]}" != "$1" ] || { echo "$i"; return; }; done; }
claims() {
    local c a b words
    for c in "${CLAIMS[@]}"; do
        read -r a b words <<< "$c"
        awk -v a="$(index_of "$a")" -v b="$(index_of "$b")" -v words="$words" -v bn="$bench_names" '
            { n[$1] = $2; for (j = 3; j <= NF; j += 4) { k = (j - 3) / 4 + 1; m[$1, k] = $j; sd[$1, k] = $(j + 1) } }
            END {
                nb = split(bn, bname, " ")
                if (!(a in n) || !(b in n)) { printf "- %s Not measured: a variant has no complete run.\n", words; exit }
                if (n[a] < 2 || n[b] < 2) one = 1
                for (k = 1; k <= nb; k++) {
                    d = m[a, k] - m[b, k]; s = sd[a, k] > sd[b, k] ? sd[a, k] : sd[b, k]
                    v = one ? "n" : d > s ? "s" : d < -s ? "c" : "n"
                    cnt[v]++; who[v] = who[v] (who[v] == "" ? "" : ", ") bname[k]
                    diffs = diffs (k > 1 ? ", " : "") sprintf("%s %+.2f", bname[k], d) (one ? "" : sprintf(" (sd %.2f)", s))
                }
                if (one) verdict = "one seed only, no spread to judge it by"
                else if (cnt["s"] == nb) verdict = "**supported** on every benchmark"
                else if (cnt["c"] == nb) verdict = "**contradicted** on every benchmark"
                else if (cnt["n"] == nb) verdict = "**not resolved**: every difference is within the spread"
                else verdict = (cnt["s"] ? "supported on " who["s"] : "") \
                               (cnt["s"] && (cnt["c"] || cnt["n"]) ? "; " : "") \
                               (cnt["c"] ? "contradicted on " who["c"] : "") (cnt["c"] && cnt["n"] ? "; " : "") \
                               (cnt["n"] ? "within the spread on " who["n"] : "")
                printf "- %s PSNR difference: %s dB; %s.\n", words, diffs, verdict
            }' "$tmp/stats"
    done
}

# curves, the mean over the complete seeds: validation PSNR per validation step; losses
# and w_S as means over bins of steps
bin=$((steps / 100 > 0 ? steps / 100 : 1))
for i in "${!names[@]}"; do
    : > "$tmp/log$i"
    for r in "${runs[@]}"; do [ "${r%% *}" != "$i" ] || cat "${r#* }/log.jsonl" >> "$tmp/log$i"; done
    { grep '"val_psnr"' "$tmp/log$i" || true; } | sed 's/.*"step":\([0-9]*\),"val_psnr":\([-0-9.]*\).*/\1 \2/' |
        awk '{ s[$1] += $2; n[$1]++ } END { for (k in s) print k, s[k] / n[k] }' | sort -n > "$tmp/val$i"
    { grep '"loss"' "$tmp/log$i" || true; } | sed 's/[{}"]//g; s/,/ /g' |
        awk -v bin=$bin '{ for (k = 1; k <= NF; k++) { split($k, kv, ":"); v[kv[1]] = kv[2] }
                           b = int((v["step"] - 1) / bin); n[b]++; s[b] += v["step"]; ls[b] += v["loss_s"]
                           lt[b] += v["loss_t"]; ws[b] += v["w_s"] }
                         END { for (b in n) print s[b] / n[b], ls[b] / n[b], lt[b] / n[b], (ls[b] + lt[b]) / n[b], ws[b] / n[b] }' |
        sort -g > "$tmp/loss$i"
done
bic_val=$(datasets "$out/bicubic.json" | tail -1 | awk '{ print $2 }')
curves_note=
if command -v gnuplot >/dev/null; then
    mkdir -p "$(dirname "$png")"
    # the +SA4 family in red: solid with GradNorm as the paper, dashed without, dotted with the warm-up
    colors=("#1f77b4" "#2ca02c" "#9467bd" "#d62728" "#ff7f0e" "#8c564b" "#d62728" "#d62728") dashes=(1 1 1 1 1 1 2 3)
    panel() {  # title ylabel file column [style [extra curve]]
        local p="" i
        for i in "${!names[@]}"; do
            [ -s "$tmp/$3$i" ] || continue
            p+="${p:+, }\"$tmp/$3$i\" using 1:$4 with ${5:-lines} lc rgb \"${colors[$i]}\" dt ${dashes[$i]} lw 1.5 title \"${labels[$i]}\""
        done
        echo "set title \"$1\"; set ylabel \"$2\"; plot $p${6:+, $6}"
    }
    gnuplot <<GP
set terminal pngcairo size 1400,1150 font ",10" noenhanced
set output "$png.tmp"
set multiplot layout 3,2 title "attsr x$scale, C=$feats, fe_groups $fe_groups, groups $groups, blocks $blocks, batch $batch of ${patch}x$patch: $steps steps, means over the complete runs of seeds $seed..${SEEDS[-1]} (losses: means over $bin steps)"
set grid
set xrange [0:$steps]
set xlabel "step"
set key bottom right
set style line 100 lc rgb "gray50" dt 2 lw 1.5
$(panel "validation Y-PSNR ($(basename "$(abs "$val")")), mean over seeds" "dB" val 2 linespoints "$bic_val with lines ls 100 title \"bicubic\"")
set key top right
set logscale y
$(panel "L_S + L_T (unweighted)" "L1" loss 4)
$(panel "L_S (structure)" "L1" loss 2)
$(panel "L_T (texture)" "L1" loss 3)
unset logscale y
$(panel "GradNorm weight w_S (w_T = 2 - w_S)" "w_S" loss 5)
# the first panel's end, where the variants part, at its own scale
set xrange [$((steps / 2)):$steps]
set key bottom right
$(panel "validation Y-PSNR, second half of training" "dB" val 2 linespoints "$bic_val with lines ls 100 title \"bicubic\"")
unset multiplot
GP
    mv "$png.tmp" "$png"
else
    curves_note="(gnuplot is not installed: no curves drawn)"
fi

total_steps=0 train_s=0
for r in "${runs[@]}"; do total_steps=$((total_steps + $(last_step "${r#* }"))); done
train_s=$(for r in "${runs[@]}"; do cat "${r#* }/train_time"; done | awk '{ s += $3 } END { print s + 0 }')
train_h=$(awk -v s="$train_s" 'BEGIN { printf(s >= 3600 ? "%.1f h" : "%.0f min", s >= 3600 ? s / 3600 : s / 60) }')
# the warm-up's K as the runs were started with it
warm_k=$(for r in "${runs[@]}"; do cat "${r#* }/gn_warmup" 2>/dev/null || true; done | sort -nu | paste -sd/)
warm_k=${warm_k:-$gn_warmup}
cpu_h=$(awk -v s="$train_s" -v t="$threads" 'BEGIN { printf "%.2f", s * t / 3600 }')
rel_png=$(realpath -m --relative-to="$(dirname "$(abs "$doc")")" "$(abs "$png")")
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
out_shown=$(realpath -m --relative-to="$root" "$out")  # runs/experiment, or a path outside
[[ $out_shown != ../* ]] || out_shown=$(abs "$out")
thread_word=$([ "$threads" = 1 ] && echo thread || echo threads)
seed_words=$([ "$seeds" = 1 ] && echo "seed $seed" || echo "seeds $seed..${SEEDS[-1]}")
# the CPU's name is cosmetic: lscpu fails without /sys (a chroot, a container), so it
# falls back to /proc/cpuinfo, then to none, and never stops the report
cpu=$({ lscpu 2>/dev/null || true; } | sed -n 's/^Model name: *//p' | head -1)
[ -n "$cpu" ] || cpu=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -1) || cpu=
{
echo "<!-- experiment.sh: generated from here to the closing marker; edits outside are kept -->"
echo "Scale of this run: **$steps training steps per variant and seed, $seeds seed$([ "$seeds" = 1 ] || echo s) ($seed_words)**"
echo "(batch $batch of ${patch}x$patch LR patches), x$scale, C = $feats, fe_groups $fe_groups, groups $groups, blocks $blocks;"
echo "the paper trains C = 64, 3 groups x 20 blocks for far longer, so at this scale differences"
echo "may be within noise: the spreads below say how much. Training time $train_h in all"
echo "($cpu_h CPU-hours at $threads $thread_word) on ${cpu:-this machine}, $(getconf _NPROCESSORS_ONLN) cores;"
echo "made by \`$cmdline\` at commit $commit, $(date -u +%F)."
echo
if [ ${#missing[@]} -eq 0 ]; then
    echo "All ${#runs[@]} runs (${#names[@]} variants x $seeds seeds) are complete."
else
    echo "**Complete: ${#runs[@]} of $(( ${#runs[@]} + ${#missing[@]} )) runs.** Not complete, and left out of every number"
    echo "below: $(printf '%s\n' "${missing[@]}" | paste -sd, | sed 's/,/, /g')."
fi
echo
echo "### PSNR (dB) / SSIM, Y channel, x$scale: mean ± sample standard deviation over seeds"
echo
score_table
echo
echo "A column's best mean is in bold only where its lead over the second exceeds the larger"
echo "of the two standard deviations (n - 1 in the denominator); a column without bold has no"
echo "variant clearly ahead. Each run's checkpoint with the best validation PSNR on"
echo "$(basename "$(abs "$val")") (every $val_every steps) is evaluated with \`attsr eval --json\` (docs/spec.md §2"
echo "protocol). Training data: $(for d in "${data[@]}"; do basename "$(abs "$d")"; done | paste -sd+ | sed 's/+/ + /g')"
echo "(Adam, lr $lr halved at steps $m1 and $m2, L1 on both branches; the seed sets the"
if [[ $warm_k =~ ^[0-9]+$ ]]; then
    echo "initialisation and the patches). GradNorm warm-up: \`--gradnorm-warmup $warm_k\` (weights 1 for steps"
    echo "0..$((2 * warm_k - 1)), L_i(0) the mean loss of steps $warm_k..$((2 * warm_k - 1)))."
else
    echo "initialisation and the patches). GradNorm warm-up: \`--gradnorm-warmup\` $warm_k in different seeds' runs"
    echo "(each keeps the K it was started with)."
fi
echo
echo "### What the numbers say"
echo
echo "Each claim compares two variants' mean PSNR per benchmark: a lead larger than the"
echo "larger of their two standard deviations supports it, a deficit as large contradicts it."
echo
claims
echo
echo "### Cost"
echo
cost_table
echo
echo "Parameters and forward FLOPs (2 per multiply-add, convolutions and CA's fully connected layers)"
echo "from \`attsr info\` on seed $seed's model; inference: median of $time_runs forward passes on a"
echo "${time_size}x$time_size LR image with $threads $thread_word; training s/step: wall time of \`attsr train\` (with its"
echo "validations) over the steps it ran, all seeds. Times come from a shared machine and vary with its load."
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
echo "tables of the set means and of every image's PSNR (the first seed's runs), bicubic's included, the best variant in bold."
if [ "$pages" = on ]; then
    echo "Each variant links to its own \`attsr eval --html\` page, \`report/VARIANT/index.html\`: per image a"
    echo "slider between bicubic and the variant, zoomed crops, the structure and texture branches (docs/protocol.md)."
fi
echo "They are in the runs' folder, not in the repository (self-contained files, to copy or publish)."
echo
echo "### Training curves"
echo
echo "![validation PSNR and losses of every variant, mean over seeds]($rel_png) $curves_note"
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
    for i in "${!names[@]}"; do images_tsv "$out/${names[$i]}/seed$seed/eval.json" > "$tmp/img$i"; done
    awk -F'\t' -v n="${#names[@]}" -v names="$(IFS=$'\t'; echo "${names[*]}")" \
        -v labels="$(IFS=$'\t'; echo "${labels[*]}")" -v benches="$bench_names" -v pages="$pages" \
        -v title="attsr x$scale: the paper's Table 2 at CPU scale, $steps steps per variant (seed $seed's runs)" \
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
log "wrote $doc and $png in $(( $(date +%s) - t_start )) s ($total_steps steps trained in all, ${#runs[@]} complete runs)"
exit 0
}
