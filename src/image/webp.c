// WebP reading and writing on libwebp (decode/encode), with its demux and mux
// libraries for the ICCP and EXIF chunks.
//
// libwebp reports failures by return values, never prints or exits. The decoder checks
// the size first (WebPGetFeatures reads only the headers), then decodes into a buffer
// we allocate, so as_limits bounds the pixel memory. Animated files are refused: an SR
// tool upscales images, and ffmpeg splits animations into frames better than we would.
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/demux.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include "core/core.h"
#include "image/codec.h"

// ICCP and EXIF chunks into img->meta. A container the demuxer cannot parse (a simple
// lossy file has none) simply has no metadata.
static int read_meta(const uint8_t *data, size_t n, const char *name, image *img) {
    WebPData wd = {data, n};
    WebPDemuxer *d = WebPDemux(&wd);
    if (!d) return 0;
    uint32_t flags = WebPDemuxGetI(d, WEBP_FF_FORMAT_FLAGS);
    WebPChunkIterator it;
    int rc = 0;
    if ((flags & ICCP_FLAG) && WebPDemuxGetChunk(d, "ICCP", 1, &it)) {
        rc = image_blob_copy(&img->meta.icc, &img->meta.icc_n, it.chunk.bytes, it.chunk.size);
        WebPDemuxReleaseChunkIterator(&it);
    }
    if (!rc && (flags & EXIF_FLAG) && WebPDemuxGetChunk(d, "EXIF", 1, &it)) {
        const uint8_t *p = it.chunk.bytes;
        size_t len = it.chunk.size;
        if (len >= 6 && !memcmp(p, "Exif\0\0", 6)) p += 6, len -= 6;  // some writers keep JPEG's prefix
        rc = image_blob_copy(&img->meta.exif, &img->meta.exif_n, p, len);
        WebPDemuxReleaseChunkIterator(&it);
    }
    WebPDemuxDelete(d);
    return rc ? as_errorf("%s: %s", name, as_error()) : 0;
}

int image_webp_decode(const uint8_t *data, size_t n, const char *name, image *img) {
    WebPBitstreamFeatures f;
    uint8_t *buf = NULL;
    if (WebPGetFeatures(data, n, &f) != VP8_STATUS_OK) return as_errorf("%s: corrupt WebP (bad headers)", name);
    if (f.has_animation) return as_errorf("%s: animated WebP is not supported (extract its frames first)", name);
    if (as_check_pixels(name, f.width, f.height)) return -1;
    const int c = f.has_alpha ? 4 : 3;
    const size_t stride = (size_t)f.width * c;
    int rc = 0;
    if (!(buf = as_malloc_array((size_t)f.height, stride)) || image_alloc(img, f.width, f.height, c)) {
        rc = as_errorf("%s: %s", name, as_error());
    } else {
        size_t size = stride * f.height;
        uint8_t *ok = c == 4 ? WebPDecodeRGBAInto(data, n, buf, size, (int)stride)
                             : WebPDecodeRGBInto(data, n, buf, size, (int)stride);
        if (!ok) rc = as_errorf("%s: corrupt WebP data", name);
    }
    if (!rc) {
        image_from_samples(img, buf, stride, c, 8);
        img->depth = 8;
        rc = read_meta(data, n, name, img);
    }
    free(buf);
    if (rc) image_free(img);
    return rc ? -1 : 0;
}

static const char *encode_error(WebPEncodingError e) {
    switch (e) {
    case VP8_ENC_ERROR_OUT_OF_MEMORY:
    case VP8_ENC_ERROR_BITSTREAM_OUT_OF_MEMORY: return "out of memory";
    case VP8_ENC_ERROR_BAD_DIMENSION: return "WebP is at most 16383 pixels a side";
    case VP8_ENC_ERROR_FILE_TOO_BIG: return "the file would be over 4 GiB";
    default: return "the encoder failed";
    }
}

// The encoded bitstream wrapped with ICCP/EXIF chunks when there are any.
static int write_with_meta(FILE *fp, const char *name, const image *img, const WebPMemoryWriter *wr) {
    int icc = image_icc_fits(img, 0), exif = img->meta.exif != NULL;
    if (!icc && !exif) {
        return fwrite(wr->mem, 1, wr->size, fp) == wr->size ? 0 : as_errorf("%s: write failed", name);
    }
    WebPMux *mux = WebPMuxNew();
    WebPData bits = {wr->mem, wr->size}, out = {0}, icc_d = {img->meta.icc, img->meta.icc_n},
             exif_d = {img->meta.exif, img->meta.exif_n};
    int ok = mux && WebPMuxSetImage(mux, &bits, 0) == WEBP_MUX_OK &&
             (!icc || WebPMuxSetChunk(mux, "ICCP", &icc_d, 0) == WEBP_MUX_OK) &&
             (!exif || WebPMuxSetChunk(mux, "EXIF", &exif_d, 0) == WEBP_MUX_OK) &&
             WebPMuxAssemble(mux, &out) == WEBP_MUX_OK;
    int rc = !ok ? as_errorf("%s: cannot write WebP (adding the metadata failed)", name)
             : fwrite(out.bytes, 1, out.size, fp) != out.size ? as_errorf("%s: write failed", name)
                                                              : 0;
    WebPDataClear(&out);
    WebPMuxDelete(mux);
    return rc;
}

// Lossless (exact: the colour under transparent pixels is kept too) unless a quality is
// given; then lossy at that quality. Gray is written as RGB (WebP has no gray mode).
int image_webp_encode(FILE *fp, const char *name, const image *img, const image_encoding *e) {
    WebPConfig cfg;
    WebPPicture pic;
    WebPMemoryWriter wr;
    if (!WebPConfigInit(&cfg) || !WebPPictureInit(&pic)) return as_errorf("%s: cannot start libwebp", name);
    if (img->w > WEBP_MAX_DIMENSION || img->h > WEBP_MAX_DIMENSION)
        return as_errorf("%s: cannot write WebP (%s)", name, encode_error(VP8_ENC_ERROR_BAD_DIMENSION));
    cfg.lossless = e->lossless;
    cfg.exact = 1;
    if (!e->lossless) cfg.quality = (float)e->quality;
    const int c = img->c;
    const size_t stride = (size_t)img->w * c;
    uint8_t *buf = as_malloc_array((size_t)img->h, stride);
    if (!buf) return as_errorf("%s: %s", name, as_error());
    image_to_samples(img, buf, c, 8);
    pic.use_argb = 1;
    pic.width = img->w;
    pic.height = img->h;
    WebPMemoryWriterInit(&wr);
    pic.writer = WebPMemoryWrite;
    pic.custom_ptr = &wr;
    int ok = c == 4 ? WebPPictureImportRGBA(&pic, buf, (int)stride) : WebPPictureImportRGB(&pic, buf, (int)stride);
    free(buf);
    int rc = !ok                       ? as_errorf("%s: cannot write WebP (out of memory)", name)
             : !WebPEncode(&cfg, &pic) ? as_errorf("%s: cannot write WebP (%s)", name, encode_error(pic.error_code))
                                       : write_with_meta(fp, name, img, &wr);
    WebPPictureFree(&pic);
    WebPMemoryWriterClear(&wr);
    return rc;
}
