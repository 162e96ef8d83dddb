#!/usr/bin/env bash
# Trains the bundled models (models/attsr_x{2,3,4}.safetensors) from scratch on
# ../shared/data/train (T91 + BSD200), resuming wherever a previous run stopped:
# x2 first, then x3 and x4 starting from x2's weights (their upsampling layers are new).
#
#   bash tools/train_bundled.sh [STEPS_X2] [STEPS_X34]    (defaults: 8000 3000)
#
# Runs go to runs/bundled/x{2,3,4}; each one's best validation checkpoint (Set5) is
# copied to models/. GradNorm is off: with Adam it starves the structure branch at this
# size (models/README.md). About 1 s per step on 2 idle cores: 8000 steps are 2.2 h.
# OMP_WAIT_POLICY=passive keeps a shared machine responsive.
set -euo pipefail
cd "$(dirname "$0")/.."
S2=${1:-8000}
S34=${2:-3000}
DATA=(-d ../shared/data/train/T91 -d ../shared/data/train/BSD200)
SHAPE=(--feats 32 --fe-groups 1 --groups 2 --blocks 4 --attention ca)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
make -s -j"$(nproc)" build/attsr
mkdir -p runs/bundled models
train() {  # scale steps lr milestones [--init MODEL]
    local s=$1 steps=$2 lr=$3 ms=$4; shift 4
    build/attsr train "${DATA[@]}" -o runs/bundled/x$s --cache runs/bundled/satv-cache --scale "$s" "${SHAPE[@]}" \
        --batch 16 --patch 48 --steps "$steps" --lr "$lr" --milestones "$ms" --val ../shared/data/benchmark/Set5 --val-every 500 --ckpt-every 50 \
        --log-every 20 --seed 1 --gradnorm off --resume "$@"
    cp runs/bundled/x$s/best.safetensors models/attsr_x$s.safetensors
}
train 2 "$S2" 5e-4 "$((S2 * 5 / 8)),$((S2 * 7 / 8))"
train 3 "$S34" 5e-4 "$((S34 * 2 / 3))" --init models/attsr_x2.safetensors
train 4 "$S34" 5e-4 "$((S34 * 2 / 3))" --init models/attsr_x2.safetensors
