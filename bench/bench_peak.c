// bench_peak: the machine's FP32 fused multiply-add peak, in GFLOP/s (an FMA counts 2).
//   build/bench/bench_peak [seconds]      (default 1 s per run; 5 runs, best and median)
// Threads: OMP_NUM_THREADS. Each thread runs 12 independent chains of 8-wide FMAs
// (AVX2, 256-bit) on registers only: enough chains to cover the FMA latency (4 cycles)
// on two FMA pipes, no memory traffic. docs/benchmarks.md relates the convolution and
// whole-model rates to this number.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define WIDTH 8
#define CHAINS 12
// iters x CHAINS FMAs of WIDTH lanes; returns a value that depends on every chain
static float fma_loop(long iters, float seed) {
    __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    __m256 x[CHAINS];
    for (int k = 0; k < CHAINS; k++) x[k] = _mm256_set1_ps(seed + k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++) x[k] = _mm256_fmadd_ps(x[k], a, b);
    __m256 s = x[0];
    for (int k = 1; k < CHAINS; k++) s = _mm256_add_ps(s, x[k]);
    float out[WIDTH];
    _mm256_storeu_ps(out, s);
    float r = 0;
    for (int j = 0; j < WIDTH; j++) r += out[j];
    return r;
}
#define ISA "AVX2+FMA, 8-wide"
#else
#define WIDTH 4
#define CHAINS 12
static float fma_loop(long iters, float seed) {  // portable: what the compiler makes of it
    float x[CHAINS][WIDTH];
    for (int k = 0; k < CHAINS; k++)
        for (int j = 0; j < WIDTH; j++) x[k][j] = seed + k + j;
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++)
            for (int j = 0; j < WIDTH; j++) x[k][j] = x[k][j] * 0.999999f + 1e-7f;
    float r = 0;
    for (int k = 0; k < CHAINS; k++)
        for (int j = 0; j < WIDTH; j++) r += x[k][j];
    return r;
}
#define ISA "portable C"
#endif

int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    if (secs <= 0) secs = 1.0;
    int nthr = omp_get_max_threads();
    // calibrate: iterations per second on one thread
    long iters = 1 << 20;
    volatile float sink = 0;
    for (;;) {
        double t0 = as_now();
        sink += fma_loop(iters, 1.0f);
        double dt = as_now() - t0;
        if (dt > 0.05) {
            iters = (long)(iters * secs / dt);
            break;
        }
        iters *= 2;
    }
    enum { RUNS = 5 };
    double rate[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = as_now();
        float acc = 0;
#pragma omp parallel reduction(+ : acc)
        acc += fma_loop(iters, (float)omp_get_thread_num());
        double dt = as_now() - t0;
        sink += acc;
        rate[r] = 2.0 * WIDTH * CHAINS * (double)iters * nthr / dt / 1e9;
    }
    double median = as_median(rate, RUNS);  // sorts rate: the peak is the last
    printf("{\"isa\":\"%s\",\"threads\":%d,\"peak_gflops\":%.1f,\"median_gflops\":%.1f}\n", ISA, nthr, rate[RUNS - 1],
           median);
    return sink == 12345.0f;  // keeps the loops
}
