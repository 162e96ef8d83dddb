// The CUDA backend's attention kernels, forward and backward: CA's pooling (and
// ca-avgmax's maxima), its two fully connected layers and gate, and the per-pixel gate of
// SA1 and SA4 (whose convolutions are cuDNN plans made by attention.c, which composes the
// modules once for both backends). The arithmetic is attention.c's: CA's mean in double
// over the pixels, then the float FCs; the gate's dot product in float.
#include <cuda_runtime.h>
#include <math.h>

#include "nn/cuda/cuda.h"
#include "nn/cuda/kernels.cuh"

__device__ float sigmoid(float z) { return 1.0f / (1.0f + expf(-z)); }

// pooled[n, c] = mean over the P pixels of in[n, :, c]: block (n, c), a fixed tree
__global__ void k_pool(float *pooled, const float *in, size_t P, int C) {
    const int n = blockIdx.x / C, c = blockIdx.x % C;
    double s = 0;
    for (size_t p = threadIdx.x; p < P; p += THREADS) s += in[((size_t)n * P + p) * C + c];
    double t = block_sum(s);
    if (threadIdx.x == 0) pooled[blockIdx.x] = (float)(t / (double)P);
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

// ca-avgmax's maximum of in[n, :, c] and the pixel it came from, PyTorch's rule as
// attention.c's channel_max: the first maximum in raster order, or the last NaN. As a
// reduction: NaN beats any number and a later NaN an earlier one; otherwise the larger
// value wins, and of equal ones the earlier pixel (so all -inf gives pixel 0).
struct vmax {
    float m;
    unsigned long long i;
};
__device__ vmax vmax_pick(vmax a, vmax b) {
    int na = isnan(a.m), nb = isnan(b.m);
    if (na || nb) return na && nb ? (a.i > b.i ? a : b) : na ? a : b;
    if (a.m != b.m) return a.m > b.m ? a : b;
    return a.i < b.i ? a : b;
}
// block (n, c): maxima[n, c] (row N + n of pooled) and, when idx, its pixel as a float
__global__ void k_pool_max(float *maxima, float *idx, const float *in, size_t P, int C) {
    const int n = blockIdx.x / C, c = blockIdx.x % C;
    vmax v = {-INFINITY, ~0ull};
    for (size_t p = threadIdx.x; p < P; p += THREADS) v = vmax_pick(v, vmax{in[((size_t)n * P + p) * C + c], p});
    __shared__ vmax part[THREADS];
    part[threadIdx.x] = v;
    __syncthreads();
    for (int h = THREADS / 2; h > 0; h /= 2) {
        if (threadIdx.x < h) part[threadIdx.x] = vmax_pick(part[threadIdx.x], part[threadIdx.x + h]);
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        maxima[blockIdx.x] = part[0].m;
        if (idx) idx[blockIdx.x] = (float)part[0].i;
    }
}

// ca-avgmax: gate[n, c] = sigmoid(z(mean row n) + z(max row N + n)), each z as k_fc2's
__global__ void k_fc2_pair(float *gate, const float *hid, const float *w2, const float *b2, int N, int C, int R,
                           float slope) {
    FOR_EACH(e, (size_t)N * C) {
        int n = e / C, c = e % C;
        float z[2];
        for (int k = 0; k < 2; k++) {
            const float *h = hid + ((size_t)k * N + n) * R;
            z[k] = b2[c];
            for (int r = 0; r < R; r++) z[k] += w2[(size_t)c * R + r] * (h[r] > 0 ? h[r] : slope * h[r]);
        }
        gate[e] = sigmoid(z[0] + z[1]);
    }
}

extern "C" void cuda_ca_forward(int N, size_t P, int C, int R, float slope, float *out, float *saved, const float *in,
                                const float *res, const float *const *params) {
    const size_t n = (size_t)N * P * C;
    float *pooled = saved, *hid = saved + (size_t)N * C, *gate = hid + (size_t)N * R;
    k_pool<<<N * C, THREADS>>>(pooled, in, P, C);
    k_fc1<<<blocks_for((size_t)N * R), THREADS>>>(hid, pooled, params[0], params[1], N, C, R);
    k_fc2<<<blocks_for((size_t)N * C), THREADS>>>(gate, hid, params[2], params[3], N, C, R, slope);
    k_ca_gate<<<blocks_for(n), THREADS>>>(out, res, in, gate, P, C, n);
}

// saved: pooled (2N, C: the means, then the maxima), hidden (2N, R), gate (N, C), the
// maxima's pixels (N, C; training only), as attention.c's
extern "C" void cuda_ca_avgmax_forward(int N, size_t P, int C, int R, float slope, int training, float *out,
                                       float *saved, const float *in, const float *res, const float *const *params) {
    const size_t n = (size_t)N * P * C, NC = (size_t)N * C;
    float *pooled = saved, *hid = pooled + 2 * NC, *gate = hid + 2 * (size_t)N * R, *idx = gate + NC;
    k_pool<<<N * C, THREADS>>>(pooled, in, P, C);
    k_pool_max<<<N * C, THREADS>>>(pooled + NC, training ? idx : NULL, in, P, C);
    k_fc1<<<blocks_for(2 * (size_t)N * R), THREADS>>>(hid, pooled, params[0], params[1], 2 * N, C, R);
    k_fc2_pair<<<blocks_for(NC), THREADS>>>(gate, hid, params[2], params[3], N, C, R, slope);
    k_ca_gate<<<blocks_for(n), THREADS>>>(out, res, in, gate, P, C, n);
}

extern "C" void cuda_gate_forward(float *g, float *out, const float *res, const float *in, const float *x,
                                  const float *w, const float *b, size_t P, int C, int Cx) {
    k_gate<<<blocks_for(P), THREADS>>>(g, out, res, in, x, w, b, P, C, Cx);
}

// ---- backward ------------------------------------------------------------------------
// Every sum over pixels is one block per output with a fixed tree, in double as the
// CPU's chunked sums: deterministic, and equal to the CPU's up to the order of additions.

// CA: dz[n, c] = sum_p d_out * in, times g (1 - g): block (n, c)
__global__ void k_ca_dz(float *dz, const float *d_out, const float *in, const float *gate, size_t P, int C) {
    const int n = blockIdx.x / C, c = blockIdx.x % C;
    double s = 0;
    for (size_t p = threadIdx.x; p < P; p += THREADS) {
        size_t i = ((size_t)n * P + p) * C + c;
        s += (double)d_out[i] * in[i];
    }
    double t = block_sum(s);
    if (threadIdx.x == 0) {
        float g = gate[blockIdx.x];
        dz[blockIdx.x] = (float)t * g * (1 - g);
    }
}

__device__ float lrelu_d(float h, float slope) { return h > 0 ? h : slope * h; }

// the MLP's backward, one thread per output; rows N (tiny), so sums run in order
__global__ void k_fc2_grad(float *dw2, float *db2, const float *dz, const float *hid, int N, int C, int R,
                           float slope) {
    FOR_EACH(e, (size_t)C * (R + 1)) {
        int c = e / (R + 1), r = e % (R + 1);
        double t = 0;
        for (int n = 0; n < N; n++)
            t += (double)dz[(size_t)n * C + c] * (r < R ? lrelu_d(hid[(size_t)n * R + r], slope) : 1.0f);
        if (r < R)
            dw2[(size_t)c * R + r] = (float)t;
        else
            db2[c] = (float)t;
    }
}
__global__ void k_dh(float *dh, const float *dz, const float *hid, const float *w2, int N, int C, int R, float slope) {
    FOR_EACH(e, (size_t)N * R) {
        int n = e / R, r = e % R;
        double t = 0;
        for (int c = 0; c < C; c++) t += (double)w2[(size_t)c * R + r] * dz[(size_t)n * C + c];
        dh[e] = (float)(hid[e] > 0 ? t : slope * t);
    }
}
__global__ void k_fc1_grad(float *dw1, float *db1, const float *dh, const float *v, int N, int C, int R) {
    FOR_EACH(e, (size_t)R * (C + 1)) {
        int r = e / (C + 1), c = e % (C + 1);
        double t = 0;
        for (int n = 0; n < N; n++) t += (double)dh[(size_t)n * R + r] * (c < C ? v[(size_t)n * C + c] : 1.0f);
        if (c < C)
            dw1[(size_t)r * C + c] = (float)t;
        else
            db1[r] = (float)t;
    }
}
// dv (rows, C) at the pooled vectors; the first mean_rows are means: / P
__global__ void k_dpool(float *dv, const float *dh, const float *w1, int rows, int mean_rows, int C, int R, size_t P) {
    FOR_EACH(e, (size_t)rows * C) {
        int n = e / C, c = e % C;
        double t = 0;
        for (int r = 0; r < R; r++) t += (double)w1[(size_t)r * C + c] * dh[(size_t)n * R + r];
        dv[e] = (float)(n < mean_rows ? t / P : t);
    }
}
// d_in = d_out * gate[n, c] + d_mean[n, c]
__global__ void k_ca_din(float *d_in, const float *d_out, const float *gate, const float *dmean, size_t P, int C,
                         size_t total) {
    FOR_EACH(i, total) {
        size_t nc = i / (P * C) * C + i % C;
        d_in[i] = d_out[i] * gate[nc] + dmean[nc];
    }
}

extern "C" void cuda_ca_backward(int N, size_t P, int C, int R, float slope, float *d_in, float *const *d_params,
                                 float *scratch, const float *d_out, const float *saved, const float *in,
                                 const float *const *params) {
    const float *pooled = saved, *hid = saved + (size_t)N * C, *gate = hid + (size_t)N * R;
    float *dz = scratch, *dh = scratch + (size_t)N * C, *dpool = dh + (size_t)N * R;
    const size_t n = (size_t)N * P * C;
    k_ca_dz<<<N * C, THREADS>>>(dz, d_out, in, gate, P, C);
    k_fc2_grad<<<blocks_for((size_t)C * (R + 1)), THREADS>>>(d_params[2], d_params[3], dz, hid, N, C, R, slope);
    k_dh<<<blocks_for((size_t)N * R), THREADS>>>(dh, dz, hid, params[2], N, C, R, slope);
    k_fc1_grad<<<blocks_for((size_t)R * (C + 1)), THREADS>>>(d_params[0], d_params[1], dh, pooled, N, C, R);
    k_dpool<<<blocks_for((size_t)N * C), THREADS>>>(dpool, dh, params[0], N, N, C, R, P);
    k_ca_din<<<blocks_for(n), THREADS>>>(d_in, d_out, gate, dpool, P, C, n);
}

// ca-avgmax: the maxima's gradient to the pixel each came from (one per (n, c): no
// two threads write one element)
__global__ void k_max_scatter(float *d_in, const float *dmax, const float *idx, size_t P, int N, int C) {
    FOR_EACH(e, (size_t)N * C) {
        size_t n = e / C, c = e % C, p = (size_t)idx[e];
        d_in[(n * P + p) * C + c] += dmax[e];
    }
}

// Both rows of an image take the gate's logit gradient; scratch: dz (2N, C), dh (2N, R),
// dv (2N, C), as attention.c's
extern "C" void cuda_ca_avgmax_backward(int N, size_t P, int C, int R, float slope, float *d_in,
                                        float *const *d_params, float *scratch, const float *d_out,
                                        const float *saved, const float *in, const float *const *params) {
    const size_t NC = (size_t)N * C, n = (size_t)N * P * C;
    const float *pooled = saved, *hid = pooled + 2 * NC, *gate = hid + 2 * (size_t)N * R, *idx = gate + NC;
    float *dz = scratch, *dh = dz + 2 * NC, *dv = dh + 2 * (size_t)N * R;
    k_ca_dz<<<N * C, THREADS>>>(dz, d_out, in, gate, P, C);
    cudaMemcpyAsync(dz + NC, dz, NC * sizeof(float), cudaMemcpyDeviceToDevice, cudaStreamPerThread);
    k_fc2_grad<<<blocks_for((size_t)C * (R + 1)), THREADS>>>(d_params[2], d_params[3], dz, hid, 2 * N, C, R, slope);
    k_dh<<<blocks_for(2 * (size_t)N * R), THREADS>>>(dh, dz, hid, params[2], 2 * N, C, R, slope);
    k_fc1_grad<<<blocks_for((size_t)R * (C + 1)), THREADS>>>(d_params[0], d_params[1], dh, pooled, 2 * N, C, R);
    k_dpool<<<blocks_for(2 * NC), THREADS>>>(dv, dh, params[0], 2 * N, N, C, R, P);
    k_ca_din<<<blocks_for(n), THREADS>>>(d_in, d_out, gate, dv, P, C, n);
    k_max_scatter<<<blocks_for(NC), THREADS>>>(d_in, dv + NC, idx, P, N, C);
}

// the per-pixel gate: dz[p] = <d_out, in>_p g (1 - g), in float as the CPU's
__global__ void k_gate_dz(float *dz, const float *d_out, const float *in, const float *g, size_t P, int C) {
    FOR_EACH(p, P) {
        float s = 0;
        for (int c = 0; c < C; c++) s += d_out[p * C + c] * in[p * C + c];
        dz[p] = s * g[p] * (1 - g[p]);
    }
}
// d_w[c] = sum_p dz x[p, c] (c < Cx), d_b = sum_p dz (c == Cx): block c
__global__ void k_gate_dw(float *d_w, float *d_b, const float *dz, const float *x, size_t P, int Cx) {
    const int c = blockIdx.x;
    double s = 0;
    for (size_t p = threadIdx.x; p < P; p += THREADS) s += (double)dz[p] * (c < Cx ? x[p * Cx + c] : 1.0f);
    double t = block_sum(s);
    if (threadIdx.x == 0) {
        if (c < Cx)
            d_w[c] = (float)t;
        else
            *d_b = (float)t;
    }
}
// d_in (=|+=) d_out * g[p] (+ dz[p] w[c] when w)
__global__ void k_gate_din(float *d_in, const float *d_out, const float *g, const float *dz, const float *w, size_t P,
                           int C, int accumulate) {
    FOR_EACH(i, P * (size_t)C) {
        size_t p = i / C;
        float v = d_out[i] * g[p] + (w ? dz[p] * w[i % C] : 0.0f);
        d_in[i] = accumulate ? d_in[i] + v : v;
    }
}
// SA4's: d3[p, k] = lrelu'(a3) (dz[p] w4[k])
__global__ void k_sa4_d3(float *d3, const float *dz, const float *w4, const float *a3, size_t P, int K, float slope) {
    FOR_EACH(i, P * (size_t)K) {
        float d = dz[i / K] * w4[i % K];
        d3[i] = a3[i] > 0 ? d : slope * d;
    }
}

extern "C" void cuda_gate_backward_z(float *dz, const float *d_out, const float *in, const float *g, size_t P, int C) {
    k_gate_dz<<<blocks_for(P), THREADS>>>(dz, d_out, in, g, P, C);
}
extern "C" void cuda_gate_backward_w(float *d_w, float *d_b, const float *dz, const float *x, size_t P, int Cx) {
    k_gate_dw<<<Cx + 1, THREADS>>>(d_w, d_b, dz, x, P, Cx);
}
extern "C" void cuda_gate_backward_in(float *d_in, const float *d_out, const float *g, const float *dz, const float *w,
                                      size_t P, int C, int accumulate) {
    k_gate_din<<<blocks_for(P * (size_t)C), THREADS>>>(d_in, d_out, g, dz, w, P, C, accumulate);
}
extern "C" void cuda_sa4_d3(float *d3, const float *dz, const float *w4, const float *a3, size_t P, int K,
                            float slope) {
    k_sa4_d3<<<blocks_for(P * (size_t)K), THREADS>>>(d3, dz, w4, a3, P, K, slope);
}
