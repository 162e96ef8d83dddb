// codec: the per-format halves of image_read / image_write and the sample conversions
// they share. Internal to src/image/; the public interface is image.h.
//
// Decoders get the whole file in memory and the name to put in front of every error.
// They allocate img on success (with depth and meta filled; image_read_memory_flags
// applies the orientation afterwards) and leave it empty (image_free'd) on failure.
// Encoders write to an open stream; the caller owns the atomic temp file around it.
// They get the resolved choices: bits 8 or 16, gray 1 for one gray channel (+ alpha).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image/image.h"

int image_png_decode(const uint8_t *data, size_t n, const char *name, image *img);
int image_jpeg_decode(const uint8_t *data, size_t n, const char *name, image *img);
int image_npy_decode(const uint8_t *data, size_t n, const char *name, image *img);
int image_bmp_decode(const uint8_t *data, size_t n, const char *name, image *img);
int image_webp_decode(const uint8_t *data, size_t n, const char *name, image *img);
// TIFF has its own Orientation tag: applied here unless flags has IMAGE_KEEP_ORIENTATION.
int image_tiff_decode(const uint8_t *data, size_t n, const char *name, image *img, unsigned flags);

typedef struct {
    int quality;   // 1..100 (JPEG, lossy WebP)
    int lossless;  // WebP: lossless (no quality was asked for)
    int depth;     // 8 or 16
    int gray;      // one gray channel (plus alpha when img->c == 4)
} image_encoding;

int image_png_encode(FILE *fp, const char *name, const image *img, const image_encoding *e);
int image_jpeg_encode(FILE *fp, const char *name, const image *img, const image_encoding *e);
int image_npy_encode(FILE *fp, const char *name, const image *img);
int image_webp_encode(FILE *fp, const char *name, const image *img, const image_encoding *e);
int image_tiff_encode(FILE *fp, const char *name, const image *img, const image_encoding *e);

// Fills img (allocated, c = 3 or 4) from interleaved integer samples: `src_c` channels
// per pixel (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA), `depth` 8 or 16 bits (16-bit samples
// big-endian, as PNG stores them), rows `stride` bytes apart. Gray is copied to R, G, B.
// Values become v / 255 or v / 65535, correctly rounded to float.
void image_from_samples(image *img, const uint8_t *src, size_t stride, int src_c, int depth);

// The reverse for writers: (h, w, out_c) samples, bytes (depth 8, image_to_u8 rounding)
// or host-order uint16_t (depth 16, v * 65535 clamped and rounded half up). out_c is 3
// or 4 (RGB, RGBA), or 1 or 2 (gray, gray+alpha: the luma of image.h's image_write); a
// missing alpha is written opaque, an extra one dropped.
void image_to_samples(const image *img, void *dst, int out_c, int depth);

// Copies n bytes of src into a new *dst (NULL, 0 when n is 0): metadata blobs.
int image_blob_copy(uint8_t **dst, size_t *dst_n, const void *src, size_t n);
// 1 when img's ICC profile may go with the samples written: its colour space (header
// bytes 16..19) is 'GRAY' for gray output and 'RGB ' for RGB. A profile of the other
// kind would describe the wrong samples, so writers drop it.
int image_icc_fits(const image *img, int gray);

// ---- EXIF (exif.c) ---------------------------------------------------------------
// The Orientation tag (1..8) of a TIFF-structured EXIF blob, 0 when it has none (or the
// blob is malformed: a bad blob is ignored, never an error). *at (may be NULL) gets the
// offset of its 16-bit value. Reads only inside [0, n).
int image_exif_orientation(const uint8_t *tiff, size_t n, size_t *at);
// Sets the Orientation value at `at` (from image_exif_orientation) in the blob's order.
void image_exif_set_orientation(uint8_t *tiff, size_t at, int orientation);
// Applies an EXIF orientation (2..8; 1 is a no-op) to the pixels: the stored image
// becomes the upright one (5..8 swap w and h). 0, or -1 with img unchanged.
int image_orient(image *img, int orientation);
