#!/usr/bin/env bash
# Draws a run's training curves — loss (and L_S, L_T), validation PSNR, GradNorm's task
# weights w_S and w_T — against the step, from RUN/log.jsonl into RUN/curves.png.
#
#   bash tools/plot_training.sh RUN [TITLE]
#
# Needs gnuplot (Debian: gnuplot-nox).
set -euo pipefail
run=${1:?usage: plot_training.sh RUN [TITLE]}
title=${2:-$(basename "$run")}
command -v gnuplot >/dev/null || { echo "plot_training: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -f "$run/log.jsonl" ] || { echo "plot_training: $run/log.jsonl: no such file" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# JSONL -> columns: step loss loss_s loss_t w_s w_t   and   step val_psnr
num() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }
grep '"loss"' "$run/log.jsonl" | sed 's/[{}]//g; s/"//g; s/,/ /g' |
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, ":"); v[kv[1]] = kv[2] } print v["step"], v["loss"], v["loss_s"], v["loss_t"], v["w_s"], v["w_t"] }' > "$tmp/steps"
{ grep '"val_psnr"' "$run/log.jsonl" || true; } | sed 's/[{}]//g; s/"//g; s/,/ /g' |
    awk '{ for (i = 1; i <= NF; i++) { split($i, kv, ":"); v[kv[1]] = kv[2] } print v["step"], v["val_psnr"] }' > "$tmp/val"
# the validation panel only when the run validated
if [ -s "$tmp/val" ]; then
    panels=3
    val_plot='set ylabel "validation PSNR (dB)"; plot "'$tmp/val'" using 1:2 with linespoints pt 7 title "validation Y-PSNR"'
else
    panels=2
    val_plot=''
fi
gnuplot <<GP
set terminal pngcairo size 1200,900 font ",10"
set output "$run/curves.png.tmp"
set multiplot layout $panels,1 title "$title"
set grid
set xrange [0:*]
set xlabel "step"
set ylabel "L1 loss"
set logscale y
plot "$tmp/steps" using 1:2 with lines title "w_S L_S + w_T L_T", \
     "" using 1:3 with lines title "L_S (structure)", "" using 1:4 with lines title "L_T (texture)"
unset logscale y
$val_plot
set ylabel "task weight"
plot "$tmp/steps" using 1:5 with lines title "w_S", "" using 1:6 with lines title "w_T"
unset multiplot
GP
mv "$run/curves.png.tmp" "$run/curves.png"
echo "$run/curves.png"
