// A complete program on the attsr C API: upscale a raw float RGB buffer.
//
//   build/examples/upscale MODEL W H   (reads W*H*3 float32 from stdin, writes the
//                                       upscaled W*s*H*s*3 float32 to stdout)
// With no stdin data (a terminal), it upscales a generated gradient and prints its
// output size and the mean value instead.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "attsr.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL W H < in.f32 > out.f32\n", argv[0]);
        return 2;
    }
    int w = atoi(argv[2]), h = atoi(argv[3]);
    if (w <= 0 || h <= 0 || w > 16384 || h > 16384) {
        fprintf(stderr, "upscale: bad size %s x %s\n", argv[2], argv[3]);
        return 2;
    }
    attsr_model *model;
    if (attsr_model_load(&model, argv[1]) != 0) {
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
    int from_stdin = !isatty(STDIN_FILENO);
    if (from_stdin && fread(in, sizeof(float), n_in, stdin) != n_in) {
        fprintf(stderr, "upscale: expected %zu floats on stdin\n", n_in);
        return 1;
    }
    if (!from_stdin)
        for (size_t i = 0; i < n_in; i++) in[i] = (float)(i % (3 * (size_t)w)) / (3.0f * w);
    attsr_options opt = {.tile = 0};  // automatic tiling
    if (attsr_upscale(model, in, w, h, out, NULL, NULL, &opt) != 0) {
        fprintf(stderr, "upscale: %s\n", attsr_error());
        return 1;
    }
    if (from_stdin) {
        fwrite(out, sizeof(float), n_out, stdout);
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
