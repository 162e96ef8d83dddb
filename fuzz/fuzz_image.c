// libFuzzer target: image_read_memory (src/image/image.h) on PNG, JPEG, .npy, WebP, TIFF
// or BMP bytes. Built once per format (fuzz/run.sh): FUZZ_NAME is the file name the
// reader is given ("fuzz.png", "fuzz.jpg", "fuzz.npy", "fuzz.webp", "fuzz.tif",
// "fuzz.bmp"), so the extension check sends every input to that
// format's decoder (or rejects it as mislabelled at once) and the fuzzer stays on it.
//
// The pixel limit is lowered to 1 MP here (the CLI's --max-pixels does the same): a few
// hundred bytes of arithmetic-coded JPEG can describe a flat 80 MP image, which takes
// a gigabyte and tens of seconds under ASan, legitimately; the limit check itself is
// the same code at any value. PNG inputs get their chunk CRCs recomputed before the
// call, so that mutations of a chunk reach the decoder instead of libpng's CRC check.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/core.h"
#include "fuzz.h"
#include "image/image.h"

#ifndef FUZZ_NAME
#define FUZZ_NAME "fuzz.png"
#endif

#define FUZZ_MAX_PIXELS (1 << 20)

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    as_limits.max_pixels = FUZZ_MAX_PIXELS;
    return 0;
}

static uint32_t get_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// Rewrites the CRC of every whole chunk after the 8-byte signature.
static void fix_png_crcs(uint8_t *p, size_t n) {
    size_t pos = 8;
    while (pos + 12 <= n) {
        uint32_t len = get_be32(p + pos);
        if (len > n - pos - 12) break;
        uint32_t crc = (uint32_t)crc32(0, p + pos + 4, len + 4);  // type + data
        uint8_t *c = p + pos + 8 + len;
        c[0] = (uint8_t)(crc >> 24), c[1] = (uint8_t)(crc >> 16), c[2] = (uint8_t)(crc >> 8), c[3] = (uint8_t)crc;
        pos += 12 + (size_t)len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    uint8_t *copy = NULL;
    if (!strcmp(as_ext(FUZZ_NAME), "png") && n > 8) {
        copy = malloc(n);
        if (!copy) return 0;
        memcpy(copy, data, n);
        fix_png_crcs(copy, n);
        data = copy;
    }
    image img;
    if (image_read_memory(data, n, FUZZ_NAME, &img) == 0) {
        // the limits it claims: a size within the pixel limit, 3 or 4 channels; gray is R = G = B
        FUZZ_ASSERT((img.c == 3 || img.c == 4) && img.w >= 1 && img.h >= 1 && (img.gray == 0 || img.gray == 1));
        FUZZ_ASSERT((int64_t)img.w * img.h <= FUZZ_MAX_PIXELS);
        fuzz_touch(img.px, (size_t)img.w * img.h * img.c);  // every pixel there and finite
        for (size_t i = 0; img.gray && i < (size_t)img.w * img.h; i++)
            FUZZ_ASSERT(img.px[i * img.c] == img.px[i * img.c + 1] && img.px[i * img.c] == img.px[i * img.c + 2]);
        uint8_t sum = 0;  // and every metadata byte
        for (size_t i = 0; i < img.meta.icc_n; i++) sum += img.meta.icc[i];
        for (size_t i = 0; i < img.meta.exif_n; i++) sum += img.meta.exif[i];
        fuzz_sink = sum;
        image_free(&img);
    } else if (!as_error()[0]) {
        __builtin_trap();  // a failure must say why
    }
    as_clear_error();
    free(copy);
    return 0;
}
