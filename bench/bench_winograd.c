// bench_winograd: k x k convolutions, oneDNN direct against conv.c's Winograd (F(4x4,3x3),
// F(4x4,5x5), F(2x2,7x7): the "wino" column) and, for 3x3, F(6x6,3x3), per shape, in
// direct-equivalent GFLOP/s (the direct algorithm's FLOPs over the time), forward and
// (training shapes) backward-data and backward-weights (3x3 only through Winograd; the
// wino6 column is nan where it has no plan). The last columns name the direct and the
// Winograd plans' kernels.
//   build/bench/bench_winograd [runs] [N H W cin cout [train [k]]]   (default 11 runs, k 3)
// Threads: OMP_NUM_THREADS. Medians; the three variants alternate run by run, so load
// from other processes hits them alike. The ratio column is direct / Winograd time
// (above 1: Winograd faster), at the medians and at the best runs (on a loaded machine
// the best runs are the steadier guide); conv.c's auto rule is checked against it.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "nn/nn.h"
#include "nn/winograd.h"

static void die(void) {
    fprintf(stderr, "bench_winograd: %s\n", as_error());
    exit(1);
}

static float *rand_buf(size_t n, as_rng *r) {
    float *p = as_aligned_alloc(n * sizeof(float) + 64);
    if (!p) die();
    for (size_t i = 0; i < n; i++) p[i] = (float)(as_rng_uniform(r) * 2 - 1);
    return p;
}

static void bench(int N, int H, int W, int cin, int cout, int training, int k, int runs) {
    as_rng r;
    as_rng_seed(&r, 1);
    size_t nin = (size_t)N * H * W * cin, nout = (size_t)N * H * W * cout;
    size_t nw = (size_t)cout * cin * k * k;
    float *in = rand_buf(nin, &r), *out = rand_buf(nout, &r), *w = rand_buf(nw, &r);
    float *b = rand_buf(cout, &r), *d_out = rand_buf(nout, &r), *d_in = rand_buf(nin, &r);
    float *dw = rand_buf(nw, &r), *db = rand_buf(cout, &r);
    conv_set_algo(CONV_ALGO_DIRECT);
    nn_conv *cd = conv_create(N, H, W, cin, cout, k, training, NULL);
    conv_set_algo(CONV_ALGO_WINOGRAD);
    nn_conv *cw = conv_create(N, H, W, cin, cout, k, training, NULL);
    if (!cd || !cw) die();
    wino *w6 = NULL, *w6b = NULL;  // F(6x6, 3x3): 3x3 only
    float *U6 = NULL, *U6b = NULL;
    if (k == 3) {
        w6 = wino_create(N, H, W, cin, cout, 3, 6);
        w6b = training ? wino_create(N, H, W, cout, cin, 3, 6) : NULL;
        if (!w6 || (training && !w6b)) die();
        U6 = as_aligned_alloc(wino_kernel_floats(w6) * sizeof(float));
        U6b = training ? as_aligned_alloc(wino_kernel_floats(w6b) * sizeof(float)) : NULL;
        if (!U6 || (training && !U6b)) die();
        wino_kernel_transform(w6, U6, w, 0);
        if (training) wino_kernel_transform(w6b, U6b, w, 1);
    }
    double gf = 2.0 * nin * cout * k * k * 1e-9;
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d %d->%d %dx%d", N, H, W, cin, cout, k, k);
    for (int pass = 0; pass < (training ? 3 : 1); pass++) {
        double *t[3];
        for (int v = 0; v < 3; v++) t[v] = malloc(runs * sizeof(double));
        for (int i = -2; i < runs; i++) {
            for (int v = 0; v < 3; v++) {
                if (v == 2 && !w6) {
                    if (i >= 0) t[v][i] = NAN;
                    continue;
                }
                double t0 = as_now();
                int rc;
                if (pass == 0)
                    rc = v == 2 ? wino_run(w6, out, in, U6, b, 0, 0, NULL) : conv_forward(v ? cw : cd, out, in, w, b);
                else if (pass == 2)  // backward-weights (and d_bias) alone; F(6x6) has none
                    rc = v == 2 ? 0 : conv_backward(v ? cw : cd, NULL, dw, db, d_out, in, w);
                else if (v == 2)
                    rc = wino_run(w6b, d_in, d_out, U6b, NULL, 0, 0, NULL);
                else {  // backward-data alone: (data + weights) - weights
                    rc = conv_backward(v ? cw : cd, d_in, dw, db, d_out, in, w);
                    double t1 = as_now();
                    rc |= conv_backward(v ? cw : cd, NULL, dw, db, d_out, in, w);
                    double t2 = as_now();
                    if (!rc && i >= 0) t[v][i] = (t1 - t0) - (t2 - t1);
                    continue;
                }
                if (rc) die();
                if (i >= 0) t[v][i] = as_now() - t0;
            }
        }
        double m[3], best[3];
        for (int v = 0; v < 3; v++) m[v] = w6 || v < 2 ? as_median(t[v], runs) : NAN, best[v] = t[v][0], free(t[v]);
        if (pass == 2) m[2] = NAN;  // no F(6x6) backward-weights
        printf("%-24s %-8s direct %6.1f  wino %6.1f  wino6 %6.1f GFLOP/s  (%7.2f / %7.2f / %7.2f ms)"
               "  direct/wino %.2f (best runs %.2f)  %s | %s\n",
               shape,
               pass == 2 ? "bwd-wts"
               : pass    ? "bwd-data"
                         : "fwd",
               gf / m[0], gf / m[1], gf / m[2], m[0] * 1e3, m[1] * 1e3, m[2] * 1e3, m[0] / m[1], best[0] / best[1],
               conv_impl_name(cd, pass), conv_impl_name(cw, pass));
    }
    conv_destroy(cd), conv_destroy(cw), wino_destroy(w6), wino_destroy(w6b);
    free(in), free(out), free(w), free(b), free(d_out), free(d_in), free(dw), free(db);
    free(U6), free(U6b);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 11;
    if (runs < 1) runs = 1;
    if (argc >= 7) {
        bench(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]), argc > 7 && atoi(argv[7]),
              argc > 8 ? atoi(argv[8]) : 3, runs);
        return 0;
    }
    // the paper-size network's inference shapes (128x128, x2), the bundled model's
    // (C = 32, 512x512), training batches, small tiles and thin layers (auto's edges),
    // and SA4's 7x7 and 5x5 convolutions (last column: k)
    static const int S[][7] = {
        {1, 128, 128, 64, 64, 0, 3}, {1, 128, 128, 64, 256, 0, 3}, {1, 128, 128, 3, 64, 0, 3},
        {1, 256, 256, 64, 3, 0, 3},  {1, 512, 512, 32, 32, 0, 3},  {1, 512, 512, 32, 128, 0, 3},
        {16, 48, 48, 64, 64, 1, 3},  {16, 48, 48, 32, 32, 1, 3},   {16, 48, 48, 64, 256, 1, 3},
        {1, 32, 32, 64, 64, 0, 3},   {1, 16, 16, 64, 64, 0, 3},    {1, 8, 8, 32, 32, 0, 3},
        {1, 128, 128, 16, 16, 0, 3}, {1, 128, 128, 8, 8, 0, 3},    {16, 48, 48, 16, 8, 1, 3},
        {1, 128, 128, 64, 32, 0, 7}, {1, 128, 128, 32, 16, 0, 5},  {16, 48, 48, 64, 32, 1, 7},
        {16, 48, 48, 32, 16, 1, 5},  {1, 512, 512, 32, 32, 0, 7},  {1, 512, 512, 32, 16, 0, 5},
        {1, 16, 16, 64, 32, 0, 7},
    };
    for (size_t i = 0; i < sizeof S / sizeof *S; i++)
        bench(S[i][0], S[i][1], S[i][2], S[i][3], S[i][4], S[i][5], S[i][6], runs);
    return 0;
}
