// The CUDA backend's attention kernels, forward (inference) so far: CA's pooling, its two
// fully connected layers and gate, and the per-pixel gate of SA1 and SA4 (whose
// convolutions are cuDNN plans made by attention.c, which composes the modules once for
// both backends). The arithmetic is attention.c's: CA's mean in double over the pixels,
// then the float FCs; the gate's dot product in float.
#include <cuda_runtime.h>
#include <math.h>

#include "nn/cuda/cuda.h"

#define THREADS 256

#define FOR_EACH(i, n) for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

static unsigned blocks_for(size_t n) {
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b < 65535u * 32u ? (b ? b : 1) : 65535u * 32u);
}

__device__ float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

// pooled[n, c] = mean over the P pixels of in[n, :, c]: block (n, c), a fixed tree
__global__ void k_pool(float *pooled, const float *in, size_t P, int C) {
    __shared__ double part[THREADS];
    const int n = blockIdx.x / C, c = blockIdx.x % C;
    double s = 0;
    for (size_t p = threadIdx.x; p < P; p += THREADS) s += in[((size_t)n * P + p) * C + c];
    part[threadIdx.x] = s;
    __syncthreads();
    for (int h = THREADS / 2; h > 0; h /= 2) {
        if (threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) pooled[blockIdx.x] = (float)(part[0] / (double)P);
}

// hidden[n, r] = b1[r] + w1[r, :] . pooled[n, :]
__global__ void k_fc1(float *hid, const float *pooled, const float *w1, const float *b1, int N, int C, int R) {
    FOR_EACH(e, (size_t)N * R) {
        int n = e / R, r = e % R;
        float h = b1[r];
        for (int c = 0; c < C; c++) h += w1[(size_t)r * C + c] * pooled[(size_t)n * C + c];
        hid[e] = h;
    }
}

// gate[n, c] = sigmoid(b2[c] + w2[c, :] . lrelu(hidden[n, :]))
__global__ void k_fc2(float *gate, const float *hid, const float *w2, const float *b2, int N, int C, int R,
                      float slope) {
    FOR_EACH(e, (size_t)N * C) {
        int n = e / C, c = e % C;
        float z = b2[c];
        for (int r = 0; r < R; r++) {
            float h = hid[(size_t)n * R + r];
            z += w2[(size_t)c * R + r] * (h > 0 ? h : slope * h);
        }
        gate[e] = sigmoid(z);
    }
}

// out = (res +) in * gate[n, c]
__global__ void k_ca_gate(float *out, const float *res, const float *in, const float *gate, size_t P, int C,
                          size_t total) {
    FOR_EACH(i, total) {
        size_t n = i / (P * C), c = i % C;
        float v = in[i] * gate[n * C + c];
        out[i] = res ? res[i] + v : v;
    }
}

// g[p] = sigmoid(b + w . x[p, :]); out = (res +) in * g[p]: one thread per pixel
__global__ void k_gate(float *g, float *out, const float *res, const float *in, const float *x, const float *w,
                       const float *b, size_t P, int C, int Cx) {
    FOR_EACH(p, P) {
        const float *xp = x + p * Cx, *ip = in + p * C;
        float z = b[0];
        for (int c = 0; c < Cx; c++) z += w[c] * xp[c];
        float gp = sigmoid(z);
        g[p] = gp;
        float *op = out + p * C;
        for (int c = 0; c < C; c++) op[c] = res ? res[p * C + c] + ip[c] * gp : ip[c] * gp;
    }
}

extern "C" void cuda_ca_forward(int N, size_t P, int C, int R, float slope, float *out, float *saved,
                                const float *in, const float *res, const float *const *params) {
    const size_t n = (size_t)N * P * C;
    float *pooled = saved, *hid = saved + (size_t)N * C, *gate = hid + (size_t)N * R;
    k_pool<<<N * C, THREADS>>>(pooled, in, P, C);
    k_fc1<<<blocks_for((size_t)N * R), THREADS>>>(hid, pooled, params[0], params[1], N, C, R);
    k_fc2<<<blocks_for((size_t)N * C), THREADS>>>(gate, hid, params[2], params[3], N, C, R, slope);
    k_ca_gate<<<blocks_for(n), THREADS>>>(out, res, in, gate, P, C, n);
}

extern "C" void cuda_gate_forward(float *g, float *out, const float *res, const float *in, const float *x,
                                  const float *w, const float *b, size_t P, int C, int Cx) {
    k_gate<<<blocks_for(P), THREADS>>>(g, out, res, in, x, w, b, P, C, Cx);
}
