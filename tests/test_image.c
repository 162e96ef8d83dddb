// Tests for src/image/ readers and writers. Fixtures in tests/fixtures/image/ come from
// tools/fixtures_image.py (an independent PNG encoder, PIL and numpy); bad inputs are
// made here by cutting, flipping or crafting bytes.
#define _GNU_SOURCE  // memmem
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#include "core/core.h"
#include "image/image.h"
#include "test.h"

#define FIX "tests/fixtures/image/"

static char tmpdir[256];
#include "image_test_util.h"

// ---- helpers ---------------------------------------------------------------------

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static void clear_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    closedir(d);
}

static void save(const char *path, const void *data, size_t n) { CHECK_OK(as_write_file_atomic(path, data, n)); }

// A read that must fail: -1, an empty image, one line naming the file.
#define CHECK_FAILS(call, name, img)                                                                            \
    do {                                                                                                        \
        int rc_ = (call);                                                                                       \
        CHECK(rc_ == -1, "%s: read succeeded", name);                                                           \
        CHECK((img).px == NULL && (img).w == 0, "image not left empty");                                        \
        CHECK(strstr(as_error(), name) == as_error(), "error '%s' does not start with '%s'", as_error(), name); \
        CHECK(!strchr(as_error(), '\n'), "multi-line error '%s'", as_error());                                  \
    } while (0)

// Writes the bytes to tmpdir/name and checks that reading the file fails.
static void check_file_fails(const char *name, const void *data, size_t n, const char *needle) {
    const char *path = tmp_path(name);
    save(path, data, n);
    image img;
    CHECK_FAILS(image_read(path, &img), path, img);
    if (needle) CHECK(strstr(as_error(), needle), "error '%s' lacks '%s'", as_error(), needle);
    unlink(path);
}

static void check_memory_fails(const char *name, const void *data, size_t n, const char *needle) {
    image img;
    CHECK_FAILS(image_read_memory(data, n, name, &img), name, img);
    if (needle) CHECK(strstr(as_error(), needle), "error '%s' lacks '%s'", as_error(), needle);
}

// Reference values from a numpy-written .npy (the npy reader is tested on its own below).
static void read_ref(const char *path, image *ref) { CHECK_OK(image_read(path, ref)); }

static void check_same_floats(const image *a, const image *b, double tol) {
    CHECK(a->w == b->w && a->h == b->h && a->c == b->c, "size %dx%dx%d vs %dx%dx%d", a->w, a->h, a->c, b->w, b->h,
          b->c);
    size_t n = (size_t)a->w * a->h * a->c;
    long bad = test_allclose(a->px, b->px, n, 0, tol);
    CHECK(bad < 0, "element %ld: %.9g vs %.9g", bad, bad < 0 ? 0 : a->px[bad], bad < 0 ? 0 : b->px[bad]);
}

static void fill_random(image *img, uint64_t seed, float lo, float hi) {
    as_rng r;
    as_rng_seed(&r, seed);
    size_t n = (size_t)img->w * img->h * img->c;
    for (size_t i = 0; i < n; i++) img->px[i] = lo + (hi - lo) * (float)as_rng_uniform(&r);
}

// ---- readers against the fixtures --------------------------------------------------

static void test_png_every_type(void) {
    static const struct {
        const char *name;
        int c, gray;
    } cases[] = {
        {"gray1", 3, 1},      {"gray2", 3, 1},       {"gray4", 3, 1},        {"gray8", 3, 1},      {"gray16", 3, 1},
        {"graya8", 4, 1},     {"graya16", 4, 1},     {"rgb8", 3, 0},         {"rgb16", 3, 0},      {"rgba8", 4, 0},
        {"rgba16", 4, 0},     {"pal8_trns", 4, 0},   {"pal2", 3, 0},         {"gray8_trns", 4, 1}, {"rgb16_trns", 4, 0},
        {"rgb8_adam7", 3, 0}, {"gray2_adam7", 3, 1}, {"rgba16_adam7", 4, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char path[256], ref_path[256];
        snprintf(path, sizeof path, FIX "png_%s.png", cases[i].name);
        snprintf(ref_path, sizeof ref_path, FIX "png_%s.ref.npy", cases[i].name);
        image img, ref;
        CHECK(image_read(path, &img) == 0, "%s: %s", path, as_error());
        read_ref(ref_path, &ref);
        CHECK(img.c == cases[i].c && img.gray == cases[i].gray, "%s: c=%d gray=%d", path, img.c, img.gray);
        check_same_floats(&img, &ref, 0);  // exact
        image_free(&img);
        image_free(&ref);
    }
}

static void test_jpeg_matches_pil(void) {
    static const char *names[] = {"rgb", "gray", "rgb_progressive"};
    for (int i = 0; i < 3; i++) {
        char path[256], ref_path[256];
        snprintf(path, sizeof path, FIX "jpeg_%s.jpg", names[i]);
        snprintf(ref_path, sizeof ref_path, FIX "jpeg_%s.ref.npy", names[i]);
        image img, ref;
        CHECK(image_read(path, &img) == 0, "%s: %s", path, as_error());
        read_ref(ref_path, &ref);
        CHECK(img.c == 3 && img.gray == (i == 1), "%s: c=%d gray=%d", path, img.c, img.gray);
        check_same_floats(&img, &ref, 1.01 / 255);  // decoders may round IDCTs differently
        image_free(&img);
        image_free(&ref);
    }
}

// numpy wrote (i - 50) * 0.25 in file order; gray (h, w) comes back as 3 equal channels.
static void test_npy_versions(void) {
    static const struct {
        const char *path;
        int file_c, c;
    } cases[] = {{FIX "npy_v1_rgb.npy", 3, 3}, {FIX "npy_v2_rgba.npy", 4, 4}, {FIX "npy_v3_gray.npy", 1, 3}};
    for (int i = 0; i < 3; i++) {
        image img;
        CHECK(image_read(cases[i].path, &img) == 0, "%s", as_error());
        CHECK(img.w == 7 && img.h == 5 && img.c == cases[i].c && img.gray == (cases[i].file_c == 1));
        for (int p = 0; p < 35; p++)
            for (int k = 0; k < img.c; k++) {
                float want = ((float)(p * cases[i].file_c + (cases[i].file_c == 1 ? 0 : k)) - 50) * 0.25f;
                CHECK(img.px[p * img.c + k] == want, "%s: pixel %d channel %d", cases[i].path, p, k);
            }
        image_free(&img);
    }
}

static void test_read_memory_names(void) {
    size_t n;
    uint8_t *data = load(FIX "png_rgb8.png", &n);
    image img;
    CHECK(image_read_memory(data, n, NULL, &img) == 0, "%s", as_error());
    image_free(&img);
    CHECK(image_read_memory(data, n, "upload", &img) == 0, "%s", as_error());
    image_free(&img);
    CHECK(image_read_memory(data, n, "dir.v2/UPPER.PNG", &img) == 0, "%s", as_error());
    CHECK(img.w == 7 && img.h == 5);
    image_free(&img);
    free(data);
}

// ---- round trips -------------------------------------------------------------------

static void roundtrip_png(int c) {
    clear_dir(tmpdir);  // counted below
    image img, back;
    CHECK_OK(image_alloc(&img, 13, 11, c));
    fill_random(&img, 7 + c, -0.2f, 1.2f);  // out of range too: clamped
    img.px[0] = 0.5f / 255;                 // exactly half a step: rounds up
    img.px[1] = NAN;                        // -> 0
    const char *path = tmp_path(c == 4 ? "rt.png" : "rt.PNG");
    CHECK_OK(image_write(path, &img));
    CHECK_OK(image_read(path, &back));
    image_quantize_u8(&img);
    CHECK(img.px[0] == 1.0f / 255 && img.px[1] == 0);
    CHECK(back.gray == 0);
    check_same_floats(&back, &img, 0);
    image_free(&img);
    image_free(&back);
    CHECK(count_files(tmpdir) == 1, "temp file left behind");
    unlink(path);
}

static void test_roundtrip_png_rgb(void) { roundtrip_png(3); }
static void test_roundtrip_png_rgba(void) { roundtrip_png(4); }

// One NaN or Inf would spread through every filter and network into the whole output
// (a black image): the reader refuses it, naming the pixel.
static void test_npy_nonfinite_refused(void) {
    static const uint32_t bad[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00123u};
    for (int i = 0; i < 4; i++) {
        image img, back;
        CHECK_OK(image_alloc(&img, 9, 6, 3));
        fill_random(&img, 7, 0.0f, 1.0f);
        memcpy(&img.px[(2 * 9 + 4) * 3 + 1], &bad[i], 4);  // x 4, y 2, channel 1
        const char *path = tmp_path("nan.npy");
        CHECK_OK(image_write(path, &img));  // writing keeps values raw
        CHECK(image_read(path, &back) != 0, "value 0x%08x accepted", bad[i]);
        CHECK(strstr(as_error(), "pixel (x 4, y 2) channel 1 holds a non-finite value"), "%s", as_error());
        CHECK(back.px == NULL && back.w == 0, "failure left pixels");
        image_free(&img);
        unlink(path);
    }
}

static void test_roundtrip_npy_bit_exact(void) {
    for (int c = 3; c <= 4; c++) {
        image img, back;
        CHECK_OK(image_alloc(&img, 9, 6, c));
        fill_random(&img, 99, -3.0f, 5.0f);
        static const uint32_t specials[] = {0x80000000u, 0x00800000u, 0xff7fffffu,
                                            0x807fffffu, 0x00000001u, 0x7f7fffffu};  // finite (NaN, Inf: below)
        for (int i = 0; i < 6; i++) memcpy(&img.px[10 * i], &specials[i], 4);
        const char *path = tmp_path("rt.npy");
        CHECK_OK(image_write(path, &img));
        CHECK_OK(image_read(path, &back));
        CHECK(back.w == 9 && back.h == 6 && back.c == c);
        CHECK(!memcmp(back.px, img.px, sizeof(float) * 9 * 6 * c), "not bit-exact");
        size_t n;
        uint8_t *raw = load(path, &n);  // numpy's layout: version 1.0, data 64-aligned
        size_t off = 10 + (raw[8] | raw[9] << 8);
        CHECK(raw[6] == 1 && raw[7] == 0 && off % 64 == 0 && raw[off - 1] == '\n');
        CHECK(n == off + sizeof(float) * 9 * 6 * c);
        char want[128];
        snprintf(want, sizeof want, "{'descr': '<f4', 'fortran_order': False, 'shape': (6, 9, %d), }", c);
        CHECK(!memcmp(raw + 10, want, strlen(want)), "header '%.60s'", raw + 10);
        free(raw);
        image_free(&img);
        image_free(&back);
        unlink(path);
    }
}

// Offset of the first marker `m` (0xFF m) in a JPEG, 0 when absent.
static size_t find_marker(const uint8_t *d, size_t n, uint8_t m) {
    for (size_t i = 2; i + 1 < n; i++)
        if (d[i] == 0xff && d[i + 1] == m) return i;
    return 0;
}

// A smooth image survives quality 95 within a few levels (PIL does no better on it);
// the file is baseline 4:4:4 and the alpha channel is dropped.
static void test_roundtrip_jpeg(void) {
    image img, back;
    CHECK_OK(image_alloc(&img, 37, 29, 4));
    for (int y = 0; y < 29; y++)
        for (int x = 0; x < 37; x++) {
            float *p = &img.px[(y * 37 + x) * 4];
            p[0] = x / 36.0f, p[1] = y / 28.0f, p[2] = 0.5f + 0.3f * sinf(x * 0.3f + y * 0.2f), p[3] = 0.1f;
        }
    const char *path = tmp_path("rt.jpeg");
    CHECK_OK(image_write(path, &img));
    CHECK_OK(image_read(path, &back));
    CHECK(back.w == 37 && back.h == 29 && back.c == 3 && back.gray == 0);
    double max = 0, sum = 0;
    for (int i = 0; i < 37 * 29; i++)
        for (int k = 0; k < 3; k++) {
            double d = fabs(back.px[i * 3 + k] - img.px[i * 4 + k]);
            max = fmax(max, d);
            sum += d;
        }
    CHECK(max < 10.0 / 255 && sum / (37 * 29 * 3) < 1.5 / 255, "max %.4f mean %.5f", max, sum / (37 * 29 * 3));
    size_t n;
    uint8_t *raw = load(path, &n);
    size_t sof = find_marker(raw, n, 0xc0);
    CHECK(sof && raw[sof + 9] == 3, "not a 3-component baseline JPEG");
    for (int k = 0; k < 3; k++) CHECK(raw[sof + 11 + 3 * k] == 0x11, "component %d subsampled", k);
    free(raw);
    image_free(&img);
    image_free(&back);
    unlink(path);
}

// Wider than libpng's default cap of a million pixels a side, which as_limits allows;
// also big enough for the OpenMP conversion paths.
static void test_roundtrip_png_wide(void) {
    image img, back;
    CHECK_OK(image_alloc(&img, 1100000, 1, 3));
    fill_random(&img, 5, 0.0f, 1.0f);
    image_quantize_u8(&img);
    const char *path = tmp_path("wide.png");
    CHECK_OK(image_write(path, &img));
    CHECK_OK(image_read(path, &back));
    check_same_floats(&back, &img, 0);
    image_free(&img);
    image_free(&back);
    unlink(path);
}

static void test_to_u8_rounding(void) {
    CHECK(image_to_u8(-1.0f) == 0 && image_to_u8(NAN) == 0 && image_to_u8(2.0f) == 255);
    CHECK(image_to_u8(INFINITY) == 255 && image_to_u8(-INFINITY) == 0);
    for (int v = 0; v < 256; v++) {
        CHECK(image_to_u8(v / 255.0f) == v, "v=%d", v);
        if (v < 255) CHECK(image_to_u8((v + 0.5f) / 255.0f) == v + 1, "half up at %d", v);
    }
}

// ---- bad input: reading --------------------------------------------------------------

static void test_empty_file(void) {
    check_file_fails("empty.png", "", 0, "empty");
    check_memory_fails("empty.npy", NULL, 0, "empty");
}

static void test_missing_file(void) {
    image img;
    CHECK_FAILS(image_read(tmp_path("nope.png"), &img), tmp_path("nope.png"), img);
}

static void test_directory(void) {
    const char *dir = tmp_path("folder.png");
    CHECK(mkdir(dir, 0755) == 0);
    image img;
    CHECK_FAILS(image_read(dir, &img), dir, img);
    rmdir(dir);
}

// Every cut of a valid PNG must fail: inside the signature, IHDR, IDAT or IEND.
static void test_truncated_png(void) {
    static const char *files[] = {FIX "png_rgb8.png", FIX "png_gray2_adam7.png", FIX "png_pal8_trns.png"};
    for (int f = 0; f < 3; f++) {
        size_t n;
        uint8_t *data = load(files[f], &n);
        for (size_t cut = 1; cut < n; cut++) check_memory_fails("cut.png", data, cut, NULL);
        check_file_fails("cut.png", data, n / 2, "truncated");
        free(data);
    }
}

// Big-endian chunk length before a chunk type found in a PNG.
static uint32_t chunk_len(const uint8_t *type) {
    return (uint32_t)type[-4] << 24 | type[-3] << 16 | type[-2] << 8 | type[-1];
}

static void test_corrupt_png_crc(void) {
    size_t n;
    uint8_t *data = load(FIX "png_rgb8.png", &n);
    uint8_t *idat = memmem(data, n, "IDAT", 4);
    CHECK(idat);
    idat[4 + chunk_len(idat)] ^= 0x01;  // the CRC itself
    check_file_fails("crc.png", data, n, "IDAT: CRC error");
    free(data);
}

// Flipped bytes anywhere in the IDAT data: zlib or the CRC check must catch them.
static void test_corrupt_png_idat(void) {
    size_t n;
    uint8_t *data = load(FIX "png_rgba16.png", &n);
    uint8_t *idat = memmem(data, n, "IDAT", 4);
    CHECK(idat);
    for (uint32_t i = 0; i < chunk_len(idat); i++) {
        idat[4 + i] ^= 0x5a;
        check_memory_fails("flip.png", data, n, "corrupt PNG");
        idat[4 + i] ^= 0x5a;
    }
    free(data);
}

// A valid CRC over bad zlib data: libpng's inflate must fail, not crash.
static void test_corrupt_png_deflate(void) {
    size_t n;
    uint8_t *data = load(FIX "png_rgba16.png", &n);
    uint8_t *idat = memmem(data, n, "IDAT", 4);
    CHECK(idat);
    uint32_t len = chunk_len(idat);
    memset(idat + 4, 0xff, len);
    put_be32(idat + 4 + len, crc32_of(idat, 4 + len));
    check_file_fails("zlib.png", data, n, "corrupt PNG");
    free(data);
}

// IHDR claims 100000 x 100000: refused from the header, before any pixel allocation.
// (An empty IDAT follows, as libpng reads chunks up to the first IDAT before returning.)
static void test_png_huge_header(void) {
    uint8_t png[8 + 25 + 12 + 12] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    put_be32(png + 16, 100000);
    put_be32(png + 20, 100000);
    png[24] = 8, png[25] = 2;  // 8-bit RGB, no interlace
    put_be32(png + 29, crc32_of(png + 12, 17));
    memcpy(png + 33, "\0\0\0\0IDAT", 8);
    put_be32(png + 41, crc32_of(png + 37, 4));
    memcpy(png + 45, "\0\0\0\0IEND\xae\x42\x60\x82", 12);
    check_file_fails("huge.png", png, sizeof png, "exceeds the limit");
}

static void test_over_pixel_limit(void) {
    static const char *files[] = {FIX "png_rgb8.png", FIX "png_rgb8_adam7.png", FIX "jpeg_rgb.jpg",
                                  FIX "npy_v1_rgb.npy"};
    for (int i = 0; i < 4; i++) {
        int64_t saved = as_limits.max_pixels;
        as_limits.max_pixels = 34;  // the fixtures have 35 pixels or more
        image img;
        int rc = image_read(files[i], &img);
        as_limits.max_pixels = saved;
        CHECK_FAILS(rc, files[i], img);
        CHECK(strstr(as_error(), "limit"), "%s", as_error());
    }
}

static void test_truncated_jpeg(void) {
    static const char *files[] = {FIX "jpeg_rgb.jpg", FIX "jpeg_rgb_progressive.jpg", FIX "jpeg_gray.jpg"};
    for (int f = 0; f < 3; f++) {
        size_t n;
        uint8_t *data = load(files[f], &n);
        for (size_t cut = 1; cut < n; cut++) check_memory_fails("cut.jpg", data, cut, NULL);
        check_file_fails("cut.jpg", data, n - 100, "Premature end");
        free(data);
    }
}

static void test_corrupt_jpeg(void) {
    size_t n;
    uint8_t *data = load(FIX "jpeg_rgb.jpg", &n);
    uint8_t *bad = malloc(n);
    // A Huffman table whose code counts exceed 256 codes.
    memcpy(bad, data, n);
    size_t dht = find_marker(bad, n, 0xc4);
    CHECK(dht);
    memset(bad + dht + 5, 0xff, 16);
    check_memory_fails("dht.jpg", bad, n, "corrupt JPEG");
    // A marker in the middle of the entropy-coded data: the scan ends early.
    memcpy(bad, data, n);
    size_t sos = find_marker(bad, n, 0xda);
    CHECK(sos && sos + 40 < n);
    bad[sos + 30] = 0xff, bad[sos + 31] = 0xd9;
    check_memory_fails("scan.jpg", bad, n, "corrupt JPEG");
    // A zero-height frame.
    memcpy(bad, data, n);
    size_t sof = find_marker(bad, n, 0xc0);
    CHECK(sof);
    bad[sof + 5] = bad[sof + 6] = 0;
    check_memory_fails("sof.jpg", bad, n, "corrupt JPEG");
    free(bad);
    free(data);
}

static void test_cmyk_jpeg(void) {
    image img;
    CHECK_FAILS(image_read(FIX "jpeg_cmyk.jpg", &img), FIX "jpeg_cmyk.jpg", img);
    CHECK(strstr(as_error(), "CMYK"), "%s", as_error());
}

static void test_mislabelled(void) {
    size_t n, m;
    uint8_t *jpg = load(FIX "jpeg_rgb.jpg", &n), *png = load(FIX "png_rgb8.png", &m);
    check_file_fails("photo.png", jpg, n, "mislabelled: extension .png but content is JPEG");
    check_memory_fails("a.jpg", png, m, "mislabelled: extension .jpg but content is PNG");
    check_memory_fails("a.NPY", png, m, "mislabelled: extension .npy but content is PNG");
    free(jpg);
    free(png);
}

static void test_unsupported(void) {
    size_t n;
    uint8_t *png = load(FIX "png_rgb8.png", &n);
    check_memory_fails("a.gif", png, n, "unsupported extension");
    check_memory_fails("a.png", "hello, world", 12, "unsupported format");
    check_memory_fails("noext", "GIF89a", 6, "unsupported format");
    free(png);
}

// An .npy file from a header dict and `data_len` bytes of zeros.
static void check_npy_fails(const char *dict, size_t data_len, const char *needle) {
    size_t hlen = strlen(dict);
    size_t n = 10 + hlen + data_len;
    uint8_t *buf = calloc(1, n);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (uint8_t)hlen, buf[9] = (uint8_t)(hlen >> 8);
    memcpy(buf + 10, dict, hlen);
    image img;
    int rc = image_read_memory(buf, n, "bad.npy", &img);
    free(buf);
    CHECK_FAILS(rc, "bad.npy", img);
    CHECK(strstr(as_error(), needle), "header %s: error '%s' lacks '%s'", dict, as_error(), needle);
}

#define SHAPE_OK "'shape': (2, 3, 3)"

static void test_npy_wrong_dtype(void) {
    check_npy_fails("{'descr': '<f8', 'fortran_order': False, " SHAPE_OK ", }\n", 144,
                    "dtype '<f8' is not supported (float32 '<f4' required)");
    check_npy_fails("{'descr': '>f4', 'fortran_order': False, " SHAPE_OK ", }\n", 72, "'>f4'");
    check_npy_fails("{'descr': '|u1', 'fortran_order': False, " SHAPE_OK ", }\n", 18, "'|u1'");
    check_npy_fails("{'descr': [('a', '<f4')], 'fortran_order': False, " SHAPE_OK "}\n", 72, "malformed");
}

static void test_npy_fortran_order(void) {
    check_npy_fails("{'descr': '<f4', 'fortran_order': True, " SHAPE_OK ", }\n", 72, "fortran_order");
}

static void test_npy_data_length(void) {
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, " SHAPE_OK ", }\n", 71, "needs 72");
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, " SHAPE_OK ", }\n", 0, "needs 72");
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, " SHAPE_OK ", }\n", 73, "needs 72");
    size_t n;
    uint8_t *data = load(FIX "npy_v2_rgba.npy", &n);
    for (size_t cut = 1; cut < n; cut++) check_memory_fails("cut.npy", data, cut, NULL);
    free(data);
}

static void test_npy_absurd_shape(void) {
    static const char *dicts[] = {
        "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4, 3), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4611686018427387904), }",
    };
    for (int i = 0; i < 3; i++) check_npy_fails(dicts[i], 72, "limit");
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 2, 3), }", 72,
                    "too large");
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4, 3), }", 0, "invalid image size");
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 2), }", 48, "shape must be");
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 24, "shape must be");
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 4, "shape must be");
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 1), }", 24, "dimensions");
    check_npy_fails("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3, 3), }", 72, "malformed");
}

static void test_npy_malformed_header(void) {
    static const char *dicts[] = {
        "",
        "{",
        "{}",
        "'descr': '<f4', 'fortran_order': False, " SHAPE_OK,
        "{'descr': '<f4', 'fortran_order': False, " SHAPE_OK,
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', " SHAPE_OK "}",
        "{'descr': '<f4', 'fortran_order': False, " SHAPE_OK ", 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, " SHAPE_OK "}",
        "{'descr': '<f4' 'fortran_order': False, " SHAPE_OK "}",
        "{'descr': '<f4', 'fortran_order': false, " SHAPE_OK "}",
        "{'descr': '<f4, 'fortran_order': False, " SHAPE_OK "}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 3}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2 3 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,, 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3, 3)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3, 3]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (6)}",
        "{'descr': '<f4', 'fortran_order': False, " SHAPE_OK "} x",
        "{'descr': '<f4', 'fortran_order': False, " SHAPE_OK ",,}",
        "{'descr': '<\\f4', 'fortran_order': False, " SHAPE_OK "}",
        "{'': '<f4', 'fortran_order': False, " SHAPE_OK "}",
    };
    for (size_t i = 0; i < sizeof dicts / sizeof *dicts; i++) check_npy_fails(dicts[i], 72, "malformed");
    // The same dict in both quote styles, spaced oddly, no trailing comma: accepted.
    const char *ok = "{ \"descr\":'<f4' ,'fortran_order' : False,\"shape\":(2,3,3)}  \n";
    uint8_t buf[200] = "\x93NUMPY\x01\x00";
    size_t hlen = strlen(ok);
    buf[8] = (uint8_t)hlen;
    memcpy(buf + 10, ok, hlen);
    image img;
    CHECK(image_read_memory(buf, 10 + hlen + 72, "ok.npy", &img) == 0, "%s", as_error());
    CHECK(img.w == 3 && img.h == 2 && img.c == 3);
    image_free(&img);
}

static void test_npy_bad_preamble(void) {
    size_t n;
    uint8_t *data = load(FIX "npy_v1_rgb.npy", &n);
    data[6] = 4;  // version 4.0
    check_memory_fails("v4.npy", data, n, "version 4.0");
    data[6] = 1, data[8] = 0xff, data[9] = 0xff;  // header longer than the file
    check_memory_fails("long.npy", data, n, "truncated");
    free(data);
}

// ---- bad input: writing --------------------------------------------------------------

static void test_write_missing_folder(void) {
    clear_dir(tmpdir);  // counted below
    image img;
    CHECK_OK(image_alloc(&img, 4, 3, 3));
    const char *path = tmp_path("no/such/folder/out.png");
    CHECK(image_write(path, &img) == -1);
    CHECK(strstr(as_error(), path), "%s", as_error());
    CHECK(count_files(tmpdir) == 0, "something was created");
    image_free(&img);
}

static void test_write_unknown_extension(void) {
    clear_dir(tmpdir);  // counted below
    image img;
    CHECK_OK(image_alloc(&img, 4, 3, 3));
    static const char *names[] = {"out.bmp", "out", "out.png.tmp"};
    for (int i = 0; i < 3; i++) {
        const char *path = tmp_path(names[i]);
        CHECK(image_write(path, &img) == -1, "%s written", path);
        CHECK(strstr(as_error(), path) == as_error(), "%s", as_error());
    }
    image empty = {0};
    CHECK(image_write(tmp_path("empty.png"), &empty) == -1);
    CHECK(count_files(tmpdir) == 0, "something was created");
    image_free(&img);
}

// The encoder fails after the temp file exists (JPEG's limit is 65500 pixels a side):
// the temp file must go, and no output appear.
static void test_write_encoder_failure(void) {
    clear_dir(tmpdir);  // counted below
    image img;
    CHECK_OK(image_alloc(&img, 65536, 1, 3));
    const char *path = tmp_path("wide.jpg");
    CHECK(image_write(path, &img) == -1);
    CHECK(strstr(as_error(), path) == as_error() && strstr(as_error(), "65500"), "%s", as_error());
    CHECK(count_files(tmpdir) == 0, "temp file left behind");
    image_free(&img);
}

static void test_write_replaces_atomically(void) {
    clear_dir(tmpdir);  // counted below
    image a, b, back;
    CHECK_OK(image_alloc(&a, 5, 4, 3));
    CHECK_OK(image_alloc(&b, 6, 2, 3));
    const char *path = tmp_path("same.npy");
    CHECK_OK(image_write(path, &a));
    CHECK_OK(image_write(path, &b));
    CHECK_OK(image_read(path, &back));
    CHECK(back.w == 6 && back.h == 2 && count_files(tmpdir) == 1);
    image_free(&a);
    image_free(&b);
    image_free(&back);
    unlink(path);
}

static void test_image_alloc_limits(void) {
    image img;
    CHECK(image_alloc(&img, 0, 5, 3) == -1 && img.px == NULL);
    CHECK(image_alloc(&img, 5, 5, 5) == -1 && img.px == NULL);
    CHECK(image_alloc(&img, 1 << 20, 1 << 20, 3) == -1 && strstr(as_error(), "limit"));
    CHECK_OK(image_alloc(&img, 3, 2, 4));
    CHECK(img.w == 3 && img.h == 2 && img.c == 4 && img.gray == 0 && img.px[23] == 0);
    image_free(&img);
    CHECK(img.px == NULL);
    image_free(&img);  // twice is harmless
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/attsr-test-image-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    RUN(test_png_every_type);
    RUN(test_jpeg_matches_pil);
    RUN(test_npy_versions);
    RUN(test_read_memory_names);
    RUN(test_roundtrip_png_rgb);
    RUN(test_roundtrip_png_rgba);
    RUN(test_roundtrip_npy_bit_exact);
    RUN(test_npy_nonfinite_refused);
    RUN(test_roundtrip_jpeg);
    RUN(test_roundtrip_png_wide);
    RUN(test_to_u8_rounding);
    RUN(test_empty_file);
    RUN(test_missing_file);
    RUN(test_directory);
    RUN(test_truncated_png);
    RUN(test_corrupt_png_crc);
    RUN(test_corrupt_png_idat);
    RUN(test_corrupt_png_deflate);
    RUN(test_png_huge_header);
    RUN(test_over_pixel_limit);
    RUN(test_truncated_jpeg);
    RUN(test_corrupt_jpeg);
    RUN(test_cmyk_jpeg);
    RUN(test_mislabelled);
    RUN(test_unsupported);
    RUN(test_npy_wrong_dtype);
    RUN(test_npy_fortran_order);
    RUN(test_npy_data_length);
    RUN(test_npy_absurd_shape);
    RUN(test_npy_malformed_header);
    RUN(test_npy_bad_preamble);
    RUN(test_write_missing_folder);
    RUN(test_write_unknown_extension);
    RUN(test_write_encoder_failure);
    RUN(test_write_replaces_atomically);
    RUN(test_image_alloc_limits);
    clear_dir(tmpdir);
    rmdir(tmpdir);
    return test_summary();
}
