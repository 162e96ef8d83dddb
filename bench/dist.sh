#!/usr/bin/env bash
# Data-parallel scaling: the same global batch trained by 1 and by 2 ranks (one thread
# each), and 2 ranks without overlap (one blocking all-reduce after backward), on one
# model. Prints bench_dist's JSON lines. Needs a build with MPI=1 (make MPI=1 bench).
#
#   bash bench/dist.sh [BUILD] [BATCH] [PATCH] [REPS] [init options...]
#   e.g. bash bench/dist.sh build 8 32 15 --feats 32 --groups 1 --blocks 4
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}; BATCH=${2:-8}; PATCH=${3:-32}; REPS=${4:-15}
shift $(($# < 4 ? $# : 4))
INIT=("$@")
[ ${#INIT[@]} -gt 0 ] || INIT=(--feats 32 --groups 1 --blocks 4 --attention ca)
cores=$(nproc --all)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
model=$(mktemp --suffix .safetensors)
trap 'rm -f "$model"' EXIT
"$BUILD/attsr" init "${INIT[@]}" -o "$model"
echo "# model: ${INIT[*]}; global batch $BATCH, patch $PATCH, $REPS steps; $cores cores" >&2
for np in 1 2; do
    mpirun -np "$np" --oversubscribe --bind-to none "$BUILD/bench/bench_dist" "$model" "$BATCH" "$PATCH" "$REPS"
done
mpirun -np 2 --oversubscribe --bind-to none "$BUILD/bench/bench_dist" "$model" "$BATCH" "$PATCH" "$REPS" 1024 0
