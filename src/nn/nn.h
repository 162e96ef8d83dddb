// nn: the layers of the network (docs/spec.md §3), each a forward and a backward function.
//
// Conventions (llm.c style):
//   - activations are float32 NHWC: (N, H, W, C), contiguous;
//   - conv weights are OIHW (cout, cin, k, k) and linear weights (out, in), exactly the
//     PyTorch state_dict layout, so parameters are used as stored;
//   - outputs first, then saved buffers, then inputs, then weights, then sizes;
//   - every backward OVERWRITES its outputs (d_in, d_weight, d_bias); the model adds
//     where a tensor feeds several consumers. A NULL d_in skips that gradient.
//   - functions that can fail return 0 / -1 with as_errorf(); pure loops return void.
// Everything here is multithreaded with OpenMP (or inside oneDNN).
#pragma once
#include <stddef.h>
#include <stdint.h>

// ---- devices: where plans keep their buffers and run their layers ------------------
// A process computes on one device, chosen at startup (as the convolutions' layout,
// precision and algorithm below): plans created afterwards allocate their buffers on it
// (nn_alloc), and the element-wise layers, PixelShuffle, the losses and the optimiser's
// updates run there, on pointers into its memory. NN_CPU is this directory's oneDNN and
// OpenMP code. NN_CUDA exists in builds made with `make CUDA=1` (src/nn/cuda/); it has
// the memory, the element-wise layers and the training step's maths so far: layers it
// lacks fail at plan creation with a message that says so, never silently on the CPU.
typedef enum { NN_CPU = 0, NN_CUDA } nn_device;
const char *nn_device_name(nn_device d);           // "cpu", "cuda"
int nn_device_parse(const char *s, nn_device *d);  // 0 ok, -1 + error
// 1 when d can run in this process; 0 with the reason in as_error() (a build without
// CUDA, no GPU, a driver older than the runtime).
int nn_device_available(nn_device d);
int nn_set_device(nn_device d);  // -1 + reason when not available
nn_device nn_get_device(void);
// Deterministic mode, for plans created from now on (process-wide, at startup): on CUDA
// only the cuDNN algorithms that cuDNN reports deterministic (a rerun, or a resumed
// training, is then bit for bit the same); attsr's own kernels and the CPU always are
// (every sum has a fixed order). Off by default.
void nn_set_deterministic(int on);
int nn_deterministic(void);
// Memory on device d: 64-byte aligned; NULL + as_error() on failure. nn_free(d, NULL) is a no-op.
void *nn_alloc(nn_device d, size_t bytes);
void nn_free(nn_device d, void *p);
// Copies between host memory and device d's (memcpy on the CPU); 0 / -1 + error.
int nn_upload(nn_device d, void *dst, const void *src, size_t bytes);
int nn_download(nn_device d, void *dst, const void *src, size_t bytes);
int nn_copy(nn_device d, void *dst, const void *src, size_t bytes);  // within d's memory
// Waits for the work queued on d (CUDA runs asynchronously); 0, or -1 with the first
// error of that work. A no-op on the CPU.
int nn_sync(nn_device d);
// Recorded work (CUDA graphs): what is queued on d between nn_graph_begin and
// nn_graph_end, on this thread, is recorded instead of run, and nn_graph_replay queues
// it again at the cost of one launch; the buffers and the values of scalar arguments
// are the recording's. Only on CUDA, and only when ATTSR_CUDA_GRAPHS=1 (not yet
// checked on a GPU): nn_graphs(d) says whether a caller should record.
typedef struct nn_graph nn_graph;
int nn_graphs(nn_device d);
int nn_graph_begin(nn_device d);
int nn_graph_end(nn_device d, nn_graph **g);  // 0 and *g, or -1 + error (what failed to record)
int nn_graph_replay(nn_device d, nn_graph *g);
void nn_graph_free(nn_device d, nn_graph *g);  // NULL: no-op

// ---- activation layouts ------------------------------------------------------------
// Where an activation (N, H, W, C) lies in memory: block 0 is NHWC; block B (4, 8 or 16)
// is channel blocks of B (oneDNN's nChw8c for B = 8): element (n, c, h, w) at
// ((n*Cp/B + c/B)*H*W + h*W + w)*B + c%B, with Cp = C rounded up to B (the padding
// channels are zero). Every backend reads and writes NHWC; a CPU plan may hand its
// output to the next layer in a blocked layout (conv_opts), without copies.
typedef struct {
    int block;
} nn_layout;
#define NN_NHWC ((nn_layout){0})
static inline int nn_layout_is_nhwc(nn_layout l, int C) { return l.block == 0 || l.block == C; }  // same bytes
static inline int nn_layout_ok(nn_layout l) { return l.block == 0 || l.block == 4 || l.block == 8 || l.block == 16; }

// ---- convolution (oneDNN or Winograd; cuDNN on CUDA): k x k, stride 1, 'same' padding, bias ----
// A plan for one shape; it may be reused by every layer of that shape (weights are
// passed per call; direct plans reorder them each time, Winograd plans keep each
// layer's transformed kernel, checked against the weights on every call). Not safe to execute
// from two threads at once. Outputs may not alias inputs.
typedef struct nn_conv nn_conv;

void conv_destroy(nn_conv *c);
// out (N,H,W,cout) = in (N,H,W,cin) * weight (cout,cin,k,k) + bias (cout)
int conv_forward(nn_conv *c, float *out, const float *in, const float *weight, const float *bias);
// out = conv_forward's result + res (N,H,W,cout): a residual connection's end, in the
// same pass on Winograd plans. The plan's output must be NHWC; res may not alias out.
int conv_forward_add(nn_conv *c, float *out, const float *in, const float *weight, const float *bias, const float *res);
// d_in (N,H,W,cin) [NULL: skipped], d_weight (cout,cin,k,k), d_bias (cout) from d_out
// (N,H,W,cout). Needs `training` at create time.
int conv_backward(nn_conv *c, float *d_in, float *d_weight, float *d_bias, const float *d_out, const float *in,
                  const float *weight);
double conv_flops(const nn_conv *c);  // forward multiply-adds x 2
// Plans that pass activations to each other in a blocked layout (a residual block's a1,
// SA4's hidden maps), without copies, and a LeakyReLU fused into the forward pass:
//   native_dst  the output, and d_out in backward, are in the layout the plan runs
//               fastest with, NHWC or blocked: conv_dst_layout() says which
//               (conv_dst_floats() floats);
//   native_src  the input, and d_in in backward, lie in layout `src` (the
//               conv_dst_layout() of the native_dst plan that produces it) and are read
//               and written as they lie; 0: NHWC, which the plan may copy into the
//               layout it prefers;
//   lrelu       forward returns LeakyReLU(conv, slope), as lrelu_forward would.
//   layers      how many layers (weights pointers) the plan will serve; 0: unknown. A
//               Winograd plan whose layers' transformed kernels would not all fit its
//               cache transforms every kernel per call instead of caching the first few.
typedef struct {
    int native_dst, native_src, lrelu;
    float slope;
    nn_layout src;
    int layers;
} conv_opts;
// A plan for one shape; opt NULL: the defaults (all zero).
nn_conv *conv_create(int N, int H, int W, int cin, int cout, int k, int training, const conv_opts *opt);
size_t conv_dst_floats(const nn_conv *c);     // the output's floats in its layout (>= N*H*W*cout)
nn_layout conv_dst_layout(const nn_conv *c);  // NHWC unless native_dst chose a blocked one
int conv_dst_is_nhwc(const nn_conv *c);       // 1 when that layout is (N, H, W, cout) in memory
// The oneDNN implementation behind a pass: 0 forward, 1 backward-data, 2 backward-weights
// (e.g. "jit:avx2", "brg:avx512_core"); "none" for a pass that was not planned.
const char *conv_impl_name(const nn_conv *c, int pass);
// How plans created from now on feed activations to oneDNN (process-wide):
//   CONV_AUTO  (default) oneDNN's preferred layout, e.g. nChw8c on AVX2, reordered in
//              and out of the plan's workspace around each call: 20-40% faster than
//              nhwc on AVX2, copies included; nhwc without copies where oneDNN has a
//              brgemm kernel for it (AVX-512 and newer) or prefers nhwc itself;
//   CONV_NHWC  the caller's buffers as they are: no copies, no extra memory.
// Results agree to float rounding (summation order differs).
typedef enum { CONV_AUTO = 0, CONV_NHWC } conv_layout;
void conv_set_layout(conv_layout layout);  // at startup: not synchronised with conv_create
int conv_uses_reorders(const nn_conv *c);  // 1 when the plan copies activations
// The arithmetic of plans created from now on (process-wide, at startup like the layout):
//   CONV_FP32  (default) f32 throughout;
//   CONV_BF16  the primitives read bf16 copies of the input, weights and d_out and
//              accumulate and write f32 (outputs, d_in, d_weight stay f32): mixed
//              precision as PyTorch's autocast does it, with f32 master weights. On AMX
//              about 10x the f32 convolution rate; each product loses the inputs'
//              mantissa past 8 bits (relative error ~4e-3 per element).
// conv_set_precision(CONV_BF16) fails (-1) on a CPU without AVX512-BF16 or AMX.
typedef enum { CONV_FP32 = 0, CONV_BF16 } conv_precision;
int conv_set_precision(conv_precision precision);
conv_precision conv_get_precision(void);
int conv_bf16_available(void);  // 1 when CONV_BF16 would be accepted
// The algorithm of plans created from now on (process-wide; at startup):
//   CONV_ALGO_AUTO      (default) Winograd F(4x4, 3x3) for the 3x3 shapes where it is
//                       measured faster (wide layers), oneDNN's direct kernels elsewhere;
//   CONV_ALGO_DIRECT    oneDNN's direct kernels only;
//   CONV_ALGO_WINOGRAD  Winograd for every 3x3 plan that reads NHWC input.
// (Winograd needs AVX2 and FMA; without them every plan is direct.)
// Winograd plans run forward and backward-data through src/nn/winograd.c (their native
// layout is NHWC); backward-weights goes there too where auto's table for it (or
// CONV_ALGO_WINOGRAD) says, for training plans reading and writing NHWC. Results agree with direct to a few 1e-6
// of the output's magnitude (tests/test_winograd.c). Without conv_set_algo the
// environment variable ATTSR_CONV=auto|direct|winograd decides (read on first use; an
// invalid value makes conv_create fail).
typedef enum { CONV_ALGO_AUTO = 0, CONV_ALGO_DIRECT, CONV_ALGO_WINOGRAD } conv_algo;
void conv_set_algo(conv_algo a);
int conv_algo_parse(const char *s, conv_algo *a);  // "auto", "direct", "winograd"; 0 / -1
const char *conv_algo_name(conv_algo a);
int conv_is_winograd(const nn_conv *c);
// Workspace: memory a plan uses only during a call (CONV_AUTO's activation copies and
// oneDNN's scratchpad). Plans that never run at the same time (e.g. all the plans of
// one model, run in turn) can share one buffer of the largest size, 64-byte aligned,
// which the caller keeps alive while the plans run. A plan without one allocates its
// own on first use.
size_t conv_workspace_bytes(const nn_conv *c);
int conv_set_workspace(nn_conv *c, void *ws);

// ---- element-wise ----------------------------------------------------------------
void lrelu_forward(float *out, const float *in, size_t n, float slope);  // out may == in
// d_in may == d_out. `in`: the forward input, or its output (same sign for slope > 0).
void lrelu_backward(float *d_in, const float *d_out, const float *in, size_t n, float slope);
void add_forward(float *out, const float *a, const float *b, size_t n);  // out may alias a, b
void add_inplace(float *y, const float *x, size_t n);                    // y += x
void scale_add_inplace(float *y, float a, const float *x, size_t n);     // y += a*x

// ---- the training step's maths on parameter- and activation-sized buffers ---------
// Deterministic: sums in fixed chunks (AS_SUM_CHUNKS), so results do not depend on the
// thread count. On the current device, as the element-wise layers.
// mean |pred - target| over n; d_pred = scale * sign(pred - target) / n (sign(0) = 0,
// PyTorch's); d_pred may be NULL.
double nn_l1_loss(float *d_pred, const float *pred, const float *target, size_t n, float scale);
double nn_sum_sq(const float *x, size_t n);  // sum x^2, in double
// One Adam update (torch.optim.Adam's arithmetic; the caller computes the step's
// coefficients from lr and t): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
// w -= step * m / (sqrt(v) / bc2_sqrt + eps).
typedef struct {
    float step, beta1, beta2, eps, bc2_sqrt;
} nn_adam_coef;
void nn_adam_update(float *w, const float *g, float *m, float *v, size_t n, const nn_adam_coef *k);
void nn_ema_update(float *avg, const float *w, size_t n, double decay);  // avg = d avg + (1-d) w

// ---- PixelShuffle (PyTorch's): out[c, h*s+i, w*s+j] = in[c*s*s + i*s + j, h, w] ---
// in (N,H,W,C*s*s) -> out (N,H*s,W*s,C)
void pixel_shuffle_forward(float *out, const float *in, int N, int H, int W, int C, int s);
// In place on the CPU (buf holds in, then out: in NHWC they cover the same memory);
// scratch: `rows` input rows of W*C*s*s floats, one per thread (at most `rows` threads;
// rows 0: one row allocated for the call). 0, or -1 when that allocation fails.
int pixel_shuffle_forward_inplace(float *buf, float *scratch, int rows, int N, int H, int W, int C, int s);
void pixel_shuffle_backward(float *d_in, const float *d_out, int N, int H, int W, int C, int s);

// ---- attention modules (docs/spec.md §3) --------------------------------------------
//   none: out = in
//   ca:   out = in * sigmoid(fc2(lrelu(fc1(mean_hw(in)))))   fc1 C->R, fc2 R->C
//   sa1:  out = in * sigmoid(conv1x1_{C->1}(in))
//   sa4:  out = in * sigmoid(c4(lrelu(c3(lrelu(c2(lrelu(c1(in))))))))
//         c1 7x7 C->32, c2 5x5 32->16, c3 3x3 16->8, c4 1x1 8->1
//   ca+sa4:    out = sa4(ca(in))   CBAM's order: CA's module, then SA4's on its output
//   ca-avgmax: out = in * sigmoid(mlp(mean_hw(in)) + mlp(max_hw(in)))
//              mlp = fc2(lrelu(fc1(.))), CA's layers applied twice (both biases each time);
//              max_hw's gradient goes to the first maximum in raster order (the last NaN
//              where there is one), as PyTorch's adaptive_max_pool2d
typedef enum { ATT_NONE = 0, ATT_CA, ATT_SA1, ATT_SA4, ATT_CA_SA4, ATT_CA_AVGMAX, ATT_COUNT } attention_kind;

// "none", "ca", "sa1", "sa4", "ca+sa4", "ca-avgmax"
const char *attention_name(attention_kind k);
int attention_parse(const char *s, attention_kind *k);  // 0 ok, -1 + error naming the kinds

// ---- what each kind is, in one place (the model's tensor table, its tensor count,
// its FLOPs and receptive field, the loaders and the tests all read it from here) ----
#define ATT_MAX_PARAMS 12
typedef struct {
    const char *name;  // under the module's prefix ("...blocks.B.att."): "fc1.weight"
    int ndim;
    int64_t shape[4];  // PyTorch's: conv (cout, cin, k, k), linear (out, in), bias (n)
    int per_pixel;     // FLOPs: a weight applied at every pixel (conv) or once per image
    int passes;        // times forward applies it (ca-avgmax's MLP: 2, else 1)
} attention_param;
// Parameters, in docs/spec.md §3's tensor order, for C channels and CA's hidden width R
// (attention_hidden); returns how many (at most ATT_MAX_PARAMS); p may be NULL:
//   ca:  fc1.weight (R,C), fc1.bias (R), fc2.weight (C,R), fc2.bias (C)
//   sa1: conv.weight (1,C,1,1), conv.bias (1)
//   sa4: conv1.weight (32,C,7,7), conv1.bias, conv2.weight (16,32,5,5), conv2.bias,
//        conv3.weight (8,16,3,3), conv3.bias, conv4.weight (1,8,1,1), conv4.bias
//   ca+sa4:    ca.fc1.weight .. ca.fc2.bias (as ca), then sa.conv1.weight .. sa.conv4.bias (as sa4)
//   ca-avgmax: as ca
int attention_params(attention_kind kind, int C, int R, attention_param *p);
int attention_num_params(attention_kind kind);      // 0, 4, 2, 8, 12, 4
int attention_hidden(int C, int r);                 // CA's hidden width for reduction r: max(1, C / r)
int attention_uses_reduction(attention_kind kind);  // 1 when R (CA's r) shapes the module
// Forward multiply-adds x 2 of the module's weights for one H x W image (as conv_flops:
// the gate's products and the pooling are not counted).
size_t attention_flops(attention_kind kind, int C, int R, int H, int W);
// How far (pixels along x and y) an output pixel's inputs reach through the module's
// convolutions, apart from a global pooling (CA's): 0, 0, 0, 3 + 2 + 1, 3 + 2 + 1, 0.
int attention_radius(attention_kind kind);
// 1 when the module can read its input in a blocked layout (attention_create's `in`):
// SA4, whose first layer is a convolution.
int attention_reads_native(attention_kind kind);
// 1 when device d has the module (for training: its backward too); 0 with a reason.
int attention_on_device(attention_kind kind, nn_device d, int training);

typedef struct nn_attention nn_attention;

// R: CA's hidden width (attention_hidden); ignored by kinds without CA. native_in 0:
// `in` (and d_in in backward) is NHWC; 1 (SA4 only): it lies in layout `in`, a native_dst
// conv plan's conv_dst_layout(), as conv_opts.native_src. out, d_out stay (N,H,W,C).
nn_attention *attention_create(attention_kind kind, int N, int H, int W, int C, int R, float slope, int training,
                               int native_in, nn_layout in);
void attention_destroy(nn_attention *a);

// Floats of forward state kept for backward (gates, pooled vectors, hidden maps).
// ca-avgmax keeps its maxima's pixel indices there as floats, exact below 2^24 pixels:
// a training plan of more pixels per image is refused.
size_t attention_saved_floats(const nn_attention *a);

// out (N,H,W,C) may not alias in. saved: attention_saved_floats() floats, written by
// every forward (at inference too, where one buffer can serve all blocks).
int attention_forward(nn_attention *a, float *out, float *saved, const float *in, const float *const *params);
// out = res + att(in) in one pass (a residual block's end); res may not alias out.
int attention_forward_add(nn_attention *a, float *out, float *saved, const float *in, const float *res,
                          const float *const *params);
// d_in (N,H,W,C) overwritten; d_params[i] overwritten (same order as params).
// `scratch` holds attention_scratch_floats() floats (NULL when that is 0). Needs
// `training` at create time, and `saved` from the forward of this `in`.
int attention_backward(nn_attention *a, float *d_in, float *const *d_params, float *scratch, const float *d_out,
                       const float *saved, const float *in, const float *const *params);
size_t attention_scratch_floats(const nn_attention *a);
// SA4's convolutions' workspace (see conv_set_workspace), sa4 and ca+sa4; 0 for the others.
size_t attention_workspace_bytes(const nn_attention *a);
int attention_set_workspace(nn_attention *a, void *ws);
