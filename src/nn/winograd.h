// winograd: stride-1 'same' convolutions by Winograd's minimal filtering F(m x m, r x r):
// F(4x4, 3x3) and F(6x6, 3x3), and for SA4's larger kernels F(4x4, 5x5) and
// F(2x2, 7x7), for conv.c (src/nn's own; the model never sees it).
//
// One `wino` is one direction of a layer: out (N,H,W,cout) = in (N,H,W,cin) * U + bias,
// NHWC, where U is a kernel in the transformed domain (wino_kernel_transform). The
// backward-data pass of a layer cin -> cout is the direction cout -> cin with the
// flipped, transposed kernel (flip = 1). Backward-weights is a plan of its own
// (wino_create_bwd_weights).
#pragma once
#include <stddef.h>

#include <oneapi/dnnl/dnnl.h>

// conv.c's process-wide oneDNN engine; 0, or -1 with the reason.
int nn_dnnl_engine(dnnl_engine_t *engine);

typedef struct wino wino;

int wino_cpu_ok(void);  // 1 when this CPU runs the SIMD code this build has (AVX2 + FMA, or AVX-512)

// NULL with the reason on failure. (r, m): (3, 4), (3, 6), (5, 4) or (7, 2).
wino *wino_create(int N, int H, int W, int cin, int cout, int r, int m);
void wino_destroy(wino *w);
// The transformed kernel's size in floats, and the kernel itself from OIHW weights
// (cout, cin, r, r) of the layer; flip: the layer's weights are (cin, cout, r, r) of the
// forward layer this backward-data direction belongs to (w's cin is that layer's cout).
size_t wino_kernel_floats(const wino *w);
void wino_kernel_transform(wino *w, float *U, const float *weight, int flip);
// out = in * U + bias (NULL: none), then LeakyReLU(slope) when lrelu, then + res (NULL:
// none; it may alias out). out, in, res: NHWC.
int wino_run(wino *w, float *out, const float *in, const float *U, const float *bias, int lrelu, float slope,
             const float *res);
// Workspace (per-thread transformed tiles and the GEMM's scratchpad), as conv.c's.
size_t wino_workspace_bytes(const wino *w);
void wino_set_workspace(wino *w, void *ws);
const char *wino_impl_name(const wino *w);  // e.g. "winograd F(4x4,3x3) + brg:avx512_core"

// Backward-weights of the layer cin -> cout, F(4x4, 3x3): a plan of its own (wino_run
// refuses it; the workspace calls above serve it too). d_weight (OIHW) and d_bias (NULL:
// none; the sum of d_out) from the layer's input and d_out, NHWC.
wino *wino_create_bwd_weights(int N, int H, int W, int cin, int cout);
int wino_backward_weights(wino *w, float *d_weight, float *d_bias, const float *in, const float *d_out);

// The plain C references (tests): the same algorithms, scalar, with OIHW weights.
int wino_ref_conv(int r, int m, float *out, const float *in, const float *weight, const float *bias, int N, int H,
                  int W, int cin, int cout);
int wino_ref_bwd_weights(int m, float *d_weight, float *d_bias, const float *in, const float *d_out, int N, int H,
                         int W, int cin, int cout);
