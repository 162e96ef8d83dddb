// Training checkpoints as safetensors: tensors "params", "adam.m", "adam.v" and, when
// the run keeps one, "ema" (flat, in the model's table order) and the rest as metadata
// strings. Doubles are printed with 17 significant digits, so they read back exactly.
#include "train/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/safetensors.h"

#define CKPT_VERSION "1"

int checkpoint_save(const char *path, const model *m, const float *adam_m, const float *adam_v,
                    const float *ema, const adam *opt, const gradnorm *gn, const train_state *st) {
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
    st_out_tensor t[4] = {{"params", 1, shape, m->w}, {"adam.m", 1, shape, adam_m}, {"adam.v", 1, shape, adam_v},
                          {"ema", 1, shape, ema}};
    return st_write(path, t, ema ? 4 : 3, keys, vals, n);
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

// Numbers used as they are (learning rates, GradNorm's state): finite. best_psnr may
// also be +inf (validation images reproduced exactly), never NaN or -inf.
static int meta_finite(const st_file *f, const char *key, double *out, int count, const char *path) {
    if (meta_num(f, key, out, count, path)) return -1;
    for (int i = 0; i < count; i++)
        if (!isfinite(out[i]) && !(out[i] > 0 && !strcmp(key, "best_psnr")))
            return as_errorf("%s: checkpoint field '%s' = '%s' is not a finite number", path, key, st_meta(f, key));
    return 0;
}

// The seed: a whole decimal uint64, exact (beyond a double's 53 bits).
static int meta_u64(const st_file *f, const char *key, uint64_t *out, const char *path) {
    const char *s = st_meta(f, key);
    if (!s) return as_errorf("%s: checkpoint field '%s' is missing", path, key);
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    if (errno || end == s || *end || *s < '0' || *s > '9')
        return as_errorf("%s: checkpoint field '%s' = '%s' is not an integer in [0, 2^64)", path, key, s);
    return 0;
}

// A number that is converted to an integer (or a float): it must be in [lo, hi] first,
// since the conversion of NaN or of a value out of the type's range is undefined.
static int meta_ranged(const st_file *f, const char *key, double lo, double hi, double *out, const char *path) {
    if (meta_num(f, key, out, 1, path)) return -1;
    if (!(*out >= lo && *out <= hi))
        return as_errorf("%s: checkpoint field '%s' = '%s' is out of range [%.17g, %.17g]", path, key,
                         st_meta(f, key), lo, hi);
    return 0;
}

#define MAX_STEP 9007199254740992.0  // 2^53: steps and counters, exact in a double

static int config_from(model_config *c, const st_file *f, const char *path) {
    *c = model_config_default();
    double d[9];
    static const char *ints[] = {"scale", "feats", "fe_groups", "groups", "blocks", "ca_reduction", "leaky_slope"};
    for (int i = 0; i < 7; i++)  // model_config_check judges the values; this only keeps the casts defined
        if (meta_ranged(f, ints[i], i < 6 ? INT_MIN : -1e6, i < 6 ? INT_MAX : 1e6, &d[i], path)) return -1;
    c->scale = (int)d[0], c->feats = (int)d[1], c->fe_groups = (int)d[2], c->groups = (int)d[3];
    c->blocks = (int)d[4], c->ca_reduction = (int)d[5], c->leaky_slope = (float)d[6];
    const char *att = st_meta(f, "attention");
    if (!att || attention_parse(att, &c->attention)) return as_errorf("%s: checkpoint attention is missing or unknown", path);
    if (model_config_check(c)) return as_errorf("%s: %s", path, as_error());
    return 0;
}

int checkpoint_load_memory(const void *data, size_t n, const char *path, model *m, float **adam_m,
                           float **adam_v, float **ema, adam *opt, gradnorm *gn, train_state *st) {
    st_file f;
    memset(m, 0, sizeof *m);
    *adam_m = *adam_v = *ema = NULL;
    if (st_read_memory(&f, data, n, path)) return -1;
    model_config cfg;
    const char *fmt = st_meta(&f, "format"), *ver = st_meta(&f, "version");
    if (!fmt || strcmp(fmt, "attsr-checkpoint")) {
        st_free(&f);
        return as_errorf("%s: not an attsr checkpoint", path);
    }
    if (!ver || strcmp(ver, CKPT_VERSION)) {
        // the message first: ver points into f
        as_errorf("%s: checkpoint version %s, this attsr reads version %s (start a new run)", path,
                  ver ? ver : "missing", CKPT_VERSION);
        st_free(&f);
        return -1;
    }
    double d[2], step, best, best_step, t, lr, en, alpha, gnlr, has;
    uint64_t seed = 0;
    // Each tensor has at least one element: a params tensor smaller than the table's
    // tensor count cannot fit, and the table (up to 590k entries) is not worth building.
    const st_tensor *params = st_find(&f, "params");
    int rc = config_from(&cfg, &f, path) ||
             ((!params || params->numel < (size_t)model_tensor_count(&cfg)) &&
              as_errorf("%s: checkpoint tensor 'params' is missing or has the wrong size", path)) ||
             model_create_table(m, &cfg) ||
             meta_ranged(&f, "step", 0, MAX_STEP, &step, path) || meta_finite(&f, "best_psnr", &best, 1, path) ||
             meta_ranged(&f, "best_step", -1, MAX_STEP, &best_step, path) || meta_u64(&f, "seed", &seed, path) ||
             meta_ranged(&f, "adam_t", 0, MAX_STEP, &t, path) || meta_finite(&f, "adam_lr", &lr, 1, path) ||
             meta_ranged(&f, "gn_enabled", 0, 1, &en, path) || meta_finite(&f, "gn_alpha", &alpha, 1, path) ||
             meta_finite(&f, "gn_lr", &gnlr, 1, path) || meta_ranged(&f, "gn_has_L0", 0, 1, &has, path);
    if (!rc) {
        st->seed = seed;
        st->step = (long)step, st->best_psnr = best, st->best_step = (long)best_step;
        adam_init(opt, lr);
        opt->t = (long)t;
        gradnorm_init(gn, (int)en, alpha, gnlr);
        gn->has_L0 = (int)has;
        rc = meta_finite(&f, "gn_w", d, 2, path);
        gn->w[0] = d[0], gn->w[1] = d[1];
        rc = rc || meta_finite(&f, "gn_L0", d, 2, path);
        gn->L0[0] = d[0], gn->L0[1] = d[1];
    }
    // The tensors are checked before anything of the model's size is allocated, so a
    // file's metadata cannot ask for more memory than the file holds.
    const char *names[4] = {"params", "adam.m", "adam.v", "ema"};
    const st_tensor *src[4] = {NULL, NULL, NULL, NULL};
    int n_src = st_find(&f, "ema") ? 4 : 3;  // the moving average is optional
    for (int i = 0; !rc && i < n_src; i++) {
        src[i] = st_find(&f, names[i]);
        if (!src[i] || src[i]->numel != m->n_floats)
            rc = as_errorf("%s: checkpoint tensor '%s' is missing or has the wrong size", path, names[i]);
    }
    if (!rc) {
        rc = model_alloc_params(m);
        *adam_m = as_malloc_array(m->n_floats, sizeof(float));
        *adam_v = as_malloc_array(m->n_floats, sizeof(float));
        if (n_src == 4) *ema = as_malloc_array(m->n_floats, sizeof(float));
        rc = rc || !*adam_m || !*adam_v || (n_src == 4 && !*ema);
    }
    float *dst[4] = {m->w, *adam_m, *adam_v, *ema};
    for (int i = 0; !rc && i < n_src; i++) memcpy(dst[i], src[i]->data, sizeof(float) * m->n_floats);
    st_free(&f);
    if (rc) {
        free(*adam_m);
        free(*adam_v);
        free(*ema);
        *adam_m = *adam_v = *ema = NULL;
        model_free(m);
        return -1;
    }
    return 0;
}

int checkpoint_load(const char *path, model *m, float **adam_m, float **adam_v, float **ema, adam *opt,
                    gradnorm *gn, train_state *st) {
    void *data;
    size_t n;
    memset(m, 0, sizeof *m);
    *adam_m = *adam_v = *ema = NULL;
    if (as_read_file(path, &data, &n, as_limits.max_alloc)) return -1;
    int rc = checkpoint_load_memory(data, n, path, m, adam_m, adam_v, ema, opt, gn, st);
    free(data);
    return rc;
}
