// The CUDA backend's convolution: cuDNN, NHWC activations, fp32 (TF32 allowed on the
// tensor cores, as PyTorch's default for convolutions). One plan per shape, as the CPU's:
// the algorithms are chosen once per shape, at creation, by measurement (choose_algorithms)
// within the workspace the plan asks for; the model's plans share one workspace
// (conv_set_workspace).
//
// Weights arrive as PyTorch's OIHW; cuDNN's NHWC kernels want the filter as KRSC (OHWI),
// so each call reorders them into the workspace (cin*cout*k*k floats: negligible next to
// the convolution), and backward reorders the weight gradient back. The bias, the fused
// LeakyReLU of conv_opts and the residual of conv_forward_add are one element-wise
// kernel after the convolution.
#include <cuda_runtime.h>
#include <cudnn.h>
#include <stdlib.h>
#include <string.h>

#include "nn/cuda/cuda.h"
#include "nn/cuda/kernels.cuh"

extern "C" int as_errorf(const char *fmt, ...);

#define WS_LIMIT ((size_t)256 << 20)  // the most workspace an algorithm may ask for

static cudnnHandle_t g_cudnn;

static int cudnn_fail(const char *what, cudnnStatus_t s) {
    return as_errorf("cuDNN %s: %s", what, cudnnGetErrorString(s));
}
#define CUDNN(call, what)                                            \
    do {                                                             \
        cudnnStatus_t s_ = (call);                                   \
        if (s_ != CUDNN_STATUS_SUCCESS) return cudnn_fail(what, s_); \
    } while (0)

struct cuda_conv {
    int N, H, W, cin, cout, k, training, lrelu, deterministic;
    float slope;
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    size_t algo_bytes, ws_bytes;  // cuDNN's largest need; with the two weight copies
    char *ws, *ws_own;
};

static size_t wfloats(const cuda_conv *c) { return (size_t)c->cout * c->cin * c->k * c->k; }
static size_t round256(size_t n) { return (n + 255) & ~(size_t)255; }

static int choose_algorithms(cuda_conv *c);

static int setup(cuda_conv *c) {
    if (!g_cudnn) {
        CUDNN(cudnnCreate(&g_cudnn), "create");
        CUDNN(cudnnSetStream(g_cudnn, cudaStreamPerThread), "stream");  // the kernels' (cuda.h)
    }
    CUDNN(cudnnCreateTensorDescriptor(&c->x), "descriptor");
    CUDNN(cudnnCreateTensorDescriptor(&c->y), "descriptor");
    CUDNN(cudnnCreateTensorDescriptor(&c->bias), "descriptor");
    CUDNN(cudnnCreateFilterDescriptor(&c->w), "descriptor");
    CUDNN(cudnnCreateConvolutionDescriptor(&c->conv), "descriptor");
    CUDNN(cudnnSetTensor4dDescriptor(c->x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, c->N, c->cin, c->H, c->W), "input");
    CUDNN(cudnnSetTensor4dDescriptor(c->y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, c->N, c->cout, c->H, c->W), "output");
    CUDNN(cudnnSetTensor4dDescriptor(c->bias, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, 1, c->cout, 1, 1), "bias");
    CUDNN(cudnnSetFilter4dDescriptor(c->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, c->cout, c->cin, c->k, c->k), "filter");
    int pad = c->k / 2;
    CUDNN(cudnnSetConvolution2dDescriptor(c->conv, pad, pad, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
          "convolution");
    CUDNN(cudnnSetConvolutionMathType(c->conv, CUDNN_DEFAULT_MATH), "math type");  // TF32 allowed
    return choose_algorithms(c);
}

// The first of cuDNN's ranked results that ran, fits WS_LIMIT and, in deterministic mode,
// is deterministic; -1 when none.
template <typename Perf> static int first_fit(const Perf *p, int n, int det) {
    for (int i = 0; i < n; i++)
        if (p[i].status == CUDNN_STATUS_SUCCESS && p[i].memory <= WS_LIMIT &&
            (!det || p[i].determinism == CUDNN_DETERMINISTIC))
            return i;
    return -1;
}

// Algorithms are chosen by measurement, as PyTorch's cudnn.benchmark = True (which
// BasicSR sets): cudnnFind* times each candidate on buffers of its own, once per shape
// in the process (a tiled image's plans, the upscaler's probe plans and a training's
// validation share the answers). ATTSR_CUDNN_ALGO=heuristic takes cuDNN's heuristics'
// ranking instead, which measures nothing (PyTorch's default).
typedef struct {
    int key[8];  // N, H, W, cin, cout, k, training, deterministic
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    size_t need;
} algo_choice;
#define MAX_CHOICES 64  // shapes remembered; more are chosen again each time
static algo_choice g_choices[MAX_CHOICES];
static int g_n_choices;

static int choose_algorithms(cuda_conv *c) {
    const int key[8] = {c->N, c->H, c->W, c->cin, c->cout, c->k, c->training, c->deterministic};
    for (int j = 0; j < g_n_choices; j++)
        if (!memcmp(g_choices[j].key, key, sizeof key)) {
            const algo_choice *a = &g_choices[j];
            c->fwd = a->fwd, c->bwd_data = a->bwd_data, c->bwd_filter = a->bwd_filter;
            c->algo_bytes = a->need;
            return 0;
        }
    const char *env = getenv("ATTSR_CUDNN_ALGO");
    const int find = !(env && !strcmp(env, "heuristic")), det = c->deterministic;
    // one pass's ranking: cudnnFind* and the heuristics' _v7 take the same arguments
#define RANK(find_fn, heuristic_fn, what, ...) \
    CUDNN(find ? find_fn(g_cudnn, __VA_ARGS__) : heuristic_fn(g_cudnn, __VA_ARGS__), what)
    int n = 0, i;
    cudnnConvolutionFwdAlgoPerf_t fp[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    RANK(cudnnFindConvolutionForwardAlgorithm, cudnnGetConvolutionForwardAlgorithm_v7, "forward algorithm", c->x, c->w,
         c->conv, c->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, fp);
    if ((i = first_fit(fp, n, det)) < 0)
        return as_errorf("cuDNN: no forward algorithm for a %dx%d %d->%d convolution", c->k, c->k, c->cin, c->cout);
    c->fwd = fp[i].algo;
    size_t need = fp[i].memory;
    if (c->training) {
        cudnnConvolutionBwdDataAlgoPerf_t dp[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        RANK(cudnnFindConvolutionBackwardDataAlgorithm, cudnnGetConvolutionBackwardDataAlgorithm_v7,
             "backward-data algorithm", c->w, c->y, c->conv, c->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, dp);
        if ((i = first_fit(dp, n, det)) < 0) return as_errorf("cuDNN: no backward-data algorithm");
        c->bwd_data = dp[i].algo;
        need = need > dp[i].memory ? need : dp[i].memory;
        cudnnConvolutionBwdFilterAlgoPerf_t wp[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        RANK(cudnnFindConvolutionBackwardFilterAlgorithm, cudnnGetConvolutionBackwardFilterAlgorithm_v7,
             "backward-weights algorithm", c->x, c->y, c->conv, c->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, wp);
        if ((i = first_fit(wp, n, det)) < 0) return as_errorf("cuDNN: no backward-weights algorithm");
        c->bwd_filter = wp[i].algo;
        need = need > wp[i].memory ? need : wp[i].memory;
    }
#undef RANK
    c->algo_bytes = round256(need);
    if (g_n_choices < MAX_CHOICES) {
        algo_choice *a = &g_choices[g_n_choices++];
        memcpy(a->key, key, sizeof key);
        a->fwd = c->fwd, a->bwd_data = c->bwd_data, a->bwd_filter = c->bwd_filter, a->need = c->algo_bytes;
    }
    return 0;
}

// The plan's workspace: cuDNN's algorithms' largest need, then the two weight copies.
static void size_workspace(cuda_conv *c) {
    c->ws_bytes = c->algo_bytes + 2 * round256(wfloats(c) * sizeof(float));  // the KRSC weights and their gradient
}

extern "C" void cuda_conv_destroy(cuda_conv *c) {
    if (!c) return;
    if (c->x) cudnnDestroyTensorDescriptor(c->x);
    if (c->y) cudnnDestroyTensorDescriptor(c->y);
    if (c->bias) cudnnDestroyTensorDescriptor(c->bias);
    if (c->w) cudnnDestroyFilterDescriptor(c->w);
    if (c->conv) cudnnDestroyConvolutionDescriptor(c->conv);
    cudaFree(c->ws_own);
    free(c);
}

extern "C" cuda_conv *cuda_conv_create(int N, int H, int W, int cin, int cout, int k, int training, int lrelu,
                                       float slope, int deterministic) {
    cuda_conv *c = (cuda_conv *)calloc(1, sizeof *c);
    if (!c) {
        as_errorf("out of memory");
        return NULL;
    }
    c->N = N, c->H = H, c->W = W, c->cin = cin, c->cout = cout, c->k = k;
    c->training = training, c->lrelu = lrelu, c->slope = slope, c->deterministic = deterministic;
    if (setup(c)) {
        cuda_conv_destroy(c);
        return NULL;
    }
    size_workspace(c);
    return c;
}

extern "C" size_t cuda_conv_workspace_bytes(const cuda_conv *c) { return c->ws_bytes; }
extern "C" void cuda_conv_set_workspace(cuda_conv *c, void *ws) { c->ws = (char *)ws; }

static int workspace(cuda_conv *c) {
    if (c->ws) return 0;
    if (!(c->ws_own = (char *)cuda_alloc(c->ws_bytes))) return -1;
    c->ws = c->ws_own;
    return 0;
}

// OIHW <-> OHWI: to = 1 reorders PyTorch's weights for cuDNN, to = 0 brings a gradient back
__global__ void k_reorder(float *dst, const float *src, int O, int I, int KK, int to) {
    FOR_EACH(e, (size_t)O * I * KK) {
        size_t o = e / ((size_t)I * KK), r = e % ((size_t)I * KK), i = r / KK, kk = r % KK;  // e indexes OIHW
        size_t ohwi = (o * KK + kk) * I + i;
        if (to)
            dst[ohwi] = src[e];
        else
            dst[e] = src[ohwi];
    }
}

// out = act(out + bias[c] (+ res)), NHWC with C = cout
__global__ void k_bias_act(float *out, const float *bias, const float *res, size_t n, int C, int lrelu, float slope) {
    FOR_EACH(i, n) {
        float v = out[i] + bias[i % C];
        if (res) v += res[i];
        out[i] = lrelu ? v * (v > 0 ? 1.0f : slope) : v;
    }
}

static float *krsc(const cuda_conv *c) { return (float *)(c->ws + c->algo_bytes); }
static float *krsc_grad(const cuda_conv *c) { return krsc(c) + round256(wfloats(c) * sizeof(float)) / sizeof(float); }

extern "C" int cuda_conv_forward(cuda_conv *c, float *out, const float *in, const float *weight, const float *bias,
                                 const float *res) {
    if (workspace(c)) return -1;
    size_t nw = wfloats(c), n = (size_t)c->N * c->H * c->W * c->cout;
    k_reorder<<<blocks_for(nw), THREADS>>>(krsc(c), weight, c->cout, c->cin, c->k * c->k, 1);
    const float one = 1.0f, zero = 0.0f;
    CUDNN(cudnnConvolutionForward(g_cudnn, &one, c->x, in, c->w, krsc(c), c->conv, c->fwd, c->ws, c->algo_bytes, &zero,
                                  c->y, out),
          "forward");
    k_bias_act<<<blocks_for(n), THREADS>>>(out, bias, res, n, c->cout, c->lrelu, c->slope);
    return 0;
}

// Overwrites d_in (unless NULL), d_weight and d_bias, as the CPU's conv_backward.
extern "C" int cuda_conv_backward(cuda_conv *c, float *d_in, float *d_weight, float *d_bias, const float *d_out,
                                  const float *in, const float *weight) {
    if (!c->training) return as_errorf("conv_backward: the plan was created for inference");
    if (workspace(c)) return -1;
    size_t nw = wfloats(c);
    const float one = 1.0f, zero = 0.0f;
    if (d_in) {
        k_reorder<<<blocks_for(nw), THREADS>>>(krsc(c), weight, c->cout, c->cin, c->k * c->k, 1);
        CUDNN(cudnnConvolutionBackwardData(g_cudnn, &one, c->w, krsc(c), c->y, d_out, c->conv, c->bwd_data, c->ws,
                                           c->algo_bytes, &zero, c->x, d_in),
              "backward-data");
    }
    CUDNN(cudnnConvolutionBackwardFilter(g_cudnn, &one, c->x, in, c->y, d_out, c->conv, c->bwd_filter, c->ws,
                                         c->algo_bytes, &zero, c->w, krsc_grad(c)),
          "backward-weights");
    k_reorder<<<blocks_for(nw), THREADS>>>(d_weight, krsc_grad(c), c->cout, c->cin, c->k * c->k, 0);
    CUDNN(cudnnConvolutionBackwardBias(g_cudnn, &one, c->y, d_out, &zero, c->bias, d_bias), "backward-bias");
    return 0;
}
