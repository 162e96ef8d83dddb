// Times the whole model: inference of one LR image, or one training step.
//
//   build/bench/bench_model infer MODEL H W REPS
//   build/bench/bench_model train MODEL BATCH PATCH REPS
//
// Prints one JSON line: median and all times (s), model GFLOP per run, GFLOP/s at the
// median, and the process's peak RSS (MiB). Inputs come from a fixed seed; the first
// run (the first call's code generation, kernel transforms) is a warm-up, not counted
// in the median: first_s and first_cpu_s report it. cpu_s: the median of
// the process's CPU time per run (all threads), a steadier measure of the work than the
// wall clock on a loaded machine (with OMP_WAIT_POLICY=passive, idle threads burn none). bench/run.sh compares
// this with PyTorch on the same weights in the same run. ATTSR_DEVICE=cuda runs it on
// the GPU (a build with CUDA=1; bench/gpu.sh), each run timed to the end of its GPU work.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "core/core.h"
#include "model/model.h"
#include "train/train.h"
#include "train/trainer.h"

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void fill(float *x, size_t n, as_rng *r, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)as_rng_uniform(r) * scale;
}

int main(int argc, char **argv) {
    if (argc != 6 || (strcmp(argv[1], "infer") && strcmp(argv[1], "train"))) {
        fprintf(stderr, "usage: %s infer MODEL H W REPS | train MODEL BATCH PATCH REPS\n", argv[0]);
        return 2;
    }
    int train = !strcmp(argv[1], "train"), a = atoi(argv[3]), b = atoi(argv[4]), reps = atoi(argv[5]);
    model m;
    if (model_load(&m, argv[2])) {
        fprintf(stderr, "bench_model: %s\n", as_error());
        return 1;
    }
    int N = train ? a : 1, H = train ? b : a, W = b, s = m.cfg.scale;
    const char *dev_name = getenv("ATTSR_DEVICE");
    nn_device dev = NN_CPU;
    if (dev_name && (nn_device_parse(dev_name, &dev) || nn_set_device(dev))) {
        fprintf(stderr, "bench_model: ATTSR_DEVICE: %s\n", as_error());
        return 1;
    }
    model_plan *p = model_plan_create(&m, N, H, W, train ? MODEL_TRAIN : MODEL_INFER_SR);  // as upscale runs it
    if (!p) {
        fprintf(stderr, "bench_model: %s\n", as_error());
        return 1;
    }
    as_rng rng;
    as_rng_seed(&rng, 1);
    size_t in_n = (size_t)N * H * W * 3, out_n = in_n * s * s;
    float *in = malloc(4 * in_n), *s_hr = malloc(4 * out_n), *t_hr = malloc(4 * out_n);
    float *ds = malloc(4 * out_n), *dt = malloc(4 * out_n);
    float *grads = calloc(m.n_floats, 4), *am = calloc(m.n_floats, 4), *av = calloc(m.n_floats, 4);
    fill(in, in_n, &rng, 1);
    fill(s_hr, out_n, &rng, 1);
    fill(t_hr, out_n, &rng, 0.1f);
    trainer tr = {.m = m, .grads = grads, .adam_m = am, .adam_v = av};  // borrows m and the buffers
    adam_init(&tr.opt, 1e-4);
    gradnorm_init(&tr.gn, 1, 1.5, 0.01);
    if (train && dev != NN_CPU) {  // the targets and loss gradients where the step runs
        float *host[2] = {s_hr, t_hr}, **on_dev[4] = {&s_hr, &t_hr, &ds, &dt};
        int rc = trainer_bind(&tr, p);
        for (int i = 0; i < 4 && !rc; i++)
            rc = !(*on_dev[i] = nn_alloc(dev, 4 * out_n)) || (i < 2 && nn_upload(dev, *on_dev[i], host[i], 4 * out_n));
        if (rc) {
            fprintf(stderr, "bench_model: %s\n", as_error());
            return 1;
        }
    }
    double *t = malloc(sizeof(double) * (reps + 1)), *cpu = malloc(sizeof(double) * (reps + 1));
    for (int r = 0; r <= reps; r++) {
        if (model_plan_set_input(p, in)) {
            fprintf(stderr, "bench_model: %s\n", as_error());
            return 1;
        }
        double t0 = as_now(), c0 = cpu_now(), out[3];
        int rc = train ? train_step(&tr, NULL, p, s_hr, t_hr, ds, dt, 1e-4, out) : model_forward(p, &m);
        if (!rc) rc = nn_sync(dev);
        if (rc) {
            fprintf(stderr, "bench_model: %s\n", as_error());
            return 1;
        }
        t[r] = as_now() - t0;
        cpu[r] = cpu_now() - c0;
    }
    double med = as_median(t + 1, reps), cpu_med = as_median(cpu + 1, reps);  // [0]: the warm-up
    // forward FLOPs; a training step is forward + backward-data + backward-weights (~3x)
    double gflop = (double)model_flops(&m, H, W) * N * (train ? 3 : 1) / 1e9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\":\"attsr\",\"mode\":\"%s\",\"median_s\":%.4f,\"min_s\":%.4f,\"max_s\":%.4f,\"gflop\":%.2f,"
           "\"gflops\":%.1f,\"peak_rss_mib\":%.0f,\"cpu_s\":%.4f,\"first_s\":%.4f,\"first_cpu_s\":%.4f}\n",
           argv[1], med, t[1], t[reps], gflop, gflop / med, ru.ru_maxrss / 1024.0, cpu_med, t[0], cpu[0]);
    model_plan_free(p);
    model_free(&m);
    return 0;
}
