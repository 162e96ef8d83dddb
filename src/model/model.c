// model: the docs/spec.md §3 network's configuration, parameter table (names, shapes,
// offsets), initialisation and FLOP count. Its forward and backward passes are
// model_plan.c's; the weight file is model_io.c's. See model.h.
#include "model/model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

model_config model_config_default(void) {
    return (model_config){.scale = 2,
                          .feats = 64,
                          .fe_groups = 1,
                          .groups = 3,
                          .blocks = 20,
                          .attention = ATT_NONE,
                          .ca_reduction = 16,
                          .leaky_slope = 0.2f};
}

int model_config_check(const model_config *c) {
    if (c->scale < 2 || c->scale > 4) return as_errorf("unsupported scale %d (2, 3 or 4)", c->scale);
    if (c->feats < 1 || c->feats > 1024) return as_errorf("feats %d out of range (1..1024)", c->feats);
    if (c->fe_groups < 0 || c->fe_groups > 64) return as_errorf("fe_groups %d out of range (0..64)", c->fe_groups);
    if (c->groups < 0 || c->groups > 64) return as_errorf("groups %d out of range (0..64)", c->groups);
    if (c->blocks < 0 || c->blocks > 256) return as_errorf("blocks %d out of range (0..256)", c->blocks);
    if (c->ca_reduction < 1) return as_errorf("ca_reduction %d must be at least 1", c->ca_reduction);
    if (!(c->leaky_slope > 0.0f && c->leaky_slope < 1.0f))
        return as_errorf("leaky_slope %g out of range (0, 1)", c->leaky_slope);
    if ((unsigned)c->attention >= ATT_COUNT) return as_errorf("unknown attention kind %d", c->attention);
    return 0;
}

// ---- parameter table ----------------------------------------------------------------

typedef struct {
    model *m;
    int cap;
} table_builder;

static int add_tensor(table_builder *tb, const char *name, int ndim, int64_t s0, int64_t s1, int64_t s2, int64_t s3) {
    model *m = tb->m;
    if (m->n_params == tb->cap) {
        tb->cap = tb->cap ? 2 * tb->cap : 256;
        param_info *p = realloc(m->info, sizeof(param_info) * tb->cap);
        if (!p) return as_errorf("out of memory");
        m->info = p;
    }
    param_info *t = &m->info[m->n_params];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    int64_t s[4] = {s0, s1, s2, s3};
    t->ndim = ndim;
    t->numel = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = s[d];
        t->numel *= (size_t)s[d];
    }
    t->offset = m->n_floats;
    m->n_floats += t->numel;
    return m->n_params++;
}

// Adds prefix.weight (cout, cin, k, k) and prefix.bias (cout); returns the weight's index.
static int add_conv(table_builder *tb, const char *prefix, int cout, int cin, int k) {
    char name[128];
    snprintf(name, sizeof name, "%s.weight", prefix);
    int w = add_tensor(tb, name, 4, cout, cin, k, k);
    snprintf(name, sizeof name, "%s.bias", prefix);
    if (w < 0 || add_tensor(tb, name, 1, cout, 0, 0, 0) < 0) return -1;
    return w;
}

// The attention module's tensors, as nn describes them; returns the first index (or
// -2: none).
static int add_attention(table_builder *tb, const char *prefix, const model_config *c) {
    attention_param p[ATT_MAX_PARAMS];
    int n = attention_params(c->attention, c->feats, attention_hidden(c->feats, c->ca_reduction), p);
    int first = -2;
    for (int i = 0; i < n; i++) {
        char name[128];
        snprintf(name, sizeof name, "%s.%s", prefix, p[i].name);
        int k = add_tensor(tb, name, p[i].ndim, p[i].shape[0], p[i].shape[1], p[i].shape[2], p[i].shape[3]);
        if (k < 0) return -1;
        if (i == 0) first = k;
    }
    return first;
}

// One residual group's tensors: blocks, then tail. gi: its index over all groups.
static int add_group(table_builder *tb, const char *prefix, int gi) {
    model *m = tb->m;
    int C = m->cfg.feats;
    char name[64];  // prefix (< 32) + ".blocks.N.conv1"
    for (int b = 0; b < m->cfg.blocks; b++) {
        rb_index *ri = &m->blocks[gi * m->cfg.blocks + b];
        snprintf(name, sizeof name, "%s.blocks.%d.conv1", prefix, b);
        ri->conv1 = add_conv(tb, name, C, C, 3);
        snprintf(name, sizeof name, "%s.blocks.%d.conv2", prefix, b);
        ri->conv2 = add_conv(tb, name, C, C, 3);
        snprintf(name, sizeof name, "%s.blocks.%d.att", prefix, b);
        ri->att = add_attention(tb, name, &m->cfg);
        if (ri->conv1 < 0 || ri->conv2 < 0 || ri->att == -1) return -1;
    }
    snprintf(name, sizeof name, "%s.tail", prefix);
    m->group_tail[gi] = add_conv(tb, name, C, C, 3);
    return m->group_tail[gi] < 0 ? -1 : 0;
}

int model_up_stages(int scale, int s[MODEL_MAX_UP]) {
    if (scale == 4) {
        s[0] = s[1] = 2;
        return 2;
    }
    s[0] = scale;
    return 1;
}

static const char *const BRANCH_NAME[2] = {"structure", "texture"};

static int total_groups(const model_config *c) { return c->fe_groups + 2 * c->groups; }

int model_tensor_count(const model_config *c) {
    if ((unsigned)c->attention >= ATT_COUNT) return -1;                    // not a valid cfg
    int group = c->blocks * (4 + attention_num_params(c->attention)) + 2;  // blocks (2 convs + attention), tail
    int up[MODEL_MAX_UP],
        branch = c->groups * group + 2 + 2 * model_up_stages(c->scale, up) + 2;  // groups, tail, up, out
    return 2 + c->fe_groups * group + 2 + 2 * branch;                            // head, groups, tail, the two branches
}

int model_create(model *m, const model_config *cfg) {
    return model_create_table(m, cfg) || model_alloc_params(m) ? -1 : 0;
}

int model_alloc_params(model *m) {
    m->w = as_aligned_alloc(sizeof(float) * m->n_floats);
    if (!m->w) {
        model_free(m);
        return -1;
    }
    memset(m->w, 0, sizeof(float) * m->n_floats);
    return 0;
}

int model_create_table(model *m, const model_config *cfg) {
    memset(m, 0, sizeof *m);
    if (model_config_check(cfg)) return -1;
    m->cfg = *cfg;
    m->n_up = model_up_stages(cfg->scale, m->up_scale);
    int C = cfg->feats, G = total_groups(cfg);
    m->group_tail = as_calloc(G ? G : 1, sizeof(int));
    m->blocks = as_calloc((size_t)G * cfg->blocks + 1, sizeof(rb_index));
    if (!m->group_tail || !m->blocks) goto fail;
    table_builder tb = {m, 0};
    char name[32];
    if ((m->head = add_conv(&tb, "fe.head", C, 3, 3)) < 0) goto fail;
    for (int g = 0; g < cfg->fe_groups; g++) {
        snprintf(name, sizeof name, "fe.groups.%d", g);
        if (add_group(&tb, name, g)) goto fail;
    }
    if ((m->fe_tail = add_conv(&tb, "fe.tail", C, C, 3)) < 0) goto fail;
    for (int br = 0; br < 2; br++) {
        for (int g = 0; g < cfg->groups; g++) {
            snprintf(name, sizeof name, "%s.groups.%d", BRANCH_NAME[br], g);
            if (add_group(&tb, name, cfg->fe_groups + br * cfg->groups + g)) goto fail;
        }
        snprintf(name, sizeof name, "%s.tail", BRANCH_NAME[br]);
        if ((m->br_tail[br] = add_conv(&tb, name, C, C, 3)) < 0) goto fail;
        for (int k = 0; k < MODEL_MAX_UP; k++) m->up[br][k] = -1;
        for (int k = 0; k < m->n_up; k++) {
            int s = m->up_scale[k];
            snprintf(name, sizeof name, "%s.up.%d", BRANCH_NAME[br], k);
            if ((m->up[br][k] = add_conv(&tb, name, s * s * C, C, 3)) < 0) goto fail;
        }
        snprintf(name, sizeof name, "%s.out", BRANCH_NAME[br]);
        if ((m->out[br] = add_conv(&tb, name, 3, C, 3)) < 0) goto fail;
    }
    if (m->n_params != model_tensor_count(cfg)) {
        as_errorf("model: %d tensors, but model_tensor_count says %d", m->n_params, model_tensor_count(cfg));
        goto fail;
    }
    return 0;
fail:
    model_free(m);
    return -1;
}

void model_free(model *m) {
    free(m->info);
    free(m->w);
    free(m->group_tail);
    free(m->blocks);
    memset(m, 0, sizeof *m);
}

int model_find(const model *m, const char *name) {
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->info[i].name, name)) return i;
    return -1;
}

float *model_tensor(const model *m, int index) { return m->w + m->info[index].offset; }

// PyTorch's default for Conv2d and Linear: weight and bias uniform in +-1/sqrt(fan_in)
// (kaiming_uniform with a = sqrt(5) reduces to exactly that bound).
void model_init_params(model *m, uint64_t seed) {
    as_rng rng;
    as_rng_seed(&rng, seed);
    for (int i = 0; i < m->n_params; i++) {
        const param_info *t = &m->info[i];
        // a bias takes the fan-in of the weight just before it
        const param_info *w = t->ndim == 1 && i > 0 ? &m->info[i - 1] : t;
        double fan_in = 1;
        for (int d = 1; d < w->ndim; d++) fan_in *= (double)w->shape[d];
        double bound = 1.0 / sqrt(fan_in);
        float *p = m->w + t->offset;
        for (size_t j = 0; j < t->numel; j++) p[j] = (float)((2 * as_rng_uniform(&rng) - 1) * bound);
    }
}

// Forward multiply-adds x 2 of the conv whose weight is table entry w, at `pixels`
// output pixels.
static size_t conv_flops_at(const model *m, int w, size_t pixels) { return 2 * m->info[w].numel * pixels; }

size_t model_flops(const model *m, int H, int W) {
    const model_config *c = &m->cfg;
    const size_t lr = (size_t)H * W;
    const size_t att = attention_flops(c->attention, c->feats, attention_hidden(c->feats, c->ca_reduction), H, W);
    size_t flops = conv_flops_at(m, m->head, lr) + conv_flops_at(m, m->fe_tail, lr);
    for (int g = 0; g < total_groups(c); g++) {
        flops += conv_flops_at(m, m->group_tail[g], lr);
        for (int b = 0; b < c->blocks; b++) {
            const rb_index *ri = &m->blocks[g * c->blocks + b];
            flops += conv_flops_at(m, ri->conv1, lr) + conv_flops_at(m, ri->conv2, lr) + att;
        }
    }
    for (int br = 0; br < 2; br++) {
        flops += conv_flops_at(m, m->br_tail[br], lr);
        size_t px = lr;  // each stage's input pixels, then the output's
        for (int k = 0; k < m->n_up; k++) {
            flops += conv_flops_at(m, m->up[br][k], px);
            px *= (size_t)m->up_scale[k] * m->up_scale[k];
        }
        flops += conv_flops_at(m, m->out[br], px);
    }
    return flops;
}

// Along the longest path: fe.head, the groups (each block conv1, conv2 and the attention
// module's convolutions, e.g. SA4's 7x7, 5x5 and 3x3; then the group's tail), fe.tail, a branch's tail and up.0, all 3x3
// at LR; then x4's up.1 and the output conv, at 2x and s x. Those two reach less than
// one LR pixel, but into the neighbouring LR pixel's outputs: one more.
int model_receptive_radius(const model_config *c) {
    int block = 2 + attention_radius(c->attention), group = c->blocks * block + 1;
    return 1 + c->fe_groups * group + 1 + c->groups * group + 1 + 1 + 1;
}
