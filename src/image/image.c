// image: allocation, 8-bit conversions, and the format dispatch of image_read and
// image_write (the codecs live in png.c, jpeg.c and npy.c). See image.h.
#include "image/image.h"

#include <errno.h>
#include <stdio.h>
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
    dst->depth = src->depth;
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
    image_meta_free(img);
    memset(img, 0, sizeof *img);
}

void image_meta_free(image *img) {
    free(img->meta.icc);
    free(img->meta.exif);
    memset(&img->meta, 0, sizeof img->meta);
}

int image_blob_copy(uint8_t **dst, size_t *dst_n, const void *src, size_t n) {
    *dst = NULL;
    *dst_n = 0;
    if (!src || !n) return 0;
    if (!(*dst = as_malloc(n))) return -1;
    memcpy(*dst, src, n);
    *dst_n = n;
    return 0;
}

int image_meta_copy(image *dst, const image *src) {
    if (dst == src) return 0;
    image_meta_free(dst);
    if (image_blob_copy(&dst->meta.icc, &dst->meta.icc_n, src->meta.icc, src->meta.icc_n) ||
        image_blob_copy(&dst->meta.exif, &dst->meta.exif_n, src->meta.exif, src->meta.exif_n)) {
        image_meta_free(dst);
        return -1;
    }
    return 0;
}

void image_quantize_u8(image *img) {
    size_t n = (size_t)img->w * img->h * img->c;
    float *px = img->px;
#pragma omp parallel for schedule(static) if (n >= AS_PAR_MIN)
    for (size_t i = 0; i < n; i++) px[i] = image_to_u8(px[i]) / 255.0f;
}

int image_icc_fits(const image *img, int gray) {
    const uint8_t *p = img->meta.icc;
    return p && img->meta.icc_n >= 132 && !memcmp(p + 16, gray ? "GRAY" : "RGB ", 4);
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
#pragma omp parallel for schedule(static) if ((size_t)w * img->h * c >= AS_PAR_MIN)
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

static inline uint16_t to_u16(float v) {
    float x = v * 65535.0f + 0.5f;
    if (!(x > 0.0f)) return 0;  // NaN -> 0
    if (x >= 65535.0f) return 65535;
    return (uint16_t)x;
}

void image_to_samples(const image *img, void *dst, int out_c, int depth) {
    const size_t n = (size_t)img->w * img->h;
    const int c = img->c, colour = out_c >= 3, alpha = out_c == 2 || out_c == 4;
    uint8_t *d8 = dst;
    uint16_t *d16 = dst;
#pragma omp parallel for schedule(static) if (n * c >= AS_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const float *p = img->px + i * c;
        float v[4];
        int m = 0;
        if (colour) {
            v[m++] = p[0], v[m++] = p[1], v[m++] = p[2];
        } else {  // docs/spec.md §2's full-range luma, in double so that R = G = B = v gives v
            v[m++] = (float)((65.481 * p[0] + 128.553 * p[1] + 24.966 * p[2]) / 219.0);
        }
        if (alpha) v[m++] = c == 4 ? p[3] : 1.0f;
        for (int k = 0; k < m; k++) {
            if (depth == 16)
                d16[i * out_c + k] = to_u16(v[k]);
            else
                d8[i * out_c + k] = image_to_u8(v[k]);
        }
    }
}

// ---- formats ---------------------------------------------------------------------

typedef enum { FMT_NONE, FMT_PNG, FMT_JPEG, FMT_NPY, FMT_WEBP, FMT_TIFF, FMT_BMP, FMT_COUNT } format;

static const char *const format_names[FMT_COUNT] = {"", "PNG", "JPEG", ".npy", "WebP", "TIFF", "BMP"};

// What a file starts with: magic at offset 0, and a second one at `at2` (WebP's RIFF
// container names its kind at 8). A format's first row is its signature's prefix for
// telling a truncated file from a foreign one.
static const struct {
    format fmt;
    const char *magic;
    size_t len;
    const char *magic2;
    size_t at2, len2;
} signatures[] = {
    {FMT_PNG, "\x89PNG\r\n\x1a\n", 8, NULL, 0, 0},
    {FMT_JPEG, "\xff\xd8\xff", 3, NULL, 0, 0},
    {FMT_NPY, "\x93NUMPY", 6, NULL, 0, 0},
    {FMT_WEBP, "RIFF", 4, "WEBP", 8, 4},
    {FMT_TIFF, "II*\0", 4, NULL, 0, 0},
    {FMT_TIFF, "MM\0*", 4, NULL, 0, 0},
    {FMT_TIFF, "II+\0", 4, NULL, 0, 0},  // BigTIFF
    {FMT_TIFF, "MM\0+", 4, NULL, 0, 0},
    {FMT_BMP, "BM", 2, NULL, 0, 0},
};
#define N_SIGNATURES (sizeof signatures / sizeof *signatures)

// The one table of extensions: reading, writing and their messages all use it. .y4m is
// video (src/image/y4m.h): no image format, read and written by upscale.
static const struct {
    const char *ext;
    format fmt;
    int writable, video;
} extensions[] = {
    {"png", FMT_PNG, 1, 0},   {"jpg", FMT_JPEG, 1, 0},  {"jpeg", FMT_JPEG, 1, 0},
    {"npy", FMT_NPY, 1, 0},   {"webp", FMT_WEBP, 1, 0}, {"tif", FMT_TIFF, 1, 0},
    {"tiff", FMT_TIFF, 1, 0}, {"bmp", FMT_BMP, 0, 0},   {"y4m", FMT_NONE, 0, 1},
};
#define N_EXTENSIONS (sizeof extensions / sizeof *extensions)

// The format an extension promises; FMT_NONE for no extension or an unknown one.
static format format_of_ext(const char *ext) {
    for (size_t i = 0; i < N_EXTENSIONS; i++)
        if (!strcmp(ext, extensions[i].ext)) return extensions[i].fmt;
    return FMT_NONE;
}

int image_ext_supported(const char *ext) { return format_of_ext(ext) != FMT_NONE; }

int image_ext_writable(const char *ext) {
    for (size_t i = 0; i < N_EXTENSIONS; i++)
        if (!strcmp(ext, extensions[i].ext)) return extensions[i].writable;
    return 0;
}

int image_ext_video(const char *ext) {
    for (size_t i = 0; i < N_EXTENSIONS; i++)
        if (!strcmp(ext, extensions[i].ext)) return extensions[i].video;
    return 0;
}

static format format_of_content(const uint8_t *data, size_t n) {
    for (size_t i = 0; i < N_SIGNATURES; i++) {
        const size_t end2 = signatures[i].at2 + signatures[i].len2;
        if (n >= signatures[i].len && !memcmp(data, signatures[i].magic, signatures[i].len) &&
            (!signatures[i].magic2 ||
             (n >= end2 && !memcmp(data + signatures[i].at2, signatures[i].magic2, signatures[i].len2))))
            return signatures[i].fmt;
    }
    return FMT_NONE;
}

// 1 when data (shorter than any whole signature of fmt) is the start of one.
static int truncated_signature(const uint8_t *data, size_t n, format fmt) {
    for (size_t i = 0; i < N_SIGNATURES; i++)
        if (signatures[i].fmt == fmt) {
            const size_t whole = signatures[i].magic2 ? signatures[i].at2 + signatures[i].len2 : signatures[i].len;
            if (n < whole && !memcmp(data, signatures[i].magic, AS_MIN(n, signatures[i].len))) return 1;
        }
    return 0;
}

// ".png, .jpg, ... or .npy" from the table (the writable ones only when `writing`), into
// buf (256 bytes is plenty).
static const char *ext_list(char *buf, size_t n, int writing) {
    size_t len = 0, k = 0, total = 0;
    for (size_t i = 0; i < N_EXTENSIONS; i++) total += writing ? extensions[i].writable : extensions[i].fmt != FMT_NONE;
    buf[0] = 0;
    for (size_t i = 0; i < N_EXTENSIONS && len < n; i++) {
        if (writing ? !extensions[i].writable : extensions[i].fmt == FMT_NONE) continue;
        len += snprintf(buf + len, n - len, "%s.%s", k == 0 ? "" : k + 1 == total ? " or " : ", ", extensions[i].ext);
        k++;
    }
    return buf;
}

static int unsupported_ext(const char *name, const char *ext, int writing) {
    char list[256];
    return as_errorf("%s: unsupported extension '.%s' (use %s)", name, ext, ext_list(list, sizeof list, writing));
}

// ---- reading ---------------------------------------------------------------------

// EXIF Orientation, applied as browsers do unless the caller keeps the raw order; the
// tag then says 1 so that the files written from img are not turned a second time.
static int apply_orientation(image *img, const char *name, unsigned flags) {
    size_t at;
    int o = image_exif_orientation(img->meta.exif, img->meta.exif_n, &at);
    if (o <= 1 || (flags & IMAGE_KEEP_ORIENTATION)) return 0;
    if (image_orient(img, o)) return as_errorf("%s: %s", name, as_error());
    image_exif_set_orientation(img->meta.exif, at, 1);
    return 0;
}

static int decode(const uint8_t *data, size_t n, const char *name, format fmt, image *img, unsigned flags) {
    switch (fmt) {
    case FMT_PNG: return image_png_decode(data, n, name, img);
    case FMT_JPEG: return image_jpeg_decode(data, n, name, img);
    case FMT_WEBP: return image_webp_decode(data, n, name, img);
    case FMT_TIFF: return image_tiff_decode(data, n, name, img, flags);
    case FMT_BMP: return image_bmp_decode(data, n, name, img);
    default: return image_npy_decode(data, n, name, img);
    }
}

// The file's content decides the format. A known extension must agree with it; no
// extension at all (a memory buffer's name, say) leaves the content to decide alone.
int image_read_memory_flags(const void *data, size_t n, const char *name, image *img, unsigned flags) {
    return image_read_memory_as(data, n, name, NULL, img, flags);
}

int image_read_memory_as(const void *data, size_t n, const char *name, const char *ext, image *img, unsigned flags) {
    memset(img, 0, sizeof *img);
    if (!name) name = "<memory>";
    if (!ext) ext = as_ext(name);
    format want = format_of_ext(ext);
    if (ext[0] && want == FMT_NONE) return unsupported_ext(name, ext, 0);
    if (n == 0) return as_errorf("%s: empty file", name);
    format got = format_of_content(data, n);
    if (got == FMT_NONE) {
        // A file cut inside its signature is truncated, not of an unknown kind.
        if (want != FMT_NONE && truncated_signature(data, n, want))
            return as_errorf("%s: truncated %s data", name, format_names[want]);
        return as_errorf("%s: unsupported format (not PNG, JPEG, WebP, TIFF, BMP or .npy)", name);
    }
    if (want != FMT_NONE && want != got)
        return as_errorf("%s: mislabelled: extension .%s but content is %s", name, ext, format_names[got]);
    if (decode(data, n, name, got, img, flags)) return -1;
    if (apply_orientation(img, name, flags)) {
        image_free(img);
        return -1;
    }
    return 0;
}

int image_read_memory(const void *data, size_t n, const char *name, image *img) {
    return image_read_memory_flags(data, n, name, img, 0);
}

int image_read_flags(const char *path, image *img, unsigned flags) {
    memset(img, 0, sizeof *img);
    void *data;
    size_t n;
    if (as_read_file(path, &data, &n, as_limits.max_alloc - 1)) return -1;
    int rc = image_read_memory_flags(data, n, path, img, flags);
    free(data);
    return rc;
}

int image_read(const char *path, image *img) { return image_read_flags(path, img, 0); }

// ---- writing ---------------------------------------------------------------------

static int check_writable(const char *path, const image *img) {
    if (!img->px || img->w <= 0 || img->h <= 0 || (img->c != 3 && img->c != 4))
        return as_errorf("%s: cannot write an empty or malformed image (%dx%dx%d)", path, img->w, img->h, img->c);
    return 0;
}

// The choices image_write's comment promises, overridden by o.
static int resolve_encoding(const char *path, format fmt, const image *img, const image_write_options *o,
                            image_encoding *e) {
    if (o->quality && (o->quality < 1 || o->quality > 100))
        return as_errorf("%s: quality %d is not in 1..100", path, o->quality);
    if (o->depth && o->depth != 8 && o->depth != 16) return as_errorf("%s: depth %d is not 8 or 16", path, o->depth);
    e->quality = o->quality ? o->quality : 95;
    e->lossless = !o->quality;
    e->depth = fmt == FMT_PNG || fmt == FMT_TIFF ? (o->depth ? o->depth : img->depth == 16 ? 16 : 8) : 8;
    e->gray = img->gray && !o->rgb && fmt != FMT_WEBP;  // WebP has no gray mode
    return 0;
}

// An output's extension: one image_write writes (the format it names in *fmt).
static int check_ext(const char *name, const char *ext, format *fmt) {
    *fmt = format_of_ext(ext);
    if (image_ext_writable(ext)) return 0;
    char list[256];
    if (!ext[0]) return as_errorf("%s: no extension (use %s)", name, ext_list(list, sizeof list, 1));
    if (*fmt != FMT_NONE)
        return as_errorf("%s: %s is read, not written (use %s)", name, format_names[*fmt],
                         ext_list(list, sizeof list, 1));
    return unsupported_ext(name, ext, 1);
}

int image_check_output(const char *path) {
    format fmt;
    return check_ext(path, as_ext(path), &fmt) || as_check_output(path) ? -1 : 0;
}

// What can be refused before a byte is written: the extension, the image, the options.
static int prepare_write(const char *name, const char *ext, const image *img, const image_write_options *o, format *fmt,
                         image_encoding *e) {
    static const image_write_options none;
    if (check_ext(name, ext, fmt)) return -1;
    return check_writable(name, img) || resolve_encoding(name, *fmt, img, o ? o : &none, e) ? -1 : 0;
}

static int encode(FILE *fp, const char *name, format fmt, const image *img, const image_encoding *e) {
    switch (fmt) {
    case FMT_PNG: return image_png_encode(fp, name, img, e);
    case FMT_JPEG: return image_jpeg_encode(fp, name, img, e);
    case FMT_WEBP: return image_webp_encode(fp, name, img, e);
    case FMT_TIFF: return image_tiff_encode(fp, name, img, e);
    default: return image_npy_encode(fp, name, img);
    }
}

// Everything that can be refused is refused before the temp file exists, and a failed
// encoder aborts it, so a failed write leaves nothing behind.
int image_write_with(const char *path, const image *img, const image_write_options *o) {
    format fmt;
    image_encoding e;
    if (prepare_write(path, as_ext(path), img, o, &fmt, &e)) return -1;
    as_outfile f;
    if (as_outfile_open(&f, path)) return -1;
    if (encode(f.fp, path, fmt, img, &e)) {
        as_outfile_abort(&f);
        return -1;
    }
    return as_outfile_commit(&f);
}

// Encoded whole into an anonymous temp file first (TIFF seeks; a pipe cannot), then
// copied: a failed encoder writes nothing to the stream.
int image_write_stream(FILE *out, const char *name, const char *ext, const image *img, const image_write_options *o) {
    format fmt;
    image_encoding e;
    if (prepare_write(name, ext, img, o, &fmt, &e)) return -1;
    FILE *tmp = tmpfile();
    if (!tmp) return as_errorf("%s: cannot create a temp file: %s", name, strerror(errno));
    int rc = encode(tmp, name, fmt, img, &e);
    if (!rc && (fflush(tmp) || fseek(tmp, 0, SEEK_SET))) rc = as_errorf("%s: temp file: %s", name, strerror(errno));
    char buf[1 << 16];
    for (size_t got; !rc && (got = fread(buf, 1, sizeof buf, tmp)) > 0;)
        if (fwrite(buf, 1, got, out) != got) rc = as_errorf("%s: write failed: %s", name, strerror(errno));
    if (!rc && (ferror(tmp) || fflush(out))) rc = as_errorf("%s: write failed: %s", name, strerror(errno));
    fclose(tmp);
    return rc;
}

const char *image_content_ext(const void *data, size_t n) {
    static const char *const ext[FMT_COUNT] = {"", "png", "jpg", "npy", "webp", "tif", "bmp"};
    return ext[format_of_content(data, n)];
}

int image_write(const char *path, const image *img) { return image_write_with(path, img, NULL); }
