// The public C API (include/attsr.h): a model plus a cached inference plan, and tiled
// upscaling so that any image fits in bounded memory.
#include "attsr.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/model.h"

struct attsr_model {
    model m;
    model_plan *plan;  // cached for the last window size (video frames reuse it)
    int plan_w, plan_h;
};

// Automatic tiling keeps one inference plan under this many bytes.
#define AUTO_PLAN_BYTES ((size_t)768 << 20)
#define DEFAULT_OVERLAP 16

const char *attsr_error(void) { return as_error(); }

static int wrap(attsr_model **out, int rc, attsr_model *a) {
    if (rc) {
        free(a);
        *out = NULL;
        return -1;
    }
    *out = a;
    return 0;
}

int attsr_model_load(attsr_model **out, const char *path) {
    attsr_model *a = as_calloc(1, sizeof *a);
    if (!a) return -1;
    return wrap(out, model_load(&a->m, path), a);
}

int attsr_model_load_memory(attsr_model **out, const void *data, size_t size) {
    attsr_model *a = as_calloc(1, sizeof *a);
    if (!a) return -1;
    return wrap(out, model_load_memory(&a->m, data, size, "model (memory)"), a);
}

void attsr_model_free(attsr_model *a) {
    if (!a) return;
    model_plan_free(a->plan);
    model_free(&a->m);
    free(a);
}

int attsr_model_scale(const attsr_model *a) { return a->m.cfg.scale; }

void attsr_model_get_info(const attsr_model *a, attsr_model_info *info) {
    const model_config *c = &a->m.cfg;
    *info = (attsr_model_info){c->scale, c->feats, c->fe_groups, c->groups, c->blocks,
                               attention_name(c->attention), a->m.n_floats};
}

static model_plan *plan_for(attsr_model *a, int w, int h) {
    if (a->plan && a->plan_w == w && a->plan_h == h) return a->plan;
    model_plan_free(a->plan);
    a->plan = model_plan_create(&a->m, 1, h, w, 0);
    a->plan_w = a->plan ? w : 0;
    a->plan_h = a->plan ? h : 0;
    return a->plan;
}

// Plan bytes per LR pixel, measured on a small plan (activations scale with pixels).
static int auto_tile(attsr_model *a, int w, int h, int overlap) {
    model_plan *p = model_plan_create(&a->m, 1, 32, 32, 0);
    if (!p) return 256;
    double per_px = (double)model_plan_bytes(p) / (32 * 32);
    model_plan_free(p);
    if (per_px * w * h <= AUTO_PLAN_BYTES) return AS_MAX(w, h);
    int side = (int)__builtin_sqrt(AUTO_PLAN_BYTES / per_px) - 2 * overlap;
    return AS_MAX(side, 32);
}

// Copies rows [y0, y1) x cols [x0, x1) of the window's output (window origin wx, wy,
// width ww, all in LR pixels) into the full output of width w (LR pixels).
static void copy_core(float *dst, const float *src, int s, int w, int ww, int wx, int wy,
                      int x0, int x1, int y0, int y1) {
    size_t row = (size_t)(x1 - x0) * s * 3 * sizeof(float);
#pragma omp parallel for schedule(static)
    for (int y = y0 * s; y < y1 * s; y++)
        memcpy(dst + ((size_t)y * w * s + (size_t)x0 * s) * 3,
               src + ((size_t)(y - wy * s) * ww * s + (size_t)(x0 - wx) * s) * 3, row);
}

int attsr_upscale(attsr_model *a, const float *in, int w, int h, float *out, float *structure,
                  float *texture, const attsr_options *opt) {
    attsr_options o = opt ? *opt : (attsr_options){0};
    if (!a || !in || !out) return as_errorf("attsr_upscale: NULL argument");
    if (as_check_pixels("input", w, h)) return -1;
    if (o.tile < 0 || o.overlap < 0 || o.threads < 0) return as_errorf("attsr_upscale: negative option");
    int saved_threads = omp_get_max_threads();
    if (o.threads) omp_set_num_threads(o.threads);
    int overlap = o.overlap ? o.overlap : DEFAULT_OVERLAP, s = a->m.cfg.scale;
    int tile = o.tile ? o.tile : auto_tile(a, w, h, overlap);
    // every window has the same size (shifted inward at the borders): one plan serves all
    int ww = AS_MIN(w, tile + 2 * overlap), wh = AS_MIN(h, tile + 2 * overlap);
    int tiles_x = (w + tile - 1) / tile, tiles_y = (h + tile - 1) / tile, done = 0, rc = 0;
    model_plan *p = plan_for(a, ww, wh);
    if (!p) rc = -1;
    for (int ty = 0; !rc && ty < tiles_y; ty++) {
        for (int tx = 0; !rc && tx < tiles_x; tx++) {
            int x0 = tx * tile, x1 = AS_MIN(w, x0 + tile), y0 = ty * tile, y1 = AS_MIN(h, y0 + tile);
            int wx = AS_MIN(AS_MAX(0, x0 - overlap), w - ww), wy = AS_MIN(AS_MAX(0, y0 - overlap), h - wh);
            float *pin = model_plan_input(p);
            for (int y = 0; y < wh; y++)
                memcpy(pin + (size_t)y * ww * 3, in + ((size_t)(wy + y) * w + wx) * 3, sizeof(float) * ww * 3);
            rc = model_forward(p, &a->m);
            float *dst[3] = {out, structure, texture};
            for (int k = 0; !rc && k < 3; k++)
                if (dst[k]) copy_core(dst[k], model_plan_output(p, k), s, w, ww, wx, wy, x0, x1, y0, y1);
            done++;
            if (o.progress) o.progress(done, tiles_x * tiles_y, o.progress_user);
        }
    }
    if (o.threads) omp_set_num_threads(saved_threads);
    return rc;
}
