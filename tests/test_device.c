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
#include "train/optim.h"
#include "train/train.h"
#include "train/trainer.h"

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
    model_plan *p = model_plan_create(&m, 1, 9, 7, MODEL_INFER);
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
    struct {
        const char *name;
    } cases[] = {{"lrelu_forward"}, {"lrelu_backward"}, {"add_forward"}, {"scale_add_inplace"}};
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
        float *gx = to_gpu(x, n), *gy = nn_alloc(NN_CUDA, n * sizeof(float)),
              *gz = nn_alloc(NN_CUDA, n * sizeof(float));
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
    double ew = gpu_err(gw, w, n, 1), em = gpu_err(gm, m, n, 1e-3), ev = gpu_err(gv, v, n, 1e-5),
           ea = gpu_err(ga, t, n, 1);
    CHECK(ew <= 1e-6 && em <= 1e-6 && ev <= 1e-6 && ea <= 1e-6, "Adam w %.3g m %.3g v %.3g, EMA %.3g", ew, em, ev, ea);
    float *bufs[] = {gp, gt, gd, gw, gg, gm, gv, ga};
    for (int i = 0; i < 8; i++) nn_free(NN_CUDA, bufs[i]);
    free(p), free(t), free(d), free(w), free(g), free(m), free(v);
}

// A convolution plan on cuDNN against the CPU's on the same weights and inputs, forward
// (with the fused LeakyReLU and the residual add) and backward. TF32 products keep 10
// bits of mantissa: a sum of K = cin*k*k products is within about 1e-3 of the largest
// output's magnitude, 5e-3 allowed.
static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

static double gpu_vs(const float *gpu, const float *cpu, size_t n) {
    return gpu_err(gpu, cpu, n, fmax(max_abs(cpu, n), 1e-30));
}

static void test_cuda_conv(void) {
    need_cuda();
    const int shapes[][6] = {{2, 5, 7, 3, 8, 3}, {1, 9, 4, 16, 16, 3}, {1, 6, 6, 8, 32, 7}, {3, 1, 1, 5, 4, 3}};
    for (size_t t = 0; t < sizeof shapes / sizeof *shapes; t++) {
        const int N = shapes[t][0], H = shapes[t][1], W = shapes[t][2], ci = shapes[t][3], co = shapes[t][4],
                  k = shapes[t][5];
        size_t ni = (size_t)N * H * W * ci, no = (size_t)N * H * W * co, nw = (size_t)co * ci * k * k;
        float *x = random_floats(ni, 20 + t, -1, 1), *w = random_floats(nw, 30 + t, -0.3f, 0.3f);
        float *b = random_floats(co, 40 + t, -0.1f, 0.1f), *r = random_floats(no, 50 + t, -1, 1);
        float *dy = random_floats(no, 60 + t, -1, 1);
        float *y = malloc(no * 4), *y2 = malloc(no * 4), *dx = malloc(ni * 4), *dw = malloc(nw * 4),
              *db = malloc(co * 4);
        conv_opts o = {.lrelu = (int)(t % 2), .slope = 0.2f};
        nn_conv *cc = conv_create(N, H, W, ci, co, k, 1, &o);
        CHECK(cc, "%s", as_error());
        CHECK_OK(conv_forward(cc, y, x, w, b));
        conv_opts plain = {0};
        nn_conv *ca = conv_create(N, H, W, ci, co, k, 1, &plain);
        CHECK_OK(conv_forward_add(ca, y2, x, w, b, r));
        CHECK_OK(conv_backward(ca, dx, dw, db, dy, x, w));
        CHECK_OK(nn_set_device(NN_CUDA));
        nn_conv *gc = conv_create(N, H, W, ci, co, k, 1, &o), *ga = conv_create(N, H, W, ci, co, k, 1, &plain);
        CHECK_OK(nn_set_device(NN_CPU));
        CHECK(gc && ga, "%s", as_error());
        float *gx = to_gpu(x, ni), *gw = to_gpu(w, nw), *gb = to_gpu(b, co), *gr = to_gpu(r, no), *gdy = to_gpu(dy, no);
        float *gy = to_gpu(y, no), *gy2 = to_gpu(y, no), *gdx = to_gpu(dx, ni), *gdw = to_gpu(dw, nw),
              *gdb = to_gpu(db, co);
        CHECK_OK(conv_forward(gc, gy, gx, gw, gb));
        CHECK_OK(conv_forward_add(ga, gy2, gx, gw, gb, gr));
        CHECK_OK(conv_backward(ga, gdx, gdw, gdb, gdy, gx, gw));
        double e[5] = {gpu_vs(gy, y, no), gpu_vs(gy2, y2, no), gpu_vs(gdx, dx, ni), gpu_vs(gdw, dw, nw),
                       gpu_vs(gdb, db, co)};
        for (int i = 0; i < 5; i++)
            CHECK(e[i] <= 5e-3, "shape %zu: %s error %.3g of the largest value", t,
                  (const char *[]){"forward", "forward_add", "d_in", "d_weight", "d_bias"}[i], e[i]);
        CHECK(!strcmp(conv_impl_name(gc, 0), "cudnn"), "%s", conv_impl_name(gc, 0));
        float *bufs[] = {gx, gw, gb, gr, gdy, gy, gy2, gdx, gdw, gdb};
        for (int i = 0; i < 10; i++) nn_free(NN_CUDA, bufs[i]);
        conv_destroy(cc), conv_destroy(ca), conv_destroy(gc), conv_destroy(ga);
        free(x), free(w), free(b), free(r), free(dy), free(y), free(y2), free(dx), free(dw), free(db);
    }
}

// The whole network's inference on CUDA against the CPU, for the kinds the backend has
// (all but ca-avgmax),
// at every scale; TF32 through ~10 convolutions in a row: 1e-2 of the largest output.
static void test_cuda_model_inference(void) {
    need_cuda();
    const attention_kind kinds[] = {ATT_NONE, ATT_CA, ATT_SA1, ATT_SA4, ATT_CA_SA4, ATT_CA_AVGMAX};
    for (int s = 2; s <= 4; s++)
        for (int ki = 0; ki < 6; ki++) {
            model m;
            model_config c = model_config_default();
            c.scale = s, c.feats = 16, c.groups = 1, c.blocks = 2, c.attention = kinds[ki], c.ca_reduction = 4;
            CHECK_OK(model_create(&m, &c));
            model_init_params(&m, 5 + s);
            const int H = 11, W = 13;
            float *in = random_floats((size_t)H * W * 3, 70, 0, 1);
            model_plan *cp = model_plan_create(&m, 1, H, W, MODEL_INFER);
            CHECK(cp, "%s", as_error());
            CHECK_OK(model_plan_set_input(cp, in));
            CHECK_OK(model_forward(cp, &m));
            CHECK_OK(nn_set_device(NN_CUDA));
            model_plan *gp = model_plan_create(&m, 1, H, W, MODEL_INFER);
            CHECK_OK(nn_set_device(NN_CPU));
            CHECK(gp, "x%d %s: %s", s, attention_name(kinds[ki]), as_error());
            CHECK_OK(model_plan_set_input(gp, in));
            CHECK_OK(nn_set_device(NN_CUDA));  // the element-wise layers follow the process's device
            int rc = model_forward(gp, &m);
            CHECK_OK(nn_set_device(NN_CPU));
            CHECK(rc == 0, "x%d %s: %s", s, attention_name(kinds[ki]), as_error());
            size_t n = model_plan_output_floats(cp);
            float *out = malloc(n * 4);
            for (int k = 0; k < OUT_COUNT; k++) {
                CHECK_OK(model_plan_get_output(gp, k, out));
                const float *ref = model_plan_output(cp, k);
                double mx = max_abs(ref, n), e = 0;
                for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)out[i] - ref[i]));
                CHECK(e <= 1e-2 * mx, "x%d %s output %d: max |diff| %.3g, largest %.3g", s, attention_name(kinds[ki]),
                      k, e, mx);
            }
            free(out);
            free(in);
            model_plan_free(cp);
            model_plan_free(gp);
            model_free(&m);
        }
}

// Ten training steps (L1 + GradNorm + Adam + the moving average) of a network of each
// kind the backend has on CUDA against the CPU trainer, from the same weights and batch. TF32
// convolutions: the losses within 2e-3 relative; the weights, after Adam's ten steps of
// at most lr each, within 2 lr of the CPU's.
static void train_cuda_or_cpu(nn_device d, const model *init, const float *in, const float *s_hr, const float *t_hr,
                              size_t hr, int N, int H, double losses[10], float *w_out) {
    trainer t = {0};
    CHECK_OK(model_create(&t.m, &init->cfg));
    memcpy(t.m.w, init->w, sizeof(float) * init->n_floats);
    CHECK_OK(trainer_alloc(&t));
    t.ema = malloc(sizeof(float) * t.m.n_floats);
    memcpy(t.ema, t.m.w, sizeof(float) * t.m.n_floats);
    t.ema_decay = 0.9;
    adam_init(&t.opt, 1e-3);
    gradnorm_init(&t.gn, 1, 1.5, 0.01);
    CHECK_OK(nn_set_device(d));
    model_plan *p = model_plan_create(&t.m, N, H, H, MODEL_TRAIN);
    CHECK(p, "%s", as_error());
    CHECK_OK(trainer_bind(&t, p));
    float *bufs[4];
    for (int i = 0; i < 4; i++) CHECK((bufs[i] = nn_alloc(d, hr * sizeof(float))), "%s", as_error());
    CHECK_OK(nn_upload(d, bufs[0], s_hr, hr * sizeof(float)));
    CHECK_OK(nn_upload(d, bufs[1], t_hr, hr * sizeof(float)));
    for (int k = 0; k < 10; k++) {
        double out[3];
        CHECK_OK(model_plan_set_input(p, in));
        CHECK_OK(train_step(&t, NULL, p, bufs[0], bufs[1], bufs[2], bufs[3], 1e-3, out));
        losses[k] = out[0];
    }
    CHECK_OK(trainer_to_host(&t, p));
    CHECK_OK(nn_set_device(NN_CPU));
    memcpy(w_out, t.m.w, sizeof(float) * t.m.n_floats);
    for (int i = 0; i < 4; i++) nn_free(d, bufs[i]);
    model_plan_free(p);
    trainer_free(&t);
}

static void train_kind(attention_kind kind) {
    model m;
    model_config c = model_config_default();
    c.feats = 16, c.groups = 1, c.blocks = 2, c.attention = kind, c.ca_reduction = 4;
    CHECK_OK(model_create(&m, &c));
    model_init_params(&m, 11);
    const int N = 2, H = 12, s = c.scale;
    size_t hr = (size_t)N * H * s * H * s * 3;
    float *in = random_floats((size_t)N * H * H * 3, 80, 0, 1), *sh = random_floats(hr, 81, 0, 1);
    float *th = random_floats(hr, 82, -0.1f, 0.1f);
    float *w_cpu = malloc(sizeof(float) * m.n_floats), *w_gpu = malloc(sizeof(float) * m.n_floats);
    double l_cpu[10], l_gpu[10];
    train_cuda_or_cpu(NN_CPU, &m, in, sh, th, hr, N, H, l_cpu, w_cpu);
    train_cuda_or_cpu(NN_CUDA, &m, in, sh, th, hr, N, H, l_gpu, w_gpu);
    for (int k = 0; k < 10; k++)
        CHECK(fabs(l_gpu[k] - l_cpu[k]) <= 2e-3 * l_cpu[k], "%s step %d: loss %.7g on CUDA, %.7g on the CPU",
              attention_name(kind), k, l_gpu[k], l_cpu[k]);
    double e = 0;
    for (size_t i = 0; i < m.n_floats; i++) e = fmax(e, fabs((double)w_gpu[i] - w_cpu[i]));
    CHECK(e <= 2e-3, "%s weights after 10 steps: max |CUDA - CPU| %.3g", attention_name(kind), e);
    free(in), free(sh), free(th), free(w_cpu), free(w_gpu);
    model_free(&m);
}

static void test_cuda_training_steps(void) {
    need_cuda();
    const attention_kind kinds[] = {ATT_NONE, ATT_CA, ATT_SA1, ATT_SA4, ATT_CA_SA4, ATT_CA_AVGMAX};
    for (int i = 0; i < 6; i++) train_kind(kinds[i]);
}

// Deterministic mode (nn_set_deterministic): two runs of the same ten CUDA training steps
// give bit-identical losses and weights. The CPU is deterministic always: checked too.
static void test_deterministic_training(void) {
    model m;
    model_config c = model_config_default();
    c.feats = 16, c.groups = 1, c.blocks = 2, c.attention = ATT_SA4;
    CHECK_OK(model_create(&m, &c));
    model_init_params(&m, 12);
    const int N = 2, H = 12, s = c.scale;
    size_t hr = (size_t)N * H * s * H * s * 3;
    float *in = random_floats((size_t)N * H * H * 3, 90, 0, 1), *sh = random_floats(hr, 91, 0, 1);
    float *th = random_floats(hr, 92, -0.1f, 0.1f);
    float *w[2] = {malloc(sizeof(float) * m.n_floats), malloc(sizeof(float) * m.n_floats)};
    double l[2][10];
    const nn_device devs[2] = {NN_CPU, NN_CUDA};
    nn_set_deterministic(1);
    for (int d = 0; d < 2; d++) {
        if (devs[d] == NN_CUDA && !nn_device_available(NN_CUDA)) break;  // the CPU's half still ran
        for (int r = 0; r < 2; r++) train_cuda_or_cpu(devs[d], &m, in, sh, th, hr, N, H, l[r], w[r]);
        CHECK(!memcmp(l[0], l[1], sizeof l[0]) && !memcmp(w[0], w[1], sizeof(float) * m.n_floats),
              "%s: two deterministic runs differ", nn_device_name(devs[d]));
    }
    nn_set_deterministic(0);
    free(in), free(sh), free(th), free(w[0]), free(w[1]);
    model_free(&m);
}

// CUDA graphs (ATTSR_CUDA_GRAPHS=1): a plan's recorded forward, replayed, gives the
// direct forward's outputs bit for bit, for a new input and for new weights too (the
// recording keeps the buffers, not their values). On the CPU nothing is recorded.
static float *forward_out(model_plan *p, const model *m, const float *in) {
    float *out = malloc(model_plan_output_floats(p) * sizeof(float));
    CHECK_OK(nn_set_device(model_plan_device(p)));
    CHECK_OK(model_plan_set_input(p, in));
    int rc = model_forward(p, m);
    CHECK_OK(nn_set_device(NN_CPU));
    CHECK(rc == 0, "%s", as_error());
    CHECK_OK(model_plan_get_output(p, OUT_SR, out));
    return out;
}

static void test_cuda_graphs(void) {
    setenv("ATTSR_CUDA_GRAPHS", "1", 1);
    CHECK(!nn_graphs(NN_CPU), "graphs on the CPU");
    CHECK(nn_graph_begin(NN_CPU) == -1, "recording on the CPU");
    unsetenv("ATTSR_CUDA_GRAPHS");
    need_cuda();
    const attention_kind kinds[] = {ATT_CA, ATT_SA4};
    nn_set_deterministic(1);  // the same algorithms, run to run
    for (int ki = 0; ki < 2; ki++) {
        model m;
        model_config c = model_config_default();
        c.feats = 16, c.groups = 1, c.blocks = 2, c.attention = kinds[ki], c.ca_reduction = 4;
        CHECK_OK(model_create(&m, &c));
        model_init_params(&m, 21);
        const int H = 12, W = 10;
        float *in = random_floats((size_t)H * W * 3, 80, 0, 1), *in2 = random_floats((size_t)H * W * 3, 81, 0, 1);
        CHECK_OK(nn_set_device(NN_CUDA));
        model_plan *direct = model_plan_create(&m, 1, H, W, MODEL_INFER_SR);
        setenv("ATTSR_CUDA_GRAPHS", "1", 1);
        CHECK(nn_graphs(NN_CUDA), "ATTSR_CUDA_GRAPHS=1 not seen");
        model_plan *graph = model_plan_create(&m, 1, H, W, MODEL_INFER_SR);
        CHECK_OK(nn_set_device(NN_CPU));
        CHECK(direct && graph, "%s", as_error());
        size_t n = model_plan_output_floats(direct), bytes = n * sizeof(float);
        float *a = forward_out(graph, &m, in), *b = forward_out(direct, &m, in);  // graph: recorded
        CHECK(!memcmp(a, b, bytes), "%s: recorded forward differs by %g", attention_name(kinds[ki]),
              test_max_rel(a, b, n));
        free(a), free(b);
        a = forward_out(graph, &m, in2), b = forward_out(direct, &m, in2);  // replayed
        CHECK(!memcmp(a, b, bytes), "%s: replay of a new input differs by %g", attention_name(kinds[ki]),
              test_max_rel(a, b, n));
        free(a), free(b);
        for (size_t i = 0; i < m.n_floats; i++) m.w[i] *= 0.9f;
        CHECK_OK(model_plan_sync_weights(graph, &m));
        CHECK_OK(model_plan_sync_weights(direct, &m));
        a = forward_out(graph, &m, in2), b = forward_out(direct, &m, in2);
        CHECK(!memcmp(a, b, bytes), "%s: replay with new weights differs by %g", attention_name(kinds[ki]),
              test_max_rel(a, b, n));
        free(a), free(b);
        unsetenv("ATTSR_CUDA_GRAPHS");
        model_plan_free(direct);
        model_plan_free(graph);
        free(in), free(in2);
        model_free(&m);
    }
    nn_set_deterministic(0);
}

int main(void) {
    RUN(test_names);
    RUN(test_cpu_memory);
    RUN(test_plan_io);
    RUN(test_cuda_elementwise);
    RUN(test_cuda_pixel_shuffle);
    RUN(test_cuda_reductions_and_updates);
    RUN(test_cuda_conv);
    RUN(test_cuda_model_inference);
    RUN(test_cuda_training_steps);
    RUN(test_deterministic_training);
    RUN(test_cuda_graphs);
    return test_summary();
}
