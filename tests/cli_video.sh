#!/usr/bin/env bash
# Video through ffmpeg, the pipeline of docs/formats.md:
#   ffmpeg -i in.mp4 -f yuv4mpegpipe - | attsr upscale -m MODEL -i - -o - | ffmpeg -i - out.mp4
# on 64x48 H.264 clips in 4:2:0, 4:2:2 and 4:4:4. Checked: every stage exits 0; out.mp4
# decodes to 128x96, the input's pixel format and frame count; attsr's stream (tee'd
# from the pipe) equals the frames upscaled one by one (byte for byte); in 4:4:4,
# where chroma resampling plays no part, it matches an independent colour path (ffmpeg
# converts the frames to RGB PNGs, attsr upscales them, ffmpeg converts back) within
# the rounding of those 8-bit RGB files; out.mp4 (lossy H.264) is within a PSNR bound
# of attsr's stream; a stream cut upstream still gives a video of its complete frames.
# Also ffmpeg's other y4m streams: odd sizes, full range, gray, interlaced, 10 bits
# (refused). Skipped without ffmpeg, ffprobe or libx264.
source "$(dirname "$0")/lib_cli.sh"
if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    t_skip video "ffmpeg or ffprobe is not installed"
    exit 0
fi
if ! ffmpeg -hide_banner -encoders 2>/dev/null | grep -q ' libx264 '; then
    t_skip video "ffmpeg has no libx264 encoder"
    exit 0
fi
MODEL=${ATTSR_MODEL_X2:-models/attsr_x2.safetensors}
FF=(ffmpeg -nostdin -hide_banner -v error -y)
N=6  # frames per clip
# mean PSNR (dB, all planes) of y4m/video B against A, by ffmpeg's psnr filter
psnr() { ffmpeg -nostdin -hide_banner -i "$1" -i "$2" -lavfi psnr -f null - 2>&1 |
             sed -n 's/.*PSNR .*average:\([0-9.inf]*\).*/\1/p' | tail -1; }
# probe FILE: "width,height,pix_fmt,frames" of its video stream, decoding every frame
probe() { ffprobe -v error -select_streams v:0 -count_frames \
              -show_entries stream=width,height,pix_fmt,nb_read_frames -of csv=p=0 "$1"; }
above() { awk -v v="$1" -v t="$2" 'BEGIN { exit !(v == "inf" || v + 0 > t) }'; }
body() { tail -c +$(($(head -1 "$1" | wc -c) + 1)) "$1"; }  # a y4m file without its header

for pf in yuv420p yuv422p yuv444p; do
    d=$T/$pf
    mkdir -p "$d"
    "${FF[@]}" -f lavfi -i testsrc=size=64x48:rate=10 -frames:v $N -pix_fmt $pf -c:v libx264 -crf 18 "$d/in.mp4"
    # the pipeline itself, attsr's stream kept on the way by tee
    ffmpeg -nostdin -v error -i "$d/in.mp4" -f yuv4mpegpipe - |
        "$ATTSR" upscale -m "$MODEL" -i - -o - 2>"$d/attsr.err" | tee "$d/up.y4m" |
        ffmpeg -nostdin -v error -y -i - -c:v libx264 "$d/out.mp4"
    st=("${PIPESTATUS[@]}")
    got=$(probe "$d/out.mp4")
    if [ "${st[*]}" = "0 0 0 0" ] && [ "$got" = "128,96,$pf,$N" ]; then t_pass "pipeline_$pf"
    else t_fail "pipeline_$pf" "statuses ${st[*]}, out.mp4: $got; $(cat "$d/attsr.err")"; fi

    # the stream equals the frames upscaled one by one (each frame a y4m file of its own)
    ffmpeg -nostdin -v error -i "$d/in.mp4" -f yuv4mpegpipe "$d/in.y4m"
    hlen=$(head -1 "$d/in.y4m" | wc -c)
    flen=$(( ($(stat -c %s "$d/in.y4m") - hlen) / N ))
    : >"$d/frames.body"
    ok=1
    for k in $(seq 0 $((N - 1))); do
        { head -1 "$d/in.y4m"; tail -c +$((hlen + k * flen + 1)) "$d/in.y4m" | head -c $flen; } >"$d/f$k.y4m"
        "$ATTSR" upscale -m "$MODEL" -i "$d/f$k.y4m" -o "$d/u$k.y4m" 2>/dev/null || ok=0
        body "$d/u$k.y4m" >>"$d/frames.body"
    done
    if [ $ok = 1 ] && body "$d/up.y4m" | cmp -s - "$d/frames.body" && [ "$(head -1 "$d/up.y4m")" = "$(head -1 "$d/u0.y4m")" ]
    then t_pass "stream_equals_frames_$pf"; else t_fail "stream_equals_frames_$pf" "frames upscaled one by one differ"; fi

    # out.mp4 is attsr's stream through a lossy encode (x264's default CRF 23): close,
    # not equal; measured 38-40 dB
    p=$(psnr "$d/up.y4m" "$d/out.mp4")
    above "$p" 33 && t_pass "mp4_close_to_stream_$pf" || t_fail "mp4_close_to_stream_$pf" "PSNR $p dB (33 expected)"
done

# a stream cut in its 5th frame (ffmpeg killed upstream): attsr fails after 4 complete
# frames, and the encoding ffmpeg still makes a video of those 4
d=$T/yuv420p
head -c $(( $(head -1 "$d/in.y4m" | wc -c) + 4 * (6 + 64 * 48 * 3 / 2) + 100 )) "$d/in.y4m" |
    "$ATTSR" upscale -m "$MODEL" -i - -o - 2>"$d/cut.err" | ffmpeg -nostdin -v error -y -i - "$d/cut.mp4"
st=("${PIPESTATUS[@]}")
got=$(probe "$d/cut.mp4")
[ "${st[*]}" = "0 1 0" ] && [ "$got" = "128,96,yuv420p,4" ] && grep -q '(4 complete frames written)' "$d/cut.err" &&
    t_pass cut_stream_keeps_frames || t_fail cut_stream_keeps_frames "statuses ${st[*]}, $got: $(cat "$d/cut.err")"

# 4:4:4 against ffmpeg's own colour conversion (BT.601, limited range, as attsr chooses
# below 720 lines): frames -> RGB PNG -> attsr -> PNG -> Y'CbCr by ffmpeg. The PNGs'
# 8-bit rounding (attsr's stream does not round RGB) bounds the agreement: 45 dB
# (measured 50.6; the wrong matrix, --matrix 709, gives 34).
d=$T/yuv444p
SWS=(-sws_flags accurate_rnd+full_chroma_int+bitexact)
"${FF[@]}" -i "$d/in.y4m" "${SWS[@]}" -pix_fmt rgb24 "$d/rgb_%d.png"
ok=1
for k in $(seq 1 $N); do "$ATTSR" upscale -m "$MODEL" -i "$d/rgb_$k.png" -o "$d/srgb_$k.png" 2>/dev/null || ok=0; done
"${FF[@]}" -framerate 10 -i "$d/srgb_%d.png" "${SWS[@]}" -pix_fmt yuv444p -f yuv4mpegpipe "$d/ref.y4m"
p=$(psnr "$d/up.y4m" "$d/ref.y4m")
[ $ok = 1 ] && above "$p" 45 && t_pass colour_matches_ffmpeg_444 || t_fail colour_matches_ffmpeg_444 "PSNR $p dB (45 expected)"

# ffmpeg's other streams, straight as y4m: the output must be what ffmpeg reads back
y4m() { local out=$1; shift; "${FF[@]}" -f lavfi -i testsrc=size=65x49:rate=10 -frames:v 3 "$@" -strict -1 -f yuv4mpegpipe "$out"; }
# odd sizes (a half chroma column, and row in 4:2:0): ffmpeg's plane layout is attsr's
for pf in yuv420p yuv422p; do
    y4m "$T/odd.y4m" -pix_fmt $pf
    "$ATTSR" upscale -m "$MODEL" -i - -o - <"$T/odd.y4m" 2>/dev/null >"$T/odd_up.y4m"
    got=$(probe "$T/odd_up.y4m")
    raw=$(ffmpeg -nostdin -v error -i "$T/odd_up.y4m" -f rawvideo - | wc -c)
    chroma=$([ $pf = yuv420p ] && echo $((65 * 49)) || echo $((65 * 98)))  # Cb's size, Cr's the same
    [ "$got" = "130,98,$pf,3" ] && [ "$raw" -eq $((3 * (130 * 98 + 2 * chroma))) ] && t_pass "odd_size_$pf" ||
        t_fail "odd_size_$pf" "$got, $raw bytes"
done
# full range (yuvj420p: C420jpeg XCOLORRANGE=FULL) stays full range
y4m "$T/full.y4m" -pix_fmt yuvj420p
"$ATTSR" upscale -m "$MODEL" -i "$T/full.y4m" -o "$T/full_up.y4m" 2>/dev/null
r=$(ffprobe -v error -select_streams v:0 -show_entries stream=color_range -of csv=p=0 "$T/full_up.y4m")
[ "$r" = pc ] && head -1 "$T/full_up.y4m" | grep -q 'W130 H98 .*XCOLORRANGE=FULL' && t_pass full_range ||
    t_fail full_range "color_range $r: $(head -1 "$T/full_up.y4m")"
# gray
y4m "$T/gray.y4m" -pix_fmt gray
"$ATTSR" upscale -m "$MODEL" -i - -o - <"$T/gray.y4m" 2>/dev/null >"$T/gray_up.y4m"
got=$(probe "$T/gray_up.y4m")
[ "$got" = "130,98,gray,3" ] && t_pass gray || t_fail gray "$got"
# interlaced: upscaled as progressive frames, said so on stderr and in the header
y4m "$T/tff.y4m" -pix_fmt yuv420p -vf setfield=tff
"$ATTSR" upscale -m "$MODEL" -i - -o - <"$T/tff.y4m" 2>"$T/tff.err" >"$T/tff_up.y4m"
f=$(ffprobe -v error -select_streams v:0 -show_entries stream=field_order -of csv=p=0 "$T/tff_up.y4m")
head -1 "$T/tff.y4m" | grep -q ' It ' && head -1 "$T/tff_up.y4m" | grep -q ' Ip ' && [ "$f" = progressive ] &&
    grep -q 'interlaced video is upscaled as progressive frames' "$T/tff.err" && t_pass interlaced_as_progressive ||
    t_fail interlaced_as_progressive "field order $f: $(head -1 "$T/tff_up.y4m"); $(cat "$T/tff.err")"
# 10 bits: refused in one line that says how to convert
y4m "$T/p10.y4m" -pix_fmt yuv420p10le
expect_error ten_bits_refused "" "$ATTSR" upscale -m "$MODEL" -i "$T/p10.y4m" -o -
"$ATTSR" upscale -m "$MODEL" -i "$T/p10.y4m" -o - 2>&1 >/dev/null | grep -q 'pix_fmt yuv420p' &&
    t_pass ten_bits_hint || t_fail ten_bits_hint
exit 0
