// BMP reading on Debian's stb_image (libstb): 1, 4, 8 (palette), 16, 24 and 32 bits,
// RLE, bitfields, alpha. Read only: nobody needs attsr to write BMP.
//
// stb_image decodes many formats and picks one by testing each in turn; a file whose BMP
// header it rejects would go on to its TGA test, which accepts almost anything. So the
// BMP header is checked here first, exactly as stb's own BMP test does it, and only a
// file that passes is handed to stb (which then decodes it as BMP or fails). The size
// comes from stbi_info (headers only) and is checked against as_limits before stb
// allocates the pixels.
#include <limits.h>
#include <stb/stb_image.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "image/codec.h"

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static unsigned le16(const uint8_t *p) { return p[0] | p[1] << 8; }

// "BM", then a header of one of the sizes stb knows (core, V1..V5) at offset 14.
static int bmp_header_ok(const uint8_t *p, size_t n) {
    if (n < 18 || p[0] != 'B' || p[1] != 'M') return 0;
    uint32_t hs = le32(p + 14);
    return (hs == 12 && n >= 26) || ((hs == 40 || hs == 56 || hs == 108 || hs == 124) && n >= 34);
}

// stb pads a short file with zeros, inventing pixels; as the JPEG reader does, a file
// cut short is an error. stb reads only uncompressed and bitfield BMPs (no RLE), whose
// pixel rows are exactly `stride` bytes from the header's offset on.
static int bmp_complete(const uint8_t *p, size_t n) {
    int core = le32(p + 14) == 12;
    int64_t w = core ? (int64_t)le16(p + 18) : (int32_t)le32(p + 18);
    int64_t h = core ? (int16_t)le16(p + 20) : (int32_t)le32(p + 22);
    int64_t bpp = le16(p + (core ? 24 : 28));
    uint32_t compression = core ? 0 : le32(p + 30);
    if (compression != 0 && compression != 3) return 1;                                  // stb refuses these itself
    if (w <= 0 || h == 0 || w > (1 << 30) || h > (1 << 30) || h < -(1 << 30)) return 1;  // stb or the limit refuse
    uint64_t stride = ((uint64_t)w * (uint64_t)bpp + 31) / 32 * 4, rows = (uint64_t)(h < 0 ? -h : h);
    return (uint64_t)le32(p + 10) + stride * rows <= n;
}

int image_bmp_decode(const uint8_t *data, size_t n, const char *name, image *img) {
    int w, h, comp;
    if (n > INT_MAX) return as_errorf("%s: BMP file over 2 GiB", name);
    if (!bmp_header_ok(data, n) || !stbi_info_from_memory(data, (int)n, &w, &h, &comp))
        return as_errorf("%s: corrupt BMP (bad header)", name);
    if (h < 0 && h != INT_MIN) h = -h;  // stbi_info passes a top-down file's height on as is
    if (as_check_pixels(name, w, h)) return -1;
    if (!bmp_complete(data, n)) return as_errorf("%s: truncated BMP data", name);
    const int c = comp == 4 || comp == 2 ? 4 : 3;
    int w2, h2, got;
    uint8_t *px = stbi_load_from_memory(data, (int)n, &w2, &h2, &got, c);
    if (!px) return as_errorf("%s: corrupt BMP (%s)", name, stbi_failure_reason());
    int rc = w2 != w || h2 != h          ? as_errorf("%s: corrupt BMP (size changed while decoding)", name)
             : image_alloc(img, w, h, c) ? as_errorf("%s: %s", name, as_error())
                                         : 0;
    if (!rc) {
        image_from_samples(img, px, (size_t)w * c, c, 8);
        img->depth = 8;
    }
    stbi_image_free(px);
    return rc;
}
