// PNG reading and writing on libpng 1.6.
//
// libpng reports errors by calling our error callback, which must not return: it records
// the message and longjmps back to the setjmp in decode()/encode(). Everything those
// functions allocate lives in a context struct owned by the caller, not in their own
// locals, so nothing is lost or indeterminate after the longjmp and the caller frees it
// on every path. Warnings (benign by libpng's definition) are ignored; nothing prints.
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "image/codec.h"

typedef struct {
    const char *name;
    const char *what;     // "corrupt PNG" or "cannot write PNG": heads libpng's messages
    const uint8_t *data;  // reading: the whole file
    size_t n, pos;
    char msg[256];     // why libpng gave up
    uint8_t *samples;  // decoded rows, or rows to encode
    png_bytep *rows;   // pointers into samples
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
    png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s (%s)", ctx->what, msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {}

static void on_read(png_structp png, png_bytep out, size_t len) {
    png_ctx *ctx = png_get_io_ptr(png);
    if (len > ctx->n - ctx->pos) {
        snprintf(ctx->msg, sizeof ctx->msg, "truncated PNG data");
        png_longjmp(png, 1);
    }
    memcpy(out, ctx->data + ctx->pos, len);
    ctx->pos += len;
}

// Row pointers into ctx->samples, `stride` bytes apart.
static int alloc_rows(png_ctx *ctx, int h, size_t stride) {
    ctx->samples = as_malloc_array((size_t)h, stride);
    ctx->rows = as_malloc_array((size_t)h, sizeof *ctx->rows);
    if (!ctx->samples || !ctx->rows) return as_errorf("%s: %s", ctx->name, as_error());
    for (int y = 0; y < h; y++) ctx->rows[y] = ctx->samples + (size_t)y * stride;
    return 0;
}

// Asks libpng for 8- or 16-bit RGB or RGBA rows whatever the file holds: palettes and
// low-depth gray are expanded, tRNS becomes an alpha channel, gray is copied to R, G, B.
// Gamma and colour chunks are not applied, as every SR tool does (iCCP is carried as
// metadata, read_meta).
static void set_transforms(png_structp png, png_infop info) {
    int type = png_get_color_type(png, info);
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (!(type & PNG_COLOR_MASK_COLOR)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);  // Adam7: png_read_image runs every pass
    png_read_update_info(png, info);
}

// iCCP and eXIf (before or after the pixels) into img->meta, as stored.
static int read_meta(png_structp png, png_infop info, png_ctx *ctx, image *img) {
    png_charp icc_name;
    int compression;
    png_bytep icc, exif;
    png_uint_32 icc_n, exif_n;
    if (png_get_iCCP(png, info, &icc_name, &compression, &icc, &icc_n) &&
        image_blob_copy(&img->meta.icc, &img->meta.icc_n, icc, icc_n))
        return as_errorf("%s: %s", ctx->name, as_error());
    if (png_get_eXIf_1(png, info, &exif_n, &exif) && image_blob_copy(&img->meta.exif, &img->meta.exif_n, exif, exif_n))
        return as_errorf("%s: %s", ctx->name, as_error());
    return 0;
}

static int decode(png_structp png, png_infop info, png_ctx *ctx, image *img) {
    if (setjmp(png_jmpbuf(png))) return as_errorf("%s: %s", ctx->name, ctx->msg);
    png_set_read_fn(png, ctx, on_read);
    // libpng's own cap (a million pixels a side) would refuse images that as_limits
    // allows; as_check_pixels below is the one size policy.
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (as_check_pixels(ctx->name, w, h)) return -1;  // before any pixel memory
    int gray = !(png_get_color_type(png, info) & PNG_COLOR_MASK_COLOR);
    set_transforms(png, info);

    int c = png_get_channels(png, info), depth = png_get_bit_depth(png, info);
    size_t stride = png_get_rowbytes(png, info);
    if ((c != 3 && c != 4) || (depth != 8 && depth != 16) || stride != (size_t)w * c * depth / 8)
        return as_errorf("%s: unexpected PNG row layout (%d channels, %d bits)", ctx->name, c, depth);
    if (image_alloc(img, (int)w, (int)h, c)) return as_errorf("%s: %s", ctx->name, as_error());
    img->gray = gray;
    if (alloc_rows(ctx, (int)h, stride)) return -1;
    img->depth = depth;
    png_read_image(png, ctx->rows);
    png_read_end(png, info);  // checks the chunks up to IEND, so a cut tail is caught too
    image_from_samples(img, ctx->samples, stride, c, depth);
    return read_meta(png, info, ctx, img);
}

int image_png_decode(const uint8_t *data, size_t n, const char *name, image *img) {
    png_ctx ctx = {.name = name, .what = "corrupt PNG", .data = data, .n = n};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = info ? decode(png, info, &ctx, img) : as_errorf("%s: cannot start libpng", name);
    png_destroy_read_struct(&png, &info, NULL);
    free(ctx.rows);
    free(ctx.samples);
    if (rc) image_free(img);
    return rc;
}

static int encode(png_structp png, png_infop info, png_ctx *ctx, FILE *fp, const image *img, const image_encoding *e) {
    if (setjmp(png_jmpbuf(png))) return as_errorf("%s: %s", ctx->name, ctx->msg);
    int alpha = img->c == 4, c = e->gray ? 1 + alpha : 3 + alpha;
    if (alloc_rows(ctx, img->h, (size_t)img->w * c * (e->depth / 8))) return -1;
    image_to_samples(img, ctx->samples, c, e->depth);
    png_init_io(png, fp);
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);  // as in decode()
    int type = e->gray ? (alpha ? PNG_COLOR_TYPE_GRAY_ALPHA : PNG_COLOR_TYPE_GRAY)
                       : (alpha ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB);
    png_set_IHDR(png, info, img->w, img->h, e->depth, type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    // A profile libpng finds malformed is dropped with a (silent) warning, not an error.
    png_set_benign_errors(png, 1);
    if (image_icc_fits(img, e->gray))
        png_set_iCCP(png, info, "ICC profile", PNG_COMPRESSION_TYPE_BASE, img->meta.icc, (png_uint_32)img->meta.icc_n);
    if (img->meta.exif && img->meta.exif_n <= PNG_UINT_31_MAX)
        png_set_eXIf_1(png, info, (png_uint_32)img->meta.exif_n, img->meta.exif);
    // zlib's fastest level (OpenCV's default): at the default 6, deflate took a quarter
    // of a 2048x2048 upscale's time (the network's included) for files 20-30% smaller
    png_set_compression_level(png, 1);
    // Paeth on every row rather than libpng's per-row choice among all five filters:
    // at level 1 it encoded SR outputs and benchmark photos 1.0-1.9x faster (512x512 SR
    // output: 14.8 against 28.7 ms) into files within 3% of the adaptive ones
    // (docs/benchmarks.md)
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_PAETH);
    png_write_info(png, info);
    const uint16_t one = 1;
    if (e->depth == 16 && *(const uint8_t *)&one) png_set_swap(png);  // host order to PNG's big-endian
    png_write_image(png, ctx->rows);
    png_write_end(png, NULL);
    return 0;
}

int image_png_encode(FILE *fp, const char *name, const image *img, const image_encoding *e) {
    png_ctx ctx = {.name = name, .what = "cannot write PNG"};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    int rc = info ? encode(png, info, &ctx, fp, img, e) : as_errorf("%s: cannot start libpng", name);
    png_destroy_write_struct(&png, &info);
    free(ctx.rows);
    free(ctx.samples);
    return rc;
}
