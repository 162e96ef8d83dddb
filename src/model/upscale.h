// upscale: whole images through the model in tiles of bounded memory, optionally as the
// x8 self-ensemble. Tiling lives here, outside the network; the C API and training's
// validation both use it.
#pragma once
#include "model/model.h"

typedef struct {
    model_plan *plan;  // reused while the window size and mode stay the same
    int w, h, mode;    // mode: MODEL_INFER, or MODEL_INFER_SR when S and T are not asked for
    int made;          // plans made so far
    float *window;  // the window's input, assembled here, then given to the plan (w x h x 3)
    float *result;  // an output copied back from a plan whose device is not the CPU
    // the model's plan bytes as fixed + per_px * pixels (upscale_plan_memory), kept for
    // the device and precision they were measured on: a video's frames, a folder's
    // images and a program's repeated calls probe once
    int sized, sized_mode;
    nn_device sized_dev;
    conv_precision sized_prec;
    double fixed, per_px;
} plan_cache;

void plan_cache_free(plan_cache *c);

typedef struct {
    int tile;      // LR tile side, at most; 0: automatic, the whole image when its
                   // plan fits plan_bytes, else the fewest windows that do
    int overlap;   // LR pixels of context on each side of a tile; 0: the receptive
                   // radius (tiles then exact but for CA's mean). At most
                   // model_receptive_radius is used (more changes nothing but CA's mean)
    int ensemble;  // 1: the mean over the 8 flips/transposes of the input (8x the time)
    void (*progress)(int done, int total, void *user);  // after each tile; may be NULL
    void *user;
    size_t plan_bytes;  // the automatic tiles' budget for the plan; 0: 1152 MiB
} upscale_options;

// How one image side of n pixels is cut: k windows of win pixels, window i starting
// at upscale_axis_start(i) and keeping the output pixels [upscale_axis_keep(i),
// upscale_axis_keep(i + 1)), each with `overlap` pixels of context on both sides inside
// its window or the image's edge. Windows start at multiples of 4 (Winograd's tile). A
// side under 32 pixels is one window of 32, `pad` pixels of it before the image.
typedef struct {
    int n, k, win, overlap, pad;
} upscale_axis;
// The fewest windows of at most max_win pixels; 0 when none are small enough.
int upscale_axis_fewest(int n, double max_win, int overlap, upscale_axis *a);
int upscale_axis_start(const upscale_axis *a, int i);
int upscale_axis_keep(const upscale_axis *a, int i);
// The windows upscale_image uses for a w x h image under o (o's tile, overlap and
// plan_bytes; not NULL) with plans of `mode` (MODEL_INFER when S or T is asked for,
// else MODEL_INFER_SR). With a cache (may be NULL), automatic windows first try the
// whole image's plan, which then stays in the cache when it fits; otherwise the cache
// keeps the probes' measure.
int upscale_layout(const model *m, plan_cache *cache, int w, int h, const upscale_options *o, int mode, upscale_axis *x,
                   upscale_axis *y);
// A plan's bytes of `mode` for W x H pixels are fixed + per_px W H (model_plan_bytes of
// two probe plans, freed).
int upscale_plan_memory(const model *m, int mode, double *fixed, double *per_px);

// in (h, w, 3) -> out (h*s, w*s, 3); structure/texture (same shape) when non-NULL.
// o may be NULL (automatic tiles, no ensemble). Every input value must be finite. A
// side under 32 pixels is padded to 32 by symmetric reflection and cropped back.
int upscale_image(const model *m, plan_cache *cache, const float *in, int w, int h, float *out, float *structure,
                  float *texture, const upscale_options *o);
