// Times data-parallel training steps: run it under mpirun with 1, 2, ... ranks.
//
//   mpirun -np N build/bench/bench_dist MODEL BATCH PATCH REPS [BUCKET_KB [OVERLAP]]
//
// BATCH is the global batch, split over the ranks as `attsr train` splits it (rank r
// takes samples r, r+N, ...); sample i is the same for any N. BUCKET_KB (1024) is the
// gradient bucket size; OVERLAP 1 (default) reduces buckets during backward, 0 reduces
// everything in one blocking all-reduce after it. Rank 0 prints one JSON line: the
// median over steps of the step time (the slowest rank's), of the time spent waiting
// for gradient reductions after backward and of the time spent in the backward hooks
// that start and drive them (both averaged over the ranks), the waiting's share of the
// step, and samples per second. The first step (plan creation, page faults) is a warm-up and not counted.
// bench/dist.sh runs the comparison. Built without MPI=1 it runs as one rank.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/model.h"
#include "train/dist.h"
#include "train/train.h"

// Global sample i: its LR input and targets, from a seed of its own.
static void fill_sample(int i, float *in, size_t in_n, float *s_hr, float *t_hr, size_t out_n) {
    as_rng rng;
    as_rng_seed(&rng, 1000 + (uint64_t)i);
    for (size_t k = 0; k < in_n; k++) in[k] = (float)as_rng_uniform(&rng);
    for (size_t k = 0; k < out_n; k++) s_hr[k] = (float)as_rng_uniform(&rng);
    for (size_t k = 0; k < out_n; k++) t_hr[k] = 0.1f * (float)as_rng_uniform(&rng);
}

static int fail(dist *d, const char *what) {
    fprintf(stderr, "bench_dist: %s: %s\n", what, as_error());
    dist_abort(d);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 5 || argc > 7) {
        fprintf(stderr, "usage: %s MODEL BATCH PATCH REPS [BUCKET_KB [OVERLAP]]\n", argv[0]);
        return 2;
    }
    int B = atoi(argv[2]), P = atoi(argv[3]), reps = atoi(argv[4]);
    int bucket_kb = argc > 5 ? atoi(argv[5]) : 1024, overlap = argc > 6 ? atoi(argv[6]) : 1;
    dist *d = dist_open();
    if (!d) return fail(d, "dist_open");
    int rank = dist_rank(d), world = dist_world(d);
    if (B < world || reps < 1) {
        as_errorf("BATCH %d must be at least the %d ranks, REPS at least 1", B, world);
        return fail(d, "arguments");
    }
    int b = (B - rank + world - 1) / world;  // this rank's samples: rank, rank + world, ...
    dist_set_batch(d, b, B);
    dist_set_buckets(d, (size_t)bucket_kb << 10, overlap);
    model m;
    if (model_load(&m, argv[1])) return fail(d, argv[1]);
    int s = m.cfg.scale;
    model_plan *p = model_plan_create(&m, b, P, P, MODEL_TRAIN);
    if (!p) return fail(d, "plan");
    size_t in_n = (size_t)P * P * 3, out_n = in_n * s * s;
    float *s_hr = malloc(4 * out_n * b), *t_hr = malloc(4 * out_n * b);
    float *ds = malloc(4 * out_n * b), *dt = malloc(4 * out_n * b), *in = malloc(4 * in_n * b);
    float *grads = calloc(m.n_floats, 4), *am = calloc(m.n_floats, 4), *av = calloc(m.n_floats, 4);
    double *step_s = malloc(sizeof(double) * reps), *wait_s = malloc(sizeof(double) * reps);
    double *hook_s = malloc(sizeof(double) * reps);
    if (!s_hr || !t_hr || !ds || !dt || !in || !grads || !am || !av || !step_s || !wait_s || !hook_s) {
        as_errorf("out of memory");
        return fail(d, "buffers");
    }
    for (int j = 0; j < b; j++)
        fill_sample(rank + j * world, in + j * in_n, in_n, s_hr + j * out_n, t_hr + j * out_n, out_n);
    trainer tr = {.m = m, .grads = grads, .adam_m = am, .adam_v = av};  // borrows m and the buffers
    adam_init(&tr.opt, 1e-4);
    gradnorm_init(&tr.gn, 1, 1.5, 0.01);
    for (int r = 0; r <= reps; r++) {
        if (model_plan_set_input(p, in)) return fail(d, "input");
        if (dist_barrier(d)) return fail(d, "barrier");  // every rank starts the step together
        dist_stats s0 = dist_get_stats(d);
        double t0 = as_now(), out[3];
        if (train_step(&tr, d, p, s_hr, t_hr, ds, dt, 1e-4, out)) return fail(d, "step");
        if (dist_barrier(d)) return fail(d, "barrier");  // the step ends when the slowest rank's does
        dist_stats s1 = dist_get_stats(d);
        double x[3] = {as_now() - t0, s1.wait_s - s0.wait_s, s1.hook_s - s0.hook_s};
        if (dist_sum(d, x, 3)) return fail(d, "sum");
        if (r == 0) continue;
        step_s[r - 1] = x[0] / world;
        wait_s[r - 1] = x[1] / world;
        hook_s[r - 1] = x[2] / world;
    }
    double step_med = as_median(step_s, reps), wait_med = as_median(wait_s, reps), hook_med = as_median(hook_s, reps);
    if (rank == 0)
        printf("{\"impl\":\"attsr\",\"world\":%d,\"batch\":%d,\"patch\":%d,\"params\":%zu,\"overlap\":%d,"
               "\"bucket_kb\":%d,\"median_step_s\":%.4f,\"median_wait_s\":%.4f,\"median_hook_s\":%.4f,"
               "\"wait_fraction\":%.3f,\"samples_per_s\":%.2f}\n",
               world, B, P, m.n_floats, overlap, bucket_kb, step_med, wait_med, hook_med, wait_med / step_med,
               B / step_med);
    free(s_hr), free(t_hr), free(ds), free(dt), free(in), free(grads), free(am), free(av);
    free(step_s), free(wait_s), free(hook_s);
    model_plan_free(p);
    model_free(&m);
    dist_close(d);
    return 0;
}
