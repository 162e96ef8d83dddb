// image: float RGB(A) images in memory, readers and writers for PNG, JPEG and .npy.
// SPEC section 1. In memory: float32, values in [0, 1] (npy: raw), layout (h, w, c).
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h;      // pixels
    int c;         // channels: 3 (RGB) or 4 (RGBA; alpha is the 4th)
    int gray;      // 1 when the file held a single gray channel (SPEC 2's luma exception)
    float *px;     // (h, w, c)
} image;

// Allocates img->px for w x h x c, c = 3 or 4 (checks the pixel limit). Fills with
// zeros; gray = 0. On failure img is left empty.
int  image_alloc(image *img, int w, int h, int c);
void image_free(image *img);

// Reads PNG (any colour type, 1..16 bit, interlaced or not), JPEG, or .npy by content
// (the magic bytes), not by extension; the extension must agree (mislabelled files are
// an error), and must be .png, .jpg, .jpeg or .npy (any case). A name without an
// extension (image_read_memory's name may be NULL) lets the content decide alone.
//  - Gray becomes 3 equal channels with gray = 1; gray+alpha and RGBA give c = 4; a
//    palette is expanded, and tRNS (any colour type) becomes an alpha channel.
//    8-bit values are v / 255, 16-bit v / 65535. gAMA, sRGB and iCCP are ignored.
//  - JPEG: gray or RGB (CMYK/YCCK is refused). Corrupt-data warnings (a truncated file,
//    a bad Huffman code) are errors, since libjpeg would otherwise invent the pixels.
//  - .npy: float32 little-endian '<f4', C order, shape (h, w, 3), (h, w, 4), or gray
//    (h, w) / (h, w, 1); header versions 1.0 to 3.0; values raw (no clamping), but
//    each must be finite (NaN or Inf is an error).
// Sizes are checked against as_limits before any pixel memory is allocated. On failure
// img is left empty and the error (one line) starts with the file name.
int image_read(const char *path, image *img);
int image_read_memory(const void *data, size_t n, const char *name, image *img);

// Writes by extension: .png (8-bit RGB, RGBA when c == 4), .jpg/.jpeg (quality 95, 4:4:4,
// RGB: alpha is dropped), .npy (float32 '<f4' (h, w, c), version 1.0, unclamped). Values
// are clamped to [0,1] and rounded half up (image_to_u8) for 8-bit formats. Gray images
// are written as RGB. Atomic: a temp file is renamed into place; an unknown extension
// is refused before anything is created, and a failed write leaves nothing behind.
int image_write(const char *path, const image *img);

// 8-bit quantisation as PNG writing does it: clamp to [0,1], round half up.
static inline uint8_t image_to_u8(float v) {
    float x = v * 255.0f + 0.5f;
    if (!(x > 0.0f)) return 0;  // NaN -> 0
    if (x >= 255.0f) return 255;
    return (uint8_t)x;
}
// Copies channels [c0, c0+nc) of src into a new image dst (keeps the gray flag):
// RGB or alpha apart from an RGBA image.
int image_take_channels(image *dst, const image *src, int c0, int nc);

// Rounds every value of img to the 8-bit grid (in place), keeping floats in [0, 1].
void image_quantize_u8(image *img);

// The image files (png, jpg, jpeg, npy; not hidden) of a folder as "dir/name", sorted;
// NULL-terminated. NULL + error when the folder cannot be read.
char **image_list_folder(const char *dir, int *n);
void image_free_list(char **list);

// The folder a dataset's HR images are in: DIR/HR when it exists, else DIR itself
// (benchmark sets come either way). Returns buf.
const char *image_hr_folder(const char *dir, char *buf, size_t n);
