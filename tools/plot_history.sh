#!/usr/bin/env bash
# Draws the bundled models' Set5 validation PSNR against training hours and steps,
# across all their stages, with FSRCNN's and VDSR's published Set5 scores beside them:
# what more compute has bought so far, per scale.
#
#   bash tools/plot_history.sh [HISTORY.tsv] [OUT.png]
#       (defaults: docs/bundled_history.tsv, docs/bundled_history.png)
#
# Hours within a stage are interpolated from its steps and minutes of running (the
# stages logged no clock). Needs gnuplot (Debian: gnuplot-nox).
set -euo pipefail
cd "$(dirname "$0")/.."
hist=${1:-docs/bundled_history.tsv}
out=${2:-docs/bundled_history.png}
command -v gnuplot >/dev/null || { echo "plot_history: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -f "$hist" ] || { echo "plot_history: $hist: no such file" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# per model: cumulative hours, cumulative steps, Set5 dB, stage
awk -F'\t' -v dir="$tmp" '
    /^#/ || NF == 0 { next }
    $1 == "stage" { steps[$2, $3] = $4; minutes[$2, $3] = $5; next }
    $1 == "point" {
        m = $2; s = $3; h = 0; n = 0
        for (k = 1; k < s; k++) { h += minutes[m, k] / 60; n += steps[m, k] }
        if (!((m, s) in steps)) { print "plot_history: point before its stage line: " $0 > "/dev/stderr"; exit 1 }
        printf "%.4f %d %s %d\n", h + $4 / steps[m, s] * minutes[m, s] / 60, n + $4, $5, s > (dir "/" m)
        next
    }
    { print "plot_history: bad line: " $0 > "/dev/stderr"; exit 1 }' "$hist"
for m in x2 x3 x4; do [ -s "$tmp/$m" ] || { echo "plot_history: no points for $m in $hist" >&2; exit 1; }; done
# published Set5 (Y-PSNR): FSRCNN (Dong et al. 2016), VDSR (Kim et al. 2016)
gnuplot <<GP
set terminal pngcairo size 1500,800 font ",10"
set output "$out.tmp"
set multiplot layout 2,3 title "Bundled models: Set5 validation Y-PSNR across all training stages (2-core machines: AVX2; the 2026-12-02 long runs on AMX in bf16)"
set grid
set key bottom right
set ylabel "Set5 Y-PSNR (dB)"
do for [i = 1:2] {
    do for [m in "x2 x3 x4"] {
        fs = (m eq "x2") ? 37.05 : (m eq "x3") ? 33.18 : 30.72
        vd = (m eq "x2") ? 37.53 : (m eq "x3") ? 33.67 : 31.35
        set title m
        set xlabel (i == 1) ? "training hours (wall clock, all stages)" : "training steps (batch 16, all stages)"
        set yrange [(m eq "x2") ? 34 : (m eq "x3") ? 31.5 : 29.5 : vd + 0.2]
        plot "$tmp/".m using i:3 with linespoints pt 7 ps 0.6 title "attsr ".m, \
             fs with lines dt 2 lw 2 title sprintf("FSRCNN %.2f", fs), \
             vd with lines dt 3 lw 2 title sprintf("VDSR %.2f", vd)
    }
}
unset multiplot
GP
mv "$out.tmp" "$out"
echo "plot_history: wrote $out"
