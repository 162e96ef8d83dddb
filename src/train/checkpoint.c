// Training checkpoints as safetensors: tensors "params", "adam.m", "adam.v" and, when
// the run keeps one, "ema" (flat, in the model's table order) and the rest as metadata
// strings. Doubles are printed with 17 significant digits, so they read back exactly.
// One table (FIELDS, TENSORS) says what a checkpoint holds; save and load both walk it.
#include "train/checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/safetensors.h"

#define CKPT_VERSION "1"
#define MAX_STEP 9007199254740992.0  // 2^53: steps and counters, exact in a double

// How a field is printed and read back: an int, a long, a float (9 digits), one or two
// finite doubles (17 digits), a uint64 (the seed: exact beyond a double's 53 bits), an
// attention kind by name.
typedef enum { K_INT, K_LONG, K_FLOAT, K_DOUBLE, K_PAIR, K_U64, K_ATTENTION } field_kind;

// When a field is there: always; read first, before the model's table is built (its
// shape); only in the checkpoints of a run with a GradNorm warm-up (older files, and
// runs without one, lack them: a run's file stays what it was before the option).
typedef enum { F_STATE, F_SHAPE, F_WARMUP } field_group;

typedef struct {
    const char *key;
    field_kind kind;
    size_t off;     // in trainer
    double lo, hi;  // K_INT, K_LONG, K_FLOAT: the range a read value must lie in (the
                    // conversion of one out of the type's range is undefined)
    field_group group;
} field;

#define FLD(key, kind, member, lo, hi, group) \
    { key, kind, offsetof(trainer, member), lo, hi, group }
// In the order they are written. The shape's ranges only keep the casts defined:
// model_config_check judges the values.
static const field FIELDS[] = {
    FLD("scale", K_INT, m.cfg.scale, INT_MIN, INT_MAX, F_SHAPE),
    FLD("feats", K_INT, m.cfg.feats, INT_MIN, INT_MAX, F_SHAPE),
    FLD("fe_groups", K_INT, m.cfg.fe_groups, INT_MIN, INT_MAX, F_SHAPE),
    FLD("groups", K_INT, m.cfg.groups, INT_MIN, INT_MAX, F_SHAPE),
    FLD("blocks", K_INT, m.cfg.blocks, INT_MIN, INT_MAX, F_SHAPE),
    FLD("attention", K_ATTENTION, m.cfg.attention, 0, 0, F_SHAPE),
    FLD("ca_reduction", K_INT, m.cfg.ca_reduction, INT_MIN, INT_MAX, F_SHAPE),
    FLD("leaky_slope", K_FLOAT, m.cfg.leaky_slope, -1e6, 1e6, F_SHAPE),
    FLD("step", K_LONG, st.step, 0, MAX_STEP, F_STATE),
    FLD("best_psnr", K_DOUBLE, st.best_psnr, 0, 0, F_STATE),
    FLD("best_step", K_LONG, st.best_step, -1, MAX_STEP, F_STATE),
    FLD("seed", K_U64, st.seed, 0, 0, F_STATE),
    FLD("adam_t", K_LONG, opt.t, 0, MAX_STEP, F_STATE),
    FLD("adam_lr", K_DOUBLE, opt.lr, 0, 0, F_STATE),
    FLD("gn_enabled", K_INT, gn.enabled, 0, 1, F_STATE),
    FLD("gn_alpha", K_DOUBLE, gn.alpha, 0, 0, F_STATE),
    FLD("gn_lr", K_DOUBLE, gn.lr, 0, 0, F_STATE),
    FLD("gn_w", K_PAIR, gn.w, 0, 0, F_STATE),
    FLD("gn_L0", K_PAIR, gn.L0, 0, 0, F_STATE),
    FLD("gn_has_L0", K_INT, gn.has_L0, 0, 1, F_STATE),
    FLD("gn_warmup", K_LONG, gn.warmup, 1, MAX_STEP, F_WARMUP),
    FLD("gn_L_sum", K_PAIR, gn.L_sum, 0, 0, F_WARMUP),
};
#undef FLD
enum { N_FIELDS = sizeof FIELDS / sizeof *FIELDS };

// The tensors, each the model's n_floats, flat in table order; the moving average optional.
static const struct {
    const char *name;
    size_t off;  // of the float * in trainer
    int optional;
} TENSORS[] = {{"params", offsetof(trainer, m.w), 0},
               {"adam.m", offsetof(trainer, adam_m), 0},
               {"adam.v", offsetof(trainer, adam_v), 0},
               {"ema", offsetof(trainer, ema), 1}};
enum { N_TENSORS = sizeof TENSORS / sizeof *TENSORS };

#define AT(t, off, type) ((type *)((char *)(t) + (off)))
#define AT_CONST(t, off, type) ((const type *)((const char *)(t) + (off)))

static int has_warmup(const trainer *t) { return t->gn.warmup > 0; }

int checkpoint_save(const char *path, const trainer *t) {
    char v[2 + N_FIELDS][48];
    const char *keys[2 + N_FIELDS], *vals[2 + N_FIELDS];
    int n = 0;
    keys[n] = "format", vals[n++] = "attsr-checkpoint";
    keys[n] = "version", vals[n++] = CKPT_VERSION;
    for (int i = 0; i < N_FIELDS; i++) {
        const field *f = &FIELDS[i];
        if (f->group == F_WARMUP && !has_warmup(t)) continue;
        char *s = v[n];
        size_t cap = sizeof v[n];
        switch (f->kind) {
        case K_INT: snprintf(s, cap, "%d", *AT_CONST(t, f->off, int)); break;
        case K_LONG: snprintf(s, cap, "%ld", *AT_CONST(t, f->off, long)); break;
        case K_FLOAT: snprintf(s, cap, "%.9g", *AT_CONST(t, f->off, float)); break;
        case K_DOUBLE: snprintf(s, cap, "%.17g", *AT_CONST(t, f->off, double)); break;
        case K_PAIR: {
            const double *d = AT_CONST(t, f->off, double);
            snprintf(s, cap, "%.17g %.17g", d[0], d[1]);
            break;
        }
        case K_U64: snprintf(s, cap, "%" PRIu64, *AT_CONST(t, f->off, uint64_t)); break;
        case K_ATTENTION: snprintf(s, cap, "%s", attention_name(*AT_CONST(t, f->off, attention_kind))); break;
        }
        keys[n] = f->key, vals[n++] = s;
    }
    int64_t shape[1] = {(int64_t)t->m.n_floats};
    st_out_tensor out[N_TENSORS];
    int n_out = 0;
    for (int i = 0; i < N_TENSORS; i++) {
        const float *data = *AT_CONST(t, TENSORS[i].off, float *);
        if (data) out[n_out++] = (st_out_tensor){TENSORS[i].name, 1, shape, data};
    }
    return st_write(path, out, n_out, keys, vals, n);
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
        return as_errorf("%s: checkpoint field '%s' = '%s' is out of range [%.17g, %.17g]", path, key, st_meta(f, key),
                         lo, hi);
    return 0;
}

// One field of FIELDS from the file into t.
static int read_field(const field *f, const st_file *sf, const char *path, trainer *t) {
    double d[2];
    switch (f->kind) {
    case K_INT:
    case K_LONG:
    case K_FLOAT:
        if (meta_ranged(sf, f->key, f->lo, f->hi, d, path)) return -1;
        if (f->kind == K_INT)
            *AT(t, f->off, int) = (int)d[0];
        else if (f->kind == K_LONG)
            *AT(t, f->off, long) = (long)d[0];
        else
            *AT(t, f->off, float) = (float)d[0];
        return 0;
    case K_DOUBLE: return meta_finite(sf, f->key, AT(t, f->off, double), 1, path);
    case K_PAIR: return meta_finite(sf, f->key, AT(t, f->off, double), 2, path);
    case K_U64: return meta_u64(sf, f->key, AT(t, f->off, uint64_t), path);
    case K_ATTENTION: {
        const char *att = st_meta(sf, f->key);
        if (!att || attention_parse(att, AT(t, f->off, attention_kind)))
            return as_errorf("%s: checkpoint attention is missing or unknown", path);
        return 0;
    }
    }
    return as_errorf("%s: checkpoint field '%s' of unknown kind", path, f->key);
}

static int read_fields(field_group group, const st_file *sf, const char *path, trainer *t) {
    for (int i = 0; i < N_FIELDS; i++)
        if (FIELDS[i].group == group && read_field(&FIELDS[i], sf, path, t)) return -1;
    return 0;
}

// The metadata: the model's table from the shape, then the rest of the state.
static int read_meta(const st_file *sf, const char *path, trainer *t) {
    t->m.cfg = model_config_default();
    if (read_fields(F_SHAPE, sf, path, t)) return -1;
    model_config cfg = t->m.cfg;
    if (model_config_check(&cfg)) return as_errorf("%s: %s", path, as_error());
    // Each tensor has at least one element: a params tensor smaller than the table's
    // tensor count cannot fit, and the table (up to 590k entries) is not worth building.
    const st_tensor *params = st_find(sf, "params");
    if (!params || params->numel < (size_t)model_tensor_count(&cfg))
        return as_errorf("%s: checkpoint tensor 'params' is missing or has the wrong size", path);
    if (model_create_table(&t->m, &cfg)) return -1;
    adam_init(&t->opt, 0);
    gradnorm_init(&t->gn, 0, 0, 0);
    if (read_fields(F_STATE, sf, path, t)) return -1;
    return st_meta(sf, "gn_warmup") ? read_fields(F_WARMUP, sf, path, t) : 0;
}

// The trainer *t (zeroed by the caller) from a parsed file; on failure *t is freed.
static int trainer_from(trainer *t, const st_file *f, const char *path) {
    const char *fmt = st_meta(f, "format"), *ver = st_meta(f, "version");
    if (!fmt || strcmp(fmt, "attsr-checkpoint")) return as_errorf("%s: not an attsr checkpoint", path);
    if (!ver || strcmp(ver, CKPT_VERSION))
        return as_errorf("%s: checkpoint version %s, this attsr reads version %s (start a new run)", path,
                         ver ? ver : "missing", CKPT_VERSION);
    int rc = read_meta(f, path, t);
    // The tensors are checked before anything of the model's size is allocated, so a
    // file's metadata cannot ask for more memory than the file holds.
    const st_tensor *src[N_TENSORS] = {NULL};
    for (int i = 0; !rc && i < N_TENSORS; i++) {
        src[i] = st_find(f, TENSORS[i].name);
        if ((src[i] || !TENSORS[i].optional) && (!src[i] || src[i]->numel != t->m.n_floats))
            rc = as_errorf("%s: checkpoint tensor '%s' is missing or has the wrong size", path, TENSORS[i].name);
    }
    if (!rc) {
        rc = model_alloc_params(&t->m) || trainer_alloc(t);
        for (int i = 0; !rc && i < N_TENSORS; i++)  // the optional ones (the moving average)
            if (src[i] && TENSORS[i].optional &&
                !(*AT(t, TENSORS[i].off, float *) = as_malloc_array(t->m.n_floats, sizeof(float))))
                rc = -1;
    }
    for (int i = 0; !rc && i < N_TENSORS; i++)
        if (src[i]) memcpy(*AT(t, TENSORS[i].off, float *), src[i]->data, sizeof(float) * t->m.n_floats);
    if (rc) {
        trainer_free(t);
        return -1;
    }
    return 0;
}

static int load_from(trainer *t, st_file *f, const char *path) {  // frees f
    int rc = trainer_from(t, f, path);
    st_free(f);
    return rc;
}

int checkpoint_load_memory(const void *data, size_t n, const char *name, trainer *t) {
    st_file f;
    memset(t, 0, sizeof *t);
    return st_read_memory(&f, data, n, name) ? -1 : load_from(t, &f, name);
}

int checkpoint_load(const char *path, trainer *t) {
    st_file f;
    memset(t, 0, sizeof *t);
    return st_read(&f, path) ? -1 : load_from(t, &f, path);
}
