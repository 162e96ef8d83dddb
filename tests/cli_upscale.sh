#!/usr/bin/env bash
# attsr upscale / init / decompose / the example program: outputs, shapes, tiling,
# folders with a bad file, alpha, the C API through examples/upscale.
source "$(dirname "$0")/lib_cli.sh"
M="$T/m.safetensors"
"$ATTSR" init --scale 3 --feats 8 --fe-groups 1 --groups 1 --blocks 1 --attention sa4 --seed 3 -o "$M" >/dev/null \
    && t_pass init_writes_model || t_fail init_writes_model

# whole image vs 48-pixel tiles (overlap 16 covers this model's receptive field)
"$ATTSR" upscale -m "$M" -i samples/comic.png -o "$T/whole.npy" --structure "$T/s.npy" --texture "$T/t.npy" \
    && t_pass upscale_with_branches || t_fail upscale_with_branches
"$ATTSR" upscale -m "$M" -i samples/comic.png -o "$T/tiled.npy" --tile 48 --overlap 16 2>/dev/null \
    && t_pass upscale_tiled || t_fail upscale_tiled
# npy: 128-byte header (v1, padded) then float32 (h, w, 3); compare as floats with od
# (temp files rather than <(...): that opens /dev/fd, which a root without /proc lacks)
cmp_npy() {  # prints the largest absolute difference between two npy files' data
    od -An -v -f -w4 -j128 "$1" >"$T/1.f" && od -An -v -f -w4 -j128 "$2" >"$T/2.f"
    paste "$T/1.f" "$T/2.f" |
        awk 'BEGIN{m=0} {d=$1-$2; if (d<0) d=-d; if (d>m) m=d} END{printf "%.9f", m}'
}
hdr=$(head -c 128 "$T/whole.npy" | tr -d '\0' | grep -ao "shape': ([0-9, ]*)")
[ "$hdr" = "shape': (576, 576, 3)" ] && t_pass upscale_output_shape || t_fail upscale_output_shape "$hdr"
d=$(cmp_npy "$T/whole.npy" "$T/tiled.npy")
awk -v d="$d" 'BEGIN{exit !(d <= 1/255)}' && t_pass "tiled_equals_whole (max diff $d)" || t_fail tiled_equals_whole "max diff $d"
# --memory: a budget too small for the whole image's plan runs it in windows (the
# progress names them), with the whole image's output (SA4: to rounding); out-of-range
# budgets are refused
"$ATTSR" upscale -m "$M" -i samples/comic.png -o "$T/mem.npy" --memory 16 2>"$T/mem.err" \
    && t_pass upscale_memory || t_fail upscale_memory "$(cat "$T/mem.err")"
grep -q ': 1/[2-9]' "$T/mem.err" && t_pass upscale_memory_windows || t_fail upscale_memory_windows "$(cat "$T/mem.err")"
d=$(cmp_npy "$T/whole.npy" "$T/mem.npy")
awk -v d="$d" 'BEGIN{exit !(d <= 1e-5)}' && t_pass "memory_windows_equal_whole (max diff $d)" ||
    t_fail memory_windows_equal_whole "max diff $d"
expect_error upscale_memory_too_small "$T/mem2.npy" "$ATTSR" upscale -m "$M" -i samples/comic.png -o "$T/mem2.npy" --memory 8

# I_SR = S_SR + T_SR
for f in whole s t; do od -An -v -f -w4 -j128 "$T/$f.npy" >"$T/$f.f"; done
d=$(paste "$T/whole.f" "$T/s.f" "$T/t.f" |
    awk 'BEGIN{m=0} {d=$1-$2-$3; if (d<0) d=-d; if (d>m) m=d} END{printf "%.9f", m}')
awk -v d="$d" 'BEGIN{exit !(d <= 1e-5)}' && t_pass sr_is_structure_plus_texture || t_fail sr_is_structure_plus_texture "max diff $d"

# --ensemble: the x8 self-ensemble through the CLI (its maths: tests/test_upscale.c);
# eval --ensemble scores the same pixels that upscale --ensemble writes
"$ATTSR" upscale -m "$M" --ensemble -i samples/comic.png -o "$T/ens.npy" 2>/dev/null \
    && t_pass upscale_ensemble || t_fail upscale_ensemble
d=$(cmp_npy "$T/whole.npy" "$T/ens.npy")
awk -v d="$d" 'BEGIN{exit !(d > 1e-3)}' && t_pass "ensemble_changes_output (max diff $d)" ||
    t_fail ensemble_changes_output "max diff $d from the plain output"
expect_error ensemble_needs_model "$T/ens.png" "$ATTSR" upscale --bicubic --scale 2 --ensemble -i samples/comic.png -o "$T/ens.png"
json=$("$ATTSR" eval -m "$M" --ensemble --json samples 2>/dev/null)
[[ "$json" == *'"ensemble": true'* ]] && t_pass eval_ensemble_json || t_fail eval_ensemble_json "$json"

# a folder with one bad file: the rest are written, the bad one reported, exit 1
mkdir -p "$T/in"
cp samples/comic.png samples/zebra.png "$T/in/"
printf 'junk' > "$T/in/bad.png"
"$ATTSR" upscale --bicubic --scale 2 -i "$T/in" -o "$T/out" 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && [ -f "$T/out/comic.png" ] && [ -f "$T/out/zebra.png" ] && [ ! -e "$T/out/bad.png" ] &&
   grep -q "bad.png" "$T/err"; then t_pass folder_skips_bad_file; else t_fail folder_skips_bad_file "status $rc: $(cat "$T/err")"; fi

# alpha survives (RGBA in, RGBA out)
"$ATTSR" upscale -m "$M" -i tests/fixtures/image/png_rgba8.png -o "$T/rgba.png" 2>/dev/null
ct=$(od -An -tu1 -j25 -N1 "$T/rgba.png" | tr -d ' ')
[ "$ct" = 6 ] && t_pass alpha_kept || t_fail alpha_kept "PNG colour type $ct, expected 6 (RGBA)"

# --scale must agree with the model
expect_error scale_disagrees "$T/x.png" "$ATTSR" upscale -m "$M" --scale 2 -i samples/comic.png -o "$T/x.png"

# decompose: structure + texture (+0.5 in PNG) and raw npy
"$ATTSR" decompose -i samples/zebra.png --structure "$T/ds.npy" --texture "$T/dt.npy" >/dev/null &&
"$ATTSR" decompose -i samples/zebra.png --structure "$T/ds.png" --texture "$T/dt.png" >/dev/null &&
    t_pass decompose_outputs || t_fail decompose_outputs

# the example program on the C API
ex=${ATTSR_BUILD:-build}/examples/upscale
out=$("$ex" "$M" 20 10 2>&1)
[[ "$out" == "20x10 -> 60x30, mean "* ]] && t_pass example_program || t_fail example_program "$out"

# the attention kinds beyond the paper: init writes them, info names them, upscale and
# the C API run them
for k in ca+sa4 ca-avgmax; do
    Mk="$T/m_$k.safetensors"
    "$ATTSR" init --scale 2 --feats 8 --fe-groups 1 --groups 1 --blocks 1 --attention "$k" --ca-reduction 2 \
        -o "$Mk" >/dev/null && info=$("$ATTSR" info --json -m "$Mk") &&
        [[ "$info" == *"\"attention\": \"$k\", \"ca_reduction\": 2"* ]] &&
        "$ATTSR" upscale -m "$Mk" -i samples/comic.png -o "$T/$k.npy" 2>/dev/null &&
        [ "$(head -c 128 "$T/$k.npy" | tr -d '\0' | grep -ao "shape': ([0-9, ]*)")" = "shape': (384, 384, 3)" ] &&
        out=$("$ex" "$Mk" 20 10 2>&1) && [[ "$out" == "20x10 -> 40x20, mean "* ]] &&
        t_pass "init_info_upscale_$k" || t_fail "init_info_upscale_$k" "${info:-} ${out:-}"
done
# the same pixels through the library as through the CLI: the sample's npy data as raw floats
"$ATTSR" upscale --bicubic --scale 2 -i samples/comic.png -o "$T/in.npy" 2>/dev/null  # any float image
tail -c $((384 * 384 * 12)) "$T/in.npy" > "$T/in.f32"
"$ex" "$M" 384 384 "$T/in.f32" "$T/ex.f32" && "$ATTSR" upscale -m "$M" -i "$T/in.npy" -o "$T/cli.npy" 2>/dev/null
tail -c $((1152 * 1152 * 12)) "$T/cli.npy" >"$T/cli.f32"
if cmp -s "$T/ex.f32" "$T/cli.f32"; then t_pass example_matches_cli
else t_fail example_matches_cli "the example's output differs from attsr upscale"; fi
exit 0
