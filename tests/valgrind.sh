#!/usr/bin/env bash
# The command line under Valgrind (memcheck): every command on valid input (PNG and JPEG
# in and out, --structure/--texture, --tile, folders; eval; degrade; init; decompose;
# train with validation, checkpoints and --resume) and on bad input (broken files, bad
# flags). Each run must end with the expected exit status and no Valgrind error: no
# invalid read or write, no use of uninitialised memory, no definite or possible leak
# (--error-exitcode=99 --leak-check=full). tests/valgrind.supp holds the third-party
# noise only (libgomp, oneDNN); anything in attsr's code is a failure.
#
# Usage: tests/valgrind.sh [BUILD [REGEX]]   BUILD: default build-vg, built here
#        (make BUILD=build-vg MPI=0 OPT='-O1 -g'); REGEX: only the runs it matches
# Not part of tests/run.sh by default (about 5 minutes on 2 cores, more when shared):
# ATTSR_VALGRIND=1 tests/run.sh ... or scripts/test.sh adds it. Logs: BUILD/valgrind/.
set -u
cd "$(dirname "$0")/.."
BUILD=${1:-build-vg}
ONLY=${2:-}
if [ "$BUILD" = build-vg ]; then
    make -s -j"$(nproc)" BUILD=build-vg MPI=0 OPT='-O1 -g' build-vg/attsr || { echo "FAIL valgrind.sh:build"; exit 1; }
fi
export ATTSR_BIN=$PWD/$BUILD/attsr
source tests/lib_cli.sh
command -v valgrind >/dev/null || { t_skip valgrind "valgrind not installed"; exit 0; }
LOGS=$BUILD/valgrind
rm -rf "$LOGS"
mkdir -p "$LOGS"
VG=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,possible
    --suppressions=tests/valgrind.supp --num-callers=30 --track-origins=yes)
X2=fuzz/data/x2.safetensors  # tiny committed models
X3=fuzz/data/x3.safetensors

# vg NAME STATUS CMD...: runs `attsr CMD...` under Valgrind; passes when it exits with
# STATUS and Valgrind reports no error (its log: $LOGS/NAME.log)
vg() {
    local name=$1 want=$2; shift 2
    [[ -z "$ONLY" || "$name" =~ $ONLY ]] || return 0
    runs=$((runs + 1))
    local t0=$SECONDS
    "${VG[@]}" --log-file="$LOGS/$name.log" "$ATTSR" "$@" >"$LOGS/$name.out" 2>"$LOGS/$name.err"
    local rc=$?
    local errs; errs=$(grep -ao 'ERROR SUMMARY: [0-9]*' "$LOGS/$name.log" | tail -1 | grep -o '[0-9]*$')
    if [ $rc -eq 99 ] || [ "${errs:-x}" != 0 ]; then
        t_fail "$name" "Valgrind: ${errs:-?} errors (status $rc), see $LOGS/$name.log"
    elif [ $rc -ne "$want" ]; then
        t_fail "$name" "status $rc, expected $want: $(tail -1 "$LOGS/$name.err")"
    else
        t_pass "$name ($((SECONDS - t0))s)"
        return
    fi
    failed=$((failed + 1))
}
runs=0 failed=0

# ---- inputs ----
mkdir -p "$T/hr" "$T/val" "$T/in" "$T/train"
"$BUILD/attsr" degrade --scale 2 -i samples/zebra.png -o "$T/in/zebra.jpg"       # 96x96 JPEG
"$BUILD/attsr" degrade --scale 4 -i samples/butterfly.png -o "$T/small.png"       # 48x48
"$BUILD/attsr" degrade --scale 4 -i samples/comic.png -o "$T/in/comic.png"
"$BUILD/attsr" degrade --scale 2 -i "$T/small.png" -o "$T/tiny.png"               # 24x24
printf 'junk' >"$T/in/bad.png"
for f in butterfly comic; do "$BUILD/attsr" degrade --scale 2 -i samples/$f.png -o "$T/train/$f.png"; done
"$BUILD/attsr" degrade --scale 2 -i samples/zebra.png -o "$T/val/zebra.png"
cp samples/butterfly.png "$T/hr/"
head -c 3000 samples/comic.png >"$T/truncated.png"
head -c 200 "$T/in/zebra.jpg" >"$T/truncated.jpg"
head -c 2000 $X2 >"$T/truncated.safetensors"

# ---- upscale ----
vg upscale_png 0 upscale -m $X2 -i "$T/small.png" -o "$T/o.png" --threads 1
vg upscale_jpeg_branches_threads2 0 upscale -m $X2 -i "$T/in/zebra.jpg" -o "$T/o.jpg" \
    --structure "$T/s.png" --texture "$T/t.jpg" --threads 2
vg upscale_tile 0 upscale -m $X3 -i "$T/small.png" -o "$T/o.npy" --structure "$T/s.npy" --texture "$T/t.npy" \
    --tile 20 --overlap 6 --threads 1
vg upscale_rgba 0 upscale -m $X2 -i tests/fixtures/image/png_rgba8.png -o "$T/rgba.png" --threads 1
vg upscale_bicubic 0 upscale --bicubic --scale 3 -i "$T/in/zebra.jpg" -o "$T/b.png"
vg upscale_folder_with_bad_file 1 upscale -m $X2 -i "$T/in" -o "$T/out" --tile 32 --threads 1

# ---- eval, degrade, init, decompose ----
vg eval_model 0 eval -m $X2 --scale 2 "$T/val" "$T/hr" --threads 1
vg eval_bicubic_json 0 eval --bicubic --scale 4 --json "$T/hr"
vg degrade_png_to_jpeg 0 degrade --scale 3 -i samples/comic.png -o "$T/d.jpg"
vg degrade_jpeg_to_png 0 degrade --scale 2 -i "$T/in/zebra.jpg" -o "$T/d.png"
vg init_sa4 0 init --scale 3 --feats 8 --fe-groups 1 --groups 1 --blocks 1 --attention sa4 -o "$T/m.safetensors"
vg init_ca 0 init --scale 2 --feats 8 --groups 1 --blocks 2 --attention ca --ca-reduction 4 -o "$T/m2.safetensors"
vg upscale_sa4 0 upscale -m "$T/m.safetensors" -i "$T/tiny.png" -o "$T/o3.png" --threads 1
vg decompose 0 decompose -i "$T/small.png" --structure "$T/ds.png" --texture "$T/dt.jpg"
vg decompose_npy 0 decompose -i "$T/in/zebra.jpg" --structure "$T/ds.npy" --iters 5 --lambda 1.5
vg info_timed_json 0 info -m $X2 --size 24 --runs 2 --json --threads 1
vg err_info_no_model 1 info -m "$T/missing.safetensors"

# ---- train: a few steps, validation, checkpoints, then --resume to more steps ----
TR=(train -d "$T/train" --scale 2 --feats 4 --fe-groups 1 --groups 1 --blocks 1 --attention ca --ca-reduction 2
    --batch 2 --patch 12 --val "$T/val" --val-every 2 --ckpt-every 2 --log-every 1 --threads 1 --seed 3
    --cache "$T/cache")
vg train 0 "${TR[@]}" -o "$T/run" --steps 3
vg train_resume 0 "${TR[@]}" -o "$T/run" --steps 5 --resume
vg train_init_gradnorm_off 0 "${TR[@]}" -o "$T/run2" --steps 2 --init "$T/run/model.safetensors" --gradnorm off \
    --milestones 1 --threads 2

# ---- error paths ----
vg err_upscale_truncated_png 1 upscale --bicubic --scale 2 -i "$T/truncated.png" -o "$T/e.png"
vg err_upscale_truncated_jpeg 1 upscale -m $X2 -i "$T/truncated.jpg" -o "$T/e.png"
vg err_upscale_bad_png 1 upscale -m $X2 -i "$T/in/bad.png" -o "$T/e.png"
vg err_upscale_truncated_model 1 upscale -m "$T/truncated.safetensors" -i "$T/small.png" -o "$T/e.png"
vg err_upscale_model_is_image 1 upscale -m "$T/small.png" -i "$T/small.png" -o "$T/e.png"
vg err_upscale_missing_input 1 upscale -m $X2 -i "$T/nope.png" -o "$T/e.png"
vg err_upscale_pixel_limit 1 upscale -m $X2 -i "$T/small.png" -o "$T/e.png" --max-pixels 100
vg err_upscale_output_is_input 1 upscale --bicubic --scale 2 -i "$T/small.png" -o "$T/small.png"
vg err_upscale_bad_tile 1 upscale -m $X2 -i "$T/small.png" -o "$T/e.png" --tile -1
vg err_unknown_flag 1 upscale --bogus -i "$T/small.png" -o "$T/e.png"
vg err_unknown_command 2 frobnicate
vg err_missing_value 1 degrade --scale
vg err_degrade_bad_scale 1 degrade --scale 5 -i "$T/small.png" -o "$T/e.png"
vg err_degrade_bad_extension 1 degrade --scale 2 -i "$T/small.png" -o "$T/e.gif"
vg err_eval_missing_folder 1 eval -m $X2 --scale 2 "$T/nope"
vg err_eval_scale_mismatch 1 eval -m $X2 --scale 3 "$T/val"
vg err_init_bad_attention 1 init --scale 2 --attention maybe -o "$T/e.safetensors"
vg err_decompose_truncated 1 decompose -i "$T/truncated.png" --structure "$T/e.png"
vg err_train_no_data 1 train -d "$T/nope" -o "$T/e" --val ""
vg err_train_bad_gradnorm 1 train -d "$T/train" -o "$T/e" --gradnorm maybe
vg err_train_resume_other_seed 1 "${TR[@]}" -o "$T/run" --steps 6 --resume --seed 4
vg help_train 0 train --help
echo "valgrind.sh: $runs runs, $failed failed, ${SECONDS}s; logs in $LOGS/"
[ $failed -eq 0 ]
