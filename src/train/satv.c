// satv: the split-Bregman vectorial TV-L2 solver of docs/spec.md §5.
//
// The docs/spec.md §5 iteration, per channel k, with indices clamped at the borders:
//   u'  = (a f - (tx - tx[:, j-1]) - (ty - ty[i-1, :])
//          + u[i-1,:] + u[i+1,:] + u[:,j-1] + u[:,j+1] + 4u) / (a + 8)
//   zx  = (u'[:, j+1] - u') + dx - tx         zy = (u'[i+1, :] - u') + dy - ty
//   m   = max(0, s - 1/gamma1) / max(1e-12, s),  s = sqrt(sum_k zx^2 + zy^2) per pixel
//   dx  = m zx,  dy = m zy,  tx = 2 dx - zx,  ty = 2 dy - zy
// Clamping makes every difference across the border exactly 0 (x - x), so the code uses
// clamped indices everywhere and needs no special case for the first row or column.
//
// Two rewritings, identical in exact arithmetic, make it cheaper and no less accurate:
// - The state is z and m, not d and t: d = m z and t = (2m - 1) z, so the next
//   z = grad u' + d - t = grad u' + (1 - m) z. That is 2c + 1 floats per pixel instead of
//   4c (m is per pixel), and the shrink writes z and m only: the solver is bound by
//   memory traffic, so this is most of its speed.
// - u' = u + (a (f - u) + sum_nb (u_nb - u) - div t) / (a + 8): every term is a
//   difference, so rounding is smaller, and a constant image is a fixed point exactly
//   (S = f, T = 0 bit for bit).
//
// Layout: the work arrays are planar (c, h, w), so that every inner loop runs along a
// row of one channel and vectorises; the per-pixel norm s sums the c planes.
//
// One pass per iteration: each thread owns a band of rows [r0, r1) and walks it once,
// computing row i of u' and then shrinking row i-1 (which needs u' rows i-1 and i). That
// order is safe: u' row i reads z and m of rows i-1 and i, and the shrink of row i-1 only
// comes after it. The band's last row needs u' of the next band's first row, so it is
// shrunk after a barrier; until then it stays old, as the next band's first u' row needs.
// The shrink is done before the stopping test is known; when the loop stops, z and m are
// discarded, so this speculation changes nothing.
//
// Determinism: every value is computed by the same code whatever the band split, and the
// norm ||u' - u||^2 is summed per row in double, then over rows serially in row order, so
// the result is bitwise independent of the thread count.
#include "train/satv.h"

#include <math.h>
#include <omp.h>
#ifdef __AVX__
#include <immintrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

satv_params satv_defaults(void) {
    return (satv_params){.lambda = 2.5f, .gamma1 = 5.0f, .tol = 1e-3f, .max_iters = 50, .lambda_map = NULL};
}

typedef struct {
    int h, w, c;
    size_t plane;    // h * w
    size_t cs;       // floats from one channel plane to the next (see block_floats)
    float *u, *un;   // (c, h, w) current and next iterate
    float *zx, *zy;  // (c, h, w) z of the last shrink (d = m z, t = (2m - 1) z)
    float *m;        // (h, w) shrink factor of the last shrink
    float *f;        // (c, h, w) the input
    float *a, *r;    // (h, w) a = lambda / gamma1 and 1 / (a + 8) with a lambda map;
                     // one row (w) each without
    size_t rstride;  // w with a lambda map, 0 without (every row reads the same row)
    float *scratch;  // (threads, 3, wpad): s^2 of the row being shrunk, 2m - 1 of two rows
    size_t wpad;     // w rounded up to 16 floats (64 bytes) so threads share no line
    double *rowsum;  // (h) sum over channels and columns of (u' - u)^2, per row
    float thresh;    // 1 / gamma1
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

// Row i of u' for one channel (all arrays (w), of that row unless named otherwise):
// u, its rows above (up) and below (dn), zx, zy and zy of the row above (zyp), q = 2m - 1
// of this row and the row above (qp), so that tx = q zx and ty = q zy; f, a, r.
// restrict on the parameters, which the loop reads, is what lets it vectorise.
static void u_row_plane(float *restrict out, const float *restrict uc, const float *restrict up,
                        const float *restrict dn, const float *restrict zx, const float *restrict zy,
                        const float *restrict zyp, const float *restrict q, const float *restrict qp,
                        const float *restrict f, const float *restrict a, const float *restrict r, int w) {
    // Element j with clamped neighbour columns jl, jr.
#define U_ELEM(j, jl, jr)                                                                    \
    do {                                                                                     \
        const float u = uc[j];                                                               \
        const float lap = ((up[j] - u) + (dn[j] - u)) + ((uc[jl] - u) + (uc[jr] - u));       \
        const float div = (q[j] * zx[j] - q[jl] * zx[jl]) + (q[j] * zy[j] - qp[j] * zyp[j]); \
        out[j] = u + (a[j] * (f[j] - u) + (lap - div)) * r[j];                               \
    } while (0)
    U_ELEM(0, 0, w > 1 ? 1 : 0);
    for (int j = 1; j < w - 1; j++) U_ELEM(j, j - 1, j + 1);
    if (w > 1) U_ELEM(w - 1, w - 2, w - 1);
#undef U_ELEM
}

// q = 2m - 1 for one row of m.
static void t_factors(float *restrict q, const float *restrict m, int w) {
    for (int j = 0; j < w; j++) q[j] = 2.0f * m[j] - 1.0f;
}

// Row i of u' for every channel; returns sum_k,j (u' - u)^2 over the row, in double.
// q: (2, wpad) scratch.
static double u_row(const satv_work *W, int i, float *restrict q) {
    const int h = W->h, w = W->w;
    const size_t ic = (size_t)i * w, ip = (size_t)(i > 0 ? i - 1 : i) * w;
    const size_t in = (size_t)(i < h - 1 ? i + 1 : i) * w;
    const float *ar = W->a + (size_t)i * W->rstride;  // (w)
    const float *rr = W->r + (size_t)i * W->rstride;  // (w)
    float *qc = q, *qp = q + W->wpad;
    t_factors(qc, W->m + ic, w);
    t_factors(qp, W->m + ip, w);
    double sum = 0;
    for (int k = 0; k < W->c; k++) {
        const size_t o = (size_t)k * W->cs;
        const float *uc = W->u + o + ic;
        float *out = W->un + o + ic;
        u_row_plane(out, uc, W->u + o + ip, W->u + o + in, W->zx + o + ic, W->zy + o + ic, W->zy + o + ip, qc, qp,
                    W->f + o + ic, ar, rr, w);
        sum += sumsq_diff(out, uc, w);
    }
    return sum;
}

// ---- shrink -------------------------------------------------------------------------

// m = max(0, s - thresh) / max(1e-12, s) with s = sqrt(s2), for n pixels.
// GCC does not vectorise sqrtf (it may set errno) unless built with -fno-math-errno, and
// a scalar square root and division per pixel cost a third of an iteration; so with AVX
// the loop is written with intrinsics. They are the same IEEE operations (sqrt, sub,
// max, div, correctly rounded), so both paths give the same bits.
static void shrink_factors(float *restrict m, const float *restrict s2, int n, float thresh) {
    int j = 0;
#ifdef __AVX__
    const __m256 t = _mm256_set1_ps(thresh), zero = _mm256_setzero_ps();
    const __m256 tiny = _mm256_set1_ps(1e-12f);
    for (; j + 8 <= n; j += 8) {
        const __m256 sv = _mm256_sqrt_ps(_mm256_loadu_ps(s2 + j));
        const __m256 num = _mm256_max_ps(_mm256_sub_ps(sv, t), zero);
        _mm256_storeu_ps(m + j, _mm256_div_ps(num, _mm256_max_ps(sv, tiny)));
    }
#endif
    for (; j < n; j++) {
        const float s = sqrtf(s2[j]), num = s - thresh;
        m[j] = (num > 0.0f ? num : 0.0f) / (s > 1e-12f ? s : 1e-12f);
    }
}

// Row i of z and m from u' (W->un) and the old z, m. s2: (w) scratch.
static void shrink_row(const satv_work *W, int i, float *restrict s2) {
    const int h = W->h, w = W->w;
    const size_t ic = (size_t)i * w, in = (size_t)(i < h - 1 ? i + 1 : i) * w;
    float *restrict m = W->m + ic;
    for (int j = 0; j < w; j++) s2[j] = 0.0f;
    for (int k = 0; k < W->c; k++) {
        const size_t o = (size_t)k * W->cs;
        const float *restrict ur = W->un + o + ic, *restrict ud = W->un + o + in;
        float *restrict zx = W->zx + o + ic, *restrict zy = W->zy + o + ic;
        for (int j = 0; j < w; j++) {
            const int jr = j < w - 1 ? j + 1 : j;
            const float b = 1.0f - m[j];  // d - t = m z - (2m - 1) z = (1 - m) z
            const float x = (ur[jr] - ur[j]) + b * zx[j];
            const float y = (ud[j] - ur[j]) + b * zy[j];
            zx[j] = x;
            zy[j] = y;
            s2[j] += x * x + y * y;
        }
    }
    shrink_factors(m, s2, w, W->thresh);
}

// One iteration: u' into W->un and W->rowsum; then, when `shrink`, z and m from u'.
static void iterate(const satv_work *W, int nthreads, int shrink) {
#pragma omp parallel num_threads(nthreads)
    {
        const int nt = omp_get_num_threads(), t = omp_get_thread_num();
        const int r0 = (int)((int64_t)W->h * t / nt), r1 = (int)((int64_t)W->h * (t + 1) / nt);
        float *s2 = W->scratch + (size_t)t * 3 * W->wpad, *q = s2 + W->wpad;
        for (int i = r0; i < r1; i++) {
            W->rowsum[i] = u_row(W, i, q);
            if (shrink && i > r0) shrink_row(W, i - 1, s2);
        }
#pragma omp barrier
        if (shrink && r1 > r0) shrink_row(W, r1 - 1, s2);
    }
}

// ---- setup and teardown -------------------------------------------------------------

// Floats that a block of n floats takes: n rounded up to 4 KiB, plus 5 cache lines. So
// consecutive blocks start 5 lines apart modulo 4 KiB, and the same pixel of the ~5c
// planes that the row loops walk together falls in different L1 sets. Packed tightly, a
// 480 x 320 plane (exactly 150 x 4 KiB) put all of them in one set: the loops thrashed
// the cache (setup 10x, iterations 1.5x slower).
static size_t block_floats(size_t n) { return ((n + 1023) & ~(size_t)1023) + 80; }

// Carves every work array out of one 64-byte aligned allocation; NULL + error on failure.
static void *work_alloc(satv_work *W, int h, int w, int c, int map, int nthreads) {
    const size_t cs = block_floats(W->plane);                        // one channel plane
    const size_t nr = block_floats(map ? W->plane : (size_t)w);      // a, r
    const size_t ns = block_floats((size_t)nthreads * 3 * W->wpad);  // scratch
    const size_t nd = block_floats(2 * (size_t)h);                   // row sums (doubles)
    // 5 (c, h, w) arrays, m, a, r, scratch, row sums.
    size_t planes, bytes;
    if (as_mul_size(cs, 5 * (size_t)c + 1, &planes) || as_mul_size(planes + 2 * nr + ns + nd, sizeof(float), &bytes)) {
        as_errorf("satv: image of %d x %d x %d is too large", w, h, c);
        return NULL;
    }
    float *p = as_aligned_alloc(bytes);
    if (!p) return NULL;
    W->cs = cs;
    float **arrays[5] = {&W->u, &W->un, &W->zx, &W->zy, &W->f};
    for (int a = 0; a < 5; a++) *arrays[a] = p + (size_t)a * c * cs;
    W->m = p + 5 * (size_t)c * cs;
    W->a = W->m + cs;
    W->r = W->a + nr;
    W->scratch = W->r + nr;
    W->rowsum = (double *)(W->scratch + ns);
    return p;
}

// Sum of x[j]^2 over [0, n) in double; 8 partial sums as in sumsq_diff.
static double sumsq(const float *restrict x, int n) {
    double acc[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int q = 0; q < 8; q++) acc[q] += (double)x[j + q] * x[j + q];
    for (int q = 0; j < n; j++, q++) acc[q] += (double)x[j] * x[j];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// a = lambda / gamma1 and r = 1 / (a + 8) for one row of a lambda map (or the scalar
// when map is NULL). Returns how many lambdas were negative or not finite (taken as 0).
static int fidelity_row(float *restrict a, float *restrict r, const float *restrict map, float lambda, float gamma1,
                        int w) {
    int bad = 0;
    for (int j = 0; j < w; j++) {
        float lam = map ? map[j] : lambda;
        if (!(isfinite(lam) && lam >= 0.0f)) {
            bad++;
            lam = 0.0f;
        }
        a[j] = lam / gamma1;
        r[j] = 1.0f / (a[j] + 8.0f);
    }
    return bad;
}

// f and u = f planar, a and r, z = m = 0 (so d = t = 0), and the row sums of f^2 into
// rowsum. Returns how many lambdas were negative or not finite (0 when all are good).
static int work_init(const satv_work *W, const float *f, const satv_params *p, int nthreads) {
    const int h = W->h, w = W->w, c = W->c;
    const float *map = p->lambda_map;
    int bad = map ? 0 : fidelity_row(W->a, W->r, NULL, p->lambda, p->gamma1, w);
#pragma omp parallel for num_threads(nthreads) schedule(static) reduction(+ : bad)
    for (int i = 0; i < h; i++) {
        const size_t ic = (size_t)i * w;
        const float *fr = f + ic * c;  // (w, c)
        if (map) bad += fidelity_row(W->a + ic, W->r + ic, map + ic, 0, p->gamma1, w);
        memset(W->m + ic, 0, (size_t)w * sizeof(float));
        double sum = 0;
        for (int k = 0; k < c; k++) {
            const size_t o = (size_t)k * W->cs + ic;
            float *restrict ur = W->u + o;
            for (int j = 0; j < w; j++) ur[j] = fr[(size_t)j * c + k];
            memcpy(W->f + o, ur, (size_t)w * sizeof(float));
            memset(W->zx + o, 0, (size_t)w * sizeof(float));
            memset(W->zy + o, 0, (size_t)w * sizeof(float));
            sum += sumsq(ur, w);
        }
        W->rowsum[i] = sum;
    }
    return bad;
}

// structure = u, texture = f - u, back to (h, w, c). f is read before either is written,
// element by element, so either output may be f itself.
static void work_output(const satv_work *W, float *structure, float *texture, const float *f, int nthreads) {
    const int h = W->h, w = W->w, c = W->c;
#pragma omp parallel for num_threads(nthreads) schedule(static)
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            for (int k = 0; k < c; k++) {
                const size_t e = ((size_t)i * w + j) * c + k;
                const float s = W->u[(size_t)k * W->cs + (size_t)i * w + j];
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

static int check_args(const float *structure, const float *texture, const float *f, int h, int w, int c,
                      const satv_params *p) {
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

int satv_decompose(float *structure, float *texture, int *iters_done, const float *f, int h, int w, int c,
                   const satv_params *p) {
    if (check_args(structure, texture, f, h, w, c, p)) return -1;
    const int nthreads = omp_get_max_threads();
    satv_work W = {.h = h,
                   .w = w,
                   .c = c,
                   .plane = (size_t)h * w,
                   .rstride = p->lambda_map ? (size_t)w : 0,
                   .wpad = pad16((size_t)w),
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
    // two u updates are made (docs/spec.md §5: "iteration >= 2"). f = 0 has ||f|| = 0: u stays 0,
    // and the unnormalised change (0) stands in for delta.
    int it = 0;
    while (++it <= p->max_iters) {
        iterate(&W, nthreads, it < p->max_iters);  // no z, m update after the last one
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
