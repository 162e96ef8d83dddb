// PSNR and SSIM on Y (docs/spec.md §2). See metrics.h.
#include "image/metrics.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "core/core.h"

#define WIN 11  // SSIM window side
#define HALF 5  // WIN / 2
#define SIGMA 1.5

// Y (or full-range L when gray) of the 8-bit version of img, shaved: plane (h, w).
static void luma_plane(double *out, const image *img, int shave, int h, int w, int gray) {
#pragma omp parallel for schedule(static) if ((double)h * w > 1e5)
    for (int y = 0; y < h; y++) {
        const float *p = img->px + ((size_t)(y + shave) * img->w + shave) * img->c;
        for (int x = 0; x < w; x++, p += img->c) {
            double r = image_to_u8(p[0]), g = image_to_u8(p[1]), b = image_to_u8(p[2]);
            double t = 65.481 * r + 128.553 * g + 24.966 * b;
            out[(size_t)y * w + x] = gray ? t / 219.0 : 16.0 + t / 255.0;
        }
    }
}

// Sums the rows' partial sums in a fixed order, so results do not depend on threads.
static double sum_rows(const double *rows, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += rows[i];
    return s;
}

static double psnr(const double *a, const double *b, int h, int w, double *rows) {
#pragma omp parallel for schedule(static) if ((double)h * w > 1e5)
    for (int y = 0; y < h; y++) {
        double s = 0;
        for (int x = 0; x < w; x++) {
            double d = a[(size_t)y * w + x] - b[(size_t)y * w + x];
            s += d * d;
        }
        rows[y] = s;
    }
    double mse = sum_rows(rows, h) / ((double)h * w);
    return mse == 0 ? INFINITY : 10 * log10(255.0 * 255.0 / mse);
}

// The normalised 1-D Gaussian; the 2-D window is its outer product (also normalised).
static void gaussian(double g[WIN]) {
    double s = 0;
    for (int k = 0; k < WIN; k++) {
        double x = k - HALF;
        g[k] = exp(-x * x / (2 * SIGMA * SIGMA));
        s += g[k];
    }
    for (int k = 0; k < WIN; k++) g[k] /= s;
}

// The five window moments of SSIM, filtered vertically for valid output row i:
// v[q*w + x] for q = a, b, a*a, b*b, a*b.
static void moments_column(double *v, const double *a, const double *b, int w, int i, const double g[WIN]) {
    for (int x = 0; x < 5 * w; x++) v[x] = 0;
    for (int k = 0; k < WIN; k++) {
        const double *ra = a + (size_t)(i + k) * w, *rb = b + (size_t)(i + k) * w;
        for (int x = 0; x < w; x++) {
            double gk = g[k], va = ra[x], vb = rb[x];
            v[x] += gk * va;
            v[w + x] += gk * vb;
            v[2 * w + x] += gk * va * va;
            v[3 * w + x] += gk * vb * vb;
            v[4 * w + x] += gk * va * vb;
        }
    }
}

// Sum of the SSIM map over one valid row, from its vertically filtered moments v;
// hm (5 * w) receives the horizontally filtered ones (loops ordered to vectorise).
static double ssim_row(double *hm, const double *v, int w, const double g[WIN]) {
    const double c1 = (0.01 * 255) * (0.01 * 255), c2 = (0.03 * 255) * (0.03 * 255);
    int vw = w - WIN + 1;
    for (int q = 0; q < 5; q++) {
        double *o = hm + (size_t)q * w;
        const double *in = v + (size_t)q * w;
        for (int x = 0; x < vw; x++) o[x] = 0;
        for (int k = 0; k < WIN; k++)
            for (int x = 0; x < vw; x++) o[x] += g[k] * in[x + k];
    }
    double s = 0;
    for (int x = 0; x < vw; x++) {
        double mu1 = hm[x], mu2 = hm[w + x];
        double s11 = hm[2 * w + x] - mu1 * mu1, s22 = hm[3 * w + x] - mu2 * mu2;
        double s12 = hm[4 * w + x] - mu1 * mu2;
        s += ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2));
    }
    return s;
}

// Mean SSIM over the valid region; separable filtering, one output row per iteration.
static int ssim(double *out, const double *a, const double *b, int h, int w, double *rows) {
    if (h < WIN || w < WIN) {
        *out = NAN;
        return 0;
    }
    double g[WIN];
    gaussian(g);
    int nt = omp_get_max_threads(), vh = h - WIN + 1, vw = w - WIN + 1;
    double *v = as_malloc_array((size_t)nt * 10, (size_t)w * sizeof *v);  // per thread
    if (!v) return -1;
#pragma omp parallel for schedule(static) num_threads(nt) if ((double)h * w > 2e4)
    for (int i = 0; i < vh; i++) {
        double *vt = v + (size_t)omp_get_thread_num() * 10 * w;
        moments_column(vt, a, b, w, i, g);
        rows[i] = ssim_row(vt + 5 * (size_t)w, vt, w, g);
    }
    free(v);
    *out = sum_rows(rows, vh) / ((double)vh * vw);
    return 0;
}

int metrics_compute(metrics *m, const image *sr, const image *hr, int shave) {
    if (sr->w != hr->w || sr->h != hr->h)
        return as_errorf("metrics: size mismatch, %dx%d vs %dx%d", sr->w, sr->h, hr->w, hr->h);
    if (sr->c < 3 || hr->c < 3) return as_errorf("metrics: images need 3 colour channels");
    int h = hr->h - 2 * shave, w = hr->w - 2 * shave;
    if (shave < 0 || h < 1 || w < 1)
        return as_errorf("metrics: shaving %d pixels leaves nothing of %dx%d", shave, hr->w, hr->h);
    double *a = as_malloc_array((size_t)h * w, sizeof *a);
    double *b = a ? as_malloc_array((size_t)h * w, sizeof *b) : NULL;
    double *rows = b ? as_malloc_array((size_t)h, sizeof *rows) : NULL;
    int rc = -1;
    if (rows) {
        luma_plane(a, sr, shave, h, w, hr->gray);
        luma_plane(b, hr, shave, h, w, hr->gray);
        metrics r;
        r.psnr = psnr(a, b, h, w, rows);
        rc = ssim(&r.ssim, a, b, h, w, rows);
        if (rc == 0) *m = r;
    }
    free(a);
    free(b);
    free(rows);
    return rc;
}
