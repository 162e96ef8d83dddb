// The CUDA backend: device memory and the kernels of the layers and updates that are not
// convolutions (element-wise, PixelShuffle, L1, sums of squares, Adam, the moving
// average). Each mirrors its CPU twin in src/nn expression for expression: the results
// agree exactly where no rounding is involved (LeakyReLU, adds, PixelShuffle) and
// otherwise to a few ulps (both compilers may contract a*b + c into an FMA). The
// reductions split the work as the CPU does (64 chunks, each here one block with a
// fixed tree), so they are deterministic run to run, and differ from the CPU's only in
// the order of the additions within a chunk.
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "nn/cuda/cuda.h"
#include "nn/cuda/kernels.cuh"

extern "C" int as_errorf(const char *fmt, ...);

#define SUM_CHUNKS 64  // AS_SUM_CHUNKS (core.h), the CPU's split

static int fail(const char *what, cudaError_t e) { return as_errorf("CUDA %s: %s", what, cudaGetErrorString(e)); }

// ---- memory ---------------------------------------------------------------------------

extern "C" int cuda_available(void) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        as_errorf("no usable GPU: %s", cudaGetErrorString(e));
        return 0;
    }
    if (n < 1) {
        as_errorf("no GPU found");
        return 0;
    }
    return 1;
}

extern "C" void *cuda_alloc(size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 64);  // 256-byte aligned
    if (e != cudaSuccess) {
        as_errorf("CUDA: allocating %zu bytes of GPU memory: %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

extern "C" void cuda_free(void *p) { cudaFree(p); }

extern "C" int cuda_upload(void *dst, const void *src, size_t bytes) {
    cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice);
    return e == cudaSuccess ? 0 : fail("upload", e);
}

extern "C" int cuda_download(void *dst, const void *src, size_t bytes) {
    cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
    return e == cudaSuccess ? 0 : fail("download", e);
}

extern "C" int cuda_copy(void *dst, const void *src, size_t bytes) {
    cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice);
    return e == cudaSuccess ? 0 : fail("copy", e);
}

extern "C" int cuda_sync(void) {
    cudaError_t e = cudaDeviceSynchronize();
    return e == cudaSuccess ? 0 : fail("kernel", e);
}

// ---- graphs ----------------------------------------------------------------------------
// Recorded from this thread's stream only (ThreadLocal: another thread's CUDA calls
// neither join nor break the recording).

extern "C" int cuda_graph_begin(void) {
    cudaError_t e = cudaStreamBeginCapture(cudaStreamPerThread, cudaStreamCaptureModeThreadLocal);
    return e == cudaSuccess ? 0 : fail("starting a graph", e);
}

extern "C" int cuda_graph_end(void **exec) {
    *exec = NULL;
    cudaGraph_t g = NULL;
    cudaError_t e = cudaStreamEndCapture(cudaStreamPerThread, &g);
    if (e != cudaSuccess) return fail("recording a graph", e);
    cudaGraphExec_t x = NULL;
    e = cudaGraphInstantiate(&x, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) return fail("instantiating a graph", e);
    *exec = x;
    return 0;
}

extern "C" int cuda_graph_replay(void *exec) {
    cudaError_t e = cudaGraphLaunch((cudaGraphExec_t)exec, cudaStreamPerThread);
    return e == cudaSuccess ? 0 : fail("launching a graph", e);
}

extern "C" void cuda_graph_free(void *exec) {
    if (exec) cudaGraphExecDestroy((cudaGraphExec_t)exec);
}

// ---- element-wise ------------------------------------------------------------------------

// x * (x > 0 ? 1 : slope), as the CPU's: the same values, NaN propagating
__global__ void k_lrelu(float *out, const float *in, size_t n, float slope) {
    FOR_EACH(i, n) out[i] = in[i] * (in[i] > 0 ? 1.0f : slope);
}
__global__ void k_lrelu_bwd(float *d_in, const float *d_out, const float *in, size_t n, float slope) {
    FOR_EACH(i, n) d_in[i] = d_out[i] * (in[i] > 0 ? 1.0f : slope);
}
__global__ void k_add(float *out, const float *a, const float *b, size_t n) { FOR_EACH(i, n) out[i] = a[i] + b[i]; }
__global__ void k_scale_add(float *y, float a, const float *x, size_t n) {
    FOR_EACH(i, n) y[i] += a * x[i];  // a = 1: exact, as the CPU's y += x
}

extern "C" void cuda_lrelu_forward(float *out, const float *in, size_t n, float slope) {
    k_lrelu<<<blocks_for(n), THREADS>>>(out, in, n, slope);
}
extern "C" void cuda_lrelu_backward(float *d_in, const float *d_out, const float *in, size_t n, float slope) {
    k_lrelu_bwd<<<blocks_for(n), THREADS>>>(d_in, d_out, in, n, slope);
}
extern "C" void cuda_add_forward(float *out, const float *a, const float *b, size_t n) {
    k_add<<<blocks_for(n), THREADS>>>(out, a, b, n);
}
extern "C" void cuda_scale_add_inplace(float *y, float a, const float *x, size_t n) {
    k_scale_add<<<blocks_for(n), THREADS>>>(y, a, x, n);
}

// PixelShuffle, NHWC: out[n, h*s+i, w*s+j, c] = in[n, h, w, c*s*s + i*s + j]; one thread
// per output element (forward) or per input element's gradient (backward's gather).
__global__ void k_shuffle(float *out, const float *in, int N, int H, int W, int C, int s, int backward) {
    const size_t Wo = (size_t)W * s, total = (size_t)N * H * s * Wo * C;
    FOR_EACH(e, total) {
        size_t c = e % C, x = (e / C) % Wo, y = (e / C / Wo) % ((size_t)H * s), n = e / C / Wo / ((size_t)H * s);
        size_t h = y / s, i = y % s, w = x / s, j = x % s;
        size_t src = (((n * H + h) * W + w) * C + c) * s * s + i * s + j;
        if (backward)
            out[src] = in[e];  // d_in[src] = d_out[e]: a permutation, no sums
        else
            out[e] = in[src];
    }
}

extern "C" void cuda_pixel_shuffle(float *out, const float *in, int N, int H, int W, int C, int s, int backward) {
    k_shuffle<<<blocks_for((size_t)N * H * W * C * s * s), THREADS>>>(out, in, N, H, W, C, s, backward);
}

// ---- reductions: chunk k of SUM_CHUNKS by block k, a fixed tree, summed on the host ----

__global__ void k_l1(double *chunk_sum, float *d_pred, const float *pred, const float *target, size_t n, float g) {
    size_t lo = n * blockIdx.x / SUM_CHUNKS, hi = n * (blockIdx.x + 1) / SUM_CHUNKS;
    double s = 0;
    for (size_t i = lo + threadIdx.x; i < hi; i += THREADS) {
        float d = pred[i] - target[i];
        s += fabsf(d);
        if (d_pred) d_pred[i] = d > 0 ? g : d < 0 ? -g : 0.0f;
    }
    double t = block_sum(s);
    if (threadIdx.x == 0) chunk_sum[blockIdx.x] = t;
}

__global__ void k_sum_sq(double *chunk_sum, const float *x, size_t n) {
    size_t lo = n * blockIdx.x / SUM_CHUNKS, hi = n * (blockIdx.x + 1) / SUM_CHUNKS;
    double s = 0;
    for (size_t i = lo + threadIdx.x; i < hi; i += THREADS) s += (double)x[i] * x[i];
    double t = block_sum(s);
    if (threadIdx.x == 0) chunk_sum[blockIdx.x] = t;
}

static double *g_chunks;  // SUM_CHUNKS doubles of device memory, allocated on first use

static double finish_sum(void) {
    double part[SUM_CHUNKS], sum = 0;
    if (cuda_download(part, g_chunks, sizeof part)) return NAN;  // the error is recorded
    for (int k = 0; k < SUM_CHUNKS; k++) sum += part[k];
    return sum;
}

static int chunks_ready(void) {
    if (g_chunks) return 0;
    g_chunks = (double *)cuda_alloc(SUM_CHUNKS * sizeof(double));
    return g_chunks ? 0 : -1;
}

// NaN on a CUDA error (the reason in as_error()): the trainer stops on a non-finite loss.
extern "C" double cuda_l1_loss(float *d_pred, const float *pred, const float *target, size_t n, float scale) {
    if (chunks_ready()) return NAN;
    k_l1<<<SUM_CHUNKS, THREADS>>>(g_chunks, d_pred, pred, target, n, scale / (float)n);
    return finish_sum() / (double)n;
}

extern "C" double cuda_sum_sq(const float *x, size_t n) {
    if (chunks_ready()) return NAN;
    k_sum_sq<<<SUM_CHUNKS, THREADS>>>(g_chunks, x, n);
    return finish_sum();
}

// ---- the optimiser ----------------------------------------------------------------------

// nn_adam_update's arithmetic (IEEE sqrt and division: nvcc's defaults without --use_fast_math)
__global__ void k_adam(float *w, const float *g, float *m, float *v, size_t n, nn_adam_coef k) {
    FOR_EACH(i, n) {
        m[i] = k.beta1 * m[i] + (1.0f - k.beta1) * g[i];
        v[i] = k.beta2 * v[i] + (1.0f - k.beta2) * g[i] * g[i];
        w[i] -= k.step * m[i] / (sqrtf(v[i]) / k.bc2_sqrt + k.eps);
    }
}

__global__ void k_ema(float *avg, const float *w, size_t n, float d, float keep) {
    FOR_EACH(i, n) avg[i] = d * avg[i] + keep * w[i];
}

extern "C" void cuda_adam_update(float *w, const float *g, float *m, float *v, size_t n, const nn_adam_coef *k) {
    k_adam<<<blocks_for(n), THREADS>>>(w, g, m, v, n, *k);
}

extern "C" void cuda_ema_update(float *avg, const float *w, size_t n, float decay, float keep) {
    k_ema<<<blocks_for(n), THREADS>>>(avg, w, n, decay, keep);
}
