// Tests of src/image/metrics.c: PSNR/SSIM against tools/fixtures_resize.py, exact
// properties (identity, symmetry, analytic constants, 8-bit rounding, alpha), errors,
// and the published bicubic baselines on ../shared's Set5 and Set14.
#include <omp.h>

#include "core/core.h"
#include "image/metrics.h"
#include "image/resize.h"
#include "test.h"
#include "fixture_f32.h"

static void image_from(image *img, const float *px, int h, int w, int c) {
    CHECK_OK(image_alloc(img, w, h, c));
    memcpy(img->px, px, (size_t)h * w * c * sizeof(float));
}

static void image_random(image *img, int h, int w, int c, uint64_t seed) {
    as_rng r;
    as_rng_seed(&r, seed);
    CHECK_OK(image_alloc(img, w, h, c));
    for (size_t i = 0; i < (size_t)h * w * c; i++) img->px[i] = (float)as_rng_uniform(&r);
}

static void image_fill(image *img, int h, int w, float v) {
    CHECK_OK(image_alloc(img, w, h, 3));
    for (size_t i = 0; i < (size_t)h * w * 3; i++) img->px[i] = v;
}

static void test_fixtures_metrics(void) {
    FILE *f = fx_manifest();
    CHECK(f, "no %smanifest.txt: run tools/fixtures_resize.py", FX_DIR);
    char line[512], srn[128], hrn[128];
    int cases = 0;
    while (fx_next(f, "metrics", line, sizeof line)) {
        int h, w, c, gray, shave;
        double psnr, ssim;
        CHECK(sscanf(line, "metrics %127s %127s %d %d %d %d %d %lf %lf", srn, hrn, &h, &w, &c, &gray, &shave, &psnr,
                     &ssim) == 9,
              "bad line: %s", line);
        float *a = fx_read(srn, (size_t)h * w * c), *b = fx_read(hrn, (size_t)h * w * c);
        CHECK(a && b, "%s", line);
        image sr, hr;
        image_from(&sr, a, h, w, c);
        image_from(&hr, b, h, w, c);
        hr.gray = gray;
        metrics m;
        CHECK_OK(metrics_compute(&m, &sr, &hr, shave));
        // Both sides are double precision; only the summation order differs.
        CHECK(fabs(m.psnr - psnr) <= 1e-9 * psnr && fabs(m.ssim - ssim) <= 1e-10,
              "%s vs %s gray %d shave %d: psnr %.12f want %.12f, ssim %.12f want %.12f", srn, hrn, gray, shave, m.psnr,
              psnr, m.ssim, ssim);
        image_free(&sr), image_free(&hr), free(a), free(b);
        cases++;
    }
    fclose(f);
    CHECK(cases >= 5, "only %d metrics cases", cases);
}

static void test_identical(void) {
    image a;
    image_random(&a, 40, 37, 3, 1);
    for (int gray = 0; gray <= 1; gray++) {
        a.gray = gray;
        metrics m;
        CHECK_OK(metrics_compute(&m, &a, &a, 4));
        CHECK(isinf(m.psnr) && m.psnr > 0, "psnr %g", m.psnr);
        CHECK(fabs(m.ssim - 1) <= 1e-12, "ssim %.17g", m.ssim);
    }
    image_free(&a);
}

static void test_symmetric(void) {
    image a, b;
    image_random(&a, 33, 45, 3, 2);
    image_random(&b, 33, 45, 3, 3);
    metrics ab, ba;
    CHECK_OK(metrics_compute(&ab, &a, &b, 2));
    CHECK_OK(metrics_compute(&ba, &b, &a, 2));
    CHECK(ab.psnr == ba.psnr && fabs(ab.ssim - ba.ssim) <= 1e-15, "%.17g %.17g / %.17g %.17g", ab.psnr, ba.psnr,
          ab.ssim, ba.ssim);
    CHECK(ab.ssim < 0.2 && ab.psnr < 15, "unrelated noise: psnr %g ssim %g", ab.psnr, ab.ssim);
    image_free(&a), image_free(&b);
}

// Flat images: MSE follows from the formulas for Y and for the gray luma.
static void test_constant_images(void) {
    image a, b;
    image_fill(&a, 20, 20, 110 / 255.0f);
    image_fill(&b, 20, 20, 100 / 255.0f);
    metrics m;
    CHECK_OK(metrics_compute(&m, &a, &b, 2));
    double dy = 10 * 219 / 255.0;  // Y: 16 + 219 v / 255 for a gray v
    CHECK(fabs(m.psnr - 10 * log10(255.0 * 255 / (dy * dy))) < 1e-9, "Y psnr %.12f", m.psnr);
    b.gray = 1;  // L = v: the difference is 10 grey levels
    CHECK_OK(metrics_compute(&m, &a, &b, 2));
    CHECK(fabs(m.psnr - 10 * log10(255.0 * 255 / 100)) < 1e-9, "L psnr %.12f", m.psnr);
    // sigma = 0: SSIM = (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1)
    double c1 = 2.55 * 2.55, want = (2 * 110.0 * 100 + c1) / (110.0 * 110 + 100 * 100 + c1);
    CHECK(fabs(m.ssim - want) < 1e-12, "ssim %.17g want %.17g", m.ssim, want);
    image_free(&a), image_free(&b);
}

// Both images are rounded to 8 bits first, as if saved to PNG: sub-level noise, values
// out of [0, 1] and the alpha channel change nothing.
static void test_rounds_to_8_bits(void) {
    image a, b;
    image_random(&a, 24, 30, 4, 4);
    for (size_t i = 0; i < (size_t)24 * 30 * 4; i++) a.px[i] = image_to_u8(a.px[i] * 1.4f - 0.2f) / 255.0f;
    CHECK_OK(image_alloc(&b, 30, 24, 4));
    as_rng r;
    as_rng_seed(&r, 5);
    for (size_t i = 0; i < (size_t)24 * 30 * 4; i++) {
        float v = a.px[i], d = (float)(as_rng_uniform(&r) - 0.5) * 0.9f / 255;
        b.px[i] = v == 0 ? -0.3f : v == 1 ? 1.7f : v + d;
        if (i % 4 == 3) b.px[i] = 0.5f;  // alpha differs
    }
    metrics m;
    CHECK_OK(metrics_compute(&m, &b, &a, 1));
    CHECK(isinf(m.psnr) && fabs(m.ssim - 1) < 1e-12, "psnr %g ssim %.17g", m.psnr, m.ssim);
    image_free(&a), image_free(&b);
}

// Shaving ignores the border: a difference there does not count.
static void test_shave(void) {
    image a, b;
    image_random(&a, 30, 30, 3, 6);
    image_random(&b, 30, 30, 3, 6);
    for (int c = 0; c < 3; c++) b.px[c] = 1 - b.px[c];  // top-left pixel
    metrics m;
    CHECK_OK(metrics_compute(&m, &a, &b, 1));
    CHECK(isinf(m.psnr), "shave 1: %g", m.psnr);
    CHECK_OK(metrics_compute(&m, &a, &b, 0));
    CHECK(isfinite(m.psnr) && m.ssim < 1, "shave 0: %g %g", m.psnr, m.ssim);
    image_free(&a), image_free(&b);
}

static void test_small_and_errors(void) {
    image a, b;
    image_random(&a, 14, 12, 3, 7);
    image_random(&b, 14, 12, 3, 8);
    metrics m = {0, 0};
    CHECK_OK(metrics_compute(&m, &a, &b, 1));  // 12 x 10 left: too small for SSIM
    CHECK(isfinite(m.psnr) && isnan(m.ssim), "psnr %g ssim %g", m.psnr, m.ssim);
    CHECK(metrics_compute(&m, &a, &b, 6) == -1 && strstr(as_error(), "shav"), "%s", as_error());
    CHECK(metrics_compute(&m, &a, &b, -1) == -1, "negative shave");
    image c;
    image_random(&c, 14, 13, 3, 9);
    CHECK(metrics_compute(&m, &a, &c, 0) == -1 && strstr(as_error(), "mismatch"), "%s", as_error());
    image_free(&a), image_free(&b), image_free(&c);
}

static void test_threads_deterministic(void) {
    image a, b;
    image_random(&a, 210, 190, 3, 10);
    image_random(&b, 210, 190, 3, 11);
    int saved = omp_get_max_threads();
    metrics m1, m2;
    omp_set_num_threads(1);
    CHECK_OK(metrics_compute(&m1, &a, &b, 3));
    omp_set_num_threads(3);
    CHECK_OK(metrics_compute(&m2, &a, &b, 3));
    omp_set_num_threads(saved);
    CHECK(m1.psnr == m2.psnr && m1.ssim == m2.ssim, "%.17g %.17g", m1.ssim, m2.ssim);
    image_free(&a), image_free(&b);
}

// The bicubic baseline of one HR file: SR = 8-bit imresize(degrade(HR), s).
static metrics bicubic_baseline(const char *path, int s) {
    image hr, hc, lr, sr;
    CHECK_OK(image_read(path, &hr));
    CHECK_OK(degrade(&lr, &hc, &hr, s));
    CHECK_OK(resize_bicubic_u8(&sr, &lr, s));  // MATLAB's uint8 path, as published
    metrics m;
    CHECK_OK(metrics_compute(&m, &sr, &hc, s));
    image_free(&hr), image_free(&hc), image_free(&lr), image_free(&sr);
    return m;
}

// The whole docs/spec.md §2 protocol on real data. `ref` is tools/fixtures_resize.py --baselines
// (numpy, float64, MATLAB's uint8 resize path); `pub` the published numbers (2 decimals).
static void test_published_bicubic_baselines(void) {
    const char *shared = test_shared_dir();
    if (!shared) SKIP("no shared folder (set ATTSR_SHARED)");
    static const char *names[2][14] = {{"baby", "bird", "butterfly", "head", "woman"},
                                       {"baboon", "barbara", "bridge", "coastguard", "comic", "face", "flowers",
                                        "foreman", "lenna", "man", "monarch", "pepper", "ppt3", "zebra"}};
    static const struct {
        int set, s, n;
        double ref_psnr, ref_ssim, pub_psnr;
    } cases[] = {{0, 2, 5, 33.673571, 0.930290, 33.66},
                 {0, 4, 5, 28.429041, 0.811137, 28.42},
                 {1, 2, 14, 30.230204, 0.869052, 30.24},
                 {1, 4, 14, 25.993988, 0.702917, 26.00}};
    for (int k = 0; k < 4; k++) {
        double p = 0, q = 0;
        for (int i = 0; i < cases[k].n; i++) {
            char path[1024];
            snprintf(path, sizeof path, "%s/data/benchmark/%s/HR/%s.png", shared, cases[k].set ? "Set14" : "Set5",
                     names[cases[k].set][i]);
            metrics m = bicubic_baseline(path, cases[k].s);
            p += m.psnr / cases[k].n;
            q += m.ssim / cases[k].n;
        }
        printf("# %s x%d bicubic: PSNR %.4f SSIM %.4f (published %.2f)\n", cases[k].set ? "Set14" : "Set5", cases[k].s,
               p, q, cases[k].pub_psnr);
        CHECK(fabs(p - cases[k].ref_psnr) < 1e-4 && fabs(q - cases[k].ref_ssim) < 1e-5, "reference %.6f %.6f",
              cases[k].ref_psnr, cases[k].ref_ssim);
        CHECK(fabs(p - cases[k].pub_psnr) <= 0.02, "published %.2f", cases[k].pub_psnr);
    }
}

int main(void) {
    RUN(test_fixtures_metrics);
    RUN(test_identical);
    RUN(test_symmetric);
    RUN(test_constant_images);
    RUN(test_rounds_to_8_bits);
    RUN(test_shave);
    RUN(test_small_and_errors);
    RUN(test_threads_deterministic);
    RUN(test_published_bicubic_baselines);
    return test_summary();
}
