// The training step's maths that is not a layer: the L1 loss, sums of squares (GradNorm's
// norms), Adam's and the moving average's updates. Buffer-sized loops, so they live
// with the layers, on the process's device. See nn.h.
#include <math.h>

#include "core/core.h"
#include "nn/device.h"

// Summed in fixed chunks (AS_SUM_CHUNKS) so the loss is bit-identical for any thread count.
double nn_l1_loss(float *d_pred, const float *pred, const float *target, size_t n, float scale) {
    NN_CUDA_RETURN(cuda_l1_loss(d_pred, pred, target, n, scale));
    double part[AS_SUM_CHUNKS], sum = 0;
    float g = scale / (float)n;
#pragma omp parallel for schedule(static)
    for (int k = 0; k < AS_SUM_CHUNKS; k++) {
        double s = 0;
        for (size_t i = n * k / AS_SUM_CHUNKS; i < n * (k + 1) / AS_SUM_CHUNKS; i++) {
            float d = pred[i] - target[i];
            s += fabsf(d);
            if (d_pred) d_pred[i] = d > 0 ? g : d < 0 ? -g : 0.0f;
        }
        part[k] = s;
    }
    for (int k = 0; k < AS_SUM_CHUNKS; k++) sum += part[k];
    return sum / (double)n;
}

double nn_sum_sq(const float *x, size_t n) {
    NN_CUDA_RETURN(cuda_sum_sq(x, n));
    return as_sum_sq(x, n);
}

void nn_adam_update(float *w, const float *g, float *m, float *v, size_t n, const nn_adam_coef *k) {
    NN_CUDA_DISPATCH(cuda_adam_update(w, g, m, v, n, k));
    const float b1 = k->beta1, b2 = k->beta2, eps = k->eps, bc2_sqrt = k->bc2_sqrt, step = k->step;
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1.0f - b1) * g[i];
        v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
        w[i] -= step * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}

void nn_ema_update(float *avg, const float *w, size_t n, double decay) {
    // both factors rounded from double: 1 - (float)decay would not be (float)(1 - decay)
    const float d = (float)decay, keep = (float)(1.0 - decay);
    NN_CUDA_DISPATCH(cuda_ema_update(avg, w, n, d, keep));
#pragma omp parallel for simd schedule(static)
    for (size_t i = 0; i < n; i++) avg[i] = d * avg[i] + keep * w[i];
}
