// A complete program on the attsr C API: upscale a raw float RGB buffer.
//
//   build/examples/upscale MODEL W H [IN.f32 OUT.f32]
//
// MODEL is a weights file, or x2, x3 or x4 for the bundled model of that scale (found
// as attsr_model_bundled() says: in the build tree, or where `make install` put it).
// Reads W*H*3 float32 (row-major RGB in [0, 1]) from IN.f32 and writes the upscaled
// (W*s)*(H*s)*3 float32 to OUT.f32. Without files it upscales a generated gradient and
// prints the output size and mean.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attsr.h"

int main(int argc, char **argv) {
    if (argc != 4 && argc != 6) {
        fprintf(stderr, "usage: %s MODEL W H [IN.f32 OUT.f32]\n", argv[0]);
        return 2;
    }
    int w = atoi(argv[2]), h = atoi(argv[3]);
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384) {
        fprintf(stderr, "upscale: bad size %s x %s\n", argv[2], argv[3]);
        return 2;
    }
    const char *path = argv[1];
    char bundled[4096];
    if (strlen(path) == 2 && path[0] == 'x' && path[1] >= '2' && path[1] <= '4') {
        if (attsr_model_bundled(path[1] - '0', bundled, sizeof bundled) != 0) {
            fprintf(stderr, "upscale: %s\n", attsr_error());
            return 1;
        }
        path = bundled;
        fprintf(stderr, "upscale: bundled model %s\n", path);
    }
    attsr_model *model;
    if (attsr_model_load(&model, path) != 0) {
        fprintf(stderr, "upscale: %s\n", attsr_error());
        return 1;
    }
    int s = attsr_model_scale(model);
    size_t n_in = (size_t)w * h * 3, n_out = n_in * s * s;
    float *in = malloc(n_in * sizeof(float)), *out = malloc(n_out * sizeof(float));
    if (!in || !out) {
        fprintf(stderr, "upscale: out of memory\n");
        return 1;
    }
    int files = argc == 6;
    if (files) {
        FILE *f = fopen(argv[4], "rb");
        size_t got = f ? fread(in, sizeof(float), n_in, f) : 0;
        if (f) fclose(f);
        if (got != n_in) {
            fprintf(stderr, "upscale: %s: expected %zu floats\n", argv[4], n_in);
            return 1;
        }
    } else {
        for (size_t i = 0; i < n_in; i++) in[i] = (float)(i % (3 * (size_t)w)) / (3.0f * w);
    }
    attsr_options opt = {.tile = 0};  // automatic tiling
    if (attsr_upscale(model, in, w, h, out, NULL, NULL, &opt) != 0) {
        fprintf(stderr, "upscale: %s\n", attsr_error());
        return 1;
    }
    if (files) {
        FILE *f = fopen(argv[5], "wb");
        if (!f || fwrite(out, sizeof(float), n_out, f) != n_out || fclose(f) != 0) {
            fprintf(stderr, "upscale: %s: cannot write\n", argv[5]);
            return 1;
        }
    } else {
        double mean = 0;
        for (size_t i = 0; i < n_out; i++) mean += out[i];
        printf("%dx%d -> %dx%d, mean %.4f\n", w, h, w * s, h * s, mean / n_out);
    }
    free(in);
    free(out);
    attsr_model_free(model);
    return 0;
}
