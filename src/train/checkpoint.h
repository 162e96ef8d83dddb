// checkpoint: everything a training run needs to continue bit-identically — weights,
// Adam moments and step count, the weights' moving average when there is one, GradNorm
// state, the step, best validation — in one
// safetensors file written atomically (a kill leaves the old or the new file whole).
#pragma once
#include "model/model.h"
#include "train/optim.h"

typedef struct {
    long step;            // steps completed
    double best_psnr;
    long best_step;
    uint64_t seed;
} train_state;

// ema: the weights' moving average (m->n_floats), or NULL when the run keeps none.
int checkpoint_save(const char *path, const model *m, const float *adam_m, const float *adam_v,
                    const float *ema, const adam *opt, const gradnorm *gn, const train_state *st);
// Loads into a fresh model (created from the file's metadata) and fresh m, v (and ema,
// when the file has one; else NULL) buffers, allocated here, m->n_floats each.
int checkpoint_load(const char *path, model *m, float **adam_m, float **adam_v, float **ema, adam *opt,
                    gradnorm *gn, train_state *st);
// The same from a file's bytes in memory; `name` heads every error.
int checkpoint_load_memory(const void *data, size_t n, const char *name, model *m, float **adam_m,
                           float **adam_v, float **ema, adam *opt, gradnorm *gn, train_state *st);
