// Reading the fixtures of tools/fixtures_resize.py (format in its docstring): raw
// little-endian float32 files and a text manifest, one case per line. Needs no library
// code, so the tests do not depend on the project's own .npy reader.
#pragma once
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_DIR "tests/fixtures/resize/"

// Reads FX_DIR/name.f32, which must hold exactly n floats; NULL (and a message) if not.
// The files are little-endian, as is every machine we build for.
static inline float *fx_read(const char *name, size_t n) {
    char path[512];
    snprintf(path, sizeof path, FX_DIR "%s.f32", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("# cannot open %s\n", path);
        return NULL;
    }
    float *p = malloc(n * sizeof *p + 1);
    size_t got = p ? fread(p, sizeof *p, n, f) : 0;
    int extra = fgetc(f) != EOF;  // the file must not be longer either
    fclose(f);
    if (got != n || extra) {
        printf("# %s: expected %zu floats\n", path, n);
        free(p);
        return NULL;
    }
    return p;
}

// Next manifest line whose first word is `kind` (comments and other kinds skipped);
// returns 0 at the end. line receives the whole line.
static inline int fx_next(FILE *f, const char *kind, char *line, size_t cap) {
    size_t k = strlen(kind);
    while (fgets(line, (int)cap, f))
        if (strncmp(line, kind, k) == 0 && line[k] == ' ') return 1;
    return 0;
}

static inline FILE *fx_manifest(void) { return fopen(FX_DIR "manifest.txt", "r"); }

// Largest |a - b| over n floats (NaN counts as infinite).
static inline double fx_max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = isnan(d) ? INFINITY : d;
    }
    return m;
}
