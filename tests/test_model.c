// The whole network (docs/spec.md §3) against PyTorch (fixtures from tools/fixtures_model.py):
// forward outputs, every parameter gradient, GradNorm's per-branch norms; the weights
// file round trip; initialisation.
#include <omp.h>

#include "core/core.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "test.h"
#include "fixture_st.h"

#define FIX "tests/fixtures/model/"

static const char *CASES[] = {"x2_none",    "x2_ca",           "x2_sa1",    "x2_sa4",       "x3_none",     "x3_ca",
                              "x3_sa1",     "x3_sa4",          "x4_none",   "x4_ca",        "x4_sa1",      "x4_sa4",
                              "x2_ca_nofe", "x3_sa4_noblocks", "x4_ca_sa4", "x2_ca_avgmax", "x3_ca_avgmax"};

// ATTSR_CONV=winograd forces Winograd F(4x4, 3x3) on every 3x3 layer (auto uses it on
// none of these small fixtures): its rounding is ~10x direct's per layer (see
// tests/test_winograd.c), so the bounds widen by WINO_FACTOR there.
#define WINO_FACTOR 5
static double tol_scale(void) {
    const char *a = getenv("ATTSR_CONV");
    return a && !strcmp(a, "winograd") ? WINO_FACTOR : 1;
}

static void check_close(const char *what, const char *cs, const float *got, const st_tensor *ref, double tol) {
    tol *= tol_scale();
    double e = test_max_rel(got, ref->data, ref->numel);
    CHECK(e <= tol, "%s %s: max error %.3g of the reference's scale (tolerance %.1g)", cs, what, e, tol);
}

// Forward (training and inference plans) and backward of one fixture case.
static void run_case(const char *cs) {
    model m;
    st_file io;
    load_case(FIX, cs, "io", &m, &io);
    const st_tensor *in = need(&io, "input");
    int N = (int)in->shape[0], H = (int)in->shape[1], W = (int)in->shape[2];

    model_plan *inf = model_plan_create(&m, N, H, W, MODEL_INFER);
    model_plan *tr = model_plan_create(&m, N, H, W, MODEL_TRAIN);
    model_plan *sr = model_plan_create(&m, N, H, W, MODEL_INFER_SR);
    CHECK(inf && tr && sr, "%s", as_error());
    CHECK_OK(model_plan_set_input(inf, in->data));
    CHECK_OK(model_plan_set_input(tr, in->data));
    CHECK_OK(model_plan_set_input(sr, in->data));
    CHECK_OK(model_forward(inf, &m));
    CHECK_OK(model_forward(tr, &m));
    CHECK_OK(model_forward(sr, &m));
    // SR alone: the same arithmetic as the full plan, in less memory, and no S or T
    size_t n_out = model_plan_output_floats(sr);
    CHECK(!memcmp(model_plan_output(sr, OUT_SR), model_plan_output(inf, OUT_SR), n_out * sizeof(float)),
          "%s: SR-only plan's SR differs from the full plan's (relative %g)", cs,
          test_max_rel(model_plan_output(sr, OUT_SR), model_plan_output(inf, OUT_SR), n_out));
    CHECK(model_plan_bytes(sr) < model_plan_bytes(inf), "%s: SR-only plan %zu bytes, full plan %zu", cs,
          model_plan_bytes(sr), model_plan_bytes(inf));
    CHECK(!model_plan_output(sr, OUT_S) && !model_plan_output(sr, OUT_T), "%s: SR-only plan hands out S or T", cs);
    static const char *outs[OUT_COUNT] = {[OUT_SR] = "sr", [OUT_S] = "s", [OUT_T] = "t"};
    for (int k = 0; k < OUT_COUNT; k++) {
        check_close(outs[k], cs, model_plan_output(tr, k), need(&io, outs[k]), 1e-5);
        check_close(outs[k], cs, model_plan_output(inf, k), need(&io, outs[k]), 1e-5);
    }

    float *grads = as_calloc(m.n_floats, sizeof(float));
    double norms[2];
    CHECK_OK(model_backward(tr, &m, grads, need(&io, "g_s")->data, need(&io, "g_t")->data, norms, NULL));
    for (int i = 0; i < m.n_params; i++) {
        char name[160];
        snprintf(name, sizeof name, "grad.%s", m.info[i].name);
        check_close(name, cs, grads + m.info[i].offset, need(&io, name), 2e-5);
    }
    const float *ref_norms = need(&io, "norms")->data;
    for (int k = 0; k < 2; k++)
        CHECK(fabs(norms[k] - ref_norms[k]) <= 1e-5 * tol_scale() * ref_norms[k], "%s norm %d: %g vs %g", cs, k,
              norms[k], ref_norms[k]);
    free(grads);
    model_plan_free(inf);
    model_plan_free(tr);
    model_plan_free(sr);
    st_free(&io);
    model_free(&m);
}

static void test_matches_pytorch(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) run_case(CASES[i]);
}

// Results must not depend on the thread count beyond rounding.
static void test_threads(void) {
    model m;
    st_file io;
    load_case(FIX, "x2_sa4", "io", &m, &io);
    const st_tensor *in = need(&io, "input");
    model_plan *p = model_plan_create(&m, (int)in->shape[0], (int)in->shape[1], (int)in->shape[2], MODEL_INFER);
    CHECK(p, "%s", as_error());
    CHECK_OK(model_plan_set_input(p, in->data));
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK_OK(model_forward(p, &m));
    omp_set_num_threads(saved);
    check_close("sr (1 thread)", "x2_sa4", model_plan_output(p, OUT_SR), need(&io, "sr"), 1e-5);
    model_plan_free(p);
    st_free(&io);
    model_free(&m);
}

static void test_save_load_roundtrip(void) {
    model_config c = model_config_default();
    c.feats = 8, c.groups = 2, c.blocks = 2, c.attention = ATT_SA4, c.scale = 4;
    model a, b;
    CHECK_OK(model_create(&a, &c));
    model_init_params(&a, 7);
    char path[] = "/tmp/attsr_test_model_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    CHECK_OK(model_save(&a, path));
    CHECK_OK(model_load(&b, path));
    unlink(path);
    CHECK(b.n_params == a.n_params && b.n_floats == a.n_floats, "shape differs after reload");
    CHECK(!memcmp(a.w, b.w, sizeof(float) * a.n_floats), "weights differ after reload");
    CHECK(b.cfg.attention == ATT_SA4 && b.cfg.scale == 4 && b.cfg.groups == 2, "config differs");
    model_free(&b);
    // a file in another tensor order (PyTorch's writers sort by name) loads the same
    // weights: attsr's own order is taken over as the parameters' block, any other copied
    CHECK_OK(model_save(&a, path));
    st_file f;
    CHECK_OK(st_read(&f, path));
    st_out_tensor *t = calloc(f.n, sizeof *t);
    for (int k = 0; k < f.n; k++) {
        const st_tensor *s = &f.tensors[f.n - 1 - k];  // reversed
        t[k] = (st_out_tensor){s->name, s->ndim, s->shape, s->data};
    }
    CHECK_OK(st_write(path, t, f.n, (const char *const *)f.meta_keys, (const char *const *)f.meta_values, f.n_meta));
    CHECK_OK(model_load(&b, path));
    unlink(path);
    CHECK(b.n_floats == a.n_floats && !memcmp(a.w, b.w, sizeof(float) * a.n_floats),
          "weights differ after a reload in reversed order");
    free(t);
    st_free(&f);
    model_free(&a);
    model_free(&b);
}

// PyTorch's default init: uniform in +-1/sqrt(fan_in), seeded and reproducible.
static void test_init(void) {
    model_config c = model_config_default();
    c.blocks = 2;
    model a, b;
    CHECK_OK(model_create(&a, &c));
    CHECK_OK(model_create(&b, &c));
    model_init_params(&a, 1);
    model_init_params(&b, 1);
    CHECK(!memcmp(a.w, b.w, sizeof(float) * a.n_floats), "same seed, different weights");
    model_init_params(&b, 2);
    CHECK(memcmp(a.w, b.w, sizeof(float) * a.n_floats), "different seeds, same weights");
    int i = model_find(&a, "fe.groups.0.blocks.1.conv1.weight");
    CHECK(i >= 0, "tensor name missing");
    double bound = 1.0 / sqrt(64 * 9), mx = 0, mean = 0;
    const float *w = model_tensor(&a, i);
    for (size_t k = 0; k < a.info[i].numel; k++) {
        mx = fmax(mx, fabs(w[k]));
        mean += w[k];
    }
    mean /= a.info[i].numel;
    CHECK(mx <= bound && mx > 0.99 * bound, "max |w| %g, bound %g", mx, bound);
    CHECK(fabs(mean) < 0.02 * bound, "mean %g not near 0", mean);
    model_free(&a);
    model_free(&b);
}

// A file whose tensors disagree with its metadata names the offending tensor.
static void test_load_errors(void) {
    model m;
    st_file f;
    CHECK_OK(st_read(&f, FIX "x2_none.weights.safetensors"));
    // rewrite with one tensor renamed and one with a wrong shape
    st_out_tensor *t = calloc(f.n, sizeof *t);
    for (int i = 0; i < f.n; i++)
        t[i] = (st_out_tensor){f.tensors[i].name, f.tensors[i].ndim, f.tensors[i].shape, f.tensors[i].data};
    int hi = -1;
    for (int i = 0; i < f.n; i++)
        if (!strcmp(f.tensors[i].name, "fe.head.bias")) hi = i;
    CHECK(hi >= 0, "fixture lacks fe.head.bias");
    char path[] = "/tmp/attsr_test_bad_XXXXXX";
    close(mkstemp(path));
    int64_t bad_shape[1] = {5};
    t[hi].shape = bad_shape;
    CHECK_OK(st_write(path, t, f.n, (const char *const *)f.meta_keys, (const char *const *)f.meta_values, f.n_meta));
    CHECK(model_load(&m, path) != 0, "wrong shape accepted");
    CHECK(strstr(as_error(), "fe.head.bias"), "error does not name the tensor: %s", as_error());
    t[hi].shape = f.tensors[hi].shape;
    t[hi].name = "fe.head.bogus";
    CHECK_OK(st_write(path, t, f.n, (const char *const *)f.meta_keys, (const char *const *)f.meta_values, f.n_meta));
    CHECK(model_load(&m, path) != 0, "missing tensor accepted");
    CHECK(strstr(as_error(), "fe.head.bias"), "error does not name the tensor: %s", as_error());
    CHECK_OK(st_write(path, t, f.n, NULL, NULL, 0));
    CHECK(model_load(&m, path) != 0, "file without metadata accepted");
    CHECK(strstr(as_error(), "format"), "error does not mention the metadata: %s", as_error());
    unlink(path);
    free(t);
    st_free(&f);
}

// ---- what the loaders refuse (issue 17) ---------------------------------------------

// A safetensors file in memory: the header (padded to 8 bytes), then `data_len` bytes
// of float32 1.0 (so that every value is finite). Free with free().
static uint8_t *st_bytes(const char *header, size_t data_len, size_t *n) {
    size_t h = (strlen(header) + 7) & ~(size_t)7;
    *n = 8 + h + data_len;
    uint8_t *p = calloc(1, *n);
    CHECK(p, "out of memory");
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(h >> (8 * i));
    memset(p + 8, ' ', h);
    memcpy(p + 8, header, strlen(header));
    float one = 1.0f;
    for (size_t i = 0; i + 4 <= data_len; i += 4) memcpy(p + 8 + h + i, &one, 4);
    return p;
}

// st_read_memory on a header and data_len bytes: 0 or -1; `want` (if the read fails)
// must be in the error.
static int st_try(const char *header, size_t data_len, const char *want) {
    size_t n;
    uint8_t *p = st_bytes(header, data_len, &n);
    st_file f;
    as_clear_error();
    int rc = st_read_memory(&f, p, n, "t.safetensors");
    free(p);
    if (rc == 0)
        st_free(&f);
    else
        CHECK(want && strstr(as_error(), want), "error '%s' lacks '%s'", as_error(), want ? want : "(none)");
    return rc;
}

#define T_F32(name, n, b, e) "\"" name "\":{\"dtype\":\"F32\",\"shape\":[" #n "],\"data_offsets\":[" #b "," #e "]}"

// The data ranges must tile the data block exactly, as the format requires: overlapping
// tensors loaded (and ran) before.
static void test_safetensors_ranges(void) {
    CHECK(st_try("{" T_F32("a", 2, 0, 8) "," T_F32("b", 2, 8, 16) "}", 16, NULL) == 0, "%s", as_error());
    CHECK(st_try("{" T_F32("b", 2, 8, 16) "," T_F32("a", 2, 0, 8) "}", 16, NULL) == 0, "%s", as_error());
    CHECK(st_try("{" T_F32("a", 2, 0, 8) "," T_F32("e", 0, 8, 8) "," T_F32("b", 2, 8, 16) "}", 16, NULL) == 0,
          "an empty tensor between two: %s", as_error());
    CHECK(st_try("{" T_F32("a", 2, 0, 8) "," T_F32("b", 2, 4, 12) "}", 12, "'b' (bytes 4 to 12) overlaps tensor 'a'"),
          "overlapping ranges accepted");
    CHECK(st_try("{" T_F32("a", 2, 0, 8) "," T_F32("b", 2, 0, 8) "}", 8, "overlaps"), "a shared range accepted");
    CHECK(st_try("{" T_F32("a", 2, 0, 8) "," T_F32("b", 2, 12, 20) "}", 20,
                 "bytes 8 to 12 of the data belong to no tensor (before tensor 'b')"),
          "a gap accepted");
    CHECK(st_try("{" T_F32("a", 2, 4, 12) "}", 12, "bytes 0 to 4"), "a gap at the start accepted");
    CHECK(st_try("{" T_F32("a", 2, 0, 8) "}", 12, "bytes 8 to 12 of the data belong to no tensor (after the last)"),
          "trailing bytes accepted");
    CHECK(st_try("{" T_F32("a", 2, 0, 8) "}", 4, "do not match its shape or the file size"), "out of range accepted");
}

// Non-finite values are refused in every dtype (here F32, F16 +Inf, BF16 NaN).
static void test_safetensors_nonfinite(void) {
    size_t n;
    uint8_t *p = st_bytes("{" T_F32("a", 3, 0, 12) "}", 12, &n);
    static const uint32_t bad[] = {0x7fc00000u, 0x7f800000u, 0xff800000u};
    for (int i = 0; i < 3; i++) {
        memcpy(p + n - 8, &bad[i], 4);  // element 1
        st_file f;
        CHECK(st_read_memory(&f, p, n, "t.safetensors") != 0, "0x%08x accepted", bad[i]);
        CHECK(strstr(as_error(), "tensor 'a' holds a non-finite value"), "%s", as_error());
        CHECK(strstr(as_error(), "at element 1"), "%s", as_error());
    }
    free(p);
    p = st_bytes("{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, &n);
    p[n - 4] = 0x00, p[n - 3] = 0x3c, p[n - 2] = 0x00, p[n - 1] = 0x7c;  // 1.0, +Inf
    st_file f;
    CHECK(st_read_memory(&f, p, n, "t.safetensors") != 0, "F16 Inf accepted");
    CHECK(strstr(as_error(), "non-finite value (inf) at element 1"), "%s", as_error());
    free(p);
    p = st_bytes("{\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, &n);
    p[n - 4] = 0xc0, p[n - 3] = 0x7f, p[n - 2] = 0x80, p[n - 1] = 0x3f;  // NaN, 1.0
    CHECK(st_read_memory(&f, p, n, "t.safetensors") != 0, "BF16 NaN accepted");
    CHECK(strstr(as_error(), "at element 0"), "%s", as_error());
    free(p);
}

// A model file with one NaN or Inf weight loaded and made a black image: refused.
static void test_nonfinite_weights_refused(void) {
    model_config c = model_config_default();
    c.feats = 4, c.groups = 1, c.blocks = 1;
    model a, b;
    CHECK_OK(model_create(&a, &c));
    model_init_params(&a, 3);
    int i = model_find(&a, "structure.tail.weight");
    CHECK(i >= 0, "no structure.tail.weight");
    static const float bad[] = {NAN, INFINITY, -INFINITY};
    char path[] = "/tmp/attsr_test_nan_XXXXXX";
    close(mkstemp(path));
    for (int k = 0; k < 3; k++) {
        model_tensor(&a, i)[5] = bad[k];
        CHECK_OK(model_save(&a, path));
        CHECK(model_load(&b, path) != 0, "weight %g accepted", bad[k]);
        CHECK(strstr(as_error(), "tensor 'structure.tail.weight' holds a non-finite value") &&
                  strstr(as_error(), "at element 5"),
              "%s", as_error());
        CHECK(b.w == NULL && b.info == NULL, "failure left allocations");
    }
    unlink(path);
    model_free(&a);
}

// Messages: a header that is valid JSON but no object said "bad safetensors header: "
// with nothing after it; feats = "1000000000" said "is not an integer".
static void test_header_messages(void) {
    CHECK(st_try("[1, 2]", 0, "bad safetensors header: it is an array, not a JSON object"), "an array accepted");
    CHECK(st_try("{\"a\": ", 0, "bad safetensors header: "), "truncated JSON accepted");
    CHECK(strstr(as_error(), "at byte"), "%s", as_error());
    model_config c = model_config_default();
    c.feats = 4, c.groups = 1, c.blocks = 1;
    model a, b;
    CHECK_OK(model_create(&a, &c));
    model_init_params(&a, 3);
    char path[] = "/tmp/attsr_test_meta_XXXXXX";
    close(mkstemp(path));
    CHECK_OK(model_save(&a, path));
    st_file f;
    CHECK_OK(st_read(&f, path));
    st_out_tensor *t = calloc(f.n, sizeof *t);
    for (int k = 0; k < f.n; k++)
        t[k] = (st_out_tensor){f.tensors[k].name, f.tensors[k].ndim, f.tensors[k].shape, f.tensors[k].data};
    static const char *vals[][2] = {{"1000000000", "feats 1000000000 out of range (1..1024)"},
                                    {"99999999999", "metadata feats = '99999999999' is out of range"},
                                    {"12x", "metadata feats = '12x' is not an integer"},
                                    {"", "metadata feats = '' is not an integer"}};
    int fi = -1;
    for (int k = 0; k < f.n_meta; k++)
        if (!strcmp(f.meta_keys[k], "feats")) fi = k;
    CHECK(fi >= 0, "no feats metadata");
    const char *saved = f.meta_values[fi];
    for (int v = 0; v < 4; v++) {
        f.meta_values[fi] = (char *)vals[v][0];
        CHECK_OK(
            st_write(path, t, f.n, (const char *const *)f.meta_keys, (const char *const *)f.meta_values, f.n_meta));
        CHECK(model_load(&b, path) != 0, "feats '%s' accepted", vals[v][0]);
        CHECK(strstr(as_error(), vals[v][1]), "feats '%s': '%s' lacks '%s'", vals[v][0], as_error(), vals[v][1]);
    }
    f.meta_values[fi] = (char *)saved;
    free(t);
    st_free(&f);
    unlink(path);
    model_free(&a);
}

int main(void) {
    RUN(test_init);
    RUN(test_save_load_roundtrip);
    RUN(test_load_errors);
    RUN(test_safetensors_ranges);
    RUN(test_safetensors_nonfinite);
    RUN(test_nonfinite_weights_refused);
    RUN(test_header_messages);
    RUN(test_matches_pytorch);
    RUN(test_threads);
    return test_summary();
}
