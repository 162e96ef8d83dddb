// optim: the pieces of a training step that are not the network — L1 loss, GradNorm
// (docs/spec.md §6) and Adam (PyTorch's semantics).
#pragma once
#include <stddef.h>

// mean |pred - target| over n elements; d_pred = scale * sign(pred - target) / n
// (sign(0) = 0, as PyTorch). d_pred may be NULL.
double l1_loss(float *d_pred, const float *pred, const float *target, size_t n, float scale);

// GradNorm over T = 2 tasks (structure, texture), on W = fe.tail.weight.
typedef struct {
    int enabled;   // 0: fixed weights w = (1, 1)
    double alpha;  // asymmetry, default 1.5
    double lr;     // learning rate of the task weights, default 0.01
    double floor;  // smallest task weight, default 1e-3
    double w[2];   // task weights, w(0) = 1
    double L0[2];  // the reference losses L_i(0): the first step's, or the warm-up's mean
    int has_L0;
    long warmup;      // K: 0, L_i(0) is step 0's loss (docs/spec.md §6's GradNorm); K > 0, w = 1 for
                      // steps < 2K and L_i(0) is the mean loss of steps K..2K-1
    double L_sum[2];  // the warm-up's sum of the losses of steps K.. so far
} gradnorm;

void gradnorm_init(gradnorm *g, int enabled, double alpha, double lr);
// After backward of the step that follows `step` completed ones: L[i] the task
// losses, G[i] = w_i ||dL_i/dW||. Updates w.
void gradnorm_update(gradnorm *g, long step, const double L[2], const double G[2]);

typedef struct {
    double lr, beta1, beta2, eps;
    long t;  // steps taken
} adam;

void adam_init(adam *a, double lr);
// One step over n parameters: m, v are the moments (zero-initialised).
void adam_step(adam *a, float *w, const float *g, float *m, float *v, size_t n);

// The weights' exponential moving average (BasicSR's model_ema):
// avg = decay * avg + (1 - decay) * w.
void ema_update(float *avg, const float *w, size_t n, double decay);
