#!/usr/bin/env bash
# attsr train under mpirun: 2 ranks with global batch B give the losses, GradNorm task
# weights and final weights of 1 rank with batch B (to fp32 reduction-order rounding),
# with B odd so the shards are unequal; one rank through mpirun is bit-identical to no
# mpirun; a rank killed with SIGKILL ends the job, and --resume with the same number
# of ranks ends bit-identical to an uninterrupted run; SIGTERM to one rank stops every
# rank after the same step and saves. A build without MPI refuses to run as 2 ranks.
source "$(dirname "$0")/lib_cli.sh"
if ! command -v mpirun >/dev/null; then
    t_skip mpi "mpirun not found (apt-get install openmpi-bin libopenmpi-dev; make MPI=1)"
    exit 0
fi
# CI runs as root; shared-memory single copy needs ptrace rights that containers lack
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
# An ASan build: Open MPI's own allocations outlive MPI_Finalize; LeakSanitizer is told
# about those only (see the file; the slow unwinder reaches Open MPI's frames)
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan-openmpi.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
MPIRUN=(timeout 120 mpirun --oversubscribe --bind-to none)
# "${AS_RANK[@]}" PIDFILE CMD...: each rank writes its pid to PIDFILE.RANK, then becomes CMD, so a
# test can signal one rank with bash alone (no procps on a minimal Debian, maybe no /proc)
AS_RANK=(bash -c 'echo $$ > "$0.$OMPI_COMM_WORLD_RANK"; exec "$@"')
ARGS=(-d samples --scale 2 --feats 8 --groups 1 --blocks 1 --attention ca --batch 3 --patch 16 --lr 1e-3
      --val "" --threads 1 --seed 5 --cache "$T/cache")

if ! "$ATTSR" train --help | grep -q "with MPI\."; then
    out=$("${MPIRUN[@]}" -np 2 "$ATTSR" train "${ARGS[@]}" --steps 2 -o "$T/n" 2>&1)
    if [ $? -ne 0 ] && grep -q "built without MPI" <<<"$out" && [ ! -e "$T/n" ]; then t_pass nompi_build_refuses_two_ranks
    else t_fail nompi_build_refuses_two_ranks "$out"; fi
    t_skip mpi "this attsr was built without MPI (make MPI=1)"
    exit 0
fi

# the safetensors payload as one float per line
floats() {
    local n
    n=$(od -A n -t u8 -N 8 "$1" | tr -d ' ')
    od -A n -t f4 -v -w4 -j $((8 + n)) "$1"
}

# 1 rank against 2 ranks, batch 3 (shards of 2 and 1 samples)
"$ATTSR" train "${ARGS[@]}" --steps 30 -o "$T/one" 2>"$T/one.err" || t_fail one_rank_runs "$(tail -1 "$T/one.err")"
"${MPIRUN[@]}" -np 2 "$ATTSR" train "${ARGS[@]}" --steps 30 -o "$T/two" >"$T/two.err" 2>&1
if [ $? -eq 0 ] && grep -q "train: 2 ranks" "$T/two.err"; then t_pass two_ranks_run
else t_fail two_ranks_run "$(tail -3 "$T/two.err")"; fi
# loss, loss_s, loss_t, w_s, w_t of every step, printed to 7 digits
# (temp files rather than <(...): that opens /dev/fd, which a root without /proc lacks)
grep '"loss"' "$T/one/log.jsonl" >"$T/one.loss"; grep '"loss"' "$T/two/log.jsonl" >"$T/two.loss"
worst=$(paste -d, "$T/one.loss" "$T/two.loss" | awk -F, '
    function v(s) { sub(/.*:/, "", s); return s + 0 }
    { if ($1 !~ /"step"/ || $8 !~ /"step"/) { print "bad"; exit }
      for (k = 2; k <= 6; k++) { a = v($k); b = v($(k + 7)); e = (a > b ? a - b : b - a) / (a > 0 ? a : -a)
                                 if (e > m) m = e }
      n++ }
    END { if (n != 30) print "bad"; else printf "%.2g\n", m }')
if [ "$worst" != bad ] && awk -v e="$worst" 'BEGIN { exit !(e <= 1e-5) }'; then t_pass "two_ranks_losses_match_one (max rel diff $worst)"
else t_fail two_ranks_losses_match_one "max relative difference $worst"; fi
# Adam's step is lr * m / sqrt(v): one weight whose gradient is near zero may move by a
# different fraction of lr = 1e-3; a gradient summed with the wrong weights moves all
# of them by ~1e-3 (measured: 6.5e-3 with each rank's mean weighted 1/2, not 2/3, 1/3)
floats "$T/one/model.safetensors" >"$T/one.f"; floats "$T/two/model.safetensors" >"$T/two.f"
diff=$(paste "$T/one.f" "$T/two.f" |
       awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; n++ } END { printf "%d %.2g\n", n, m }')
if [ "${diff% *}" -gt 1000 ] && awk -v e="${diff#* }" 'BEGIN { exit !(e <= 1e-5) }'; then
    t_pass "two_ranks_weights_match_one (max abs diff ${diff#* })"
else t_fail two_ranks_weights_match_one "floats, max abs diff: $diff"; fi

# one rank under mpirun takes the path of no mpirun at all
"${MPIRUN[@]}" -np 1 "$ATTSR" train "${ARGS[@]}" --steps 30 -o "$T/np1" >"$T/np1.err" 2>&1
[ "$(md5sum < "$T/np1/model.safetensors")" = "$(md5sum < "$T/one/model.safetensors")" ] &&
    t_pass one_rank_mpirun_bit_identical || t_fail one_rank_mpirun_bit_identical "$(tail -1 "$T/np1.err")"

# a rank killed mid-run ends the job; the last checkpoint resumes it
STEPS=300
LONG=("${ARGS[@]}" --steps $STEPS --ckpt-every 7 --log-every 1000)
"${MPIRUN[@]}" -np 2 "$ATTSR" train "${LONG[@]}" -o "$T/ref" >"$T/ref.err" 2>&1 || t_fail ref_run "$(tail -2 "$T/ref.err")"
ref=$(md5sum < "$T/ref/model.safetensors")
"${MPIRUN[@]}" -np 2 "${AS_RANK[@]}" "$T/k.pid" "$ATTSR" train "${LONG[@]}" -o "$T/k" >"$T/k.err" 2>&1 &
mp=$!
for i in $(seq 1 400); do [ -f "$T/k/checkpoint.safetensors" ] && break; sleep 0.05; done
victim=$(cat "$T/k.pid.1" 2>/dev/null)
[ -n "$victim" ] && kill -9 "$victim"
wait $mp
rc=$?
steps=$(grep -c '"loss"' "$T/k/log.jsonl")
if [ -n "$victim" ] && [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ "$steps" -lt $STEPS ] && grep -q "signal 9" "$T/k.err"; then
    t_pass "killed_rank_ends_job (status $rc at step $steps)"
else t_fail killed_rank_ends_job "victim '$victim', status $rc, $steps steps: $(tail -3 "$T/k.err")"; fi
"${MPIRUN[@]}" -np 2 "$ATTSR" train "${LONG[@]}" -o "$T/k" --resume >>"$T/k.err" 2>&1
if [ "$(md5sum < "$T/k/model.safetensors")" = "$ref" ] && [ "$(grep -c '"loss"' "$T/k/log.jsonl")" -eq $STEPS ]; then
    t_pass resume_after_killed_rank_bit_identical
else t_fail resume_after_killed_rank_bit_identical "$(tail -2 "$T/k.err")"; fi
files=$(ls -A "$T/k" | tr '\n' ' ')
[ "$files" = "checkpoint.safetensors log.jsonl model.safetensors " ] && t_pass run_folder_files ||
    t_fail run_folder_files "$files"

# SIGTERM to one rank (as a scheduler's would reach them all, at slightly different
# times): every rank stops after the same step, rank 0 saves, the job exits non-zero
"${MPIRUN[@]}" -np 2 "${AS_RANK[@]}" "$T/s.pid" "$ATTSR" train "${LONG[@]}" -o "$T/s" >"$T/s.err" 2>&1 &
mp=$!
for i in $(seq 1 400); do [ -f "$T/s/checkpoint.safetensors" ] && break; sleep 0.05; done
kill -TERM "$(cat "$T/s.pid.1")"
wait $mp
rc=$?
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "interrupted at step" "$T/s.err" && [ -f "$T/s/checkpoint.safetensors" ]; then
    t_pass "sigterm_stops_all_ranks (status $rc)"
else t_fail sigterm_stops_all_ranks "status $rc: $(tail -3 "$T/s.err")"; fi
"${MPIRUN[@]}" -np 2 "$ATTSR" train "${LONG[@]}" -o "$T/s" --resume >>"$T/s.err" 2>&1
[ "$(md5sum < "$T/s/model.safetensors")" = "$ref" ] && t_pass sigterm_resume_bit_identical ||
    t_fail sigterm_resume_bit_identical "$(tail -2 "$T/s.err")"

# a batch smaller than the ranks is refused with a reason
out=$("${MPIRUN[@]}" -np 2 "$ATTSR" train "${ARGS[@]}" --batch 1 --steps 2 -o "$T/e" 2>&1)
[ $? -ne 0 ] && grep -q "smaller than the 2 ranks" <<<"$out" && t_pass batch_below_ranks_refused ||
    t_fail batch_below_ranks_refused "$out"
exit 0
