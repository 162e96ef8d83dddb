#!/usr/bin/env bash
# What upscale keeps of its input (docs/formats.md): EXIF orientation applied (or kept
# with --keep-orientation), bit depth, gray. The files come from
# `tests/test_image_meta --make DIR`; their pixels are checked in tests/test_image_meta.c,
# here that the CLI passes them through.
source "$(dirname "$0")/lib_cli.sh"
MAKE=${ATTSR_BUILD:-build}/tests/test_image_meta
if ! "$MAKE" --make "$T" 2>"$T/err"; then
    t_fail make_files "$(cat "$T/err")"
    exit 0
fi

# An oriented file upscales to the upright reference's upscaling (.npy: pixels alone)
bad=
for o in 1 2 3 4 5 6 7 8; do
    "$ATTSR" upscale --bicubic -i "$T/orient_$o.png" -o "$T/o$o.npy" 2>/dev/null &&
        "$ATTSR" upscale --bicubic -i "$T/upright_$o.png" -o "$T/u$o.npy" 2>/dev/null &&
        cmp -s "$T/o$o.npy" "$T/u$o.npy" || bad="$bad $o"
done
[ -z "$bad" ] && t_pass upscale_applies_orientation || t_fail upscale_applies_orientation "orientations:$bad"
"$ATTSR" upscale --bicubic -i "$T/raw.png" -o "$T/raw.npy" 2>/dev/null
"$ATTSR" upscale --bicubic --keep-orientation -i "$T/orient_6.png" -o "$T/k6.npy" 2>/dev/null &&
    cmp -s "$T/k6.npy" "$T/raw.npy" && t_pass upscale_keep_orientation || t_fail upscale_keep_orientation
# the written PNG is upright and says Orientation 1: read again, it is not turned twice
"$ATTSR" upscale --bicubic -i "$T/orient_6.png" -o "$T/o6.png" 2>/dev/null &&
    "$ATTSR" degrade --scale 2 -i "$T/o6.png" -o "$T/o6_lr.npy" 2>/dev/null &&
    "$ATTSR" degrade --scale 2 -i "$T/o6.png" -o "$T/o6_lr_keep.npy" --keep-orientation 2>/dev/null &&
    cmp -s "$T/o6_lr.npy" "$T/o6_lr_keep.npy" && head -c 128 "$T/o6_lr.npy" | grep -aq "shape': (7, 5, 3)" &&
    t_pass output_upright_tag_reset || t_fail output_upright_tag_reset
