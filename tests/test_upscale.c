// Whole-image upscaling: the x8 self-ensemble against a slow reference written with
// rotations (not upscale.c's flip/transpose bits), its symmetry, its tiling, its
// branches and its progress calls; the receptive radius that bounds the overlap; small
// images (padded by reflection) against their flat colour with the bundled models.
#include "core/core.h"
#include "model/upscale.h"
#include "test.h"

typedef struct {
    float *px;
    int w, h;
} img;

static img img_new(int w, int h) {
    img r = {calloc((size_t)w * h * 3, sizeof(float)), w, h};
    CHECK(r.px, "out of memory");
    return r;
}

static float *at(const img *a, int x, int y) { return a->px + ((size_t)y * a->w + x) * 3; }

// 90 degrees clockwise: the result is h wide; its (x, y) is a's (y, h - 1 - x).
static img rot90(const img *a) {
    img r = img_new(a->h, a->w);
    for (int y = 0; y < r.h; y++)
        for (int x = 0; x < r.w; x++) memcpy(at(&r, x, y), at(a, y, a->h - 1 - x), 3 * sizeof(float));
    return r;
}

static img mirror(const img *a) {
    img r = img_new(a->w, a->h);
    for (int y = 0; y < a->h; y++)
        for (int x = 0; x < a->w; x++) memcpy(at(&r, x, y), at(a, a->w - 1 - x, y), 3 * sizeof(float));
    return r;
}

static void replace(img *a, img b) {
    free(a->px);
    *a = b;
}

// Symmetry (turns, flip) applied: `turns` quarter turns clockwise, then a mirror.
static img apply(const img *a, int turns, int flip) {
    img r = img_new(a->w, a->h);
    memcpy(r.px, a->px, sizeof(float) * a->w * a->h * 3);
    for (int t = 0; t < turns; t++) replace(&r, rot90(&r));
    if (flip) replace(&r, mirror(&r));
    return r;
}

// Its inverse: the mirror first, then the remaining turns of a full circle.
static img undo(const img *a, int turns, int flip) {
    img r = flip ? mirror(a) : apply(a, 0, 0);
    for (int t = 0; t < (4 - turns) % 4; t++) replace(&r, rot90(&r));
    return r;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void make_model(model *m, int scale, attention_kind att) {
    model_config c = model_config_default();
    c.scale = scale, c.feats = 8, c.fe_groups = 1, c.groups = 1, c.blocks = 1, c.attention = att;
    CHECK_OK(model_create(m, &c));
    model_init_params(m, 11);
}

static img random_image(int w, int h, uint64_t seed) {
    img r = img_new(w, h);
    as_rng g;
    as_rng_seed(&g, seed);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) r.px[i] = (float)as_rng_uniform(&g);
    return r;
}

static img upscale(const model *m, plan_cache *c, const img *in, const upscale_options *o) {
    int s = m->cfg.scale;
    img r = img_new(in->w * s, in->h * s);
    CHECK_OK(upscale_image(m, c, in->px, in->w, in->h, r.px, NULL, NULL, o));
    return r;
}

// The ensemble is the mean, over the 8 symmetries, of the output for the transformed
// input transformed back.
static void test_ensemble_matches_reference(void) {
    model m;
    make_model(&m, 3, ATT_SA4);
    plan_cache c = {0};
    img in = random_image(41, 35, 5);  // both sides of a normal size: a window each way
    upscale_options ens = {.ensemble = 1};
    img got = upscale(&m, &c, &in, &ens), ref = img_new(got.w, got.h), plain = upscale(&m, &c, &in, NULL);
    for (int turns = 0; turns < 4; turns++)
        for (int flip = 0; flip < 2; flip++) {
            img t = apply(&in, turns, flip), out = upscale(&m, &c, &t, NULL), back = undo(&out, turns, flip);
            CHECK(back.w == ref.w && back.h == ref.h, "shape %dx%d", back.w, back.h);
            for (size_t i = 0; i < (size_t)ref.w * ref.h * 3; i++) ref.px[i] += back.px[i] / 8;
            free(t.px), free(out.px), free(back.px);
        }
    size_t n = (size_t)ref.w * ref.h * 3;
    double d = max_diff(got.px, ref.px, n), d_plain = max_diff(plain.px, ref.px, n);
    CHECK(d <= 1e-5, "ensemble vs reference: max difference %g", d);
    // a random network is not symmetric: the ensemble must change its output
    CHECK(d_plain > 1e-3, "the ensemble equals the plain output (max difference %g)", d_plain);
    // The cache now holds the transposed (35 x 41) window: a second ensemble starts with
    // the transposed half, ends on the image's own window and gives the same result.
    CHECK(c.w == 35 && c.h == 41, "cache holds %dx%d", c.w, c.h);
    img again = upscale(&m, &c, &in, &ens);
    CHECK(c.w == 41 && c.h == 35, "after a second ensemble the cache holds %dx%d, expected 41x35", c.w, c.h);
    d = max_diff(again.px, got.px, n);
    CHECK(d <= 1e-6, "ensemble in the other order: max difference %g", d);
    free(in.px), free(got.px), free(ref.px), free(plain.px), free(again.px);
    plan_cache_free(&c);
    model_free(&m);
}

// Averaging over the whole group makes the result equivariant: E(g x) = g E(x).
static void test_ensemble_equivariant(void) {
    model m;
    make_model(&m, 2, ATT_CA);
    plan_cache c = {0};
    img in = random_image(9, 14, 6);
    upscale_options ens = {.ensemble = 1};
    img e = upscale(&m, &c, &in, &ens);
    int cases[][2] = {{1, 0}, {0, 1}, {3, 1}};
    for (int k = 0; k < 3; k++) {
        img t = apply(&in, cases[k][0], cases[k][1]), et = upscale(&m, &c, &t, &ens);
        img te = apply(&e, cases[k][0], cases[k][1]);
        double d = max_diff(et.px, te.px, (size_t)te.w * te.h * 3);
        CHECK(d <= 1e-5, "turns %d flip %d: E(g x) - g E(x) up to %g", cases[k][0], cases[k][1], d);
        free(t.px), free(et.px), free(te.px);
    }
    free(in.px), free(e.px);
    plan_cache_free(&c);
    model_free(&m);
}

static void count_progress(int done, int total, void *user) {
    int *p = user;
    CHECK(done == p[0] + 1 && total == p[1], "progress %d/%d after %d/%d", done, total, p[0], p[1]);
    p[0] = done;
}

// Tiles with enough context give the whole image's ensemble; S + T = SR; progress
// counts the tiles of all 8 passes.
static void test_ensemble_tiled_and_branches(void) {
    model m;
    make_model(&m, 2, ATT_NONE);  // no global pooling: tiles with context are exact
    plan_cache c = {0};
    img in = random_image(48, 40, 7);
    int W = in.w * 2, H = in.h * 2;
    size_t n = (size_t)W * H * 3;
    // overlap 12 is clamped to the receptive radius, 11: windows of at most 30 < 40, 48,
    // 6 x 4 of them (test_windows_minimal checks the counts), in each of 8 passes
    CHECK(model_receptive_radius(&m.cfg) == 11, "radius %d", model_receptive_radius(&m.cfg));
    int prog[2] = {0, 8 * 6 * 4};
    upscale_options whole = {.ensemble = 1},
                    tiled = {.ensemble = 1, .tile = 8, .overlap = 12, .progress = count_progress, .user = prog};
    img a = upscale(&m, &c, &in, &whole), b = img_new(W, H), s = img_new(W, H), t = img_new(W, H);
    CHECK_OK(upscale_image(&m, &c, in.px, in.w, in.h, b.px, s.px, t.px, &tiled));
    CHECK(prog[0] == prog[1], "%d progress calls, expected %d", prog[0], prog[1]);
    double d = max_diff(a.px, b.px, n);
    CHECK(d <= 1e-5, "tiled vs whole ensemble: max difference %g", d);
    for (size_t i = 0; i < n; i++) s.px[i] += t.px[i];
    d = max_diff(s.px, b.px, n);
    CHECK(d <= 1e-5, "S + T vs SR: max difference %g", d);
    free(in.px), free(a.px), free(b.px), free(s.px), free(t.px);
    plan_cache_free(&c);
    model_free(&m);
}

// model_receptive_radius is exact: tiles with that much context give the whole image's
// output bit for bit (windows start at multiples of Winograd's 4-pixel tile, so every
// pixel meets the same arithmetic), one pixel less does not. No attention or SA4 (CA's
// mean over the window is global); x2 and x4 (its 2x stage). SA4's 5x5 runs F(4x4, 5x5),
// whose 8 x 8 input tiles reach 2 pixels past the 5x5 window on each side: a pixel there
// cancels out of the output exactly but not in rounding, so SA4's tiles agree with the
// whole to rounding (5.96e-8 here), not bit for bit.
static void test_receptive_radius_exact(void) {
    static const struct {
        int scale;
        attention_kind att;
    } cases[] = {{2, ATT_NONE}, {4, ATT_NONE}, {2, ATT_SA4}};
    for (int k = 0; k < 3; k++) {
        model m;
        make_model(&m, cases[k].scale, cases[k].att);
        int r = model_receptive_radius(&m.cfg), s = m.cfg.scale;
        img in = random_image(8 + 2 * r + 17, 8 + 2 * r + 9, 20 + k);  // windows smaller than the image
        plan_cache c = {0};
        img whole = upscale(&m, &c, &in, NULL);
        upscale_options exact = {.tile = 8, .overlap = r}, short_by_one = {.tile = 8, .overlap = r - 1};
        img a = upscale(&m, &c, &in, &exact);
        int aw = c.w, ah = c.h;
        CHECK(aw < in.w && ah < in.h, "window %dx%d: the image was not tiled", aw, ah);
        img b = upscale(&m, &c, &in, &short_by_one);
        size_t n = (size_t)in.w * s * in.h * s * 3;
        double d_short = max_diff(b.px, whole.px, n);
        if (cases[k].att == ATT_SA4)
            CHECK(max_diff(a.px, whole.px, n) <= 1e-6,
                  "x%d sa4: overlap %d (the radius): tiles differ from the whole by %g", s, r,
                  max_diff(a.px, whole.px, n));
        else
            CHECK(!memcmp(a.px, whole.px, n * sizeof(float)),
                  "x%d %s: overlap %d (the radius): tiles differ from the whole by %g", s,
                  attention_name(m.cfg.attention), r, max_diff(a.px, whole.px, n));
        // One pixel short, the far edge's zero padding reaches the kept pixels through the
        // whole network (about 1e-5 here; SA4's gates damp it to 3e-8, too close to
        // rounding to test).
        CHECK(cases[k].att != ATT_NONE || d_short > 1e-6,
              "x%d %s: overlap %d (radius - 1) is exact too (%g): the radius is not tight", s,
              attention_name(m.cfg.attention), r - 1, d_short);
        // a larger overlap is clamped to the radius: the same windows, the same result
        upscale_options huge = {.tile = 8, .overlap = 4096};
        img h = upscale(&m, &c, &in, &huge);
        CHECK(c.w == aw && c.h == ah, "overlap 4096: window %dx%d, expected %dx%d", c.w, c.h, aw, ah);
        CHECK(!memcmp(h.px, a.px, n * sizeof(float)), "overlap 4096 differs from overlap %d", r);
        free(in.px), free(whole.px), free(a.px), free(b.px), free(h.px);
        plan_cache_free(&c);
        model_free(&m);
    }
}

static void count_total(int done, int total, void *user) {
    int *p = user;
    p[0] = done, p[1] = total;
}

// --tile 8 --overlap 4096 on 64x48 computed the whole image once per tile (48 times).
// With the bundled x2 model (radius 32) a window of 8 + 2 x 32 covers the image: one
// window, bit-identical to the untiled result. The work is bounded by the tiles and
// windows counted here, not by the overlap asked for.
static void test_overlap_clamped(void) {
    model m;
    if (model_load(&m, "models/attsr_x2.safetensors")) SKIP("%s", as_error());
    img in = random_image(64, 48, 30);
    plan_cache c = {0};
    int prog[2] = {0, 0};
    upscale_options huge = {.tile = 8, .overlap = 4096, .progress = count_total, .user = prog};
    img whole = upscale(&m, &c, &in, NULL), t = upscale(&m, &c, &in, &huge);
    CHECK(prog[1] == 1 && prog[0] == 1, "%d tiles computed, expected 1", prog[1]);
    CHECK(c.w == 64 && c.h == 48, "window %dx%d", c.w, c.h);
    CHECK(!memcmp(t.px, whole.px, sizeof(float) * 128 * 96 * 3), "differs from the untiled result");
    // the tiles of a side the window covers are one: --tile 40 (default overlap 16) on 64x48
    upscale_options wide = {.tile = 40, .progress = count_total, .user = prog};
    img w40 = upscale(&m, &c, &in, &wide);
    CHECK(prog[1] == 1, "--tile 40: %d tiles computed, expected 1", prog[1]);
    CHECK(!memcmp(w40.px, whole.px, sizeof(float) * 128 * 96 * 3), "--tile 40 differs from the untiled result");
    free(in.px), free(whole.px), free(t.px), free(w40.px);
    plan_cache_free(&c);
    model_free(&m);
}

// Per channel, in 8-bit levels: the mean's distance to `col` and the largest one.
static void flat_error(const img *a, const float col[3], double mean_err[3], double *max_err) {
    size_t n = (size_t)a->w * a->h;
    double sum[3] = {0};
    *max_err = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            sum[k] += a->px[3 * i + k];
            *max_err = fmax(*max_err, 255 * fabs(a->px[3 * i + k] - col[k]));
        }
    for (int k = 0; k < 3; k++) mean_err[k] = 255 * fabs(sum[k] / n - col[k]);
}

// Images 1 or 2 pixels wide came out badly wrong (a flat (200,100,50) 1x64 image with
// mean (121,94,65)): the zero padding of the convolutions dominated. Small sides are
// now padded by reflection: every flat image of sides 1..8 (and 1 or 2 by 64, both
// ways; plain, tiled and as the ensemble) must come out with its mean within 1 level
// of the colour in each channel and no pixel further from it than on a 64x64 flat
// image, whose outermost rows the model gets wrong by itself (up to 90 levels at x4).
static void test_small_images_flat(void) {
    static const float col[3] = {200 / 255.0f, 100 / 255.0f, 50 / 255.0f};
    for (int scale = 2; scale <= 4; scale++) {
        char path[64];
        snprintf(path, sizeof path, "models/attsr_x%d.safetensors", scale);
        model m;
        if (model_load(&m, path)) SKIP("%s", as_error());
        plan_cache c = {0};
        img ref_in = img_new(64, 64);
        for (size_t i = 0; i < 64 * 64 * 3; i++) ref_in.px[i] = col[i % 3];
        img ref = upscale(&m, &c, &ref_in, NULL);
        double ref_mean[3], ref_max;
        flat_error(&ref, col, ref_mean, &ref_max);
        // x2: every size 1..8 by 1..8; x3, x4 (as slow again): sides 1, 2, 3, 5, 8
        int sizes[64 + 4][2], n_sizes = 0;
        for (int w = 1; w <= 8; w++)
            for (int h = 1; h <= 8; h++)
                if (scale == 2 || ((w < 4 || w == 5 || w == 8) && (h < 4 || h == 5 || h == 8)))
                    sizes[n_sizes][0] = w, sizes[n_sizes++][1] = h;
        int thin[4][2] = {{1, 64}, {64, 1}, {2, 64}, {64, 2}};
        for (int i = 0; i < 4; i++) sizes[n_sizes][0] = thin[i][0], sizes[n_sizes++][1] = thin[i][1];
        for (int i = 0; i < n_sizes; i++) {
            int w = sizes[i][0], h = sizes[i][1], thin_one = w == 64 || h == 64;
            img in = img_new(w, h);
            for (size_t j = 0; j < (size_t)w * h * 3; j++) in.px[j] = col[j % 3];
            // an explicit tile spares the automatic layout's probe plans per call
            upscale_options plain = {.tile = 64}, tiled = {.tile = 8, .overlap = 4}, ens = {.tile = 64, .ensemble = 1};
            const upscale_options *opts[3] = {&plain, &tiled, &ens};
            static const char *names[3] = {"plain", "tiled", "ensemble"};
            for (int k = 0; k < 3; k++) {
                // tiles only matter along a side of 64; the ensemble (8 passes) on a few
                if ((k == 1 && !thin_one) || (k == 2 && !(scale == 2 && (w * h == 1 || w * h == 6 || w == 1))))
                    continue;
                img out = upscale(&m, &c, &in, opts[k]);
                double mean[3], mx;
                flat_error(&out, col, mean, &mx);
                CHECK(mean[0] <= 1 && mean[1] <= 1 && mean[2] <= 1,
                      "x%d %dx%d %s: the mean is off by (%.2f, %.2f, %.2f) levels", scale, w, h, names[k], mean[0],
                      mean[1], mean[2]);
                CHECK(mx <= ref_max, "x%d %dx%d %s: a pixel is %.2f levels off (64x64: %.2f)", scale, w, h, names[k],
                      mx, ref_max);
                free(out.px);
            }
            free(in.px);
        }
        free(ref_in.px), free(ref.px);
        plan_cache_free(&c);
        model_free(&m);
    }
}

// The one loader of pixels that is not a file, upscale_image (the C API's path),
// refuses NaN and Inf too.
static void test_nonfinite_input_refused(void) {
    model m;
    make_model(&m, 2, ATT_NONE);
    plan_cache c = {0};
    img in = random_image(5, 4, 3), out = img_new(10, 8);
    in.px[(2 * 5 + 3) * 3 + 2] = NAN;
    CHECK(upscale_image(&m, &c, in.px, 5, 4, out.px, NULL, NULL, NULL) != 0, "NaN accepted");
    CHECK(strstr(as_error(), "pixel (x 3, y 2) holds a non-finite value"), "%s", as_error());
    in.px[(2 * 5 + 3) * 3 + 2] = -INFINITY;
    CHECK(upscale_image(&m, &c, in.px, 5, 4, out.px, NULL, NULL, NULL) != 0, "-Inf accepted");
    free(in.px), free(out.px);
    plan_cache_free(&c);
    model_free(&m);
}

// The fewest windows, written another way: for each window size W (n - W a multiple of
// 4, as the starts are), k windows need (n - W) / 4 units of 4 pixels in k - 1 steps of
// at most (W - 2 overlap) / 4 units each. 0 when no size works.
static int fewest_reference(int n, int max_win, int overlap) {
    if (n <= max_win) return 1;
    int best = 0;
    for (int W = 1; W <= max_win && W < n; W++) {
        int units = (W - 2 * overlap) / 4;
        if ((n - W) % 4 || W - 2 * overlap < 4 || units < 1) continue;
        int k = 1 + ((n - W) / 4 + units - 1) / units;
        if (!best || k < best) best = k;
    }
    return best;
}

// Along one side: the windows are equal, inside the image, at multiples of 4; the kept
// ranges partition the side, each kept pixel with `overlap` pixels of context on both
// sides in its window (or the image's edge); and their count is the reference's fewest.
static void check_axis(const upscale_axis *a, int n, int max_win, int overlap) {
    CHECK(a->n == n && a->k >= 1 && a->win <= AS_MAX(max_win, 0) && a->win <= n,
          "n %d max %d overlap %d: %d windows of %d", n, max_win, overlap, a->k, a->win);
    CHECK(upscale_axis_keep(a, 0) == 0 && upscale_axis_keep(a, a->k) == n, "n %d: the kept ranges do not span it", n);
    for (int i = 0; i < a->k; i++) {
        int s = upscale_axis_start(a, i), lo = upscale_axis_keep(a, i), hi = upscale_axis_keep(a, i + 1);
        CHECK(s >= 0 && s % 4 == 0 && s + a->win <= n, "n %d: window %d at %d (+%d)", n, i, s, a->win);
        CHECK(lo < hi, "n %d: window %d keeps [%d, %d)", n, i, lo, hi);
        CHECK((s == 0 || lo - s >= overlap) && (s + a->win == n || s + a->win - hi >= overlap),
              "n %d max %d overlap %d: window %d [%d, %d) keeps [%d, %d): short of context", n, max_win, overlap, i, s,
              s + a->win, lo, hi);
    }
    CHECK(upscale_axis_start(a, a->k - 1) + a->win == n, "n %d: the last window ends before the image", n);
    int ref = fewest_reference(n, max_win, overlap);
    CHECK(a->k == ref, "n %d max %d overlap %d: %d windows, the fewest is %d", n, max_win, overlap, a->k, ref);
}

static void test_windows_minimal(void) {
    static const int overlaps[] = {0, 1, 4, 11, 16, 32};
    int cases = 0;
    for (int oi = 0; oi < 6; oi++)
        for (int n = 32; n <= 300; n += 1 + n / 50)
            for (int max_win = 2 * overlaps[oi] + 1; max_win <= n + 8; max_win += 1 + max_win / 8) {
                upscale_axis a;
                int found = upscale_axis_fewest(n, max_win, overlaps[oi], &a),
                    ref = fewest_reference(n, max_win, overlaps[oi]);
                CHECK(found == (ref > 0), "n %d max %d overlap %d: found %d, the reference %d windows", n, max_win,
                      overlaps[oi], found, ref);
                if (found) check_axis(&a, n, max_win, overlaps[oi]);
                cases++;
            }
    // the sizes of docs/benchmarks.md, with the bundled models' radius
    static const int big[][2] = {{1024, 800}, {2048, 1056}, {2048, 728}, {1920, 684}, {3840, 1008}, {65536, 1000}};
    for (int i = 0; i < 6; i++) {
        upscale_axis a;
        CHECK(upscale_axis_fewest(big[i][0], big[i][1], 32, &a), "n %d: no windows", big[i][0]);
        check_axis(&a, big[i][0], big[i][1], 32);
    }
    CHECK(cases > 1000, "%d cases", cases);
}

static void count_windows(int done, int total, void *user) {
    int *p = user;
    p[0] = done, p[1] = total;
}

// Automatic windows under a plan budget: the plan's bytes are fixed + per-pixel (to
// 4 KiB, never under, for any shape), the image runs whole when it fits and otherwise in the windows that
// compute the fewest pixels among all that fit, with the whole image's output bit for
// bit (no CA), and the plan made stays within the budget.
static void test_auto_windows(void) {
    model m;
    make_model(&m, 2, ATT_NONE);
    double fixed, per_px;
    CHECK_OK(upscale_plan_memory(&m, MODEL_INFER_SR, &fixed, &per_px));  // upscale() asks for SR alone
    static const int shapes[][2] = {{40, 70}, {150, 120}, {33, 200}};
    for (int i = 0; i < 3; i++) {
        model_plan *p = model_plan_create(&m, 1, shapes[i][1], shapes[i][0], MODEL_INFER_SR);
        CHECK(p, "%s", as_error());
        double want = fixed + per_px * shapes[i][0] * shapes[i][1];
        CHECK((double)model_plan_bytes(p) <= want && want - model_plan_bytes(p) <= 4096,
              "%dx%d: plan of %zu bytes, estimated %.0f", shapes[i][0], shapes[i][1], model_plan_bytes(p), want);
        model_plan_free(p);
    }
    int w = 150, h = 120, r = model_receptive_radius(&m.cfg), prog[2];
    img in = random_image(w, h, 40);
    plan_cache c = {0};
    size_t whole_bytes = (size_t)(fixed + per_px * w * h);
    upscale_options fits = {.plan_bytes = whole_bytes, .progress = count_windows, .user = prog};
    img whole = upscale(&m, &c, &in, &fits);
    CHECK(prog[1] == 1 && c.w == w && c.h == h, "the budget of the whole image's plan: %d windows of %dx%d", prog[1],
          c.w, c.h);
    // a whole image that fits needs no probes: its own plan decides
    CHECK(!c.sized, "the probes ran for an image whose plan fits");
    for (int div = 2; div <= 6; div += 2) {
        upscale_options o = {.plan_bytes = whole_bytes / div, .progress = count_windows, .user = prog};
        upscale_axis x, y;
        CHECK_OK(upscale_layout(&m, NULL, w, h, &o, MODEL_INFER_SR, &x, &y));
        img t = upscale(&m, &c, &in, &o);
        CHECK(prog[1] == x.k * y.k && prog[1] > 1, "budget 1/%d: %d windows, layout %d x %d", div, prog[1], x.k, y.k);
        // the probes' measure stays in the cache for the next images, the same as measured
        CHECK(c.sized && c.sized_mode == MODEL_INFER_SR && c.fixed == fixed && c.per_px == per_px,
              "budget 1/%d: cached plan measure %d: %g + %g/px, probes %g + %g/px", div, c.sized, c.fixed, c.per_px,
              fixed, per_px);
        CHECK(model_plan_bytes(c.plan) <= o.plan_bytes, "budget 1/%d: a plan of %zu bytes over %zu", div,
              model_plan_bytes(c.plan), o.plan_bytes);
        CHECK(!memcmp(t.px, whole.px, sizeof(float) * w * h * 12), "budget 1/%d: differs from the whole image by %g",
              div, max_diff(t.px, whole.px, (size_t)w * h * 12));
        // the next image of the size (a video's frame) reuses the windows' plan
        int made = c.made;
        img again = upscale(&m, &c, &in, &o);
        CHECK(c.made == made, "budget 1/%d: %d more plans for a second image of the size", div, c.made - made);
        free(again.px);
        // no pair of window sizes that fits computes fewer pixels
        double max_px = (o.plan_bytes - fixed) / per_px, cost = (double)x.k * x.win * y.k * y.win, best = INFINITY;
        for (int ww = 1; ww <= w; ww++)
            for (int wh = 1; wh <= h && (double)ww * wh <= max_px; wh++) {
                int kx = fewest_reference(w, ww, r), ky = fewest_reference(h, wh, r);
                if (kx && ky) best = fmin(best, (double)kx * ww * ky * wh);
            }
        CHECK(cost == best, "budget 1/%d: %d x %d windows of %dx%d compute %.0f pixels, %.0f would do", div, x.k, y.k,
              x.win, y.win, cost, best);
        free(t.px);
    }
    free(in.px), free(whole.px);
    plan_cache_free(&c);
    model_free(&m);
}

int main(void) {
    RUN(test_ensemble_matches_reference);
    RUN(test_ensemble_equivariant);
    RUN(test_ensemble_tiled_and_branches);
    RUN(test_receptive_radius_exact);
    RUN(test_overlap_clamped);
    RUN(test_windows_minimal);
    RUN(test_auto_windows);
    RUN(test_small_images_flat);
    RUN(test_nonfinite_input_refused);
    return test_summary();
}
