// upscale: whole images through the model in tiles of bounded memory. Tiling lives
// here, outside the network; the C API and training's validation both use it.
#pragma once
#include "model/model.h"

typedef struct {
    model_plan *plan;   // reused while the window size stays the same
    int w, h;
} plan_cache;

void plan_cache_free(plan_cache *c);

// in (h, w, 3) -> out (h*s, w*s, 3); structure/texture (same shape) when non-NULL.
// tile: LR tile side (0: automatic, keeping the plan under about 512 MiB); overlap: LR
// pixels of context on each side of a tile (0: 16). progress may be NULL.
int upscale_tiled(const model *m, plan_cache *cache, const float *in, int w, int h,
                  float *out, float *structure, float *texture, int tile, int overlap,
                  void (*progress)(int done, int total, void *user), void *user);
