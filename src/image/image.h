// image: float RGB(A) images in memory, readers and writers for PNG, JPEG and .npy.
// SPEC section 1. In memory: float32, values in [0, 1] (npy: raw), layout (h, w, c).
#pragma once
#include <stdint.h>

typedef struct {
    int w, h;      // pixels
    int c;         // channels: 3 (RGB) or 4 (RGBA; alpha is the 4th)
    int gray;      // 1 when the file held a single gray channel (SPEC 2's luma exception)
    float *px;     // (h, w, c)
} image;

// Allocates img->px for w x h x c (checks the pixel limit). Fills with zeros.
int  image_alloc(image *img, int w, int h, int c);
void image_free(image *img);

// Reads PNG (any colour type, 8/16 bit), JPEG, or .npy float32 (h, w, 3) by content
// (the magic bytes), not by extension; the extension must agree (mislabelled files are
// an error). Gray becomes 3 equal channels; gray+alpha and RGBA give c = 4; palette is
// expanded (with its tRNS alpha). Errors name the file and the reason.
int image_read(const char *path, image *img);
int image_read_memory(const void *data, size_t n, const char *name, image *img);

// Writes by extension: .png (8-bit; RGBA when c == 4), .jpg/.jpeg (quality 95, RGB),
// .npy (float32 (h, w, c), unclamped). Values clamped to [0,1] and rounded half up for
// 8-bit formats. Atomic: a temp file is renamed into place.
int image_write(const char *path, const image *img);

// 8-bit quantisation as PNG writing does it: clamp to [0,1], round half up.
static inline uint8_t image_to_u8(float v) {
    float x = v * 255.0f + 0.5f;
    if (!(x > 0.0f)) return 0;  // NaN -> 0
    if (x >= 255.0f) return 255;
    return (uint8_t)x;
}
// Rounds every value of img to the 8-bit grid (in place), keeping floats in [0, 1].
void image_quantize_u8(image *img);
