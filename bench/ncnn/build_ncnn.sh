#!/usr/bin/env bash
# Builds ncnn (CPU only, fp32, OpenMP) from a source tree outside this repository, for
# bench/ncnn/run.sh. ncnn's code never enters attsr: pass the path of a checkout.
#
#   bash bench/ncnn/build_ncnn.sh NCNN_SRC BUILD_DIR ISA      (ISA: avx512 | avx2)
#
# ISA avx512: ncnn's AVX-512 kernels; avx2: its AVX2 + FMA kernels (the ones a Zen 3
# runs). Runtime dispatch is off so that each build holds one set of kernels and which
# ones ran is known (and the build is a fraction of the full one). int8/bf16 are off:
# the comparison is fp32. The build runs under nice: other jobs share the cores.
set -euo pipefail
src=$1 bdir=$2 isa=$3
[ -f "$src/src/net.h" ] || { echo "build_ncnn.sh: $src is not an ncnn source tree (no src/net.h)" >&2; exit 2; }
case "$isa" in
    avx512) x86=(-DNCNN_AVX512=ON -DNCNN_AVX512VNNI=OFF -DNCNN_AVX512BF16=OFF -DNCNN_AVX512FP16=OFF) ;;
    avx2) x86=(-DNCNN_AVX512=OFF) ;;
    *) echo "build_ncnn.sh: ISA must be avx512 or avx2, not '$isa'" >&2; exit 2 ;;
esac
if [ ! -f "$bdir/install/lib/libncnn.a" ]; then
    cmake -S "$src" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$bdir/install" \
        -DNCNN_VULKAN=OFF -DNCNN_OPENMP=ON -DNCNN_THREADS=ON -DNCNN_SHARED_LIB=OFF \
        -DNCNN_BUILD_TOOLS=OFF -DNCNN_BUILD_EXAMPLES=OFF -DNCNN_BUILD_BENCHMARK=OFF \
        -DNCNN_BUILD_TESTS=OFF -DNCNN_PYTHON=OFF -DNCNN_INT8=OFF -DNCNN_BF16=OFF \
        -DNCNN_RUNTIME_CPU=OFF -DNCNN_AVX=ON -DNCNN_FMA=ON -DNCNN_F16C=ON -DNCNN_AVX2=ON \
        -DNCNN_AVXVNNI=OFF -DNCNN_AVXVNNIINT8=OFF -DNCNN_AVXVNNIINT16=OFF -DNCNN_AVXNECONVERT=OFF -DNCNN_XOP=OFF \
        "${x86[@]}" >"$bdir.cmake.log" 2>&1 || { tail -20 "$bdir.cmake.log" >&2; exit 1; }
    nice -n 15 cmake --build "$bdir" -j"${JOBS:-2}" >"$bdir.build.log" 2>&1 || { tail -30 "$bdir.build.log" >&2; exit 1; }
    cmake --install "$bdir" >/dev/null
fi
echo "$bdir/install"
