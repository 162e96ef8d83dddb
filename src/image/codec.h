// codec: the per-format halves of image_read / image_write and the sample conversions
// they share. Internal to src/image/; the public interface is image.h.
//
// Decoders get the whole file in memory and the name to put in front of every error.
// They allocate img on success and leave it empty (image_free'd) on failure.
// Encoders write to an open stream; the caller owns the atomic temp file around it.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image/image.h"

// Below this many values a conversion loop is not worth waking the OpenMP team for.
#define IMAGE_PAR_MIN ((size_t)1 << 18)

int image_png_decode(const uint8_t *data, size_t n, const char *name, image *img);
int image_jpeg_decode(const uint8_t *data, size_t n, const char *name, image *img);
int image_npy_decode(const uint8_t *data, size_t n, const char *name, image *img);

int image_png_encode(FILE *fp, const char *name, const image *img);
int image_jpeg_encode(FILE *fp, const char *name, const image *img, int quality);
int image_npy_encode(FILE *fp, const char *name, const image *img);

// Fills img (allocated, c = 3 or 4) from interleaved integer samples: `src_c` channels
// per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), `depth` 8 or 16 bits (16-bit samples
// big-endian, as PNG stores them), rows `stride` bytes apart. Gray is copied to R, G, B.
// Values become v / 255 or v / 65535, correctly rounded to float.
void image_from_samples(image *img, const uint8_t *src, size_t stride, int src_c, int depth);

// The reverse for 8-bit writers: (h, w, out_c) bytes with image_to_u8 rounding; out_c
// is 3 or 4 (a missing alpha is written opaque, an extra one dropped).
void image_to_samples(const image *img, uint8_t *dst, int out_c);
