// Training checkpoints as safetensors: tensors "params", "adam.m", "adam.v" (flat, in
// the model's table order) and the rest as metadata strings. Doubles are printed with
// 17 significant digits, so they read back exactly.
#include "train/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/safetensors.h"

#define CKPT_VERSION "1"

int checkpoint_save(const char *path, const model *m, const float *adam_m, const float *adam_v,
                    const adam *opt, const gradnorm *gn, const train_state *st) {
    const model_config *c = &m->cfg;
    char v[24][48];
    const char *keys[24], *vals[24];
    int n = 0;
#define META(k, ...) (keys[n] = (k), snprintf(v[n], sizeof v[n], __VA_ARGS__), vals[n] = v[n], n++)
    META("format", "attsr-checkpoint");
    META("version", CKPT_VERSION);
    META("scale", "%d", c->scale);
    META("feats", "%d", c->feats);
    META("fe_groups", "%d", c->fe_groups);
    META("groups", "%d", c->groups);
    META("blocks", "%d", c->blocks);
    META("attention", "%s", attention_name(c->attention));
    META("ca_reduction", "%d", c->ca_reduction);
    META("leaky_slope", "%.9g", c->leaky_slope);
    META("step", "%ld", st->step);
    META("best_psnr", "%.17g", st->best_psnr);
    META("best_step", "%ld", st->best_step);
    META("seed", "%" PRIu64, st->seed);
    META("adam_t", "%ld", opt->t);
    META("adam_lr", "%.17g", opt->lr);
    META("gn_enabled", "%d", gn->enabled);
    META("gn_alpha", "%.17g", gn->alpha);
    META("gn_lr", "%.17g", gn->lr);
    META("gn_w", "%.17g %.17g", gn->w[0], gn->w[1]);
    META("gn_L0", "%.17g %.17g", gn->L0[0], gn->L0[1]);
    META("gn_has_L0", "%d", gn->has_L0);
#undef META
    int64_t shape[1] = {(int64_t)m->n_floats};
    st_out_tensor t[3] = {{"params", 1, shape, m->w}, {"adam.m", 1, shape, adam_m}, {"adam.v", 1, shape, adam_v}};
    return st_write(path, t, 3, keys, vals, n);
}

static int meta_num(const st_file *f, const char *key, double *out, int count, const char *path) {
    const char *s = st_meta(f, key);
    if (!s) return as_errorf("%s: checkpoint field '%s' is missing", path, key);
    char *end = (char *)s;
    for (int i = 0; i < count; i++) {
        const char *start = end;
        errno = 0;
        out[i] = strtod(start, &end);
        if (errno || end == start) return as_errorf("%s: checkpoint field '%s' = '%s' is not a number", path, key, s);
    }
    if (*end) return as_errorf("%s: checkpoint field '%s' = '%s' has trailing text", path, key, s);
    return 0;
}

static int config_from(model_config *c, const st_file *f, const char *path) {
    *c = model_config_default();
    double d[9];
    static const char *ints[] = {"scale", "feats", "fe_groups", "groups", "blocks", "ca_reduction", "leaky_slope"};
    for (int i = 0; i < 7; i++)
        if (meta_num(f, ints[i], &d[i], 1, path)) return -1;
    c->scale = (int)d[0], c->feats = (int)d[1], c->fe_groups = (int)d[2], c->groups = (int)d[3];
    c->blocks = (int)d[4], c->ca_reduction = (int)d[5], c->leaky_slope = (float)d[6];
    const char *att = st_meta(f, "attention");
    if (!att || attention_parse(att, &c->attention)) return as_errorf("%s: checkpoint attention is missing or unknown", path);
    if (model_config_check(c)) return as_errorf("%s: %s", path, as_error());
    return 0;
}

int checkpoint_load(const char *path, model *m, float **adam_m, float **adam_v, adam *opt,
                    gradnorm *gn, train_state *st) {
    st_file f;
    memset(m, 0, sizeof *m);
    *adam_m = *adam_v = NULL;
    if (st_read(&f, path)) return -1;
    model_config cfg;
    const char *fmt = st_meta(&f, "format"), *ver = st_meta(&f, "version");
    if (!fmt || strcmp(fmt, "attsr-checkpoint")) {
        st_free(&f);
        return as_errorf("%s: not an attsr checkpoint", path);
    }
    if (!ver || strcmp(ver, CKPT_VERSION)) {
        st_free(&f);
        return as_errorf("%s: checkpoint version %s, this attsr reads version %s (start a new run)", path,
                         ver ? ver : "missing", CKPT_VERSION);
    }
    double d[2], step, best, best_step, seed, t, lr, en, alpha, gnlr, has;
    int rc = config_from(&cfg, &f, path) || model_create(m, &cfg) || meta_num(&f, "step", &step, 1, path) ||
             meta_num(&f, "best_psnr", &best, 1, path) || meta_num(&f, "best_step", &best_step, 1, path) ||
             meta_num(&f, "seed", &seed, 1, path) || meta_num(&f, "adam_t", &t, 1, path) ||
             meta_num(&f, "adam_lr", &lr, 1, path) || meta_num(&f, "gn_enabled", &en, 1, path) ||
             meta_num(&f, "gn_alpha", &alpha, 1, path) || meta_num(&f, "gn_lr", &gnlr, 1, path) ||
             meta_num(&f, "gn_has_L0", &has, 1, path);
    if (!rc) {
        const char *seed_s = st_meta(&f, "seed");
        st->seed = strtoull(seed_s, NULL, 10);  // exact, beyond double's 53 bits
        st->step = (long)step, st->best_psnr = best, st->best_step = (long)best_step;
        adam_init(opt, lr);
        opt->t = (long)t;
        gradnorm_init(gn, (int)en, alpha, gnlr);
        gn->has_L0 = (int)has;
        rc = meta_num(&f, "gn_w", d, 2, path);
        gn->w[0] = d[0], gn->w[1] = d[1];
        rc = rc || meta_num(&f, "gn_L0", d, 2, path);
        gn->L0[0] = d[0], gn->L0[1] = d[1];
    }
    const char *names[3] = {"params", "adam.m", "adam.v"};
    float *dst[3] = {m->w, NULL, NULL};
    if (!rc) {
        *adam_m = dst[1] = as_malloc_array(m->n_floats, sizeof(float));
        *adam_v = dst[2] = as_malloc_array(m->n_floats, sizeof(float));
        rc = !dst[1] || !dst[2];
    }
    for (int i = 0; !rc && i < 3; i++) {
        const st_tensor *tt = st_find(&f, names[i]);
        if (!tt || tt->numel != m->n_floats)
            rc = as_errorf("%s: checkpoint tensor '%s' is missing or has the wrong size", path, names[i]);
        else
            memcpy(dst[i], tt->data, sizeof(float) * m->n_floats);
    }
    st_free(&f);
    if (rc) {
        free(*adam_m);
        free(*adam_v);
        *adam_m = *adam_v = NULL;
        model_free(m);
        return -1;
    }
    return 0;
}
