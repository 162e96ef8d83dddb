// image: allocation, 8-bit conversions, and the format dispatch of image_read and
// image_write (the codecs live in png.c, jpeg.c and npy.c). See image.h.
#include "image/image.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "image/codec.h"

// ---- allocation ------------------------------------------------------------------

int image_take_channels(image *dst, const image *src, int c0, int nc) {
    if (c0 < 0 || nc < 1 || c0 + nc > src->c)
        return as_errorf("image: no channels %d..%d in a %d-channel image", c0, c0 + nc - 1, src->c);
    if (image_alloc(dst, src->w, src->h, nc)) return -1;
    size_t n = (size_t)src->w * src->h;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < nc; c++) dst->px[i * nc + c] = src->px[i * src->c + c0 + c];
    dst->gray = src->gray;
    return 0;
}

int image_alloc(image *img, int w, int h, int c) {
    memset(img, 0, sizeof *img);
    if (c < 1 || c > 4) return as_errorf("image: %d channels (1 to 4 supported)", c);
    if (as_check_pixels("image", w, h)) return -1;
    img->px = as_calloc((size_t)w * h, (size_t)c * sizeof(float));
    if (!img->px) return -1;
    img->w = w;
    img->h = h;
    img->c = c;
    return 0;
}

void image_free(image *img) {
    free(img->px);
    memset(img, 0, sizeof *img);
}

void image_quantize_u8(image *img) {
    size_t n = (size_t)img->w * img->h * img->c;
    float *px = img->px;
#pragma omp parallel for schedule(static) if (n >= IMAGE_PAR_MIN)
    for (size_t i = 0; i < n; i++) px[i] = image_to_u8(px[i]) / 255.0f;
}

// ---- sample conversions ------------------------------------------------------------

// Which source channel feeds destination channel k (0..3) for src_c source channels.
static int source_channel(int src_c, int k) {
    if (src_c <= 2) return k < 3 ? 0 : 1;  // gray feeds R, G and B; alpha follows it
    return k;
}

void image_from_samples(image *img, const uint8_t *src, size_t stride, int src_c, int depth) {
    float lut[256];  // v / 255 exactly as the division rounds it, so 8-bit reads agree
    for (int v = 0; v < 256; v++) lut[v] = v / 255.0f;  // with image_quantize_u8
    int map[4];
    for (int k = 0; k < img->c; k++) map[k] = source_channel(src_c, k);
    const int w = img->w, c = img->c, bytes = depth / 8;
#pragma omp parallel for schedule(static) if ((size_t)w * img->h * c >= IMAGE_PAR_MIN)
    for (int y = 0; y < img->h; y++) {
        const uint8_t *row = src + (size_t)y * stride;
        float *out = img->px + (size_t)y * w * c;
        for (int x = 0; x < w; x++) {
            const uint8_t *s = row + (size_t)x * src_c * bytes;
            for (int k = 0; k < c; k++) {
                const uint8_t *v = s + map[k] * bytes;
                out[(size_t)x * c + k] = bytes == 1 ? lut[v[0]] : ((v[0] << 8) | v[1]) / 65535.0f;
            }
        }
    }
}

void image_to_samples(const image *img, uint8_t *dst, int out_c) {
    const size_t n = (size_t)img->w * img->h;
    const int c = img->c;
#pragma omp parallel for schedule(static) if (n * c >= IMAGE_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) dst[i * out_c + k] = image_to_u8(img->px[i * c + k]);
        if (out_c == 4) dst[i * out_c + 3] = c == 4 ? image_to_u8(img->px[i * c + 3]) : 255;
    }
}

// ---- formats ---------------------------------------------------------------------

typedef enum { FMT_NONE, FMT_PNG, FMT_JPEG, FMT_NPY } format;

static const struct {
    const char *name;
    const char *magic;
    size_t magic_len;
} formats[] = {
    [FMT_NONE] = {"", "", 0},
    [FMT_PNG] = {"PNG", "\x89PNG\r\n\x1a\n", 8},
    [FMT_JPEG] = {"JPEG", "\xff\xd8\xff", 3},
    [FMT_NPY] = {".npy", "\x93NUMPY", 6},
};

// The format an extension promises; FMT_NONE for no extension or an unknown one.
static format format_of_ext(const char *ext) {
    if (!strcmp(ext, "png")) return FMT_PNG;
    if (!strcmp(ext, "jpg") || !strcmp(ext, "jpeg")) return FMT_JPEG;
    if (!strcmp(ext, "npy")) return FMT_NPY;
    return FMT_NONE;
}

static format format_of_content(const uint8_t *data, size_t n) {
    for (int f = FMT_PNG; f <= FMT_NPY; f++)
        if (n >= formats[f].magic_len && !memcmp(data, formats[f].magic, formats[f].magic_len))
            return (format)f;
    return FMT_NONE;
}

static int unsupported_ext(const char *name, const char *ext) {
    return as_errorf("%s: unsupported extension '.%s' (use .png, .jpg, .jpeg or .npy)", name, ext);
}

// ---- reading ---------------------------------------------------------------------

// The file's content decides the format. A known extension must agree with it; no
// extension at all (a memory buffer's name, say) leaves the content to decide alone.
int image_read_memory(const void *data, size_t n, const char *name, image *img) {
    memset(img, 0, sizeof *img);
    if (!name) name = "<memory>";
    const char *ext = as_ext(name);
    format want = format_of_ext(ext);
    if (ext[0] && want == FMT_NONE) return unsupported_ext(name, ext);
    if (n == 0) return as_errorf("%s: empty file", name);
    format got = format_of_content(data, n);
    if (got == FMT_NONE) {
        // A file cut inside its signature is truncated, not of an unknown kind.
        if (want != FMT_NONE && n < formats[want].magic_len &&
            !memcmp(data, formats[want].magic, n))
            return as_errorf("%s: truncated %s data", name, formats[want].name);
        return as_errorf("%s: unsupported format (not PNG, JPEG or .npy)", name);
    }
    if (want != FMT_NONE && want != got)
        return as_errorf("%s: mislabelled: extension .%s but content is %s", name, ext,
                         formats[got].name);
    switch (got) {
    case FMT_PNG: return image_png_decode(data, n, name, img);
    case FMT_JPEG: return image_jpeg_decode(data, n, name, img);
    default: return image_npy_decode(data, n, name, img);
    }
}

int image_read(const char *path, image *img) {
    memset(img, 0, sizeof *img);
    void *data;
    size_t n;
    if (as_read_file(path, &data, &n, as_limits.max_alloc - 1)) return -1;
    int rc = image_read_memory(data, n, path, img);
    free(data);
    return rc;
}

// ---- writing ---------------------------------------------------------------------

static int check_writable(const char *path, const image *img) {
    if (!img->px || img->w <= 0 || img->h <= 0 || (img->c != 3 && img->c != 4))
        return as_errorf("%s: cannot write an empty or malformed image (%dx%dx%d)", path, img->w,
                         img->h, img->c);
    return 0;
}

// Everything that can be refused is refused before the temp file exists, and a failed
// encoder aborts it, so a failed write leaves nothing behind.
static int check_ext(const char *path, format *fmt) {
    const char *ext = as_ext(path);
    *fmt = format_of_ext(ext);
    if (*fmt != FMT_NONE) return 0;
    if (!ext[0]) return as_errorf("%s: no extension (use .png, .jpg, .jpeg or .npy)", path);
    return unsupported_ext(path, ext);
}

int image_check_output(const char *path) {
    format fmt;
    return check_ext(path, &fmt) || as_check_output(path) ? -1 : 0;
}

int image_write(const char *path, const image *img) {
    format fmt;
    if (check_ext(path, &fmt) || check_writable(path, img)) return -1;
    as_outfile f;
    if (as_outfile_open(&f, path)) return -1;
    int rc = fmt == FMT_PNG    ? image_png_encode(f.fp, path, img)
             : fmt == FMT_JPEG ? image_jpeg_encode(f.fp, path, img, 95)
                               : image_npy_encode(f.fp, path, img);
    if (rc) {
        as_outfile_abort(&f);
        return -1;
    }
    return as_outfile_commit(&f);
}
