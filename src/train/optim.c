// L1 loss, GradNorm and Adam. See optim.h. The buffer-sized loops are nn's (nn_l1_loss,
// nn_adam_update, nn_ema_update), so they run on the device the network runs on.
#include "train/optim.h"

#include <math.h>

#include "core/core.h"
#include "nn/nn.h"

double l1_loss(float *d_pred, const float *pred, const float *target, size_t n, float scale) {
    return nn_l1_loss(d_pred, pred, target, n, scale);
}

void gradnorm_init(gradnorm *g, int enabled, double alpha, double lr) {
    *g = (gradnorm){.enabled = enabled, .alpha = alpha, .lr = lr, .floor = 1e-3, .w = {1, 1}};
}

// docs/spec.md §6: targets from the relative inverse training rates; the loss
// sum_i |G_i - target_i| is minimised in w alone (targets are constants), then w is
// renormalised to sum to T.
void gradnorm_update(gradnorm *g, long step, const double L[2], const double G[2]) {
    if (g->warmup > 0 && step < 2 * g->warmup) {
        // the warm-up: weights stay at 1; the reference losses are the mean of steps
        // K..2K-1, the network's losses once it has begun to learn, not at initialisation
        if (step < g->warmup) return;
        g->L_sum[0] += L[0], g->L_sum[1] += L[1];
        if (step == 2 * g->warmup - 1) {
            g->L0[0] = g->L_sum[0] / (double)g->warmup, g->L0[1] = g->L_sum[1] / (double)g->warmup;
            g->has_L0 = 1;
        }
        return;
    }
    if (!g->has_L0) {
        g->L0[0] = L[0], g->L0[1] = L[1];
        g->has_L0 = 1;
    }
    if (!g->enabled) return;
    double ratio[2], mean_ratio = 0, Gbar = 0.5 * (G[0] + G[1]);
    for (int i = 0; i < 2; i++) {
        ratio[i] = g->L0[i] > 0 ? L[i] / g->L0[i] : 1.0;
        mean_ratio += 0.5 * ratio[i];
    }
    for (int i = 0; i < 2; i++) {
        double r = mean_ratio > 0 ? ratio[i] / mean_ratio : 1.0;
        double target = Gbar * pow(r, g->alpha);
        double norm = g->w[i] > 0 ? G[i] / g->w[i] : 0.0;  // ||dL_i/dW||
        double d = G[i] > target ? norm : G[i] < target ? -norm : 0.0;
        g->w[i] = fmax(g->floor, g->w[i] - g->lr * d);
    }
    double sum = g->w[0] + g->w[1];
    for (int i = 0; i < 2; i++) g->w[i] *= 2.0 / sum;
}

void adam_init(adam *a, double lr) { *a = (adam){.lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8}; }

// torch.optim.Adam: bias-corrected moments, eps added outside the square root.
void adam_step(adam *a, float *w, const float *g, float *m, float *v, size_t n) {
    a->t++;
    nn_adam_coef k = {.beta1 = (float)a->beta1, .beta2 = (float)a->beta2, .eps = (float)a->eps};
    float bc1 = (float)(1.0 - pow(a->beta1, (double)a->t));
    k.bc2_sqrt = (float)sqrt(1.0 - pow(a->beta2, (double)a->t));
    k.step = (float)a->lr / bc1;
    nn_adam_update(w, g, m, v, n, &k);
}

void ema_update(float *avg, const float *w, size_t n, double decay) { nn_ema_update(avg, w, n, decay); }
