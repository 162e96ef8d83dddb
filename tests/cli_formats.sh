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
# JPEG (lossy, so by shape): 7x5 stored, Orientation 6, upscaled x2 -> 10 wide, 14 high
"$ATTSR" upscale --bicubic -i "$T/orient_6.jpg" -o "$T/j6.npy" 2>/dev/null &&
    head -c 128 "$T/j6.npy" | grep -aq "shape': (14, 10, 3)" && t_pass upscale_jpeg_orientation ||
    t_fail upscale_jpeg_orientation
"$ATTSR" upscale --bicubic -i "$T/raw.png" -o "$T/raw.npy" 2>/dev/null
"$ATTSR" upscale --bicubic --keep-orientation -i "$T/orient_6.png" -o "$T/k6.npy" 2>/dev/null &&
    cmp -s "$T/k6.npy" "$T/raw.npy" && t_pass upscale_keep_orientation || t_fail upscale_keep_orientation
# the written PNG is upright and says Orientation 1: read again, it is not turned twice
"$ATTSR" upscale --bicubic -i "$T/orient_6.png" -o "$T/o6.png" 2>/dev/null &&
    "$ATTSR" degrade --scale 2 -i "$T/o6.png" -o "$T/o6_lr.npy" 2>/dev/null &&
    "$ATTSR" degrade --scale 2 -i "$T/o6.png" -o "$T/o6_lr_keep.npy" --keep-orientation 2>/dev/null &&
    cmp -s "$T/o6_lr.npy" "$T/o6_lr_keep.npy" && head -c 128 "$T/o6_lr.npy" | grep -aq "shape': (7, 5, 3)" &&
    t_pass output_upright_tag_reset || t_fail output_upright_tag_reset

# 16-bit gray in, 16-bit gray out; --depth and --rgb override (IHDR: bit depth, colour type)
ihdr() { od -An -tu1 -j24 -N2 "$1" | tr -s ' ' | sed 's/^ //'; }
"$ATTSR" upscale --bicubic -i "$T/gray16.png" -o "$T/g.png" 2>/dev/null && [ "$(ihdr "$T/g.png")" = "16 0" ] &&
    t_pass upscale_keeps_16bit_gray || t_fail upscale_keeps_16bit_gray "IHDR $(ihdr "$T/g.png" 2>/dev/null)"
"$ATTSR" upscale --bicubic --depth 8 -i "$T/gray16.png" -o "$T/g8.png" 2>/dev/null && [ "$(ihdr "$T/g8.png")" = "8 0" ] &&
    t_pass upscale_depth_8 || t_fail upscale_depth_8 "IHDR $(ihdr "$T/g8.png" 2>/dev/null)"
"$ATTSR" upscale --bicubic --rgb -i "$T/gray16.png" -o "$T/grgb.png" 2>/dev/null && [ "$(ihdr "$T/grgb.png")" = "16 2" ] &&
    t_pass upscale_rgb || t_fail upscale_rgb "IHDR $(ihdr "$T/grgb.png" 2>/dev/null)"
"$ATTSR" upscale --bicubic --depth 16 -i "$T/raw.png" -o "$T/r16.png" 2>/dev/null && [ "$(ihdr "$T/r16.png")" = "16 2" ] &&
    t_pass upscale_depth_16 || t_fail upscale_depth_16 "IHDR $(ihdr "$T/r16.png" 2>/dev/null)"
expect_error bad_depth "$T/bd.png" "$ATTSR" upscale --bicubic --depth 12 -i "$T/raw.png" -o "$T/bd.png"
expect_error bad_quality "$T/bq.jpg" "$ATTSR" upscale --bicubic --quality 0 -i "$T/raw.png" -o "$T/bq.jpg"

# WebP and TIFF out and back in: lossless WebP and 16-bit gray TIFF lose nothing
"$ATTSR" upscale --bicubic -i "$T/raw.png" -o "$T/x.webp" 2>/dev/null &&
    "$ATTSR" upscale --bicubic -i "$T/raw.png" -o "$T/x.png" 2>/dev/null &&
    "$ATTSR" upscale --bicubic -i "$T/x.webp" -o "$T/yw.npy" 2>/dev/null &&
    "$ATTSR" upscale --bicubic -i "$T/x.png" -o "$T/yp.npy" 2>/dev/null &&
    cmp -s "$T/yw.npy" "$T/yp.npy" && t_pass webp_lossless || t_fail webp_lossless
"$ATTSR" upscale --bicubic --quality 30 -i "$T/x.png" -o "$T/q.webp" 2>/dev/null &&
    [ "$(stat -c %s "$T/q.webp")" -lt "$(stat -c %s "$T/x.webp")" ] && t_pass webp_quality ||
    t_fail webp_quality "$(stat -c %s "$T/q.webp" "$T/x.webp" 2>&1 | tr '\n' ' ')"
"$ATTSR" upscale --bicubic -i "$T/gray16.png" -o "$T/g.tif" 2>/dev/null &&
    "$ATTSR" upscale --bicubic -i "$T/g.tif" -o "$T/gt.png" 2>/dev/null &&
    "$ATTSR" upscale --bicubic -i "$T/g.png" -o "$T/gp.png" 2>/dev/null &&
    [ "$(ihdr "$T/gt.png")" = "16 0" ] && cmp -s "$T/gt.png" "$T/gp.png" && t_pass tiff_16bit_gray ||
    t_fail tiff_16bit_gray "IHDR $(ihdr "$T/gt.png" 2>/dev/null)"
# BMP is read (a folder's x.bmp is written as x.bmp.png), not written
"$ATTSR" upscale --bicubic -i "$T/bmp" -o "$T/bmp_out" 2>/dev/null && "$ATTSR" upscale --bicubic -i "$T/raw.png" -o "$T/rb.png" 2>/dev/null &&
    cmp -s "$T/bmp_out/raw.bmp.png" "$T/rb.png" && t_pass bmp_folder || t_fail bmp_folder "$(ls "$T/bmp_out" 2>&1)"
expect_error bmp_not_written "$T/w.bmp" "$ATTSR" upscale --bicubic -i "$T/raw.png" -o "$T/w.bmp"

# EXIF goes through upscale into every format that holds it (its ImageDescription says
# "attsr"); the pixels' side of it is tests/test_image_meta.c's
bad=
for ext in png jpg webp; do
    "$ATTSR" upscale --bicubic -i "$T/orient_6.png" -o "$T/meta.$ext" 2>/dev/null && grep -aq attsr "$T/meta.$ext" || bad="$bad $ext"
done
[ -z "$bad" ] && t_pass upscale_keeps_exif || t_fail upscale_keeps_exif "lost in:$bad"

# streams: -i - / -o -, one image; the output's format from --format or the input's bytes
"$ATTSR" upscale --bicubic -i "$T/raw.png" -o "$T/file.png" 2>/dev/null
"$ATTSR" upscale --bicubic -i - -o - <"$T/raw.png" >"$T/pipe.png" 2>/dev/null &&
    cmp -s "$T/pipe.png" "$T/file.png" && t_pass stream_png || t_fail stream_png
"$ATTSR" upscale --bicubic -i "$T/raw.png" -o "$T/file.npy" 2>/dev/null
"$ATTSR" upscale --bicubic -i - -o - --format npy <"$T/raw.png" >"$T/pipe.npy" 2>/dev/null &&
    cmp -s "$T/pipe.npy" "$T/file.npy" && t_pass stream_format || t_fail stream_format
"$ATTSR" upscale --bicubic -i "$T/orient_6.png" -o "$T/o6.jpg" 2>/dev/null
"$ATTSR" upscale --bicubic -i - -o - <"$T/o6.jpg" >"$T/pipe.out" 2>/dev/null &&
    [ "$(head -c 3 "$T/pipe.out" | od -An -tx1 | tr -d ' ')" = ffd8ff ] && t_pass stream_keeps_input_format ||
    t_fail stream_keeps_input_format
"$ATTSR" upscale --bicubic -i - -o "$T/from_stdin.tif" <"$T/gray16.png" 2>/dev/null &&
    "$ATTSR" upscale --bicubic -i "$T/from_stdin.tif" -o "$T/fs.png" 2>/dev/null && [ "$(ihdr "$T/fs.png")" = "16 0" ] &&
    t_pass stream_in_file_out || t_fail stream_in_file_out
head -c 60 "$T/raw.png" >"$T/cut.png"
err=$("$ATTSR" upscale --bicubic -i - -o - <"$T/cut.png" 2>&1 >"$T/cut.out"); rc=$?
[ $rc -eq 1 ] && [ ! -s "$T/cut.out" ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == *"<stdin>"* ]] &&
    t_pass stream_truncated_writes_nothing || t_fail stream_truncated_writes_nothing "rc $rc: $err"
expect_error stream_bad_format "" "$ATTSR" upscale --bicubic -i "$T/raw.png" -o - --format bmp
expect_error format_needs_stdout "$T/ff.png" "$ATTSR" upscale --bicubic -i "$T/raw.png" -o "$T/ff.png" --format png

# video: YUV4MPEG2 through the stream equals its frames upscaled one by one (.npy frames
# converted by the library: equal, not just within rounding); a cut stream fails after
# its complete frames went out
C="$MAKE --compare-y4m"
"$ATTSR" upscale -i - -o - <"$T/clip.y4m" >"$T/up.y4m" 2>/dev/null &&
    for k in 1 2 3; do "$ATTSR" upscale -i "$T/frame_$k.npy" -o "$T/up_$k.npy" 2>/dev/null || exit 1; done &&
    $C "$T/up.y4m" "$T/up_1.npy" "$T/up_2.npy" "$T/up_3.npy" 2>"$T/err" && t_pass y4m_stream_equals_frames ||
    t_fail y4m_stream_equals_frames "$(cat "$T/err")"
"$ATTSR" upscale -i "$T/clip.y4m" -o "$T/file.y4m" 2>/dev/null && cmp -s "$T/file.y4m" "$T/up.y4m" &&
    t_pass y4m_file_equals_stream || t_fail y4m_file_equals_stream
err=$("$ATTSR" upscale -i - -o - <"$T/clip_cut.y4m" 2>&1 >"$T/cut.y4m"); rc=$?
full=$(stat -c %s "$T/up.y4m"); frame=$(( (full - $(head -1 "$T/up.y4m" | wc -c)) / 3 ))
# (progress lines, "N frames", come every 5 s on a slow machine: not counted)
err=$(printf '%s\n' "$err" | grep -v '^attsr upscale: [0-9]* frames$')
[ $rc -eq 1 ] && [[ "$err" == *"2 complete frames written"* ]] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
    [ "$(stat -c %s "$T/cut.y4m")" -eq $((full - frame)) ] && cmp -s -n $((full - frame)) "$T/cut.y4m" "$T/up.y4m" &&
    t_pass y4m_cut_stream || t_fail y4m_cut_stream "rc $rc, $(stat -c %s "$T/cut.y4m") bytes: $err"
# a reader that has quit (ffmpeg stopped, `| head`): one error line and status 1, not a
# death by SIGPIPE (the reader closes the pipe before attsr starts writing)
{ sleep 0.3; "$ATTSR" upscale -i - -o - <"$T/clip.y4m" 2>"$T/pipe.err"; echo $? >"$T/pipe.rc"; } | (exec 0<&-; sleep 1.5)
rc=$(cat "$T/pipe.rc"); err=$(cat "$T/pipe.err")
[ "$rc" -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [[ "$err" == "attsr upscale: <stdout>: write failed: Broken pipe"* ]] &&
    t_pass y4m_reader_quit || t_fail y4m_reader_quit "rc $rc: $err"
expect_error y4m_to_image "$T/v.png" "$ATTSR" upscale --bicubic -i "$T/clip.y4m" -o "$T/v.png"
