// train: the training loop (SPEC sections 6 and 7) with checkpoints that survive a kill.
#pragma once
#include <stdint.h>

#include "model/model.h"

typedef struct {
    model_config model;
    const char *init_from;       // start from these weights (shape from the file), or NULL
    const char *const *data_dirs;
    int n_data;
    const char *val_dir;         // validation folder of HR images, or NULL
    const char *out_dir;         // run folder: model, best, checkpoint, log, curves
    const char *cache_dir;       // decomposition cache (default out_dir/../.satv-cache)
    int patch, batch;
    long steps;
    double lr;
    long milestones[16];         // learning rate multiplied by lr_gamma at these steps
    int n_milestones;
    double lr_gamma;
    uint64_t seed;
    int resume;
    int gradnorm;                // 1: GradNorm; 0: fixed weights 1, 1
    double gn_alpha, gn_lr;
    long val_every, ckpt_every, log_every;
    int progress_tty;            // 1: a progress bar (stderr is a terminal)
} train_config;

void train_config_default(train_config *c);
// 0: all steps done; 1: interrupted by SIGINT/SIGTERM after saving; -1: error.
int train_run(const train_config *c);
