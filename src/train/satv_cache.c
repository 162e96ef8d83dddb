// The SATV decomposition cache: file format, read and write. See satv_cache.h.
#include "train/satv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define CACHE_MAGIC "ATSRSATV"
#define CACHE_VERSION 1u

typedef struct {
    char magic[8];
    uint32_t version, w, h, c;
    uint64_t key;       // content hash of the image file and the parameters
    uint64_t checksum;  // of the float payload
} cache_header;

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t satv_cache_key(const void *file, size_t n, float lambda, int iters) {
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, file, n);
    uint32_t v = CACHE_VERSION;
    h = fnv1a(h, &lambda, sizeof lambda);
    h = fnv1a(h, &iters, sizeof iters);
    return fnv1a(h, &v, sizeof v);
}

// The payload's size for w x h, or -1 when it does not fit in a size_t.
static int payload_size(int w, int h, size_t *out) {
    if (w <= 0 || h <= 0 || as_mul_size((size_t)w, (size_t)h, out) || as_mul_size(*out, 3 * sizeof(float), out))
        return as_errorf("satv cache: bad image size %dx%d", w, h);
    return 0;
}

int satv_cache_parse(const void *data, size_t n, uint64_t key, int w, int h, float *s) {
    size_t payload;
    if (payload_size(w, h, &payload)) return -1;
    if (n < sizeof(cache_header) || n - sizeof(cache_header) != payload)
        return as_errorf("satv cache: %zu bytes, expected %zu for %dx%d", n, sizeof(cache_header) + payload, w, h);
    cache_header hd;
    memcpy(&hd, data, sizeof hd);
    const char *body = (const char *)data + sizeof hd;
    if (memcmp(hd.magic, CACHE_MAGIC, 8) || hd.version != CACHE_VERSION)
        return as_errorf("satv cache: not a version %u entry", CACHE_VERSION);
    if (hd.w != (uint32_t)w || hd.h != (uint32_t)h || hd.c != 3 || hd.key != key)
        return as_errorf("satv cache: entry of another image or other parameters");
    if (hd.checksum != fnv1a(0xcbf29ce484222325ULL, body, payload)) return as_errorf("satv cache: bad checksum");
    memcpy(s, body, payload);
    // a checksum proves the bytes are as written, not that the writer was sound
    size_t n_val = payload / sizeof(float);
    if (as_first_nonfinite(s, n_val) < n_val) return as_errorf("satv cache: the entry holds a non-finite value");
    return 0;
}

int satv_cache_read(const char *path, uint64_t key, int w, int h, float *s) {
    void *data;
    size_t n, payload;
    if (payload_size(w, h, &payload) || as_read_file(path, &data, &n, sizeof(cache_header) + payload)) return -1;
    int rc = satv_cache_parse(data, n, key, w, h, s);
    free(data);
    return rc;
}

int satv_cache_write(const char *path, uint64_t key, int w, int h, const float *s) {
    size_t payload;
    if (payload_size(w, h, &payload)) return -1;
    cache_header hd = {.version = CACHE_VERSION, .w = (uint32_t)w, .h = (uint32_t)h, .c = 3, .key = key};
    memcpy(hd.magic, CACHE_MAGIC, 8);
    hd.checksum = fnv1a(0xcbf29ce484222325ULL, s, payload);
    as_outfile f;
    if (as_outfile_open(&f, path)) return -1;
    if (fwrite(&hd, sizeof hd, 1, f.fp) != 1 || fwrite(s, 1, payload, f.fp) != payload) {
        as_outfile_abort(&f);
        return as_errorf("%s: write failed", path);
    }
    return as_outfile_commit(&f);
}

// An entry's name: 16 hex digits, then ".satv".
static int is_entry_name(const char *name, size_t n, void *ctx) {
    (void)ctx;
    if (n != 16 + 5 || strncmp(name + 16, ".satv", 5)) return 0;
    for (int i = 0; i < 16; i++)
        if (!strchr("0123456789abcdef", name[i])) return 0;
    return 1;
}

int satv_cache_remove_stale(const char *dir, double max_age) {
    return as_outfile_remove_stale(dir, is_entry_name, NULL, max_age);
}
