// .npy reading and writing: float32 little-endian ('<f4'), C order, shape (h, w, c) with
// c = 3 or 4, or (h, w) / (h, w, 1) for gray. Values are raw, never clamped.
//
// The format: "\x93NUMPY", a version (1.0, 2.0 or 3.0), the header length (2 bytes in
// version 1, 4 in 2 and 3, little-endian), then the header: a Python dict literal such as
//   {'descr': '<f4', 'fortran_order': False, 'shape': (5, 7, 3), }
// padded with spaces and a newline; the raw data follows. The header comes from an
// untrusted file, so it is parsed by hand, strictly: exactly these three keys, each once,
// plain ints that cannot overflow, and data exactly as long as the shape says.
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "image/codec.h"

#define MAX_DIMS 3

typedef struct {
    const char *name;     // for messages
    const char *p, *end;  // the unparsed rest of the header
    char descr[32];       // "" until seen
    int fortran;          // -1 until seen
    int ndim;             // -1 until seen
    int64_t shape[MAX_DIMS];
} npy_header;

// ---- header parsing ----------------------------------------------------------------

static int malformed(const npy_header *hd, const char *what) {
    return as_errorf("%s: malformed .npy header (%s)", hd->name, what);
}

static void skip_space(npy_header *hd) {
    while (hd->p < hd->end && (*hd->p == ' ' || *hd->p == '\t' || *hd->p == '\n')) hd->p++;
}

// Consumes `c` (after optional spaces) if it is next; returns whether it was.
static int accept(npy_header *hd, char c) {
    skip_space(hd);
    if (hd->p < hd->end && *hd->p == c) {
        hd->p++;
        return 1;
    }
    return 0;
}

// A '...' or "..." string without escapes (none of the keys or dtypes needs one).
static int parse_string(npy_header *hd, char *out, size_t size) {
    skip_space(hd);
    if (hd->p >= hd->end || (*hd->p != '\'' && *hd->p != '"')) return malformed(hd, "expected a string");
    char quote = *hd->p++;
    size_t len = 0;
    for (; hd->p < hd->end && *hd->p != quote; hd->p++) {
        if (*hd->p == '\\' || len + 1 >= size) return malformed(hd, "bad string");
        out[len++] = *hd->p;
    }
    if (hd->p >= hd->end) return malformed(hd, "unterminated string");
    if (len == 0) return malformed(hd, "empty string");
    hd->p++;
    out[len] = 0;
    return 0;
}

static int parse_word(npy_header *hd, const char *word) {
    skip_space(hd);
    size_t len = strlen(word);
    if ((size_t)(hd->end - hd->p) < len || memcmp(hd->p, word, len)) return -1;
    hd->p += len;
    return 0;
}

static int parse_bool(npy_header *hd, int *out) {
    if (!parse_word(hd, "True"))
        *out = 1;
    else if (!parse_word(hd, "False"))
        *out = 0;
    else
        return malformed(hd, "expected True or False");
    return 0;
}

// A non-negative decimal int that fits in int64 (a bigger one is no image anyway).
static int parse_int(npy_header *hd, int64_t *out) {
    skip_space(hd);
    int64_t v = 0;
    const char *start = hd->p;
    for (; hd->p < hd->end && isdigit((unsigned char)*hd->p); hd->p++) {
        int d = *hd->p - '0';
        if (v > (INT64_MAX - d) / 10) return malformed(hd, "shape value too large");
        v = v * 10 + d;
    }
    if (hd->p == start) return malformed(hd, "expected an integer in the shape");
    *out = v;
    return 0;
}

// "(a, b, c)", "(a,)" or "()", with an optional trailing comma.
static int parse_shape(npy_header *hd) {
    if (!accept(hd, '(')) return malformed(hd, "expected a shape tuple");
    hd->ndim = 0;
    while (!accept(hd, ')')) {
        if (hd->ndim == MAX_DIMS) return as_errorf("%s: shape has more than %d dimensions", hd->name, MAX_DIMS);
        if (parse_int(hd, &hd->shape[hd->ndim++])) return -1;
        if (!accept(hd, ',')) {
            if (!accept(hd, ')')) return malformed(hd, "expected ',' or ')' in the shape");
            if (hd->ndim == 1) return malformed(hd, "a one-element shape needs a comma");
            break;
        }
    }
    return 0;
}

static int parse_entry(npy_header *hd) {
    char key[32];
    if (parse_string(hd, key, sizeof key)) return -1;
    if (!accept(hd, ':')) return malformed(hd, "expected ':'");
    if (!strcmp(key, "descr") && !hd->descr[0]) return parse_string(hd, hd->descr, sizeof hd->descr);
    if (!strcmp(key, "fortran_order") && hd->fortran < 0) return parse_bool(hd, &hd->fortran);
    if (!strcmp(key, "shape") && hd->ndim < 0) return parse_shape(hd);
    return as_errorf("%s: malformed .npy header (unexpected or repeated key '%s')", hd->name, key);
}

// The dict: entries separated by commas, an optional trailing comma, then only padding.
static int parse_dict(npy_header *hd) {
    if (!accept(hd, '{')) return malformed(hd, "expected '{'");
    while (!accept(hd, '}')) {
        if (parse_entry(hd)) return -1;
        if (!accept(hd, ',')) {
            if (!accept(hd, '}')) return malformed(hd, "expected ',' or '}'");
            break;
        }
    }
    skip_space(hd);
    if (hd->p != hd->end) return malformed(hd, "text after the dict");
    if (!hd->descr[0] || hd->fortran < 0 || hd->ndim < 0) return malformed(hd, "missing key");
    return 0;
}

// ---- header checks -----------------------------------------------------------------

static uint32_t get_le(const uint8_t *p, int bytes) {
    uint32_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

// Locates the header text and the data from the preamble; returns the data offset.
static int split_file(const uint8_t *data, size_t n, npy_header *hd, size_t *data_off) {
    if (n < 10) return as_errorf("%s: truncated .npy header", hd->name);
    int major = data[6], minor = data[7];
    if (major < 1 || major > 3 || minor != 0)
        return as_errorf("%s: unsupported .npy version %d.%d", hd->name, major, minor);
    int len_bytes = major == 1 ? 2 : 4;
    size_t start = 6 + 2 + len_bytes;
    if (n < start) return as_errorf("%s: truncated .npy header", hd->name);
    size_t len = get_le(data + 8, len_bytes);
    if (len > n - start) return as_errorf("%s: truncated .npy header", hd->name);
    hd->p = (const char *)data + start;
    hd->end = hd->p + len;
    *data_off = start + len;
    return 0;
}

// dtype, order and shape must describe an image; gives its size and channel count.
static int check_header(const npy_header *hd, int *w, int *h, int *c) {
    if (strcmp(hd->descr, "<f4"))
        return as_errorf("%s: dtype '%s' is not supported (float32 '<f4' required)", hd->name, hd->descr);
    if (hd->fortran) return as_errorf("%s: fortran_order True is not supported (C order required)", hd->name);
    int64_t ch = hd->ndim == 3 ? hd->shape[2] : 1;
    if (hd->ndim < 2 || (ch != 1 && ch != 3 && ch != 4))
        return as_errorf("%s: shape must be (h, w), (h, w, 1), (h, w, 3) or (h, w, 4)", hd->name);
    if (as_check_pixels(hd->name, hd->shape[1], hd->shape[0])) return -1;
    *h = (int)hd->shape[0];
    *w = (int)hd->shape[1];
    *c = (int)ch;
    return 0;
}

// ---- reading -------------------------------------------------------------------------

static float get_f32(const uint8_t *p) {
    uint32_t u = get_le(p, 4);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// Samples of src_c channels to img (a single gray channel goes to R, G and B).
static void copy_floats(image *img, const uint8_t *src, int src_c) {
    const size_t n = (size_t)img->w * img->h;
    const int c = img->c;
#pragma omp parallel for schedule(static) if (n * c >= AS_PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        const uint8_t *s = src + i * src_c * 4;
        for (int k = 0; k < c; k++) img->px[i * c + k] = get_f32(s + (src_c == 1 ? 0 : 4 * k));
    }
}

int image_npy_decode(const uint8_t *data, size_t n, const char *name, image *img) {
    npy_header hd = {.name = name, .fortran = -1, .ndim = -1};
    size_t off = 0;
    int w = 0, h = 0, c = 0;
    if (split_file(data, n, &hd, &off) || parse_dict(&hd) || check_header(&hd, &w, &h, &c)) return -1;
    size_t want = (size_t)w * h * c * 4;  // no overflow: w * h is within the pixel limit
    if (n - off != want)
        return as_errorf("%s: data is %zu bytes but shape (%d, %d, %d) needs %zu", name, n - off, h, w, c, want);
    if (image_alloc(img, w, h, c == 1 ? 3 : c)) return as_errorf("%s: %s", name, as_error());
    img->gray = c == 1;
    copy_floats(img, data + off, c);
    // NaN or Inf would spread through every filter and network into the whole output
    size_t n_val = (size_t)img->w * img->h * img->c, bad = as_first_nonfinite(img->px, n_val);
    if (bad < n_val) {
        as_errorf("%s: pixel (x %zu, y %zu) channel %zu holds a non-finite value (%g); values must be finite", name,
                  bad / img->c % img->w, bad / img->c / img->w, bad % img->c, img->px[bad]);
        image_free(img);
        return -1;
    }
    return 0;
}

// ---- writing -------------------------------------------------------------------------

// Version 1.0, the header padded with spaces so that the data starts at a multiple of 64
// bytes, as numpy writes it.
static int write_header(FILE *fp, const image *img) {
    char dict[128];
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }", img->h,
                       img->w, img->c);
    int total = (10 + len + 1 + 63) / 64 * 64;  // + 1 for the closing newline
    int hlen = total - 10;
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff), (uint8_t)(hlen >> 8)};
    if (fwrite(pre, 1, sizeof pre, fp) != sizeof pre || fputs(dict, fp) < 0) return -1;
    for (int i = len; i < hlen - 1; i++)
        if (fputc(' ', fp) == EOF) return -1;
    return fputc('\n', fp) == EOF ? -1 : 0;
}

// Little-endian bytes whatever the host, a block at a time.
static int write_floats(FILE *fp, const float *px, size_t n) {
    uint8_t buf[4096];
    while (n > 0) {
        size_t m = AS_MIN(n, sizeof buf / 4);
        for (size_t i = 0; i < m; i++) {
            uint32_t u;
            memcpy(&u, &px[i], 4);
            for (int b = 0; b < 4; b++) buf[4 * i + b] = (uint8_t)(u >> (8 * b));
        }
        if (fwrite(buf, 4, m, fp) != m) return -1;
        px += m;
        n -= m;
    }
    return 0;
}

int image_npy_encode(FILE *fp, const char *name, const image *img) {
    if (write_header(fp, img) || write_floats(fp, img->px, (size_t)img->w * img->h * img->c))
        return as_errorf("%s: write failed", name);
    return 0;
}
