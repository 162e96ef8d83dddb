#!/usr/bin/env bash
# Continues a bundled model's long training run from the state committed in
# models/state/, so that any machine resumes exactly where the last one stopped:
# weights, Adam moments, the moving average, the step (and with it the learning-rate
# schedule's position and the data order) are all in the checkpoint.
#
#   bash tools/train_continue.sh S [MINUTES] [extra train flags, e.g. --threads 2]
#       trains runs/long/xS for MINUTES (default: to the end of its schedule), then
#       stops with a checkpoint (SIGINT, as a user's Ctrl-C)
#   bash tools/train_continue.sh --save S
#       copies the run's checkpoint and log back into models/state/ (to be committed)
#
# models/state/xS.args holds the run's train flags, one line, as the run was started;
# they are part of the state (a different --steps would move the cosine schedule).
# The run folder's own checkpoint is used when it is at least as far as the committed
# one (the same machine, continuing); otherwise the committed state is copied in.
set -euo pipefail
cd "$(dirname "$0")/.."

ckpt_step() {  # the "step" of a checkpoint's metadata (0 when the file is absent)
    [ -f "$1" ] || { echo 0; return; }
    local s
    s=$(head -c 65536 "$1" | tr -d '\0' | grep -ao '"step":"[0-9]*"' | head -1 | tr -dc '0-9')
    echo "${s:-0}"
}

if [ "${1:-}" = --save ]; then
    s=${2:?usage: train_continue.sh --save S}
    run=runs/long/x$s
    [ -f "$run/checkpoint.safetensors" ] || { echo "train_continue: no checkpoint in $run" >&2; exit 1; }
    # copy, then rename: a kill leaves the committed state as it was
    cp "$run/checkpoint.safetensors" "models/state/x$s.checkpoint.safetensors.tmp"
    cp "$run/log.jsonl" "models/state/x$s.log.jsonl.tmp"
    mv "models/state/x$s.checkpoint.safetensors.tmp" "models/state/x$s.checkpoint.safetensors"
    mv "models/state/x$s.log.jsonl.tmp" "models/state/x$s.log.jsonl"
    echo "models/state/x$s: step $(ckpt_step "models/state/x$s.checkpoint.safetensors")"
    exit 0
fi

s=${1:?usage: train_continue.sh S [MINUTES] [train flags...]}
shift
minutes=
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then minutes=$1; shift; fi
state=models/state/x$s
[ -f "$state.args" ] || { echo "train_continue: no $state.args" >&2; exit 1; }
run=runs/long/x$s
mkdir -p "$run"
if [ "$(ckpt_step "$run/checkpoint.safetensors")" -lt "$(ckpt_step "$state.checkpoint.safetensors")" ]; then
    cp "$state.checkpoint.safetensors" "$run/checkpoint.safetensors"
    cp "$state.log.jsonl" "$run/log.jsonl"
fi
make -s -j"$(nproc)" build/attsr
read -r -a args < "$state.args"
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
rc=0
if [ -n "$minutes" ]; then
    timeout -s INT "${minutes}m" build/attsr train "${args[@]}" -o "$run" --cache runs/satv-cache --resume "$@" || rc=$?
else
    build/attsr train "${args[@]}" -o "$run" --cache runs/satv-cache --resume "$@" || rc=$?
fi
# 130: stopped by the signal, checkpoint saved
[ "$rc" -eq 0 ] || [ "$rc" -eq 130 ] || exit "$rc"
echo "train_continue: $run at step $(ckpt_step "$run/checkpoint.safetensors"); bash tools/train_continue.sh --save $s to keep it"
