// upscale: whole images through the model in tiles of bounded memory, optionally as the
// x8 self-ensemble. Tiling lives here, outside the network; the C API and training's
// validation both use it.
#pragma once
#include "model/model.h"

typedef struct {
    model_plan *plan;   // reused while the window size stays the same
    int w, h;
    float *window;      // the window's input, assembled here, then given to the plan (w x h x 3)
    float *result;      // an output copied back from a plan whose device is not the CPU
} plan_cache;

void plan_cache_free(plan_cache *c);

typedef struct {
    int tile;           // LR tile side; 0: automatic, keeping the plan under about 512 MiB
    int overlap;        // LR pixels of context on each side of a tile; 0: 16. At most
                        // model_receptive_radius is used (more changes nothing but CA's mean)
    int ensemble;       // 1: the mean over the 8 flips/transposes of the input (8x the time)
    void (*progress)(int done, int total, void *user);  // after each tile; may be NULL
    void *user;
} upscale_options;

// in (h, w, 3) -> out (h*s, w*s, 3); structure/texture (same shape) when non-NULL.
// o may be NULL (automatic tiles, no ensemble). Every input value must be finite. A
// side under 32 pixels is padded to 32 by symmetric reflection and cropped back.
int upscale_image(const model *m, plan_cache *cache, const float *in, int w, int h,
                  float *out, float *structure, float *texture, const upscale_options *o);
