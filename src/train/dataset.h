// dataset: training batches from folders of HR images (docs/spec.md §7).
//
// Every HR image is loaded once, its SATV structure image computed once and cached on
// disk (keyed by the file's content and the decomposition parameters). Sample i of
// step t is a pure function of (seed, t, i): image, crop, flips and rotation, so a
// resumed run — or rank r of a data-parallel run — draws exactly the same batches.
// Batches are built ahead on a background thread.
#pragma once
#include <stdint.h>

typedef struct {
    const char *const *dirs;  // folders of HR images (png, jpg)
    int n_dirs;
    int scale;
    int patch;  // LR patch side (HR patch = patch * scale)
    int batch;  // samples per step (all ranks together)
    uint64_t seed;
    const char *cache_dir;  // where decompositions are cached (created)
    float satv_lambda;      // satv_defaults().lambda
    int satv_iters;         // satv_defaults().max_iters
    int rank, world;        // this process's share of each batch: samples rank, rank+world, ...
    int verbose;            // progress lines on stderr while preparing
} dataset_config;

typedef struct dataset dataset;

dataset *dataset_open(const dataset_config *c);  // NULL + error
void dataset_close(dataset *d);
int dataset_local_batch(const dataset *d);  // samples this rank draws per step

// This rank's samples of step t: lr (b, p, p, 3), s_hr and t_hr (b, ps, ps, 3) where
// b = dataset_local_batch(). Blocks until ready; then starts building step t+1.
int dataset_batch(dataset *d, long step, float *lr, float *s_hr, float *t_hr);
