// train: the training loop (docs/spec.md §6 and §7) with checkpoints that survive a kill.
#pragma once
#include <stdint.h>

#include "model/model.h"
#include "train/dist.h"
#include "train/optim.h"
#include "train/trainer.h"

// train_config.model_given: the shape fields that were set explicitly (command-line
// flags), in this order. A resume takes the shape from its checkpoint and refuses any
// of these that differ from it.
enum {
    TRAIN_GIVEN_SCALE = 1,
    TRAIN_GIVEN_FEATS = 2,
    TRAIN_GIVEN_FE_GROUPS = 4,
    TRAIN_GIVEN_GROUPS = 8,
    TRAIN_GIVEN_BLOCKS = 16,
    TRAIN_GIVEN_ATTENTION = 32,
    TRAIN_GIVEN_CA_REDUCTION = 64
};

typedef struct {
    model_config model;
    unsigned model_given;   // TRAIN_GIVEN_* bits
    const char *init_from;  // start from these weights (shape from the file), or NULL
    const char *const *data_dirs;
    int n_data;
    const char *val_dir;    // validation folder of HR images, or NULL
    const char *out_dir;    // run folder: model, best, checkpoint, log, curves
    const char *cache_dir;  // decomposition cache (default out_dir/.satv-cache)
    int patch, batch;
    long steps;
    double lr;
    long milestones[16];  // learning rate multiplied by lr_gamma at these steps
    int n_milestones;
    double lr_gamma;
    int lr_cosine;  // 1: cosine from lr to lr_min over `steps` (no milestones)
    double lr_min;
    long warmup;  // linear ramp from lr / warmup to lr over these first steps
    double ema;   // 0: off; else the decay of the weights' moving average
                  // (BasicSR's ema_decay), which validation and the model
                  // and best files then use
    uint64_t seed;
    int resume;
    int gradnorm;  // 1: GradNorm; 0: fixed weights 1, 1
    double gn_alpha, gn_lr;
    long gn_warmup;  // K > 0: w = 1 for steps < 2K, L_i(0) = mean loss of steps K..2K-1
    long val_every, ckpt_every, log_every;
    int progress_tty;  // 1: a progress bar (stderr is a terminal)
} train_config;

// The files train_run writes into out_dir: model, best, checkpoint, log.
#define TRAIN_RUN_FILES \
    { "model.safetensors", "best.safetensors", "checkpoint.safetensors", "log.jsonl" }

void train_config_default(train_config *c);
// The learning rate of the step after `step` steps (0-based): milestones or cosine,
// times the warm-up ramp min(1, (step + 1) / warmup).
double train_lr_at(const train_config *c, long step);

// One optimisation step of t on the batch given to model_plan_set_input(p) with targets
// s_hr, t_hr (N, sH, sW, 3): L1 per branch weighted by GradNorm's w, backward, GradNorm
// update, Adam at learning rate lr, the moving average (when t->ema), t->st.step + 1.
// d_s, d_t: scratch of the targets' size. s_hr, t_hr, d_s, d_t are in the memory of the
// plan's device (nn_alloc(model_plan_device(p), ...)). out: the weighted loss, L_S, L_T (before the
// update). With d, one rank's part of a data-parallel step (dist.h): the batch holds
// this rank's samples, and the losses, gradients and GradNorm norms are those of the
// global batch, the same on every rank; d == NULL, or a world of one, is one process.
int train_step(trainer *t, dist *d, model_plan *p, const float *s_hr, const float *t_hr, float *d_s, float *d_t,
               double lr, double out[3]);
// 0: all steps done; 1: interrupted by SIGINT/SIGTERM after saving; -1: error.
// Started by mpirun (a build with MPI=1), the ranks train one model data-parallel:
// c->batch is the global batch, split over the ranks; rank 0 alone writes the run
// folder. There an error on any rank prints "attsr train: rank R of N: reason" and
// ends the whole job with status 1 (MPI_Abort) instead of returning.
int train_run(const train_config *c);
