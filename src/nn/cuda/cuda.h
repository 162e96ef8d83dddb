// The CUDA backend's entry points, called by src/nn's dispatch (nn/device.h) in builds
// made with `make CUDA=1`. Pointers are device memory from cuda_alloc. The kernels run
// in order on one stream, the calling thread's default stream (nvcc's --default-stream
// per-thread; cuDNN and NCCL are given it too), which unlike the legacy default stream
// can be recorded into a graph; errors of asynchronous work surface at the next call
// that synchronises (cuda_download, the reductions), which then fails with the CUDA
// error.
#pragma once
#include <stddef.h>

#include "nn/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

int cuda_available(void);  // 1, or 0 with the reason in as_error()
void *cuda_alloc(size_t bytes);
void cuda_free(void *p);
int cuda_upload(void *dst, const void *src, size_t bytes);
int cuda_download(void *dst, const void *src, size_t bytes);
int cuda_copy(void *dst, const void *src, size_t bytes);  // device to device
int cuda_sync(void);                                      // waits for the stream; 0, or -1 with the first error
// CUDA graphs of the work queued on this thread's stream (nn_graph_* in nn.h)
int cuda_graph_begin(void);
int cuda_graph_end(void **exec);
int cuda_graph_replay(void *exec);
void cuda_graph_free(void *exec);

void cuda_lrelu_forward(float *out, const float *in, size_t n, float slope);
void cuda_lrelu_backward(float *d_in, const float *d_out, const float *in, size_t n, float slope);
void cuda_add_forward(float *out, const float *a, const float *b, size_t n);
void cuda_scale_add_inplace(float *y, float a, const float *x, size_t n);
// backward = 0: out (N,H*s,W*s,C) from in (N,H,W,C*s*s); 1: the inverse gather
void cuda_pixel_shuffle(float *out, const float *in, int N, int H, int W, int C, int s, int backward);

double cuda_l1_loss(float *d_pred, const float *pred, const float *target, size_t n, float scale);
double cuda_sum_sq(const float *x, size_t n);
void cuda_adam_update(float *w, const float *g, float *m, float *v, size_t n, const nn_adam_coef *k);
void cuda_ema_update(float *avg, const float *w, size_t n, float decay, float keep);

// cuDNN convolution plans (conv.cu): conv.c's nn_conv holds one when made on CUDA.
typedef struct cuda_conv cuda_conv;
// deterministic: only algorithms cuDNN reports deterministic (nn_set_deterministic)
cuda_conv *cuda_conv_create(int N, int H, int W, int cin, int cout, int k, int training, int lrelu, float slope,
                            int deterministic);
void cuda_conv_destroy(cuda_conv *c);  // NULL: no-op
size_t cuda_conv_workspace_bytes(const cuda_conv *c);
void cuda_conv_set_workspace(cuda_conv *c, void *ws);
// out = act(conv(in) + bias (+ res)); res NULL or not aliasing out
int cuda_conv_forward(cuda_conv *c, float *out, const float *in, const float *weight, const float *bias,
                      const float *res);
int cuda_conv_backward(cuda_conv *c, float *d_in, float *d_weight, float *d_bias, const float *d_out, const float *in,
                       const float *weight);

// The attention modules' kernels (attention.cu), forward; attention.c composes them.
// CA on (N, P, C) with hidden width R; saved as attention.c's: pooled (N,C), hidden (N,R), gate (N,C).
void cuda_ca_forward(int N, size_t P, int C, int R, float slope, float *out, float *saved, const float *in,
                     const float *res, const float *const *params);
// The per-pixel gate: g (P) = sigmoid(w . x + b[0]) for x (P,Cx); out (P,C) = (res +) in * g.
void cuda_gate_forward(float *g, float *out, const float *res, const float *in, const float *x, const float *w,
                       const float *b, size_t P, int C, int Cx);
// Backward: CA's whole module (scratch as attention.c's: dz (N,C), dh (N,R), d_pool (N,C));
// the per-pixel gate's pieces, which attention.c composes for SA1 and SA4:
//   dz (P) = <d_out, in> g (1 - g);  d_w (Cx) = sum_p dz x, d_b = sum_p dz;
//   d_in (=, or += when accumulate) d_out g (+ dz w when w is not NULL);
//   SA4's d3 (P,K) = lrelu'(a3) dz w4.
// ca-avgmax (saved and scratch laid out as attention.c's; training: keep the maxima's pixels)
void cuda_ca_avgmax_forward(int N, size_t P, int C, int R, float slope, int training, float *out, float *saved,
                            const float *in, const float *res, const float *const *params);
void cuda_ca_avgmax_backward(int N, size_t P, int C, int R, float slope, float *d_in, float *const *d_params,
                             float *scratch, const float *d_out, const float *saved, const float *in,
                             const float *const *params);
void cuda_ca_backward(int N, size_t P, int C, int R, float slope, float *d_in, float *const *d_params, float *scratch,
                      const float *d_out, const float *saved, const float *in, const float *const *params);
void cuda_gate_backward_z(float *dz, const float *d_out, const float *in, const float *g, size_t P, int C);
void cuda_gate_backward_w(float *d_w, float *d_b, const float *dz, const float *x, size_t P, int Cx);
void cuda_gate_backward_in(float *d_in, const float *d_out, const float *g, const float *dz, const float *w, size_t P,
                           int C, int accumulate);
void cuda_sa4_d3(float *d3, const float *dz, const float *w4, const float *a3, size_t P, int K, float slope);

#ifdef __cplusplus
}
#endif
