#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the main job —
# upscale the sample images with every bundled model (models/attsr_x{2,3,4}.safetensors,
# those present) into out/x<S>/, then print one PSNR/SSIM table on the same samples:
# each model against the bicubic baseline at its scale (docs/spec.md §2 protocol: the
# samples are the HR images, their LR made by bicubic 1/S).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -j"$(nproc)" MPI=1 build/attsr >/dev/null
mkdir -p out
mean() { "$@" 2>/dev/null | awk '$2 == "mean" { print $4, $7 }'; }  # eval's mean line -> PSNR SSIM
rows=()
for s in 2 3 4; do
    m=models/attsr_x$s.safetensors
    [ -f "$m" ] || continue
    build/attsr upscale --scale "$s" -i samples -o "out/x$s"
    echo "upscaled samples/ -> out/x$s/ with $m"
    rows+=("x$s $m $(mean build/attsr eval -m "$m" samples) $(mean build/attsr eval --bicubic --scale "$s" samples)")
done
if [ ${#rows[@]} -eq 0 ]; then
    build/attsr upscale --bicubic --scale 2 -i samples -o out/x2
    echo "upscaled samples/ -> out/x2/ (bicubic: no bundled model in models/ yet)"
    rows+=("x2 bicubic - - $(mean build/attsr eval --bicubic --scale 2 samples)")
fi
echo
echo "samples/ ($(ls samples | grep -ciE '\.(png|jpe?g)$') images), Y-PSNR (dB) / SSIM:"
printf '%s\n' "${rows[@]}" | awk 'BEGIN { printf "%-6s %-30s %17s %17s %9s\n", "scale", "model", "model", "bicubic", "gain" }
    { printf "%-6s %-30s %8s / %-6s %8s / %-6s %9s\n", $1, $2, $3, $4, $5, $6, $3 == "-" ? "-" : sprintf("%+.2f dB", $3 - $5) }'
