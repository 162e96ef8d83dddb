// trainer: the whole state of a training run as one value — the model, its gradients,
// Adam's moments and counters, the weights' moving average, GradNorm's state and the
// run's step and best validation. train_step advances it (train.h); checkpoint.h saves
// and restores it; the training loop (train.c) shares it between ranks.
#pragma once
#include <stdint.h>

#include "model/model.h"
#include "train/optim.h"

typedef struct {
    long step;  // steps completed
    double best_psnr;
    long best_step;
    uint64_t seed;
} train_state;

typedef struct {
    model m;
    float *grads;            // (n_floats) scratch of every step
    float *adam_m, *adam_v;  // (n_floats) Adam's moments
    float *ema;              // (n_floats) the weights' moving average, or NULL when the run keeps none
    double ema_decay;        // its decay (train --ema; a setting of the run, not in the checkpoint)
    adam opt;
    gradnorm gn;
    train_state st;
    // Where the steps compute (trainer_bind): on the CPU the arrays above themselves (these
    // stay NULL); on a GPU their copies there, with the weights in the plan's own copy
    // (model_plan_weights). The arrays above are then refreshed by trainer_to_host.
    nn_device dev;
    float *d_grads, *d_m, *d_v, *d_ema;
} trainer;

// The zeroed gradients and moments of t->m (created before); -1 + error.
int trainer_alloc(trainer *t);
// Frees everything t holds (the model too) and zeroes it; a zeroed trainer is a no-op.
void trainer_free(trainer *t);
// Makes p's device the one t's steps run on: on a device other than the CPU, copies the
// moments and the moving average there (p holds the weights' copy). 0 / -1 + error.
int trainer_bind(trainer *t, const model_plan *p);
// Brings the state computed on p's device back into t's arrays (weights, moments, moving
// average); a no-op on the CPU. Before anything reads them: a save, a validation.
int trainer_to_host(trainer *t, model_plan *p);
