// Helpers shared by the image tests (test_image.c, test_image_meta.c): a temp folder's
// paths, whole files, PNG's CRC. Include after test.h and core/core.h; the includer
// defines `static char tmpdir[256]` before including.
#pragma once
#include <stdint.h>

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", tmpdir, name);
    return buf[i];
}

static uint8_t *load(const char *path, size_t *n) {
    void *data;
    CHECK_OK(as_read_file(path, &data, n, 1 << 24));
    return data;
}

static uint32_t crc32_of(const uint8_t *p, size_t n) {  // PNG's CRC (zlib's crc32)
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xedb88320u & -(c & 1));
    }
    return c ^ 0xffffffffu;
}

static void put_be32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}
