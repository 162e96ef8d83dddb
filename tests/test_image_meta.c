// Tests for what src/image/ keeps besides 8-bit RGB pixels: EXIF orientation, bit depth,
// gray, ICC and EXIF metadata. The oriented files are made here from a known image by
// writing the EXIF tag into the bytes (PNG eXIf chunk, JPEG APP1 segment) by hand.
//
// `test_image_meta --make DIR` writes the files tests/cli_formats.sh feeds the CLI:
// orient_N.png and .jpg (N = 1..8: raw.png's pixels with Orientation N), raw.png,
// upright_N.png (the upright reference, no EXIF), gray16.png (16-bit gray), bmp/raw.bmp (raw.png's
// pixels), clip.y4m, clip_cut.y4m and frame_N.npy (make_clip).
// `test_image_meta --compare-y4m CLIP.y4m FRAME.npy...` checks a clip's frames.
#include <stdint.h>
#include <tiffio.h>
#include <unistd.h>

#include "core/core.h"
#include "image/codec.h"
#include "image/image.h"
#include "image/y4m.h"
#include "test.h"

static char tmpdir[256];
#include "image_test_util.h"

// The known image: w x h RGB, every value on the 8-bit grid and every pixel distinct.
static void known_image(image *img, int w, int h) {
    CHECK_OK(image_alloc(img, w, h, 3));
    for (int i = 0; i < w * h; i++)
        for (int k = 0; k < 3; k++) img->px[3 * i + k] = (float)((i * 37 + k * 91 + 11) % 256) / 255.0f;
}

// A TIFF-structured EXIF blob: IFD0 with ImageDescription ("attsr"), then Orientation
// (so the walk has to step over an entry), in either byte order. 48 bytes.
static size_t exif_blob(uint8_t *b, int orientation, int le) {
    memset(b, 0, 48);
    uint8_t *p = b;
#define W16(v) \
    (le ? (p[0] = (uint8_t)(v), p[1] = (uint8_t)((v) >> 8)) : (p[0] = (uint8_t)((v) >> 8), p[1] = (uint8_t)(v)), p += 2)
#define W32(v) (le ? (W16((v)&0xffff), W16((v) >> 16)) : (W16((v) >> 16), W16((v)&0xffff)))
    memcpy(p, le ? "II*\0" : "MM\0*", 4), p += 4;
    W32(8);                                // IFD0 at 8
    W16(2);                                // two entries
    W16(0x010e), W16(2), W32(6), W32(38);  // ImageDescription, ASCII, 6 bytes at 38
    W16(0x0112), W16(3), W32(1), W16(orientation), W16(0);
    W32(0);  // no next IFD
    memcpy(p, "attsr", 6), p += 6;
#undef W16
#undef W32
    return (size_t)(p - b) + 4;  // 4 bytes of slack, as writers often leave
}

// PNG bytes of img with an eXIf chunk after IHDR. *n gets the size; free() the result.
static uint8_t *png_with_exif(const image *img, const uint8_t *exif, size_t exif_n, size_t *n) {
    const char *path = tmp_path("plain.png");
    CHECK_OK(image_write(path, img));
    size_t m;
    uint8_t *png = load(path, &m), *out = malloc(m + 12 + exif_n);
    CHECK(out);
    size_t at = 8 + 25;  // signature, IHDR
    memcpy(out, png, at);
    put_be32(out + at, (uint32_t)exif_n);
    memcpy(out + at + 4, "eXIf", 4);
    memcpy(out + at + 8, exif, exif_n);
    put_be32(out + at + 8 + exif_n, crc32_of(out + at + 4, 4 + exif_n));
    memcpy(out + at + 12 + exif_n, png + at, m - at);
    *n = m + 12 + exif_n;
    free(png);
    unlink(path);
    return out;
}

// JPEG bytes of img (quality 100) with an APP1 Exif segment right after SOI.
static uint8_t *jpeg_with_exif(const image *img, const uint8_t *exif, size_t exif_n, size_t *n) {
    const char *path = tmp_path("plain.jpg");
    CHECK_OK(image_write_with(path, img, &(image_write_options){.quality = 100}));
    size_t m, seg = 2 + 6 + exif_n;
    uint8_t *jpg = load(path, &m), *out = malloc(m + 2 + seg);
    CHECK(out);
    memcpy(out, jpg, 2);
    out[2] = 0xff, out[3] = 0xe1, out[4] = (uint8_t)(seg >> 8), out[5] = (uint8_t)seg;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, exif, exif_n);
    memcpy(out + 12 + exif_n, jpg + 2, m - 2);
    *n = m + 2 + seg;
    free(jpg);
    unlink(path);
    return out;
}

// Where stored pixel (x, y) of a w x h image is shown under each orientation: the
// EXIF 2.32 definitions (0th row / 0th column), one case at a time.
static void shown_at(int o, int w, int h, int x, int y, int *dx, int *dy) {
    switch (o) {
    case 1: *dx = x, *dy = y; break;                  // top-left
    case 2: *dx = w - 1 - x, *dy = y; break;          // top-right: mirrored
    case 3: *dx = w - 1 - x, *dy = h - 1 - y; break;  // bottom-right: 180 degrees
    case 4: *dx = x, *dy = h - 1 - y; break;          // bottom-left: flipped
    case 5: *dx = y, *dy = x; break;                  // left-top: transposed
    case 6: *dx = h - 1 - y, *dy = x; break;          // right-top: 90 clockwise
    case 7: *dx = h - 1 - y, *dy = w - 1 - x; break;  // right-bottom: transverse
    default: *dx = y, *dy = w - 1 - x; break;         // left-bottom: 90 anticlockwise
    }
}

// The upright image of raw under orientation o, built pixel by pixel from shown_at.
static void upright_reference(image *dst, const image *raw, int o) {
    int t = o >= 5;
    CHECK_OK(image_alloc(dst, t ? raw->h : raw->w, t ? raw->w : raw->h, raw->c));
    for (int y = 0; y < raw->h; y++)
        for (int x = 0; x < raw->w; x++) {
            int dx, dy;
            shown_at(o, raw->w, raw->h, x, y, &dx, &dy);
            memcpy(dst->px + ((size_t)dy * dst->w + dx) * raw->c, raw->px + ((size_t)y * raw->w + x) * raw->c,
                   raw->c * sizeof(float));
        }
}

static void check_same(const image *a, const image *b, const char *what) {
    CHECK(a->w == b->w && a->h == b->h && a->c == b->c, "%s: %dx%dx%d vs %dx%dx%d", what, a->w, a->h, a->c, b->w, b->h,
          b->c);
    size_t n = (size_t)a->w * a->h * a->c;
    for (size_t i = 0; i < n; i++) CHECK(a->px[i] == b->px[i], "%s: value %zu: %g vs %g", what, i, a->px[i], b->px[i]);
}

// Every orientation, PNG (big-endian EXIF) and JPEG (little-endian): the read image is
// the rotated/flipped reference, Orientation then says 1; --keep-orientation's flag
// gives the stored pixels and leaves the tag alone.
static void check_orientations(int jpeg) {
    image known;
    known_image(&known, 5, 3);
    for (int o = 1; o <= 8; o++) {
        uint8_t exif[48];
        size_t en = exif_blob(exif, o, jpeg), n;
        uint8_t *file = jpeg ? jpeg_with_exif(&known, exif, en, &n) : png_with_exif(&known, exif, en, &n);
        const char *name = jpeg ? "oriented.jpg" : "oriented.png";
        image raw, up, ref;
        CHECK_OK(image_read_memory_flags(file, n, name, &raw, IMAGE_KEEP_ORIENTATION));
        CHECK_OK(image_read_memory(file, n, name, &up));
        free(file);
        if (!jpeg) check_same(&raw, &known, "raw PNG");
        CHECK(raw.meta.exif_n == en && !memcmp(raw.meta.exif, exif, en), "orientation %d: EXIF not kept as is", o);
        upright_reference(&ref, &raw, o);
        char what[64];
        snprintf(what, sizeof what, "%s orientation %d", name, o);
        check_same(&up, &ref, what);
        CHECK(image_exif_orientation(up.meta.exif, up.meta.exif_n, NULL) == 1, "%s: tag not reset", what);
        CHECK(!memcmp(up.meta.exif, exif, 30) && !memcmp(up.meta.exif + 32, exif + 32, en - 32),
              "%s: more than the tag changed", what);
        image_free(&raw);
        image_free(&up);
        image_free(&ref);
    }
    image_free(&known);
}

static void test_orientation_png(void) { check_orientations(0); }
static void test_orientation_jpeg(void) { check_orientations(1); }

// The upright image is what is written, with Orientation 1: reading the output with
// the stored order kept gives the upright pixels.
static void test_orientation_written_upright(void) {
    image known, up, back;
    known_image(&known, 4, 2);
    uint8_t exif[48];
    size_t en = exif_blob(exif, 6, 0), n;
    uint8_t *file = png_with_exif(&known, exif, en, &n);
    CHECK_OK(image_read_memory(file, n, "a.png", &up));
    free(file);
    const char *path = tmp_path("upright.png");
    CHECK_OK(image_write(path, &up));
    CHECK_OK(image_read_flags(path, &back, IMAGE_KEEP_ORIENTATION));
    check_same(&back, &up, "written");
    CHECK(back.w == 2 && back.h == 4);
    CHECK(image_exif_orientation(back.meta.exif, back.meta.exif_n, NULL) == 1);
    image_free(&known);
    image_free(&up);
    image_free(&back);
    unlink(path);
}

// Malformed EXIF is ignored (the image reads, unturned), never read out of bounds:
// every truncation, a huge entry count, an IFD offset past the end, a wrong type.
static void test_orientation_malformed(void) {
    uint8_t b[48];
    size_t n = exif_blob(b, 6, 1);
    CHECK(image_exif_orientation(b, n, NULL) == 6);
    for (size_t m = 0; m < 34; m++) {      // the Orientation entry ends at byte 34
        uint8_t *cut = malloc(m ? m : 1);  // exactly m bytes, so ASan sees any overread
        memcpy(cut, b, m);
        CHECK(image_exif_orientation(cut, m, NULL) == 0, "cut at %zu", m);
        free(cut);
    }
    uint8_t bad[48];
    memcpy(bad, b, n), bad[8] = 0xff, bad[9] = 0xff, bad[22] = 0x13;  // 65535 entries, none Orientation
    CHECK(image_exif_orientation(bad, n, NULL) == 0);
    memcpy(bad, b, n), bad[4] = 0xf0, bad[7] = 0x7f;  // IFD far past the end
    CHECK(image_exif_orientation(bad, n, NULL) == 0);
    memcpy(bad, b, n), bad[24] = 4;  // Orientation as LONG
    CHECK(image_exif_orientation(bad, n, NULL) == 0);
    memcpy(bad, b, n), bad[30] = 9;  // no such orientation
    CHECK(image_exif_orientation(bad, n, NULL) == 0);
    memcpy(bad, b, n), bad[0] = 'X';
    CHECK(image_exif_orientation(bad, n, NULL) == 0);

    image known, img;
    known_image(&known, 3, 2);
    size_t fn;
    uint8_t *file = png_with_exif(&known, b, 20, &fn);  // cut before the tag
    CHECK_OK(image_read_memory(file, fn, "cut.png", &img));
    check_same(&img, &known, "cut EXIF");
    free(file);
    image_free(&img);
    image_free(&known);
}

// ---- depth and gray ----------------------------------------------------------------

// The PNG's IHDR bit depth and colour type.
static void png_header(const char *path, int *depth, int *type) {
    size_t n;
    uint8_t *p = load(path, &n);
    CHECK(n > 26 && !memcmp(p + 12, "IHDR", 4));
    *depth = p[24], *type = p[25];
    free(p);
}

// Values on the 16-bit grid survive a 16-bit PNG exactly, for RGB, RGBA, gray and
// gray+alpha; the file says so, and the image read says depth 16 and gray as written.
static void roundtrip16(int c, int gray) {
    image img, back;
    CHECK_OK(image_alloc(&img, 9, 4, c));
    img.depth = 16, img.gray = gray;
    for (int i = 0; i < 9 * 4; i++)
        for (int k = 0; k < c; k++) {
            int v = (i * 4099 + (gray && k < 3 ? 0 : k * 19997) + 7) % 65536;
            img.px[i * c + k] = v / 65535.0f;
        }
    const char *path = tmp_path("d16.png");
    CHECK_OK(image_write(path, &img));
    int depth, type;
    png_header(path, &depth, &type);
    int want = gray ? (c == 4 ? 4 : 0) : (c == 4 ? 6 : 2);
    CHECK(depth == 16 && type == want, "IHDR depth %d type %d, wanted 16 and %d", depth, type, want);
    CHECK_OK(image_read(path, &back));
    CHECK(back.depth == 16 && back.gray == gray && back.c == c);
    check_same(&back, &img, "16-bit round trip");
    image_free(&back);
    // --depth 8: the 8-bit file, values rounded to the 8-bit grid
    CHECK_OK(image_write_with(path, &img, &(image_write_options){.depth = 8}));
    png_header(path, &depth, &type);
    CHECK(depth == 8 && type == want);
    CHECK_OK(image_read(path, &back));
    CHECK(back.depth == 8);
    for (size_t i = 0; i < (size_t)9 * 4 * c; i++) CHECK(back.px[i] == image_to_u8(img.px[i]) / 255.0f, "value %zu", i);
    image_free(&back);
    image_free(&img);
    unlink(path);
}

static void test_png16_rgb(void) { roundtrip16(3, 0); }
static void test_png16_rgba(void) { roundtrip16(4, 0); }
static void test_png16_gray(void) { roundtrip16(3, 1); }
static void test_png16_gray_alpha(void) { roundtrip16(4, 1); }

// A gray image whose channels differ (a network's output for a gray input) is written
// as its luma, 0.299 R + 0.587 G + 0.114 B rounded half up; --rgb keeps the channels.
// JPEG too writes one component.
static void test_gray_luma(void) {
    image img, back;
    CHECK_OK(image_alloc(&img, 6, 5, 3));
    img.gray = 1;
    for (int i = 0; i < 30; i++)
        img.px[3 * i] = (i % 7) / 6.0f, img.px[3 * i + 1] = (i % 5) / 4.0f, img.px[3 * i + 2] = (i % 3) / 2.0f;
    const char *path = tmp_path("luma.png");
    CHECK_OK(image_write(path, &img));
    int depth, type;
    png_header(path, &depth, &type);
    CHECK(depth == 8 && type == 0, "IHDR depth %d type %d", depth, type);
    CHECK_OK(image_read(path, &back));
    CHECK(back.gray == 1 && back.c == 3);
    for (int i = 0; i < 30; i++) {
        double l = 0.299 * img.px[3 * i] + 0.587 * img.px[3 * i + 1] + 0.114 * img.px[3 * i + 2];
        int want = (int)floor(l * 255 + 0.5);
        for (int k = 0; k < 3; k++)
            CHECK(back.px[3 * i + k] == want / 255.0f, "pixel %d: %g, luma %d/255", i, back.px[3 * i + k] * 255, want);
    }
    image_free(&back);
    CHECK_OK(image_write_with(path, &img, &(image_write_options){.rgb = 1}));
    png_header(path, &depth, &type);
    CHECK(type == 2);
    CHECK_OK(image_read(path, &back));
    CHECK(back.gray == 0 && back.c == 3);
    for (int i = 0; i < 90; i++) CHECK(back.px[i] == image_to_u8(img.px[i]) / 255.0f, "--rgb: value %d", i);
    image_free(&back);
    const char *jpg = tmp_path("luma.jpg");
    CHECK_OK(image_write(jpg, &img));
    CHECK_OK(image_read(jpg, &back));
    CHECK(back.gray == 1 && back.depth == 8, "the JPEG is not gray");
    image_free(&back);
    image_free(&img);
    unlink(path);
    unlink(jpg);
}

// ---- WebP and TIFF ---------------------------------------------------------------

// c channels on the 8-bit grid (16-bit when depth is 16), every value distinct-ish, some
// pixels fully transparent (their colour must survive lossless WebP's exact mode).
static void grid_image(image *img, int w, int h, int c, int depth, int gray) {
    CHECK_OK(image_alloc(img, w, h, c));
    img->depth = depth, img->gray = gray;
    int top = depth == 16 ? 65535 : 255;
    for (int i = 0; i < w * h; i++)
        for (int k = 0; k < c; k++) {
            int v = (i * (depth == 16 ? 4099 : 37) + (gray && k < 3 ? 0 : k * 91) + 11) % (top + 1);
            if (k == 3 && i % 5 == 0) v = 0;
            img->px[i * c + k] = v / (float)top;
        }
}

static void roundtrip_exact(const char *name, int c, int depth, int gray, int want_gray, int want_depth) {
    image img, back;
    grid_image(&img, 13, 6, c, depth, gray);
    const char *path = tmp_path(name);
    CHECK_OK(image_write(path, &img));
    CHECK_OK(image_read(path, &back));
    CHECK(back.gray == want_gray && back.depth == want_depth, "%s: gray %d depth %d", name, back.gray, back.depth);
    check_same(&back, &img, name);
    image_free(&img);
    image_free(&back);
    unlink(path);
}

// Lossless WebP: RGB and RGBA exactly, transparent pixels' colour included; gray comes
// back as RGB (WebP has no gray mode).
static void test_webp_lossless(void) {
    roundtrip_exact("l.webp", 3, 8, 0, 0, 8);
    roundtrip_exact("la.webp", 4, 8, 0, 0, 8);
    roundtrip_exact("lg.webp", 3, 8, 1, 0, 8);
}

// --quality makes it lossy: close to the input, and smaller files at lower quality.
static void test_webp_lossy_quality(void) {
    image img, back;
    CHECK_OK(image_alloc(&img, 64, 48, 3));
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            float *p = &img.px[(y * 64 + x) * 3];
            p[0] = x / 63.0f, p[1] = y / 47.0f, p[2] = 0.5f + 0.3f * sinf(x * 0.3f + y * 0.2f);
        }
    size_t sizes[2];
    const int q[2] = {95, 20};
    for (int i = 0; i < 2; i++) {
        const char *path = tmp_path("q.webp");
        CHECK_OK(image_write_with(path, &img, &(image_write_options){.quality = q[i]}));
        free(load(path, &sizes[i]));
        CHECK_OK(image_read(path, &back));
        double sum = 0;
        for (int j = 0; j < 64 * 48 * 3; j++) sum += fabs(back.px[j] - img.px[j]);
        CHECK(sum / (64 * 48 * 3) < (i == 0 ? 3.0 : 12.0) / 255, "quality %d: mean error %.2f/255", q[i],
              255 * sum / (64 * 48 * 3));
        if (i == 0) {  // lossy at 95 differs from the input (it is not the lossless path)
            double max = 0;
            for (int j = 0; j < 64 * 48 * 3; j++) max = fmax(max, fabs(back.px[j] - image_to_u8(img.px[j]) / 255.0f));
            CHECK(max > 0, "quality 95 was lossless");
        }
        image_free(&back);
        unlink(path);
    }
    CHECK(sizes[1] < sizes[0], "quality 20 (%zu bytes) not smaller than 95 (%zu)", sizes[1], sizes[0]);
    image_free(&img);
}

// TIFF: 8 and 16 bits, gray, gray+alpha, RGB, RGBA, exactly.
static void test_tiff_roundtrip(void) {
    for (int depth = 8; depth <= 16; depth += 8) {
        roundtrip_exact("t.tif", 3, depth, 0, 0, depth);
        roundtrip_exact("ta.tiff", 4, depth, 0, 0, depth);
        roundtrip_exact("tg.tif", 3, depth, 1, 1, depth);
        roundtrip_exact("tga.tif", 4, depth, 1, 1, depth);
    }
}

// A TIFF written by libtiff itself with fields our writer never sets: tiles (libtiff's
// RGBA path), Orientation 6 (applied), premultiplied alpha (undone).
static void write_tiff(const char *path, const image *img, int tiled, int orientation, int assoc) {
    TIFF *t = TIFFOpen(path, "w");
    CHECK(t);
    int c = img->c;
    uint8_t *buf = malloc((size_t)img->w * img->h * c);
    for (size_t i = 0; i < (size_t)img->w * img->h * c; i++) {
        float v = img->px[i];
        if (assoc && i % 4 != 3) v *= img->px[i - i % 4 + 3];
        buf[i] = image_to_u8(v);
    }
    uint16_t extra = assoc ? EXTRASAMPLE_ASSOCALPHA : EXTRASAMPLE_UNASSALPHA;
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, (uint32_t)img->w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, (uint32_t)img->h);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, c);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(t, TIFFTAG_ORIENTATION, orientation);
    if (c == 4) TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra);
    if (tiled) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, 16);
        TIFFSetField(t, TIFFTAG_TILELENGTH, 16);
        uint8_t *tile = calloc(16 * 16, c);
        for (int ty = 0; ty < img->h; ty += 16)
            for (int tx = 0; tx < img->w; tx += 16) {
                memset(tile, 0, 16 * 16 * c);
                for (int y = ty; y < AS_MIN(ty + 16, img->h); y++)
                    memcpy(tile + ((y - ty) * 16) * c, buf + ((size_t)y * img->w + tx) * c,
                           (size_t)AS_MIN(16, img->w - tx) * c);
                CHECK(TIFFWriteTile(t, tile, tx, ty, 0, 0) >= 0);
            }
        free(tile);
    } else {
        for (int y = 0; y < img->h; y++) CHECK(TIFFWriteScanline(t, buf + (size_t)y * img->w * c, y, 0) >= 0);
    }
    TIFFClose(t);
    free(buf);
}

static void test_tiff_from_libtiff(void) {
    image known, back, ref;
    grid_image(&known, 21, 18, 3, 8, 0);
    const char *path = tmp_path("lt.tif");
    write_tiff(path, &known, 1, 1, 0);  // tiled
    CHECK_OK(image_read(path, &back));
    check_same(&back, &known, "tiled");
    image_free(&back);
    write_tiff(path, &known, 0, 6, 0);  // Orientation 6
    CHECK_OK(image_read(path, &back));
    upright_reference(&ref, &known, 6);
    check_same(&back, &ref, "TIFF orientation 6");
    image_free(&back);
    CHECK_OK(image_read_flags(path, &back, IMAGE_KEEP_ORIENTATION));
    check_same(&back, &known, "TIFF orientation kept");
    image_free(&back);
    image_free(&ref);
    write_tiff(path, &known, 1, 8, 0);  // tiled and Orientation 8: libtiff's path, same turn
    CHECK_OK(image_read(path, &back));
    upright_reference(&ref, &known, 8);
    check_same(&back, &ref, "tiled TIFF orientation 8");
    image_free(&back);
    image_free(&ref);
    image_free(&known);
    image a;  // premultiplied alpha, opaque-enough pixels so that 8-bit rounding is exact-ish
    grid_image(&a, 9, 7, 4, 8, 0);
    for (int i = 0; i < 63; i++) a.px[4 * i + 3] = 1.0f - (i % 3) * 0.25f;
    write_tiff(path, &a, 0, 1, 1);
    CHECK_OK(image_read(path, &back));
    for (int i = 0; i < 63 * 4; i++)
        CHECK(fabs(back.px[i] - a.px[i]) <= 2.5 / 255, "premultiplied: value %d: %g vs %g", i, back.px[i], a.px[i]);
    image_free(&back);
    image_free(&a);
    unlink(path);
}

// Cut and damaged files fail with one line naming the file; the pixel limit holds.
static void test_webp_tiff_bad_input(void) {
    const char *names[2] = {"bad.webp", "bad.tif"};
    for (int f = 0; f < 2; f++) {
        image img, back;
        grid_image(&img, 40, 30, 3, 8, 0);
        const char *path = tmp_path(names[f]);
        CHECK_OK(image_write(path, &img));
        size_t n;
        uint8_t *data = load(path, &n);
        const size_t cuts[] = {3, 11, 20, n / 2, n - 1};
        for (int i = 0; i < 5; i++) {
            as_clear_error();
            CHECK(image_read_memory(data, cuts[i], names[f], &back) == -1 && back.px == NULL, "%s cut at %zu read",
                  names[f], cuts[i]);
            CHECK(strstr(as_error(), names[f]) == as_error() && !strchr(as_error(), '\n'), "'%s'", as_error());
        }
        as_limits_t saved = as_limits;
        as_limits.max_pixels = 1000;
        int rc = image_read_memory(data, n, names[f], &back);
        as_limits = saved;
        CHECK(rc == -1 && strstr(as_error(), "exceeds the limit"), "pixel limit: %s", as_error());
        CHECK(image_read_memory(data, n, f ? "x.webp" : "x.tif", &back) == -1 && strstr(as_error(), "mislabelled"));
        free(data);
        image_free(&img);
        unlink(path);
    }
}

// ---- ICC and EXIF ------------------------------------------------------------------

// A valid ICC profile header for colour space `space` ("RGB " or "GRAY"; libpng checks
// these fields), no tags, then 124 bytes of noise: ICC_N bytes. (Without the noise,
// libpng 1.6.39 reads the iCCP chunk a profile of zeros compresses to as "too short";
// real profiles are kilobytes and do not compress that far.)
#define ICC_N 256
static void icc_profile(uint8_t *b, const char *space, uint8_t mark) {
    memset(b, 0, ICC_N);
    put_be32(b, ICC_N);
    for (int i = 132; i < ICC_N; i++) b[i] = (uint8_t)(i * 7919 % 251);
    put_be32(b + 8, 0x02100000);
    memcpy(b + 12, "mntr", 4), memcpy(b + 16, space, 4), memcpy(b + 20, "XYZ ", 4);
    memcpy(b + 36, "acsp", 4);
    put_be32(b + 68, 0xf6d6), put_be32(b + 72, 0x10000), put_be32(b + 76, 0xd32d);  // D50
    b[100] = mark;  // in the profile ID's bytes: tells profiles apart
}

static void check_blob(const uint8_t *got, size_t got_n, const uint8_t *want, size_t want_n, const char *what) {
    CHECK(got_n == want_n && (!want_n || !memcmp(got, want, want_n)), "%s: %zu bytes back, %zu written", what, got_n,
          want_n);
}

// ICC and EXIF written and read back byte for byte where the format holds them; TIFF
// keeps the profile only; gray output drops an RGB profile and keeps a gray one.
static void test_metadata_roundtrip(void) {
    static const struct {
        const char *name;
        int exif, gray;
    } cases[] = {{"m.png", 1, 0},  {"m.jpg", 1, 0},  {"m.webp", 1, 0}, {"m.tif", 0, 0},
                 {"mg.png", 1, 1}, {"mg.jpg", 1, 1}, {"mg.tif", 0, 1}};
    uint8_t icc_rgb[ICC_N], icc_gray[ICC_N], exif[48];
    icc_profile(icc_rgb, "RGB ", 1), icc_profile(icc_gray, "GRAY", 2);
    size_t en = exif_blob(exif, 1, 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        for (int right = 0; right < 2; right++) {  // the profile of the wrong space, then the right one
            image img, back;
            grid_image(&img, 8, 6, 3, 8, cases[i].gray);
            const uint8_t *icc = (cases[i].gray == right) ? icc_gray : icc_rgb;
            int fits = cases[i].gray ? icc == icc_gray : icc == icc_rgb;
            CHECK_OK(image_blob_copy(&img.meta.icc, &img.meta.icc_n, icc, ICC_N));
            CHECK_OK(image_blob_copy(&img.meta.exif, &img.meta.exif_n, exif, en));
            const char *path = tmp_path(cases[i].name);
            CHECK_OK(image_write(path, &img));
            CHECK_OK(image_read(path, &back));
            char what[64];
            snprintf(what, sizeof what, "%s ICC (%s space)", cases[i].name, fits ? "right" : "wrong");
            check_blob(back.meta.icc, back.meta.icc_n, icc, fits ? ICC_N : 0, what);
            snprintf(what, sizeof what, "%s EXIF", cases[i].name);
            check_blob(back.meta.exif, back.meta.exif_n, exif, cases[i].exif ? en : 0, what);
            image_free(&img);
            image_free(&back);
            unlink(path);
        }
    }
}

// image_meta_copy: deep copies, replacing what dst had.
static void test_meta_copy(void) {
    image a, b;
    CHECK_OK(image_alloc(&a, 2, 2, 3));
    CHECK_OK(image_alloc(&b, 2, 2, 3));
    uint8_t x[3] = {1, 2, 3};
    CHECK_OK(image_blob_copy(&a.meta.icc, &a.meta.icc_n, x, 3));
    CHECK_OK(image_blob_copy(&b.meta.exif, &b.meta.exif_n, x, 2));
    CHECK_OK(image_meta_copy(&b, &a));
    CHECK(b.meta.icc != a.meta.icc && b.meta.icc_n == 3 && !memcmp(b.meta.icc, x, 3) && !b.meta.exif && !b.meta.exif_n);
    CHECK_OK(image_meta_copy(&a, &a));
    CHECK(a.meta.icc_n == 3);
    image_free(&a);
    image_free(&b);
    CHECK(!b.meta.icc && !b.px);
}

// ---- BMP -----------------------------------------------------------------------------

static void put_le(uint8_t *p, uint32_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

// A BMP of img (BITMAPINFOHEADER, BI_RGB) written by hand: 24 bits, or 8 bits with a
// palette of img's distinct colours (at most 256); rows bottom-up, or top-down when
// top_down (negative height). *n gets the size.
static uint8_t *bmp_of(const image *img, int bits, int top_down, size_t *n) {
    int w = img->w, h = img->h, pal = bits == 8 ? 256 : 0;
    size_t stride = ((size_t)w * bits / 8 + 3) & ~(size_t)3, off = 14 + 40 + 4 * pal;
    *n = off + stride * h;
    uint8_t *b = calloc(1, *n);
    b[0] = 'B', b[1] = 'M';
    put_le(b + 2, (uint32_t)*n, 4), put_le(b + 10, (uint32_t)off, 4);
    put_le(b + 14, 40, 4), put_le(b + 18, (uint32_t)w, 4), put_le(b + 22, (uint32_t)(top_down ? -h : h), 4);
    put_le(b + 26, 1, 2), put_le(b + 28, (uint32_t)bits, 2), put_le(b + 46, (uint32_t)pal, 4);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const float *p = img->px + ((size_t)y * w + x) * 3;
            uint8_t *row = b + off + stride * (top_down ? y : h - 1 - y);
            if (bits == 24) {
                for (int k = 0; k < 3; k++) row[3 * x + k] = image_to_u8(p[2 - k]);  // BGR
            } else {
                int i = y * w + x;  // palette entry i: this pixel's colour
                for (int k = 0; k < 3; k++) b[54 + 4 * i + k] = image_to_u8(p[2 - k]);
                row[x] = (uint8_t)i;
            }
        }
    return b;
}

static void test_bmp_read(void) {
    image known, back;
    grid_image(&known, 7, 5, 3, 8, 0);
    const int bits[3] = {24, 24, 8}, top[3] = {0, 1, 0};
    for (int i = 0; i < 3; i++) {
        size_t n;
        uint8_t *b = bmp_of(&known, bits[i], top[i], &n);
        CHECK_OK(image_read_memory(b, n, "a.bmp", &back));
        char what[64];
        snprintf(what, sizeof what, "%d-bit BMP%s", bits[i], top[i] ? " top-down" : "");
        check_same(&back, &known, what);
        CHECK(back.depth == 8);
        image_free(&back);
        CHECK(image_read_memory(b, n / 2, "a.bmp", &back) == -1 && strstr(as_error(), "a.bmp: truncated BMP"),
              "cut: %s", as_error());
        if (i == 0) {
            put_le(b + 18, 60000, 4), put_le(b + 22, 60000, 4);
            CHECK(image_read_memory(b, n, "a.bmp", &back) == -1 && strstr(as_error(), "exceeds the limit"), "%s",
                  as_error());
            put_le(b + 14, 41, 4);  // a header size stb does not know: refused, never tried as TGA
            CHECK(image_read_memory(b, n, "a.bmp", &back) == -1 && strstr(as_error(), "bad header"), "%s", as_error());
        }
        free(b);
    }
    CHECK(image_write(tmp_path("out.bmp"), &known) == -1 && strstr(as_error(), "BMP is read, not written"), "%s",
          as_error());
    image_free(&known);
}

// ---- YUV4MPEG2 -----------------------------------------------------------------------

static y4m_stream stream_of(const char *header) {
    FILE *fp = fmemopen((void *)header, strlen(header), "r");
    y4m_stream s;
    CHECK(fp);
    CHECK_OK(y4m_read_header(fp, "mem", 0, &s));
    fclose(fp);
    return s;
}

// Reference values: BT.601 and BT.709 limited range, red and white; full range white.
static void test_y4m_conversion(void) {
    static const struct {
        const char *header;
        int matrix;
        uint8_t y, cb, cr;  // of pure red
    } cases[] = {{"YUV4MPEG2 W2 H2 C420jpeg\n", 601, 81, 90, 240}, {"YUV4MPEG2 W2 H2 C444\n", 709, 63, 102, 240}};
    for (int i = 0; i < 2; i++) {
        y4m_stream s = stream_of(cases[i].header);
        s.matrix = cases[i].matrix;
        image red, back;
        CHECK_OK(image_alloc(&red, 2, 2, 3));
        for (int k = 0; k < 4; k++) red.px[3 * k] = 1;
        uint8_t f[12];
        y4m_from_rgb(&s, &red, f);
        CHECK(f[0] == cases[i].y && f[4] == cases[i].cb && f[s.chroma == Y4M_444 ? 8 : 5] == cases[i].cr,
              "BT.%d red: Y %d Cb %d Cr %d", s.matrix, f[0], f[4], f[s.chroma == Y4M_444 ? 8 : 5]);
        CHECK_OK(y4m_to_rgb(&s, f, &back));
        for (int k = 0; k < 12; k++)
            CHECK(fabs(back.px[k] - red.px[k]) < 0.02, "BT.%d red back: %g", s.matrix, back.px[k]);
        image_free(&back);
        memset(f, 128, sizeof f), memset(f, 235, 4);  // white
        CHECK_OK(y4m_to_rgb(&s, f, &back));
        for (int k = 0; k < 12; k++) CHECK(fabs(back.px[k] - 1) < 1e-6, "white: %g", back.px[k]);
        image_free(&back);
        image_free(&red);
    }
    y4m_stream full = stream_of("YUV4MPEG2 W1 H1 C444 XCOLORRANGE=FULL\n");
    full.matrix = 601;
    uint8_t f[3] = {255, 128, 128};
    image w;
    CHECK_OK(y4m_to_rgb(&full, f, &w));
    CHECK(full.full_range && fabs(w.px[0] - 1) < 1e-6 && fabs(w.px[2] - 1) < 1e-6);
    image_free(&w);
}

// Frame -> RGB -> frame keeps a frame that came from RGB, in every chroma format and
// odd sizes (chroma is repeated up and averaged down).
static void test_y4m_roundtrip(void) {
    const char *headers[] = {"YUV4MPEG2 W9 H7 F25:1 Ip A1:1 C420jpeg\n", "YUV4MPEG2 W9 H7 C422\n",
                             "YUV4MPEG2 W9 H7 C444 XCOLORRANGE=FULL\n", "YUV4MPEG2 W9 H7 Cmono\n"};
    for (int i = 0; i < 4; i++) {
        y4m_stream s = stream_of(headers[i]);
        s.matrix = i % 2 ? 709 : 601;
        image img, rgb;
        grid_image(&img, 9, 7, 3, 8, 0);
        uint8_t *a = malloc(s.frame_bytes), *b = malloc(s.frame_bytes);
        y4m_from_rgb(&s, &img, a);
        CHECK_OK(y4m_to_rgb(&s, a, &rgb));
        CHECK(rgb.gray == (s.chroma == Y4M_MONO));
        y4m_from_rgb(&s, &rgb, b);
        size_t bad = 0;
        for (size_t k = 0; k < s.frame_bytes; k++) bad += abs(a[k] - b[k]) > 1;
        CHECK(bad == 0, "%s: %zu samples moved by more than 1", headers[i], bad);
        free(a), free(b);
        image_free(&img);
        image_free(&rgb);
    }
    FILE *fp = fmemopen("YUV4MPEG2 W8 H8 C420p10\n", 24, "r");
    y4m_stream s;
    CHECK(y4m_read_header(fp, "p10", 0, &s) == -1 && strstr(as_error(), "not supported"), "%s", as_error());
    fclose(fp);
}

// The headers ffmpeg's yuv4mpegpipe writes (XYSCSS, XCOLORRANGE, aspect, frame rate,
// interlacing): read, and written back with the new size and the other fields as read,
// except interlacing, which becomes Ip (the frames are upscaled whole).
static void test_y4m_ffmpeg_headers(void) {
    static const struct {
        const char *in, *out;
        int chroma, full, interlaced;
    } cases[] = {
        {"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420mpeg2 XYSCSS=420MPEG2\n",
         "YUV4MPEG2 W128 H96 F25:1 Ip A1:1 C420mpeg2 XYSCSS=420MPEG2\n", Y4M_420, 0, 0},
        {"YUV4MPEG2 W64 H48 F30000:1001 It A0:0 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL\n",
         "YUV4MPEG2 W128 H96 F30000:1001 Ip A0:0 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL\n", Y4M_420, 1, 1},
        {"YUV4MPEG2 W64 H48 F10:1 Ib A16:15 C420paldv XYSCSS=420PALDV XCOLORRANGE=LIMITED\n",
         "YUV4MPEG2 W128 H96 F10:1 Ip A16:15 C420paldv XYSCSS=420PALDV XCOLORRANGE=LIMITED\n", Y4M_420, 0, 1},
        {"YUV4MPEG2 W64 H48 F10:1 Im A1:1 C422 XYSCSS=422\n", "YUV4MPEG2 W128 H96 F10:1 Ip A1:1 C422 XYSCSS=422\n",
         Y4M_422, 0, 1},
        {"YUV4MPEG2 W64 H48 C444 XYSCSS=444 Xlength=3\n", "YUV4MPEG2 W128 H96 C444 XYSCSS=444 Xlength=3\n", Y4M_444, 0,
         0},
        {"YUV4MPEG2 W64 H48 F10:1 Ip A1:1 Cmono XCOLORRANGE=FULL\n",
         "YUV4MPEG2 W128 H96 F10:1 Ip A1:1 Cmono XCOLORRANGE=FULL\n", Y4M_MONO, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        y4m_stream s = stream_of(cases[i].in);
        CHECK(s.w == 64 && s.h == 48 && s.chroma == cases[i].chroma && s.full_range == cases[i].full &&
                  s.interlaced == cases[i].interlaced,
              "%s: %dx%d chroma %d full %d interlaced %d", cases[i].in, s.w, s.h, s.chroma, s.full_range, s.interlaced);
        char out[600] = {0};
        FILE *fp = fmemopen(out, sizeof out - 1, "w");
        CHECK(fp);
        y4m_stream big = y4m_resized(&s, 128, 96);
        CHECK_OK(y4m_write_header(fp, "mem", &big, 128, 96));
        fclose(fp);
        CHECK(!strcmp(out, cases[i].out), "%s written as %s", cases[i].in, out);
    }
}

// ---- main ------------------------------------------------------------------------

static int make_clip(const char *dir);

// The CLI test's files (see the top of this file).
static int make_files(const char *dir) {
    snprintf(tmpdir, sizeof tmpdir, "%s", dir);
    image known, ref;
    char path[600];
    known_image(&known, 7, 5);
    snprintf(path, sizeof path, "%s/raw.png", dir);
    if (image_write(path, &known)) return fprintf(stderr, "%s\n", as_error()), 1;
    for (int o = 1; o <= 8; o++) {
        uint8_t exif[48];
        size_t en = exif_blob(exif, o, o & 1), n;
        uint8_t *file = png_with_exif(&known, exif, en, &n);
        snprintf(path, sizeof path, "%s/orient_%d.png", dir, o);
        int rc = as_write_file_atomic(path, file, n);
        free(file);
        file = jpeg_with_exif(&known, exif, en, &n);
        snprintf(path, sizeof path, "%s/orient_%d.jpg", dir, o);
        rc = rc || as_write_file_atomic(path, file, n);
        free(file);
        upright_reference(&ref, &known, o);
        snprintf(path, sizeof path, "%s/upright_%d.png", dir, o);
        rc = rc || image_write(path, &ref);
        image_free(&ref);
        if (rc) return fprintf(stderr, "%s\n", as_error()), 1;
    }
    image_free(&known);
    image g;  // 16-bit gray
    CHECK_OK(image_alloc(&g, 6, 4, 3));
    g.gray = 1, g.depth = 16;
    for (int i = 0; i < 24; i++) g.px[3 * i] = g.px[3 * i + 1] = g.px[3 * i + 2] = (i * 2731 % 65536) / 65535.0f;
    snprintf(path, sizeof path, "%s/gray16.png", dir);
    if (image_write(path, &g)) return fprintf(stderr, "%s\n", as_error()), 1;
    image_free(&g);
    known_image(&known, 7, 5);
    size_t n;
    uint8_t *bmp = bmp_of(&known, 24, 0, &n);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/bmp", dir);
    snprintf(path, sizeof path, "%s/bmp/raw.bmp", dir);
    int rc = as_mkdir_p(sub) || as_write_file_atomic(path, bmp, n);
    free(bmp);
    image_free(&known);
    if (rc) return fprintf(stderr, "%s\n", as_error()), 1;
    return make_clip(dir);
}

// clip.y4m: 3 frames of 4:2:0 10x7 (odd height: a half chroma row); clip_cut.y4m: the
// same cut inside the third frame; frame_N.npy: each frame in RGB as the library
// converts it (BT.601, the default below 720 lines).
static int make_clip(const char *dir) {
    static const char header[] = "YUV4MPEG2 W10 H7 F25:1 Ip A1:1 C420jpeg XYSCSS=420JPEG\n";
    FILE *hp = fmemopen((void *)header, sizeof header - 1, "r");
    y4m_stream s;
    if (!hp || y4m_read_header(hp, "clip", 0, &s)) return fprintf(stderr, "%s\n", as_error()), 1;
    fclose(hp);
    s.matrix = 601;
    char path[600];
    snprintf(path, sizeof path, "%s/clip.y4m", dir);
    FILE *fp = fopen(path, "wb");
    if (!fp || fputs(header, fp) < 0) return 1;
    uint8_t *f = malloc(s.frame_bytes);
    for (int k = 1; k <= 3; k++) {
        image img, rgb;
        grid_image(&img, 10, 7, 3, 8, 0);
        for (size_t i = 0; i < (size_t)10 * 7 * 3; i++) img.px[i] = fmodf(img.px[i] + 0.3f * k, 1.0f);
        y4m_from_rgb(&s, &img, f);
        int rc = y4m_write_frame(fp, "clip", &s, f) || y4m_to_rgb(&s, f, &rgb);
        snprintf(path, sizeof path, "%s/frame_%d.npy", dir, k);
        rc = rc || image_write(path, &rgb);
        image_free(&img);
        image_free(&rgb);
        if (rc) return fprintf(stderr, "%s\n", as_error()), 1;
    }
    free(f);
    fclose(fp);
    size_t n;
    uint8_t *all;
    snprintf(path, sizeof path, "%s/clip.y4m", dir);
    if (as_read_file(path, (void **)&all, &n, 1 << 20)) return 1;
    snprintf(path, sizeof path, "%s/clip_cut.y4m", dir);
    int rc = as_write_file_atomic(path, all, n - s.frame_bytes / 2);
    free(all);
    return rc ? 1 : 0;
}

// Compares the frames of a y4m stream with .npy RGB images converted by the library
// (the stream's own header): exit 0 when every sample is equal.
static int compare_clip(int argc, char **argv) {
    FILE *fp = fopen(argv[2], "rb");
    y4m_stream s;
    if (!fp || y4m_read_header(fp, argv[2], 0, &s)) return fprintf(stderr, "%s\n", fp ? as_error() : argv[2]), 1;
    s.matrix = y4m_default_matrix(&s);
    uint8_t *f = malloc(s.frame_bytes), *g = malloc(s.frame_bytes);
    int k = 3, bad = 0;
    for (; k < argc; k++) {
        image img;
        if (y4m_read_frame(fp, argv[2], &s, k - 3, f) != 1 || image_read(argv[k], &img))
            return fprintf(stderr, "frame %d: %s\n", k - 2, as_error()), 1;
        if (img.w != s.w || img.h != s.h) return fprintf(stderr, "frame %d: size\n", k - 2), 1;
        y4m_from_rgb(&s, &img, g);
        for (size_t i = 0; i < s.frame_bytes; i++) bad += f[i] != g[i];
        image_free(&img);
    }
    int more = y4m_read_frame(fp, argv[2], &s, k, f);
    fclose(fp);
    free(f), free(g);
    if (bad || more) fprintf(stderr, "%d samples differ%s\n", bad, more ? ", and more frames follow" : "");
    return bad || more ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--make")) return make_files(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "--compare-y4m")) return compare_clip(argc, argv);
    snprintf(tmpdir, sizeof tmpdir, "%s/attsr-test-meta-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_orientation_png);
    RUN(test_orientation_jpeg);
    RUN(test_orientation_written_upright);
    RUN(test_orientation_malformed);
    RUN(test_png16_rgb);
    RUN(test_png16_rgba);
    RUN(test_png16_gray);
    RUN(test_png16_gray_alpha);
    RUN(test_gray_luma);
    RUN(test_webp_lossless);
    RUN(test_webp_lossy_quality);
    RUN(test_tiff_roundtrip);
    RUN(test_tiff_from_libtiff);
    RUN(test_webp_tiff_bad_input);
    RUN(test_bmp_read);
    RUN(test_metadata_roundtrip);
    RUN(test_meta_copy);
    RUN(test_y4m_conversion);
    RUN(test_y4m_roundtrip);
    RUN(test_y4m_ffmpeg_headers);
    rmdir(tmpdir);
    return test_summary();
}
