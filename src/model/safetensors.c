// safetensors reader and writer (docs/spec.md §4), header parsed with jansson.
#include "model/safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

// ---- dtype conversion ------------------------------------------------------------

static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else {  // subnormal: normalise
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) {
                man <<= 1;
                exp--;
            }
            u = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int dtype_size(const char *dt) {
    if (!strcmp(dt, "F32")) return 4;
    if (!strcmp(dt, "BF16") || !strcmp(dt, "F16")) return 2;
    return 0;
}

static void convert(float *dst, const uint8_t *src, size_t n, const char *dt) {
    if (!strcmp(dt, "F32")) {
        memcpy(dst, src, n * 4);  // little-endian host (x86-64, aarch64)
        return;
    }
    int bf = !strcmp(dt, "BF16");
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
        dst[i] = bf ? bf16_to_f32(h) : f16_to_f32(h);
    }
}

// ---- reading ---------------------------------------------------------------------

void st_free(st_file *f) {
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->block);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_values[i]);
    }
    free(f->tensors);
    free(f->by_name);
    free(f->meta_keys);
    free(f->meta_values);
    memset(f, 0, sizeof *f);
}

static int parse_meta(st_file *f, json_t *meta, const char *name) {
    if (!json_is_object(meta)) return as_errorf("%s: __metadata__ is not an object", name);
    size_t n = json_object_size(meta);
    f->meta_keys = as_calloc(n ? n : 1, sizeof(char *));
    f->meta_values = as_calloc(n ? n : 1, sizeof(char *));
    if (!f->meta_keys || !f->meta_values) return -1;
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
        if (!json_is_string(val)) return as_errorf("%s: metadata '%s' is not a string", name, key);
        f->meta_keys[f->n_meta] = strdup(key);
        f->meta_values[f->n_meta] = strdup(json_string_value(val));
        if (!f->meta_keys[f->n_meta] || !f->meta_values[f->n_meta]) return as_errorf("out of memory");
        f->n_meta++;
    }
    return 0;
}

// Parses one header entry into t, checking dtype, shape and offsets against the data
// (the data itself is read once the ranges have been checked, by load_data).
static int parse_tensor(st_tensor *t, const char *key, json_t *info, size_t data_len, const char *name) {
    json_t *jdt = json_object_get(info, "dtype"), *jshape = json_object_get(info, "shape"),
           *joff = json_object_get(info, "data_offsets");
    if (!json_is_string(jdt) || !json_is_array(jshape) || !json_is_array(joff) || json_array_size(joff) != 2)
        return as_errorf("%s: tensor '%s': malformed header entry", name, key);
    const char *dt = json_string_value(jdt);
    int esize = dtype_size(dt);
    if (!esize) return as_errorf("%s: tensor '%s': dtype %s is not supported (F32, BF16, F16)", name, key, dt);
    t->ndim = (int)json_array_size(jshape);
    if (t->ndim > 8) return as_errorf("%s: tensor '%s': %d dimensions (at most 8)", name, key, t->ndim);
    size_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        json_t *jd = json_array_get(jshape, d);
        if (!json_is_integer(jd) || json_integer_value(jd) < 0)
            return as_errorf("%s: tensor '%s': bad shape", name, key);
        t->shape[d] = json_integer_value(jd);
        if (as_mul_size(numel, (size_t)t->shape[d], &numel))
            return as_errorf("%s: tensor '%s': shape overflows", name, key);
    }
    json_t *jb = json_array_get(joff, 0), *je = json_array_get(joff, 1);
    if (!json_is_integer(jb) || !json_is_integer(je)) return as_errorf("%s: tensor '%s': bad data_offsets", name, key);
    json_int_t b = json_integer_value(jb), e = json_integer_value(je);
    size_t bytes;
    if (as_mul_size(numel, (size_t)esize, &bytes) || b < 0 || e < b || (size_t)e > data_len || (size_t)(e - b) != bytes)
        return as_errorf("%s: tensor '%s': data_offsets [%lld, %lld] do not match its shape or the file size", name,
                         key, (long long)b, (long long)e);
    t->name = strdup(key);
    t->numel = numel;
    t->offset = (size_t)b;
    t->nbytes = bytes;
    snprintf(t->dtype, sizeof t->dtype, "%s", dt);
    if (!t->name) return as_errorf("%s: tensor '%s': out of memory", name, key);
    return 0;
}

// The float32 copy of t's data, at dst, which must be finite.
static int load_data(st_tensor *t, float *dst, const uint8_t *data, const char *name) {
    t->data = dst;
    convert(t->data, data + t->offset, t->numel, t->dtype);
    size_t bad = as_first_nonfinite(t->data, t->numel);
    if (bad < t->numel)
        return as_errorf("%s: tensor '%s' holds a non-finite value (%g) at element %zu", name, t->name, t->data[bad],
                         bad);
    return 0;
}

// The format's rule: sorted by offset, the ranges tile [0, data_len) exactly. An overlap
// would let two tensors share bytes, a gap or a tail hide data that no tensor accounts for.
static int check_coverage(const st_file *f, size_t data_len, const char *name) {
    size_t end = 0;
    for (int i = 0; i < f->n; i++) {
        const st_tensor *t = &f->tensors[i];
        if (t->offset < end)
            return as_errorf("%s: tensor '%s' (bytes %zu to %zu) overlaps tensor '%s' (ending at byte %zu)", name,
                             t->name, t->offset, t->offset + t->nbytes, f->tensors[i - 1].name, end);
        if (t->offset > end)
            return as_errorf("%s: bytes %zu to %zu of the data belong to no tensor (before tensor '%s')", name, end,
                             t->offset, t->name);
        end = t->offset + t->nbytes;
    }
    if (end != data_len)
        return as_errorf("%s: bytes %zu to %zu of the data belong to no tensor (after the last)", name, end, data_len);
    return 0;
}

// By offset, then size: an empty tensor sorts before a non-empty one at its offset.
static int cmp_offset(const void *a, const void *b) {
    const st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return (x->offset > y->offset) - (x->offset < y->offset);
    return (x->nbytes > y->nbytes) - (x->nbytes < y->nbytes);
}

// st_find's index: a file may hold many tensors (a model of the largest shape has 590k),
// and loaders look each one up, so a linear search would be quadratic.
static _Thread_local const st_tensor *g_sort_tensors;  // qsort has no context argument
static int cmp_name(const void *a, const void *b) {
    return strcmp(g_sort_tensors[*(const int *)a].name, g_sort_tensors[*(const int *)b].name);
}

int st_read_memory(st_file *f, const void *buf, size_t n, const char *name) {
    memset(f, 0, sizeof *f);
    const uint8_t *p = buf;
    if (n < 8) return as_errorf("%s: not a safetensors file (too short)", name);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > as_limits.max_header || hlen > n - 8)
        return as_errorf("%s: not a safetensors file (header length %llu)", name, (unsigned long long)hlen);
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p + 8, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return as_errorf("%s: bad safetensors header: %s (at byte %d of the header)", name, jerr.text, jerr.position);
    if (!json_is_object(root)) {
        // jansson's default decoding takes an object or an array at the top
        as_errorf("%s: bad safetensors header: it is an array, not a JSON object", name);
        json_decref(root);
        return -1;
    }
    const uint8_t *data = p + 8 + hlen;
    size_t data_len = n - 8 - hlen;
    size_t count = json_object_size(root);
    f->tensors = as_calloc(count ? count : 1, sizeof(st_tensor));
    int rc = f->tensors ? 0 : -1;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (rc) break;
        if (!strcmp(key, "__metadata__")) {
            rc = parse_meta(f, val, name);
            continue;
        }
        if (!json_is_object(val)) {
            rc = as_errorf("%s: tensor '%s': malformed header entry", name, key);
            break;
        }
        st_tensor *t = &f->tensors[f->n++];
        rc = parse_tensor(t, key, val, data_len, name);
    }
    json_decref(root);
    if (rc) {
        st_free(f);
        return -1;
    }
    // The ranges first: once they tile the data, what the copies take is bounded by it.
    qsort(f->tensors, f->n, sizeof(st_tensor), cmp_offset);
    rc = check_coverage(f, data_len, name);
    // every tensor's floats in one block, in file order (a loader may take it whole)
    size_t floats = 0;
    for (int i = 0; !rc && i < f->n; i++) floats += f->tensors[i].numel;  // <= data_len / 2: no overflow
    if (!rc && !(f->block = as_aligned_alloc(sizeof(float) * (floats ? floats : 1))))
        rc = as_errorf("%s: %s", name, as_error());
    f->block_floats = floats;
    for (size_t i = 0, at = 0; !rc && i < (size_t)f->n; at += f->tensors[i++].numel)
        rc = load_data(&f->tensors[i], f->block + at, data, name);
    if (rc) {
        st_free(f);
        return -1;
    }
    f->by_name = as_malloc_array(f->n ? f->n : 1, sizeof(int));
    if (!f->by_name) {
        st_free(f);
        return as_errorf("%s: %s", name, as_error());
    }
    for (int i = 0; i < f->n; i++) f->by_name[i] = i;
    g_sort_tensors = f->tensors;
    qsort(f->by_name, f->n, sizeof(int), cmp_name);
    return 0;
}

int st_read(st_file *f, const char *path) {
    void *buf;
    size_t n;
    memset(f, 0, sizeof *f);
    if (as_read_file(path, &buf, &n, as_limits.max_alloc)) return -1;
    int rc = st_read_memory(f, buf, n, path);
    free(buf);
    return rc;
}

float *st_take_block(st_file *f) {
    float *b = f->block;
    f->block = NULL;
    for (int i = 0; i < f->n; i++) f->tensors[i].data = NULL;
    return b;
}

const st_tensor *st_find(const st_file *f, const char *name) {
    int lo = 0, hi = f->n;  // binary search of by_name in [lo, hi)
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(f->tensors[f->by_name[mid]].name, name);
        if (c == 0) return &f->tensors[f->by_name[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *st_meta(const st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_values[i];
    return NULL;
}

// ---- writing ---------------------------------------------------------------------

int st_write(const char *path, const st_out_tensor *t, int n, const char *const *meta_keys,
             const char *const *meta_values, int n_meta) {
    json_t *root = json_object();
    size_t offset = 0;
    if (n_meta > 0) {
        json_t *meta = json_object();
        for (int i = 0; i < n_meta; i++) json_object_set_new(meta, meta_keys[i], json_string(meta_values[i]));
        json_object_set_new(root, "__metadata__", meta);
    }
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++) {
            numel *= (size_t)t[i].shape[d];
            json_array_append_new(shape, json_integer(t[i].shape[d]));
        }
        json_t *info = json_object();
        json_object_set_new(info, "dtype", json_string("F32"));
        json_object_set_new(info, "shape", shape);
        json_object_set_new(info, "data_offsets",
                            json_pack("[II]", (json_int_t)offset, (json_int_t)(offset + 4 * numel)));
        json_object_set_new(root, t[i].name, info);
        offset += 4 * numel;
    }
    char *header = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!header) return as_errorf("%s: cannot encode the header", path);
    size_t hlen = strlen(header), padded = (hlen + 7) & ~(size_t)7;  // align data to 8 bytes
    as_outfile out;
    if (as_outfile_open(&out, path)) {
        free(header);
        return -1;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)(padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, out.fp) == 8 && fwrite(header, 1, hlen, out.fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', out.fp) != EOF;
    free(header);
    for (int i = 0; ok && i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        ok = fwrite(t[i].data, sizeof(float), numel, out.fp) == numel;
    }
    if (!ok) {
        as_outfile_abort(&out);
        return as_errorf("%s: write failed", path);
    }
    return as_outfile_commit(&out);
}
