// The seam between nn's layers and the devices they run on (internal to src/nn).
//
// Each layer's entry point is the CPU implementation; in a build with CUDA (make CUDA=1,
// which defines ATTSR_CUDA) its first line hands the call to the CUDA implementation
// when the process computes on the GPU. Without CUDA the macros expand to nothing, so a
// CPU build carries no reference to a CUDA symbol and no branch.
#pragma once
#include "nn/nn.h"

#ifdef ATTSR_CUDA
#include "nn/cuda/cuda.h"
#define NN_ON_CUDA() (nn_get_device() == NN_CUDA)
// in a function returning void: run `call` on the GPU instead, then return
#define NN_CUDA_DISPATCH(call) \
    do {                       \
        if (NN_ON_CUDA()) {    \
            call;              \
            return;            \
        }                      \
    } while (0)
// in a function returning a value: return `call`'s
#define NN_CUDA_RETURN(call)             \
    do {                                 \
        if (NN_ON_CUDA()) return (call); \
    } while (0)
#else
#define NN_ON_CUDA() 0
#define NN_CUDA_DISPATCH(call) ((void)0)
#define NN_CUDA_RETURN(call) ((void)0)
#endif
