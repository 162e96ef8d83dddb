#!/usr/bin/env bash
# Bad input through the command line: one line on stderr naming the file and the
# reason, a non-zero exit, no output file, the input untouched.
source "$(dirname "$0")/lib_cli.sh"
F=tests/fixtures/image
cp samples/butterfly.png "$T/ok.png"
head -c 3000 "$T/ok.png" > "$T/truncated.png"
: > "$T/empty.png"
cp "$T/ok.png" "$T/corrupt.png"; printf '\xff\xff\xff\xff' | dd of="$T/corrupt.png" bs=1 seek=400 conv=notrunc 2>/dev/null
cp $F/jpeg_rgb.jpg "$T/mislabelled.png"
head -c 200 $F/jpeg_rgb.jpg > "$T/truncated.jpg"
cp $F/jpeg_rgb.jpg "$T/corrupt.jpg"; printf '\x00\x00\x00\x00\x00\x00\x00\x00' | dd of="$T/corrupt.jpg" bs=1 seek=20 conv=notrunc 2>/dev/null
head -c 100 $F/npy_v1_rgb.npy > "$T/truncated.npy"
printf 'not a numpy file at all' > "$T/corrupt.npy"

# names the file and fails without output
expect_named_error() {
    local name=$1 file=$2; shift 2
    local err
    err=$("$@" 2>&1 >/dev/null)
    if [[ "$err" != *"$(basename "$file")"* ]]; then t_fail "$name" "message does not name $file: $err"; return; fi
    expect_error "$name" "$T/out" "$@"
}
for f in truncated.png empty.png corrupt.png mislabelled.png truncated.jpg corrupt.jpg truncated.npy corrupt.npy; do
    expect_named_error "degrade_${f}" "$T/$f" "$ATTSR" degrade --scale 2 -i "$T/$f" -o "$T/out.png"
    expect_named_error "upscale_${f}" "$T/$f" "$ATTSR" upscale --bicubic --scale 2 -i "$T/$f" -o "$T/out.png"
done
expect_named_error missing_file "$T/nope.png" "$ATTSR" degrade --scale 2 -i "$T/nope.png" -o "$T/out.png"
expect_named_error over_pixel_limit "$T/ok.png" "$ATTSR" degrade --max-pixels 1000 --scale 2 -i "$T/ok.png" -o "$T/out.png"
expect_error unknown_flag "$T/out" "$ATTSR" degrade --bogus --scale 2 -i "$T/ok.png" -o "$T/out.png"
expect_error unknown_command "" "$ATTSR" frobnicate
expect_error conv_flag "$T/out" "$ATTSR" upscale --conv fast -i "$T/ok.png" -o "$T/out.png"
expect_error conv_env "$T/out" env ATTSR_CONV=fast "$ATTSR" upscale -i "$T/ok.png" -o "$T/out.png"
expect_error device_flag "$T/out" "$ATTSR" upscale --device gpu -i "$T/ok.png" -o "$T/out.png"
# training has no CUDA path yet, in any build; without CUDA (or a GPU) inference has none either
expect_error device_train_cuda "$T/run" "$ATTSR" train --device cuda -d "$T" -o "$T/run" --steps 1
if ! nm "$ATTSR" 2>/dev/null | grep -q ' cuda_available$'; then
    expect_error device_cuda_absent "$T/out" "$ATTSR" upscale --device cuda -i "$T/ok.png" -o "$T/out.png"
    expect_error device_cuda_info "" "$ATTSR" info --device cuda -m models/attsr_x2.safetensors
fi
expect_error unsupported_scale "$T/out" "$ATTSR" degrade --scale 5 -i "$T/ok.png" -o "$T/out.png"
expect_error unsupported_scale_upscale "$T/out" "$ATTSR" upscale --bicubic --scale 8 -i "$T/ok.png" -o "$T/out.png"
expect_error unsupported_scale_init "$T/out" "$ATTSR" init --scale 1 -o "$T/out.safetensors"
expect_error bad_attention "$T/out.safetensors" "$ATTSR" init --attention ca+sa1 -o "$T/out.safetensors"
err=$("$ATTSR" init --attention ca+sa1 -o "$T/out.safetensors" 2>&1)
[[ "$err" == *"'ca+sa1' (expected none, ca, sa1, sa4, ca+sa4 or ca-avgmax)"* ]] &&
    t_pass bad_attention_lists_kinds || t_fail bad_attention_lists_kinds "$err"
expect_error missing_value "$T/out" "$ATTSR" degrade --scale
expect_error unknown_extension "$T/out" "$ATTSR" degrade --scale 2 -i "$T/ok.png" -o "$T/out.gif"
expect_error bad_model "$T/out" "$ATTSR" upscale -m "$T/ok.png" -i "$T/ok.png" -o "$T/out.png"

before=$(md5sum < "$T/ok.png")
expect_error output_is_input "" "$ATTSR" degrade --scale 2 -i "$T/ok.png" -o "$T/ok.png"
ln -sf "$T/ok.png" "$T/link.png"
expect_error output_is_input_via_link "" "$ATTSR" upscale --bicubic --scale 2 -i "$T/ok.png" -o "$T/link.png"
expect_error structure_is_input "" "$ATTSR" decompose -i "$T/ok.png" --structure "$T/ok.png"
if [ "$(md5sum < "$T/ok.png")" = "$before" ]; then t_pass input_untouched; else t_fail input_untouched "ok.png changed"; fi

# every command answers --help with status 0
for c in upscale eval degrade init decompose train info export; do
    if "$ATTSR" $c --help | grep -q "usage: attsr $c"; then t_pass "help_$c"; else t_fail "help_$c"; fi
done
exit 0
