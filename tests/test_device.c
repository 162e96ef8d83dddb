// The compute seam (nn.h's devices): the CPU device's memory and copies, the device
// names, and, in a build with CUDA (make CUDA=1) on a machine with a GPU, every CUDA
// kernel so far against its CPU twin on the same random inputs. Without a GPU those
// tests say why they are skipped.
#include <math.h>
#include <stdint.h>

#include "core/core.h"
#include "model/model.h"
#include "nn/nn.h"
#include "test.h"

static float *random_floats(size_t n, uint64_t seed, float lo, float hi) {
    float *x = malloc(n * sizeof(float));
    as_rng r;
    as_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)as_rng_uniform(&r);
    return x;
}

static void test_names(void) {
    nn_device d;
    CHECK(nn_device_parse("cpu", &d) == 0 && d == NN_CPU);
    CHECK(nn_device_parse("cuda", &d) == 0 && d == NN_CUDA);
    CHECK(!strcmp(nn_device_name(NN_CPU), "cpu") && !strcmp(nn_device_name(NN_CUDA), "cuda"));
    CHECK(nn_device_parse("gpu", &d) == -1 && strstr(as_error(), "cpu, cuda"), "%s", as_error());
    CHECK(nn_device_available(NN_CPU) == 1);
    CHECK(nn_get_device() == NN_CPU, "the default device is the CPU");
}

static void test_cpu_memory(void) {
    const size_t n = 1000;
    float *src = random_floats(n, 1, -1, 1), *back = malloc(n * sizeof(float));
    float *dev = nn_alloc(NN_CPU, n * sizeof(float));
    CHECK(dev && ((uintptr_t)dev & 63) == 0, "64-byte aligned");
    CHECK_OK(nn_upload(NN_CPU, dev, src, n * sizeof(float)));
    CHECK_OK(nn_download(NN_CPU, back, dev, n * sizeof(float)));
    CHECK(!memcmp(src, back, n * sizeof(float)));
    nn_free(NN_CPU, dev);
    nn_free(NN_CPU, NULL);
    free(src);
    free(back);
}

// A plan's input and outputs go through set_input/get_output: the output read back
// equals the plan's own memory, and a second forward of the same input is identical.
static void test_plan_io(void) {
    model m;
    model_config c = model_config_default();
    c.feats = 8, c.groups = 1, c.blocks = 1, c.attention = ATT_CA, c.ca_reduction = 4;
    CHECK_OK(model_create(&m, &c));
    model_init_params(&m, 3);
    model_plan *p = model_plan_create(&m, 1, 9, 7, 0);
    CHECK(p, "%s", as_error());
    CHECK(model_plan_device(p) == NN_CPU);
    float *in = random_floats(9 * 7 * 3, 2, 0, 1);
    size_t n = model_plan_output_floats(p);
    float *out = malloc(n * sizeof(float)), *again = malloc(n * sizeof(float));
    CHECK_OK(model_plan_set_input(p, in));
    CHECK_OK(model_forward(p, &m));
    CHECK_OK(model_plan_get_output(p, OUT_SR, out));
    CHECK(!memcmp(out, model_plan_output(p, OUT_SR), n * sizeof(float)));
    memset(in + 5, 0, sizeof(float));  // a changed input must reach the plan
    CHECK_OK(model_plan_set_input(p, in));
    CHECK_OK(model_forward(p, &m));
    CHECK_OK(model_plan_get_output(p, OUT_SR, again));
    CHECK(memcmp(out, again, n * sizeof(float)), "set_input did not replace the input");
    free(in);
    free(out);
    free(again);
    model_plan_free(p);
    model_free(&m);
}

// ---- CUDA against the CPU ------------------------------------------------------------

static void need_cuda(void) {
    if (!nn_device_available(NN_CUDA)) SKIP("%s", as_error());
}

static float *to_gpu(const float *x, size_t n) {
    float *d = nn_alloc(NN_CUDA, n * sizeof(float));
    CHECK(d, "%s", as_error());
    CHECK_OK(nn_upload(NN_CUDA, d, x, n * sizeof(float)));
    return d;
}

// max |gpu - cpu| / max(|cpu|, floor) over n (floor: the scale below which an absolute
// error is what counts, e.g. where a sum cancels); downloads gpu first
static double gpu_err(const float *gpu, const float *cpu, size_t n, double floor) {
    float *h = malloc(n * sizeof(float));
    CHECK_OK(nn_download(NN_CUDA, h, gpu, n * sizeof(float)));
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)h[i] - cpu[i]) / fmax(fabs((double)cpu[i]), floor));
    free(h);
    return e;
}

static void test_cuda_elementwise(void) {
    need_cuda();
    const size_t n = 3 * 100003;  // odd, not a multiple of a block
    float *a = random_floats(n, 4, -2, 2), *b = random_floats(n, 5, -2, 2), *ref = malloc(n * sizeof(float));
    a[7] = 0.0f, a[8] = -0.0f;  // LeakyReLU's gradient at 0 takes the negative side
    float *ga = to_gpu(a, n), *gb = to_gpu(b, n), *gout = nn_alloc(NN_CUDA, n * sizeof(float));
    CHECK(gout, "%s", as_error());
    struct { const char *name; } cases[] = {{"lrelu_forward"}, {"lrelu_backward"}, {"add_forward"}, {"scale_add_inplace"}};
    for (int c = 0; c < 4; c++) {
        memcpy(ref, b, n * sizeof(float));
        CHECK_OK(nn_upload(NN_CUDA, gout, b, n * sizeof(float)));
        CHECK_OK(nn_set_device(NN_CUDA));
        switch (c) {
        case 0: lrelu_forward(gout, ga, n, 0.2f); break;
        case 1: lrelu_backward(gout, gb, ga, n, 0.2f); break;
        case 2: add_forward(gout, ga, gb, n); break;
        case 3: scale_add_inplace(gout, 0.37f, ga, n); break;
        }
        CHECK_OK(nn_set_device(NN_CPU));
        switch (c) {
        case 0: lrelu_forward(ref, a, n, 0.2f); break;
        case 1: lrelu_backward(ref, b, a, n, 0.2f); break;
        case 2: add_forward(ref, a, b, n); break;
        case 3: scale_add_inplace(ref, 0.37f, a, n); break;
        }
        // exact but for scale_add's rounding (an FMA on one side or both): an ulp of the
        // operands' scale (about 2), whatever the cancellation
        double e = gpu_err(gout, ref, n, c == 3 ? 2.0 : 1e-30);
        CHECK(e <= (c == 3 ? 2.4e-7 : 0), "%s: error %.3g", cases[c].name, e);
    }
    nn_free(NN_CUDA, ga);
    nn_free(NN_CUDA, gb);
    nn_free(NN_CUDA, gout);
    free(a);
    free(b);
    free(ref);
}

static void test_cuda_pixel_shuffle(void) {
    need_cuda();
    const int N = 2, H = 5, W = 7, C = 3;
    for (int s = 2; s <= 3; s++) {
        size_t n = (size_t)N * H * W * C * s * s;
        float *x = random_floats(n, 6, -1, 1), *ref = malloc(n * sizeof(float)), *ref2 = malloc(n * sizeof(float));
        float *gx = to_gpu(x, n), *gy = nn_alloc(NN_CUDA, n * sizeof(float)), *gz = nn_alloc(NN_CUDA, n * sizeof(float));
        pixel_shuffle_forward(ref, x, N, H, W, C, s);
        pixel_shuffle_backward(ref2, x, N, H, W, C, s);
        CHECK_OK(nn_set_device(NN_CUDA));
        pixel_shuffle_forward(gy, gx, N, H, W, C, s);
        pixel_shuffle_backward(gz, gx, N, H, W, C, s);
        CHECK_OK(nn_set_device(NN_CPU));
        CHECK(gpu_err(gy, ref, n, 1e-30) == 0, "x%d forward", s);
        CHECK(gpu_err(gz, ref2, n, 1e-30) == 0, "x%d backward", s);
        nn_free(NN_CUDA, gx);
        nn_free(NN_CUDA, gy);
        nn_free(NN_CUDA, gz);
        free(x);
        free(ref);
        free(ref2);
    }
}

static void test_cuda_reductions_and_updates(void) {
    need_cuda();
    const size_t n = 442368 + 5;  // a batch of 16 x 96 x 96 x 3, and a few
    float *p = random_floats(n, 7, 0, 1), *t = random_floats(n, 8, 0, 1), *d = malloc(n * sizeof(float));
    p[3] = t[3];  // sign(0) = 0
    float *gp = to_gpu(p, n), *gt = to_gpu(t, n), *gd = nn_alloc(NN_CUDA, n * sizeof(float));
    double L = nn_l1_loss(d, p, t, n, 0.7f), S = nn_sum_sq(p, n);
    CHECK_OK(nn_set_device(NN_CUDA));
    double Lg = nn_l1_loss(gd, gp, gt, n, 0.7f), Sg = nn_sum_sq(gp, n);
    CHECK_OK(nn_set_device(NN_CPU));
    // double sums of n floats in another order: ~n * 1e-16 relative at worst
    CHECK(fabs(Lg - L) <= 1e-10 * L, "L1 %.17g vs CPU %.17g", Lg, L);
    CHECK(fabs(Sg - S) <= 1e-10 * S, "sum of squares %.17g vs CPU %.17g", Sg, S);
    CHECK(gpu_err(gd, d, n, 1e-30) == 0, "L1's gradient");
    // Adam and the moving average: a few ulps of each buffer's scale (either compiler may
    // fuse a multiply-add; the floors are the scales of w, m, v and the average)
    float *w = random_floats(n, 9, -1, 1), *g = random_floats(n, 10, -1e-2f, 1e-2f);
    float *m = random_floats(n, 11, -1e-3f, 1e-3f), *v = random_floats(n, 12, 0, 1e-5f);
    float *gw = to_gpu(w, n), *gg = to_gpu(g, n), *gm = to_gpu(m, n), *gv = to_gpu(v, n), *ga = to_gpu(t, n);
    nn_adam_coef k = {.step = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .bc2_sqrt = 0.05f};
    nn_adam_update(w, g, m, v, n, &k);
    nn_ema_update(t, w, n, 0.999);
    CHECK_OK(nn_set_device(NN_CUDA));
    nn_adam_update(gw, gg, gm, gv, n, &k);
    nn_ema_update(ga, gw, n, 0.999);
    CHECK_OK(nn_set_device(NN_CPU));
    double ew = gpu_err(gw, w, n, 1), em = gpu_err(gm, m, n, 1e-3), ev = gpu_err(gv, v, n, 1e-5), ea = gpu_err(ga, t, n, 1);
    CHECK(ew <= 1e-6 && em <= 1e-6 && ev <= 1e-6 && ea <= 1e-6, "Adam w %.3g m %.3g v %.3g, EMA %.3g", ew, em, ev, ea);
    float *bufs[] = {gp, gt, gd, gw, gg, gm, gv, ga};
    for (int i = 0; i < 8; i++) nn_free(NN_CUDA, bufs[i]);
    free(p), free(t), free(d), free(w), free(g), free(m), free(v);
}

// What the backend lacks yet fails at plan creation, saying so, not silently on the CPU.
static void test_cuda_missing_layers_refused(void) {
    need_cuda();
    model m;
    model_config c = model_config_default();
    c.feats = 8, c.groups = 1, c.blocks = 1;
    CHECK_OK(model_create(&m, &c));
    CHECK_OK(nn_set_device(NN_CUDA));
    model_plan *p = model_plan_create(&m, 1, 8, 8, 0);
    CHECK_OK(nn_set_device(NN_CPU));
    CHECK(!p && strstr(as_error(), "not implemented"), "%s", as_error());
    model_free(&m);
}

int main(void) {
    RUN(test_names);
    RUN(test_cpu_memory);
    RUN(test_plan_io);
    RUN(test_cuda_elementwise);
    RUN(test_cuda_pixel_shuffle);
    RUN(test_cuda_reductions_and_updates);
    RUN(test_cuda_missing_layers_refused);
    return test_summary();
}
