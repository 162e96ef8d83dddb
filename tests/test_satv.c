// Tests for src/train/satv: the optimised float solver against a plain double-precision
// transcription of docs/spec.md §5 (below), against the numpy solver's output for a real
// crop (tools/fixtures_satv.py), and its properties: constants are fixed points, the
// texture has a near-zero mean, more fidelity gives less texture, a flat lambda map equals the
// scalar, the thread count changes nothing, bad input fails cleanly.
// Run from the repository root (tests/run.sh does): the fixtures are read from there.
#include <omp.h>
#include <png.h>
#include <stdint.h>

#include "core/core.h"
#include "test.h"
#include "train/satv.h"

// ---- the reference: docs/spec.md §5 line by line, (h, w, c) interleaved, double ------

static int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

// Element (i, j, k) of an (h, w, c) array with the row and column clamped.
#define AT(x, i, j, k) (x)[((size_t)clampi(i, 0, h - 1) * w + clampi(j, 0, w - 1)) * c + (k)]

// S (h, w, c) from f; lmap (h, w) or NULL. Returns the number of u updates made.
static int ref_satv(double *S, const float *f, const float *lmap, int h, int w, int c, double lambda, double gamma1,
                    double tol, int max_iters) {
    const size_t n = (size_t)h * w * c;
    double *u = S, *un = malloc(n * sizeof *un);
    double *dx = calloc(n, sizeof *dx), *dy = calloc(n, sizeof *dy);
    double *tx = calloc(n, sizeof *tx), *ty = calloc(n, sizeof *ty);
    double *zx = malloc(n * sizeof *zx), *zy = malloc(n * sizeof *zy);
    double nf = 0;
    for (size_t e = 0; e < n; e++) {
        u[e] = f[e];
        nf += (double)f[e] * f[e];
    }
    nf = sqrt(nf);
    int it;
    for (it = 1; it <= max_iters; it++) {
        // u' = (a f - (tx - tx[:, j-1]) - (ty - ty[i-1, :]) + 4 neighbours + 4u) / (a + 8)
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                for (int k = 0; k < c; k++) {
                    double a = (lmap ? lmap[(size_t)i * w + j] : lambda) / gamma1;
                    AT(un, i, j, k) =
                        (a * AT(f, i, j, k) - (AT(tx, i, j, k) - AT(tx, i, j - 1, k)) -
                         (AT(ty, i, j, k) - AT(ty, i - 1, j, k)) + AT(u, i - 1, j, k) + AT(u, i + 1, j, k) +
                         AT(u, i, j - 1, k) + AT(u, i, j + 1, k) + 4 * AT(u, i, j, k)) /
                        (a + 8);
                }
        // delta = ||u' - u|| / ||f||; u = u'; stop from the second iteration on
        double du = 0;
        for (size_t e = 0; e < n; e++) du += (un[e] - u[e]) * (un[e] - u[e]);
        double delta = nf > 0 ? sqrt(du) / nf : sqrt(du);
        memcpy(u, un, n * sizeof *u);
        if (it >= 2 && delta <= tol) break;
        // z, then the vectorial shrink with s summed over channels
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++)
                for (int k = 0; k < c; k++) {
                    AT(zx, i, j, k) = (AT(u, i, j + 1, k) - AT(u, i, j, k)) + AT(dx, i, j, k) - AT(tx, i, j, k);
                    AT(zy, i, j, k) = (AT(u, i + 1, j, k) - AT(u, i, j, k)) + AT(dy, i, j, k) - AT(ty, i, j, k);
                }
        for (int i = 0; i < h; i++)
            for (int j = 0; j < w; j++) {
                double s = 0;
                for (int k = 0; k < c; k++) s += AT(zx, i, j, k) * AT(zx, i, j, k) + AT(zy, i, j, k) * AT(zy, i, j, k);
                s = sqrt(s);
                double m = fmax(0, s - 1 / gamma1) / fmax(1e-12, s);
                for (int k = 0; k < c; k++) {
                    AT(dx, i, j, k) = m * AT(zx, i, j, k);
                    AT(dy, i, j, k) = m * AT(zy, i, j, k);
                    AT(tx, i, j, k) = 2 * AT(dx, i, j, k) - AT(zx, i, j, k);
                    AT(ty, i, j, k) = 2 * AT(dy, i, j, k) - AT(zy, i, j, k);
                }
            }
    }
    free(un);
    free(dx);
    free(dy);
    free(tx);
    free(ty);
    free(zx);
    free(zy);
    return it > max_iters ? max_iters : it;
}

// ---- helpers ---------------------------------------------------------------------

static float *noise(int h, int w, int c, uint64_t seed) {
    as_rng r;
    as_rng_seed(&r, seed);
    float *f = malloc((size_t)h * w * c * sizeof *f);
    for (size_t e = 0; e < (size_t)h * w * c; e++) f[e] = (float)as_rng_uniform(&r);
    return f;
}

static double max_abs_diff_d(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t e = 0; e < n; e++) {
        double d = fabs((double)a[e] - b[e]);
        if (!(d <= m)) m = d;  // NaN sticks
    }
    return m;
}

// Runs the library and the reference on f with parameters p; checks agreement.
static void check_vs_ref(const char *what, const float *f, int h, int w, int c, const satv_params *p) {
    const size_t n = (size_t)h * w * c;
    float *S = malloc(n * sizeof *S), *T = malloc(n * sizeof *T);
    double *R = malloc(n * sizeof *R);
    int its = -1;
    CHECK_OK(satv_decompose(S, T, &its, f, h, w, c, p));
    int rits = ref_satv(R, f, p->lambda_map, h, w, c, p->lambda, p->gamma1, p->tol, p->max_iters);
    double d = max_abs_diff_d(S, R, n);
    if (getenv("SATV_VERBOSE"))  // the margins, for whoever tunes the solver
        printf("  %s %dx%dx%d: %d iterations, max |S - ref| %.3g\n", what, h, w, c, its, d);
    CHECK(its == rits, "%s %dx%dx%d: %d iterations, reference %d", what, h, w, c, its, rits);
    CHECK(d <= 1e-5, "%s %dx%dx%d: max |S - ref| = %g", what, h, w, c, d);
    for (size_t e = 0; e < n; e++) CHECK(T[e] == f[e] - S[e], "%s: T != f - S at %zu", what, e);
    free(S);
    free(T);
    free(R);
}

// Reads a raw float32 file of exactly n floats; NULL when it is missing or short.
static float *read_f32(const char *path, size_t n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    float *x = malloc(n * sizeof *x);
    size_t got = fread(x, sizeof *x, n, fp);
    int extra = fgetc(fp) != EOF;
    fclose(fp);
    if (got != n || extra) {
        free(x);
        return NULL;
    }
    return x;
}

typedef struct {
    int h, w, c, iters;
    float *f, *S;  // (h, w, c) input and the numpy solver's structure
} fixture;

static void load_fixture(fixture *fx) {
    FILE *fp = fopen("tests/fixtures/satv_butterfly.txt", "r");
    CHECK(fp, "tests/fixtures/satv_butterfly.txt missing (run tools/fixtures_satv.py)");
    int got = fscanf(fp, "%d %d %d %d", &fx->h, &fx->w, &fx->c, &fx->iters);
    fclose(fp);
    CHECK(got == 4 && fx->h > 0 && fx->w > 0 && fx->c == 3);
    const size_t n = (size_t)fx->h * fx->w * fx->c;
    fx->f = read_f32("tests/fixtures/satv_butterfly.f32", n);
    fx->S = read_f32("tests/fixtures/satv_butterfly_S.f32", n);
    CHECK(fx->f && fx->S, "fixture .f32 files missing or of the wrong size");
}

static void free_fixture(fixture *fx) {
    free(fx->f);
    free(fx->S);
}

// ---- tests -----------------------------------------------------------------------

static void test_noise_shapes(void) {
    static const int shapes[][3] = {{17, 13, 3}, {13, 17, 3}, {1, 37, 3},  {37, 1, 3}, {2, 2, 3},  {1, 1, 3},
                                    {1, 2, 3},   {23, 19, 1}, {16, 16, 4}, {9, 11, 5}, {64, 48, 3}};
    satv_params p = satv_defaults();
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int h = shapes[s][0], w = shapes[s][1], c = shapes[s][2];
        float *f = noise(h, w, c, 100 + s);
        check_vs_ref("noise", f, h, w, c, &p);
        free(f);
    }
}

static void test_step_edge(void) {
    const int h = 24, w = 32, c = 3;
    float *f = malloc((size_t)h * w * c * sizeof *f);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            for (int k = 0; k < c; k++)
                f[((size_t)i * w + j) * c + k] =  // a slanted step, different per channel
                    j < w / 2 + i / 8 ? 0.1f + 0.1f * k : 0.9f - 0.2f * k;
    satv_params p = satv_defaults();
    check_vs_ref("step", f, h, w, c, &p);
    free(f);
}

// A constant image is a fixed point: S = f and T = 0 exactly, after the 2 iterations the
// stopping rule requires. The all-zero image (||f|| = 0) too.
static void test_constant(void) {
    const int h = 9, w = 13, c = 3;
    const size_t n = (size_t)h * w * c;
    float *f = malloc(n * sizeof *f), *S = malloc(n * sizeof *S), *T = malloc(n * sizeof *T);
    satv_params p = satv_defaults();
    for (int zero = 0; zero < 2; zero++) {
        for (size_t e = 0; e < n; e++) f[e] = zero ? 0.0f : 0.3f + 0.3f * (float)(e % 3);
        int its = -1;
        CHECK_OK(satv_decompose(S, T, &its, f, h, w, c, &p));
        CHECK(its == 2, "zero=%d: %d iterations", zero, its);
        for (size_t e = 0; e < n; e++) {
            CHECK(S[e] == f[e], "zero=%d: S[%zu] = %.9g, f = %.9g", zero, e, S[e], f[e]);
            CHECK(T[e] == 0.0f, "zero=%d: T[%zu] = %g", zero, e, T[e]);
        }
    }
    free(f);
    free(S);
    free(T);
}

// A real crop: against the C reference and against the numpy solver (tools/).
static void test_real_crop(void) {
    fixture fx;
    load_fixture(&fx);
    satv_params p = satv_defaults();
    check_vs_ref("butterfly", fx.f, fx.h, fx.w, fx.c, &p);
    const size_t n = (size_t)fx.h * fx.w * fx.c;
    float *S = malloc(n * sizeof *S);
    int its = -1;
    CHECK_OK(satv_decompose(S, NULL, &its, fx.f, fx.h, fx.w, fx.c, &p));
    CHECK(its == fx.iters, "%d iterations, numpy %d", its, fx.iters);
    double d = 0;
    for (size_t e = 0; e < n; e++) d = fmax(d, fabs((double)S[e] - fx.S[e]));
    CHECK(d <= 1e-5, "max |S - numpy S| = %g", d);
    free(S);
    free_fixture(&fx);
}

// A whole Set5 image (read with libpng here: the library's reader is not ours to use).
static void test_set5_bird(void) {
    const char *shared = test_shared_dir();
    if (!shared) SKIP("no shared data folder");
    char path[4096];
    snprintf(path, sizeof path, "%s/data/benchmark/Set5/HR/bird.png", shared);
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) SKIP("cannot read %s", path);
    im.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
    CHECK(png_image_finish_read(&im, NULL, px, 0, NULL), "%s: %s", path, im.message);
    const int h = (int)im.height, w = (int)im.width, c = 3;
    float *f = malloc((size_t)h * w * c * sizeof *f);
    for (size_t e = 0; e < (size_t)h * w * c; e++) f[e] = px[e] / 255.0f;
    satv_params p = satv_defaults();
    check_vs_ref("bird", f, h, w, c, &p);
    free(px);
    free(f);
}

// A lambda map equal to the scalar everywhere gives the scalar result bit for bit; a
// varying map matches the reference with that map.
static void test_lambda_map(void) {
    const int h = 21, w = 18, c = 3;
    const size_t n = (size_t)h * w * c;
    float *f = noise(h, w, c, 7), *map = malloc((size_t)h * w * sizeof *map);
    float *S0 = malloc(n * sizeof *S0), *S1 = malloc(n * sizeof *S1);
    satv_params p = satv_defaults();
    for (size_t e = 0; e < (size_t)h * w; e++) map[e] = p.lambda;
    int i0 = -1, i1 = -2;
    CHECK_OK(satv_decompose(S0, NULL, &i0, f, h, w, c, &p));
    p.lambda_map = map;
    p.lambda = 1e30f;  // ignored when a map is given
    CHECK_OK(satv_decompose(S1, NULL, &i1, f, h, w, c, &p));
    CHECK(i0 == i1 && memcmp(S0, S1, n * sizeof *S0) == 0, "flat map differs from scalar");
    as_rng r;
    as_rng_seed(&r, 8);
    for (size_t e = 0; e < (size_t)h * w; e++) map[e] = 0.5f + 9.5f * (float)as_rng_uniform(&r);
    map[0] = 0.0f;  // lambda 0 is allowed: pure TV flow at that pixel
    check_vs_ref("lambda map", f, h, w, c, &p);
    free(f);
    free(map);
    free(S0);
    free(S1);
}

// More fidelity (larger lambda): S closer to f, ||T|| smaller.
static void test_lambda_order(void) {
    fixture fx;
    load_fixture(&fx);
    const size_t n = (size_t)fx.h * fx.w * fx.c;
    float *T = malloc(n * sizeof *T), *S = malloc(n * sizeof *S);
    static const float lambdas[] = {0.5f, 1.0f, 2.5f, 10.0f, 50.0f};
    double prev = INFINITY;
    for (size_t l = 0; l < sizeof lambdas / sizeof lambdas[0]; l++) {
        satv_params p = satv_defaults();
        p.lambda = lambdas[l];
        CHECK_OK(satv_decompose(S, T, NULL, fx.f, fx.h, fx.w, fx.c, &p));
        double norm = 0;
        for (size_t e = 0; e < n; e++) norm += (double)T[e] * T[e];
        norm = sqrt(norm);
        CHECK(norm < prev, "lambda %g: ||T|| = %g, not below %g", lambdas[l], norm, prev);
        prev = norm;
    }
    free(T);
    free(S);
    free_fixture(&fx);
}

// The texture's mean per channel is near 0. Not exactly: docs/spec.md §5's clamped backward
// difference makes sum_j (tx - tx[:, j-1]) = tx[:, w-1] - tx[:, 0], and tx[:, 0] is not
// 0, so the first row and column leak a little mean (the MATLAB code does the same; the
// numpy solver gives 3e-5, 7e-4, 3e-3 on this crop against a mean |T| of 0.043).
static void test_texture_mean(void) {
    fixture fx;
    load_fixture(&fx);
    const size_t n = (size_t)fx.h * fx.w * fx.c;
    float *T = malloc(n * sizeof *T), *S = malloc(n * sizeof *S);
    satv_params p = satv_defaults();
    CHECK_OK(satv_decompose(S, T, NULL, fx.f, fx.h, fx.w, fx.c, &p));
    double mean[3] = {0}, mabs = 0;
    for (size_t e = 0; e < n; e++) {
        mean[e % 3] += T[e];
        mabs += fabs(T[e]);
    }
    mabs /= (double)n;
    for (int k = 0; k < 3; k++) {
        mean[k] /= (double)fx.h * fx.w;
        CHECK(fabs(mean[k]) < 0.1 * mabs, "mean T[%d] = %g, mean |T| = %g", k, mean[k], mabs);
    }
    free(T);
    free(S);
    free_fixture(&fx);
}

// Bitwise the same result with 1, 2 and 3 threads (3: bands of unequal length, and more
// threads than rows for the 1-row image).
static void test_threads(void) {
    fixture fx;
    load_fixture(&fx);
    struct {
        int h, w, c;
        float *f;
    } cases[] = {{fx.h, fx.w, fx.c, fx.f}, {17, 13, 3, NULL}, {1, 37, 3, NULL}, {2, 5, 1, NULL}};
    const int saved = omp_get_max_threads();
    satv_params p = satv_defaults();
    for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
        const int h = cases[s].h, w = cases[s].w, c = cases[s].c;
        const size_t n = (size_t)h * w * c;
        float *f = cases[s].f ? cases[s].f : noise(h, w, c, 40 + s);
        float *S[3];
        int its[3];
        for (int t = 0; t < 3; t++) {
            S[t] = malloc(n * sizeof *S[t]);
            omp_set_num_threads(t + 1);
            int rc = satv_decompose(S[t], NULL, &its[t], f, h, w, c, &p);
            omp_set_num_threads(saved);
            CHECK_OK(rc);
        }
        for (int t = 1; t < 3; t++)
            CHECK(its[t] == its[0] && memcmp(S[t], S[0], n * sizeof *S[0]) == 0, "%dx%dx%d: %d threads differ from 1",
                  h, w, c, t + 1);
        for (int t = 0; t < 3; t++) free(S[t]);
        if (!cases[s].f) free(f);
    }
    free_fixture(&fx);
}

// structure or texture may be the input buffer itself.
static void test_in_place(void) {
    const int h = 11, w = 14, c = 3;
    const size_t n = (size_t)h * w * c;
    float *f = noise(h, w, c, 3), *S = malloc(n * sizeof *S), *T = malloc(n * sizeof *T);
    float *buf = malloc(n * sizeof *buf), *other = malloc(n * sizeof *other);
    satv_params p = satv_defaults();
    CHECK_OK(satv_decompose(S, T, NULL, f, h, w, c, &p));
    memcpy(buf, f, n * sizeof *f);
    CHECK_OK(satv_decompose(buf, other, NULL, buf, h, w, c, &p));
    CHECK(!memcmp(buf, S, n * sizeof *S) && !memcmp(other, T, n * sizeof *T), "S in place");
    memcpy(buf, f, n * sizeof *f);
    CHECK_OK(satv_decompose(other, buf, NULL, buf, h, w, c, &p));
    CHECK(!memcmp(other, S, n * sizeof *S) && !memcmp(buf, T, n * sizeof *T), "T in place");
    free(f);
    free(S);
    free(T);
    free(buf);
    free(other);
}

// max_iters bounds the loop: 1 (the stopping rule cannot fire), 3 with tol 0.
static void test_max_iters(void) {
    const int h = 10, w = 12, c = 3;
    float *f = noise(h, w, c, 5);
    satv_params p = satv_defaults();
    p.max_iters = 1;
    check_vs_ref("max_iters 1", f, h, w, c, &p);
    p.max_iters = 3;
    p.tol = 0;
    check_vs_ref("max_iters 3", f, h, w, c, &p);
    int its = -1;
    float *S = malloc((size_t)h * w * c * sizeof *S);
    CHECK_OK(satv_decompose(S, NULL, &its, f, h, w, c, &p));
    CHECK(its == 3, "%d iterations", its);
    free(S);
    free(f);
}

static void test_errors(void) {
    const int h = 4, w = 5, c = 3;
    const size_t n = (size_t)h * w * c;
    float *f = noise(h, w, c, 9), *S = malloc(n * sizeof *S), *T = malloc(n * sizeof *T);
    float map[4 * 5];
    satv_params p = satv_defaults();
    CHECK(satv_decompose(S, T, NULL, f, h, w, 0, &p) == -1 && *as_error());
    CHECK(satv_decompose(S, T, NULL, f, 0, w, c, &p) == -1);
    CHECK(satv_decompose(S, T, NULL, f, h, -1, c, &p) == -1);
    CHECK(satv_decompose(NULL, T, NULL, f, h, w, c, &p) == -1);
    CHECK(satv_decompose(S, S, NULL, f, h, w, c, &p) == -1);
    CHECK(satv_decompose(S, T, NULL, f, h, w, c, NULL) == -1);
    satv_params q = p;
    q.lambda = -1;
    CHECK(satv_decompose(S, T, NULL, f, h, w, c, &q) == -1);
    q = p;
    q.gamma1 = 0;
    CHECK(satv_decompose(S, T, NULL, f, h, w, c, &q) == -1);
    q = p;
    q.tol = NAN;
    CHECK(satv_decompose(S, T, NULL, f, h, w, c, &q) == -1);
    q = p;
    q.max_iters = 0;
    CHECK(satv_decompose(S, T, NULL, f, h, w, c, &q) == -1);
    q = p;
    for (int e = 0; e < h * w; e++) map[e] = 1;
    map[7] = NAN;
    q.lambda_map = map;
    CHECK(satv_decompose(S, T, NULL, f, h, w, c, &q) == -1);
    CHECK(strstr(as_error(), "lambda"), "%s", as_error());
    map[7] = -2;
    CHECK(satv_decompose(S, T, NULL, f, h, w, c, &q) == -1);
    f[11] = INFINITY;
    CHECK(satv_decompose(S, T, NULL, f, h, w, c, &p) == -1);
    CHECK(strstr(as_error(), "non-finite"), "%s", as_error());
    free(f);
    free(S);
    free(T);
}

int main(void) {
    RUN(test_noise_shapes);
    RUN(test_step_edge);
    RUN(test_constant);
    RUN(test_real_crop);
    RUN(test_set5_bird);
    RUN(test_lambda_map);
    RUN(test_lambda_order);
    RUN(test_texture_mean);
    RUN(test_threads);
    RUN(test_in_place);
    RUN(test_max_iters);
    RUN(test_errors);
    return test_summary();
}
