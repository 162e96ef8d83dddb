// Reading PyTorch-written fixtures (safetensors) in tests: a tensor that must be there.
#pragma once
#include "model/safetensors.h"
#include "test.h"

static inline const st_tensor *need(const st_file *f, const char *name) {
    const st_tensor *t = st_find(f, name);
    CHECK(t != NULL, "fixture tensor %s missing", name);
    return t;
}
