// test_winograd: the Winograd 3x3 convolutions (src/nn/winograd.c) and their use by
// conv (ATTSR_CONV / conv_set_algo), against a naive double-precision convolution and
// oneDNN's direct one.
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
// 1.2e-5 here, bound 5e-5.
#include "test.h"

#include <omp.h>

#include "core/core.h"
#include "nn/nn.h"
#include "nn/winograd.h"

#define TOL4 3e-5
#define TOL6 5e-5

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

// out (N,H,W,cout) in double: the truth. flip: weight is (cin, cout, 3, 3) and the
// kernel is its flipped transpose (backward-data).
static void naive(double *out, const float *in, const float *weight, const float *bias, int N,
                  int H, int W, int cin, int cout, int flip) {
    for (int n = 0; n < N; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int co = 0; co < cout; co++) {
                    double acc = bias ? bias[co] : 0;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++) {
                            int yy = y + ky - 1, xx = x + kx - 1;
                            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                            const float *p = in + (((size_t)n * H + yy) * W + xx) * cin;
                            for (int ci = 0; ci < cin; ci++) {
                                float g = flip ? weight[((size_t)ci * cout + co) * 9 + (2 - ky) * 3 + 2 - kx]
                                               : weight[((size_t)co * cin + ci) * 9 + ky * 3 + kx];
                                acc += (double)p[ci] * g;
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

typedef struct { int N, H, W, cin, cout; } shape;

// Odd sizes, 1-pixel and 2x2 images, channels not a multiple of 8, batches, and the
// network's widths.
static const shape SWEEP[] = {
    {1, 1, 1, 1, 1},   {1, 1, 1, 8, 8},    {1, 2, 2, 3, 5},     {2, 5, 7, 3, 16},
    {1, 7, 5, 13, 9},  {3, 9, 11, 16, 16}, {1, 4, 4, 8, 24},    {2, 13, 6, 17, 31},
    {1, 17, 19, 32, 3}, {1, 12, 12, 64, 64}, {4, 10, 9, 64, 32}, {1, 33, 31, 32, 128},
    {2, 1, 40, 20, 12}, {1, 40, 1, 12, 20},
};
#define NSWEEP (int)(sizeof SWEEP / sizeof *SWEEP)

// The reference (plain C) and the AVX2 path, each against the truth, forward.
static void sweep(int m, int use_ref) {
    double tol = m == 4 ? TOL4 : TOL6, worst = 0;
    for (int k = 0; k < NSWEEP; k++) {
        shape s = SWEEP[k];
        as_rng r;
        as_rng_seed(&r, 100 + k);
        size_t nin = (size_t)s.N * s.H * s.W * s.cin, nout = (size_t)s.N * s.H * s.W * s.cout;
        float *in = frand(nin, &r, 1), *w = frand((size_t)s.cout * s.cin * 9, &r, 0.3f);
        float *b = frand(s.cout, &r, 0.5f), *out = fnan(nout);
        double *ref = malloc(nout * sizeof(double));
        CHECK(ref);
        naive(ref, in, w, b, s.N, s.H, s.W, s.cin, s.cout, 0);
        if (use_ref) {
            CHECK_OK(wino_ref_conv(m, out, in, w, b, s.N, s.H, s.W, s.cin, s.cout));
        } else {
            wino *p = wino_create(s.N, s.H, s.W, s.cin, s.cout, m);
            CHECK(p, "%s", as_error());
            float *U = fnan(wino_kernel_floats(p));
            wino_kernel_transform(p, U, w, 0);
            CHECK_OK(wino_run(p, out, in, U, b, 0, 0));
            free(U);
            wino_destroy(p);
        }
        double e = rel_err(out, ref, nout);
        worst = fmax(worst, e);
        if (verbose())
            printf("# m=%d %s %dx%dx%dx%d %d->%d rel err %.2e\n", m, use_ref ? "ref " : "avx2", s.N, s.H,
                   s.W, s.cin, s.cin, s.cout, e);
        CHECK(e <= tol, "m=%d %dx%dx%d %d->%d: rel err %.3g > %.0e", m, s.N, s.H, s.W, s.cin, s.cout, e, tol);
        free(in), free(w), free(b), free(out), free(ref);
    }
    if (verbose()) printf("# m=%d %s worst %.2e\n", m, use_ref ? "ref" : "avx2", worst);
}

static void ref4(void) { sweep(4, 1); }
static void ref6(void) { sweep(6, 1); }
static void avx2_4(void) { sweep(4, 0); }
static void avx2_6(void) { sweep(6, 0); }

// The AVX2 path agrees with the plain C reference closely (the same algorithm; only
// the GEMM's summation order differs), with LeakyReLU fused, on 1 and 2 threads.
static void avx2_vs_ref(void) {
    for (int k = 0; k < NSWEEP; k++) {
        shape s = SWEEP[k];
        as_rng r;
        as_rng_seed(&r, 200 + k);
        size_t nin = (size_t)s.N * s.H * s.W * s.cin, nout = (size_t)s.N * s.H * s.W * s.cout;
        float *in = frand(nin, &r, 1), *w = frand((size_t)s.cout * s.cin * 9, &r, 0.3f);
        float *b = frand(s.cout, &r, 0.5f), *ref = fnan(nout), *out = fnan(nout);
        CHECK_OK(wino_ref_conv(4, ref, in, w, b, s.N, s.H, s.W, s.cin, s.cout));
        double mx = 0;
        for (size_t i = 0; i < nout; i++) {
            mx = fmax(mx, fabs(ref[i]));
            ref[i] = ref[i] > 0 ? ref[i] : 0.2f * ref[i];
        }
        int saved = omp_get_max_threads();
        for (int thr = 1; thr <= 2; thr++) {
            omp_set_num_threads(thr);
            wino *p = wino_create(s.N, s.H, s.W, s.cin, s.cout, 4);
            CHECK(p, "%s", as_error());
            float *U = fnan(wino_kernel_floats(p));
            wino_kernel_transform(p, U, w, 0);
            for (size_t i = 0; i < nout; i++) out[i] = NAN;
            CHECK_OK(wino_run(p, out, in, U, b, 1, 0.2f));
            free(U);
            wino_destroy(p);
            double e = 0;
            for (size_t i = 0; i < nout; i++) {
                CHECK(isfinite(out[i]), "[%zu]", i);
                e = fmax(e, fabs(out[i] - ref[i]));
            }
            CHECK(e <= 1e-5 * mx, "%dx%dx%d %d->%d, %d threads: |avx2 - ref| %.3g > 1e-5 x %.3g", s.N,
                  s.H, s.W, s.cin, s.cout, thr, e, mx);
        }
        omp_set_num_threads(saved);
        free(in), free(w), free(b), free(out), free(ref);
    }
}

// Backward-data: the direction cout -> cin with the flipped, transposed kernel.
static void backward_data(void) {
    for (int k = 0; k < NSWEEP; k++) {
        shape s = SWEEP[k];
        as_rng r;
        as_rng_seed(&r, 300 + k);
        size_t nin = (size_t)s.N * s.H * s.W * s.cin, nout = (size_t)s.N * s.H * s.W * s.cout;
        float *d_out = frand(nout, &r, 1), *w = frand((size_t)s.cout * s.cin * 9, &r, 0.3f);
        float *d_in = fnan(nin);
        double *ref = malloc(nin * sizeof(double));
        CHECK(ref);
        naive(ref, d_out, w, NULL, s.N, s.H, s.W, s.cout, s.cin, 1);
        wino *p = wino_create(s.N, s.H, s.W, s.cout, s.cin, 4);
        CHECK(p, "%s", as_error());
        float *U = fnan(wino_kernel_floats(p));
        wino_kernel_transform(p, U, w, 1);
        CHECK_OK(wino_run(p, d_in, d_out, U, NULL, 0, 0));
        double e = rel_err(d_in, ref, nin);
        if (verbose()) printf("# bwd-data %dx%dx%d %d->%d rel err %.2e\n", s.N, s.H, s.W, s.cin, s.cout, e);
        CHECK(e <= TOL4, "%dx%dx%d %d->%d: rel err %.3g", s.N, s.H, s.W, s.cin, s.cout, e);
        free(U);
        wino_destroy(p);
        free(d_out), free(w), free(d_in), free(ref);
    }
}

int main(void) {
    RUN(ref4);
    RUN(ref6);
    RUN(avx2_4);
    RUN(avx2_6);
    RUN(avx2_vs_ref);
    RUN(backward_data);
    return test_summary();
}
