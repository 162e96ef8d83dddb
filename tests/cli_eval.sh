#!/usr/bin/env bash
# attsr eval: the bundled model without -m; the published bicubic baselines (docs/spec.md
# §2) and the JSON shape.
source "$(dirname "$0")/lib_cli.sh"
# without -m: the bundled model for --scale (default 2), named in the report; the same
# scores as -m with that file; $ATTSR_MODELS comes first
json=$("$ATTSR" eval --scale 3 --json samples 2>/dev/null)
ref=$("$ATTSR" eval -m models/attsr_x3.safetensors --json samples 2>/dev/null)
model=$(grep -o '"model": "[^"]*"' <<<"$json" | sed 's/"model": "//; s/"$//')
if [ "$model" -ef models/attsr_x3.safetensors ] && [ -n "$ref" ] &&
   [ "$(sed 's/"model": "[^"]*"//' <<<"$json")" = "$(sed 's/"model": "[^"]*"//' <<<"$ref")" ]; then
    t_pass bundled_x3_json
else t_fail bundled_x3_json "model '$model': $(head -c 200 <<<"$json")"; fi
line=$("$ATTSR" eval samples 2>/dev/null | grep ' mean ')
[[ "$line" == *"(x2, 3 images, "*"/models/attsr_x2.safetensors)" ]] &&
    [ "$(sed 's/.*, \(.*\))$/\1/' <<<"$line")" -ef models/attsr_x2.safetensors ] &&
    t_pass bundled_default_x2_text || t_fail bundled_default_x2_text "$line"
mkdir -p "$T/m"
"$ATTSR" init --scale 2 --feats 4 --groups 1 --blocks 1 --seed 3 -o "$T/m/attsr_x2.safetensors" >/dev/null 2>&1
model=$(ATTSR_MODELS=$T/m "$ATTSR" eval --json samples 2>/dev/null | grep -o '"model": "[^"]*"' | sed 's/"model": "//; s/"$//')
[ "$model" -ef "$T/m/attsr_x2.safetensors" ] && t_pass bundled_env_first || t_fail bundled_env_first "model '$model'"
# a program with no models above it and none installed: a one-line error naming the places
mkdir -p "$T/away/bin" && cp "$ATTSR" "$T/away/bin/attsr"
if [ -e /usr/local/share/attsr/models/attsr_x3.safetensors ]; then
    t_skip bundled_none_error "attsr is installed in /usr/local"
else
    err=$(env -u ATTSR_MODELS "$T/away/bin/attsr" eval --scale 3 samples 2>&1 >/dev/null); rc=$?
    [ $rc -eq 1 ] && [ "$(wc -l <<<"$err")" -eq 1 ] && [[ "$err" == "attsr eval: no bundled model for x3 ("*"pass -m MODEL or --bicubic" ]] &&
        t_pass bundled_none_error || t_fail bundled_none_error "status $rc: $err"
fi
expect_error model_and_bicubic "" "$ATTSR" eval -m models/attsr_x2.safetensors --bicubic --scale 2 samples

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
