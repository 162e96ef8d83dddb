// PixelShuffle (PyTorch's), NHWC: out[n, h*s+i, w*s+j, c] = in[n, h, w, c*s*s + i*s + j].
// A pure permutation, so backward is the inverse gather. Parallel over input rows.
//
// In NHWC, input row (n, h) and output rows (n, h*s .. h*s+s-1) are the same span of
// memory (W*C*s*s floats at the same offset), so the shuffle also runs in place, a row
// at a time through a row of scratch: an inference plan then needs one buffer for an
// upsampler's conv output and its shuffle instead of two (x2: 128 of 359 floats per
// LR pixel).
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "nn/device.h"

// dst (s, W*s, C) from src (W, C*s*s): one input row
static void shuffle_row(float *dst, const float *src, int W, int C, int s) {
    const size_t Cin = (size_t)C * s * s, Wo = (size_t)W * s;
    for (int i = 0; i < s; i++)
        for (int w = 0; w < W; w++)
            for (int j = 0; j < s; j++) {
                const float *p = src + (size_t)w * Cin + i * s + j;  // stride s*s
                float *q = dst + ((size_t)i * Wo + (size_t)w * s + j) * C;
                for (int c = 0; c < C; c++) q[c] = p[(size_t)c * s * s];
            }
}

// out (N, H*s, W*s, C) from in (N, H, W, C*s*s)
void pixel_shuffle_forward(float *out, const float *in, int N, int H, int W, int C, int s) {
    NN_CUDA_DISPATCH(cuda_pixel_shuffle(out, in, N, H, W, C, s, 0));
    const size_t row = (size_t)W * C * s * s;
#pragma omp parallel for collapse(2) if ((size_t)N * H * row >= AS_PAR_MIN)
    for (int n = 0; n < N; n++)
        for (int h = 0; h < H; h++)
            shuffle_row(out + ((size_t)n * H + h) * row, in + ((size_t)n * H + h) * row, W, C, s);
}

int pixel_shuffle_forward_inplace(float *buf, float *scratch, int rows, int N, int H, int W, int C, int s) {
    const size_t row = (size_t)W * C * s * s;
    float *own = NULL;
    if (rows < 1) {  // no room given (a plan of very few rows): one row of our own
        if (!(scratch = own = as_malloc_array(row, sizeof(float)))) return -1;
        rows = 1;
    }
    const int nthr = AS_MIN(rows, omp_get_max_threads());  // a scratch row each
#pragma omp parallel num_threads(nthr) if ((size_t)N * H * row >= AS_PAR_MIN)
    {
        float *tmp = scratch + (size_t)omp_get_thread_num() * row;
#pragma omp for collapse(2) schedule(static)
        for (int n = 0; n < N; n++)
            for (int h = 0; h < H; h++) {
                float *r = buf + ((size_t)n * H + h) * row;
                memcpy(tmp, r, row * sizeof(float));
                shuffle_row(r, tmp, W, C, s);
            }
    }
    free(own);
    return 0;
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
