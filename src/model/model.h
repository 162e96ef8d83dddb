// model: the docs/spec.md §3 network — shape, parameters, forward and backward.
//
//   x0 = fe.head(I_LR); f = fe.tail(RG...(x0)) + x0
//   for br in (structure, texture): y = br.tail(RG...(f)) + f; OUT_br = br.out(up(y))
//   I_SR = S_SR + T_SR
//
// Parameters live in one float array described by a table of named tensors (PyTorch
// state_dict names and layouts); gradients use the same table. A model_plan holds the
// convolution plans and every activation buffer for one input shape (N, H, W), planned
// once: in training mode each saved activation has its own slice of one allocation; in
// inference mode the roles share a few buffers.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "nn/nn.h"

typedef struct {
    int scale;      // 2, 3, 4
    int feats;      // C
    int fe_groups;  // residual groups in the feature extractor
    int groups;     // residual groups per branch
    int blocks;     // residual blocks per group
    attention_kind attention;
    int ca_reduction;   // r: CA's hidden width is max(1, C / r)
    float leaky_slope;  // LeakyReLU negative slope
} model_config;

model_config model_config_default(void);          // the paper's: x2, C=64, 1/3/20, none, r=16, 0.2
int model_config_check(const model_config *cfg);  // 0 or -1 with a reason

typedef struct {
    char name[128];
    int ndim;
    int64_t shape[4];
    size_t offset;  // in floats, into the parameter array
    size_t numel;
} param_info;

// The upsampler (docs/spec.md §3): x2 and x3 one stage of their factor, x4 two x2
// stages. Writes each stage's factor to s; returns how many stages.
#define MODEL_MAX_UP 2
int model_up_stages(int scale, int s[MODEL_MAX_UP]);

// Indices into the parameter table (a conv's bias is its weight index + 1; an
// attention module's tensors follow `att` in nn.h's order).
typedef struct {
    int conv1, conv2, att;
} rb_index;

typedef struct {
    model_config cfg;
    int n_params;
    param_info *info;  // (n_params)
    size_t n_floats;
    float *w;                          // (n_floats) all parameters, one allocation
    int n_up, up_scale[MODEL_MAX_UP];  // model_up_stages(cfg.scale)
    // architecture -> parameter indices (up: per branch, per stage)
    int head, fe_tail, br_tail[2], up[2][MODEL_MAX_UP], out[2];
    int *group_tail;   // (fe_groups + 2*groups): fe groups, then structure, then texture
    rb_index *blocks;  // (groups_total * blocks), same order
} model;

int model_create(model *m, const model_config *cfg);  // table + zeroed parameters
// model_create in two steps, for loaders: the table alone (m->w NULL), then the zeroed
// parameters. A loader checks a file's tensors against the table in between, so that
// what it allocates is bounded by the file's size, not by what its metadata claims.
int model_create_table(model *m, const model_config *cfg);
int model_alloc_params(model *m);
// How many tensors the table of a valid cfg has, counted without building it (a loader
// compares it with the file's first: the largest table has 590k entries).
int model_tensor_count(const model_config *cfg);
void model_free(model *m);
void model_init_params(model *m, uint64_t seed);   // PyTorch default init, seeded
int model_find(const model *m, const char *name);  // index or -1
float *model_tensor(const model *m, int index);
size_t model_flops(const model *m, int H, int W);  // forward, one LR image H x W
// The network's reach in LR pixels: each output pixel depends on input pixels at most
// this far away along x and y (the convolutions' radii along the longest path), apart
// from CA's mean over the whole input. Tiles with this much context are exact.
int model_receptive_radius(const model_config *cfg);

// Weights file (docs/spec.md §4): safetensors with attsr metadata.
int model_save(const model *m, const char *path);
int model_load(model *m, const char *path);
int model_load_memory(model *m, const void *data, size_t n, const char *name);

// ---- forward / backward -----------------------------------------------------------
typedef struct model_plan model_plan;

// What a plan is for: inference with all three outputs (SR, S, T), training (forward
// and backward), or inference of SR alone, whose S and T lie over maps dead by then
// (S over SR, T over the head's map): 24 floats fewer per LR pixel at x2, 10% of the
// plan, which is memory the kernel need not clear (docs/benchmarks.md).
enum { MODEL_INFER, MODEL_TRAIN, MODEL_INFER_SR };
model_plan *model_plan_create(const model *m, int N, int H, int W, int mode);
// The same when the plan's memory (model_plan_bytes) is at most max_bytes (0: any),
// decided before its buffers are allocated; otherwise NULL with the reason.
model_plan *model_plan_create_within(const model *m, int N, int H, int W, int mode, size_t max_bytes);
void model_plan_free(model_plan *p);
// The plan's buffers live on the device the process computed on when it was created
// (nn_set_device); the input and outputs are copied in and out through these calls.
int model_plan_set_input(model_plan *p, const float *x);  // x: (N, H, W, 3) host floats
// Outputs after forward, each (N, H*s, W*s, 3): I_SR = S_SR + T_SR, and the branches'
// (but for MODEL_INFER_SR plans, which have SR alone).
enum { OUT_SR, OUT_S, OUT_T, OUT_COUNT };
// dst: model_plan_output_floats() host floats. 0 / -1 + error.
int model_plan_get_output(const model_plan *p, int which, float *dst);  // which: OUT_*
nn_device model_plan_device(const model_plan *p);
// On a device other than the CPU the plan holds a copy of m's weights, made at creation:
// after changing m->w, call this before the next forward. (On the CPU the layers read
// m->w itself; this does nothing.)
int model_plan_sync_weights(model_plan *p, const model *m);
// The weights p's layers read: m->w on the CPU, the plan's copy on another device (which
// an optimiser running there updates in place).
float *model_plan_weights(model_plan *p, const model *m);
// 1 when device d can run cfg's network (training: forward and backward); 0 with the reason.
int model_on_device(const model_config *cfg, nn_device d, int training);
// The output in the plan's own memory: for nn's functions on the same device (the
// loss), and for reading in place, without a copy, when the device is NN_CPU.
const float *model_plan_output(const model_plan *p, int which);
size_t model_plan_bytes(const model_plan *p);
size_t model_plan_output_floats(const model_plan *p);  // N*sH*sW*3

int model_forward(model_plan *p, const model *m);

// d_s, d_t: (N, H*s, W*s, 3) gradients of the loss w.r.t. S_SR and T_SR (for
// L = w_S L_S + w_T L_T: each already multiplied by its task weight). Writes
// (overwrites) every gradient into grads (m->n_floats floats, same table).
// branch_norm[i] receives the L2 norm of the part of dL/dW, W = fe.tail.weight, that
// comes through the structure (0) and texture (1) branch, i.e. w_i ||dL_i/dW||, which
// is GradNorm's G_i (docs/spec.md §6). hooks (below) may be NULL; they change nothing in
// the results.
typedef struct model_backward_hooks model_backward_hooks;
int model_backward(model_plan *p, const model *m, float *grads, const float *d_s, const float *d_t,
                   double branch_norm[2], const model_backward_hooks *hooks);

// Hooks into backward, for data-parallel training (src/train/dist.c reduces gradients
// across processes while backward runs on). NULL members are skipped.
struct model_backward_hooks {
    void *ctx;
    // The gradients of parameters [first, last) (table indices) are final: backward will
    // not write them again. Called as backward proceeds, from the output layers towards
    // fe.head (the branches in table order, each from its end); together the calls
    // cover the table exactly once.
    void (*ready)(void *ctx, int first, int last);
    // fe.tail.weight's gradient through the structure (dw[0]) and the texture (dw[1])
    // branch, n floats each, before they are summed: what GradNorm's norms are taken of.
    void (*fe_tail_split)(void *ctx, const float *const dw[2], size_t n);
};
