// Element-wise layers: LeakyReLU and the residual adds. Memory-bound loops, so one
// OpenMP pass each; small tensors stay on one thread (a fork costs more than the loop).
#include "nn/nn.h"

#define PAR_MIN 32768  // below this many elements a parallel region does not pay

void lrelu_forward(float *out, const float *in, size_t n, float slope) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0 ? in[i] : slope * in[i];
}

// PyTorch's rule: the gradient at exactly 0 takes the negative side.
void lrelu_backward(float *d_in, const float *d_out, const float *in, size_t n, float slope) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) d_in[i] = in[i] > 0 ? d_out[i] : slope * d_out[i];
}

void add_forward(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void add_inplace(float *y, const float *x, size_t n) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] += x[i];
}

void scale_add_inplace(float *y, float a, const float *x, size_t n) {
#pragma omp parallel for simd if (n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}
