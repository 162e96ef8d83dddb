// image: float RGB(A) images in memory, readers and writers for PNG, JPEG and .npy.
// docs/spec.md §1. In memory: float32, values in [0, 1] (npy: raw), layout (h, w, c).
// docs/formats.md: what each format keeps and loses.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// What a file carries besides its pixels, for the files written from it. Both blobs are
// owned by the image (image_free frees them) and NULL when absent.
typedef struct {
    uint8_t *icc;  // ICC profile, as stored in the file
    size_t icc_n;
    uint8_t *exif;  // EXIF as a TIFF structure ("II*\0" or "MM\0*"), without JPEG's
    size_t exif_n;  // "Exif\0\0" prefix; Orientation reset to 1 once applied on reading
} image_meta;

typedef struct {
    int w, h;   // pixels
    int c;      // channels: 3 (RGB) or 4 (RGBA; alpha is the 4th)
    int gray;   // 1 when the file held a single gray channel (docs/spec.md §2's luma exception)
    float *px;  // (h, w, c)
    int depth;  // bits per sample of the file read (8 or 16); 0 when made in memory
                // or read from .npy. Writers keep 16 bits where the format can.
    image_meta meta;
} image;

// Allocates img->px for w x h x c, c = 3 or 4 (checks the pixel limit). Fills with
// zeros; gray = 0, depth = 0, no metadata. On failure img is left empty.
int image_alloc(image *img, int w, int h, int c);
void image_free(image *img);  // pixels and metadata

// Replaces dst's metadata with a copy of src's (0, or -1 with dst's left empty).
int image_meta_copy(image *dst, const image *src);
void image_meta_free(image *img);

// Reads PNG (any colour type, 1..16 bit, interlaced or not), JPEG, WebP, TIFF, BMP or
// .npy by content (the magic bytes), not by extension; the extension must agree
// (mislabelled files are an error), and must be .png, .jpg, .jpeg, .webp, .tif, .tiff,
// .bmp or .npy (any case). A name without an extension (image_read_memory's name may be NULL) lets the
// content decide alone.
//  - Gray becomes 3 equal channels with gray = 1; gray+alpha and RGBA give c = 4; a
//    palette is expanded, and tRNS (any colour type) becomes an alpha channel.
//    8-bit values are v / 255, 16-bit v / 65535. gAMA and sRGB are ignored; iCCP is
//    kept in img->meta, not applied.
//  - JPEG: gray or RGB (CMYK/YCCK is refused). Corrupt-data warnings (a truncated file,
//    a bad Huffman code) are errors, since libjpeg would otherwise invent the pixels.
//  - .npy: float32 little-endian '<f4', C order, shape (h, w, 3), (h, w, 4), or gray
//    (h, w) / (h, w, 1); header versions 1.0 to 3.0; values raw (no clamping), but
//    each must be finite (NaN or Inf is an error).
//  - WebP (libwebp): lossy or lossless, alpha, ICCP and EXIF chunks; animations refused.
//  - TIFF (libtiff): 8/16-bit gray, gray+alpha, RGB, RGBA strips as stored (16 bits
//    kept; premultiplied alpha undone); anything else libtiff's RGBA reader handles
//    (palette, 1-4 bit, YCbCr/JPEG, tiles, CMYK) as 8 bits. First page; the ICC profile;
//    TIFF's own Orientation tag is applied like EXIF's.
//  - BMP (Debian's stb_image): 1-32 bits, palette, RLE, bitfields, alpha; read only.
//  - EXIF Orientation (JPEG APP1, PNG eXIf) is applied, as browsers do: img holds the
//    upright pixels and meta.exif says Orientation 1. ICC (JPEG APP2, PNG iCCP) and EXIF
//    are kept in img->meta; depth is the file's (PNG 16 bits: 16, else 8).
// Sizes are checked against as_limits before any pixel memory is allocated. On failure
// img is left empty and the error (one line) starts with the file name.
int image_read(const char *path, image *img);
int image_read_memory(const void *data, size_t n, const char *name, image *img);

// The same with flags: IMAGE_KEEP_ORIENTATION keeps the stored pixel order and the
// EXIF Orientation tag as they are.
enum { IMAGE_KEEP_ORIENTATION = 1 };
int image_read_flags(const char *path, image *img, unsigned flags);
int image_read_memory_flags(const void *data, size_t n, const char *name, image *img, unsigned flags);
// The same with the extension the content must agree with given apart from the name
// (ext NULL: the name's; "": the content decides): a stream's bytes ("<stdin>", "png").
int image_read_memory_as(const void *data, size_t n, const char *name, const char *ext, image *img, unsigned flags);
// The extension of the format the bytes are in ("png", "jpg", "webp", "tif", "bmp",
// "npy"), "" when none.
const char *image_content_ext(const void *data, size_t n);

// Writes by extension: .png and .tif/.tiff (RGB, RGBA when c == 4; 16 bits when
// img->depth is 16, else 8; TIFF deflate-compressed), .jpg/.jpeg (quality 95, 4:4:4,
// alpha is dropped), .webp (lossless, exact; RGB(A) only), .npy (float32 '<f4'
// (h, w, c), version 1.0, unclamped). Values are clamped to [0,1] and rounded half up (image_to_u8;
// v * 65535 likewise for 16 bits). A gray image (img->gray) is written as one gray
// channel (plus alpha): its luma L = 0.299 R + 0.587 G + 0.114 B (docs/spec.md §2's full-range
// luma; L = v when R = G = B = v); .npy and WebP keep 3 channels. img->meta is written
// where the format holds it (PNG iCCP/eXIf, JPEG APP2/APP1, WebP ICCP/EXIF, TIFF's ICC
// tag). Atomic: a temp file is renamed
// into place; an unknown extension is refused before anything is created, and a
// failed write leaves nothing behind.
int image_write(const char *path, const image *img);
// What image_write would refuse of the path alone, for a command to check before it
// computes: the extension, and as_check_output (folder, name length). 0 or -1.
int image_check_output(const char *path);

// Overrides for image_write; zero fields keep its defaults.
typedef struct {
    int quality;  // JPEG: 1..100 (default 95); WebP: lossy at this quality (default lossless)
    int depth;    // 8 or 16: PNG's and TIFF's bits per sample whatever img->depth says
    int rgb;      // 1: write a gray image as RGB
} image_write_options;
int image_write_with(const char *path, const image *img, const image_write_options *o);
// Writes to a stream (stdout) in the format of extension ext; name heads the errors.
// The file is made whole before its first byte goes out, so a failure writes nothing.
int image_write_stream(FILE *out, const char *name, const char *ext, const image *img, const image_write_options *o);

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

// 1 when ext (lower case, no dot: as_ext's) is one image_read handles; image_write
// handles those image_ext_writable says (all but .bmp).
int image_ext_supported(const char *ext);
int image_ext_writable(const char *ext);
// 1 for a video extension (.y4m: src/image/y4m.h), which no image function takes.
int image_ext_video(const char *ext);

// The image files (image_ext_supported; not hidden) of a folder as "dir/name", sorted;
// NULL-terminated. NULL + error when the folder cannot be read.
char **image_list_folder(const char *dir, int *n);
// The same, calling skipped(path, why, ctx) for every other entry that is not hidden.
char **image_list_folder_skips(const char *dir, int *n, void (*skipped)(const char *path, const char *why, void *ctx),
                               void *ctx);
void image_free_list(char **list);

// The folder a dataset's HR images are in: DIR/HR when it exists, else DIR itself
// (benchmark sets come either way). Returns buf.
const char *image_hr_folder(const char *dir, char *buf, size_t n);
