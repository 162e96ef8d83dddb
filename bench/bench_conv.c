// bench_conv: oneDNN fp32 3x3 convolution through nn_conv, GFLOP/s (median of runs).
//   build/bench/bench_conv [runs]      (default 15 runs after 3 warm-ups)
// Cases: 64->64 forward at 1x128x128 (inference), and forward, backward-data and
// backward-weights at 16x48x48 (training, the SPEC's batch and LR patch); then the
// attention-sized layers. Prints the oneDNN implementation of each pass.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "nn/nn.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *rand_buf(size_t n, as_rng *r) {
    float *p = as_aligned_alloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench_conv: %s\n", as_error());
        exit(1);
    }
    for (size_t i = 0; i < n; i++) p[i] = (float)(as_rng_uniform(r) * 2 - 1);
    return p;
}

// pass: 0 forward, 1 backward-data, 2 backward-weights. Returns median seconds.
static double time_pass(nn_conv *c, int pass, int runs, float *out, float *in, float *w, float *b,
                        float *d_out, float *d_in, float *dw, float *db) {
    double t[256];
    if (runs > 256) runs = 256;
    for (int i = -3; i < runs; i++) {
        double t0 = as_now();
        int rc;
        if (pass == 0) rc = conv_forward(c, out, in, w, b);
        else if (pass == 1) rc = conv_backward(c, d_in, dw, db, d_out, in, w);
        else rc = conv_backward(c, NULL, dw, db, d_out, in, w);
        if (rc) {
            fprintf(stderr, "bench_conv: %s\n", as_error());
            exit(1);
        }
        if (i >= 0) t[i] = as_now() - t0;
    }
    qsort(t, runs, sizeof *t, cmp_double);
    return t[runs / 2];
}

static void bench(int N, int H, int W, int cin, int cout, int k, int training, int runs) {
    nn_conv *c = conv_create(N, H, W, cin, cout, k, training);
    if (!c) {
        fprintf(stderr, "bench_conv: %s\n", as_error());
        exit(1);
    }
    as_rng r;
    as_rng_seed(&r, 1);
    size_t nin = (size_t)N * H * W * cin, nout = (size_t)N * H * W * cout;
    size_t nw = (size_t)cout * cin * k * k;
    float *in = rand_buf(nin, &r), *out = rand_buf(nout, &r), *w = rand_buf(nw, &r);
    float *b = rand_buf(cout, &r), *d_out = rand_buf(nout, &r), *d_in = rand_buf(nin, &r);
    float *dw = rand_buf(nw, &r), *db = rand_buf(cout, &r);
    double gf = conv_flops(c) * 1e-9;
    printf("%2dx%3dx%3d %2d->%2d k=%d", N, H, W, cin, cout, k);
    double tf = time_pass(c, 0, runs, out, in, w, b, d_out, d_in, dw, db);
    printf("  fwd %7.1f GFLOP/s (%.2f ms, %s)", gf / tf, tf * 1e3, conv_impl_name(c, 0));
    if (training) {
        // backward-weights alone, then both; backward-data = the difference
        double tw = time_pass(c, 2, runs, out, in, w, b, d_out, d_in, dw, db);
        double tdw = time_pass(c, 1, runs, out, in, w, b, d_out, d_in, dw, db);
        double td = tdw - tw;
        printf("\n%27s bwd-data %7.1f GFLOP/s (%.2f ms, %s)", "", gf / td, td * 1e3,
               conv_impl_name(c, 1));
        printf("\n%27s bwd-wgt  %7.1f GFLOP/s (%.2f ms, %s)", "", gf / tw, tw * 1e3,
               conv_impl_name(c, 2));
    }
    printf("\n");
    free(in), free(out), free(w), free(b), free(d_out), free(d_in), free(dw), free(db);
    conv_destroy(c);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 15;
    if (runs < 1) runs = 1;
    bench(1, 128, 128, 64, 64, 3, 0, runs);
    bench(16, 48, 48, 64, 64, 3, 1, runs);
    // the other layer shapes of the network (head, upsampler, output, SA4, SA1)
    bench(16, 48, 48, 3, 64, 3, 1, runs);
    bench(16, 48, 48, 64, 256, 3, 1, runs);
    bench(16, 96, 96, 64, 3, 3, 1, runs);
    bench(16, 48, 48, 64, 32, 7, 1, runs);
    bench(16, 48, 48, 32, 16, 5, 1, runs);
    bench(16, 48, 48, 16, 8, 3, 1, runs);
    bench(16, 48, 48, 64, 1, 1, 1, runs);
    bench(16, 48, 48, 8, 1, 1, 1, runs);
    return 0;
}
