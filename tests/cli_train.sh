#!/usr/bin/env bash
# attsr train: a run killed with SIGKILL at arbitrary moments and resumed ends with
# weights bit-identical to an uninterrupted run (same seed and threads); SIGINT saves
# and exits 130; a damaged decomposition cache entry is detected and rebuilt.
source "$(dirname "$0")/lib_cli.sh"
ARGS=(-d samples --scale 2 --feats 8 --groups 1 --blocks 2 --attention ca --batch 2 --patch 24
      --steps 600 --ckpt-every 7 --log-every 50 --val "" --threads 1 --seed 5 --cache "$T/cache")

"$ATTSR" train "${ARGS[@]}" -o "$T/a" 2>"$T/a.err"
[ $? -eq 0 ] && [ -f "$T/a/model.safetensors" ] && t_pass train_runs || t_fail train_runs "$(tail -2 "$T/a.err")"
ref=$(md5sum < "$T/a/model.safetensors")
steps=$(grep -c '"loss"' "$T/a/log.jsonl")
[ "$steps" -eq 600 ] && t_pass train_log_lines || t_fail train_log_lines "$steps log lines"

# killed at random moments, resumed until it completes
kills=0
for i in $(seq 1 40); do
    "$ATTSR" train "${ARGS[@]}" -o "$T/b" --resume 2>>"$T/b.err" &
    pid=$!
    sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
    if kill -9 $pid 2>/dev/null; then kills=$((kills + 1)); fi
    wait $pid 2>/dev/null
    if grep -q '"step":600,' "$T/b/log.jsonl" 2>/dev/null && [ -f "$T/b/model.safetensors" ]; then
        # finished (or killed right at the end): one more resume must be a no-op
        "$ATTSR" train "${ARGS[@]}" -o "$T/b" --resume 2>>"$T/b.err" && break
    fi
done
got=$(md5sum < "$T/b/model.safetensors" 2>/dev/null)
if [ "$got" = "$ref" ] && [ $kills -gt 0 ]; then t_pass "kill9_resume_bit_identical ($kills kills)"
else t_fail kill9_resume_bit_identical "$kills kills; weights differ from the uninterrupted run"; fi
steps=$(grep -c '"loss"' "$T/b/log.jsonl")
[ "$steps" -eq 600 ] && t_pass resumed_log_lines || t_fail resumed_log_lines "$steps loss lines after resumes"
ls "$T/b" | grep -q 'tmp-' && t_fail no_temp_files_left "$(ls "$T/b")" || t_pass no_temp_files_left

# SIGINT: saves a checkpoint and exits 130; resuming completes to the same weights
"$ATTSR" train "${ARGS[@]}" -o "$T/c" 2>"$T/c.err" &
pid=$!
sleep 0.5
kill -INT $pid
wait $pid
rc=$?
if [ $rc -eq 130 ] && [ -f "$T/c/checkpoint.safetensors" ] && grep -q interrupted "$T/c.err"; then t_pass sigint_saves
else t_fail sigint_saves "status $rc: $(tail -1 "$T/c.err")"; fi
"$ATTSR" train "${ARGS[@]}" -o "$T/c" --resume 2>>"$T/c.err"
[ "$(md5sum < "$T/c/model.safetensors")" = "$ref" ] && t_pass sigint_resume_bit_identical || t_fail sigint_resume_bit_identical

# a damaged cache entry is rebuilt, and training is unchanged by it
f=$(ls "$T/cache"/*.satv | head -1)
printf 'garbage' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null
"$ATTSR" train "${ARGS[@]}" -o "$T/d" 2>"$T/d.err"
if grep -q "1 decomposed now" "$T/d.err" && [ "$(md5sum < "$T/d/model.safetensors")" = "$ref" ]; then t_pass damaged_cache_rebuilt
else t_fail damaged_cache_rebuilt "$(grep dataset: "$T/d.err")"; fi

# two threads: still bit-identical run to run (reductions are summed in a fixed order)
A2=(-d samples --scale 3 --feats 8 --groups 1 --blocks 1 --attention sa1 --batch 2 --patch 16
    --steps 60 --val "" --threads 2 --seed 9 --cache "$T/cache")
"$ATTSR" train "${A2[@]}" -o "$T/t1" 2>/dev/null && "$ATTSR" train "${A2[@]}" -o "$T/t2" 2>/dev/null
if cmp -s "$T/t1/model.safetensors" "$T/t2/model.safetensors"; then t_pass two_threads_deterministic
else t_fail two_threads_deterministic "two identical 2-thread runs differ"; fi

# training curves as a PNG (tools/plot_training.sh, gnuplot)
if command -v gnuplot >/dev/null; then
    if bash tools/plot_training.sh "$T/a" >/dev/null 2>&1 && [ "$(head -c 4 "$T/a/curves.png" | od -An -c | tr -d ' ')" = '211PNG' ]
    then t_pass curves_png; else t_fail curves_png "no PNG from tools/plot_training.sh"; fi
else
    t_skip curves_png "gnuplot not installed"
fi

# --lr-schedule cosine with --warmup: the learning rate each log line reports, against
# its definition evaluated by awk (step k used the rate of k - 1 steps done)
"$ATTSR" train "${ARGS[@]}" -o "$T/cos" --steps 20 --log-every 1 --lr 1e-3 --lr-schedule cosine \
    --lr-min 1e-5 --warmup 5 2>"$T/cos.err"
bad=$(grep '"loss"' "$T/cos/log.jsonl" 2>/dev/null | sed 's/.*"step":\([0-9]*\),.*"lr":\([^}]*\)}/\1 \2/' |
      awk 'BEGIN { n = 0 } { n++; t = $1 - 1; want = 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + cos(3.141592653589793 * t / 20))
           if (t < 5) want *= (t + 1) / 5
           if ($2 < want * 0.999 || $2 > want * 1.001) print "step " $1 ": " $2 " want " want }
           END { if (n != 20) print n " log lines" }')
[ -z "$bad" ] && t_pass lr_cosine_warmup_log || t_fail lr_cosine_warmup_log "$(echo $bad | head -c 300)"

# attsr export: a run with --ema trains the same raw weights as one without (the
# average only watches), so its exported raw weights are the plain run's model file;
# its default export is its own model file (the average); a plain run's default is raw.
A3=(-d samples --scale 2 --feats 8 --groups 1 --blocks 1 --attention ca --batch 2 --patch 16
    --steps 12 --val "" --threads 1 --seed 3 --cache "$T/cache")
"$ATTSR" train "${A3[@]}" -o "$T/plain" 2>/dev/null && "$ATTSR" train "${A3[@]}" -o "$T/ema" --ema 0.8 2>/dev/null
"$ATTSR" export -c "$T/ema/checkpoint.safetensors" -o "$T/ema_raw.safetensors" --weights raw >/dev/null &&
    "$ATTSR" export -c "$T/ema/checkpoint.safetensors" -o "$T/ema_avg.safetensors" >/dev/null &&
    "$ATTSR" export -c "$T/plain/checkpoint.safetensors" -o "$T/plain_raw.safetensors" >/dev/null
if cmp -s "$T/ema_raw.safetensors" "$T/plain/model.safetensors" && cmp -s "$T/ema_avg.safetensors" "$T/ema/model.safetensors" &&
   cmp -s "$T/plain_raw.safetensors" "$T/plain/model.safetensors" && ! cmp -s "$T/ema_raw.safetensors" "$T/ema_avg.safetensors"
then t_pass export_raw_and_average; else t_fail export_raw_and_average "exported weights differ from the runs' model files"; fi
expect_error export_no_average "$T/x.safetensors" "$ATTSR" export -c "$T/plain/checkpoint.safetensors" -o "$T/x.safetensors" --weights ema
expect_error export_not_checkpoint "$T/x.safetensors" "$ATTSR" export -c "$T/plain/model.safetensors" -o "$T/x.safetensors"
expect_error export_bad_weights "$T/x.safetensors" "$ATTSR" export -c "$T/ema/checkpoint.safetensors" -o "$T/x.safetensors" --weights best
cp "$T/ema/checkpoint.safetensors" "$T/ema_ckpt_copy"
expect_error export_over_input "" "$ATTSR" export -c "$T/ema/checkpoint.safetensors" -o "$T/ema/checkpoint.safetensors"
cmp -s "$T/ema/checkpoint.safetensors" "$T/ema_ckpt_copy" && t_pass export_input_intact || t_fail export_input_intact "the checkpoint changed"
expect_error export_no_output "" "$ATTSR" export -c "$T/ema/checkpoint.safetensors"

# --precision bf16: the convolutions take bf16 operands, so the weights differ from an
# fp32 run's, while validation runs in fp32: the logged score is what `attsr eval` gives
# the model file.
P=(-d samples --scale 2 --feats 8 --groups 1 --blocks 2 --attention ca --batch 2 --patch 24
   --steps 20 --val samples --val-every 20 --log-every 50 --threads 1 --seed 5 --cache "$T/cache")
if "$ATTSR" info -m models/attsr_x2.safetensors --precision bf16 >/dev/null 2>&1; then
    "$ATTSR" train "${P[@]}" -o "$T/bf" --precision bf16 2>"$T/bf.err"; rc=$?
    "$ATTSR" train "${P[@]}" -o "$T/f32" 2>"$T/f32.err"
    logged=$(sed -n 's/.*"val_psnr":\([0-9.]*\).*/\1/p' "$T/bf/log.jsonl" | tail -1)
    scored=$("$ATTSR" eval -m "$T/bf/model.safetensors" --scale 2 --json samples 2>/dev/null |
             sed -n 's/^[^[]*\[{"name": "samples", "psnr": \([0-9.]*\).*/\1/p')
    if [ $rc -eq 0 ] && [ -n "$logged" ] && [ -n "$scored" ] &&
       awk -v a="$logged" -v b="$scored" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }'; then
        t_pass bf16_validation_in_fp32
    else t_fail bf16_validation_in_fp32 "rc $rc, logged '$logged', eval '$scored'"; fi
    cmp -s "$T/bf/model.safetensors" "$T/f32/model.safetensors" && t_fail bf16_changes_the_arithmetic \
        "bf16 and fp32 runs wrote the same weights" || t_pass bf16_changes_the_arithmetic
else
    expect_error train_bf16_unsupported "$T/bf/model.safetensors" "$ATTSR" train "${P[@]}" -o "$T/bf" --precision bf16
    t_skip bf16_validation_in_fp32 "this CPU has neither AVX512-BF16 nor AMX"
fi
expect_error train_bad_precision "" "$ATTSR" train -d samples -o "$T/e" --precision fp16

# bad input to train
expect_error train_no_data "$T/e/model.safetensors" "$ATTSR" train -d "$T/nope" -o "$T/e"
expect_error train_bad_gradnorm "" "$ATTSR" train -d samples -o "$T/e" --gradnorm maybe
expect_error train_warmup_gradnorm_off "" "$ATTSR" train -d samples -o "$T/e" --gradnorm off --gradnorm-warmup 10
expect_error train_warmup_negative "" "$ATTSR" train -d samples -o "$T/e" --gradnorm-warmup -1
expect_error train_bad_schedule "" "$ATTSR" train -d samples -o "$T/e" --lr-schedule linear
expect_error train_cosine_milestones "" "$ATTSR" train -d samples -o "$T/e" --lr-schedule cosine --milestones 10
expect_error train_lr_min_above_lr "" "$ATTSR" train -d samples -o "$T/e" --lr 1e-4 --lr-min 1e-3
expect_error train_ema_one "" "$ATTSR" train -d samples -o "$T/e" --ema 1
expect_error train_ema_negative "" "$ATTSR" train -d samples -o "$T/e" --ema -0.5
expect_error train_patch_too_big "" "$ATTSR" train -d samples -o "$T/e" --patch 200 --val ""
exit 0
