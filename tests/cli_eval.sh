#!/usr/bin/env bash
# attsr eval against the published bicubic baselines (SPEC section 2) and its JSON shape.
source "$(dirname "$0")/lib_cli.sh"
if [ -z "$SHARED" ]; then t_skip eval_set5_bicubic "no ../shared"; exit 0; fi
out=$("$ATTSR" eval --bicubic --scale 2 --json "$SHARED/data/benchmark/Set5/HR" 2>/dev/null)
# within 0.02 dB of 33.66 and 0.001 of SSIM 0.9299; the dataset is named after HR's parent
name=$(echo "$out" | grep -o '"datasets": \[{"name": "[^"]*"' | sed 's/.*"name": "//; s/"$//')
psnr=$(echo "$out" | grep -o '"datasets": \[{"name": "[^"]*", "psnr": [0-9.]*' | sed 's/.*"psnr": //')
ssim=$(echo "$out" | grep -o '"datasets": \[{"name": "[^"]*", "psnr": [0-9.]*, "ssim": [0-9.]*' | sed 's/.*"ssim": //')
images=$(echo "$out" | grep -o '{"name": "[a-z]*", "psnr"' | wc -l)
if [ "$name" = Set5 ] && [ "$images" -eq 5 ] &&
   awk -v p="$psnr" -v s="$ssim" 'BEGIN { exit !((p-33.66)^2 <= 0.0004 && (s-0.9299)^2 <= 0.000001) }'; then
    t_pass eval_set5_bicubic_x2
else
    t_fail eval_set5_bicubic_x2 "name '$name', $images images, PSNR $psnr, SSIM $ssim"
fi
out=$("$ATTSR" eval --bicubic --scale 4 "$SHARED/data/benchmark/Set5" 2>/dev/null | grep mean)
psnr=$(echo "$out" | awk '{print $4}')
if awk -v p="$psnr" 'BEGIN { exit !(p - 28.42 <= 0.02 && 28.42 - p <= 0.02) }'; then t_pass eval_set5_bicubic_x4
else t_fail eval_set5_bicubic_x4 "got $psnr, published 28.42"; fi
exit 0
