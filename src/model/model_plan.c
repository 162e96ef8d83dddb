// model_plan: activation buffers, convolution plans, and the forward and backward
// passes of the network (docs/spec.md §3) for one input shape (N, H, W).
//
// Buffers are planned once. Each role asks `take` for memory: in training mode the
// activations that backward needs ("kept") each get a slice of their own; everything
// else, and everything in inference mode, maps to one shared buffer per role (a slot).
// `assign` runs twice: once to size the single arena, once to hand out pointers.
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/model.h"

// (one line per kind of slot reads better than one per slot)
// clang-format off
enum slot {
    S_X0, S_F, S_G0, S_G1, S_B0, S_B1, S_A1, S_A2, S_ATT,  // LR maps
    S_UP, S_SH = S_UP + MODEL_MAX_UP,                       // upsampling, per stage
    S_D0 = S_SH + MODEL_MAX_UP, S_D1, S_D2, S_D3, S_D4, S_DF_S, S_DF_T, S_D_UP, S_D_HR0, S_D_HR1,
    S_ATT_SCRATCH, S_DW_TMP,                                         // backward only
    S_COUNT
};
// clang-format on

typedef struct {
    float *a1, *a2, *att, *out;
} rb_acts;  // per residual block

struct model_plan {
    int N, H, W, s, training;
    int sr_only;      // MODEL_INFER_SR: out[OUT_S] is out[OUT_SR], out[OUT_T] lies over x0
    nn_device dev;    // where the buffers below live (the process's device at creation)
    float *w;         // on a device other than the CPU, its copy of the model's weights
    size_t map;       // N*H*W*C floats: one LR feature map
    nn_conv *c_head;  // 3 -> C            at H x W
    nn_conv *c_cc;    // C -> C 3x3        at H x W
    // a residual block's conv1 (+ LeakyReLU, fused) and conv2: a1 passes between them in
    // oneDNN's layout (a1n floats), without copies
    // (SA4: conv2 hands a2 to the attention module the same way, a2n floats)
    nn_conv *c_rb1, *c_rb2;
    size_t a1n, a2n;
    nn_conv *c_up[MODEL_MAX_UP];  // stage k: C -> s_k^2 C at its input's size (up_in[k] H x up_in[k] W)
    int up_in[MODEL_MAX_UP];      // stage k's input size in LR pixels per pixel: 1, then s_0, ...
    nn_conv *c_out;               // C -> 3            at sH x sW
    nn_attention *att;            // at H x W (NULL for none)
    // inference on the CPU: each upsampler stage shuffles its conv's output in place
    // (up[k] == sh[k][br]), with the branch's y, dead by then, as the rows' scratch
    int shuffle_inplace;

    float *input;                // (N, H, W, 3)
    float *x0, *f;               // (N, H, W, C)
    rb_acts *rb;                 // per block, over all groups in model order
    float **g_out;               // per group: its output (N, H, W, C)
    float *y[2];                 // per branch: tail(...) + f          (N, H, W, C)
    float *sh[MODEL_MAX_UP][2];  // per stage, per branch: its shuffled output map
    float *up[MODEL_MAX_UP];     // per stage: its conv's output, before the shuffle
    float *out[OUT_COUNT];       // SR, S, T                            (N, sH, sW, 3)
    // backward scratch (training only)
    float *d[5], *df[2], *d_up, *d_hr[2], *att_scratch, *dw_tmp;

    float *arena;  // every buffer above, on dev
    size_t arena_floats;
    void *workspace;  // shared by every conv plan (they run in turn), on dev
    size_t workspace_bytes;
    const model_backward_hooks *hooks;  // set for the duration of one backward, or NULL
    nn_graph *graph;                    // the forward, recorded (nn_graphs), or NULL
};

typedef struct {
    int training;
    float *base;                // NULL while sizing
    size_t used;                // private floats handed out so far
    size_t slot_size[S_COUNT];  // sizing pass: the largest request per slot
    size_t slot_off[S_COUNT];   // pointer pass: where each slot starts
} planner;

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }  // 64-byte alignment

static float *take_private(planner *pl, size_t n) {
    float *r = pl->base ? pl->base + pl->used : NULL;
    pl->used += round16(n);
    return r;
}

static float *take(planner *pl, int slot, size_t n, int kept) {
    if (kept && pl->training) return take_private(pl, n);
    if (!pl->base) {
        if (round16(n) > pl->slot_size[slot]) pl->slot_size[slot] = round16(n);
        return NULL;
    }
    return pl->base + pl->slot_off[slot];
}

static int n_groups(const model *m) { return m->cfg.fe_groups + 2 * m->cfg.groups; }

// Upsampler stage k's output area in LR pixels per LR pixel: (up_in[k] s_k)^2.
static size_t up_out_area(const model_plan *p, const model *m, int k) {
    size_t r = (size_t)p->up_in[k] * m->up_scale[k];
    return r * r;
}

// Hands out every buffer of p (see the file comment). Group and block outputs alternate
// between two slots, so in inference a layer never writes over its own input.
static void assign(model_plan *p, const model *m, planner *pl) {
    const model_config *c = &m->cfg;
    size_t map = p->map, hr = map * c->scale * c->scale;
    size_t lr3 = (size_t)p->N * p->H * p->W * 3, hr3 = lr3 * c->scale * c->scale;
    size_t att_saved = p->att ? attention_saved_floats(p->att) : 0;

    p->input = take_private(pl, lr3);
    p->out[OUT_SR] = take_private(pl, hr3);
    // SR alone: the structure branch's output conv writes SR's buffer, then SR += T
    p->out[OUT_S] = p->sr_only ? p->out[OUT_SR] : take_private(pl, hr3);
    p->x0 = take(pl, S_X0, map, 1);
    // inference: T over x0's slot (y's too), whose last reader, the texture's upsampler
    // conv, has run by then; nothing writes there after it
    p->out[OUT_T] = take(pl, S_X0, hr3, 1);
    // Inference: a body's maps rotate among three slots: a group's input in one, its
    // blocks' outputs alternating in the other two, its output in whichever holds
    // neither its input nor the last block's output (and is the next group's input).
    // Training: group and block outputs alternate in G0/G1 and B0/B1 (kept: private).
    const int rot[3] = {S_G0, S_B0, S_B1};
    int in_r = -1;  // the rotation slot with the group's input; -1: none (x0 or f)
    for (int g = 0, gb = 0; g < n_groups(m); g++) {
        if (g == 0 || g == c->fe_groups || g == c->fe_groups + c->groups) in_r = -1;  // a body's first
        int blk[2], nb = 0;  // the blocks' two slots: the rotation's others
        for (int i = 0; i < 3; i++)
            if (i != in_r && nb < 2) blk[nb++] = i;
        for (int b = 0; b < c->blocks; b++, gb++) {
            rb_acts *a = &p->rb[gb];
            const int out_slot = p->training ? (b % 2 ? S_B1 : S_B0) : rot[blk[b % 2]];
            // inference with attention: the block's output over its a1, dead once conv2
            // has run (att none: conv2 writes the output from a1, so not there)
            a->a1 = take(pl, !p->training && p->att ? out_slot : S_A1, p->a1n, 1);
            // att none: conv2 writes the block's output directly, so there is no a2
            a->a2 = p->att ? take(pl, S_A2, p->a2n, 1) : NULL;
            a->att = att_saved ? take(pl, S_ATT, att_saved, 1) : NULL;
            a->out = take(pl, out_slot, map, 1);
        }
        const int last = blk[(c->blocks - 1) % 2];
        const int g_r = in_r < 0 ? 3 - blk[0] - blk[1] : 3 - in_r - last;  // neither input nor last
        p->g_out[g] = take(pl, p->training ? (g % 2 ? S_G1 : S_G0) : rot[g_r], map, 1);
        in_r = g_r;
    }
    p->f = take(pl, S_F, map, 1);
    for (int br = 0; br < 2; br++) p->y[br] = take(pl, S_X0, map, 1);  // x0 is dead once f exists
    for (int k = 0; k < m->n_up; k++) {
        size_t out = map * up_out_area(p, m, k);  // the stage's output, before and after the shuffle
        // inference: each stage over the one before it (its input is dead once its conv ran)
        int slot = p->training ? k : p->shuffle_inplace ? k % 2 : 0;  // in place: over the last but one
        for (int br = 0; br < 2; br++) p->sh[k][br] = take(pl, S_SH + slot, out, 1);
        p->up[k] = p->shuffle_inplace ? p->sh[k][0] : take(pl, S_UP + slot, out, 0);
    }
    if (!p->training) return;
    for (int i = 0; i < 5; i++) p->d[i] = take(pl, S_D0 + i, AS_MAX(map, AS_MAX(p->a1n, p->a2n)), 0);  // d_a1, d_a2
    p->df[0] = take(pl, S_DF_S, map, 0);
    p->df[1] = take(pl, S_DF_T, map, 0);
    // the stages' gradients, none larger than the output's map
    p->d_up = take(pl, S_D_UP, hr, 0);
    p->d_hr[0] = take(pl, S_D_HR0, hr, 0);
    p->d_hr[1] = m->n_up > 1 ? take(pl, S_D_HR1, hr, 0) : NULL;
    if (p->att) p->att_scratch = take(pl, S_ATT_SCRATCH, attention_scratch_floats(p->att), 0);
    p->dw_tmp = take(pl, S_DW_TMP, (size_t)c->feats * c->feats * 9 + c->feats, 0);
}

void model_plan_free(model_plan *p) {
    if (!p) return;
    conv_destroy(p->c_head);
    conv_destroy(p->c_cc);
    conv_destroy(p->c_rb1);
    conv_destroy(p->c_rb2);
    for (int k = 0; k < MODEL_MAX_UP; k++) conv_destroy(p->c_up[k]);
    conv_destroy(p->c_out);
    attention_destroy(p->att);
    nn_graph_free(p->dev, p->graph);
    nn_free(p->dev, p->workspace);
    nn_free(p->dev, p->w);
    free(p->rb);
    free(p->g_out);
    if (p->dev == NN_CPU)
        as_pages_free(p->arena, p->arena_floats * sizeof(float));
    else
        nn_free(p->dev, p->arena);
    free(p);
}

// The layers run one at a time, so one buffer of the largest workspace serves all.
static int share_workspace(model_plan *p) {
    nn_conv *convs[5 + MODEL_MAX_UP] = {p->c_head, p->c_cc, p->c_rb1, p->c_rb2, p->c_out};
    for (int k = 0; k < MODEL_MAX_UP; k++) convs[5 + k] = p->c_up[k];
    const int n = 5 + MODEL_MAX_UP;
    size_t bytes = p->att ? attention_workspace_bytes(p->att) : 0;
    for (int i = 0; i < n; i++)
        if (convs[i]) bytes = AS_MAX(bytes, conv_workspace_bytes(convs[i]));
    if (!bytes) return 0;
    if (!(p->workspace = nn_alloc(p->dev, bytes))) return -1;
    p->workspace_bytes = bytes;
    for (int i = 0; i < n; i++)
        if (convs[i] && conv_set_workspace(convs[i], p->workspace)) return -1;
    return p->att ? attention_set_workspace(p->att, p->workspace) : 0;
}

model_plan *model_plan_create(const model *m, int N, int H, int W, int mode) {
    return model_plan_create_within(m, N, H, W, mode, 0);
}

model_plan *model_plan_create_within(const model *m, int N, int H, int W, int mode, size_t max_bytes) {
    const int training = mode == MODEL_TRAIN;
    const model_config *c = &m->cfg;
    if (mode != MODEL_INFER && mode != MODEL_TRAIN && mode != MODEL_INFER_SR) {
        as_errorf("model_plan_create: unknown mode %d", mode);
        return NULL;
    }
    if (N < 1 || as_check_pixels("model input", W, (int64_t)H * N * c->scale * c->scale)) {
        if (N < 1) as_errorf("batch size %d must be at least 1", N);
        return NULL;
    }
    if (!model_on_device(c, nn_get_device(), training)) return NULL;
    model_plan *p = as_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->N = N, p->H = H, p->W = W, p->s = c->scale, p->training = training, p->dev = nn_get_device();
    p->sr_only = mode == MODEL_INFER_SR;
    if (p->dev != NN_CPU && model_plan_sync_weights(p, m)) goto fail;
    p->map = (size_t)N * H * W * c->feats;
    int C = c->feats, s = c->scale;
    p->rb = as_calloc((size_t)n_groups(m) * c->blocks + 1, sizeof(rb_acts));
    p->g_out = as_calloc(n_groups(m) + 1, sizeof(float *));
    if (!p->rb || !p->g_out) goto fail;
    // how many layers each plan serves (conv.c caches Winograd kernels when all fit)
    int blocks = n_groups(m) * c->blocks;
    if (!(p->c_head = conv_create(N, H, W, 3, C, 3, training, NULL))) goto fail;
    conv_opts tails = {.layers = n_groups(m) + 3};  // the groups', fe's and branches' tails
    if (!(p->c_cc = conv_create(N, H, W, C, C, 3, training, &tails))) goto fail;
    conv_opts o1 = {.native_dst = 1, .lrelu = 1, .slope = c->leaky_slope, .layers = blocks};
    if (!(p->c_rb1 = conv_create(N, H, W, C, C, 3, training, &o1))) goto fail;
    conv_opts o2 = {.native_src = 1,
                    .src = conv_dst_layout(p->c_rb1),
                    .native_dst = attention_reads_native(c->attention),
                    .layers = blocks};
    if (!(p->c_rb2 = conv_create(N, H, W, C, C, 3, training, &o2))) goto fail;
    p->a1n = conv_dst_floats(p->c_rb1);
    p->a2n = conv_dst_floats(p->c_rb2);
    conv_opts two = {.layers = 2};  // one per branch
    for (int k = 0, r = 1; k < m->n_up; r *= m->up_scale[k++]) {
        int sk = m->up_scale[k];
        p->up_in[k] = r;
        if (!(p->c_up[k] = conv_create(N, r * H, r * W, C, sk * sk * C, 3, training, &two))) goto fail;
    }
    if (!(p->c_out = conv_create(N, s * H, s * W, C, 3, 3, training, &two))) goto fail;
    if (c->attention != ATT_NONE &&
        !(p->att = attention_create(c->attention, N, H, W, C, attention_hidden(C, c->ca_reduction), c->leaky_slope,
                                    training, o2.native_dst, conv_dst_layout(p->c_rb2))))
        goto fail;
    p->shuffle_inplace = !training && p->dev == NN_CPU;
    if (share_workspace(p)) goto fail;
    planner pl = {.training = training};
    assign(p, m, &pl);  // sizing
    // Inference: a branch's upsampling maps lie over the body's (groups, blocks), dead
    // once the branch's tail has run; the next branch's body starts after its output
    // conv. x2: 551 -> 359 floats per LR pixel, so larger tiles fit the same memory; on
    // the CPU, with each stage's shuffle in place (no S_UP), 295; with a block's output
    // over its a1 and the bodies' three-slot rotation (no S_A1, S_G1; see assign), 231;
    // with T over x0, 219; SR alone (S in SR's buffer), 207.
    size_t total = pl.used, body_end = 0;
    for (int i = 0; i < S_COUNT; i++) {
        if (!training && i == S_UP) body_end = total, total = pl.slot_off[S_G0];
        pl.slot_off[i] = total;
        total += pl.slot_size[i];
        if (!training && i == S_SH + MODEL_MAX_UP - 1) total = AS_MAX(total, body_end);
    }
    if (max_bytes && sizeof(float) * total + p->workspace_bytes > max_bytes) {  // nothing of it touched yet
        as_errorf("a plan for %dx%d needs %zu bytes, over the budget of %zu", W, H,
                  sizeof(float) * total + p->workspace_bytes, max_bytes);
        goto fail;
    }
    // the CPU's arena mapped at once (as_pages_alloc: fewer page faults in the first pass)
    p->arena = p->dev == NN_CPU ? as_pages_alloc(sizeof(float) * total) : nn_alloc(p->dev, sizeof(float) * total);
    if (!p->arena) goto fail;
    p->arena_floats = total;
    pl.base = p->arena;
    pl.used = 0;
    assign(p, m, &pl);  // pointers
    return p;
fail:
    model_plan_free(p);
    return NULL;
}

int model_plan_set_input(model_plan *p, const float *x) {
    return nn_upload(p->dev, p->input, x, sizeof(float) * p->N * p->H * p->W * 3);
}

int model_plan_get_output(const model_plan *p, int which, float *dst) {
    if (!model_plan_output(p, which)) return -1;
    return nn_download(p->dev, dst, p->out[which], sizeof(float) * model_plan_output_floats(p));
}

nn_device model_plan_device(const model_plan *p) { return p->dev; }

float *model_plan_weights(model_plan *p, const model *m) { return p->w ? p->w : m->w; }

int model_on_device(const model_config *cfg, nn_device d, int training) {
    return nn_device_available(d) && attention_on_device(cfg->attention, d, training);
}

int model_plan_sync_weights(model_plan *p, const model *m) {
    if (p->dev == NN_CPU) return 0;  // the layers read m->w itself
    size_t bytes = sizeof(float) * m->n_floats;
    if (!p->w && !(p->w = nn_alloc(p->dev, bytes))) return -1;
    return nn_upload(p->dev, p->w, m->w, bytes);
}
const float *model_plan_output(const model_plan *p, int which) {
    if (which < 0 || which >= OUT_COUNT || (p->sr_only && which != OUT_SR)) {
        as_errorf("model_plan_output: output %d is not kept by this plan", which);
        return NULL;
    }
    return p->out[which];
}
size_t model_plan_bytes(const model_plan *p) { return p->arena_floats * sizeof(float) + p->workspace_bytes; }
size_t model_plan_output_floats(const model_plan *p) { return (size_t)p->N * p->H * p->W * 3 * p->s * p->s; }

// ---- forward ------------------------------------------------------------------------

// the weights the layers read: the model's own on the CPU, the plan's copy elsewhere
static const float *weights(const model_plan *p, const model *m) { return p->w ? p->w : m->w; }
#define W_(i) (weights(p, m) + m->info[(i)].offset)      // a tensor of the model
#define B_(i) (weights(p, m) + m->info[(i) + 1].offset)  // the bias after a conv weight

static void att_params(const model_plan *p, const model *m, int first, const float *out[ATT_MAX_PARAMS]) {
    for (int i = 0; i < attention_num_params(m->cfg.attention); i++) out[i] = W_(first + i);
}

// RB(x) = x + att(conv2(lrelu(conv1(x))))
static int rb_forward(model_plan *p, const model *m, const rb_index *ri, const rb_acts *a, const float *in) {
    if (conv_forward(p->c_rb1, a->a1, in, W_(ri->conv1), B_(ri->conv1))) return -1;  // + LeakyReLU
    if (!p->att) {  // out = conv2(a1) + in: a2 is not needed by backward, never stored
        return conv_forward_add(p->c_rb2, a->out, a->a1, W_(ri->conv2), B_(ri->conv2), in);
    }
    if (conv_forward(p->c_rb2, a->a2, a->a1, W_(ri->conv2), B_(ri->conv2))) return -1;
    const float *params[ATT_MAX_PARAMS];
    att_params(p, m, ri->att, params);
    return attention_forward_add(p->att, a->out, a->att, a->a2, in, params);  // in + att(a2)
}

// RG(x) = g.tail(RB...(x)) + x
static int rg_forward(model_plan *p, const model *m, int g, const float *in) {
    const float *x = in;
    for (int b = 0; b < m->cfg.blocks; b++) {
        int gb = g * m->cfg.blocks + b;
        if (rb_forward(p, m, &m->blocks[gb], &p->rb[gb], x)) return -1;
        x = p->rb[gb].out;
    }
    return conv_forward_add(p->c_cc, p->g_out[g], x, W_(m->group_tail[g]), B_(m->group_tail[g]), in);
}

// out = tail(RG[first+n-1](...RG[first](in))) + in
static int body_forward(model_plan *p, const model *m, int first, int n, int tail, const float *in, float *out) {
    const float *x = in;
    for (int g = first; g < first + n; g++) {
        if (rg_forward(p, m, g, x)) return -1;
        x = p->g_out[g];
    }
    return conv_forward_add(p->c_cc, out, x, W_(tail), B_(tail), in);
}

// y = tail(groups(f)) + f; then each upsampler stage (conv, PixelShuffle); then out.
static int branch_forward(model_plan *p, const model *m, int br) {
    const model_config *c = &m->cfg;
    if (body_forward(p, m, c->fe_groups + br * c->groups, c->groups, m->br_tail[br], p->f, p->y[br])) return -1;
    const float *x = p->y[br];
    for (int k = 0; k < m->n_up; k++) {
        const int w = m->up[br][k], r = p->up_in[k];
        if (conv_forward(p->c_up[k], p->up[k], x, W_(w), B_(w))) return -1;
        if (p->shuffle_inplace) {  // y (dead: stage 0's conv has read it) holds the scratch rows
            size_t row = (size_t)r * p->W * c->feats * m->up_scale[k] * m->up_scale[k];
            int rows = (int)AS_MIN((size_t)omp_get_max_threads(), p->map / row);
            if (pixel_shuffle_forward_inplace(p->up[k], p->y[br], rows, p->N, r * p->H, r * p->W, c->feats,
                                              m->up_scale[k]))
                return -1;
        } else {
            pixel_shuffle_forward(p->sh[k][br], p->up[k], p->N, r * p->H, r * p->W, c->feats, m->up_scale[k]);
        }
        x = p->sh[k][br];
    }
    return conv_forward(p->c_out, p->out[OUT_S + br], x, W_(m->out[br]), B_(m->out[br]));
}

// Every layer, queued (on a GPU, without waiting for them).
static int forward_layers(model_plan *p, const model *m) {
    const model_config *c = &m->cfg;
    if (conv_forward(p->c_head, p->x0, p->input, W_(m->head), B_(m->head))) return -1;
    if (body_forward(p, m, 0, c->fe_groups, m->fe_tail, p->x0, p->f)) return -1;
    for (int br = 0; br < 2; br++)
        if (branch_forward(p, m, br)) return -1;
    size_t n = (size_t)p->N * p->H * p->W * 3 * c->scale * c->scale;
    add_forward(p->out[OUT_SR], p->out[OUT_S], p->out[OUT_T], n);  // SR alone: in place, S is SR
    return 0;
}

int model_forward(model_plan *p, const model *m) {
    // On a GPU with graphs (nn_graphs), the first forward records the layers' hundreds of
    // launches and every forward replays them as one: the plan's buffers and weights
    // stay where they are, and the weights' values are read at each replay.
    if (!p->graph && nn_graphs(p->dev)) {
        if (nn_graph_begin(p->dev)) return -1;
        int rc = forward_layers(p, m);
        if (nn_graph_end(p->dev, &p->graph) || rc) return -1;
    }
    if (p->graph ? nn_graph_replay(p->dev, p->graph) : forward_layers(p, m)) return -1;
    return nn_sync(p->dev);  // the GPU's errors surface here, and timings mean the work
}

// ---- backward -----------------------------------------------------------------------
// Each *_backward turns the gradient of its output, held in d[0] of the buffers it is
// given, into the gradient of its input, in place; the other buffers are scratch.

#define GW_(i) (grads + m->info[(i)].offset)
#define GB_(i) (grads + m->info[(i) + 1].offset)

// Tells the hooks that the gradients of parameters [first, last) are final.
static void ready(const model_plan *p, int first, int last) {
    if (p->hooks && p->hooks->ready && last > first) p->hooks->ready(p->hooks->ctx, first, last);
}

// One past a block's last tensor: conv1, conv2, then the attention module's (model.c).
static int block_end(const model *m, const rb_index *ri) {
    return ri->conv2 + 2 + attention_num_params(m->cfg.attention);
}

// A conv layer's weight and bias are final.
static void conv_ready(const model_plan *p, int weight) { ready(p, weight, weight + 2); }

static int rb_backward(model_plan *p, const model *m, float *grads, int gb, const float *in, float *d_out, float *t1,
                       float *t2) {
    const rb_index *ri = &m->blocks[gb];
    const rb_acts *a = &p->rb[gb];
    const float *d_a2 = d_out;  // att none: out = in + a2
    if (p->att) {
        const float *params[ATT_MAX_PARAMS];
        float *d_params[ATT_MAX_PARAMS];
        att_params(p, m, ri->att, params);
        for (int i = 0; i < attention_num_params(m->cfg.attention); i++) d_params[i] = GW_(ri->att + i);
        if (attention_backward(p->att, t1, d_params, p->att_scratch, d_out, a->att, a->a2, params)) return -1;
        d_a2 = t1;
    }
    if (conv_backward(p->c_rb2, t2, GW_(ri->conv2), GB_(ri->conv2), d_a2, a->a1, W_(ri->conv2))) return -1;
    // a1 is post-activation (same sign); t2 and a1 share c_rb1's output layout
    lrelu_backward(t2, t2, a->a1, p->a1n, m->cfg.leaky_slope);
    if (conv_backward(p->c_rb1, t1, GW_(ri->conv1), GB_(ri->conv1), t2, in, W_(ri->conv1))) return -1;
    ready(p, ri->conv1, block_end(m, ri));
    add_inplace(d_out, t1, p->map);
    return 0;
}

// d (in/out): gradient of g_out[g] -> gradient of the group's input. t: 3 scratch maps.
static int rg_backward(model_plan *p, const model *m, float *grads, int g, const float *in, float *d, float **t) {
    int B = m->cfg.blocks, gb0 = g * B;
    const float *last = B ? p->rb[gb0 + B - 1].out : in;
    if (conv_backward(p->c_cc, t[0], GW_(m->group_tail[g]), GB_(m->group_tail[g]), d, last, W_(m->group_tail[g])))
        return -1;
    conv_ready(p, m->group_tail[g]);
    for (int b = B - 1; b >= 0; b--) {
        const float *x = b ? p->rb[gb0 + b - 1].out : in;
        if (rb_backward(p, m, grads, gb0 + b, x, t[0], t[1], t[2])) return -1;
    }
    add_inplace(d, t[0], p->map);
    return 0;
}

// Backward through groups first..first+n-1 given the gradient of the last group's
// output in d; leaves the gradient of `in` (their input) accumulated into d_in.
static int groups_backward(model_plan *p, const model *m, float *grads, int first, int n, const float *in, float *d) {
    float *t[3] = {p->d[2], p->d[3], p->d[4]};
    for (int g = first + n - 1; g >= first; g--) {
        const float *x = g > first ? p->g_out[g - 1] : in;
        if (rg_backward(p, m, grads, g, x, d, t)) return -1;
    }
    return 0;
}

// From d_out (N, sH, sW, 3) of branch br to its contribution to d_f (written to df).
static int branch_backward(model_plan *p, const model *m, float *grads, int br, const float *d_out, float *df) {
    const model_config *c = &m->cfg;
    const int n = m->n_up, N = p->N, H = p->H, W = p->W, C = c->feats;
    float *d = p->d_hr[0];  // the gradient of the current stage's output
    if (conv_backward(p->c_out, d, GW_(m->out[br]), GB_(m->out[br]), d_out, p->sh[n - 1][br], W_(m->out[br])))
        return -1;
    conv_ready(p, m->out[br]);
    // the stages from the last; stage 0's input gradient is d(y), y = tail(groups(f)) + f,
    // written to df, where the skip's share stays
    for (int k = n - 1; k >= 0; k--) {
        const int w = m->up[br][k], r = p->up_in[k];
        pixel_shuffle_backward(p->d_up, d, N, r * H, r * W, C, m->up_scale[k]);
        float *dx = k ? p->d_hr[(n - k) % 2] : df;
        if (conv_backward(p->c_up[k], dx, GW_(w), GB_(w), p->d_up, k ? p->sh[k - 1][br] : p->y[br], W_(w))) return -1;
        conv_ready(p, w);
        d = dx;
    }
    int first = c->fe_groups + br * c->groups;
    const float *x = c->groups ? p->g_out[first + c->groups - 1] : p->f;
    if (conv_backward(p->c_cc, p->d[1], GW_(m->br_tail[br]), GB_(m->br_tail[br]), df, x, W_(m->br_tail[br]))) return -1;
    conv_ready(p, m->br_tail[br]);
    if (groups_backward(p, m, grads, first, c->groups, p->f, p->d[1])) return -1;
    add_inplace(df, p->d[1], p->map);
    return 0;
}

static int backward(model_plan *p, const model *m, float *grads, const float *d_s, const float *d_t,
                    double branch_norm[2]) {
    const model_config *c = &m->cfg;
    if (branch_backward(p, m, grads, 0, d_s, p->df[0]) || branch_backward(p, m, grads, 1, d_t, p->df[1])) return -1;
    // f = fe.tail(groups(x0)) + x0. fe.tail's weight gradient is taken per branch so
    // that GradNorm sees each task's share; the two are then summed.
    const float *x = c->fe_groups ? p->g_out[c->fe_groups - 1] : p->x0;
    int ft = m->fe_tail;
    size_t wn = m->info[ft].numel, bn = m->info[ft + 1].numel;
    float *dw_t = p->dw_tmp, *db_t = p->dw_tmp + wn;
    if (conv_backward(p->c_cc, p->d[0], GW_(ft), GB_(ft), p->df[0], x, W_(ft)) ||
        conv_backward(p->c_cc, p->d[1], dw_t, db_t, p->df[1], x, W_(ft)))
        return -1;
    branch_norm[0] = sqrt(nn_sum_sq(GW_(ft), wn));
    branch_norm[1] = sqrt(nn_sum_sq(dw_t, wn));
    if (p->hooks && p->hooks->fe_tail_split) {
        const float *const dw[2] = {GW_(ft), dw_t};
        p->hooks->fe_tail_split(p->hooks->ctx, dw, wn);
    }
    add_inplace(GW_(ft), dw_t, wn);
    add_inplace(GB_(ft), db_t, bn);
    conv_ready(p, ft);
    add_inplace(p->d[0], p->d[1], p->map);    // gradient of the fe groups' output
    add_inplace(p->df[0], p->df[1], p->map);  // gradient of f, which is also x0's skip share
    if (groups_backward(p, m, grads, 0, c->fe_groups, p->x0, p->d[0])) return -1;
    add_inplace(p->df[0], p->d[0], p->map);  // gradient of x0
    if (conv_backward(p->c_head, NULL, GW_(m->head), GB_(m->head), p->df[0], p->input, W_(m->head))) return -1;
    conv_ready(p, m->head);
    return 0;
}

int model_backward(model_plan *p, const model *m, float *grads, const float *d_s, const float *d_t,
                   double branch_norm[2], const model_backward_hooks *hooks) {
    if (!p->training) return as_errorf("model_backward needs a plan created for training");
    p->hooks = hooks;
    int rc = backward(p, m, grads, d_s, d_t, branch_norm);
    p->hooks = NULL;
    return rc;
}
