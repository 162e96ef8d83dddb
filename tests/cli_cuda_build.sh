#!/usr/bin/env bash
# The CUDA backend still compiles (make CUDA=1) where nvcc is installed, even on a
# machine without a GPU: the .cu files and the C sources that dispatch to them, with
# ATTSR_CUDA defined; and every function cuda.h declares is defined in the object. The
# whole CUDA build and its tests run on a GPU machine (bench/gpu.sh). With mpicc, the
# NCCL part (make CUDA=1 MPI=1) compiles too.
source "$(dirname "$0")/lib_cli.sh"
NVCC=${NVCC:-${CUDA_HOME:-/usr/local/cuda}/bin/nvcc}
if ! [ -x "$NVCC" ]; then
    t_skip cuda_compiles "no nvcc at $NVCC (CUDA toolkit not installed)"
    exit 0
fi
B=$T/b
cu_objs=$(ls src/nn/cuda/*.cu | sed "s|^\(.*\)\.cu$|$B/\1.o|")
# and every C file that dispatches to it
c_objs=$(grep -l 'ATTSR_CUDA\|NN_CUDA_' src/*/*.c | sed "s|^\(.*\)\.c$|$B/\1.o|")
objs="$cu_objs $c_objs"
# OPT: no -march=native, so the objects compile as fast as they can
if out=$(make -s CUDA=1 BUILD="$B" OPT=-O1 $objs 2>&1) && [ -z "$(grep -i warning <<<"$out")" ]; then
    t_pass cuda_compiles
else
    t_fail cuda_compiles "$(tail -5 <<<"$out")"
fi
declared=$(sed -n 's/^[a-z].* \**\(cuda_[a-z0-9_]*\)(.*/\1/p' src/nn/cuda/cuda.h | sort -u)
defined=$(nm $cu_objs 2>/dev/null | awk '$2 == "T" { print $3 }' | grep '^cuda_' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$defined"))
if [ -n "$declared" ] && [ -z "$missing" ]; then t_pass cuda_symbols
else t_fail cuda_symbols "declared in cuda.h, not defined: ${missing:-(none declared?)}"; fi
# what the .cu objects take from attsr's C code must be C symbols: a C++-mangled
# reference (a C header included without extern "C") would only fail at link time, on
# the GPU machine
mangled=$(nm -u $cu_objs 2>/dev/null | awk '$2 ~ /^_Z/ { print $2 }' | sort -u)
[ -z "$mangled" ] && t_pass cuda_c_linkage || t_fail cuda_c_linkage "C++-mangled references: $mangled"
# with MPI too (make CUDA=1 MPI=1): NCCL's part and the training's reductions through it
if command -v mpicc >/dev/null; then
    BM=$T/bm
    if out=$(make -s CUDA=1 MPI=1 BUILD="$BM" OPT=-O1 "$BM/src/nn/cuda/nccl.o" "$BM/src/train/dist.o" 2>&1) &&
        [ -z "$(grep -i warning <<<"$out")" ] && nm "$BM/src/train/dist.o" | grep -q ' U cuda_nccl_sum$'; then
        t_pass cuda_nccl_compiles
    else
        t_fail cuda_nccl_compiles "$(tail -5 <<<"$out")"
    fi
else
    t_skip cuda_nccl_compiles "no mpicc (make CUDA=1 MPI=1 needs Open MPI's compiler wrapper)"
fi
