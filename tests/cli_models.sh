#!/usr/bin/env bash
# The bundled models (models/): each loads as its own scale, beats bicubic on the
# committed samples, and scores on Set5 what models/README.md's table says (so the
# table cannot drift from the files it describes).
source "$(dirname "$0")/lib_cli.sh"
mean_psnr() { "$@" 2>/dev/null | awk '$2 == "mean" { print $4 }'; }  # eval's mean line -> PSNR
for s in 2 3 4; do
    m=models/attsr_x$s.safetensors
    if [ ! -f "$m" ]; then t_fail "models_x${s}_present" "no $m"; continue; fi
    info=$("$ATTSR" info -m "$m" --json 2>&1)
    if [[ "$info" == *"\"scale\": $s,"* ]]; then t_pass "models_x${s}_scale"; else t_fail "models_x${s}_scale" "$info"; fi

    sr=$(mean_psnr "$ATTSR" eval -m "$m" samples)
    bic=$(mean_psnr "$ATTSR" eval --bicubic --scale "$s" samples)
    if awk -v a="$sr" -v b="$bic" 'BEGIN { exit !(a != "" && b != "" && a > b + 0.3) }'; then
        t_pass "models_x${s}_beats_bicubic_on_samples"
    else t_fail "models_x${s}_beats_bicubic_on_samples" "model '$sr' dB, bicubic '$bic' dB"; fi

    if [ -z "$SHARED" ]; then t_skip "models_x${s}_set5_as_documented" "no ../shared"; continue; fi
    # the row "| attsr_xS | PSNR / SSIM [bicubic] | ..." -> its Set5 PSNR
    doc=$(awk -F'|' -v n="attsr_x$s" '$2 ~ "^ *" n " *$" { split($3, f, " "); print f[1]; exit }' models/README.md)
    got=$(mean_psnr "$ATTSR" eval -m "$m" "$SHARED/data/benchmark/Set5")
    if awk -v a="$got" -v d="$doc" 'BEGIN { exit !(a != "" && d != "" && (a - d)^2 <= 0.006^2) }'; then
        t_pass "models_x${s}_set5_as_documented"
    else t_fail "models_x${s}_set5_as_documented" "Set5 $got dB, models/README.md says '$doc'"; fi
done
exit 0
