// Tiled inference: every window has the same size, shifted inward at the borders, so
// one plan serves the whole image; each window adds `overlap` pixels of context around
// the tile whose output it keeps.
#include "model/upscale.h"

#include <math.h>
#include <string.h>

#include "core/core.h"

#define AUTO_PLAN_BYTES ((size_t)512 << 20)
#define DEFAULT_OVERLAP 16

void plan_cache_free(plan_cache *c) {
    model_plan_free(c->plan);
    memset(c, 0, sizeof *c);
}

static model_plan *plan_for(const model *m, plan_cache *c, int w, int h) {
    if (c->plan && c->w == w && c->h == h) return c->plan;
    plan_cache_free(c);
    c->plan = model_plan_create(m, 1, h, w, 0);
    if (c->plan) c->w = w, c->h = h;
    return c->plan;
}

// The largest tile whose plan stays under AUTO_PLAN_BYTES (activations scale with
// pixels, so a small plan gives the bytes per pixel); the whole image when it fits.
static int auto_tile(const model *m, int w, int h, int overlap) {
    model_plan *p = model_plan_create(m, 1, 32, 32, 0);
    if (!p) return 256;
    double per_px = (double)model_plan_bytes(p) / (32 * 32);
    model_plan_free(p);
    if (per_px * w * h <= AUTO_PLAN_BYTES) return AS_MAX(w, h);
    int side = (int)sqrt(AUTO_PLAN_BYTES / per_px) - 2 * overlap;
    return AS_MAX(side, 32);
}

// Copies LR rows [y0, y1) x cols [x0, x1) of a window's output (origin wx, wy; width
// ww) into the whole output (width w); all coordinates in LR pixels.
static void copy_core(float *dst, const float *src, int s, int w, int ww, int wx, int wy,
                      int x0, int x1, int y0, int y1) {
    size_t row = (size_t)(x1 - x0) * s * 3 * sizeof(float);
#pragma omp parallel for schedule(static)
    for (int y = y0 * s; y < y1 * s; y++)
        memcpy(dst + ((size_t)y * w * s + (size_t)x0 * s) * 3,
               src + ((size_t)(y - wy * s) * ww * s + (size_t)(x0 - wx) * s) * 3, row);
}

int upscale_tiled(const model *m, plan_cache *cache, const float *in, int w, int h,
                  float *out, float *structure, float *texture, int tile, int overlap,
                  void (*progress)(int, int, void *), void *user) {
    if (as_check_pixels("input", w, h)) return -1;
    int s = m->cfg.scale;
    if (!overlap) overlap = DEFAULT_OVERLAP;
    if (!tile) tile = auto_tile(m, w, h, overlap);
    int ww = AS_MIN(w, tile + 2 * overlap), wh = AS_MIN(h, tile + 2 * overlap);
    int tiles_x = (w + tile - 1) / tile, tiles_y = (h + tile - 1) / tile, done = 0;
    model_plan *p = plan_for(m, cache, ww, wh);
    if (!p) return -1;
    float *dst[3] = {out, structure, texture};
    for (int ty = 0; ty < tiles_y; ty++) {
        for (int tx = 0; tx < tiles_x; tx++) {
            int x0 = tx * tile, x1 = AS_MIN(w, x0 + tile), y0 = ty * tile, y1 = AS_MIN(h, y0 + tile);
            int wx = AS_MIN(AS_MAX(0, x0 - overlap), w - ww);
            int wy = AS_MIN(AS_MAX(0, y0 - overlap), h - wh);
            float *pin = model_plan_input(p);
            for (int y = 0; y < wh; y++)
                memcpy(pin + (size_t)y * ww * 3, in + ((size_t)(wy + y) * w + wx) * 3, sizeof(float) * ww * 3);
            if (model_forward(p, m)) return -1;
            for (int k = 0; k < 3; k++)
                if (dst[k]) copy_core(dst[k], model_plan_output(p, k), s, w, ww, wx, wy, x0, x1, y0, y1);
            if (progress) progress(++done, tiles_x * tiles_y, user);
        }
    }
    return 0;
}
