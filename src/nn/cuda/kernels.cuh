// What the CUDA backend's kernels share: the block size, a grid-stride loop, the grid
// for n elements, and a block's deterministic sum (a fixed tree in double).
#pragma once
#include <stddef.h>

#define THREADS 256

// for every i in [0, n), over however many blocks the grid has
#define FOR_EACH(i, n) \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

// blocks of THREADS for n elements, at most 65535 * 32 (the loop strides beyond)
static inline unsigned blocks_for(size_t n) {
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 65535u * 32u ? (b ? b : 1) : 65535u * 32u);
}

// The sum of s over the block's THREADS threads, the same on every run; every thread
// must call it (it synchronises), and every thread gets the sum.
static __device__ double block_sum(double s) {
    __shared__ double part[THREADS];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int h = THREADS / 2; h > 0; h /= 2) {
        if (threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
        __syncthreads();
    }
    double r = part[0];
    __syncthreads();  // part may be reused at once
    return r;
}
