// satv: the split-Bregman vectorial TV-L2 solver of SPEC section 5.
//
// The SPEC iteration, per channel k, with indices clamped at the borders:
//   u'  = (a f - (tx - tx[:, j-1]) - (ty - ty[i-1, :])
//          + u[i-1,:] + u[i+1,:] + u[:,j-1] + u[:,j+1] + 4u) / (a + 8)
//   zx  = (u'[:, j+1] - u') + dx - tx         zy = (u'[i+1, :] - u') + dy - ty
//   m   = max(0, s - 1/gamma1) / max(1e-12, s),  s = sqrt(sum_k zx^2 + zy^2) per pixel
//   dx  = m zx,  dy = m zy,  tx = 2 dx - zx,  ty = 2 dy - zy
// Clamping makes every difference across the border exactly 0 (x - x), so the code uses
// clamped indices everywhere and needs no special case for the first row or column.
// The u update is evaluated in the equivalent incremental form
//   u' = u + (a (f - u) + sum_nb (u_nb - u) - div t) / (a + 8)
// whose terms are differences: smaller rounding error, and a constant image is a fixed
// point exactly (S = f, T = 0 bit for bit).
//
// Layout: the work arrays are planar (c, h, w), so that every inner loop runs along a
// row of one channel and vectorises; the per-pixel norm s sums the c planes.
//
// One pass per iteration: each thread owns a band of rows [r0, r1) and walks it once,
// computing row i of u' and then shrinking row i-1 (which needs u' rows i-1 and i). That
// order is safe: u' row i reads ty rows i-1 and i, and the shrink of row i-1 only comes
// after it. The band's last row needs u' of the next band's first row, so it is shrunk
// after a barrier; until then its ty row stays old, as the next band's first u' row needs.
// The shrink is done before the stopping test is known; when the loop stops, d and t are
// discarded, so this speculation changes nothing.
//
// Determinism: every value is computed by the same code whatever the band split, and the
// norm ||u' - u||^2 is summed per row in double, then over rows serially in row order, so
// the result is bitwise independent of the thread count.
#include "train/satv.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

satv_params satv_defaults(void) {
    return (satv_params){.lambda = 2.5f, .gamma1 = 5.0f, .tol = 1e-3f, .max_iters = 50,
                         .lambda_map = NULL};
}

typedef struct {
    int h, w, c;
    size_t plane;      // h * w
    float *u, *un;     // (c, h, w) current and next iterate
    float *dx, *dy;    // (c, h, w) split variables d
    float *tx, *ty;    // (c, h, w) dtilde = 2 d' - z; z between the two steps of a shrink
    float *f;          // (c, h, w) the input
    float *a, *r;      // (h, w) a = lambda / gamma1 and 1 / (a + 8) with a lambda map;
                       // one row (w) each without
    size_t rstride;    // w with a lambda map, 0 without (every row reads the same row)
    float *scratch;    // (threads, wpad) per-pixel s^2, then m, of the row being shrunk
    size_t wpad;       // w rounded up to 16 floats (64 bytes) so threads share no line
    double *rowsum;    // (h) sum over channels and columns of (u' - u)^2, per row
    float thresh;      // 1 / gamma1
} satv_work;

static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; }

// sum_j (x[j] - y[j])^2 over [0, n) in double, with 8 independent partial sums combined
// in a fixed order: fast (the 8 lanes vectorise, where one running sum could not) and
// the same result on every call.
static double sumsq_diff(const float *restrict x, const float *restrict y, int n) {
    double acc[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int q = 0; q < 8; q++) {
            double d = (double)x[j + q] - (double)y[j + q];
            acc[q] += d * d;
        }
    for (int q = 0; j < n; j++, q++) {
        double d = (double)x[j] - (double)y[j];
        acc[q] += d * d;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// ---- u update ---------------------------------------------------------------------

// One element of u' at column j; jl, jr are the clamped neighbour columns.
static inline float u_elem(const float *restrict uc, const float *restrict up,
                           const float *restrict dn, const float *restrict txr,
                           const float *restrict tyc, const float *restrict typ,
                           const float *restrict fr, const float *restrict ar,
                           const float *restrict rr, int j, int jl, int jr) {
    const float u = uc[j];
    const float lap = ((up[j] - u) + (dn[j] - u)) + ((uc[jl] - u) + (uc[jr] - u));
    const float div = (txr[j] - txr[jl]) + (tyc[j] - typ[j]);
    return u + (ar[j] * (fr[j] - u) + (lap - div)) * rr[j];
}

// Row i of u' for every channel; returns sum_k,j (u' - u)^2 over the row, in double.
static double u_row(const satv_work *W, int i) {
    const int h = W->h, w = W->w;
    const size_t ic = (size_t)i * w, ip = (size_t)(i > 0 ? i - 1 : i) * w;
    const size_t in = (size_t)(i < h - 1 ? i + 1 : i) * w;
    const float *ar = W->a + (size_t)i * W->rstride;  // (w)
    const float *rr = W->r + (size_t)i * W->rstride;  // (w)
    double sum = 0;
    for (int k = 0; k < W->c; k++) {
        const size_t o = (size_t)k * W->plane;
        const float *uc = W->u + o + ic, *up = W->u + o + ip, *dn = W->u + o + in;
        const float *txr = W->tx + o + ic, *tyc = W->ty + o + ic, *typ = W->ty + o + ip;
        const float *fr = W->f + o + ic;
        float *out = W->un + o + ic;
        out[0] = u_elem(uc, up, dn, txr, tyc, typ, fr, ar, rr, 0, 0, w > 1 ? 1 : 0);
        for (int j = 1; j < w - 1; j++)
            out[j] = u_elem(uc, up, dn, txr, tyc, typ, fr, ar, rr, j, j - 1, j + 1);
        if (w > 1)
            out[w - 1] = u_elem(uc, up, dn, txr, tyc, typ, fr, ar, rr, w - 1, w - 2, w - 1);
        sum += sumsq_diff(out, uc, w);
    }
    return sum;
}

// ---- shrink -------------------------------------------------------------------------

// m = max(0, s - thresh) / max(1e-12, s) with s = sqrt(s2), in place, for n pixels.
static void shrink_factors(float *restrict s2, int n, float thresh) {
    for (int j = 0; j < n; j++) {
        const float s = sqrtf(s2[j]), num = s - thresh;
        s2[j] = (num > 0.0f ? num : 0.0f) / (s > 1e-12f ? s : 1e-12f);
    }
}

// Row i of d, t from u' (W->un). s2: (w) scratch.
static void shrink_row(const satv_work *W, int i, float *restrict s2) {
    const int h = W->h, w = W->w;
    const size_t ic = (size_t)i * w, in = (size_t)(i < h - 1 ? i + 1 : i) * w;
    // z into tx, ty (their old values are read first), s^2 summed over channels.
    for (int j = 0; j < w; j++) s2[j] = 0.0f;
    for (int k = 0; k < W->c; k++) {
        const size_t o = (size_t)k * W->plane;
        const float *restrict ur = W->un + o + ic, *restrict ud = W->un + o + in;
        const float *restrict dx = W->dx + o + ic, *restrict dy = W->dy + o + ic;
        float *restrict tx = W->tx + o + ic, *restrict ty = W->ty + o + ic;
        for (int j = 0; j < w; j++) {
            int jr = j < w - 1 ? j + 1 : j;
            float zx = (ur[jr] - ur[j]) + dx[j] - tx[j];
            float zy = (ud[j] - ur[j]) + dy[j] - ty[j];
            tx[j] = zx;
            ty[j] = zy;
            s2[j] += zx * zx + zy * zy;
        }
    }
    shrink_factors(s2, w, W->thresh);
    for (int k = 0; k < W->c; k++) {
        const size_t o = (size_t)k * W->plane;
        float *restrict dx = W->dx + o + ic, *restrict dy = W->dy + o + ic;
        float *restrict tx = W->tx + o + ic, *restrict ty = W->ty + o + ic;
        for (int j = 0; j < w; j++) {
            float ex = s2[j] * tx[j], ey = s2[j] * ty[j];
            tx[j] = 2.0f * ex - tx[j];
            ty[j] = 2.0f * ey - ty[j];
            dx[j] = ex;
            dy[j] = ey;
        }
    }
}

// One iteration: u' into W->un and W->rowsum; then, when `shrink`, d and t from u'.
static void iterate(const satv_work *W, int nthreads, int shrink) {
#pragma omp parallel num_threads(nthreads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int r0 = (int)((int64_t)W->h * t / nt), r1 = (int)((int64_t)W->h * (t + 1) / nt);
        float *s2 = W->scratch + (size_t)t * W->wpad;
        for (int i = r0; i < r1; i++) {
            W->rowsum[i] = u_row(W, i);
            if (shrink && i > r0) shrink_row(W, i - 1, s2);
        }
#pragma omp barrier
        if (shrink && r1 > r0) shrink_row(W, r1 - 1, s2);
    }
}

// ---- setup and teardown -------------------------------------------------------------

// Carves every work array out of one 64-byte aligned block; NULL + error on failure.
static void *work_alloc(satv_work *W, int h, int w, int c, int map, int nthreads) {
    const size_t n = pad16(W->plane * (size_t)c), nr = pad16(map ? W->plane : (size_t)w);
    const size_t ns = (size_t)nthreads * W->wpad, nd = pad16((size_t)h);
    // 7 (c, h, w) arrays, a, r, scratch, and the row sums (doubles: 2 floats each).
    size_t part, bytes;
    if (as_mul_size(n, 7, &part) ||
        as_mul_size(part + 2 * nr + ns + 2 * nd, sizeof(float), &bytes)) {
        as_errorf("satv: image of %d x %d x %d is too large", w, h, c);
        return NULL;
    }
    float *p = as_aligned_alloc(bytes);
    if (!p) return NULL;
    float **arrays[7] = {&W->u, &W->un, &W->dx, &W->dy, &W->tx, &W->ty, &W->f};
    for (int a = 0; a < 7; a++) *arrays[a] = p + (size_t)a * n;
    W->a = p + 7 * n;
    W->r = W->a + nr;
    W->scratch = W->r + nr;
    W->rowsum = (double *)(W->scratch + ns);
    return p;
}

// f and u = f planar, a = lambda / gamma1, r = 1 / (a + 8), d = t = 0, and the row sums
// of f^2 into rowsum.
// Returns the number of rows whose lambda was negative or not finite (0 when all good).
static int work_init(const satv_work *W, const float *f, const satv_params *p,
                     int nthreads) {
    const int h = W->h, w = W->w, c = W->c;
    const float *map = p->lambda_map;
    int bad = 0;
    if (!map) {
        const float a = p->lambda / p->gamma1;
        for (int j = 0; j < w; j++) {
            W->a[j] = a;
            W->r[j] = 1.0f / (a + 8.0f);
        }
    }
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : bad)
    for (int i = 0; i < h; i++) {
        const float *fr = f + (size_t)i * w * c;  // (w, c)
        float *ar = W->a + (size_t)i * W->rstride, *rr = W->r + (size_t)i * W->rstride;
        double sum = 0;
        for (int j = 0; j < w; j++) {
            float lam = map ? map[(size_t)i * w + j] : p->lambda;
            if (!(isfinite(lam) && lam >= 0.0f)) {
                bad++;
                lam = 0.0f;
            }
            const float a = lam / p->gamma1;
            if (map) {
                ar[j] = a;
                rr[j] = 1.0f / (a + 8.0f);
            }
            for (int k = 0; k < c; k++) {
                const size_t o = (size_t)k * W->plane + (size_t)i * w + j;
                const float fv = fr[(size_t)j * c + k];
                W->u[o] = W->f[o] = fv;
                W->dx[o] = W->dy[o] = W->tx[o] = W->ty[o] = 0.0f;
                sum += (double)fv * fv;
            }
        }
        W->rowsum[i] = sum;
    }
    return bad;
}

// structure = u, texture = f - u, back to (h, w, c). f is read before either is written,
// element by element, so either output may be f itself.
static void work_output(const satv_work *W, float *structure, float *texture,
                        const float *f, int nthreads) {
    const int h = W->h, w = W->w, c = W->c;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            for (int k = 0; k < c; k++) {
                const size_t e = ((size_t)i * w + j) * c + k;
                const float s = W->u[(size_t)k * W->plane + (size_t)i * w + j];
                const float t = f[e] - s;
                structure[e] = s;
                if (texture) texture[e] = t;
            }
}

static double rows_total(const satv_work *W) {
    double s = 0;
    for (int i = 0; i < W->h; i++) s += W->rowsum[i];
    return s;
}

static int check_args(const float *structure, const float *texture, const float *f, int h,
                      int w, int c, const satv_params *p) {
    if (!structure || !f || !p) return as_errorf("satv: NULL image or parameters");
    if (structure == texture) return as_errorf("satv: structure and texture are one buffer");
    if (c < 1) return as_errorf("satv: %d channels", c);
    if (as_check_pixels("satv", w, h)) return -1;
    if (!(isfinite(p->gamma1) && p->gamma1 > 0.0f))
        return as_errorf("satv: gamma1 must be positive and finite (got %g)", p->gamma1);
    if (!p->lambda_map && !(isfinite(p->lambda) && p->lambda >= 0.0f))
        return as_errorf("satv: lambda must be >= 0 and finite (got %g)", p->lambda);
    if (!(p->tol >= 0.0f)) return as_errorf("satv: tol must be >= 0 (got %g)", p->tol);
    if (p->max_iters < 1) return as_errorf("satv: max_iters must be >= 1 (got %d)", p->max_iters);
    return 0;
}

int satv_decompose(float *structure, float *texture, int *iters_done, const float *f,
                   int h, int w, int c, const satv_params *p) {
    if (check_args(structure, texture, f, h, w, c, p)) return -1;
    const int nthreads = omp_get_max_threads();
    satv_work W = {.h = h, .w = w, .c = c, .plane = (size_t)h * w,
                   .rstride = p->lambda_map ? (size_t)w : 0, .wpad = pad16((size_t)w),
                   .thresh = 1.0f / p->gamma1};
    void *block = work_alloc(&W, h, w, c, p->lambda_map != NULL, nthreads);
    if (!block) return -1;
    if (work_init(&W, f, p, nthreads)) {
        free(block);
        return as_errorf("satv: the lambda map holds negative or non-finite values");
    }
    const double nf = sqrt(rows_total(&W));
    if (!isfinite(nf)) {
        free(block);
        return as_errorf("satv: the image holds non-finite values");
    }
    // The MATLAB loop counts iterations from 1 and tests after the u update, so at least
    // two u updates are made (SPEC: "iteration >= 2"). f = 0 has ||f|| = 0: u stays 0,
    // and the unnormalised change (0) stands in for delta.
    int it = 0;
    while (++it <= p->max_iters) {
        iterate(&W, nthreads, it < p->max_iters);  // no d, t update after the last one
        const double du = sqrt(rows_total(&W));
        const double delta = nf > 0 ? du / nf : du;
        float *tmp = W.u;
        W.u = W.un;
        W.un = tmp;
        if (it >= 2 && delta <= p->tol) break;
    }
    if (iters_done) *iters_done = it > p->max_iters ? p->max_iters : it;
    work_output(&W, structure, texture, f, nthreads);
    free(block);
    return 0;
}
