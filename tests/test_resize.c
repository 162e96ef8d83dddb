// Tests of src/image/resize.c: MATLAB imresize against tools/fixtures_resize.py, the
// docs/spec.md §2 degradation, and properties (constants, identity, sizes, channels, threads).
#include <omp.h>

#include "core/core.h"
#include "image/resize.h"
#include "test.h"
#include "fixture_f32.h"

// Output of resize_bicubic_into for a (h, w, c) input; NULL-checked by the caller.
static float *resized(const float *in, int h, int w, int c, double s, size_t *n) {
    *n = (size_t)resize_out_len(h, s) * resize_out_len(w, s) * c;
    float *out = malloc(*n * sizeof *out);
    if (out && resize_bicubic_into(out, in, h, w, c, s)) {
        free(out);
        return NULL;
    }
    return out;
}

static float *random_floats(size_t n, uint64_t seed) {
    as_rng r;
    as_rng_seed(&r, seed);
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++) p[i] = (float)as_rng_uniform(&r);
    return p;
}

static void test_fixtures_resize(void) {
    FILE *f = fx_manifest();
    CHECK(f, "no %smanifest.txt: run tools/fixtures_resize.py", FX_DIR);
    char line[512], src[128], dst[128];
    int cases = 0;
    double worst = 0;
    while (fx_next(f, "resize", line, sizeof line)) {
        int h, w, c, oh, ow;
        double s;
        CHECK(sscanf(line, "resize %127s %127s %d %d %d %lf %d %d", src, dst, &h, &w, &c, &s, &oh, &ow) == 8,
              "bad line: %s", line);
        CHECK(resize_out_len(h, s) == oh && resize_out_len(w, s) == ow, "size of %s", dst);
        float *in = fx_read(src, (size_t)h * w * c), *ref = fx_read(dst, (size_t)oh * ow * c);
        CHECK(in && ref, "%s", dst);
        size_t n;
        float *out = resized(in, h, w, c, s, &n);
        CHECK(out, "%s: %s", dst, as_error());
        // Values are O(1) (bicubic overshoot stays within a few units), so an absolute
        // bound plus a relative one covers float rounding of the double computation.
        long bad = test_allclose(out, ref, n, 1e-6, 1e-6);
        double e = fx_max_abs(out, ref, n);
        CHECK(bad < 0, "%s (%dx%dx%d scale %g): element %ld is %.9g, want %.9g (max err %g)", dst, h, w, c, s, bad,
              out[bad], ref[bad], e);
        if (e > worst) worst = e;
        free(in), free(ref), free(out);
        cases++;
    }
    fclose(f);
    CHECK(cases >= 40, "only %d resize cases in the manifest", cases);
    printf("# %d resize cases, max abs error %.3g\n", cases, worst);
}

static void image_from(image *img, const float *px, int h, int w, int c) {
    CHECK_OK(image_alloc(img, w, h, c));
    memcpy(img->px, px, (size_t)h * w * c * sizeof(float));
}

static void test_fixtures_degrade(void) {
    FILE *f = fx_manifest();
    CHECK(f, "no manifest");
    char line[512], src[128], dst[128];
    int cases = 0;
    while (fx_next(f, "degrade", line, sizeof line)) {
        int h, w, c, s, lh, lw;
        CHECK(sscanf(line, "degrade %127s %127s %d %d %d %d %d %d", src, dst, &h, &w, &c, &s, &lh, &lw) == 8,
              "bad line: %s", line);
        float *hrpx = fx_read(src, (size_t)h * w * c), *ref = fx_read(dst, (size_t)lh * lw * c);
        CHECK(hrpx && ref, "%s", dst);
        image hr, lr, hc;
        image_from(&hr, hrpx, h, w, c);
        hr.gray = 1;  // must be passed on
        CHECK_OK(degrade(&lr, &hc, &hr, s));
        CHECK(lr.h == lh && lr.w == lw && lr.c == c && lr.gray == 1, "%s: %dx%dx%d", dst, lr.h, lr.w, lr.c);
        CHECK(hc.h == lh * s && hc.w == lw * s && hc.c == c && hc.gray == 1, "crop of %s", dst);
        for (int y = 0; y < hc.h; y++)  // the crop keeps the top-left
            CHECK(memcmp(hc.px + (size_t)y * hc.w * c, hrpx + (size_t)y * w * c, sizeof(float) * hc.w * c) == 0,
                  "crop row %d", y);
        // 8-bit results: every value must be the very same k/255.
        for (size_t i = 0; i < (size_t)lh * lw * c; i++)
            CHECK(image_to_u8(lr.px[i]) == image_to_u8(ref[i]) && lr.px[i] == image_to_u8(lr.px[i]) / 255.0f,
                  "%s: element %zu is %.9g, want %.9g", dst, i, lr.px[i], ref[i]);
        image_free(&hr), image_free(&lr), image_free(&hc);
        free(hrpx), free(ref);
        cases++;
    }
    fclose(f);
    CHECK(cases >= 4, "only %d degrade cases", cases);
}

static const double SCALES[] = {1.0 / 2, 1.0 / 3, 1.0 / 4, 2, 3, 4, 0.7, 1.3, 0.1, 7.5};
#define NSCALES (int)(sizeof SCALES / sizeof SCALES[0])

// Weights sum to one, so a constant image stays constant at every scale and size.
static void test_constant_stays_constant(void) {
    int sizes[][2] = {{1, 1}, {1, 7}, {2, 2}, {9, 11}, {31, 4}};
    for (int si = 0; si < 5; si++) {
        int h = sizes[si][0], w = sizes[si][1], c = 3;
        float *in = malloc(sizeof(float) * h * w * c);
        for (int i = 0; i < h * w * c; i++) in[i] = 0.37f;
        for (int k = 0; k < NSCALES; k++) {
            size_t n;
            float *out = resized(in, h, w, c, SCALES[k], &n);
            CHECK(out, "%s", as_error());
            for (size_t i = 0; i < n; i++)
                CHECK(fabsf(out[i] - 0.37f) <= 1e-6f, "%dx%d scale %g: %.9g", h, w, SCALES[k], out[i]);
            free(out);
        }
        free(in);
    }
}

// At scale 1 the only non-zero tap is cubic(0) = 1: an exact copy.
static void test_scale_one_is_identity(void) {
    int h = 13, w = 17, c = 4;
    float *in = random_floats((size_t)h * w * c, 1);
    size_t n;
    float *out = resized(in, h, w, c, 1.0, &n);
    CHECK(out && n == (size_t)h * w * c, "%s", as_error());
    CHECK(memcmp(in, out, n * sizeof *out) == 0, "scale 1 changed the image");
    free(in), free(out);
}

static void test_sizes(void) {
    CHECK(resize_out_len(13, 0.7) == 10 && resize_out_len(7, 1.3) == 10, "ceil");
    CHECK(resize_out_len(1, 0.25) == 1 && resize_out_len(5, 1.0 / 3) == 2, "ceil small");
    // Downscaling an upscale by the same integer factor gives the original size back.
    for (int s = 2; s <= 8; s++)
        for (int n = 1; n <= 2000; n++)
            CHECK(resize_out_len((int)resize_out_len(n, s), 1.0 / s) == n, "n %d s %d", n, s);
}

// Channels are independent: alpha (or any channel) resized alone gives the same values.
static void test_channels_independent(void) {
    int h = 11, w = 9, c = 4;
    float *in = random_floats((size_t)h * w * c, 2), *one = malloc(sizeof(float) * h * w);
    for (int k = 0; k < NSCALES; k++) {
        size_t n, n1;
        float *all = resized(in, h, w, c, SCALES[k], &n);
        CHECK(all, "%s", as_error());
        for (int ch = 0; ch < c; ch++) {
            for (int i = 0; i < h * w; i++) one[i] = in[i * c + ch];
            float *o1 = resized(one, h, w, 1, SCALES[k], &n1);
            CHECK(o1 && n1 * c == n, "%s", as_error());
            for (size_t i = 0; i < n1; i++)
                CHECK(fabsf(o1[i] - all[i * c + ch]) <= 1e-7f, "scale %g channel %d", SCALES[k], ch);
            free(o1);
        }
        free(all);
    }
    free(in), free(one);
}

// Each output row is computed by one thread the same way: results are bit-identical
// whatever the thread count.
static void test_threads_deterministic(void) {
    int h = 300, w = 257, c = 3;
    float *in = random_floats((size_t)h * w * c, 3);
    int saved = omp_get_max_threads();
    double scales[] = {0.25, 1.0 / 3, 2};
    for (int k = 0; k < 3; k++) {
        size_t n1, n2;
        omp_set_num_threads(1);
        float *a = resized(in, h, w, c, scales[k], &n1);
        omp_set_num_threads(4);
        float *b = resized(in, h, w, c, scales[k], &n2);
        omp_set_num_threads(saved);
        CHECK(a && b && n1 == n2, "%s", as_error());
        CHECK(memcmp(a, b, n1 * sizeof *a) == 0, "scale %g differs with threads", scales[k]);
        free(a), free(b);
    }
    free(in);
}

static void test_resize_image(void) {
    image in, out;
    CHECK_OK(image_alloc(&in, 7, 5, 4));  // w 7, h 5, RGBA
    in.gray = 1;
    CHECK_OK(resize_bicubic(&out, &in, 3));
    CHECK(out.w == 21 && out.h == 15 && out.c == 4 && out.gray == 1, "%dx%dx%d gray %d", out.w, out.h, out.c, out.gray);
    image_free(&out);
    CHECK(resize_bicubic(&out, &in, 0) == -1 && out.px == NULL, "scale 0 accepted");
    image_free(&in);
}

static void test_errors(void) {
    float in[12] = {0}, out[64];
    double bad[] = {0, -2, NAN, INFINITY};
    for (int k = 0; k < 4; k++) {
        as_clear_error();
        CHECK(resize_bicubic_into(out, in, 2, 2, 3, bad[k]) == -1 && *as_error(), "scale %g accepted", bad[k]);
    }
    CHECK(resize_bicubic_into(out, in, 0, 2, 3, 2) == -1, "h 0 accepted");
    CHECK(resize_bicubic_into(out, in, 2, 2, 0, 2) == -1, "c 0 accepted");
    image hr, lr = {.px = (float *)1}, hc = {.px = (float *)1};
    CHECK_OK(image_alloc(&hr, 3, 5, 3));
    CHECK(degrade(&lr, &hc, &hr, 4) == -1 && strstr(as_error(), "smaller"), "%s", as_error());
    CHECK(lr.px == NULL && hc.px == NULL, "outputs not left empty");
    CHECK(degrade(&lr, NULL, &hr, 0) == -1, "scale 0 accepted");
    CHECK_OK(degrade(&lr, NULL, &hr, 3));  // 5x3 -> 1x1, no crop requested
    CHECK(lr.w == 1 && lr.h == 1, "%dx%d", lr.w, lr.h);
    image_free(&lr), image_free(&hr);
}

// resize_bicubic_raw cannot return an error: on one it must not leave plausible data.
static void test_raw_failure_is_visible(void) {
    float in[2 * 3 * 3] = {0}, out[4 * 6 * 3];
    size_t saved = as_limits.max_alloc;
    as_limits.max_alloc = 16;  // every allocation of the resize fails
    resize_bicubic_raw(out, in, 2, 3, 3, 2);
    as_limits.max_alloc = saved;
    for (int i = 0; i < 4 * 6 * 3; i++) CHECK(isnan(out[i]), "out[%d] = %g", i, out[i]);
    CHECK(strstr(as_error(), "limit"), "%s", as_error());
    resize_bicubic_raw(out, in, 2, 3, 3, 2);
    for (int i = 0; i < 4 * 6 * 3; i++) CHECK(out[i] == 0, "out[%d] = %g", i, out[i]);
}

int main(void) {
    RUN(test_fixtures_resize);
    RUN(test_fixtures_degrade);
    RUN(test_constant_stays_constant);
    RUN(test_scale_one_is_identity);
    RUN(test_sizes);
    RUN(test_channels_independent);
    RUN(test_threads_deterministic);
    RUN(test_resize_image);
    RUN(test_errors);
    RUN(test_raw_failure_is_visible);
    return test_summary();
}
