#!/usr/bin/env bash
# Issue 17 through the command line: NaN or Inf in a .npy image, a weights file or a
# checkpoint is refused at load by every command that reads it (eval scores nothing);
# a diverging run stops with an error and keeps its last good files; --resume refuses
# shape flags that disagree with the checkpoint; a flat 1x64 image keeps its colour;
# a huge --overlap gives the untiled result.
source "$(dirname "$0")/lib_cli.sh"
export OMP_NUM_THREADS=1

# put4 FILE OFFSET HEX8: writes 4 bytes (little-endian float bits) at OFFSET
put4() { printf "\\x${3:6:2}\\x${3:4:2}\\x${3:2:2}\\x${3:0:2}" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null; }
# the data offset of a safetensors file: 8 + its header length
st_data() { echo $((8 + $(od -A n -t u8 -N 8 "$1"))); }

# ---- .npy pixels ---------------------------------------------------------------------
"$ATTSR" degrade --scale 4 -i samples/butterfly.png -o "$T/lr.npy" >/dev/null 2>&1
mkdir -p "$T/set"
for v in 7fc00000 7f800000 ff800000; do
    cp "$T/lr.npy" "$T/bad.npy"
    put4 "$T/bad.npy" $((128 + 12 * 50 + 4)) $v  # pixel (x 2, y 1) channel 1 of 48 wide
    expect_error "upscale_npy_$v" "$T/o.png" "$ATTSR" upscale -i "$T/bad.npy" -o "$T/o.png"
done
expect_error upscale_bicubic_npy_nan "$T/o.png" "$ATTSR" upscale --bicubic --scale 2 -i "$T/bad.npy" -o "$T/o.png"
expect_error degrade_npy_inf "$T/d.png" "$ATTSR" degrade --scale 2 -i "$T/bad.npy" -o "$T/d.png"
expect_error decompose_npy_inf "$T/s.png" "$ATTSR" decompose -i "$T/bad.npy" --structure "$T/s.png"
err=$("$ATTSR" upscale -i "$T/bad.npy" -o "$T/o.png" 2>&1)
[[ "$err" == *"pixel (x 2, y 1) channel 1 holds a non-finite value"* ]] && t_pass npy_error_names_pixel \
    || t_fail npy_error_names_pixel "$err"
# eval on a folder holding one: an error, and no score printed for it
cp "$T/bad.npy" "$T/set/bad.npy"
out=$("$ATTSR" eval --bicubic --scale 2 "$T/set" 2>"$T/eval.err"); rc=$?
if [ $rc -ne 0 ] && grep -q "non-finite" "$T/eval.err" && ! grep -qi "nan\|psnr.*[0-9]" <<<"$out"; then t_pass eval_npy_not_scored
else t_fail eval_npy_not_scored "status $rc, out '$out', err '$(cat "$T/eval.err")'"; fi

# ---- weights -------------------------------------------------------------------------
"$ATTSR" init --scale 2 --feats 4 --fe-groups 0 --groups 1 --blocks 1 -o "$T/m.safetensors" >/dev/null 2>&1
for v in 7fc00000 7f800000; do
    cp "$T/m.safetensors" "$T/bad_m.safetensors"
    put4 "$T/bad_m.safetensors" $(( $(st_data "$T/m.safetensors") + 40 )) $v
    expect_error "upscale_model_$v" "$T/o.png" "$ATTSR" upscale -m "$T/bad_m.safetensors" -i samples/butterfly.png -o "$T/o.png"
    expect_error "eval_model_$v" "" "$ATTSR" eval -m "$T/bad_m.safetensors" samples
    expect_error "info_model_$v" "" "$ATTSR" info -m "$T/bad_m.safetensors"
done

# ---- training --------------------------------------------------------------------------
ARGS=(-d samples --scale 2 --feats 8 --fe-groups 1 --groups 1 --blocks 1 --attention ca --batch 2 --patch 16
      --val "" --threads 1 --seed 4 --ckpt-every 2 --cache "$T/cache")
"$ATTSR" train "${ARGS[@]}" --steps 2 -o "$T/run" 2>"$T/train.err" || t_fail train_first "$(tail -1 "$T/train.err")"
good_model=$(md5sum < "$T/run/model.safetensors"); good_ckpt=$(md5sum < "$T/run/checkpoint.safetensors")
unchanged() { [ "$(md5sum < "$T/run/model.safetensors")" = "$good_model" ] && [ "$(md5sum < "$T/run/checkpoint.safetensors")" = "$good_ckpt" ]; }

# shape flags on a resume: given and different -> refused; given and equal, or absent -> fine
for flag in "--feats 16" "--scale 3" "--blocks 2" "--attention sa4" "--fe-groups 2" "--groups 2" "--ca-reduction 4"; do
    set -- $flag
    err=$("$ATTSR" train -d samples --val "" --threads 1 --seed 4 --batch 2 --patch 16 --steps 3 --cache "$T/cache" \
          -o "$T/run" --resume $flag 2>&1); rc=$?
    if [ $rc -eq 1 ] && [[ "$err" == *"has $1 "*", not $2 (a resume keeps"* ]] && unchanged; then t_pass "resume_refuses_$1"
    else t_fail "resume_refuses_$1" "status $rc: $err"; fi
done
"$ATTSR" train "${ARGS[@]}" --steps 2 -o "$T/run" --resume 2>/dev/null && t_pass resume_same_flags \
    || t_fail resume_same_flags "the same shape flags were refused"
"$ATTSR" train -d samples --val "" --threads 1 --seed 4 --batch 2 --patch 16 --steps 2 --cache "$T/cache" \
    -o "$T/run" --resume 2>/dev/null && t_pass resume_without_flags || t_fail resume_without_flags

# a diverging run (--lr 10): an error, non-zero, the step-2 files untouched
err=$("$ATTSR" train "${ARGS[@]}" --steps 40 --lr 10 -o "$T/run" --resume 2>&1 >/dev/null); rc=$?
if [ $rc -eq 1 ] && [[ "$err" == *"the run diverged"* ]] && unchanged; then t_pass diverging_run_stops
else t_fail diverging_run_stops "status $rc: $(tail -1 <<<"$err")"; fi

# a checkpoint damaged in the middle of its data: refused, the model file untouched
cp "$T/run/checkpoint.safetensors" "$T/good.ckpt"
size=$(stat -c %s "$T/run/checkpoint.safetensors"); data=$(st_data "$T/run/checkpoint.safetensors")
put4 "$T/run/checkpoint.safetensors" $(( (data + size) / 2 / 4 * 4 )) 7fc00000
err=$("$ATTSR" train "${ARGS[@]}" --steps 4 -o "$T/run" --resume 2>&1 >/dev/null); rc=$?
if [ $rc -eq 1 ] && [[ "$err" == *"holds a non-finite value"* ]] && [ "$(md5sum < "$T/run/model.safetensors")" = "$good_model" ]
then t_pass damaged_checkpoint_refused; else t_fail damaged_checkpoint_refused "status $rc: $(tail -1 <<<"$err")"; fi
expect_error export_damaged_checkpoint "$T/x.safetensors" "$ATTSR" export -c "$T/run/checkpoint.safetensors" -o "$T/x.safetensors"

# ---- small images and overlaps ------------------------------------------------------------
# a flat (200, 100, 50) 1x64 .npy (shape (64, 1, 3)) through the bundled x2 model
{
    hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (64, 1, 3), }"
    printf '\x93NUMPY\x01\x00\x76\x00%s%*s\n' "$hdr" $((117 - ${#hdr})) ""
    for i in $(seq 64); do printf '\xc9\xc8\x48\x3f\xc9\xc8\xc8\x3e\xc9\xc8\x48\x3e'; done
} > "$T/flat.npy"
"$ATTSR" upscale -i "$T/flat.npy" -o "$T/flat_x2.npy" 2>/dev/null
means=$(od -A n -t f4 -v -j 128 "$T/flat_x2.npy" 2>/dev/null | tr -s ' ' '\n' | grep . |
        awk '{s[NR%3]+=$1; n++} END {if (n) printf "%.1f %.1f %.1f", s[1]*765/n, s[2]*765/n, s[0]*765/n}')
if awk -v m="$means" 'BEGIN {split(m, v, " "); exit !(v[1] != "" && (v[1]-200)^2 < 1 && (v[2]-100)^2 < 1 && (v[3]-50)^2 < 1)}'
then t_pass "flat_1x64_keeps_colour ($means)"; else t_fail flat_1x64_keeps_colour "mean ($means), expected (200, 100, 50)"; fi

# --tile 8 --overlap 4096 on 64x48: one window, the untiled result
"$ATTSR" degrade --scale 3 -i samples/butterfly.png -o "$T/b64.png" >/dev/null 2>&1  # 64x64
"$ATTSR" upscale -i "$T/b64.png" -o "$T/whole.png" 2>/dev/null
"$ATTSR" upscale -i "$T/b64.png" -o "$T/tiled.png" --tile 8 --overlap 4096 2>/dev/null
cmp -s "$T/whole.png" "$T/tiled.png" && t_pass huge_overlap_is_untiled || t_fail huge_overlap_is_untiled "outputs differ"
