// Regression tests for what fuzzing found (docs/security.md). Each input under
// tests/fixtures/fuzz/ goes to the entry point its fuzz target (fuzz/) calls and must be
// refused with a clean one-line error: no crash, no undefined behaviour, no leak (the
// build-asan tree runs this under ASan + UBSan), and no allocation of what the input
// asks for (the allocation limit is lowered around each call, so a regression fails
// the test instead of taking gigabytes).
// Plus the SATV cache reader, which fuzz/fuzz_satv_cache.c targets: round trip and misses.
#include <stdint.h>

#include "core/core.h"
#include "image/image.h"
#include "model/model.h"
#include "test.h"
#include "train/checkpoint.h"
#include "train/satv_cache.h"

#define FIX "tests/fixtures/fuzz/"

static void *read_fixture(const char *name, size_t *n) {
    char path[256];
    void *data;
    snprintf(path, sizeof path, FIX "%s", name);
    CHECK(as_read_file(path, &data, n, 1 << 20) == 0, "%s", as_error());
    return data;
}

// Loads a checkpoint fixture, which must fail with `want` in the error.
static void checkpoint_refused(const char *name, const char *want) {
    size_t n;
    void *data = read_fixture(name, &n);
    trainer t;
    memset(&t, 0xff, sizeof t);  // a failure must leave it zeroed, not as it found it
    as_limits_t saved = as_limits;
    as_limits.max_alloc = (size_t)64 << 20;
    as_clear_error();
    int rc = checkpoint_load_memory(data, n, name, &t);
    as_limits = saved;
    free(data);
    CHECK(rc != 0, "%s: accepted", name);
    CHECK(strstr(as_error(), want), "%s: error '%s' lacks '%s'", name, as_error(), want);
    CHECK(!strchr(as_error(), '\n'), "%s: error is more than one line", name);
    CHECK(t.adam_m == NULL && t.adam_v == NULL && t.ema == NULL && t.grads == NULL && t.m.w == NULL && t.m.info == NULL,
          "%s: failure left allocations", name);
}

static void model_refused(const char *name, const char *want) {
    size_t n;
    void *data = read_fixture(name, &n);
    model m;
    as_limits_t saved = as_limits;
    as_limits.max_alloc = (size_t)64 << 20;
    as_clear_error();
    int rc = model_load_memory(&m, data, n, name);
    as_limits = saved;
    free(data);
    CHECK(rc != 0, "%s: accepted", name);
    CHECK(strstr(as_error(), want), "%s: error '%s' lacks '%s'", name, as_error(), want);
    CHECK(m.w == NULL && m.info == NULL, "%s: failure left allocations", name);
}

// fuzz_checkpoint: the error message for a wrong version was formatted from metadata
// that had just been freed (heap use after free).
static void test_checkpoint_version_uaf(void) {
    checkpoint_refused("checkpoint-version-uaf.safetensors", "checkpoint version 2, this attsr reads version 1");
}

// Numbers out of an integer's range (or NaN) were converted anyway: undefined behaviour.
static void test_checkpoint_casts(void) {
    checkpoint_refused("checkpoint-step-1e300.safetensors", "'step' = '1e300' is out of range");
    checkpoint_refused("checkpoint-scale-nan.safetensors", "'scale' = 'nan' is out of range");
    checkpoint_refused("checkpoint-gn-enabled-1e30.safetensors", "'gn_enabled' = '-1e30' is out of range");
    checkpoint_refused("checkpoint-adam-t-inf.safetensors", "'adam_t' = 'inf' is out of range");
    checkpoint_refused("checkpoint-best-step-minus-9e18.safetensors", "'best_step' = '-9.3e18' is out of range");
}

// A 4 KB file whose metadata names a 1024-feature model: the loaders allocated (and
// zeroed) its 0.8 GB of parameters (2.5 GB with a checkpoint's Adam moments) before
// looking at the tensors; one naming the largest shape built its 590k-entry table
// (110 MB, half a second) first.
static void test_metadata_sized_allocations(void) {
    checkpoint_refused("checkpoint-huge-model.safetensors", "'params' is missing or has the wrong size");
    checkpoint_refused("checkpoint-max-table.safetensors", "'params' is missing or has the wrong size");
    model_refused("model-huge-model.safetensors", "tensor 'fe.head.weight' has the wrong shape");
    model_refused("model-max-table.safetensors", "but its metadata describes a model of 590224");
}

// fuzz_jpeg: 147 bytes of arithmetic-coded JPEG decode to a flat 2545x31255 (80 MP)
// image, legitimately: a gigabyte and seconds. The pixel limit (--max-pixels) is the
// defence; it must refuse before decoding or allocating anything.
static void test_jpeg_pixel_limit(void) {
    size_t n;
    void *data = read_fixture("jpeg-arith-80mp.jpg", &n);
    image img;
    as_limits_t saved = as_limits;
    as_limits.max_pixels = 1 << 20;
    as_limits.max_alloc = (size_t)64 << 20;
    double t0 = as_now();
    int rc = image_read_memory(data, n, "jpeg-arith-80mp.jpg", &img);
    as_limits = saved;
    free(data);
    CHECK(rc != 0, "accepted an 80 MP image under a 1 MP limit");
    CHECK(strstr(as_error(), "exceeds the limit of 1048576 pixels"), "%s", as_error());
    CHECK(as_now() - t0 < 1.0, "refusing took %.1fs", as_now() - t0);
    CHECK(img.px == NULL, "failure left pixels");
}

// fuzz_tiff: a 519x242 TIFF whose header claims 65,281 samples per pixel, for which
// libtiff asked for 15 GiB (under the default 16 GiB limit). It must be refused from
// the header, before libtiff sizes a buffer: run with the default limits, this test
// fails (on the error text) if the header check goes.
static void test_tiff_sample_count(void) {
    size_t n;
    void *data = read_fixture("tiff-65281-samples.tif", &n);
    image img;
    as_limits_t saved = as_limits;
    as_limits.max_alloc = (size_t)64 << 20;
    int rc = image_read_memory(data, n, "tiff-65281-samples.tif", &img);
    as_limits = saved;
    free(data);
    CHECK(rc != 0, "accepted a TIFF of 65281 samples per pixel");
    CHECK(strstr(as_error(), "unsupported TIFF (65281 samples"), "%s", as_error());
    CHECK(img.px == NULL, "failure left pixels");
}

// ---- the SATV cache reader -----------------------------------------------------------

static void test_satv_cache(void) {
    enum { W = 5, H = 4, N = W * H * 3 };
    float s[N], back[N];
    for (int i = 0; i < N; i++) s[i] = (float)i / N;
    char path[] = "/tmp/attsr_test_cache_XXXXXX";
    close(mkstemp(path));
    const uint64_t key = satv_cache_key("file", 4, 2.5f, 50);
    CHECK(key != satv_cache_key("file", 4, 2.5f, 49), "the key ignores the iterations");
    CHECK_OK(satv_cache_write(path, key, W, H, s));
    CHECK_OK(satv_cache_read(path, key, W, H, back));
    CHECK(!memcmp(s, back, sizeof s), "round trip changed the payload");
    CHECK(satv_cache_read(path, key + 1, W, H, back) != 0, "another key hit");
    CHECK(satv_cache_read(path, key, H, W, back) != 0, "another size hit");
    CHECK(satv_cache_read(path, key, 0, H, back) != 0, "a zero size hit");
    size_t n;
    uint8_t *data;
    CHECK_OK(as_read_file(path, (void **)&data, &n, 1 << 20));
    CHECK(satv_cache_parse(data, n - 1, key, W, H, back) != 0, "a truncated entry hit");
    CHECK(satv_cache_parse(data, 10, key, W, H, back) != 0, "a header fragment hit");
    data[n - 1] ^= 1;
    CHECK(satv_cache_parse(data, n, key, W, H, back) != 0, "a damaged payload hit");
    CHECK(strstr(as_error(), "checksum"), "%s", as_error());
    free(data);
    unlink(path);
    CHECK(satv_cache_read(path, key, W, H, back) != 0, "a missing entry hit");
}

int main(void) {
    RUN(test_checkpoint_version_uaf);
    RUN(test_checkpoint_casts);
    RUN(test_metadata_sized_allocations);
    RUN(test_jpeg_pixel_limit);
    RUN(test_tiff_sample_count);
    RUN(test_satv_cache);
    return test_summary();
}
