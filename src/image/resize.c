// MATLAB-compatible bicubic imresize and the docs/spec.md §2 degradation. See resize.h.
#include "image/resize.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

// MATLAB rounds to uint8 between the passes: fused multiply-adds (-march=native on an FMA
// CPU) round differently and move values that sit on k + 0.5 to the other integer.
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#else
#pragma GCC optimize("fp-contract=off")
#endif

// The taps of one 1-D pass: output index i reads n[i] inputs idx[i*stride + k] (0-based,
// already mirrored) with weights w[i*stride + k]. Leading and trailing zero weights are
// trimmed per output index; MATLAB trims the all-zero columns of its weight matrix, which
// changes nothing either way since a zero tap adds exactly zero.
typedef struct {
    int out_len, stride;
    int *n;     // (out_len)
    int *idx;   // (out_len, stride)
    double *w;  // (out_len, stride)
} taps;

// Keys' cubic convolution kernel with a = -0.5 (MATLAB's cubic()).
static double cubic(double x) {
    double ax = fabs(x), ax2 = ax * ax, ax3 = ax2 * ax;
    if (ax <= 1) return 1.5 * ax3 - 2.5 * ax2 + 1;
    if (ax <= 2) return -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2;
    return 0;
}

static void taps_free(taps *t) {
    free(t->n);
    free(t->idx);
    free(t->w);
    memset(t, 0, sizeof *t);
}

// Fills the taps of output index i (MATLAB's contributions(), one row, 1-based u).
static void taps_row(taps *t, int i, int in_len, double scale, double width) {
    double u = (i + 1) / scale + 0.5 * (1 - 1 / scale);  // input coordinate, 1-based
    double left = floor(u - width / 2);
    double *w = t->w + (size_t)i * t->stride;
    int *idx = t->idx + (size_t)i * t->stride;
    double sum = 0;
    for (int k = 0; k < t->stride; k++) {
        double x = u - (left + k);
        // Shrinking: the kernel is stretched by 1/scale and lowered to keep unit area,
        // so it also low-passes (antialiasing).
        w[k] = scale < 1 ? scale * cubic(scale * x) : cubic(x);
        sum += w[k];
    }
    int first = 0, last = t->stride - 1;
    while (first < last && w[first] == 0) first++;
    while (last > first && w[last] == 0) last--;
    int n = last - first + 1;
    for (int k = 0; k < n; k++) {
        w[k] = w[first + k] / sum;
        idx[k] = resize_mirror((int64_t)left + first + k - 1, in_len);
    }
    t->n[i] = n;
}

static int taps_init(taps *t, int in_len, int out_len, double scale) {
    memset(t, 0, sizeof *t);
    double width = scale < 1 ? 4 / scale : 4;  // cubic support, widened when shrinking
    double p = ceil(width) + 2;
    if (p > INT_MAX / 2) return as_errorf("resize: scale %g is too small", scale);
    t->out_len = out_len;
    t->stride = (int)p;
    t->n = as_malloc_array((size_t)out_len, sizeof *t->n);
    t->idx = t->n ? as_malloc_array((size_t)out_len * t->stride, sizeof *t->idx) : NULL;
    t->w = t->idx ? as_malloc_array((size_t)out_len * t->stride, sizeof *t->w) : NULL;
    if (!t->w) {
        taps_free(t);
        return -1;
    }
    for (int i = 0; i < out_len; i++) taps_row(t, i, in_len, scale, width);
    return 0;
}

// To the 8-bit grid in double (clamp, round half up), so that values near a rounding
// boundary round as in MATLAB's double arithmetic, not after a float conversion.
static double round_u8(double v) {
    double x = floor(v * 255.0 + 0.5);
    return (x < 0 ? 0 : x > 255 ? 255 : x) / 255.0;
}

// Height pass for output row i: col (w*c) = sum_k w_k * in row idx_k.
static void pass_rows(double *col, const float *in, size_t in_stride, size_t wc, const taps *th, int i, int u8) {
    const int *idx = th->idx + (size_t)i * th->stride;
    const double *wt = th->w + (size_t)i * th->stride;
    for (size_t x = 0; x < wc; x++) col[x] = 0;
    for (int k = 0; k < th->n[i]; k++) {
        const float *src = in + (size_t)idx[k] * in_stride;
        double wk = wt[k];
        for (size_t x = 0; x < wc; x++) col[x] += wk * src[x];
    }
    if (u8)  // MATLAB's uint8 path stores the first pass as uint8
        for (size_t x = 0; x < wc; x++) col[x] = round_u8(col[x]);
}

// Width pass of one row: out (ow, c) from col (w, c).
static void pass_cols(float *out, const double *col, int c, const taps *tw, int u8) {
    for (int j = 0; j < tw->out_len; j++) {
        const int *idx = tw->idx + (size_t)j * tw->stride;
        const double *wt = tw->w + (size_t)j * tw->stride;
        for (int ch = 0; ch < c; ch++) {
            double acc = 0;
            for (int k = 0; k < tw->n[j]; k++) acc += wt[k] * col[(size_t)idx[k] * c + ch];
            out[(size_t)j * c + ch] = (float)(u8 ? round_u8(acc) : acc);
        }
    }
}

// The resize proper, with explicit output size and an input row stride (in floats) so
// that degrade() can read a crop in place.
static int resize_core(float *out, int oh, int ow, const float *in, size_t in_stride, int h, int w, int c, double scale,
                       int u8) {
    taps th, tw;
    if (taps_init(&th, h, oh, scale)) return -1;
    if (taps_init(&tw, w, ow, scale)) {
        taps_free(&th);
        return -1;
    }
    size_t wc = (size_t)w * c;
    int nt = omp_get_max_threads();
    double *cols = as_malloc_array((size_t)nt, wc * sizeof *cols);  // one row per thread
    if (!cols) {
        taps_free(&th);
        taps_free(&tw);
        return -1;
    }
    // Threads pay off only past a few thousand multiply-adds per row.
    int par = (double)oh * ((double)wc * th.stride + (double)ow * c * tw.stride) > 1e5;
#pragma omp parallel for schedule(static) num_threads(nt) if (par)
    for (int i = 0; i < oh; i++) {
        double *col = cols + (size_t)omp_get_thread_num() * wc;
        pass_rows(col, in, in_stride, wc, &th, i, u8);
        pass_cols(out + (size_t)i * ow * c, col, c, &tw, u8);
    }
    free(cols);
    taps_free(&th);
    taps_free(&tw);
    return 0;
}

int64_t resize_out_len(int n, double scale) { return (int64_t)ceil((double)n * scale); }

// Validates arguments and gives the output size.
static int resize_check(int h, int w, int c, double scale, int *oh, int *ow) {
    if (h <= 0 || w <= 0 || c <= 0) return as_errorf("resize: invalid input size %dx%dx%d", h, w, c);
    if (!(scale > 0) || !isfinite(scale)) return as_errorf("resize: invalid scale %g", scale);
    int64_t oh64 = resize_out_len(h, scale), ow64 = resize_out_len(w, scale);
    if (as_check_pixels("resize output", ow64, oh64)) return -1;
    if (oh64 > INT_MAX || ow64 > INT_MAX)
        return as_errorf("resize: output %lldx%lld too large", (long long)ow64, (long long)oh64);
    *oh = (int)oh64;
    *ow = (int)ow64;
    return 0;
}

int resize_bicubic_into(float *out, const float *in, int h, int w, int c, double scale) {
    int oh = 0, ow = 0;
    if (resize_check(h, w, c, scale, &oh, &ow)) return -1;
    return resize_core(out, oh, ow, in, (size_t)w * c, h, w, c, scale, 0);
}

void resize_bicubic_raw(float *out, const float *in, int h, int w, int c, double scale) {
    int oh = 0, ow = 0;
    if (resize_check(h, w, c, scale, &oh, &ow)) return;  // out's size is unknown
    if (resize_core(out, oh, ow, in, (size_t)w * c, h, w, c, scale, 0) == 0) return;
    size_t n = (size_t)oh * ow * c;
    for (size_t i = 0; i < n; i++) out[i] = NAN;  // make the failure visible downstream
}

static int resize_image(image *out, const image *in, double scale, int u8) {
    int oh = 0, ow = 0;
    memset(out, 0, sizeof *out);
    if (resize_check(in->h, in->w, in->c, scale, &oh, &ow)) return -1;
    if (image_alloc(out, ow, oh, in->c)) return -1;
    out->gray = in->gray;
    if (resize_core(out->px, oh, ow, in->px, (size_t)in->w * in->c, in->h, in->w, in->c, scale, u8)) {
        image_free(out);
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int resize_bicubic(image *out, const image *in, double scale) { return resize_image(out, in, scale, 0); }
int resize_bicubic_u8(image *out, const image *in, double scale) { return resize_image(out, in, scale, 1); }

// Copies the top-left (h, w) of src into a new image.
static int crop_copy(image *dst, const image *src, int h, int w) {
    if (image_alloc(dst, w, h, src->c)) return -1;
    dst->gray = src->gray;
    size_t row = (size_t)w * src->c;
    for (int y = 0; y < h; y++) memcpy(dst->px + y * row, src->px + (size_t)y * src->w * src->c, row * sizeof(float));
    return 0;
}

int degrade(image *lr, image *hr_cropped, const image *hr, int s) {
    image l = {0}, hc = {0};
    int lh = s >= 1 ? hr->h / s : 0, lw = s >= 1 ? hr->w / s : 0;
    if (s < 1) {
        as_errorf("degrade: invalid scale %d", s);
        goto fail;
    }
    if (lh < 1 || lw < 1) {
        as_errorf("degrade: image %dx%d is smaller than the scale %d", hr->w, hr->h, s);
        goto fail;
    }
    if (image_alloc(&l, lw, lh, hr->c)) goto fail;
    l.gray = hr->gray;
    // The crop is read in place (row stride of the full image). The output size is
    // h/s exactly, which is also ceil((h/s*s) * (1.0/s)) for s = 2..8.
    if (resize_core(l.px, lh, lw, hr->px, (size_t)hr->w * hr->c, lh * s, lw * s, hr->c, 1.0 / s, 1)) goto fail;
    if (hr_cropped && crop_copy(&hc, hr, lh * s, lw * s)) goto fail;
    *lr = l;
    if (hr_cropped) *hr_cropped = hc;
    return 0;
fail:
    if (l.px) image_free(&l);
    memset(lr, 0, sizeof *lr);
    if (hr_cropped) memset(hr_cropped, 0, sizeof *hr_cropped);
    return -1;
}
