// Speed of the SATV decomposition (src/train/satv), in megapixels per second.
//
//   make bench && build/bench/bench_satv [image.png] [repeats]
//
// On a machine shared with other busy processes, OMP_WAIT_POLICY=passive: each
// iteration has a barrier, and spinning threads that lose their core make it 10x slower.
//
// Without an image: BSD100 img_004 (480 x 320 RGB) from the shared data when present,
// else a synthetic 480 x 320 image. Reports, per thread count (1 .. max): the time and
// MP/s of a default decomposition (converged: its iteration count is printed), and the
// per-iteration rate with tol 0 (all 50 iterations run).
#include <omp.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "train/satv.h"

// (h, w, 3) floats in [0, 1] from an 8-bit PNG; NULL when it cannot be read.
static float *read_png(const char *path, int *h, int *w) {
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&im, path)) return NULL;
    im.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(im));
    if (!px || !png_image_finish_read(&im, NULL, px, 0, NULL)) {
        free(px);
        return NULL;
    }
    *h = (int)im.height;
    *w = (int)im.width;
    float *f = malloc((size_t)*h * *w * 3 * sizeof *f);
    for (size_t e = 0; f && e < (size_t)*h * *w * 3; e++) f[e] = px[e] / 255.0f;
    free(px);
    return f;
}

// Smooth gradients, a few edges and noise: converges like a photograph would.
static float *synthetic(int h, int w) {
    as_rng r;
    as_rng_seed(&r, 1);
    float *f = malloc((size_t)h * w * 3 * sizeof *f);
    for (int i = 0; i < h; i++)
        for (int j = 0; j < w; j++)
            for (int k = 0; k < 3; k++) {
                float v = 0.3f * i / h + 0.3f * j / w + ((i / 40 + j / 60) % 2 ? 0.3f : 0.0f);
                f[((size_t)i * w + j) * 3 + k] = v + 0.1f * (float)as_rng_uniform(&r);
            }
    return f;
}

// Best time of `repeats` runs, in seconds.
static double best_time(float *S, float *T, const float *f, int h, int w, const satv_params *p, int repeats, int *its) {
    double best = 1e30;
    for (int r = 0; r < repeats; r++) {
        double t0 = as_now();
        if (satv_decompose(S, T, its, f, h, w, 3, p)) {
            fprintf(stderr, "satv: %s\n", as_error());
            exit(1);
        }
        double t = as_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    const int named = argc > 1 && argv[1][0];  // "" picks the default too
    const char *path = named ? argv[1] : "../shared/data/benchmark/BSD100/HR/img_004.png";
    const int repeats = argc > 2 ? atoi(argv[2]) : 5;
    int h = 320, w = 480;
    float *f = read_png(path, &h, &w);
    if (!f) {
        if (named) return fprintf(stderr, "cannot read %s\n", path), 1;
        path = "synthetic";
        f = synthetic(h, w);
    }
    float *S = malloc((size_t)h * w * 3 * sizeof *S), *T = malloc((size_t)h * w * 3 * sizeof *T);
    const double mp = (double)h * w / 1e6;
    printf("satv on %s: %d x %d RGB (%.3f MP), best of %d\n", path, w, h, mp, repeats);
    const int maxt = omp_get_max_threads();
    for (int t = 1; t <= maxt; t++) {
        omp_set_num_threads(t);
        satv_params p = satv_defaults();
        int its = 0, its50 = 0;
        double td = best_time(S, T, f, h, w, &p, repeats, &its);
        p.tol = 0;
        double t50 = best_time(S, T, f, h, w, &p, repeats, &its50);
        printf("threads %d: default %d its %.2f ms = %.2f MP/s | 50 its %.2f ms = %.1f MP*it/s\n", t, its, td * 1e3,
               mp / td, t50 * 1e3, mp * its50 / t50);
    }
    free(f);
    free(S);
    free(T);
    return 0;
}
