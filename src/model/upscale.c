// Tiled inference: every window has the same size, shifted inward at the borders, so
// one plan serves the whole image; each window adds `overlap` pixels of context around
// the tile whose output it keeps. The self-ensemble (EDSR's "+" models) runs the tiled
// pass on each of the 8 flips/transposes of the input, maps each output back and
// averages them.
#include "model/upscale.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "image/resize.h"

#define AUTO_PLAN_BYTES ((size_t)512 << 20)
#define DEFAULT_OVERLAP 16
// A side shorter than this is padded up to it by reflection (and the output cropped
// back): on a few pixels the zero padding of every 'same' convolution outweighs the
// image (a flat 1x64 image came out 80 levels off). Measured on flat images with the
// bundled models: at 16, sides of 8 to 15 still drift by up to 7 levels; at 32 every
// side below it stays within 2 (x2, x3), the model's border rows aside. It costs
// nothing on larger images, which are computed as before.
#define MIN_SIDE 32

void plan_cache_free(plan_cache *c) {
    model_plan_free(c->plan);
    free(c->window);
    free(c->result);
    memset(c, 0, sizeof *c);
}

static model_plan *plan_for(const model *m, plan_cache *c, int w, int h) {
    if (c->plan && c->w == w && c->h == h && model_plan_device(c->plan) == nn_get_device()) return c->plan;
    plan_cache_free(c);
    c->plan = model_plan_create(m, 1, h, w, 0);
    if (!c->plan) return NULL;
    c->w = w, c->h = h;
    c->window = as_malloc_array((size_t)w * h * 3, sizeof(float));
    if (c->window && model_plan_device(c->plan) != NN_CPU)
        c->result = as_malloc_array(model_plan_output_floats(c->plan), sizeof(float));
    if (!c->window || (model_plan_device(c->plan) != NN_CPU && !c->result)) {
        plan_cache_free(c);
        return NULL;
    }
    return c->plan;
}

// Output k of the cached plan where the host can read it: in place on the CPU.
static const float *host_output(plan_cache *c, int k) {
    if (!c->result) return model_plan_output(c->plan, k);
    return model_plan_get_output(c->plan, k, c->result) ? NULL : c->result;
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

// How one image side of n pixels is cut: tiles of `tile` pixels, each computed in a
// window of `win` pixels that adds up to `overlap` pixels of context on both sides.
// A window as long as the side holds every tile along it: one tile then, not the
// same window computed once per tile. A side shorter than MIN_SIDE is one window of
// MIN_SIDE pixels, starting `pad` pixels before the image: the side mirrored
// symmetrically ([0..n-1, n-1..0] repeated, MATLAB's 'symmetric', as bicubic pads),
// which works for any n (a single pixel is repeated) and puts real-looking content
// where the zero padding was, with no seam.
typedef struct { int n, tile, win, overlap, pad; } axis;

static axis axis_of(int n, const upscale_options *o) {
    if (n < MIN_SIDE) return (axis){n, n, MIN_SIDE, 0, (MIN_SIDE - n) / 2};
    int win = AS_MIN(n, o->tile + 2 * o->overlap);
    return (axis){n, win == n ? n : o->tile, win, o->overlap, 0};
}

// The first pixel of the window of the tile starting at t0 (negative: padding).
static int window_start(const axis *a, int t0) {
    if (a->pad) return -a->pad;
    return AS_MIN(AS_MAX(0, t0 - a->overlap), a->n - a->win);
}

// The window at (wx, wy), ww x wh, from the w x h image; outside it, mirrored pixels.
static void fill_window(float *pin, const float *in, int w, int h, int wx, int wy, int ww, int wh) {
    for (int y = 0; y < wh; y++) {
        const float *row = in + (size_t)resize_mirror(wy + y, h) * w * 3;
        float *dst = pin + (size_t)y * ww * 3;
        if (wx >= 0 && wx + ww <= w) {
            memcpy(dst, row + (size_t)wx * 3, sizeof(float) * ww * 3);
        } else {
            for (int x = 0; x < ww; x++) memcpy(dst + 3 * x, row + (size_t)resize_mirror(wx + x, w) * 3, 3 * sizeof(float));
        }
    }
}

// One pass over the image (o's tile and overlap resolved); `pass` of `passes` numbers
// the progress calls across an ensemble's passes.
static int upscale_tiled(const model *m, plan_cache *cache, const float *in, int w, int h,
                         float *out, float *structure, float *texture, const upscale_options *o,
                         int pass, int passes) {
    int s = m->cfg.scale;
    axis ax = axis_of(w, o), ay = axis_of(h, o);
    int ww = ax.win, wh = ay.win;
    int tiles_x = (w + ax.tile - 1) / ax.tile, tiles_y = (h + ay.tile - 1) / ay.tile, done = 0;
    model_plan *p = plan_for(m, cache, ww, wh);
    if (!p) return -1;
    float *dst[OUT_COUNT] = {[OUT_SR] = out, [OUT_S] = structure, [OUT_T] = texture};
    for (int ty = 0; ty < tiles_y; ty++) {
        for (int tx = 0; tx < tiles_x; tx++) {
            int x0 = tx * ax.tile, x1 = AS_MIN(w, x0 + ax.tile), y0 = ty * ay.tile, y1 = AS_MIN(h, y0 + ay.tile);
            int wx = window_start(&ax, x0), wy = window_start(&ay, y0);
            fill_window(cache->window, in, w, h, wx, wy, ww, wh);
            if (model_plan_set_input(p, cache->window) || model_forward(p, m)) return -1;
            for (int k = 0; k < OUT_COUNT; k++) {
                if (!dst[k]) continue;
                const float *src = host_output(cache, k);
                if (!src) return -1;
                copy_core(dst[k], src, s, w, ww, wx, wy, x0, x1, y0, y1);
            }
            done++;
            if (o->progress) o->progress(pass * tiles_x * tiles_y + done, passes * tiles_x * tiles_y, o->user);
        }
    }
    return 0;
}

// Where pixel (x, y) of a w x h image lands under symmetry k of the square (0..7):
// bit 0 flips x, bit 1 flips y, then bit 2 transposes (the result is h wide). An index
// into the transformed image's pixels.
static size_t dihedral_index(int k, int w, int h, int x, int y) {
    if (k & 1) x = w - 1 - x;
    if (k & 2) y = h - 1 - y;
    return k & 4 ? (size_t)x * h + y : (size_t)y * w + x;
}

// Input under symmetry k: each pixel moved to where dihedral_index sends it.
static void transform_input(float *dst, const float *src, int w, int h, int k) {
#pragma omp parallel for schedule(static)
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            memcpy(dst + 3 * dihedral_index(k, w, h, x, y), src + ((size_t)y * w + x) * 3, 3 * sizeof(float));
}

// acc (W x H) += the output of the input under symmetry k, mapped back.
static void add_untransformed(float *acc, const float *t, int W, int H, int k) {
#pragma omp parallel for schedule(static)
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const float *p = t + 3 * dihedral_index(k, W, H, x, y);
            float *a = acc + ((size_t)y * W + x) * 3;
            a[0] += p[0], a[1] += p[1], a[2] += p[2];
        }
}

static int upscale_ensemble(const model *m, plan_cache *cache, const float *in, int w, int h,
                            float *dst[3], const upscale_options *o) {
    int s = m->cfg.scale, W = w * s, H = h * s, rc = 0;
    size_t n_out = (size_t)W * H * 3;
    float *tin = as_malloc_array((size_t)w * h * 3, sizeof(float)), *t[3] = {0};
    rc = tin ? 0 : -1;
    for (int i = 0; i < 3 && !rc; i++) {
        if (!dst[i]) continue;
        if (!(t[i] = as_malloc_array(n_out, sizeof(float)))) rc = -1;
        else memset(dst[i], 0, n_out * sizeof(float));
    }
    // k = 0..3 keep the orientation, 4..7 transpose: at most two plans per image. The
    // half whose window the cache already holds goes first, so a run of same-sized
    // images (eval) plans once per image, not twice.
    int tww = axis_of(h, o).win, twh = axis_of(w, o).win;  // the transposed window
    int first = cache->plan && cache->w == tww && cache->h == twh && tww != twh ? 4 : 0;
    for (int pass = 0; pass < 8 && !rc; pass++) {
        int k = pass ^ first, tw = k & 4 ? h : w, th = k & 4 ? w : h;
        transform_input(tin, in, w, h, k);
        rc = upscale_tiled(m, cache, tin, tw, th, t[0], t[1], t[2], o, pass, 8);
        for (int i = 0; i < 3 && !rc; i++)
            if (dst[i]) add_untransformed(dst[i], t[i], W, H, k);
    }
    for (int i = 0; i < 3 && !rc; i++)
        if (dst[i])
            for (size_t j = 0; j < n_out; j++) dst[i][j] *= 0.125f;
    free(tin);
    for (int i = 0; i < 3; i++) free(t[i]);
    return rc;
}

int upscale_image(const model *m, plan_cache *cache, const float *in, int w, int h,
                  float *out, float *structure, float *texture, const upscale_options *opt) {
    if (as_check_pixels("input", w, h)) return -1;
    size_t n_in = (size_t)w * h * 3, bad = as_first_nonfinite(in, n_in);
    if (bad < n_in)
        return as_errorf("input: pixel (x %zu, y %zu) holds a non-finite value (%g)", bad / 3 % w, bad / 3 / w, in[bad]);
    upscale_options o = opt ? *opt : (upscale_options){0};
    if (!o.overlap) o.overlap = DEFAULT_OVERLAP;
    // Context beyond the network's reach changes nothing but CA's mean over the window,
    // and would cost (tile + 2 overlap)^2 per tile: --overlap 4096 with --tile 8
    // computed the whole image once per tile.
    o.overlap = AS_MIN(o.overlap, model_receptive_radius(&m->cfg));
    if (!o.tile) o.tile = auto_tile(m, w, h, o.overlap);  // the same for every orientation
    if (!o.ensemble) return upscale_tiled(m, cache, in, w, h, out, structure, texture, &o, 0, 1);
    float *dst[OUT_COUNT] = {[OUT_SR] = out, [OUT_S] = structure, [OUT_T] = texture};
    return upscale_ensemble(m, cache, in, w, h, dst, &o);
}
