// TIFF reading and writing on libtiff 4.5.
//
// libtiff reports failures by return values and a handler; ours (set per file through
// TIFFOpenOptions, so nothing global is involved) keeps the first message for the
// one-line error and never prints. Its own allocations are capped at as_limits'
// max_alloc, and the pixel count is checked before ours.
//
// Reading: 8- or 16-bit gray, gray+alpha, RGB and RGBA in strips (what scanners,
// photo tools and PIL write) are read as they are, 16 bits kept; everything else
// libtiff's RGBA interface can read (palette, 1-4 bit, YCbCr, JPEG-in-TIFF, tiles,
// CMYK, min-is-white) comes through it as 8-bit RGBA. The first page only. The TIFF
// Orientation tag is applied like EXIF's unless the caller keeps the stored order.
// Writing: 8 or 16 bits, gray or RGB (+ alpha, unassociated), deflate with the
// horizontal predictor (lossless), the ICC profile as TIFFTAG_ICCPROFILE.
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <tiffio.h>

#include "core/core.h"
#include "image/codec.h"

typedef struct {
    const char *name;
    const uint8_t *data;  // reading: the whole file
    size_t n, pos;
    FILE *fp;  // writing
    char msg[256];
} tiff_io;

static int on_error(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    tiff_io *io = user;
    if (!io->msg[0]) vsnprintf(io->msg, sizeof io->msg, fmt, ap);
    return 1;  // handled: libtiff's global handler (stderr) is not called
}

static int on_warning(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) { return 1; }

// Messages libtiff gives before a file is open go to the global handlers: silence them.
static void quiet_globals(void) {
    TIFFSetErrorHandler(NULL);
    TIFFSetWarningHandler(NULL);
}

static tmsize_t mem_read(thandle_t h, void *buf, tmsize_t len) {
    tiff_io *io = (tiff_io *)h;
    if (len < 0) return -1;
    size_t k = AS_MIN((size_t)len, io->n - io->pos);
    memcpy(buf, io->data + io->pos, k);
    io->pos += k;
    return (tmsize_t)k;
}

static tmsize_t no_write(thandle_t h, void *buf, tmsize_t len) { return -1; }

static toff_t mem_seek(thandle_t h, toff_t off, int whence) {
    tiff_io *io = (tiff_io *)h;
    uint64_t base = whence == SEEK_CUR ? io->pos : whence == SEEK_END ? io->n : 0;
    if (off > UINT64_MAX - base || base + off > io->n) return (toff_t)-1;
    io->pos = (size_t)(base + off);
    return io->pos;
}

static int no_close(thandle_t h) { return 0; }
static toff_t mem_size(thandle_t h) { return ((tiff_io *)h)->n; }
static int no_map(thandle_t h, void **base, toff_t *size) { return 0; }
// The file is in memory already: libtiff reads it in place (as it does an mmap'd file).
static int mem_map(thandle_t h, void **base, toff_t *size) {
    tiff_io *io = (tiff_io *)h;
    *base = (void *)io->data;
    *size = io->n;
    return 1;
}
static void no_unmap(thandle_t h, void *base, toff_t size) {}

static tmsize_t file_read(thandle_t h, void *buf, tmsize_t len) {
    return len < 0 ? -1 : (tmsize_t)fread(buf, 1, (size_t)len, ((tiff_io *)h)->fp);
}
static tmsize_t file_write(thandle_t h, void *buf, tmsize_t len) {
    return len < 0 ? -1 : (tmsize_t)fwrite(buf, 1, (size_t)len, ((tiff_io *)h)->fp);
}
static toff_t file_seek(thandle_t h, toff_t off, int whence) {
    FILE *fp = ((tiff_io *)h)->fp;
    if (off > INT64_MAX || fseeko(fp, (off_t)off, whence)) return (toff_t)-1;
    return (toff_t)ftello(fp);
}
static toff_t file_size(thandle_t h) {
    FILE *fp = ((tiff_io *)h)->fp;
    off_t at = ftello(fp), end = fseeko(fp, 0, SEEK_END) ? -1 : ftello(fp);
    fseeko(fp, at, SEEK_SET);
    return end < 0 ? 0 : (toff_t)end;
}

static TIFF *open_tiff(tiff_io *io, const char *mode) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, quiet_globals);
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return NULL;
    TIFFOpenOptionsSetMaxSingleMemAlloc(o, (tmsize_t)AS_MIN(as_limits.max_alloc, (size_t)INT64_MAX));
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error, io);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning, io);
    TIFF *tif = mode[0] == 'r' ? TIFFClientOpenExt(io->name, mode, (thandle_t)io, mem_read, no_write, mem_seek,
                                                   no_close, mem_size, mem_map, no_unmap, o)
                               : TIFFClientOpenExt(io->name, mode, (thandle_t)io, file_read, file_write, file_seek,
                                                   no_close, file_size, no_map, no_unmap, o);
    TIFFOpenOptionsFree(o);
    return tif;
}

static int tiff_error(tiff_io *io, const char *what) {
    return as_errorf("%s: %s (%s)", io->name, what, io->msg[0] ? io->msg : "libtiff gave no reason");
}

// Unassociated (straight) alpha from associated (premultiplied).
static void unpremultiply(image *img) {
    size_t n = (size_t)img->w * img->h;
    for (size_t i = 0; i < n; i++) {
        float *p = img->px + 4 * i;
        if (p[3] > 0)
            for (int k = 0; k < 3; k++) p[k] = AS_MIN(p[k] / p[3], 1.0f);
    }
}

// The common layouts, read as stored: 8/16-bit contiguous strips.
static int read_strips(TIFF *tif, tiff_io *io, image *img, uint32_t w, uint32_t h, int spp, int bps, int gray,
                       int assoc) {
    tmsize_t line = TIFFScanlineSize(tif);
    if (line <= 0 || (uint64_t)line != (uint64_t)w * spp * (bps / 8))
        return tiff_error(io, "unexpected TIFF row layout");
    uint8_t *buf = as_malloc_array(h, (size_t)line);
    int rc = 0;
    if (!buf || image_alloc(img, (int)w, (int)h, spp % 2 == 0 ? 4 : 3)) {
        rc = as_errorf("%s: %s", io->name, as_error());
    } else {
        for (uint32_t y = 0; y < h && !rc; y++)
            if (TIFFReadScanline(tif, buf + (size_t)y * line, y, 0) < 0) rc = tiff_error(io, "corrupt TIFF");
    }
    if (!rc) {
        const uint16_t one = 1;
        if (bps == 16 && *(const uint8_t *)&one) {  // image_from_samples takes 16 bits big-endian
            for (size_t i = 0; i < (size_t)h * line; i += 2) {
                uint8_t t = buf[i];
                buf[i] = buf[i + 1], buf[i + 1] = t;
            }
        }
        image_from_samples(img, buf, (size_t)line, spp, bps);
        img->gray = gray;
        img->depth = bps;
        if (assoc) unpremultiply(img);
    }
    free(buf);
    return rc;
}

// Everything else libtiff can turn into 8-bit RGBA, in the stored pixel order (asking
// for the file's own orientation means no flips), for image_orient to turn.
static int read_rgba(TIFF *tif, tiff_io *io, image *img, uint32_t w, uint32_t h, int orientation, int alpha, int gray) {
    char emsg[1024] = "";
    if (!TIFFRGBAImageOK(tif, emsg)) return as_errorf("%s: unsupported TIFF (%s)", io->name, emsg);
    uint32_t *raster = as_malloc_array((size_t)w * h, sizeof *raster);
    if (!raster || image_alloc(img, (int)w, (int)h, alpha ? 4 : 3)) {
        free(raster);
        return as_errorf("%s: %s", io->name, as_error());
    }
    int rc = 0;
    if (!TIFFReadRGBAImageOriented(tif, w, h, raster, orientation, 0)) {
        rc = tiff_error(io, "corrupt TIFF");
    } else {
        const int c = img->c;
        for (size_t i = 0; i < (size_t)w * h; i++) {
            uint32_t p = raster[i];
            float *o = img->px + i * c;
            o[0] = TIFFGetR(p) / 255.0f, o[1] = TIFFGetG(p) / 255.0f, o[2] = TIFFGetB(p) / 255.0f;
            if (c == 4) o[3] = TIFFGetA(p) / 255.0f;
        }
        img->gray = gray;
        img->depth = 8;
    }
    free(raster);
    return rc;
}

static int decode(TIFF *tif, tiff_io *io, image *img, unsigned flags) {
    uint32_t w = 0, h = 0, icc_n = 0;
    uint16_t bps, spp, photometric = 0, planar, format, orientation, extra_n = 0, *extra = NULL;
    void *icc = NULL;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
        return tiff_error(io, "corrupt TIFF (no image size)");
    if (as_check_pixels(io->name, w, h)) return -1;  // before any pixel memory
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &format);
    TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orientation);
    TIFFGetFieldDefaulted(tif, TIFFTAG_EXTRASAMPLES, &extra_n, &extra);
    TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric);
    // libtiff sizes its strip buffers by samples x bits per pixel, so a header that
    // claims 65,281 samples makes a 519x242 image ask for 15 GiB, within the allocation
    // limit (found by fuzzing). No image attsr reads has more than 8 samples (CMYK,
    // alpha, a few extras) of at most 64 bits.
    if (spp < 1 || spp > 8 || bps < 1 || bps > 64)
        return as_errorf("%s: unsupported TIFF (%u samples per pixel, %u bits each)", io->name, (unsigned)spp,
                         (unsigned)bps);
    if (orientation < 1 || orientation > 8) orientation = 1;
    int gray = photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
    int colour_n = gray ? 1 : 3, alpha = extra_n >= 1 && spp > colour_n;
    int plain = !TIFFIsTiled(tif) && planar == PLANARCONFIG_CONTIG && format == SAMPLEFORMAT_UINT &&
                (bps == 8 || bps == 16) && (photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_RGB) &&
                spp == colour_n + (extra_n == 1) && extra_n <= 1;
    int rc = plain ? read_strips(tif, io, img, w, h, spp, bps, gray, alpha && extra[0] == EXTRASAMPLE_ASSOCALPHA)
                   : read_rgba(tif, io, img, w, h, orientation, alpha, gray);
    if (rc) return -1;
    if (TIFFGetField(tif, TIFFTAG_ICCPROFILE, &icc_n, &icc) && icc_n &&
        image_blob_copy(&img->meta.icc, &img->meta.icc_n, icc, icc_n))
        return as_errorf("%s: %s", io->name, as_error());
    if (!(flags & IMAGE_KEEP_ORIENTATION) && image_orient(img, orientation))
        return as_errorf("%s: %s", io->name, as_error());
    return 0;
}

int image_tiff_decode(const uint8_t *data, size_t n, const char *name, image *img, unsigned flags) {
    tiff_io io = {.name = name, .data = data, .n = n};
    TIFF *tif = open_tiff(&io, "r");
    int rc = tif ? decode(tif, &io, img, flags) : tiff_error(&io, "corrupt TIFF");
    if (tif) TIFFClose(tif);
    if (rc) image_free(img);
    return rc ? -1 : 0;
}

static int encode(TIFF *tif, tiff_io *io, const image *img, const image_encoding *e) {
    int alpha = img->c == 4, c = (e->gray ? 1 : 3) + alpha;
    size_t line = (size_t)img->w * c * (e->depth / 8);
    uint8_t *buf = as_malloc_array((size_t)img->h, line);
    if (!buf) return as_errorf("%s: %s", io->name, as_error());
    image_to_samples(img, buf, c, e->depth);
    uint16_t extra = EXTRASAMPLE_UNASSALPHA;
    int ok = TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)img->w) &&
             TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)img->h) &&
             TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)e->depth) &&
             TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)c) &&
             TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, e->gray ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB) &&
             TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
             TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE) &&
             TIFFSetField(tif, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL) &&
             (!alpha || TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, (uint16_t)1, &extra)) &&
             TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tif, 0)) &&
             (!image_icc_fits(img, e->gray) ||
              TIFFSetField(tif, TIFFTAG_ICCPROFILE, (uint32_t)img->meta.icc_n, img->meta.icc));
    for (int y = 0; ok && y < img->h; y++) ok = TIFFWriteScanline(tif, buf + (size_t)y * line, (uint32_t)y, 0) >= 0;
    free(buf);
    return ok && TIFFFlush(tif) ? 0 : tiff_error(io, "cannot write TIFF");
}

int image_tiff_encode(FILE *fp, const char *name, const image *img, const image_encoding *e) {
    tiff_io io = {.name = name, .fp = fp};
    if (img->meta.icc_n > UINT32_MAX) return as_errorf("%s: cannot write TIFF (ICC profile over 4 GiB)", name);
    TIFF *tif = open_tiff(&io, "w");
    int rc = tif ? encode(tif, &io, img, e) : tiff_error(&io, "cannot write TIFF");
    if (tif) TIFFClose(tif);
    return rc;
}
