// model_io: the weights file (docs/spec.md §4) — safetensors with attsr metadata.
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/model.h"
#include "model/safetensors.h"

int model_save(const model *m, const char *path) {
    const model_config *c = &m->cfg;
    char v[8][32];
    snprintf(v[0], 32, "%d", c->scale);
    snprintf(v[1], 32, "%d", c->feats);
    snprintf(v[2], 32, "%d", c->fe_groups);
    snprintf(v[3], 32, "%d", c->groups);
    snprintf(v[4], 32, "%d", c->blocks);
    snprintf(v[5], 32, "%d", c->ca_reduction);
    snprintf(v[6], 32, "%g", c->leaky_slope);
    const char *keys[] = {"format", "scale",     "feats",        "fe_groups",  "groups",
                          "blocks", "attention", "ca_reduction", "leaky_slope"};
    const char *vals[] = {"attsr", v[0], v[1], v[2], v[3], v[4], attention_name(c->attention), v[5], v[6]};
    st_out_tensor *t = as_calloc(m->n_params, sizeof *t);
    if (!t) return -1;
    for (int i = 0; i < m->n_params; i++)
        t[i] = (st_out_tensor){m->info[i].name, m->info[i].ndim, m->info[i].shape, m->w + m->info[i].offset};
    int rc = st_write(path, t, m->n_params, keys, vals, 9);
    free(t);
    return rc;
}

// Reads an integer metadata field; a missing field keeps the default. Any int is
// taken: model_config_check then names the field's own range.
static int meta_int(const st_file *f, const char *key, int *out, const char *name) {
    const char *s = st_meta(f, key);
    if (!s) return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end) return as_errorf("%s: metadata %s = '%s' is not an integer", name, key, s);
    if (errno == ERANGE || v < INT_MIN || v > INT_MAX)
        return as_errorf("%s: metadata %s = '%s' is out of range", name, key, s);
    *out = (int)v;
    return 0;
}

static int config_from_meta(model_config *c, const st_file *f, const char *name) {
    *c = model_config_default();
    const char *fmt = st_meta(f, "format");
    if (!fmt || strcmp(fmt, "attsr"))
        return as_errorf("%s: not an attsr model (metadata format = %s; expected attsr)", name, fmt ? fmt : "missing");
    if (!st_meta(f, "scale")) return as_errorf("%s: metadata scale is missing", name);
    if (meta_int(f, "scale", &c->scale, name) || meta_int(f, "feats", &c->feats, name) ||
        meta_int(f, "fe_groups", &c->fe_groups, name) || meta_int(f, "groups", &c->groups, name) ||
        meta_int(f, "blocks", &c->blocks, name) || meta_int(f, "ca_reduction", &c->ca_reduction, name))
        return -1;
    const char *att = st_meta(f, "attention");
    if (att && attention_parse(att, &c->attention)) return as_errorf("%s: %s", name, as_error());
    const char *slope = st_meta(f, "leaky_slope");
    if (slope) {
        char *end;
        c->leaky_slope = strtof(slope, &end);
        if (end == slope || *end) return as_errorf("%s: metadata leaky_slope = '%s' is not a number", name, slope);
    }
    if (model_config_check(c)) return as_errorf("%s: %s", name, as_error());
    return 0;
}

static int model_from(model *m, st_file *f, const char *name) {
    model_config cfg;
    if (config_from_meta(&cfg, f, name)) return -1;
    // The file is checked against the metadata before anything of the model's size is
    // allocated (the table, then the parameters): a few bytes of metadata naming a huge
    // model cost nothing.
    if (f->n != model_tensor_count(&cfg))
        return as_errorf("%s: %d tensors, but its metadata describes a model of %d", name, f->n,
                         model_tensor_count(&cfg));
    if (model_create_table(m, &cfg)) return -1;
    for (int i = 0; i < m->n_params; i++) {
        const param_info *p = &m->info[i];
        const st_tensor *t = st_find(f, p->name);
        if (!t) {
            as_errorf("%s: tensor '%s' is missing", name, p->name);
            goto fail;
        }
        int same = t->ndim == p->ndim;
        for (int d = 0; same && d < p->ndim; d++) same = t->shape[d] == p->shape[d];
        if (!same) {
            as_errorf("%s: tensor '%s' has the wrong shape for this model's metadata", name, p->name);
            goto fail;
        }
    }
    // Every one of the table's n_params names is in the file, which holds n_params
    // tensors of distinct names (the JSON reader refuses duplicates): none is unexpected.
    // A file in the table's order (attsr's own) lies in its block as the parameters do:
    // the block becomes them, without a copy.
    int same_layout = f->block_floats == m->n_floats;
    for (int i = 0; same_layout && i < m->n_params; i++)
        same_layout = st_find(f, m->info[i].name)->data == f->block + m->info[i].offset;
    if (same_layout) {
        m->w = st_take_block(f);
        return 0;
    }
    if (model_alloc_params(m)) return as_errorf("%s: %s", name, as_error());
    for (int i = 0; i < m->n_params; i++)
        memcpy(m->w + m->info[i].offset, st_find(f, m->info[i].name)->data, sizeof(float) * m->info[i].numel);
    return 0;
fail:
    model_free(m);
    return -1;
}

static int load_from(model *m, st_file *f, const char *name) {  // frees f
    int rc = model_from(m, f, name);
    st_free(f);
    return rc;
}

int model_load_memory(model *m, const void *data, size_t n, const char *name) {
    st_file f;
    memset(m, 0, sizeof *m);
    return st_read_memory(&f, data, n, name) ? -1 : load_from(m, &f, name);
}

int model_load(model *m, const char *path) {
    st_file f;
    memset(m, 0, sizeof *m);
    return st_read(&f, path) ? -1 : load_from(m, &f, path);
}
