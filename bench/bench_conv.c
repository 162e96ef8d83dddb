// bench_conv: oneDNN fp32 convolutions through nn_conv, in GFLOP/s.
//   build/bench/bench_conv [runs] [all|main] [fp32|bf16]   (default 15 runs, after 3 warm-ups;
//   bf16: conv_set_precision(CONV_BF16), AMX / AVX512-BF16 CPUs only)
// Threads: OMP_NUM_THREADS. Times are medians (the best run in brackets); the
// backward-data time is (data + weights) - weights.
// Cases: 3x3 64->64 forward at 1x128x128 (an inference tile) and forward, backward-data
// and backward-weights at 16x48x48 (docs/spec.md §7's training batch of LR patches), each with
// NHWC activations (no copies) and with CONV_AUTO, oneDNN's own layout (blocked on AVX2;
// copies in and out included in the time). Runs of the two alternate, so load from
// other processes hits both alike. Then residual blocks, conv1 -> LeakyReLU -> conv2 ->
// attention -> + x, forward at 1x128x128: their conv GFLOP/s over the whole block as a
// share of the standalone conv's shows what the layers around the convolutions cost.
// `all` adds the network's other conv shapes.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "nn/nn.h"

static void die(void) {
    fprintf(stderr, "bench_conv: %s\n", as_error());
    exit(1);
}

static float *rand_buf(size_t n, as_rng *r) {
    float *p = as_aligned_alloc(n * sizeof(float));
    if (!p) die();
    for (size_t i = 0; i < n; i++) p[i] = (float)(as_rng_uniform(r) * 2 - 1);
    return p;
}

// ---- single convolutions ------------------------------------------------------------
typedef struct {
    nn_conv *c;
    float *in, *out, *w, *b, *d_out, *d_in, *dw, *db;
} conv_case;

static void case_init(conv_case *k, int N, int H, int W, int cin, int cout, int ks, int training, conv_layout layout) {
    conv_set_layout(layout);
    if (!(k->c = conv_create(N, H, W, cin, cout, ks, training, NULL))) die();
    as_rng r;
    as_rng_seed(&r, 1);
    size_t nin = (size_t)N * H * W * cin, nout = (size_t)N * H * W * cout;
    size_t nw = (size_t)cout * cin * ks * ks;
    k->in = rand_buf(nin, &r), k->out = rand_buf(nout, &r), k->w = rand_buf(nw, &r);
    k->b = rand_buf(cout, &r), k->d_out = rand_buf(nout, &r), k->d_in = rand_buf(nin, &r);
    k->dw = rand_buf(nw, &r), k->db = rand_buf(cout, &r);
}

static void case_free(conv_case *k) {
    conv_destroy(k->c);
    free(k->in), free(k->out), free(k->w), free(k->b);
    free(k->d_out), free(k->d_in), free(k->dw), free(k->db);
}

// pass: 0 forward, 1 backward-data + backward-weights, 2 backward-weights alone.
static double run_pass(conv_case *k, int pass) {
    double t0 = as_now();
    int rc = pass == 0 ? conv_forward(k->c, k->out, k->in, k->w, k->b)
                       : conv_backward(k->c, pass == 1 ? k->d_in : NULL, k->dw, k->db, k->d_out, k->in, k->w);
    if (rc) die();
    return as_now() - t0;
}

static void bench(int N, int H, int W, int cin, int cout, int ks, int training, int runs) {
    conv_case k[2];  // CONV_AUTO (the default) first: bench/run.sh quotes the first line
    case_init(&k[0], N, H, W, cin, cout, ks, training, CONV_AUTO);
    case_init(&k[1], N, H, W, cin, cout, ks, training, CONV_NHWC);
    double gf = conv_flops(k[0].c) * 1e-9;
    static const char *names[] = {"fwd", "bwd-data", "bwd-wgt"};
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d %d->%d k=%d", N, H, W, cin, cout, ks);
    double tw[2] = {0, 0}, tw_best[2] = {0, 0};
    for (int pass = 0; pass < (training ? 3 : 1); pass++) {
        // pass order 0, 2, 1: backward-data is (data + weights) - weights
        int p = pass == 0 ? 0 : pass == 1 ? 2 : 1;
        double *t[2] = {malloc(runs * sizeof(double)), malloc(runs * sizeof(double))};
        for (int i = -3; i < runs; i++)
            for (int l = 0; l < 2; l++) {
                double s = run_pass(&k[l], p);
                if (i >= 0) t[l][i] = s;
            }
        for (int l = 0; l < 2; l++) {
            double m = as_median(t[l], runs), best = t[l][0];
            if (p == 2) tw[l] = m, tw_best[l] = best;
            if (p == 1) m -= tw[l], best -= tw_best[l];
            printf("%-22s %-8s %-4s %6.1f GFLOP/s %8.2f ms  (best %6.1f)  %s\n", shape, names[p], l ? "nhwc" : "auto",
                   gf / m, m * 1e3, gf / best, conv_impl_name(k[l].c, p));
        }
        free(t[0]), free(t[1]);
    }
    case_free(&k[0]), case_free(&k[1]);
}

// ---- residual blocks ------------------------------------------------------------------
static void bench_block(attention_kind kind, int N, int H, int W, int C, int runs, conv_layout layout) {
    conv_set_layout(layout);
    nn_conv *c = conv_create(N, H, W, C, C, 3, 0, NULL);
    const int R = attention_hidden(C, 16);
    nn_attention *a = attention_create(kind, N, H, W, C, R, 0.2f, 0, 0, NN_NHWC);
    if (!c || !a) die();
    as_rng r;
    as_rng_seed(&r, 2);
    size_t n = (size_t)N * H * W * C;
    float *x = rand_buf(n, &r), *t = rand_buf(n, &r), *u = rand_buf(n, &r), *y = rand_buf(n, &r);
    float *w1 = rand_buf((size_t)C * C * 9, &r), *w2 = rand_buf((size_t)C * C * 9, &r);
    float *b = rand_buf(C, &r), *saved = rand_buf(attention_saved_floats(a) + 1, &r);
    for (size_t i = 0; i < (size_t)C * C * 9; i++) w1[i] *= 0.05f, w2[i] *= 0.05f;
    // attention parameters, small values
    attention_param ap[ATT_MAX_PARAMS];
    const int np = attention_params(kind, C, R, ap);
    size_t sizes[ATT_MAX_PARAMS], total = 1;
    for (int i = 0; i < np; i++) {
        sizes[i] = 1;
        for (int d = 0; d < ap[i].ndim; d++) sizes[i] *= (size_t)ap[i].shape[d];
        total += sizes[i];
    }
    float *pbuf = rand_buf(total, &r), *pp = pbuf;
    const float *params[ATT_MAX_PARAMS];
    for (int i = 0; i < np; i++) {
        for (size_t j = 0; j < sizes[i]; j++) pp[j] *= 0.1f;
        params[i] = pp, pp += sizes[i];
    }
    // the block's two convolutions and the attention module's weights (SA4's convolutions)
    double flops = 2 * conv_flops(c) + (double)N * attention_flops(kind, C, R, H, W);
    double *tb = malloc(runs * sizeof(double)), *tc = malloc(runs * sizeof(double));
    double *eff = malloc(runs * sizeof(double));
    for (int i = -3; i < runs; i++) {
        double t0 = as_now();
        if (conv_forward(c, t, x, w1, b)) die();
        double t1 = as_now();
        lrelu_forward(t, t, n, 0.2f);
        if (conv_forward(c, u, t, w2, b)) die();
        if (attention_forward(a, y, saved, u, params)) die();
        add_inplace(y, x, n);
        double t2 = as_now();
        // the block's rate over its first conv's, per run: load from other processes
        // comes in bursts longer than one block, so it hits both alike
        if (i >= 0) {
            tb[i] = t2 - t0, tc[i] = t1 - t0;
            eff[i] = flops / tb[i] / (conv_flops(c) / tc[i]);
        }
    }
    double mb = as_median(tb, runs), mc = as_median(tc, runs), me = as_median(eff, runs);
    printf("block %-4s %dx%dx%d C=%d %-4s %6.1f GFLOP/s %8.2f ms  (conv alone %5.1f; ratio %3.0f%%)"
           "\n",
           attention_name(kind), N, H, W, C, layout == CONV_NHWC ? "nhwc" : "auto", flops / mb * 1e-9, mb * 1e3,
           conv_flops(c) / mc * 1e-9, 100 * me);
    free(x), free(t), free(u), free(y), free(w1), free(w2), free(b), free(saved), free(pbuf);
    free(tb), free(tc), free(eff);
    conv_destroy(c);
    attention_destroy(a);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 15;
    int all = argc > 2 && strcmp(argv[2], "all") == 0;
    if (runs < 1) runs = 1;
    if (argc > 3 && conv_set_precision(strcmp(argv[3], "bf16") == 0 ? CONV_BF16 : CONV_FP32)) die();
    printf("# precision %s\n", conv_get_precision() == CONV_BF16 ? "bf16" : "fp32");
    bench(1, 128, 128, 64, 64, 3, 0, runs);
    bench(16, 48, 48, 32, 32, 3, 1, runs);  // the bundled models' width
    bench(16, 48, 48, 64, 64, 3, 1, runs);
    for (int k = ATT_NONE; k < ATT_COUNT; k++)  // residual blocks, forward (inference plans)
        for (int l = 0; l < 2; l++) bench_block((attention_kind)k, 1, 128, 128, 64, runs, l ? CONV_NHWC : CONV_AUTO);
    if (all) {  // the network's other shapes: head, upsamplers, output, SA4's layers
        bench(16, 48, 48, 3, 64, 3, 1, runs);
        bench(16, 48, 48, 64, 256, 3, 1, runs);
        bench(16, 48, 48, 64, 576, 3, 1, runs);
        bench(16, 96, 96, 64, 3, 3, 1, runs);
        bench(16, 48, 48, 64, 32, 7, 1, runs);
        bench(16, 48, 48, 32, 16, 5, 1, runs);
        bench(16, 48, 48, 16, 8, 3, 1, runs);
    }
    return 0;
}
