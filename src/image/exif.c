// EXIF Orientation: finding the tag in a TIFF-structured blob and applying it.
//
// Only IFD0's Orientation (0x0112) is read, so a dozen lines of bounds-checked TIFF walk
// do it; libexif would add a dependency (and its own parser's bugs) for one tag. The
// rest of the blob is carried through untouched. See codec.h.
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "image/codec.h"

static unsigned rd16(const uint8_t *p, int le) { return le ? p[0] | p[1] << 8 : p[0] << 8 | p[1]; }

static uint32_t rd32(const uint8_t *p, int le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

// 1 little-endian, 0 big-endian, -1 not a TIFF header.
static int byte_order(const uint8_t *p, size_t n) {
    if (n < 8) return -1;
    if (!memcmp(p, "II*\0", 4)) return 1;
    if (!memcmp(p, "MM\0*", 4)) return 0;
    return -1;
}

int image_exif_orientation(const uint8_t *p, size_t n, size_t *at) {
    int le = byte_order(p, n);
    if (le < 0) return 0;
    uint32_t ifd = rd32(p + 4, le);
    if ((size_t)ifd + 2 > n) return 0;
    unsigned count = rd16(p + ifd, le);
    for (unsigned i = 0; i < count; i++) {
        size_t e = ifd + 2 + (size_t)i * 12;  // tag, type, count, value: 12 bytes
        if (e + 12 > n) return 0;
        if (rd16(p + e, le) != 0x0112) continue;
        unsigned v = rd16(p + e + 8, le);
        if (rd16(p + e + 2, le) != 3 || rd32(p + e + 4, le) != 1 || v < 1 || v > 8) return 0;  // SHORT, 1 value
        if (at) *at = e + 8;
        return (int)v;
    }
    return 0;
}

void image_exif_set_orientation(uint8_t *p, size_t at, int orientation) {
    int le = p[0] == 'I';
    p[at + (le ? 0 : 1)] = (uint8_t)orientation;
    p[at + (le ? 1 : 0)] = 0;
}

int image_orient(image *img, int orientation) {
    // The stored pixel (x, y) of a w x h image goes to display (x', y'). As a symmetry:
    // bit 0 mirrors x, bit 1 mirrors y, then bit 2 transposes (the display is h wide).
    //   1 (x, y)   2 (w-1-x, y)   3 (w-1-x, h-1-y)   4 (x, h-1-y)
    //   5 (y, x)   6 (h-1-y, x)   7 (h-1-y, w-1-x)   8 (y, w-1-x)
    static const int symmetry[9] = {0, 0, 1, 3, 2, 4, 6, 7, 5};
    if (orientation < 2 || orientation > 8) return 0;
    const int k = symmetry[orientation], w = img->w, h = img->h, c = img->c;
    float *dst = as_malloc_array((size_t)w * h, (size_t)c * sizeof(float));
    if (!dst) return -1;
#pragma omp parallel for schedule(static) if ((size_t)w * h * c >= AS_PAR_MIN)
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int u = k & 1 ? w - 1 - x : x, v = k & 2 ? h - 1 - y : y;
            size_t to = k & 4 ? (size_t)u * h + v : (size_t)v * w + u;
            memcpy(dst + to * c, img->px + ((size_t)y * w + x) * c, (size_t)c * sizeof(float));
        }
    free(img->px);
    img->px = dst;
    if (k & 4) img->w = h, img->h = w;
    return 0;
}
