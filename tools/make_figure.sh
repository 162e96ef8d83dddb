#!/usr/bin/env bash
# Draws crops of a few benchmark images side by side — bicubic, attsr's SR, its
# structure branch, its texture branch (shown as 0.5 + 4 T), HR — one row per image,
# into one PNG (docs/examples_x2.png by default), labelled, with each image's whole-image
# Y-PSNR for bicubic and the model (docs/spec.md §2 protocol).
#
#   bash tools/make_figure.sh [-m MODEL] [-o OUT.png] [HR.png:X:Y ...]
#
# X, Y: the crop's top-left corner in HR pixels (the crop is 112 x 112 HR pixels;
# CROP=N changes it). LR images come from `attsr degrade`, so the network sees what it
# sees in `attsr eval`. Needs gnuplot (Debian: gnuplot-nox).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
ATTSR=${ATTSR_BIN:-$root/build/attsr}
model=$root/models/attsr_x2.safetensors
out=$root/docs/examples_x2.png
crop=${CROP:-112}
B=$root/../shared/data/benchmark
while getopts m:o: o; do
    case $o in m) model=$OPTARG ;; o) out=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || set -- "$B/Set14/HR/barbara.png:8:300" "$B/Set14/HR/baboon.png:380:330" "$B/BSD100/HR/img_087.png:180:150"
command -v gnuplot >/dev/null || { echo "make_figure: gnuplot is not installed (apt-get install gnuplot-nox)" >&2; exit 1; }
[ -x "$ATTSR" ] || { echo "make_figure: $ATTSR: not built (make)" >&2; exit 1; }
scale=$("$ATTSR" info -m "$model" | sed -n 's/^[^:]*: x\([0-9]\),.*/\1/p')
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4, $5 * 16777216 + $6 * 65536 + $7 * 256 + $8 }'; }
psnr() { "$ATTSR" eval "$@" 2>/dev/null | awk '$2 != "mean" { printf "%.2f\n", $4; exit }'; }

cols=("bicubic" "attsr (SR = S + T)" "structure S" "texture T (0.5 + 4 T)" "HR")
rows=${#}
{
    echo "set terminal pngcairo size $((5 * 240 + 20)),$((rows * 262 + 64)) font \",11\" noenhanced"
    echo "set output \"$tmp/fig.png\""
    echo "set multiplot layout $rows,5 margins 0.01,0.99,0.01,$(awk -v r=$rows 'BEGIN { printf "%.3f", 1 - 64 / (r * 262 + 64) }') spacing 0.005,0.04"
    echo "unset key; unset tics; unset border; set size ratio -1"
    echo "amp(v) = v < 0 ? 0 : v > 255 ? 255 : v"
    for c in 0 1 2 3 4; do  # column headers, drawn with the first plot
        echo "set label $((c + 1)) \"${cols[$c]}\" at screen $(awk -v c=$c 'BEGIN { printf "%.4f", 0.01 + 0.98 * (c + 0.5) / 5 }'), $(awk -v r=$rows 'BEGIN { printf "%.4f", 1 - 14 / (r * 262 + 64) }') center font \",12\""
    done
} > "$tmp/fig.gp"
r=0
for spec in "$@"; do
    IFS=: read -r hr x y <<< "$spec"
    [ -f "$hr" ] || { echo "make_figure: $hr: no such file" >&2; exit 1; }
    name=$(basename "${hr%.*}")
    d=$tmp/$r
    mkdir -p "$d/hr"
    cp "$hr" "$d/hr/"
    "$ATTSR" degrade --scale "$scale" -i "$hr" -o "$d/lr.png"
    "$ATTSR" upscale --bicubic --scale "$scale" -i "$d/lr.png" -o "$d/bic.png"
    "$ATTSR" upscale -m "$model" -i "$d/lr.png" -o "$d/sr.png" --structure "$d/s.png" --texture "$d/t.png"
    p_bic=$(psnr --bicubic --scale "$scale" "$d/hr")
    p_sr=$(psnr -m "$model" "$d/hr")
    read -r w h < <(png_size "$d/sr.png")
    # gnuplot puts the image's last row at y = 0
    ranges="set xrange [$x:$((x + crop))]; set yrange [$((h - y - crop)):$((h - y))]"
    for c in 0 1 2 3 4; do
        f=("$d/bic.png" "$d/sr.png" "$d/s.png" "$d/t.png" "$hr")
        using="using 1:2:3"
        [ $c -eq 3 ] && using="using (amp(128 + 4 * (\$1 - 128))):(amp(128 + 4 * (\$2 - 128))):(amp(128 + 4 * (\$3 - 128)))"
        case $c in
        0) title="$name: bicubic $p_bic dB" ;;
        1) title="attsr $p_sr dB" ;;
        *) title=" " ;;
        esac
        echo "$ranges; set title \"$title\"; plot \"${f[$c]}\" binary filetype=png $using with rgbimage; unset label"
    done >> "$tmp/fig.gp"
    r=$((r + 1))
done
echo "unset multiplot" >> "$tmp/fig.gp"
gnuplot "$tmp/fig.gp"
mkdir -p "$(dirname "$out")"
cp "$tmp/fig.png" "$out.tmp" && mv "$out.tmp" "$out"
echo "$out"
