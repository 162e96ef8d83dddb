#!/usr/bin/env bash
# Every command checks its inputs, outputs and their relations before it computes
# (docs/security.md, "Inputs, outputs and their relations"): a FIFO or other
# non-regular input is refused without blocking; two outputs naming one file, or an
# output naming an input, by any path, are refused; an output path that cannot be
# written is refused before the work; names up to NAME_MAX can be written; a folder
# without images, and each file skipped in one, is reported.
source "$(dirname "$0")/lib_cli.sh"
cd "$T" || exit 1
ROOT=$OLDPWD
cp "$ROOT/samples/comic.png" in.png
"$ATTSR" init --scale 2 --feats 4 --fe-groups 0 --groups 1 --blocks 1 -o m.safetensors >/dev/null || t_fail init
TRAIN=(--scale 2 --feats 4 --fe-groups 0 --groups 1 --blocks 1 --steps 2 --batch 2 --patch 8 --val "" --threads 1)
mkdir data && cp "$ROOT/samples/comic.png" "$ROOT/samples/zebra.png" data/
sum() { md5sum "$@" | awk '{print $1}'; }

# expect_error (lib_cli.sh), but a command still running after 10 s fails as blocked
refused() {
    local name=$1
    timeout 10 "${@:3}" >/dev/null 2>&1
    if [ $? -eq 124 ]; then t_fail "$name" "blocked (still running after 10 s)"; return; fi
    expect_error "$@"
}
# refused, and stderr names WORD
refused_naming() {
    local name=$1 word=$2; shift 2
    local err
    err=$(timeout 10 "${@:2}" 2>&1 >/dev/null)
    if [[ "$err" != *"$word"* ]]; then t_fail "$name" "the message does not name '$word': $err"; return; fi
    refused "$name" "$@"
}

# ---- 1. a FIFO (or a folder, a device) as an input, for every command that reads one
mkfifo fifo.png fifo.safetensors
refused_naming fifo_upscale fifo.png f1out "$ATTSR" upscale --bicubic --scale 2 -i fifo.png -o f1out.png
refused_naming fifo_degrade fifo.png f1out "$ATTSR" degrade --scale 2 -i fifo.png -o f1out.png
refused_naming fifo_decompose fifo.png f1out "$ATTSR" decompose -i fifo.png --structure out.png
refused_naming fifo_model fifo.safetensors f1out "$ATTSR" upscale -m fifo.safetensors -i in.png -o f1out.png
refused_naming fifo_info fifo.safetensors "" "$ATTSR" info -m fifo.safetensors
refused_naming fifo_export fifo.safetensors f1out "$ATTSR" export -c fifo.safetensors -o f1out.safetensors
refused_naming fifo_eval_model fifo.safetensors "" "$ATTSR" eval -m fifo.safetensors data
refused_naming fifo_train_init fifo.safetensors "" "$ATTSR" train -d data -o run_fifo --init fifo.safetensors "${TRAIN[@]}"
refused_naming dev_zero_input /dev/zero f1out "$ATTSR" degrade --scale 2 -i /dev/zero -o f1out.png
mkdir dir.png
refused_naming folder_input dir.png f1out "$ATTSR" degrade --scale 2 -i dir.png -o f1out.png
# in folders: a FIFO among the images is reported and skipped, the rest done (docs/spec.md §8)
mkdir fifodir && cp in.png fifodir/a.png && mkfifo fifodir/b.png
timeout 10 "$ATTSR" upscale --bicubic --scale 2 -i fifodir -o fifo_out 2>err; rc=$?
[ $rc -eq 1 ] && [ -f fifo_out/a.png ] && grep -q 'b.png: not a regular file' err && t_pass fifo_in_upscale_folder ||
    t_fail fifo_in_upscale_folder "status $rc: $(cat err)"
timeout 10 "$ATTSR" eval --bicubic --scale 2 fifodir >out.txt 2>err; rc=$?
[ $rc -eq 1 ] && grep -q 'fifodir *a ' out.txt && grep -q 'b.png: not a regular file' err && t_pass fifo_in_eval_folder ||
    t_fail fifo_in_eval_folder "status $rc: $(cat out.txt err)"
mkdir run_log && mkfifo run_log/log.jsonl
refused_naming fifo_train_log log.jsonl "" "$ATTSR" train -d data -o run_log "${TRAIN[@]}"
cp -r data fifodata && mkfifo fifodata/c.png
refused_naming fifo_in_train_data c.png "" "$ATTSR" train -d fifodata -o run_fifo2 "${TRAIN[@]}"

# ---- 2. two outputs naming one file, by any path; the existing file stays as it was
mkdir sub
cp in.png o.png && before=$(sum o.png)
ln -s o.png link.png
ln o.png hard.png
refused dup_structure "" "$ATTSR" upscale -m m.safetensors -i in.png -o o.png --structure o.png
refused dup_dot "" "$ATTSR" upscale -m m.safetensors -i in.png -o o.png --texture ./o.png
refused dup_dotdot "" "$ATTSR" upscale -m m.safetensors -i in.png -o o.png --structure sub/../o.png
refused dup_symlink "" "$ATTSR" upscale -m m.safetensors -i in.png -o o.png --texture link.png
refused dup_hardlink "" "$ATTSR" upscale -m m.safetensors -i in.png --structure hard.png -o o.png
refused dup_absolute "" "$ATTSR" upscale -m m.safetensors -i in.png -o o.png --structure "$T/o.png"
refused dup_new_file new "$ATTSR" upscale -m m.safetensors -i in.png -o new.png --structure sub/../new.png
refused dup_decompose new "$ATTSR" decompose -i in.png --structure new.png --texture ./sub/../new.png
[ "$(sum o.png)" = "$before" ] && t_pass dup_output_untouched || t_fail dup_output_untouched "o.png changed"
# folder mode: the output folders
mkdir imgs && cp in.png imgs/a.png
refused dup_folder "" "$ATTSR" upscale -m m.safetensors -i imgs -o outd --structure outd
refused dup_folder_dot "" "$ATTSR" upscale -m m.safetensors -i imgs -o outd --texture ./outd/
mkdir outd2 && ln -s outd2 outd2link
refused dup_folder_link "" "$ATTSR" upscale -m m.safetensors -i imgs -o outd2 --structure outd2link
[ ! -e outd ] && [ -z "$(ls outd2)" ] && t_pass dup_folder_nothing_written || t_fail dup_folder_nothing_written "$(ls outd outd2)"

# ---- 3. no output names an input, for every command
before=$(sum in.png)
refused in_upscale_structure "" "$ATTSR" upscale -m m.safetensors -i in.png -o x.png --structure ./in.png
refused in_upscale_hardlink "" "$ATTSR" upscale --bicubic --scale 2 -i hard.png -o o.png
refused in_upscale_folder "" "$ATTSR" upscale --bicubic --scale 2 -i imgs -o imgs/.
ln -s imgs imgslink
refused in_upscale_folder_link "" "$ATTSR" upscale -m m.safetensors -i imgs -o outd3 --texture imgslink
refused in_degrade "" "$ATTSR" degrade --scale 2 -i in.png -o sub/../in.png
refused in_decompose "" "$ATTSR" decompose -i in.png --structure s.png --texture "$T/in.png"
[ "$(sum in.png)" = "$before" ] && [ "$(sum imgs/a.png)" = "$before" ] && t_pass in_untouched || t_fail in_untouched
before=$(sum m.safetensors)
refused in_model "" "$ATTSR" upscale -m m.safetensors --structure ./m.safetensors -i in.png -o x.png
refused in_export "" "$ATTSR" export -c m.safetensors -o ./m.safetensors
# train: the run's files against --init, its folders against the data and validation
mkdir run && cp m.safetensors run/model.safetensors && cp m.safetensors run/best.safetensors
refused train_init_is_model "" "$ATTSR" train -d data -o run --init run/model.safetensors "${TRAIN[@]}"
refused train_init_is_best "" "$ATTSR" train -d data -o ./run/ --init "$T/run/../run/best.safetensors" "${TRAIN[@]}"
refused train_init_resume "" "$ATTSR" train -d data -o run --resume --init run/model.safetensors "${TRAIN[@]}"
[ "$(sum run/model.safetensors)" = "$before" ] && [ "$(sum run/best.safetensors)" = "$before" ] &&
    t_pass train_init_untouched || t_fail train_init_untouched
refused train_run_is_data "" "$ATTSR" train -d data -o ./data "${TRAIN[@]}"
refused train_run_is_val "" "$ATTSR" train -d data -o imgs "${TRAIN[@]}" --val imgs
refused train_cache_is_data "" "$ATTSR" train -d data -o run_c --cache data/ "${TRAIN[@]}"
[ "$(ls data)" = "$(printf 'comic.png\nzebra.png')" ] && t_pass train_data_untouched || t_fail train_data_untouched "$(ls -a data)"

# ---- 13. an output that cannot be written is refused before the work
printf 'junk' > junk.png && cp junk.png junk.safetensors
for ext in bmp gif ""; do  # bmp: read, not written
    name=${ext:-none}
    # the input is junk: an error about the output shows it was checked before reading
    refused_naming "ext_${name}_upscale" "e_up.${ext}" e_up "$ATTSR" upscale -m m.safetensors -i junk.png -o "e_up.${ext}"
    refused_naming "ext_${name}_degrade" "e_dg.${ext}" e_dg "$ATTSR" degrade --scale 2 -i junk.png -o "e_dg.${ext}"
    refused_naming "ext_${name}_decompose" "e_dt.${ext}" e_d "$ATTSR" decompose -i junk.png --structure e_ds.png --texture "e_dt.${ext}"
    # the first output is not written when a later one is refused
    refused "ext_${name}_upscale_texture" good "$ATTSR" upscale -m m.safetensors -i in.png -o good.png --texture "t.${ext}"
done
refused_naming no_folder_upscale "no folder" nodir "$ATTSR" upscale -m m.safetensors -i junk.png -o nodir/x.png
refused_naming no_folder_init "no folder" "" "$ATTSR" init --scale 2 -o nodir/m.safetensors
refused_naming no_folder_export "no folder" "" "$ATTSR" export -c junk.safetensors -o nodir/m.safetensors
refused_naming output_is_folder "dir.png" "" "$ATTSR" degrade --scale 2 -i junk.png -o dir.png
mkfifo fifo_out.png
refused_naming output_is_fifo "not a regular file" "" "$ATTSR" degrade --scale 2 -i in.png -o fifo_out.png
[ -p fifo_out.png ] && t_pass output_fifo_kept || t_fail output_fifo_kept "the FIFO was replaced"
: > file
refused_naming train_run_is_file "file" "" "$ATTSR" train -d data -o file "${TRAIN[@]}"
mkdir -p run5/model.safetensors
refused_naming train_run_file_is_folder "model.safetensors" "" "$ATTSR" train -d data -o run5 "${TRAIN[@]}"
if [ "$(id -u)" != 0 ]; then  # root may write anywhere
    mkdir ro && chmod 555 ro
    refused_naming unwritable_folder "ro/" "" "$ATTSR" upscale -m m.safetensors -i junk.png -o ro/out.png
    refused_naming unwritable_run "ro" "" "$ATTSR" train -d data -o ro/run "${TRAIN[@]}"
    chmod 755 ro
else
    t_skip unwritable_folder "running as root"
fi

# ---- 10. names of up to NAME_MAX (255) bytes, with the temp name kept within it
for n in 245 250 255; do
    f=$(printf '%*s' $((n - 4)) '' | tr ' ' a).png
    if "$ATTSR" upscale --bicubic --scale 2 -i in.png -o "$f" 2>err && [ -f "$f" ] && ! ls | grep -q 'tmp-'; then
        t_pass "long_name_$n"; else t_fail "long_name_$n" "$(cat err; ls | grep aaaa)"; fi
    rm -f "$f"
done
f=$(printf '%*s' 239 '' | tr ' ' b).safetensors  # 251 bytes
"$ATTSR" init --scale 2 --feats 4 --fe-groups 0 --groups 1 --blocks 1 -o "$f" >/dev/null 2>err && [ -f "$f" ] &&
    t_pass long_name_init || t_fail long_name_init "$(cat err)"
f=$(printf '%*s' 252 '' | tr ' ' c).png  # 256 bytes: refused at once
refused_naming long_name_256 "longer than the limit" "" "$ATTSR" upscale --bicubic --scale 2 -i in.png -o "$f"

# ---- 12. folders: no usable image is an error; each skipped file is named
mkdir empty notes && echo hi > notes/readme.txt && mkdir notes/sub
refused_naming folder_empty "empty" outd5 "$ATTSR" upscale --bicubic --scale 2 -i empty -o outd5
"$ATTSR" upscale --bicubic --scale 2 -i notes -o outd6 2>err; rc=$?
[ $rc -ne 0 ] && grep -q 'readme.txt: skipped' err && grep -q 'sub: skipped' err && grep -q 'no images' err &&
    t_pass folder_only_unsupported || t_fail folder_only_unsupported "status $rc: $(cat err)"
cp in.png notes/
"$ATTSR" upscale --bicubic --scale 2 -i notes -o outd7 2>err; rc=$?
[ $rc -eq 0 ] && [ -f outd7/in.png ] && grep -q 'readme.txt: skipped' err && t_pass folder_skipped_named ||
    t_fail folder_skipped_named "status $rc: $(cat err)"
# eval: an image smaller than the scale is named and skipped, the rest scored, exit 1
mkdir ev && cp in.png ev/a.png
# a 1x1 float .npy: 128-byte v1 header, then three float32 0.5
{ printf '\x93NUMPY\x01\x00\x76\x00'; printf '%-117s\n' "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 3), }"
  printf '\x00\x00\x00\x3f%.0s' 1 2 3; } > ev/tiny.npy
"$ATTSR" eval --bicubic --scale 2 ev empty >out.txt 2>err; rc=$?
[ $rc -eq 1 ] && grep -q 'tiny.npy.*smaller than the scale' err && grep -q 'empty: no images' err &&
    grep -q '^ev  *a ' out.txt && grep -q '^ev  *mean' out.txt && t_pass eval_skips_small_image ||
    t_fail eval_skips_small_image "status $rc: $(cat out.txt err)"
# train: what its data folders skip is counted (too small for a patch, not images)
cp -r data data12 && cp ev/tiny.npy data12/ && echo hi > data12/notes.txt
"$ATTSR" train -d data12 -o run12 "${TRAIN[@]}" 2>err; rc=$?
[ $rc -eq 0 ] && grep -q '(1 too small, skipped; 1 other file, not images, ignored)' err &&
    t_pass train_skipped_counted || t_fail train_skipped_counted "status $rc: $(cat err)"
# train: a validation image that cannot be scored stops the run before it starts
refused_naming train_val_small_image "tiny.npy" "" "$ATTSR" train -d data -o run_val "${TRAIN[@]}" --val ev
refused_naming train_val_empty "empty" "" "$ATTSR" train -d data -o run_val "${TRAIN[@]}" --val empty
exit 0
