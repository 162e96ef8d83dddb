// Shared by the fuzz targets: reading what a parser returned, so that ASan checks that
// every float it claims to hold is there, and checking that each is finite (every
// reader refuses NaN and Inf: docs/security.md). FUZZ_ASSERT: a broken promise of an
// accepted input is a finding (a crash libFuzzer records).
#pragma once
#include <math.h>
#include <stddef.h>

#define FUZZ_ASSERT(cond) \
    do {                  \
        if (!(cond)) __builtin_trap(); \
    } while (0)

static volatile float fuzz_sink;

static inline void fuzz_touch(const float *p, size_t n) {
    float s = 0;
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(isfinite(p[i]));
        s += p[i];
    }
    fuzz_sink = s;
}
