#!/usr/bin/env bash
# The GPU lease's prepared check of attsr's CUDA backend (tools/gpu/README.md has the
# lease's training): builds attsr with CUDA=1 on the lent machine, runs the backend's
# tests against the CPU (tests/test_device.c) and compute-sanitizer on them, then, with
# MINUTES > 0, hands the rest of the command to tools/gpu/session.sh MINUTES (training).
#
#   bash bench/gpu.sh [MINUTES]      on the GPU machine; everything it prints also goes
#                                    to $OUT/gpu_check.log (OUT: runs/gpu-out by default)
#   bash bench/gpu.sh --pack         here, before the lease: builds build-cuda/ and packs
#                                    the test binary with the shared libraries the GPU
#                                    machine may lack (oneDNN, libpng, ...) into
#                                    runs/gpu-bin/ (about 8 MiB, xz), to carry; used there
#                                    only when the build there fails
#
# The check takes about 3 minutes (the build on 16 cores, the tests, the scores, the
# benchmarks against PyTorch, the sanitizer); with session.sh's MINUTES + 1.5 it must fit
# the device tool's 600 s: MINUTES <= 5.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/gpu-out}
bin=runs/gpu-bin

if [ "${1:-}" = --pack ]; then
    set -e
    make -s -j"$(nproc)" CUDA=1 BUILD=build-cuda build-cuda/tests/test_device
    rm -rf "$bin" && mkdir -p "$bin/lib"
    cp build-cuda/tests/test_device "$bin/"
    # every library the binary loads but the C library's and the CUDA driver's own
    ldd build-cuda/tests/test_device | awk '$3 ~ /^\// { print $3 }' |
        grep -Ev '/(libc|libm|libdl|libpthread|librt|libcuda)\.so' | xargs -I{} cp -L {} "$bin/lib/"
    tar -C "$bin" -cJf "$bin.tar.xz" . && rm -rf "$bin" && mkdir -p "$bin" && mv "$bin.tar.xz" "$bin/"
    du -h "$bin/gpu-bin.tar.xz"
    exit 0
fi

minutes=${1:-0}
[[ $minutes =~ ^[0-9]+$ ]] && [ "$minutes" -le 5 ] || { echo "gpu.sh: MINUTES must be 0 to 5" >&2; exit 2; }
mkdir -p "$out"
log=$out/gpu_check.log

check() {
    echo "== gpu.sh: $(date -u +%FT%TZ), $(nproc) cores"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    command -v nvcc >/dev/null && nvcc --version | tail -1
    local t=build-cuda/tests/test_device
    echo "== build (make CUDA=1)"
    if ! timeout 240 make -s -j"$(nproc)" CUDA=1 BUILD=build-cuda "$t" build-cuda/attsr build-cuda/bench/bench_model 2>&1 | tail -15; then :; fi
    if [ ! -x "$t" ] && [ -f "$bin/gpu-bin.tar.xz" ]; then
        echo "== the build failed here: the binary built before the lease, with its libraries"
        mkdir -p "$bin/x" && tar -C "$bin/x" -xJf "$bin/gpu-bin.tar.xz"
        t=$bin/x/test_device
        export LD_LIBRARY_PATH=$PWD/$bin/x/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    fi
    [ -x "$t" ] || { echo "gpu.sh: no test binary (the build failed and no $bin was carried)"; return 1; }
    echo "== $t: the CUDA kernels against the CPU"
    timeout 120 "$t"
    local A=build-cuda/attsr
    if [ -x "$A" ]; then
        echo "== the bundled models on samples/: the GPU's scores against the CPU's (within 0.01 dB)"
        for sc in 2 3 4; do
            for d in cpu cuda; do
                printf 'x%s %-4s ' $sc $d
                timeout 120 "$A" eval -m models/attsr_x$sc.safetensors --device $d samples 2>&1 | grep -v "^samples: |skipped: not an image" | tail -1
            done
        done
        echo "== inference time, attsr info --runs 5 (median and best ms)"
        timeout 60 "$A" init --scale 2 --feats 64 --fe-groups 1 --groups 3 --blocks 20 --attention none -o "$out/paper_none.safetensors" >/dev/null
        for m in models/attsr_x2.safetensors "$out/paper_none.safetensors"; do
            for size in 512 1024; do
                printf '%s %s: ' "$(basename "$m")" $size
                timeout 120 "$A" info -m "$m" --device cuda --size $size --runs 5 2>&1 | tail -1
            done
        done
        echo "== against PyTorch on this GPU (tools/bench_torch.py --cuda --channels-last), medians of 10"
        local B=build-cuda/bench/bench_model py=${PYTHON:-python3}
        for run in "infer $out/paper_none.safetensors 1024 1024" "infer models/attsr_x2.safetensors 1024 1024" \
                   "train $out/paper_none.safetensors 16 48" "train models/attsr_x2.safetensors 16 48"; do
            echo "-- $run"
            [ -x "$B" ] && ATTSR_DEVICE=cuda timeout 120 "$B" $run 10
            # the forward recorded once and replayed (CUDA graphs; the bundled shape is small)
            [ -x "$B" ] && ATTSR_CUDA_GRAPHS=1 ATTSR_DEVICE=cuda timeout 120 "$B" $run 10
            timeout 120 "$py" tools/bench_torch.py $run 10 --cuda --channels-last
        done
        rm -f "$out/paper_none.safetensors"
    fi
    echo "== compute-sanitizer (memcheck) on $t"
    local cs=compute-sanitizer
    command -v $cs >/dev/null || cs=/usr/local/cuda/bin/compute-sanitizer
    if [ -x "$(command -v $cs)" ]; then timeout 180 "$cs" --tool memcheck --error-exitcode 9 "$t" | tail -12; echo "sanitizer exit ${PIPESTATUS[0]}"
    else echo "compute-sanitizer: not found"; fi
}
check 2>&1 | tee "$log"
if [ "$minutes" -gt 0 ]; then
    SESSION_LIMIT_S=$((600 - SECONDS)) bash tools/gpu/session.sh "$minutes"
fi
