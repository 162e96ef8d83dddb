// PixelShuffle (PyTorch's), NHWC: out[n, h*s+i, w*s+j, c] = in[n, h, w, c*s*s + i*s + j].
// A pure permutation, so backward is the inverse gather. Parallel over input rows.
#include "core/core.h"
#include "nn/device.h"

// out (N, H*s, W*s, C) from in (N, H, W, C*s*s)
void pixel_shuffle_forward(float *out, const float *in, int N, int H, int W, int C, int s) {
    NN_CUDA_DISPATCH(cuda_pixel_shuffle(out, in, N, H, W, C, s, 0));
    const size_t Cin = (size_t)C * s * s, Wo = (size_t)W * s;
#pragma omp parallel for collapse(2) if ((size_t)N * H * W * Cin >= AS_PAR_MIN)
    for (int n = 0; n < N; n++) {
        for (int h = 0; h < H; h++) {
            const float *src = in + ((size_t)n * H + h) * W * Cin;  // (W, C*s*s)
            float *dst = out + ((size_t)n * H + h) * s * Wo * C;    // (s, W*s, C)
            for (int i = 0; i < s; i++)
                for (int w = 0; w < W; w++)
                    for (int j = 0; j < s; j++) {
                        const float *p = src + (size_t)w * Cin + i * s + j;  // stride s*s
                        float *q = dst + ((size_t)i * Wo + (size_t)w * s + j) * C;
                        for (int c = 0; c < C; c++) q[c] = p[(size_t)c * s * s];
                    }
        }
    }
}

// d_in (N, H, W, C*s*s) from d_out (N, H*s, W*s, C)
void pixel_shuffle_backward(float *d_in, const float *d_out, int N, int H, int W, int C, int s) {
    NN_CUDA_DISPATCH(cuda_pixel_shuffle(d_in, d_out, N, H, W, C, s, 1));
    const size_t Cin = (size_t)C * s * s, Wo = (size_t)W * s;
#pragma omp parallel for collapse(2) if ((size_t)N * H * W * Cin >= AS_PAR_MIN)
    for (int n = 0; n < N; n++) {
        for (int h = 0; h < H; h++) {
            float *dst = d_in + ((size_t)n * H + h) * W * Cin;
            const float *src = d_out + ((size_t)n * H + h) * s * Wo * C;
            for (int w = 0; w < W; w++)
                for (int c = 0; c < C; c++)
                    for (int i = 0; i < s; i++)
                        for (int j = 0; j < s; j++)
                            dst[(size_t)w * Cin + (size_t)c * s * s + i * s + j] =
                                src[((size_t)i * Wo + (size_t)w * s + j) * C + c];
        }
    }
}
