#!/usr/bin/env bash
# attsr eval against the published bicubic baselines (SPEC section 2) and its JSON shape.
source "$(dirname "$0")/lib_cli.sh"
if [ -z "$SHARED" ]; then t_skip eval_set5_bicubic "no ../shared"; exit 0; fi
out=$("$ATTSR" eval --bicubic --scale 2 --json "$SHARED/data/benchmark/Set5/HR" 2>/dev/null)
# within 0.02 dB of 33.66 and 0.001 of SSIM 0.9299; dataset named after HR's parent
if python3 -c '
import json, sys
d = json.loads(sys.argv[1])
s = d["datasets"][0]
assert d["scale"] == 2 and d["model"] == "bicubic", d
assert s["name"] == "Set5" and len(s["images"]) == 5, s["name"]
assert abs(s["psnr"] - 33.66) <= 0.02, s["psnr"]
assert abs(s["ssim"] - 0.9299) <= 0.001, s["ssim"]
assert abs(sum(i["psnr"] for i in s["images"]) / 5 - s["psnr"]) < 1e-9
' "$out" 2>"$T/err"; then t_pass eval_set5_bicubic_x2; else t_fail eval_set5_bicubic_x2 "$(tail -1 "$T/err")"; fi
out=$("$ATTSR" eval --bicubic --scale 4 "$SHARED/data/benchmark/Set5" 2>/dev/null | grep mean)
psnr=$(echo "$out" | awk '{print $4}')
if awk -v p="$psnr" 'BEGIN { exit !(p - 28.42 <= 0.02 && 28.42 - p <= 0.02) }'; then t_pass eval_set5_bicubic_x4
else t_fail eval_set5_bicubic_x4 "got $psnr, published 28.42"; fi
exit 0
