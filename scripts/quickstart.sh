#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run the main job —
# upscale the sample images with the bundled model, then print the PSNR/SSIM table
# (the bundled model against the bicubic baseline) on the same samples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
make -j"$(nproc)" MPI=1 build/attsr >/dev/null
mkdir -p out
if [ -f models/attsr_x2.safetensors ]; then
    build/attsr upscale --scale 2 -i samples -o out/x2
    echo "upscaled samples/ -> out/x2/ with the bundled x2 model"
    build/attsr eval -m models/attsr_x2.safetensors samples
else
    build/attsr upscale --bicubic --scale 2 -i samples -o out/x2
    echo "upscaled samples/ -> out/x2/ (bicubic: no bundled model in models/ yet)"
fi
echo "bicubic baseline:"
build/attsr eval --bicubic --scale 2 samples
