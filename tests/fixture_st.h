// Reading PyTorch-written fixtures (safetensors) in tests: a tensor that must be there.
#pragma once
#include <stdio.h>

#include "core/core.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "test.h"

static inline const st_tensor *need(const st_file *f, const char *name) {
    const st_tensor *t = st_find(f, name);
    CHECK(t != NULL, "fixture tensor %s missing", name);
    return t;
}

// A fixture case: DIR/CASE.weights.safetensors into m, DIR/CASE.IO.safetensors into io.
static inline void load_case(const char *dir, const char *cs, const char *io_name, model *m, st_file *io) {
    char path[512];
    snprintf(path, sizeof path, "%s%s.weights.safetensors", dir, cs);
    CHECK_OK(model_load(m, path));
    snprintf(path, sizeof path, "%s%s.%s.safetensors", dir, cs, io_name);
    CHECK_OK(st_read(io, path));
}
