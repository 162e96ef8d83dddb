// JPEG reading and writing on libjpeg(-turbo).
//
// libjpeg's default error handler prints and calls exit(); ours formats the message and
// longjmps back to decode()/encode(). As in png.c, whatever those functions allocate is
// kept in a context struct owned by the caller, which frees it on every path.
//
// libjpeg reports damaged data as warnings and carries on, inventing pixels (a truncated
// file is padded with gray). A reader that hands those pixels on as an image would feed
// garbage to training and evaluation, so such warnings are errors here. Warnings that
// leave the pixels intact (stray bytes between markers, unknown JFIF revisions) are not.
// CMYK and YCCK JPEGs are refused: SR data is RGB, and converting them needs the colour
// profile to be right.
#include <stdio.h>  // before jpeglib.h, which uses FILE

#include <jpeglib.h>  // before jerror.h, whose message list depends on jconfig.h
#include <jerror.h>
#include <limits.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "image/codec.h"

typedef struct {
    struct jpeg_error_mgr mgr;  // first, so libjpeg's err pointer is also ours
    jmp_buf jmp;
    const char *name;
    char msg[JMSG_LENGTH_MAX];
    int gray;          // decoding a one-channel JPEG
    uint8_t *samples;  // decoded rows, or rows to encode
} jpeg_ctx;

static void on_error(j_common_ptr cinfo) {
    jpeg_ctx *ctx = (jpeg_ctx *)cinfo->err;
    cinfo->err->format_message(cinfo, ctx->msg);
    longjmp(ctx->jmp, 1);
}

// The warnings after which the decoded pixels are not the file's.
static int damages_pixels(int code) {
    switch (code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
#if JPEG_LIB_VERSION >= 70 || defined(D_ARITH_CODING_SUPPORTED)
    case JWRN_ARITH_BAD_CODE:
#endif
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
    case JWRN_BOGUS_PROGRESSION: return 1;
    default: return 0;
    }
}

// level < 0: a warning; level >= 0: trace output, which we never want.
static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0 && damages_pixels(cinfo->err->msg_code)) on_error(cinfo);
}

static void init_errors(jpeg_ctx *ctx, const char *name) {
    memset(ctx, 0, sizeof *ctx);
    ctx->name = name;
    jpeg_std_error(&ctx->mgr);
    ctx->mgr.error_exit = on_error;
    ctx->mgr.emit_message = on_message;
}

// Chooses the output colour space: gray stays one channel (expanded by
// image_from_samples), everything else but CMYK/YCCK decodes to RGB.
static int set_output(struct jpeg_decompress_struct *cinfo, jpeg_ctx *ctx) {
    switch (cinfo->jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo->out_color_space = JCS_GRAYSCALE;
        ctx->gray = 1;
        return 0;
    case JCS_CMYK:
    case JCS_YCCK: return as_errorf("%s: CMYK JPEG is not supported (convert it to RGB)", ctx->name);
    default:
        cinfo->out_color_space = JCS_RGB;
        ctx->gray = 0;
        return 0;
    }
}

static const char EXIF_ID[6] = "Exif\0";  // APP1's identifier, both NULs included

// The first APP1 Exif segment's TIFF structure, and the ICC profile (APP2, possibly in
// several segments: libjpeg-turbo reassembles it), into img->meta.
static int read_meta(struct jpeg_decompress_struct *cinfo, jpeg_ctx *ctx, image *img) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length <= 6 || memcmp(m->data, EXIF_ID, 6)) continue;
        if (image_blob_copy(&img->meta.exif, &img->meta.exif_n, m->data + 6, m->data_length - 6))
            return as_errorf("%s: %s", ctx->name, as_error());
        break;
    }
    JOCTET *icc = NULL;
    unsigned int icc_n = 0;
    if (jpeg_read_icc_profile(cinfo, &icc, &icc_n)) {
        int rc = image_blob_copy(&img->meta.icc, &img->meta.icc_n, icc, icc_n);
        free(icc);
        if (rc) return as_errorf("%s: %s", ctx->name, as_error());
    }
    return 0;
}

static int decode(struct jpeg_decompress_struct *cinfo, jpeg_ctx *ctx, const uint8_t *data, size_t n, image *img) {
    if (setjmp(ctx->jmp)) return as_errorf("%s: corrupt JPEG (%s)", ctx->name, ctx->msg);
    jpeg_create_decompress(cinfo);
    jpeg_mem_src(cinfo, data, (unsigned long)n);
    // Kept in libjpeg's pool (bounded by the file's size), freed with cinfo.
    jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xffff);
    jpeg_save_markers(cinfo, JPEG_APP0 + 2, 0xffff);
    jpeg_read_header(cinfo, TRUE);
    if (as_check_pixels(ctx->name, cinfo->image_width, cinfo->image_height)) return -1;
    if (set_output(cinfo, ctx)) return -1;
    jpeg_start_decompress(cinfo);  // progressive files are decoded whole here

    int src_c = cinfo->output_components, w = cinfo->output_width, h = cinfo->output_height;
    if (src_c != (ctx->gray ? 1 : 3)) return as_errorf("%s: unexpected JPEG output (%d channels)", ctx->name, src_c);
    size_t stride = (size_t)w * src_c;
    if (image_alloc(img, w, h, 3) || !(ctx->samples = as_malloc_array(h, stride)))
        return as_errorf("%s: %s", ctx->name, as_error());
    img->gray = ctx->gray;
    img->depth = 8;
    if (read_meta(cinfo, ctx, img)) return -1;
    while (cinfo->output_scanline < cinfo->output_height) {
        JSAMPROW row = ctx->samples + cinfo->output_scanline * stride;
        jpeg_read_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_decompress(cinfo);  // reads to EOI: a cut tail is caught here
    image_from_samples(img, ctx->samples, stride, src_c, 8);
    return 0;
}

int image_jpeg_decode(const uint8_t *data, size_t n, const char *name, image *img) {
    jpeg_ctx ctx;
    init_errors(&ctx, name);
    struct jpeg_decompress_struct cinfo;
    memset(&cinfo, 0, sizeof cinfo);  // jpeg_destroy is a no-op until create succeeded
    cinfo.err = &ctx.mgr;
    int rc = decode(&cinfo, &ctx, data, n, img);
    jpeg_destroy_decompress(&cinfo);
    free(ctx.samples);
    if (rc) image_free(img);
    return rc;
}

// Quality as given, 4:4:4 (no chroma subsampling: SR outputs are all about fine detail).
static void set_params(struct jpeg_compress_struct *cinfo, const image *img, const image_encoding *e) {
    cinfo->image_width = img->w;
    cinfo->image_height = img->h;
    cinfo->input_components = e->gray ? 1 : 3;
    cinfo->in_color_space = e->gray ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(cinfo);
    jpeg_set_quality(cinfo, e->quality, TRUE);
    for (int i = 0; i < cinfo->num_components; i++)
        cinfo->comp_info[i].h_samp_factor = cinfo->comp_info[i].v_samp_factor = 1;
}

// EXIF as APP1 (when it fits one segment, as the standard requires) and the ICC profile
// as APP2, right after the JFIF header.
static void write_meta(struct jpeg_compress_struct *cinfo, const image *img, int gray) {
    if (img->meta.exif && img->meta.exif_n <= 0xffff - 2 - sizeof EXIF_ID) {
        jpeg_write_m_header(cinfo, JPEG_APP0 + 1, (unsigned)(sizeof EXIF_ID + img->meta.exif_n));
        for (size_t i = 0; i < sizeof EXIF_ID; i++) jpeg_write_m_byte(cinfo, EXIF_ID[i]);
        for (size_t i = 0; i < img->meta.exif_n; i++) jpeg_write_m_byte(cinfo, img->meta.exif[i]);
    }
    if (image_icc_fits(img, gray) && img->meta.icc_n <= UINT_MAX)
        jpeg_write_icc_profile(cinfo, img->meta.icc, (unsigned)img->meta.icc_n);
}

static int encode(struct jpeg_compress_struct *cinfo, jpeg_ctx *ctx, FILE *fp, const image *img,
                  const image_encoding *e) {
    if (setjmp(ctx->jmp)) return as_errorf("%s: cannot write JPEG (%s)", ctx->name, ctx->msg);
    int c = e->gray ? 1 : 3;
    size_t stride = (size_t)img->w * c;
    if (!(ctx->samples = as_malloc_array(img->h, stride))) return as_errorf("%s: %s", ctx->name, as_error());
    image_to_samples(img, ctx->samples, c, 8);  // JPEG has no alpha: it is dropped
    jpeg_create_compress(cinfo);
    jpeg_stdio_dest(cinfo, fp);
    set_params(cinfo, img, e);
    jpeg_start_compress(cinfo, TRUE);
    write_meta(cinfo, img, e->gray);
    while (cinfo->next_scanline < cinfo->image_height) {
        JSAMPROW row = ctx->samples + cinfo->next_scanline * stride;
        jpeg_write_scanlines(cinfo, &row, 1);
    }
    jpeg_finish_compress(cinfo);
    return 0;
}

int image_jpeg_encode(FILE *fp, const char *name, const image *img, const image_encoding *e) {
    jpeg_ctx ctx;
    init_errors(&ctx, name);
    struct jpeg_compress_struct cinfo;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = &ctx.mgr;
    int rc = encode(&cinfo, &ctx, fp, img, e);
    jpeg_destroy_compress(&cinfo);
    free(ctx.samples);
    return rc;
}
