// Whole-image upscaling: the x8 self-ensemble against a slow reference written with
// rotations (not upscale.c's flip/transpose bits), its symmetry, its tiling, its
// branches and its progress calls.
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
    img in = random_image(11, 7, 5);
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
    // The cache now holds the transposed (7 x 11) window: a second ensemble starts with
    // the transposed half, ends on the image's own window and gives the same result.
    CHECK(c.w == 7 && c.h == 11, "cache holds %dx%d", c.w, c.h);
    img again = upscale(&m, &c, &in, &ens);
    CHECK(c.w == 11 && c.h == 7, "after a second ensemble the cache holds %dx%d, expected 11x7", c.w, c.h);
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
    img in = random_image(20, 13, 7);
    int W = in.w * 2, H = in.h * 2;
    size_t n = (size_t)W * H * 3;
    int prog[2] = {0, 8 * 3 * 2};  // 8 passes of ceil(20/8) x ceil(13/8) tiles
    upscale_options whole = {.ensemble = 1}, tiled = {.ensemble = 1, .tile = 8, .overlap = 12,
                                                      .progress = count_progress, .user = prog};
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

int main(void) {
    RUN(test_ensemble_matches_reference);
    RUN(test_ensemble_equivariant);
    RUN(test_ensemble_tiled_and_branches);
    return test_summary();
}
