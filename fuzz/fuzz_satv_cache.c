// libFuzzer target: satv_cache_parse (src/train/satv_cache.h), an entry of the SATV
// decomposition cache. The caller knows the image's size and the key; here the first
// two bytes give the size (1..16 on each side) and the key is fixed (the corpus's
// entries are made with it, by fuzz/make_seeds.c); the rest is the file.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/core.h"
#include "fuzz.h"
#include "train/satv_cache.h"

#define FUZZ_CACHE_KEY 0x5eed5eed5eed5eedULL

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 2) return 0;
    int w = 1 + data[0] % 16, h = 1 + data[1] % 16;
    float *s = malloc(sizeof(float) * w * h * 3);
    if (!s) return 0;
    if (satv_cache_parse(data + 2, n - 2, FUZZ_CACHE_KEY, w, h, s) == 0) {
        fuzz_touch(s, (size_t)w * h * 3);
    } else if (!as_error()[0]) {
        __builtin_trap();
    }
    free(s);
    as_clear_error();
    return 0;
}
