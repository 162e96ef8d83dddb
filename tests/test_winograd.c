// test_winograd: the Winograd convolutions (src/nn/winograd.c: F(4x4, 3x3), F(6x6, 3x3),
// and SA4's F(4x4, 5x5) and F(2x2, 7x7)) and their use by conv (ATTSR_CONV /
// conv_set_algo), against a naive double-precision convolution and oneDNN's direct one.
//
// Error bound. The truth is the double-precision convolution; errors are taken relative
// to the output's largest magnitude, max|y|. A direct fp32 convolution is a rounded dot
// product of K = 9 cin terms. Winograd adds the transforms: B^T's rows have absolute sums
// up to 10 (m = 4) and A^T's up to 19 (2D: 100 and 361), so intermediate values, and the
// rounding errors committed on them, are up to ~10^4 times larger than single products
// before the output transform cancels them back. With data of mixed signs the errors
// add like a random walk and grow like sqrt(cin): F(4x4, 3x3) measures 2e-7 to 8.5e-6
// of max|y| on this sweep in fp32 (ATTSR_TEST_VERBOSE=1 prints them; worst at 64
// channels), against ~1e-7 for direct. The bound asserted, 3e-5 (3.5x the worst seen),
// leaves room for 128 channels and fails for any wrong coefficient or index (a 1e-4
// bias error already fails). F(6x6, 3x3) (points +-1/2, A^T up to 32) measures up to
// 1.2e-5 here, bound 5e-5 (TOL8). F(4x4, 5x5) and F(2x2, 7x7) share its 8 x 8 input
// transform, with A^T's rows summing to 19 (m = 4) and 8 (m = 2) and G's entries up
// to 32/45 over 25 and 49 taps: they measure up to 8.0e-6 and 6.2e-6 (forward; F(2x2,
// 7x7)'s backward-data up to 7.9e-6), within the same bound TOL8.
#include "test.h"

#include <omp.h>

#include "core/core.h"
#include "image/image.h"
#include "image/metrics.h"
#include "image/resize.h"
#include "model/upscale.h"
#include "nn/nn.h"
#include "nn/winograd.h"

#define TOL4 3e-5
#define TOL8 5e-5  // the 8 x 8 tiles: F(6x6, 3x3), F(4x4, 5x5), F(2x2, 7x7)

// The algorithms winograd.c has, as (r, m): kernel r x r, output tiles m x m.
static const int ALGOS[][2] = {{3, 4}, {3, 6}, {5, 4}, {7, 2}};
static double tol_for(int r, int m) { return r == 3 && m == 4 ? TOL4 : TOL8; }

static int verbose(void) {
    const char *v = getenv("ATTSR_TEST_VERBOSE");
    return v ? atoi(v) : 0;
}

static float *frand(size_t n, as_rng *r, float scale) {
    float *p = as_aligned_alloc(n * sizeof(float) + 64);
    CHECK(p, "%s", as_error());
    for (size_t i = 0; i < n; i++) p[i] = (float)((as_rng_uniform(r) * 2 - 1) * scale);
    return p;
}

static float *fnan(size_t n) {
    float *p = as_aligned_alloc(n * sizeof(float) + 64);
    CHECK(p, "%s", as_error());
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

// out (N,H,W,cout) in double: the truth of an r x r 'same' convolution. flip: weight
// is (cin, cout, r, r) and the kernel is its flipped transpose (backward-data).
static void naive(double *out, const float *in, const float *weight, const float *bias, int N, int H, int W, int cin,
                  int cout, int r, int flip) {
    const int kk = r * r, p = r / 2;
    for (int n = 0; n < N; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int co = 0; co < cout; co++) {
                    double acc = bias ? bias[co] : 0;
                    for (int ky = 0; ky < r; ky++)
                        for (int kx = 0; kx < r; kx++) {
                            int yy = y + ky - p, xx = x + kx - p;
                            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                            const float *q = in + (((size_t)n * H + yy) * W + xx) * cin;
                            for (int ci = 0; ci < cin; ci++) {
                                float g = flip ? weight[((size_t)ci * cout + co) * kk + kk - 1 - (ky * r + kx)]
                                               : weight[((size_t)co * cin + ci) * kk + ky * r + kx];
                                acc += (double)q[ci] * g;
                            }
                        }
                    out[(((size_t)n * H + y) * W + x) * cout + co] = acc;
                }
}

// max |got - ref| / max |ref|; CHECKs finiteness
static double rel_err(const float *got, const double *ref, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(isfinite(got[i]), "[%zu] = %g", i, got[i]);
        e = fmax(e, fabs(got[i] - ref[i]));
        m = fmax(m, fabs(ref[i]));
    }
    return m > 0 ? e / m : e;
}

typedef struct {
    int N, H, W, cin, cout;
} shape;

// Odd sizes, 1-pixel and 2x2 images, channels not a multiple of 8, batches, and the
// network's widths.
static const shape SWEEP[] = {
    {1, 1, 1, 1, 1},    {1, 1, 1, 8, 8},      {1, 2, 2, 3, 5},    {2, 5, 7, 3, 16},   {1, 7, 5, 13, 9},
    {3, 9, 11, 16, 16}, {1, 4, 4, 8, 24},     {2, 13, 6, 17, 31}, {1, 17, 19, 32, 3}, {1, 12, 12, 64, 64},
    {4, 10, 9, 64, 32}, {1, 33, 31, 32, 128}, {2, 1, 40, 20, 12}, {1, 40, 1, 12, 20},
};
#define NSWEEP (int)(sizeof SWEEP / sizeof *SWEEP)

// One case's data from its seed: an input (N,H,W,cin), an output-sized tensor (N,H,W,
// cout) of the same kind (a gradient), OIHW weights (cout, cin, k, k) and a bias.
typedef struct {
    size_t nin, nout, nw;
    float *in, *d_out, *w, *b;
} tcase;

static tcase tcase_make_k(shape s, int k, uint64_t seed) {
    as_rng r;
    as_rng_seed(&r, seed);
    tcase t = {.nin = (size_t)s.N * s.H * s.W * s.cin,
               .nout = (size_t)s.N * s.H * s.W * s.cout,
               .nw = (size_t)s.cout * s.cin * k * k};
    t.in = frand(t.nin, &r, 1), t.w = frand(t.nw, &r, 0.3f), t.b = frand(s.cout, &r, 0.5f);
    t.d_out = frand(t.nout, &r, 1);
    return t;
}

static tcase tcase_make(shape s, uint64_t seed) { return tcase_make_k(s, 3, seed); }

static void tcase_free(tcase *t) { free(t->in), free(t->d_out), free(t->w), free(t->b); }

// The reference (plain C) and the SIMD path (AVX2 or AVX-512), each against the truth,
// forward, for each algorithm.
static void sweep_one(int r, int m, int use_ref) {
    double tol = tol_for(r, m), worst = 0;
    for (int k = 0; k < NSWEEP; k++) {
        shape s = SWEEP[k];
        tcase tc = tcase_make_k(s, r, 100 + k);
        size_t nout = tc.nout;
        float *in = tc.in, *w = tc.w, *b = tc.b, *out = fnan(nout);
        double *ref = malloc(nout * sizeof(double));
        CHECK(ref);
        naive(ref, in, w, b, s.N, s.H, s.W, s.cin, s.cout, r, 0);
        if (use_ref) {
            CHECK_OK(wino_ref_conv(r, m, out, in, w, b, s.N, s.H, s.W, s.cin, s.cout));
        } else {
            wino *p = wino_create(s.N, s.H, s.W, s.cin, s.cout, r, m);
            CHECK(p, "%s", as_error());
            float *U = fnan(wino_kernel_floats(p));
            wino_kernel_transform(p, U, w, 0);
            CHECK_OK(wino_run(p, out, in, U, b, 0, 0, NULL));
            free(U);
            wino_destroy(p);
        }
        double e = rel_err(out, ref, nout);
        worst = fmax(worst, e);
        if (verbose())
            printf("# F(%d,%d) %s %dx%dx%d %d->%d rel err %.2e\n", m, r, use_ref ? "ref " : "simd", s.N, s.H, s.W,
                   s.cin, s.cout, e);
        CHECK(e <= tol, "F(%d,%d) %dx%dx%d %d->%d: rel err %.3g > %.0e", m, r, s.N, s.H, s.W, s.cin, s.cout, e, tol);
        tcase_free(&tc), free(out), free(ref);
    }
    if (verbose()) printf("# F(%d,%d) %s worst %.2e\n", m, r, use_ref ? "ref" : "simd", worst);
}

static void sweep(int use_ref) {
    for (int a = 0; a < 4; a++) sweep_one(ALGOS[a][0], ALGOS[a][1], use_ref);
}

static void reference(void) { sweep(1); }
static void simd(void) { sweep(0); }

// The SIMD path agrees with the plain C reference closely (the same algorithm; only
// the GEMM's summation order differs), with LeakyReLU fused, on 1 and 2 threads.
static void simd_vs_ref(void) {
    for (int a = 0; a < 4; a++)
        for (int k = 0; k < NSWEEP; k++) {
            int r = ALGOS[a][0], m = ALGOS[a][1];
            shape s = SWEEP[k];
            tcase tc = tcase_make_k(s, r, 200 + k);
            size_t nout = tc.nout;
            float *in = tc.in, *w = tc.w, *b = tc.b, *ref = fnan(nout), *out = fnan(nout);
            CHECK_OK(wino_ref_conv(r, m, ref, in, w, b, s.N, s.H, s.W, s.cin, s.cout));
            double mx = 0;
            for (size_t i = 0; i < nout; i++) {
                mx = fmax(mx, fabs(ref[i]));
                ref[i] = ref[i] > 0 ? ref[i] : 0.2f * ref[i];
            }
            int saved = omp_get_max_threads();
            for (int thr = 1; thr <= 2; thr++) {
                omp_set_num_threads(thr);
                wino *p = wino_create(s.N, s.H, s.W, s.cin, s.cout, r, m);
                CHECK(p, "%s", as_error());
                float *U = fnan(wino_kernel_floats(p));
                wino_kernel_transform(p, U, w, 0);
                for (size_t i = 0; i < nout; i++) out[i] = NAN;
                CHECK_OK(wino_run(p, out, in, U, b, 1, 0.2f, NULL));
                free(U);
                wino_destroy(p);
                double e = 0;
                for (size_t i = 0; i < nout; i++) {
                    CHECK(isfinite(out[i]), "[%zu]", i);
                    e = fmax(e, fabs(out[i] - ref[i]));
                }
                CHECK(e <= 1e-5 * mx, "F(%d,%d) %dx%dx%d %d->%d, %d threads: |simd - ref| %.3g > 1e-5 x %.3g", m, r,
                      s.N, s.H, s.W, s.cin, s.cout, thr, e, mx);
            }
            omp_set_num_threads(saved);
            tcase_free(&tc), free(out), free(ref);
        }
}

// Backward-data: the direction cout -> cin with the flipped, transposed kernel, for
// the algorithms conv.c uses (m = 4 for 3x3 and 5x5, m = 2 for 7x7).
static void backward_data(void) {
    const int algos[][2] = {{3, 4}, {5, 4}, {7, 2}};
    for (int a = 0; a < 3; a++)
        for (int k = 0; k < NSWEEP; k++) {
            int r = algos[a][0], m = algos[a][1];
            shape s = SWEEP[k];
            tcase tc = tcase_make_k(s, r, 300 + k);
            size_t nin = tc.nin;
            float *d_out = tc.d_out, *w = tc.w, *d_in = fnan(nin);
            double *ref = malloc(nin * sizeof(double));
            CHECK(ref);
            naive(ref, d_out, w, NULL, s.N, s.H, s.W, s.cout, s.cin, r, 1);
            wino *p = wino_create(s.N, s.H, s.W, s.cout, s.cin, r, m);
            CHECK(p, "%s", as_error());
            float *U = fnan(wino_kernel_floats(p));
            wino_kernel_transform(p, U, w, 1);
            CHECK_OK(wino_run(p, d_in, d_out, U, NULL, 0, 0, NULL));
            double e = rel_err(d_in, ref, nin);
            if (verbose())
                printf("# bwd-data F(%d,%d) %dx%dx%d %d->%d rel err %.2e\n", m, r, s.N, s.H, s.W, s.cin, s.cout, e);
            CHECK(e <= tol_for(r, m), "F(%d,%d) %dx%dx%d %d->%d: rel err %.3g", m, r, s.N, s.H, s.W, s.cin, s.cout, e);
            free(U);
            wino_destroy(p);
            tcase_free(&tc), free(d_in), free(ref);
        }
}

// Backward-weights' truth in double: dW[co][ci][ky][kx] = sum over pixels of
// d_out[co] x in[ci] shifted by (ky - 1, kx - 1) (zero outside), db[co] = sum of d_out[co].
static void naive_bwd_weights(double *dw, double *db, const float *in, const float *d_out, int N, int H, int W, int cin,
                              int cout) {
    for (size_t i = 0; i < (size_t)cout * cin * 9; i++) dw[i] = 0;
    for (int co = 0; co < cout; co++) db[co] = 0;
    for (int n = 0; n < N; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const float *g = d_out + (((size_t)n * H + y) * W + x) * cout;
                for (int co = 0; co < cout; co++) db[co] += g[co];
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        int yy = y + ky - 1, xx = x + kx - 1;
                        if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                        const float *p = in + (((size_t)n * H + yy) * W + xx) * cin;
                        for (int co = 0; co < cout; co++)
                            for (int ci = 0; ci < cin; ci++)
                                dw[((size_t)co * cin + ci) * 9 + ky * 3 + kx] += (double)g[co] * p[ci];
                    }
            }
}

// Backward-weights, the reference (m = 4 and 6) and the SIMD path (m = 4) against the
// truth. dW is a sum over all N*H*W pixels instead of the forward's 9 cin terms, and the
// transforms are the forward's B^T (row sums up to 10, 2D 100) on the input and A (row
// sums up to 15, 2D 225) on d_out, so the relative error (of max|dW|) is of the
// forward's order: F(4x4) measures 1e-8 to 2.7e-6 on this sweep (ATTSR_TEST_VERBOSE=1;
// the reference, which sums the tiles in double, up to 1.7e-6), F(6x6) up to 3.8e-6;
// bounds TOL4 and TOL8 as the forward's (11x the worst seen). d_bias is a plain sum
// (up to 3e-7 of max|db|; bound 1e-5).
static void bwd_weights_sweep(int m, int use_ref) {
    double tol = tol_for(3, m), worst = 0;
    for (int k = 0; k < NSWEEP; k++) {
        shape s = SWEEP[k];
        tcase tc = tcase_make(s, 800 + k);
        float *dw = fnan(tc.nw), *db = fnan(s.cout);
        double *rw = malloc(tc.nw * sizeof(double)), *rb = malloc(s.cout * sizeof(double));
        CHECK(rw && rb);
        naive_bwd_weights(rw, rb, tc.in, tc.d_out, s.N, s.H, s.W, s.cin, s.cout);
        if (use_ref) {
            CHECK_OK(wino_ref_bwd_weights(m, dw, db, tc.in, tc.d_out, s.N, s.H, s.W, s.cin, s.cout));
        } else {
            wino *p = wino_create_bwd_weights(s.N, s.H, s.W, s.cin, s.cout);
            CHECK(p, "%s", as_error());
            CHECK_OK(wino_backward_weights(p, dw, db, tc.in, tc.d_out));
            wino_destroy(p);
        }
        double e = rel_err(dw, rw, tc.nw), eb = rel_err(db, rb, s.cout);
        worst = fmax(worst, e);
        if (verbose())
            printf("# bwd-weights m=%d %s %dx%dx%d %d->%d rel err %.2e, bias %.2e\n", m, use_ref ? "ref " : "simd", s.N,
                   s.H, s.W, s.cin, s.cout, e, eb);
        CHECK(e <= tol, "m=%d %dx%dx%d %d->%d: dW rel err %.3g > %.0e", m, s.N, s.H, s.W, s.cin, s.cout, e, tol);
        CHECK(eb <= 1e-5, "m=%d %dx%dx%d %d->%d: db rel err %.3g", m, s.N, s.H, s.W, s.cin, s.cout, eb);
        tcase_free(&tc), free(dw), free(db), free(rw), free(rb);
    }
    if (verbose()) printf("# bwd-weights m=%d %s worst %.2e\n", m, use_ref ? "ref" : "simd", worst);
}

static void bwd_weights_ref4(void) { bwd_weights_sweep(4, 1); }
static void bwd_weights_ref6(void) { bwd_weights_sweep(6, 1); }
static void bwd_weights_simd(void) { bwd_weights_sweep(4, 0); }

// The SIMD path against the reference (the same algorithm; the GEMM sums in another
// order), on 1, 2 and 3 threads, and bit for bit the same on a second run (the slots are
// summed in order, whatever the timing). A batch of 8 50x50 images (1352 tiles) makes
// 8 chunks, so several slots. The reference sums the tiles in double, so the difference
// is the SIMD path's own error: up to 5.4e-6 of max|dW| here (20000 pixels per sum),
// bound TOL4; d_bias 8e-7, bound 1e-5.
static void bwd_weights_vs_ref(void) {
    const shape S[] = {{8, 50, 50, 16, 24}, {2, 13, 6, 17, 31}, {1, 1, 1, 3, 5}, {3, 30, 29, 40, 9}};
    for (int k = 0; k < 4; k++) {
        shape s = S[k];
        tcase tc = tcase_make(s, 900 + k);
        float *rw = fnan(tc.nw), *rb = fnan(s.cout), *dw = fnan(tc.nw), *db = fnan(s.cout);
        float *dw2 = fnan(tc.nw), *db2 = fnan(s.cout);
        CHECK_OK(wino_ref_bwd_weights(4, rw, rb, tc.in, tc.d_out, s.N, s.H, s.W, s.cin, s.cout));
        double mw = 0, mb = 0;
        for (size_t i = 0; i < tc.nw; i++) mw = fmax(mw, fabs(rw[i]));
        for (int i = 0; i < s.cout; i++) mb = fmax(mb, fabs(rb[i]));
        int saved = omp_get_max_threads();
        for (int thr = 1; thr <= 3; thr++) {
            omp_set_num_threads(thr);
            wino *p = wino_create_bwd_weights(s.N, s.H, s.W, s.cin, s.cout);
            CHECK(p, "%s", as_error());
            CHECK_OK(wino_backward_weights(p, dw, db, tc.in, tc.d_out));
            CHECK_OK(wino_backward_weights(p, dw2, db2, tc.in, tc.d_out));
            wino_destroy(p);
            CHECK(!memcmp(dw, dw2, tc.nw * sizeof(float)) && !memcmp(db, db2, s.cout * sizeof(float)),
                  "%d threads: two runs differ", thr);
            double ew = 0, eb = 0;
            for (size_t i = 0; i < tc.nw; i++) ew = fmax(ew, fabs(dw[i] - rw[i]));
            for (int i = 0; i < s.cout; i++) eb = fmax(eb, fabs(db[i] - rb[i]));
            if (verbose())
                printf("# bwd-weights %dx%dx%d %d->%d, %d threads: |simd - ref| %.2e of %.3g, bias %.2e of %.3g\n", s.N,
                       s.H, s.W, s.cin, s.cout, thr, ew / mw, mw, eb / mb, mb);
            CHECK(ew <= TOL4 * mw && eb <= 1e-5 * mb,
                  "%dx%dx%d %d->%d, %d threads: |simd - ref| %.3g of %.3g, bias %.3g", s.N, s.H, s.W, s.cin, s.cout,
                  thr, ew, mw, eb);
        }
        omp_set_num_threads(saved);
        wino *p6 = wino_create_bwd_weights(s.N, s.H, s.W, s.cin, s.cout);
        CHECK(p6 && wino_run(p6, dw, tc.in, rw, NULL, 0, 0, NULL) == -1);  // not a forward plan
        wino_destroy(p6);
        tcase_free(&tc), free(rw), free(rb), free(dw), free(db), free(dw2), free(db2);
    }
}

// ---- through conv (conv_set_algo), against oneDNN direct -----------------------------
static nn_conv *plan(conv_algo a, int N, int H, int W, int cin, int cout, int k, int training, const conv_opts *o) {
    conv_set_algo(a);
    nn_conv *c = conv_create(N, H, W, cin, cout, k, training, o);
    conv_set_algo(CONV_ALGO_AUTO);
    CHECK(c, "%s", as_error());
    return c;
}

static double max_diff(const float *a, const float *b, size_t n, double *scale) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(isfinite(a[i]), "[%zu] = %g", i, a[i]);
        e = fmax(e, fabs(a[i] - b[i]));
        m = fmax(m, fabs(b[i]));
    }
    *scale = m;
    return e;
}

// Which plans are Winograd: forced, every 3x3, 5x5 and 7x7 reading NHWC; auto, on maps of
// 1024+ pixels, 3x3 with 32+ input channels and 5x5 and 7x7 with 16+ (conv.c's table);
// never 1x1 or direct.
static void algo_choice(void) {
    nn_conv *c[14] = {
        plan(CONV_ALGO_WINOGRAD, 1, 8, 8, 3, 5, 3, 0, NULL),   plan(CONV_ALGO_WINOGRAD, 1, 8, 8, 3, 5, 5, 0, NULL),
        plan(CONV_ALGO_DIRECT, 1, 64, 64, 64, 64, 3, 0, NULL), plan(CONV_ALGO_AUTO, 1, 64, 64, 64, 64, 3, 1, NULL),
        plan(CONV_ALGO_AUTO, 1, 64, 64, 3, 64, 3, 0, NULL),    plan(CONV_ALGO_AUTO, 1, 64, 64, 64, 3, 3, 0, NULL),
        plan(CONV_ALGO_AUTO, 1, 64, 64, 16, 16, 3, 0, NULL),   plan(CONV_ALGO_AUTO, 1, 16, 16, 64, 64, 3, 0, NULL),
        plan(CONV_ALGO_WINOGRAD, 1, 8, 8, 3, 5, 7, 0, NULL),   plan(CONV_ALGO_WINOGRAD, 1, 8, 8, 3, 5, 1, 0, NULL),
        plan(CONV_ALGO_AUTO, 1, 64, 64, 64, 32, 7, 0, NULL),   plan(CONV_ALGO_AUTO, 1, 64, 64, 16, 16, 5, 1, NULL),
        plan(CONV_ALGO_AUTO, 1, 64, 64, 8, 16, 5, 0, NULL),    plan(CONV_ALGO_AUTO, 1, 16, 16, 64, 32, 7, 0, NULL)};
    const int want[14] = {1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 0, 0};
    for (int i = 0; i < 14; i++) {
        CHECK(conv_is_winograd(c[i]) == want[i], "plan %d: winograd %d", i, conv_is_winograd(c[i]));
        if (i == 3)  // the training plan: backward-weights by auto_winograd_bw's table
            CHECK(strstr(conv_impl_name(c[i], 2), "bwd-weights"), "%s", conv_impl_name(c[i], 2));
        if (want[i]) CHECK(strstr(conv_impl_name(c[i], 0), "winograd"), "%s", conv_impl_name(c[i], 0));
        if (i == 11)  // 5x5 training: backward-data through Winograd, backward-weights direct
            CHECK(strstr(conv_impl_name(c[i], 1), "F(4x4,5x5)") && !strstr(conv_impl_name(c[i], 2), "winograd"),
                  "%s | %s", conv_impl_name(c[i], 1), conv_impl_name(c[i], 2));
        CHECK(conv_dst_is_nhwc(c[i]) || !want[i], "plan %d", i);
        conv_destroy(c[i]);
    }
    // backward-weights: forced on any 3x3 training plan, never direct, auto by its table
    nn_conv *t[4] = {
        plan(CONV_ALGO_WINOGRAD, 1, 8, 8, 3, 5, 3, 1, NULL), plan(CONV_ALGO_DIRECT, 1, 64, 64, 64, 64, 3, 1, NULL),
        plan(CONV_ALGO_AUTO, 1, 16, 16, 64, 64, 3, 1, NULL), plan(CONV_ALGO_AUTO, 1, 64, 64, 16, 16, 3, 1, NULL)};
    for (int i = 0; i < 4; i++) {
        CHECK(!!strstr(conv_impl_name(t[i], 2), "bwd-weights") == (i == 0), "training plan %d: %s", i,
              conv_impl_name(t[i], 2));
        conv_destroy(t[i]);
    }
    conv_algo a;
    CHECK(conv_algo_parse("winograd", &a) == 0 && a == CONV_ALGO_WINOGRAD);
    CHECK(conv_algo_parse("direct", &a) == 0 && a == CONV_ALGO_DIRECT);
    CHECK(conv_algo_parse("Winograd", &a) == -1 && strstr(as_error(), "auto, direct or winograd"));
    CHECK(conv_algo_parse("", &a) == -1);
}

// A residual block's pair: conv1 (+ LeakyReLU, native_dst) feeding conv2 (native_src), both
// Winograd against both direct, forward and backward (d_in, d_weight and d_bias through
// Winograd), on the sweep's multi-channel shapes.
static void conv_layer(void) {
    for (int k = 0; k < NSWEEP; k++) {
        shape s = SWEEP[k];
        int C = s.cin, N = s.N, H = s.H, W = s.W;
        as_rng r;
        as_rng_seed(&r, 400 + k);
        size_t n = (size_t)N * H * W * C, nw = (size_t)C * C * 9;
        float *x = frand(n, &r, 1), *w1 = frand(nw, &r, 0.3f), *w2 = frand(nw, &r, 0.3f);
        float *b = frand(C, &r, 0.5f), *d_y = frand(n, &r, 1);
        float *res[2][6];  // a1, y, d_a1 (conv2's d_in), d_x (conv1's d_in), dw2, db2
        for (int v = 0; v < 2; v++) {
            conv_algo a = v ? CONV_ALGO_WINOGRAD : CONV_ALGO_DIRECT;
            // Winograd: the model's chain (native_dst, native_src; NHWC in fact). Direct: NHWC
            // between the two, so that a1 and d_a1 compare element by element.
            conv_opts o1 = {.native_dst = v, .lrelu = 1, .slope = 0.2f};
            nn_conv *c1 = plan(a, N, H, W, C, C, 3, 1, &o1);
            conv_opts o2 = {.native_src = v, .src = conv_dst_layout(c1)};
            CHECK(conv_dst_layout(c1).block == 0 || conv_dst_layout(c1).block == C, "block %d",
                  conv_dst_layout(c1).block);
            nn_conv *c2 = plan(a, N, H, W, C, C, 3, 1, &o2);
            CHECK(conv_is_winograd(c1) == v && conv_is_winograd(c2) == v);
            CHECK(conv_dst_floats(c1) == n);
            for (int i = 0; i < 6; i++) res[v][i] = fnan(i < 4 ? n : nw);
            CHECK_OK(conv_forward(c1, res[v][0], x, w1, b));
            CHECK_OK(conv_forward(c2, res[v][1], res[v][0], w2, b));
            CHECK_OK(conv_backward(c2, res[v][2], res[v][4], res[v][5], d_y, res[v][0], w2));
            CHECK_OK(conv_backward(c1, res[v][3], res[v][4], res[v][5], res[v][2], x, w1));
            conv_destroy(c1), conv_destroy(c2);
        }
        const char *names[6] = {"a1", "y", "d_a1", "d_x", "dw1", "db1"};
        for (int i = 0; i < 6; i++) {
            double sc, e = max_diff(res[1][i], res[0][i], i < 4 ? n : i == 4 ? nw : (size_t)C, &sc);
            // two Winograd layers in a row (and their backward) against two direct ones
            CHECK(e <= 2 * TOL4 * sc, "%dx%dx%d C=%d %s: |wino - direct| %.3g > %.0e x %.3g", N, H, W, C, names[i], e,
                  2 * TOL4, sc);
        }
        for (int v = 0; v < 2; v++)
            for (int i = 0; i < 6; i++) free(res[v][i]);
        free(x), free(w1), free(w2), free(b), free(d_y);
    }
}

// Central finite differences of L = <r, conv(x)> (accumulated in double) for a sample of
// input entries, against the Winograd backward's d_in. L is linear in x, so a large step
// h = 0.5 costs no truncation error and keeps the difference well above the rounding.
static double loss(nn_conv *c, float *out, const float *x, const float *w, const float *b, const float *r, size_t n) {
    CHECK_OK(conv_forward(c, out, x, w, b));
    double l = 0;
    for (size_t i = 0; i < n; i++) l += (double)r[i] * out[i];
    return l;
}

static void finite_differences(void) {
    const shape S[] = {{2, 5, 7, 3, 16}, {1, 9, 6, 13, 9}, {1, 12, 12, 64, 64}};
    for (int k = 0; k < 3; k++) {
        shape s = S[k];
        tcase tc = tcase_make(s, 500 + k);
        size_t nin = tc.nin, nout = tc.nout;
        as_rng r;
        as_rng_seed(&r, 550 + k);
        float *x = tc.in, *w = tc.w, *b = tc.b, *rr = tc.d_out, *out = fnan(nout);
        float *d_in = fnan(nin), *dw = fnan(tc.nw), *db = fnan(s.cout);
        nn_conv *c = plan(CONV_ALGO_WINOGRAD, s.N, s.H, s.W, s.cin, s.cout, 3, 1, NULL);
        CHECK(conv_is_winograd(c));
        CHECK_OK(conv_backward(c, d_in, dw, db, rr, x, w));
        double gmax = 0;
        for (size_t i = 0; i < nin; i++) gmax = fmax(gmax, fabs(d_in[i]));
        for (int t = 0; t < 40; t++) {
            size_t i = as_rng_below(&r, (uint32_t)nin);
            float x0 = x[i], h = 0.5f;
            x[i] = x0 + h;
            double lp = loss(c, out, x, w, b, rr, nout);
            x[i] = x0 - h;
            double lm = loss(c, out, x, w, b, rr, nout);
            x[i] = x0;
            double fd = (lp - lm) / (2 * h);
            CHECK(fabs(fd - d_in[i]) <= 1e-3 * gmax, "%dx%dx%d %d->%d: d_in[%zu] %.6g vs fd %.6g", s.N, s.H, s.W, s.cin,
                  s.cout, i, d_in[i], fd);
        }
        conv_destroy(c);
        tcase_free(&tc), free(out), free(d_in), free(dw), free(db);
    }
}

// One plan serving two layers (two weights pointers), then one layer's weights changed
// in place (a training step): each call must use its own, current weights. C = 16: the
// kernels are cached; C = 192: 5 MiB each, past conv.c's cache budget, transformed per
// call; layers = 1000 (conv_opts.layers past the budget): C = 16 transformed per call too,
// into the workspace, with no cache, inference and training plans alike.
static void kernel_cache_c(int C, int layers) {
    int N = 1, H = 9, W = 10;
    as_rng r;
    as_rng_seed(&r, 600);
    size_t n = (size_t)N * H * W * C, nw = (size_t)C * C * 9;
    float *x = frand(n, &r, 1), *wa = frand(nw, &r, 0.3f), *wb = frand(nw, &r, 0.3f);
    float *b = frand(C, &r, 0.5f), *y = fnan(n), *yd = fnan(n), *dx = fnan(n), *dxd = fnan(n);
    float *dw = fnan(nw), *db = fnan(C);
    nn_conv *cw = plan(CONV_ALGO_WINOGRAD, N, H, W, C, C, 3, 1, &(conv_opts){.layers = layers});
    nn_conv *ci = plan(CONV_ALGO_WINOGRAD, N, H, W, C, C, 3, 0, &(conv_opts){.layers = layers});
    nn_conv *cd = plan(CONV_ALGO_DIRECT, N, H, W, C, C, 3, 1, NULL);
    // each pointer: a first call (transformed into the workspace), a second (kept), a
    // hit, a change, the changed weights' second call (kept again, in the same place),
    // a hit
    for (int step = 0; step < 12; step++) {
        float *w = step % 2 ? wb : wa;
        if (step == 6) wa[17] += 0.25f;  // an update of one weight only
        if (step == 7) wb[0] = -wb[0];
        CHECK_OK(conv_forward(cw, y, x, w, b));
        CHECK_OK(conv_forward(cd, yd, x, w, b));
        CHECK_OK(conv_backward(cw, dx, dw, db, x, x, w));
        CHECK_OK(conv_backward(cd, dxd, dw, db, x, x, w));
        double sc, e = max_diff(y, yd, n, &sc);
        CHECK(e <= TOL4 * sc, "step %d forward: %.3g of %.3g", step, e, sc);
        CHECK_OK(conv_forward(ci, y, x, w, b));
        e = max_diff(y, yd, n, &sc);
        CHECK(e <= TOL4 * sc, "step %d inference forward: %.3g of %.3g", step, e, sc);
        e = max_diff(dx, dxd, n, &sc);
        CHECK(e <= TOL4 * sc, "step %d backward-data: %.3g of %.3g", step, e, sc);
    }
    conv_destroy(cw), conv_destroy(cd), conv_destroy(ci);
    free(x), free(wa), free(wb), free(b), free(y), free(yd), free(dx), free(dxd), free(dw), free(db);
}

static void kernel_cache(void) {
    kernel_cache_c(16, 0);
    kernel_cache_c(192, 0);
    kernel_cache_c(16, 1000);
    kernel_cache_c(16, 2);
}

// conv_forward_add: the residual add fused into Winograd's output transform (res may
// alias out there) equals conv_forward + the add, as on a direct plan.
static void forward_add(void) {
    shape s = {2, 9, 13, 32, 24};
    tcase tc = tcase_make(s, 700);
    float *ref = fnan(tc.nout), *got = fnan(tc.nout), *alias = fnan(tc.nout);
    for (int v = 0; v < 2; v++) {
        nn_conv *c = plan(v ? CONV_ALGO_WINOGRAD : CONV_ALGO_DIRECT, s.N, s.H, s.W, s.cin, s.cout, 3, 0, NULL);
        CHECK_OK(conv_forward(c, ref, tc.in, tc.w, tc.b));
        for (size_t i = 0; i < tc.nout; i++) ref[i] += tc.d_out[i];
        CHECK_OK(conv_forward_add(c, got, tc.in, tc.w, tc.b, tc.d_out));
        double sc, e = max_diff(got, ref, tc.nout, &sc);
        CHECK(e <= 1e-6 * sc, "%s: %.3g of %.3g", v ? "winograd" : "direct", e, sc);
        memcpy(alias, tc.d_out, tc.nout * sizeof(float));
        if (v) {
            CHECK_OK(conv_forward_add(c, alias, tc.in, tc.w, tc.b, alias));
            CHECK(memcmp(alias, got, tc.nout * sizeof(float)) == 0, "aliased res differs");
        } else {
            CHECK(conv_forward_add(c, alias, tc.in, tc.w, tc.b, alias) == -1 && strstr(as_error(), "alias"));
        }
        conv_destroy(c);
    }
    tcase_free(&tc), free(ref), free(got), free(alias);
}

// ---- the bundled model, Set5 (../shared): Winograd against direct ----------------------
// PSNR within 0.01 dB per image, and the SR images' largest difference (in 8-bit levels)
// printed: the number docs/benchmarks.md quotes.
static void bundled_set5(void) {
    const char *shared = test_shared_dir();
    if (!shared) SKIP("no shared folder (set ATTSR_SHARED)");
    model m;
    if (model_load(&m, "models/attsr_x2.safetensors")) SKIP("models/attsr_x2.safetensors: %s", as_error());
    const char *names[] = {"baby", "bird", "butterfly", "head", "woman"};
    double worst_db = 0, worst_px = 0, sum[2] = {0, 0};
    for (int i = 0; i < 5; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/data/benchmark/Set5/HR/%s.png", shared, names[i]);
        image hr = {0}, hrc = {0}, lr = {0}, sr[2] = {{0}};
        if (image_read(path, &hr)) {
            model_free(&m);
            SKIP("%s: %s", path, as_error());
        }
        CHECK_OK(degrade(&lr, &hrc, &hr, 2));
        metrics mt[2];
        for (int v = 0; v < 2; v++) {
            plan_cache pc = {0};
            conv_set_algo(v ? CONV_ALGO_WINOGRAD : CONV_ALGO_DIRECT);
            CHECK_OK(image_alloc(&sr[v], lr.w * 2, lr.h * 2, 3));
            int rc = upscale_image(&m, &pc, lr.px, lr.w, lr.h, sr[v].px, NULL, NULL, NULL);
            conv_set_algo(CONV_ALGO_AUTO);
            plan_cache_free(&pc);
            CHECK_OK(rc);
            CHECK_OK(metrics_compute(&mt[v], &sr[v], &hrc, 2));
            sum[v] += mt[v].psnr;
        }
        size_t np = (size_t)sr[0].w * sr[0].h * 3;
        double px = 0;
        for (size_t j = 0; j < np; j++) px = fmax(px, fabs(sr[0].px[j] - sr[1].px[j]));
        double db = fabs(mt[0].psnr - mt[1].psnr);
        printf("# Set5 %-9s direct %.4f dB  winograd %.4f dB  max |SR diff| %.2e (%.4f of 255)\n", names[i], mt[0].psnr,
               mt[1].psnr, px, px * 255);
        worst_db = fmax(worst_db, db), worst_px = fmax(worst_px, px);
        CHECK(db <= 0.01, "%s: PSNR %.4f vs %.4f dB", names[i], mt[1].psnr, mt[0].psnr);
        image_free(&hr), image_free(&hrc), image_free(&lr), image_free(&sr[0]), image_free(&sr[1]);
    }
    printf("# Set5 mean direct %.4f dB, winograd %.4f dB; worst |dPSNR| %.5f dB, max |SR diff| %.2e\n", sum[0] / 5,
           sum[1] / 5, worst_db, worst_px);
    model_free(&m);
}

int main(void) {
    RUN(reference);
    RUN(simd);
    RUN(simd_vs_ref);
    RUN(backward_data);
    RUN(bwd_weights_ref4);
    RUN(bwd_weights_ref6);
    RUN(bwd_weights_simd);
    RUN(bwd_weights_vs_ref);
    RUN(algo_choice);
    RUN(conv_layer);
    RUN(finite_differences);
    RUN(kernel_cache);
    RUN(forward_add);
    RUN(bundled_set5);
    return test_summary();
}
