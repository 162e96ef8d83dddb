// Shared by the fuzz targets: reading what a parser returned, so that ASan checks that
// every float it claims to hold is there.
#pragma once
#include <stddef.h>

static volatile float fuzz_sink;

static inline void fuzz_touch(const float *p, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) s += p[i];
    fuzz_sink = s;
}
