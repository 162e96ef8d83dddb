// test_nn: every layer in src/nn, forward and backward, three ways:
//   1. against PyTorch (fixtures written once by tools/fixtures_nn.py, float64 reference
//      rounded to float32): max |ours - torch| / max |torch| <= 1e-5 per tensor;
//   2. against central finite differences of L = <d_out, f(x, params)>, accumulated in
//      double, for a sample of entries of the input and of every parameter;
//   3. conv also against a naive double-precision loop at the network's 64-channel width
//      and odd sizes (oneDNN picks other kernels there than for the tiny fixtures).
// Every output buffer is pre-filled with NaN, so a backward that accumulates instead of
// overwriting, or skips an element, fails. ATTSR_TEST_VERBOSE=1 prints error margins.
#include "test.h"

#include <stdint.h>

#include "core/core.h"
#include "model/safetensors.h"
#include "nn/nn.h"

#define FIXTURES "tests/fixtures/nn/"
#define FIX_RTOL 1e-5  // vs PyTorch, relative to the tensor's largest magnitude
#define FD_RTOL 1e-2   // finite differences, relative to the gradient's largest magnitude

// ATTSR_TEST_VERBOSE=1: error margins; 2: also every finite-difference step.
static int verbose(void) {
    const char *v = getenv("ATTSR_TEST_VERBOSE");
    return v ? atoi(v) : 0;
}

static float *falloc(size_t n) {
    float *p = as_aligned_alloc(n * sizeof(float));
    CHECK(p, "%s", as_error());
    return p;
}

static float *fnan(size_t n) {  // an output buffer that fails if left unwritten
    float *p = falloc(n);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}

static float *frand(size_t n, as_rng *r, float scale) {
    float *p = falloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (float)((as_rng_uniform(r) * 2 - 1) * scale);
    return p;
}

static float *fcopy(const float *src, size_t n) {
    float *p = falloc(n);
    memcpy(p, src, n * sizeof *p);
    return p;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

// CHECKs that x has no NaN or Inf; `what` and `desc` name the tensor and the case.
static void check_finite(const float *x, size_t n, const char *what, const char *desc) {
    for (size_t i = 0; i < n; i++)
        CHECK(isfinite(x[i]), "%s: %s[%zu] = %g is not finite (%s)", desc, what, i, x[i], desc);
}

static void check_close(const float *got, const float *ref, size_t n, double rtol, const char *what, const char *desc) {
    check_finite(got, n, what, desc);
    double e = test_max_rel(got, ref, n);
    if (verbose()) printf("# %-28s %-12s max rel err %.2e\n", desc, what, e);
    long i = test_allclose(got, ref, n, 0, rtol * max_abs(ref, n));
    CHECK(e <= rtol, "%s: %s max rel err %.3g > %.0e; first at [%ld]: %.8g vs %.8g", desc, what, e, rtol, i,
          i >= 0 ? got[i] : 0.0, i >= 0 ? ref[i] : 0.0);
}

// ---- a layer under test: the nn families behind one call shape ---------------------
typedef enum { L_CONV, L_LRELU, L_SHUFFLE, L_ATT } layer_family;

typedef struct {
    layer_family fam;
    int N, H, W, cin, cout, k;  // conv: all; lrelu: cin = C; shuffle: cin = C*s*s, cout = C, k = s
    float slope;
    attention_kind kind;
    int R;
    nn_conv *conv;
    nn_attention *att;
    float *saved, *scratch;
    int np;
    size_t nin, nout, psize[ATT_MAX_PARAMS];
    const char *pname[ATT_MAX_PARAMS];
    char desc[200];  // every parameter of the case, printed with each failure
} layer;

static void layer_init(layer *L) {
    size_t px = (size_t)L->N * L->H * L->W;
    L->np = 0;
    switch (L->fam) {
    case L_CONV:
        L->conv = conv_create(L->N, L->H, L->W, L->cin, L->cout, L->k, 1, NULL);
        CHECK(L->conv, "%s", as_error());
        L->nin = px * L->cin, L->nout = px * L->cout, L->np = 2;
        L->psize[0] = (size_t)L->cout * L->cin * L->k * L->k, L->psize[1] = L->cout;
        L->pname[0] = "weight", L->pname[1] = "bias";
        snprintf(L->desc, sizeof L->desc, "conv N=%d H=%d W=%d cin=%d cout=%d k=%d [%s/%s/%s]", L->N, L->H, L->W,
                 L->cin, L->cout, L->k, conv_impl_name(L->conv, 0), conv_impl_name(L->conv, 1),
                 conv_impl_name(L->conv, 2));
        break;
    case L_LRELU:
        L->nin = L->nout = px * L->cin;
        snprintf(L->desc, sizeof L->desc, "lrelu n=%zu slope=%g", L->nin, L->slope);
        break;
    case L_SHUFFLE:
        L->nin = px * L->cin, L->nout = L->nin;
        snprintf(L->desc, sizeof L->desc, "pixel_shuffle N=%d H=%d W=%d C=%d s=%d", L->N, L->H, L->W, L->cout, L->k);
        break;
    case L_ATT: {
        int C = L->cin;
        L->att = attention_create(L->kind, L->N, L->H, L->W, C, L->R, L->slope, 1, 0, NN_NHWC);
        CHECK(L->att, "%s", as_error());
        L->nin = L->nout = px * C;
        // names and shapes as nn describes them (attention_misc checks that table
        // against docs/spec.md §3's; the fixtures' tensors, found by name, check the sizes)
        attention_param ap[ATT_MAX_PARAMS];
        L->np = attention_params(L->kind, C, L->R, ap);
        CHECK(L->np == attention_num_params(L->kind), "attention_params and _num_params disagree");
        for (int i = 0; i < L->np; i++) {
            L->pname[i] = ap[i].name;
            L->psize[i] = 1;
            for (int d = 0; d < ap[i].ndim; d++) L->psize[i] *= (size_t)ap[i].shape[d];
        }
        L->saved = fnan(attention_saved_floats(L->att) + 1);
        L->scratch = fnan(attention_scratch_floats(L->att) + 1);
        snprintf(L->desc, sizeof L->desc, "attention %s N=%d H=%d W=%d C=%d R=%d slope=%g", attention_name(L->kind),
                 L->N, L->H, L->W, C, L->R, L->slope);
        break;
    }
    }
}

static void layer_free(layer *L) {
    conv_destroy(L->conv);
    attention_destroy(L->att);
    free(L->saved);
    free(L->scratch);
    L->conv = NULL, L->att = NULL, L->saved = L->scratch = NULL;
}

static void layer_forward(layer *L, float *out, const float *in, float *const *params) {
    switch (L->fam) {
    case L_CONV: CHECK_OK(conv_forward(L->conv, out, in, params[0], params[1])); break;
    case L_LRELU: lrelu_forward(out, in, L->nin, L->slope); break;
    case L_SHUFFLE: pixel_shuffle_forward(out, in, L->N, L->H, L->W, L->cout, L->k); break;
    case L_ATT: CHECK_OK(attention_forward(L->att, out, L->saved, in, (const float *const *)params)); break;
    }
}

// Needs the forward of the same `in` just before (attention reads its `saved`).
static void layer_backward(layer *L, float *d_in, float *const *d_params, const float *d_out, const float *in,
                           float *const *params) {
    switch (L->fam) {
    case L_CONV: CHECK_OK(conv_backward(L->conv, d_in, d_params[0], d_params[1], d_out, in, params[0])); break;
    case L_LRELU: lrelu_backward(d_in, d_out, in, L->nin, L->slope); break;
    case L_SHUFFLE: pixel_shuffle_backward(d_in, d_out, L->N, L->H, L->W, L->cout, L->k); break;
    case L_ATT:
        CHECK_OK(
            attention_backward(L->att, d_in, d_params, L->scratch, d_out, L->saved, in, (const float *const *)params));
        break;
    }
}

// ---- finite differences -------------------------------------------------------------
// L = <d_out, f(in, params)>, in double.
static double project(layer *L, float *out, const float *in, float *const *params, const float *d_out) {
    layer_forward(L, out, in, params);
    double s = 0;
    for (size_t i = 0; i < L->nout; i++) s += (double)d_out[i] * out[i];
    return s;
}

// Perturbs a sample of the entries of t (the input or one parameter, n floats) and
// compares (L(t+e) - L(t-e)) / 2e with `grad`. The error allowed is FD_RTOL of the
// gradient's largest magnitude, plus the float32 rounding noise of L divided by the step
// (without it, tiny gradients such as CA's fc weights could not be checked at all).
// A step that crosses LeakyReLU kinks inside the layer spoils the central difference
// (a bias shifts a whole channel, so kinks are dense there); then one of the one-sided
// ones, (L(t+e) - L(t)) / e or (L(t) - L(t-e)) / e, may still be clean, and smaller
// steps, down to 1e-4, are tried. A wrong gradient fails all of them.
// kinks: skip entries within 2e of 0, where a pure LeakyReLU has no derivative.
static void fd_check(layer *L, const char *what, float *t, size_t n, const float *grad, const float *in,
                     float *const *params, const float *d_out, int kinks) {
    static const float steps[] = {1e-2f, 3e-3f, 1e-3f, 3e-4f, 1e-4f};
    float *out = falloc(L->nout);
    const double l0 = project(L, out, in, params, d_out);
    double q = 0;  // size of the rounding noise of L: |d_out * out| summed in quadrature
    for (size_t i = 0; i < L->nout; i++) q += (double)d_out[i] * out[i] * d_out[i] * out[i];
    const double gmax = max_abs(grad, n), noise = 4 * 0x1p-24 * sqrt(q);
    as_rng r;
    as_rng_seed(&r, n * 7919 + L->nout);
    int samples = n < 40 ? (int)n : 40, retried = 0;
    double worst = 0;
    for (int s = 0; s < samples; s++) {
        // every entry of a small tensor; else the first, the last and random ones
        size_t i = n <= 40 ? (size_t)s : s == 0 ? 0 : s == 1 ? n - 1 : as_rng_below(&r, (uint32_t)n);
        const float v = t[i];
        if (kinks && fabsf(v) < 2 * steps[0]) continue;
        double fd0 = 0, err0 = 0, tol0 = 0, ratio = INFINITY;
        for (int k = 0; k < 5 && !(ratio <= 1); k++) {
            const float eps = steps[k], vp = v + eps, vm = v - eps;
            t[i] = vp;
            const double lp = project(L, out, in, params, d_out);
            t[i] = vm;
            const double lm = project(L, out, in, params, d_out);
            t[i] = v;
            const double hp = (double)vp - v, hm = (double)v - vm;
            const double fd[3] = {(lp - lm) / (hp + hm), (lp - l0) / hp, (l0 - lm) / hm};
            const double h[3] = {hp + hm, hp, hm};
            for (int d = 0; d < 3; d++) {
                double err = fabs(fd[d] - grad[i]), tol = FD_RTOL * gmax + noise / h[d];
                if (k == 0 && d == 0) fd0 = fd[d], err0 = err, tol0 = tol;
                if (verbose() > 1)
                    printf("#   %s[%zu] step %g %s: fd %.8g backward %.8g err/tol %.3f\n", what, i, eps,
                           d == 0   ? "central"
                           : d == 1 ? "forward"
                                    : "backward",
                           fd[d], grad[i], err / tol);
                ratio = fmin(ratio, err / tol);
            }
            retried += k > 0;
        }
        worst = fmax(worst, ratio);
        CHECK(ratio <= 1,
              "%s: %s[%zu]: finite difference %.7g vs backward %.7g (|err| %.3g > %.3g, "
              "also one-sided and at smaller steps)",
              L->desc, what, i, fd0, grad[i], err0, tol0);
    }
    if (verbose())
        printf("# %-28s fd %-12s gmax %.3g worst err/tol %.3f, %d retried\n", L->desc, what, gmax, worst, retried);
    free(out);
}

// Forward, then backward into NaN-filled buffers; returns out, d_in and d_params (the
// caller frees them).
static void run_layer(layer *L, const float *in_ref, float *const *params_ref, const float *d_out, float **out_o,
                      float **d_in_o, float **d_params_o) {
    float *in = fcopy(in_ref, L->nin), *params[ATT_MAX_PARAMS], *d_params[ATT_MAX_PARAMS];
    for (int i = 0; i < L->np; i++) {
        params[i] = fcopy(params_ref[i], L->psize[i]);
        d_params[i] = fnan(L->psize[i]);
    }
    float *out = fnan(L->nout), *d_in = fnan(L->nin);
    layer_forward(L, out, in, params);
    check_finite(out, L->nout, "out", L->desc);
    layer_backward(L, d_in, d_params, d_out, in, params);
    check_finite(d_in, L->nin, "d_in", L->desc);
    for (int i = 0; i < L->np; i++) check_finite(d_params[i], L->psize[i], L->pname[i], L->desc);

    free(in);
    for (int i = 0; i < L->np; i++) free(params[i]);
    *out_o = out, *d_in_o = d_in;
    for (int i = 0; i < L->np; i++) d_params_o[i] = d_params[i];
}

// Finite differences of the input and of every parameter; grads from run_layer.
static void fd_all(layer *L, const float *in_ref, float *const *params_ref, const float *d_out, const float *d_in,
                   float *const *d_params) {
    float *in = fcopy(in_ref, L->nin), *params[ATT_MAX_PARAMS];
    for (int i = 0; i < L->np; i++) params[i] = fcopy(params_ref[i], L->psize[i]);
    fd_check(L, "in", in, L->nin, d_in, in, params, d_out, L->fam == L_LRELU);
    for (int i = 0; i < L->np; i++) fd_check(L, L->pname[i], params[i], L->psize[i], d_params[i], in, params, d_out, 0);
    free(in);
    for (int i = 0; i < L->np; i++) free(params[i]);
}

// ---- fixtures ---------------------------------------------------------------------------
static const float *tensor(const st_file *f, const char *name, size_t n, const char *file) {
    const st_tensor *t = st_find(f, name);
    CHECK(t, "%s: no tensor '%s'", file, name);
    CHECK(t->numel == n, "%s: tensor '%s' has %zu floats, expected %zu", file, name, t->numel, n);
    return t->data;
}

static int meta_int(const st_file *f, const char *key) {
    const char *v = st_meta(f, key);
    CHECK(v, "fixture has no metadata '%s'", key);
    return atoi(v);
}

static void fixture_case(const char *name, conv_layout layout) {
    conv_set_layout(layout);
    char path[512];
    snprintf(path, sizeof path, FIXTURES "%s.safetensors", name);
    st_file f;
    CHECK_OK(st_read(&f, path));
    layer L = {0};
    L.N = meta_int(&f, "N"), L.H = meta_int(&f, "H"), L.W = meta_int(&f, "W");
    if (strncmp(name, "conv", 4) == 0) {
        L.fam = L_CONV;
        L.cin = meta_int(&f, "cin"), L.cout = meta_int(&f, "cout"), L.k = meta_int(&f, "k");
    } else if (strncmp(name, "lrelu", 5) == 0) {
        L.fam = L_LRELU, L.cin = L.cout = meta_int(&f, "C");
        L.slope = (float)atof(st_meta(&f, "slope"));
    } else if (strncmp(name, "pixel_shuffle", 13) == 0) {
        int C = meta_int(&f, "C"), s = meta_int(&f, "s");
        L.fam = L_SHUFFLE, L.cin = C * s * s, L.cout = C, L.k = s;
    } else {
        L.fam = L_ATT, L.cin = L.cout = meta_int(&f, "C"), L.R = meta_int(&f, "R");
        L.slope = (float)atof(st_meta(&f, "slope"));
        CHECK_OK(attention_parse(st_meta(&f, "kind"), &L.kind));
    }
    layer_init(&L);
    float *params[ATT_MAX_PARAMS], *d_params[ATT_MAX_PARAMS], *out, *d_in;
    const float *in = tensor(&f, "in", L.nin, path), *d_out = tensor(&f, "d_out", L.nout, path);
    for (int i = 0; i < L.np; i++) params[i] = (float *)tensor(&f, L.pname[i], L.psize[i], path);
    run_layer(&L, in, params, d_out, &out, &d_in, d_params);

    check_close(out, tensor(&f, "out", L.nout, path), L.nout, FIX_RTOL, "out", L.desc);
    check_close(d_in, tensor(&f, "d_in", L.nin, path), L.nin, FIX_RTOL, "d_in", L.desc);
    for (int i = 0; i < L.np; i++) {
        char dn[64];
        snprintf(dn, sizeof dn, "d.%s", L.pname[i]);
        const float *ref = tensor(&f, dn, L.psize[i], path);
        check_close(d_params[i], ref, L.psize[i], FIX_RTOL, dn, L.desc);
    }
    fd_all(&L, in, params, d_out, d_in, d_params);
    for (int i = 0; i < L.np; i++) free(d_params[i]);
    free(out), free(d_in);
    layer_free(&L);
    st_free(&f);
}

// Layers with convolutions run once per activation layout (see conv_set_layout).
#define FIXTURE_TEST(name) \
    static void name(void) { fixture_case(#name, CONV_AUTO); }
#define FIXTURE_TEST2(name) \
    FIXTURE_TEST(name)      \
    static void name##_nhwc(void) { fixture_case(#name, CONV_NHWC); }
FIXTURE_TEST2(conv_k3_5to3)
FIXTURE_TEST2(conv_k1_5to3)
FIXTURE_TEST2(conv_k5_5to3)
FIXTURE_TEST2(conv_k7_5to3)
FIXTURE_TEST2(conv_k3_16to16)
FIXTURE_TEST2(conv_k3_3to16)
FIXTURE_TEST2(conv_k3_16to3)
FIXTURE_TEST2(conv_k3_64to64)
FIXTURE_TEST(lrelu)
FIXTURE_TEST(pixel_shuffle_s2)
FIXTURE_TEST(pixel_shuffle_s3)
FIXTURE_TEST(att_ca_20_r16)
FIXTURE_TEST(att_ca_32_r16)
FIXTURE_TEST(att_sa1_16)
FIXTURE_TEST2(att_sa4_16)
FIXTURE_TEST2(att_ca_sa4_16_r4)
FIXTURE_TEST(att_ca_avgmax_20_r16)
// inputs with tied maxima: PyTorch's adaptive_max_pool2d sends the gradient to the first
FIXTURE_TEST(att_ca_avgmax_32_r8_ties)
FIXTURE_TEST(att_ca_avgmax_8_r2_ties_12x12)

// ---- conv against a naive loop ----------------------------------------------------------
// out (N,H,W,co) = in (N,H,W,ci) * w (co,ci,k,k) + b, in double.
static void naive_conv(double *out, const float *in, const float *w, const float *b, int N, int H, int W, int ci,
                       int co, int k) {
    int p = k / 2;
    for (int n = 0; n < N; n++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int o = 0; o < co; o++) {
                    double s = b[o];
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            int yy = y + i - p, xx = x + j - p;
                            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                            const float *ip = in + (((size_t)n * H + yy) * W + xx) * ci;
                            for (int c = 0; c < ci; c++) s += (double)ip[c] * w[(((size_t)o * ci + c) * k + i) * k + j];
                        }
                    out[(((size_t)n * H + y) * W + x) * co + o] = s;
                }
}

// bf16 as oneDNN's reorder makes it: round to nearest, ties to even (finite inputs).
static float bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000u;
    memcpy(&x, &u, 4);
    return x;
}

// A copy of x, rounded to bf16 when `bf16`; else x itself.
static float *maybe_bf16(const float *x, size_t n, int bf16) {
    if (!bf16) return (float *)x;
    float *y = falloc(n);
    for (size_t i = 0; i < n; i++) y[i] = bf16_round(x[i]);
    return y;
}

// With `bf16` (CONV_BF16 plans), the reference takes the inputs, weights and d_out
// rounded to bf16: the products of bf16 numbers are exact in f32, so what is left is
// f32 accumulation, and the same tolerance as the f32 kernels holds.
static void naive_case_p(int N, int H, int W, int ci, int co, int k, int bf16) {
    layer L = {.fam = L_CONV, .N = N, .H = H, .W = W, .cin = ci, .cout = co, .k = k};
    layer_init(&L);
    as_rng r;
    as_rng_seed(&r, (uint64_t)N * 1000003 + H * 1009 + W * 31 + ci * 7 + co + k);
    float bound = 1.0f / sqrtf((float)ci * k * k);
    float *in = frand(L.nin, &r, 1), *w = frand(L.psize[0], &r, bound), *b = frand(co, &r, bound);
    float *d_out = frand(L.nout, &r, 1);
    float *out = fnan(L.nout), *d_in = fnan(L.nin), *dw = fnan(L.psize[0]), *db = fnan(co);
    CHECK_OK(conv_forward(L.conv, out, in, w, b));
    CHECK_OK(conv_backward(L.conv, d_in, dw, db, d_out, in, w));

    // the reference's view of the operands (rounded to bf16 for a bf16 plan)
    const float *rin = maybe_bf16(in, L.nin, bf16), *rw = maybe_bf16(w, L.psize[0], bf16);
    const float *rd = maybe_bf16(d_out, L.nout, bf16);
    double *ref = malloc(AS_MAX(L.nout, AS_MAX(L.nin, L.psize[0])) * sizeof(double));
    float *reff = falloc(AS_MAX(L.nout, AS_MAX(L.nin, L.psize[0])));
    naive_conv(ref, rin, rw, b, N, H, W, ci, co, k);
    for (size_t i = 0; i < L.nout; i++) reff[i] = (float)ref[i];
    check_close(out, reff, L.nout, FIX_RTOL, "out", L.desc);
    // d_in: the transposed conv = conv of d_out with w flipped and in/out swapped
    float *wt = falloc(L.psize[0]), *zero = calloc(ci, sizeof(float));
    for (int o = 0; o < co; o++)
        for (int c = 0; c < ci; c++)
            for (int i = 0; i < k * k; i++)
                wt[((size_t)c * co + o) * k * k + (k * k - 1 - i)] = rw[((size_t)o * ci + c) * k * k + i];
    naive_conv(ref, rd, wt, zero, N, H, W, co, ci, k);
    for (size_t i = 0; i < L.nin; i++) reff[i] = (float)ref[i];
    check_close(d_in, reff, L.nin, FIX_RTOL, "d_in", L.desc);
    // d_weight[o,c,i,j] = sum over pixels of d_out[o] * in[c] shifted; d_bias = sum of d_out
    int p = k / 2;
    for (int o = 0; o < co; o++)
        for (int c = 0; c < ci; c++)
            for (int i = 0; i < k; i++)
                for (int j = 0; j < k; j++) {
                    double s = 0;
                    for (int n = 0; n < N; n++)
                        for (int y = 0; y < H; y++)
                            for (int x = 0; x < W; x++) {
                                int yy = y + i - p, xx = x + j - p;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                s += (double)rd[(((size_t)n * H + y) * W + x) * co + o] *
                                     rin[(((size_t)n * H + yy) * W + xx) * ci + c];
                            }
                    reff[(((size_t)o * ci + c) * k + i) * k + j] = (float)s;
                }
    check_close(dw, reff, L.psize[0], FIX_RTOL, "d_weight", L.desc);
    for (int o = 0; o < co; o++) {
        double s = 0;
        for (size_t q = 0; q < (size_t)N * H * W; q++) s += rd[q * co + o];
        reff[o] = (float)s;
    }
    check_close(db, reff, co, FIX_RTOL, "d_bias", L.desc);

    // A plan is reused across layers: new weights must not see the previous ones, and a
    // NULL d_in must leave the weight gradients as they were.
    float *w2 = frand(L.psize[0], &r, bound), *out2 = fnan(L.nout), *dw2 = fnan(L.psize[0]);
    float *db2 = fnan(co);
    CHECK_OK(conv_forward(L.conv, out2, in, w2, b));
    CHECK_OK(conv_forward(L.conv, out, in, w, b));
    float *rw2 = maybe_bf16(w2, L.psize[0], bf16);
    naive_conv(ref, rin, rw2, b, N, H, W, ci, co, k);
    for (size_t i = 0; i < L.nout; i++) reff[i] = (float)ref[i];
    check_close(out2, reff, L.nout, FIX_RTOL, "out (second weights)", L.desc);
    CHECK_OK(conv_backward(L.conv, NULL, dw2, db2, d_out, in, w2));
    CHECK(memcmp(dw2, dw, L.psize[0] * sizeof *dw) == 0, "%s: d_weight differs with d_in NULL", L.desc);
    CHECK(memcmp(db2, db, co * sizeof *db) == 0, "%s: d_bias differs with d_in NULL", L.desc);

    free(in), free(w), free(b), free(d_out), free(out), free(d_in), free(dw), free(db);
    free(ref), free(reff), free(wt), free(zero), free(w2), free(out2), free(dw2), free(db2);
    if (bf16) free((float *)rin), free((float *)rw), free((float *)rd), free(rw2);
    layer_free(&L);
}

static void naive_case(int N, int H, int W, int ci, int co, int k) { naive_case_p(N, H, W, ci, co, k, 0); }

static void conv_naive(conv_layout layout) {
    conv_set_layout(layout);
    naive_case(2, 11, 13, 64, 64, 3);  // the network's main layer, odd sizes
    naive_case(3, 9, 7, 64, 32, 7);    // SA4's c1
    naive_case(2, 9, 7, 32, 16, 5);    // SA4's c2
    naive_case(2, 9, 7, 16, 8, 3);     // SA4's c3
    naive_case(2, 5, 9, 64, 36, 3);    // an x3 upsampler's width, scaled down (s*s*4)
    naive_case(1, 8, 6, 64, 1, 1);     // 1x1 to one channel
    naive_case(1, 7, 9, 3, 64, 3);     // like fe.head
    naive_case(2, 7, 5, 64, 3, 3);     // like br.out
}
static void conv_naive_64(void) { conv_naive(CONV_AUTO); }
static void conv_naive_64_nhwc(void) { conv_naive(CONV_NHWC); }

// CONV_BF16: every pass against the naive loop on bf16-rounded operands (above), and
// against the f32 result within bf16's rounding: each operand carries a relative error
// of at most 2^-9, so a product at most ~2^-8, and a sum of K products at most 2^-8 of
// the sum of their magnitudes; 1e-2 of the tensor's largest magnitude holds that with
// room for random signs. The network's shapes, as in conv_naive.
static void conv_bf16(void) {
    if (!conv_bf16_available()) SKIP("this CPU has neither AVX512-BF16 nor AMX");
    CHECK_OK(conv_set_precision(CONV_BF16));
    naive_case_p(2, 11, 13, 64, 64, 3, 1);
    naive_case_p(3, 9, 7, 64, 32, 7, 1);
    naive_case_p(2, 9, 7, 16, 8, 3, 1);
    naive_case_p(2, 5, 9, 64, 36, 3, 1);
    naive_case_p(1, 8, 6, 64, 1, 1, 1);
    naive_case_p(1, 7, 9, 3, 64, 3, 1);
    naive_case_p(2, 7, 5, 64, 3, 3, 1);
    // the f32 plan against the bf16 one, same operands
    layer L32 = {.fam = L_CONV, .N = 2, .H = 11, .W = 13, .cin = 64, .cout = 64, .k = 3};
    CHECK_OK(conv_set_precision(CONV_FP32));
    layer_init(&L32);
    CHECK_OK(conv_set_precision(CONV_BF16));
    layer L16 = L32;
    layer_init(&L16);
    CHECK(strstr(conv_impl_name(L16.conv, 0), "bf16") || strstr(conv_impl_name(L16.conv, 0), "amx"),
          "bf16 plan runs %s", conv_impl_name(L16.conv, 0));
    as_rng r;
    as_rng_seed(&r, 16);
    float *in = frand(L32.nin, &r, 1), *w = frand(L32.psize[0], &r, 1.0f / 24), *b = frand(64, &r, 0.04f);
    float *d_out = frand(L32.nout, &r, 1);
    float *o32 = fnan(L32.nout), *o16 = fnan(L32.nout), *di32 = fnan(L32.nin), *di16 = fnan(L32.nin);
    float *dw32 = fnan(L32.psize[0]), *dw16 = fnan(L32.psize[0]), *db32 = fnan(64), *db16 = fnan(64);
    CHECK_OK(conv_forward(L32.conv, o32, in, w, b));
    CHECK_OK(conv_forward(L16.conv, o16, in, w, b));
    CHECK_OK(conv_backward(L32.conv, di32, dw32, db32, d_out, in, w));
    CHECK_OK(conv_backward(L16.conv, di16, dw16, db16, d_out, in, w));
    check_close(o16, o32, L32.nout, 1e-2, "out vs f32", L16.desc);
    check_close(di16, di32, L32.nin, 1e-2, "d_in vs f32", L16.desc);
    check_close(dw16, dw32, L32.psize[0], 1e-2, "d_weight vs f32", L16.desc);
    CHECK(memcmp(o16, o32, L32.nout * sizeof *o16) != 0, "the bf16 plan computed in f32");
    free(in), free(w), free(b), free(d_out), free(o32), free(o16), free(di32), free(di16);
    free(dw32), free(dw16), free(db32), free(db16);
    layer_free(&L32), layer_free(&L16);
    CHECK_OK(conv_set_precision(CONV_FP32));
}

// Finite differences at the network's width (fixtures stay small, so not stored).
static void fd_wide_layout(conv_layout layout) {
    conv_set_layout(layout);
    as_rng r;
    as_rng_seed(&r, 42);
    layer Ls[] = {
        {.fam = L_CONV, .N = 2, .H = 5, .W = 7, .cin = 64, .cout = 64, .k = 3},
        {.fam = L_ATT, .N = 2, .H = 6, .W = 5, .cin = 64, .kind = ATT_CA, .R = 4, .slope = 0.2f},
        {.fam = L_ATT, .N = 2, .H = 6, .W = 5, .cin = 64, .kind = ATT_SA1, .slope = 0.2f},
        {.fam = L_ATT, .N = 1, .H = 9, .W = 8, .cin = 64, .kind = ATT_SA4, .slope = 0.2f},
        {.fam = L_ATT, .N = 2, .H = 6, .W = 5, .cin = 64, .kind = ATT_CA_SA4, .R = 4, .slope = 0.2f},
        {.fam = L_ATT, .N = 2, .H = 6, .W = 5, .cin = 64, .kind = ATT_CA_AVGMAX, .R = 4, .slope = 0.2f},
        {.fam = L_SHUFFLE, .N = 2, .H = 3, .W = 4, .cin = 64 * 4, .cout = 64, .k = 2},
    };
    for (size_t li = 0; li < sizeof Ls / sizeof *Ls; li++) {
        layer *L = &Ls[li];
        layer_init(L);
        float *in = frand(L->nin, &r, 1), *d_out = frand(L->nout, &r, 1), *params[ATT_MAX_PARAMS], *dp[ATT_MAX_PARAMS];
        for (int i = 0; i < L->np; i++) params[i] = frand(L->psize[i], &r, 0.2f);
        float *out, *d_in;
        run_layer(L, in, params, d_out, &out, &d_in, dp);
        fd_all(L, in, params, d_out, d_in, dp);
        free(in), free(d_out), free(out), free(d_in);
        for (int i = 0; i < L->np; i++) free(params[i]), free(dp[i]);
        layer_free(L);
    }
}
static void fd_wide(void) { fd_wide_layout(CONV_AUTO); }
static void fd_wide_nhwc(void) { fd_wide_layout(CONV_NHWC); }

// Plans sharing one workspace, called in turn, give bit-identical results to plans
// with their own: nothing a call needs survives in the workspace between calls.
typedef struct {
    float *out[3], *d_in[3], *dw[3], *db[3];
} ws_results;

static void ws_run(int shared, ws_results *res, float *const *in, float *const *d_out, float *const *w, float *const *b,
                   float *const *sa4_params) {
    const int N = 2, H = 9, W = 7;
    static const int shapes[2][3] = {{64, 64, 3}, {64, 32, 7}};
    nn_conv *c[2];
    for (int i = 0; i < 2; i++) {
        c[i] = conv_create(N, H, W, shapes[i][0], shapes[i][1], shapes[i][2], 1, NULL);
        CHECK(c[i], "%s", as_error());
    }
    nn_attention *a = attention_create(ATT_SA4, N, H, W, 64, 0, 0.2f, 1, 0, NN_NHWC);
    CHECK(a, "%s", as_error());
    void *ws = NULL;
    if (shared) {
        size_t n = AS_MAX(attention_workspace_bytes(a), AS_MAX(conv_workspace_bytes(c[0]), conv_workspace_bytes(c[1])));
        float *odd = falloc(64);
        CHECK(conv_set_workspace(c[0], odd + 1) == -1, "unaligned workspace accepted");
        free(odd);
        ws = falloc(n / sizeof(float) + 16);
        for (size_t i = 0; i < n / sizeof(float); i++) ((float *)ws)[i] = NAN;
        CHECK_OK(conv_set_workspace(c[0], ws));
        CHECK_OK(conv_set_workspace(c[1], ws));
        CHECK_OK(attention_set_workspace(a, ws));
    }
    size_t P = (size_t)N * H * W;
    float *saved = falloc(attention_saved_floats(a));
    float *scratch = falloc(attention_scratch_floats(a));
    for (int i = 0; i < 3; i++) {
        size_t co = i < 2 ? (size_t)shapes[i][1] : 64;
        res->out[i] = fnan(P * co), res->d_in[i] = fnan(P * 64);
    }
    for (int i = 0; i < 2; i++) {
        res->dw[i] = fnan((size_t)shapes[i][0] * shapes[i][1] * shapes[i][2] * shapes[i][2]);
        res->db[i] = fnan(shapes[i][1]);
    }
    float *d_params[8];
    const int io[5] = {64, 32, 16, 8, 1}, ks[4] = {7, 5, 3, 1};
    for (int i = 0; i < 4; i++) {
        d_params[2 * i] = fnan((size_t)io[i + 1] * io[i] * ks[i] * ks[i]);
        d_params[2 * i + 1] = fnan(io[i + 1]);
    }
    res->dw[2] = d_params[0], res->db[2] = d_params[1];
    // interleaved, as a model runs them
    CHECK_OK(conv_forward(c[0], res->out[0], in[0], w[0], b[0]));
    CHECK_OK(attention_forward(a, res->out[2], saved, in[2], (const float *const *)sa4_params));
    CHECK_OK(conv_forward(c[1], res->out[1], in[1], w[1], b[1]));
    CHECK_OK(conv_backward(c[0], res->d_in[0], res->dw[0], res->db[0], d_out[0], in[0], w[0]));
    CHECK_OK(attention_backward(a, res->d_in[2], d_params, scratch, d_out[2], saved, in[2],
                                (const float *const *)sa4_params));
    CHECK_OK(conv_backward(c[1], res->d_in[1], res->dw[1], res->db[1], d_out[1], in[1], w[1]));
    for (int i = 2; i < 8; i++) free(d_params[i]);
    free(saved), free(scratch);
    conv_destroy(c[0]), conv_destroy(c[1]);
    attention_destroy(a);
    free(ws);
}

static void workspace_shared(void) {
    conv_set_layout(CONV_AUTO);
    as_rng r;
    as_rng_seed(&r, 77);
    size_t P = 2 * 9 * 7;
    float *in[3], *d_out[3], *w[2], *b[2], *sa4[8];
    for (int i = 0; i < 3; i++) in[i] = frand(P * 64, &r, 1), d_out[i] = frand(P * 64, &r, 1);
    w[0] = frand(64 * 64 * 9, &r, 0.05f), b[0] = frand(64, &r, 0.05f);
    w[1] = frand(32 * 64 * 49, &r, 0.02f), b[1] = frand(32, &r, 0.02f);
    const int io[5] = {64, 32, 16, 8, 1}, ks[4] = {7, 5, 3, 1};
    for (int i = 0; i < 4; i++) {
        sa4[2 * i] = frand((size_t)io[i + 1] * io[i] * ks[i] * ks[i], &r, 0.1f);
        sa4[2 * i + 1] = frand(io[i + 1], &r, 0.1f);
    }
    ws_results own, shared;
    ws_run(0, &own, in, d_out, w, b, sa4);
    ws_run(1, &shared, in, d_out, w, b, sa4);
    const size_t nout[3] = {P * 64, P * 32, P * 64};
    const size_t nw[3] = {64 * 64 * 9, 32 * 64 * 49, 32 * 64 * 49}, nb[3] = {64, 32, 32};
    for (int i = 0; i < 3; i++) {
        CHECK(memcmp(own.out[i], shared.out[i], nout[i] * sizeof(float)) == 0, "out %d differs", i);
        CHECK(memcmp(own.d_in[i], shared.d_in[i], P * 64 * sizeof(float)) == 0, "d_in %d", i);
        CHECK(memcmp(own.dw[i], shared.dw[i], nw[i] * sizeof(float)) == 0, "d_weight %d", i);
        CHECK(memcmp(own.db[i], shared.db[i], nb[i] * sizeof(float)) == 0, "d_bias %d differs", i);
        free(own.out[i]), free(own.d_in[i]), free(own.dw[i]), free(own.db[i]);
        free(shared.out[i]), free(shared.d_in[i]), free(shared.dw[i]), free(shared.db[i]);
        free(in[i]), free(d_out[i]);
    }
    for (int i = 0; i < 2; i++) free(w[i]), free(b[i]);
    for (int i = 0; i < 8; i++) free(sa4[i]);
}

// ---- pixel shuffle, element-wise, attention odds and ends -------------------------------
static void pixel_shuffle_roundtrip(void) {
    for (int s = 2; s <= 4; s++) {
        int N = 2, H = 3, W = 5, C = 7;
        size_t n = (size_t)N * H * W * C * s * s;
        float *x = falloc(n), *y = fnan(n), *z = fnan(n);
        for (size_t i = 0; i < n; i++) x[i] = (float)i;
        pixel_shuffle_forward(y, x, N, H, W, C, s);
        // PyTorch's rule, element by element
        for (int b = 0; b < N; b++)
            for (int h = 0; h < H * s; h++)
                for (int w = 0; w < W * s; w++)
                    for (int c = 0; c < C; c++) {
                        size_t o = (((size_t)b * H * s + h) * W * s + w) * C + c;
                        size_t i = (((size_t)b * H + h / s) * W + w / s) * C * s * s + (size_t)c * s * s + (h % s) * s +
                                   (w % s);
                        CHECK(y[o] == x[i], "pixel_shuffle s=%d N=%d H=%d W=%d C=%d: out[%zu]", s, N, H, W, C, o);
                    }
        pixel_shuffle_backward(z, y, N, H, W, C, s);
        CHECK(memcmp(z, x, n * sizeof *x) == 0, "pixel_shuffle s=%d: backward is no inverse", s);
        // in place, with 0 (its own row), 1 and 3 rows of scratch: the same as out of place
        for (int rows = 0; rows <= 3; rows += rows ? 2 : 1) {
            float *scratch = rows ? fnan((size_t)rows * W * C * s * s) : NULL;
            memcpy(z, x, n * sizeof *x);
            CHECK_OK(pixel_shuffle_forward_inplace(z, scratch, rows, N, H, W, C, s));
            CHECK(memcmp(z, y, n * sizeof *x) == 0, "pixel_shuffle s=%d in place, %d rows of scratch", s, rows);
            free(scratch);
        }
        free(x), free(y), free(z);
    }
    // large enough for the parallel path
    int N = 2, H = 40, W = 33, C = 16, s = 3;
    size_t n = (size_t)N * H * W * C * s * s;
    float *x = falloc(n), *y = fnan(n), *z = fnan(n);
    for (size_t i = 0; i < n; i++) x[i] = (float)i;
    pixel_shuffle_forward(y, x, N, H, W, C, s);
    pixel_shuffle_backward(z, y, N, H, W, C, s);
    CHECK(memcmp(z, x, n * sizeof *x) == 0, "pixel_shuffle s=%d N=%d H=%d W=%d C=%d roundtrip", s, N, H, W, C);
    float *scratch = fnan((size_t)2 * W * C * s * s);  // two threads' rows
    memcpy(z, x, n * sizeof *x);
    CHECK_OK(pixel_shuffle_forward_inplace(z, scratch, 2, N, H, W, C, s));
    CHECK(memcmp(z, y, n * sizeof *x) == 0, "pixel_shuffle s=%d N=%d H=%d W=%d C=%d in place", s, N, H, W, C);
    free(x), free(y), free(z), free(scratch);
}

static void elementwise(void) {
    as_rng r;
    as_rng_seed(&r, 5);
    size_t sizes[] = {1, 17, 100003};  // serial and parallel paths
    for (int t = 0; t < 3; t++) {
        size_t n = sizes[t];
        float *a = frand(n, &r, 2), *b = frand(n, &r, 2), *y = fnan(n), *y2 = falloc(n);
        add_forward(y, a, b, n);
        for (size_t i = 0; i < n; i++) CHECK(y[i] == a[i] + b[i], "add_forward n=%zu [%zu]", n, i);
        memcpy(y2, a, n * sizeof *a);
        add_inplace(y2, b, n);
        CHECK(memcmp(y, y2, n * sizeof *y) == 0, "add_inplace n=%zu", n);
        memcpy(y2, a, n * sizeof *a);
        scale_add_inplace(y2, -0.75f, b, n);
        for (size_t i = 0; i < n; i++) CHECK(y2[i] == a[i] + -0.75f * b[i], "scale_add_inplace n=%zu [%zu]", n, i);
        lrelu_forward(y, a, n, 0.2f);
        memcpy(y2, a, n * sizeof *a);
        lrelu_forward(y2, y2, n, 0.2f);  // in place
        for (size_t i = 0; i < n; i++)
            CHECK(y[i] == (a[i] > 0 ? a[i] : 0.2f * a[i]) && y2[i] == y[i], "lrelu n=%zu [%zu]", n, i);
        lrelu_backward(y, b, a, n, 0.2f);
        lrelu_backward(y2, b, y2, n, 0.2f);  // from the output: same result
        for (size_t i = 0; i < n; i++)
            CHECK(y[i] == (a[i] > 0 ? b[i] : 0.2f * b[i]) && y2[i] == y[i], "lrelu_backward n=%zu [%zu]", n, i);
        free(a), free(b), free(y), free(y2);
    }
    float z = 0, g = 1, dz;  // PyTorch: the derivative at 0 is the slope
    lrelu_backward(&dz, &g, &z, 1, 0.2f);
    CHECK(dz == 0.2f, "lrelu_backward at 0: %g", dz);
}

// "name shape, ..." of a kind's parameters, for comparison with docs/spec.md §3's table.
static void describe_params(char *out, size_t n, attention_kind kind, int C, int R) {
    attention_param p[ATT_MAX_PARAMS];
    int np = attention_params(kind, C, R, p), len = 0;
    out[0] = 0;
    for (int i = 0; i < np && len < (int)n; i++) {
        len += snprintf(out + len, n - len, "%s%s ", i ? ", " : "", p[i].name);
        for (int d = 0; d < p[i].ndim && len < (int)n; d++)
            len += snprintf(out + len, n - len, "%s%lld", d ? "x" : "", (long long)p[i].shape[d]);
    }
}

// The kinds' description (nn.h) against docs/spec.md §3's tensor table and the architecture.
static void attention_table(void) {
    static const struct {
        attention_kind kind;
        const char *params;
        size_t flops;  // C = 20, R = 3, 6 x 5 pixels
        int radius, uses_r;
    } want[] = {
        {ATT_NONE, "", 0, 0, 0},
        {ATT_CA, "fc1.weight 3x20, fc1.bias 3, fc2.weight 20x3, fc2.bias 20", 2 * 120, 0, 1},
        {ATT_SA1, "conv.weight 1x20x1x1, conv.bias 1", 2 * 30 * 20, 0, 0},
        {ATT_SA4,
         "conv1.weight 32x20x7x7, conv1.bias 32, conv2.weight 16x32x5x5, conv2.bias 16, "
         "conv3.weight 8x16x3x3, conv3.bias 8, conv4.weight 1x8x1x1, conv4.bias 1",
         2 * 30 * (32 * 20 * 49 + 16 * 32 * 25 + 8 * 16 * 9 + 8), 6, 0},
        {ATT_CA_SA4,
         "ca.fc1.weight 3x20, ca.fc1.bias 3, ca.fc2.weight 20x3, ca.fc2.bias 20, "
         "sa.conv1.weight 32x20x7x7, sa.conv1.bias 32, sa.conv2.weight 16x32x5x5, sa.conv2.bias 16, "
         "sa.conv3.weight 8x16x3x3, sa.conv3.bias 8, sa.conv4.weight 1x8x1x1, sa.conv4.bias 1",
         2 * 120 + 2 * 30 * (32 * 20 * 49 + 16 * 32 * 25 + 8 * 16 * 9 + 8), 6, 1},
        // the MLP runs twice: on the means and on the maxima
        {ATT_CA_AVGMAX, "fc1.weight 3x20, fc1.bias 3, fc2.weight 20x3, fc2.bias 20", 2 * 2 * 120, 0, 1},
    };
    CHECK(ATT_COUNT == sizeof want / sizeof *want, "a kind without an expected description");
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char got[1024];
        describe_params(got, sizeof got, want[i].kind, 20, 3);
        const char *name = attention_name(want[i].kind);
        CHECK(strcmp(got, want[i].params) == 0, "%s: params '%s', expected '%s'", name, got, want[i].params);
        CHECK(attention_flops(want[i].kind, 20, 3, 6, 5) == want[i].flops, "%s: flops %zu, expected %zu", name,
              attention_flops(want[i].kind, 20, 3, 6, 5), want[i].flops);
        CHECK(attention_radius(want[i].kind) == want[i].radius, "%s: radius", name);
        CHECK(attention_uses_reduction(want[i].kind) == want[i].uses_r, "%s: uses r", name);
        CHECK(attention_reads_native(want[i].kind) == (want[i].kind == ATT_SA4), "%s: reads native", name);
    }
    CHECK(attention_hidden(20, 16) == 1 && attention_hidden(64, 16) == 4 && attention_hidden(8, 16) == 1 &&
              attention_hidden(33, 2) == 16,
          "attention_hidden");
}

static void attention_misc(void) {
    for (int k = ATT_NONE; k < ATT_COUNT; k++) {
        attention_kind got;
        CHECK_OK(attention_parse(attention_name((attention_kind)k), &got));
        CHECK(got == (attention_kind)k, "attention_parse(%s)", attention_name((attention_kind)k));
    }
    attention_kind got;
    CHECK(attention_parse("sa2", &got) == -1 && strstr(as_error(), "sa2") &&
              strstr(as_error(), "expected none, ca, sa1, sa4, ca+sa4 or ca-avgmax"),
          "bad name: %s", as_error());
    CHECK(attention_parse("ca+sa1", &got) == -1 && attention_parse("CA", &got) == -1 && attention_parse("", &got) == -1,
          "near names must fail");
    CHECK(attention_num_params(ATT_NONE) == 0 && attention_num_params(ATT_CA) == 4 &&
              attention_num_params(ATT_SA1) == 2 && attention_num_params(ATT_SA4) == 8 &&
              attention_num_params(ATT_CA_SA4) == 12 && attention_num_params(ATT_CA_AVGMAX) == 4,
          "attention_num_params");

    // none: identity forward and backward
    int N = 2, H = 3, W = 5, C = 4;
    size_t n = (size_t)N * H * W * C;
    as_rng r;
    as_rng_seed(&r, 9);
    nn_attention *a = attention_create(ATT_NONE, N, H, W, C, 0, 0.2f, 1, 0, NN_NHWC);
    CHECK(a, "%s", as_error());
    CHECK(attention_saved_floats(a) == 0 && attention_scratch_floats(a) == 0, "none keeps nothing");
    float *x = frand(n, &r, 1), *y = fnan(n), *d = fnan(n);
    CHECK_OK(attention_forward(a, y, NULL, x, NULL));
    CHECK_OK(attention_backward(a, d, NULL, NULL, x, NULL, x, NULL));
    CHECK(memcmp(y, x, n * sizeof *x) == 0 && memcmp(d, x, n * sizeof *x) == 0, "none is identity");
    attention_destroy(a);

    // inference plans: forward works, backward refuses
    a = attention_create(ATT_SA4, N, H, W, C, 0, 0.2f, 0, 0, NN_NHWC);
    CHECK(a, "%s", as_error());
    float *params[8], *saved = falloc(attention_saved_floats(a));
    const int io[5] = {C, 32, 16, 8, 1}, ks[4] = {7, 5, 3, 1};
    for (int i = 0; i < 4; i++) {
        params[2 * i] = frand((size_t)io[i + 1] * io[i] * ks[i] * ks[i], &r, 0.1f);
        params[2 * i + 1] = frand(io[i + 1], &r, 0.1f);
    }
    CHECK_OK(attention_forward(a, y, saved, x, (const float *const *)params));
    check_finite(y, n, "out", "sa4 inference");
    CHECK(attention_backward(a, d, params, NULL, x, saved, x, (const float *const *)params) == -1,
          "backward on an inference plan must fail");
    attention_destroy(a);
    for (int i = 0; i < 8; i++) free(params[i]);
    free(saved), free(x), free(y), free(d);

    CHECK(attention_create(ATT_CA, N, H, W, C, 0, 0.2f, 1, 0, NN_NHWC) == NULL, "CA with R=0 must fail");
    CHECK(attention_create(ATT_CA_SA4, N, H, W, C, 0, 0.2f, 1, 0, NN_NHWC) == NULL, "ca+sa4 with R=0 must fail");
    CHECK(attention_create(ATT_CA_AVGMAX, N, H, W, C, 0, 0.2f, 1, 0, NN_NHWC) == NULL, "ca-avgmax with R=0 must fail");
    // its maxima's indices are floats: training stops at 2^24 pixels; inference keeps none
    CHECK(attention_create(ATT_CA_AVGMAX, 1, 4096, 4097, C, 1, 0.2f, 1, 0, NN_NHWC) == NULL &&
              strstr(as_error(), "16777216") && strstr(as_error(), "4096x4097"),
          "ca-avgmax training over 2^24 pixels: %s", as_error());
    a = attention_create(ATT_CA_AVGMAX, 1, 4096, 4097, C, 1, 0.2f, 0, 0, NN_NHWC);
    CHECK(a, "ca-avgmax inference over 2^24 pixels: %s", as_error());
    attention_destroy(a);
    CHECK(attention_create((attention_kind)7, N, H, W, C, 1, 0.2f, 1, 0, NN_NHWC) == NULL, "kind 7 must fail");
}

static void conv_errors(void) {
    CHECK(conv_create(1, 4, 4, 3, 3, 2, 0, NULL) == NULL && strstr(as_error(), "k=2"), "even k: %s", as_error());
    CHECK(conv_create(0, 4, 4, 3, 3, 3, 0, NULL) == NULL, "N=0 must fail");
    CHECK(conv_create(1, 4, -1, 3, 3, 3, 0, NULL) == NULL, "W<0 must fail");
    nn_conv *c = conv_create(1, 4, 4, 3, 5, 3, 0, NULL);
    CHECK(c, "%s", as_error());
    CHECK(strcmp(conv_impl_name(c, 1), "none") == 0, "no backward pass planned for inference");
    CHECK(conv_flops(c) == 2.0 * 16 * 3 * 5 * 9, "conv_flops %g", conv_flops(c));
    float buf[80] = {0};
    CHECK(conv_backward(c, buf, buf, buf, buf, buf, buf) == -1 && strstr(as_error(), "inference"),
          "backward on an inference plan: %s", as_error());
    conv_destroy(c);
    conv_destroy(NULL);
    attention_destroy(NULL);
    // a failure half-way through planning (here: the allocation limit) frees what was
    // made and says why
    size_t limit = as_limits.max_alloc;
    as_limits.max_alloc = 4096;
    for (int layout = CONV_AUTO; layout <= CONV_NHWC; layout++) {
        conv_set_layout((conv_layout)layout);
        c = conv_create(2, 32, 32, 64, 64, 3, 1, NULL);
        nn_attention *a = attention_create(ATT_SA4, 2, 32, 32, 64, 0, 0.2f, 1, 0, NN_NHWC);
        as_limits.max_alloc = limit;
        CHECK(!c && !a && strstr(as_error(), "attention sa4: conv_create(N=2 H=32 W=32 cin=64") &&
                  strstr(as_error(), "exceeds the limit"),
              "%s", as_error());
        as_limits.max_alloc = 4096;
    }
    as_limits.max_alloc = limit;
    conv_set_layout(CONV_AUTO);
}

// Names the kernels oneDNN chose for the network's shapes (shows up in the test log).
static void conv_impls(void) {
    static const int shapes[][3] = {{64, 64, 3}, {3, 64, 3},  {64, 256, 3}, {64, 3, 3},
                                    {64, 32, 7}, {32, 16, 5}, {16, 8, 3}};
    for (int layout = CONV_AUTO; layout <= CONV_NHWC; layout++) {
        conv_set_layout((conv_layout)layout);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
            nn_conv *c = conv_create(16, 48, 48, shapes[i][0], shapes[i][1], shapes[i][2], 1, NULL);
            CHECK(c, "%s", as_error());
            printf("# conv %s 16x48x48 %3d->%3d k=%d: fwd %s, bwd-data %s, bwd-weights %s%s\n",
                   layout == CONV_NHWC ? "nhwc" : "auto", shapes[i][0], shapes[i][1], shapes[i][2],
                   conv_impl_name(c, 0), conv_impl_name(c, 1), conv_impl_name(c, 2),
                   conv_uses_reorders(c) ? " (reorders)" : "");
            CHECK(layout == CONV_AUTO || !conv_uses_reorders(c), "nhwc plans never reorder");
            conv_destroy(c);
        }
    }
    conv_set_layout(CONV_AUTO);
}

int main(void) {
    RUN(conv_k3_5to3);
    RUN(conv_k1_5to3);
    RUN(conv_k5_5to3);
    RUN(conv_k7_5to3);
    RUN(conv_k3_16to16);
    RUN(conv_k3_3to16);
    RUN(conv_k3_16to3);
    RUN(conv_k3_64to64);
    RUN(lrelu);
    RUN(pixel_shuffle_s2);
    RUN(pixel_shuffle_s3);
    RUN(att_ca_20_r16);
    RUN(att_ca_32_r16);
    RUN(att_sa1_16);
    RUN(att_sa4_16);
    RUN(att_ca_sa4_16_r4);
    RUN(att_ca_avgmax_20_r16);
    RUN(att_ca_avgmax_32_r8_ties);
    RUN(att_ca_avgmax_8_r2_ties_12x12);
    RUN(conv_naive_64);
    RUN(fd_wide);
    RUN(conv_k3_5to3_nhwc);
    RUN(conv_k1_5to3_nhwc);
    RUN(conv_k5_5to3_nhwc);
    RUN(conv_k7_5to3_nhwc);
    RUN(conv_k3_16to16_nhwc);
    RUN(conv_k3_3to16_nhwc);
    RUN(conv_k3_16to3_nhwc);
    RUN(conv_k3_64to64_nhwc);
    RUN(att_sa4_16_nhwc);
    RUN(att_ca_sa4_16_r4_nhwc);
    RUN(conv_naive_64_nhwc);
    RUN(fd_wide_nhwc);
    RUN(conv_bf16);
    conv_set_precision(CONV_FP32);
    conv_set_layout(CONV_AUTO);
    RUN(workspace_shared);
    RUN(pixel_shuffle_roundtrip);
    RUN(elementwise);
    RUN(attention_table);
    RUN(attention_misc);
    RUN(conv_errors);
    RUN(conv_impls);
    return test_summary();
}
