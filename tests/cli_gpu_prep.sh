#!/usr/bin/env bash
# tools/gpu/train_torch.py (the GPU lease's trainer, run here on the CPU) against attsr:
# its MATLAB bicubic against `attsr degrade`, its SATV against `attsr decompose`, its
# validation PSNR against `attsr eval`, and its checkpoint continued by `attsr train
# --resume` (and attsr's by it) with the same flags. Needs Debian's python3 with torch,
# numpy and PIL (python3-torch is not in deps/: large); skips without them.
source "$(dirname "$0")/lib_cli.sh"
PY=${ATTSR_PYTHON:-/usr/bin/python3}
TT=tools/gpu/train_torch.py
CK=tools/gpu/check_torch.py
if ! "$PY" -c 'import torch, numpy, PIL' 2>/dev/null; then
    t_skip gpu_prep "$PY lacks torch, numpy or PIL (apt-get install python3-torch python3-pil)"
    exit 0
fi
export OMP_NUM_THREADS=1

# ---- the checkpoint both ways (samples/: no ../shared needed) -----------------------
ARGS=(-d samples --scale 2 --feats 8 --fe-groups 1 --groups 1 --blocks 1 --attention ca --ca-reduction 4
      --batch 2 --patch 16 --gradnorm off --steps 9 --lr 1e-3 --lr-schedule cosine --lr-min 1e-5
      --warmup 2 --ema 0.9 --val "$T/val" --val-every 3 --seed 3 --threads 1)
mkdir -p "$T/val"
"$PY" -c "from PIL import Image; Image.open('samples/zebra.png').crop((0, 0, 64, 48)).save('$T/val/z.png')"
"$ATTSR" init --scale 2 --feats 8 --groups 1 --blocks 1 --attention ca --ca-reduction 4 --seed 1 \
    -o "$T/init.safetensors" >/dev/null 2>&1
meta() { head -c 4096 "$1" | tr -d '\0' | grep -ao "\"$2\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }

"$PY" $TT "${ARGS[@]}" --init "$T/init.safetensors" -o "$T/r" --stop-after 3 2>"$T/t1.err"
rc=$?
if [ $rc -eq 130 ] && [ "$(meta "$T/r/checkpoint.safetensors" step)" = 3 ] && \
   [ "$(meta "$T/r/checkpoint.safetensors" adam_t)" = 3 ]; then t_pass torch_checkpoint_written
else t_fail torch_checkpoint_written "status $rc: $(tail -2 "$T/t1.err")"; fi
# the model file holds the moving average: attsr's export of the checkpoint's, by its
# table, must be the same tensors (so the flat order is attsr's)
"$ATTSR" export -c "$T/r/checkpoint.safetensors" -o "$T/ema.safetensors" >/dev/null 2>&1 &&
    "$PY" $CK same "$T/ema.safetensors" "$T/r/model.safetensors" && t_pass torch_checkpoint_table_order ||
    t_fail torch_checkpoint_table_order "attsr export's average differs from train_torch's model file"
"$ATTSR" export -c "$T/r/checkpoint.safetensors" -o "$T/raw.safetensors" --weights raw >/dev/null 2>&1 &&
    ! "$PY" $CK same "$T/raw.safetensors" "$T/r/model.safetensors" && t_pass torch_checkpoint_raw_differs ||
    t_fail torch_checkpoint_raw_differs "the raw weights equal the average after 3 steps"
cp "$T/r/log.jsonl" "$T/log3"
"$ATTSR" train "${ARGS[@]}" -o "$T/r" --resume --steps 6 2>"$T/a.err"
rc=$?
ck=$T/r/checkpoint.safetensors
if [ $rc -eq 0 ] && grep -q "resuming .* at step 3" "$T/a.err" && [ "$(meta "$ck" step)" = 6 ] &&
   [ "$(meta "$ck" adam_t)" = 6 ] && [ "$(grep -c '"loss"' "$T/r/log.jsonl")" = 6 ] &&
   [ "$(head -3 "$T/r/log.jsonl")" = "$(head -3 "$T/log3")" ]; then t_pass attsr_resumes_torch_checkpoint
else t_fail attsr_resumes_torch_checkpoint "status $rc: $(tail -2 "$T/a.err")"; fi
# and back: train_torch continues attsr's checkpoint to --steps
"$PY" $TT "${ARGS[@]}" -o "$T/r" --resume 2>"$T/t2.err"
rc=$?
if [ $rc -eq 0 ] && grep -q "resuming .* at step 6" "$T/t2.err" && [ "$(meta "$ck" step)" = 9 ] &&
   [ "$(meta "$ck" adam_t)" = 9 ] && [ "$(grep -c '"loss"' "$T/r/log.jsonl")" = 9 ] &&
   [ "$(grep -c val_psnr "$T/r/log.jsonl")" = 3 ]; then t_pass torch_resumes_attsr_checkpoint
else t_fail torch_resumes_attsr_checkpoint "status $rc: $(tail -2 "$T/t2.err")"; fi
# a wrong seed is refused, as attsr does
"$PY" $TT "${ARGS[@]}" -o "$T/r" --resume --seed 4 2>"$T/t3.err"
[ $? -eq 1 ] && grep -q "made with --seed 3" "$T/t3.err" && t_pass torch_resume_seed_checked ||
    t_fail torch_resume_seed_checked "$(tail -1 "$T/t3.err")"

# its Adam is torch.optim.Adam's, bit for bit (attsr's is tested against that)
"$PY" - <<'EOF' && t_pass torch_adam_is_torch_optim_adam || t_fail torch_adam_is_torch_optim_adam
import sys, torch
sys.path.insert(0, "tools/gpu")
from train_torch import adam_update
torch.manual_seed(0)
w0 = torch.randn(1000)
p = torch.nn.Parameter(w0.clone())
opt = torch.optim.Adam([p], lr=1e-3)
w, m, v = w0.clone(), torch.zeros(1000), torch.zeros(1000)
for t in range(1, 21):
    g, lr = torch.randn(1000), 1e-3 * t / 20
    opt.param_groups[0]["lr"] = lr
    p.grad = g.clone()
    opt.step()
    adam_update(w, g, m, v, t, lr)
sys.exit(0 if torch.equal(w, p.detach()) and not torch.equal(w, w0) else 1)
EOF

# --bf16 (autocast; on the CPU here) runs and logs finite losses
"$PY" $TT "${ARGS[@]}" --init "$T/init.safetensors" -o "$T/bf" --steps 2 --val "" --bf16 2>"$T/bf.err"
[ $? -eq 0 ] && [ "$(grep -c '"loss":[0-9]' "$T/bf/log.jsonl")" = 2 ] && t_pass torch_bf16_runs ||
    t_fail torch_bf16_runs "$(tail -1 "$T/bf.err")"

# ---- the ports against attsr on real images ----------------------------------------
if [ -z "$SHARED" ]; then
    t_skip gpu_prep_ports "no ../shared (benchmark images)"
    exit 0
fi
# the torch side is the same for every build, and attsr's degrade, decompose and eval
# have their own tests on each: the optimised build alone (2 minutes)
case "${ATTSR_BUILD:-build}" in
*/build | build) ;;
*) t_skip gpu_prep_ports "run against build/ only ($ATTSR_BUILD: the same torch code)"; exit 0 ;;
esac
S5=$SHARED/data/benchmark/Set5/HR
for s in 2 3 4; do
    worst=0
    for img in "$S5/butterfly.png" "$SHARED/data/train/T91/t1.png"; do
        "$ATTSR" degrade --scale $s -i "$img" -o "$T/a.npy" 2>/dev/null
        "$PY" $CK degrade $s "$img" "$T/b.npy"
        read -r d frac < <("$PY" $CK maxdiff "$T/a.npy" "$T/b.npy")
        # one 8-bit level at most (1/255 = 0.00392), and only where the double sum lies on
        # a rounding tie (summed in another order than resize.c's): under 0.5% of the values
        awk -v d="$d" 'BEGIN { exit !(d < 0.0040) }' || worst=1
        worst=$(awk -v a="$worst" -v b="$frac" 'BEGIN { print (b > a ? b : a) }')
    done
    awk -v w="$worst" 'BEGIN { exit !(w <= 0.005) }' && t_pass "torch_degrade_x$s (values one level off: $worst)" ||
        t_fail "torch_degrade_x$s" "more than one level off, or too many values one level off ($worst)"
done
for img in "$S5/butterfly.png" "$SHARED/data/train/T91/t1.png"; do
    "$ATTSR" decompose -i "$img" --structure "$T/a.npy" >/dev/null 2>&1
    "$PY" $CK decompose "$img" "$T/b.npy"
    read -r d frac < <("$PY" $CK maxdiff "$T/a.npy" "$T/b.npy")
    awk -v d="$d" 'BEGIN { exit !(d < 1e-5) }' && t_pass "torch_satv_$(basename "$img" .png) (max diff $d)" ||
        t_fail "torch_satv_$(basename "$img" .png)" "max |S_torch - S_attsr| = $d"
done
mkdir -p "$T/set5"
cp "$S5/butterfly.png" "$S5/bird.png" "$T/set5/"
for s in 2 3; do
    a=$("$ATTSR" eval -m models/attsr_x$s.safetensors --scale $s "$T/set5" --json 2>/dev/null |
        grep -o '"psnr": [0-9.]*' | head -1 | cut -d' ' -f2)
    b=$("$PY" $CK eval models/attsr_x$s.safetensors $s "$T/set5")
    awk -v a="$a" -v b="$b" 'BEGIN { d = a - b; exit !(a > 20 && d < 0.01 && d > -0.01) }' &&
        t_pass "torch_val_psnr_x$s ($a vs $b dB)" || t_fail "torch_val_psnr_x$s" "attsr eval $a, train_torch $b"
done
