// Tiled inference. The image runs whole when its plan fits the memory budget; else in
// the fewest windows per axis, all of one size (one plan serves the whole image), each
// keeping the output of its middle and giving it `overlap` pixels of context on both
// sides (the receptive radius by default: then tiles are exact but for CA's mean over
// the window). The self-ensemble (EDSR's "+" models) runs the tiled pass on each of
// the 8 flips/transposes of the input, maps each output back and averages them.
#include "model/upscale.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "image/resize.h"

// The automatic budget for one plan's memory (the image and its output come on top):
// with the bundled x2, 1920x1080 LR (4K out) then peaks at 1.09 GB in all, 3840x2160 LR
// at 1.58 GB, and a 2048x2048 image needs 2x2 windows, 6% more pixels than one
// (docs/benchmarks.md).
#define AUTO_PLAN_BYTES ((size_t)1152 << 20)
// A side shorter than this is padded up to it by reflection (and the output cropped
// back): on a few pixels the zero padding of every 'same' convolution outweighs the
// image (a flat 1x64 image came out 80 levels off). Measured on flat images with the
// bundled models: at 16, sides of 8 to 15 still drift by up to 7 levels; at 32 every
// side below it stays within 2 (x2, x3), the model's border rows aside. It costs
// nothing on larger images, which are computed as before.
#define MIN_SIDE 32
// Windows start at multiples of the Winograd output tile (4; 8 at x2's HR stage), so
// every pixel meets the same arithmetic as in the whole image's plan: tiles with the
// radius as overlap are then bit-identical to it for models without CA.
#define WINDOW_ALIGN 4

// The plan and its buffers; the measure of plan sizes stays.
static void plan_drop(plan_cache *c) {
    model_plan_free(c->plan);
    free(c->window);
    free(c->result);
    c->plan = NULL, c->window = c->result = NULL, c->w = c->h = 0;
}

void plan_cache_free(plan_cache *c) {
    plan_drop(c);
    memset(c, 0, sizeof *c);
}

// Whether the cache holds a plan for w x h windows of this mode on this device.
static int cached(const plan_cache *c, int w, int h, int mode) {
    return c->plan && c->w == w && c->h == h && c->mode == mode && model_plan_device(c->plan) == nn_get_device();
}

// A plan for w x h windows; mode: MODEL_INFER, or MODEL_INFER_SR when S and T are not
// wanted (less memory). The plan must fit max_bytes (0: any), else NULL.
static model_plan *plan_within(const model *m, plan_cache *c, int w, int h, int mode, size_t max_bytes) {
    if (cached(c, w, h, mode)) {
        if (!max_bytes || model_plan_bytes(c->plan) <= max_bytes) return c->plan;
        return NULL;  // made under a larger budget
    }
    plan_drop(c);
    c->plan = model_plan_create_within(m, 1, h, w, mode, max_bytes);
    if (!c->plan) return NULL;
    c->w = w, c->h = h, c->mode = mode, c->made++;
    // a device plan's outputs are copied out through a host buffer
    int on_host = model_plan_device(c->plan) == NN_CPU;
    c->window = as_malloc_array((size_t)w * h * 3, sizeof(float));
    if (c->window && !on_host) c->result = as_malloc_array(model_plan_output_floats(c->plan), sizeof(float));
    if (!c->window || (!on_host && !c->result)) {
        plan_drop(c);
        return NULL;
    }
    return c->plan;
}

static model_plan *plan_for(const model *m, plan_cache *c, int w, int h, int mode) {
    return plan_within(m, c, w, h, mode, 0);
}

// Output k of the cached plan where the host can read it: in place on the CPU.
static const float *host_output(plan_cache *c, int k) {
    if (!c->result) return model_plan_output(c->plan, k);
    return model_plan_get_output(c->plan, k, c->result) ? NULL : c->result;
}

// A plan's bytes are fixed + per_px * pixels (the maps scale with the pixels; conv
// workspaces and kernel caches do not): two probe plans give both, to the rounding of
// each buffer to 64 bytes, which `fixed` bounds. One probe alone counts the fixed part
// as per-pixel (2x the bytes of the bundled x2's large plans from a 32x32 one). The
// probes have 1024+ pixels, so their convolutions use the real windows' algorithms
// (conv.c's rule).
int upscale_plan_memory(const model *m, int mode, double *fixed, double *per_px) {
    model_plan *a = model_plan_create(m, 1, 32, 32, mode), *b = a ? model_plan_create(m, 1, 32, 64, mode) : NULL;
    int rc = b ? 0 : -1;
    if (b) {
        *per_px = ((double)model_plan_bytes(b) - (double)model_plan_bytes(a)) / (32 * 32);
        // + each buffer's rounding to 64 bytes, which other shapes may need (a few dozen)
        *fixed = (double)model_plan_bytes(a) - *per_px * 32 * 32 + 4096;
    }
    model_plan_free(a);
    model_plan_free(b);
    return rc;
}

// How one image side of n pixels is cut: k windows of win pixels, window i starting at
// axis_start(i) and keeping the output pixels [axis_keep(i), axis_keep(i + 1)). Each
// kept pixel has `overlap` pixels of context on both sides inside its window, or the
// image's edge. A side shorter than MIN_SIDE is one window of MIN_SIDE pixels, starting
// `pad` pixels before the image: the side mirrored symmetrically ([0..n-1, n-1..0]
// repeated, MATLAB's 'symmetric', as bicubic pads), which works for any n (a single
// pixel is repeated) and puts real-looking content where the zero padding was.
typedef upscale_axis axis;

// The first pixel of window i (negative: padding): the windows spread evenly from 0 to
// n - win, at multiples of WINDOW_ALIGN.
static int axis_start(const axis *a, int i) {
    if (a->pad) return -a->pad;
    if (a->k == 1) return 0;
    int steps = (a->n - a->win) / WINDOW_ALIGN;
    return (int)((int64_t)i * steps / (a->k - 1)) * WINDOW_ALIGN;
}

// Where window i's kept pixels start: its first pixel with `overlap` pixels of context
// before it (the window before has as much after it, or more).
static int axis_keep(const axis *a, int i) {
    if (i == 0) return 0;
    if (i == a->k) return a->n;
    return axis_start(a, i) + a->overlap;
}

// Whether consecutive windows leave no pixel without its context.
static int axis_covers(const axis *a) {
    for (int i = 1; i < a->k; i++)
        if (axis_start(a, i) - axis_start(a, i - 1) > a->win - 2 * a->overlap) return 0;
    return 1;
}

// k windows along n: the smallest window with n - win a multiple of WINDOW_ALIGN that
// covers the side. k windows of win pixels keep at most k win - 2 overlap (k - 1).
static axis axis_of_k(int n, int k, int overlap) {
    if (n < MIN_SIDE) return (axis){n, 1, MIN_SIDE, 0, (MIN_SIDE - n) / 2};
    int64_t least = ((int64_t)n + 2 * (int64_t)overlap * (k - 1) + k - 1) / k;
    axis a = {n, k, (int)AS_MIN(least, n), overlap, 0};
    if (k == 1 || a.win == n) return (axis){n, 1, n, overlap, 0};
    a.win += (n - a.win) % WINDOW_ALIGN;
    while (a.win + WINDOW_ALIGN < n && !axis_covers(&a)) a.win += WINDOW_ALIGN;
    return axis_covers(&a) && a.win < n ? a : (axis){n, 1, n, overlap, 0};
}

// The fewest windows of at most max_win pixels along n; 0 when none are small enough.
static int axis_fewest(int n, double max_win, int overlap, axis *out) {
    *out = axis_of_k(n, 1, overlap);
    if (out->win <= max_win) return 1;
    if (max_win < 2 * overlap + WINDOW_ALIGN) return 0;
    // k win - 2 overlap (k - 1) >= n: no fewer windows can do
    int k = (int)AS_MAX(2, ceil((n - 2.0 * overlap) / (max_win - 2.0 * overlap)));
    for (; k <= n; k++) {
        *out = axis_of_k(n, k, overlap);
        if (out->win <= max_win) return 1;
        if (out->win <= 2 * overlap + WINDOW_ALIGN) return 0;  // cannot shrink further
    }
    return 0;
}

typedef struct {
    axis x, y;
} layout;

// An explicit tile: windows of at most tile + 2 overlap pixels along each side.
static layout layout_of_tile(int w, int h, int tile, int overlap) {
    layout l;
    if (!axis_fewest(w, tile + 2.0 * overlap, overlap, &l.x)) l.x = axis_of_k(w, 1, overlap);
    if (!axis_fewest(h, tile + 2.0 * overlap, overlap, &l.y)) l.y = axis_of_k(h, 1, overlap);
    return l;
}

// The windows of at most max_px pixels each that compute the fewest pixels in all
// (ties: the fewest columns), over every count of columns; 0 when none fit.
static int layout_auto(int w, int h, double max_px, int overlap, layout *best) {
    double best_cost = INFINITY;
    for (int kx = 1; kx <= w; kx++) {
        axis x = axis_of_k(w, kx, overlap), y;
        double cols = (double)kx * x.win;
        if (cols * h > best_cost) break;  // more columns only compute more
        if (axis_fewest(h, max_px / x.win, overlap, &y)) {
            double cost = cols * y.k * y.win;
            if (cost < best_cost) best_cost = cost, best->x = x, best->y = y;
        }
        if (x.win <= 2 * overlap + WINDOW_ALIGN) break;
    }
    return best_cost < INFINITY;
}

int upscale_axis_fewest(int n, double max_win, int overlap, upscale_axis *a) {
    return axis_fewest(n, max_win, overlap, a);
}
int upscale_axis_start(const upscale_axis *a, int i) { return axis_start(a, i); }
int upscale_axis_keep(const upscale_axis *a, int i) { return axis_keep(a, i); }

// Whether the cache holds the probes' measure for this mode, device and precision.
static int measured(const plan_cache *c, int mode) {
    return c && c->sized && c->sized_dev == nn_get_device() && c->sized_prec == conv_get_precision() &&
           c->sized_mode == mode;
}

// upscale_plan_memory, or the cache's measure of it.
static int plan_memory(const model *m, plan_cache *c, int mode, double *fixed, double *per_px) {
    if (measured(c, mode)) {
        *fixed = c->fixed, *per_px = c->per_px;
        return 0;
    }
    if (upscale_plan_memory(m, mode, fixed, per_px)) return -1;
    if (c)
        c->sized = 1, c->sized_dev = nn_get_device(), c->sized_prec = conv_get_precision(), c->sized_mode = mode,
        c->fixed = *fixed, c->per_px = *per_px;
    return 0;
}

// Whether the whole image (the windows of l, one of each) runs in one plan within the
// budget, which is then in the cache (for the ensemble, the transposed window's, which
// its transposed passes leave, does as well). Not tried where the probes' measure
// already says no: the attempt would drop the windows' plan that a run of same-sized
// images (a video, a folder) reuses.
static int whole_fits(const model *m, plan_cache *c, const layout *l, int mode, int ensemble, double budget) {
    if (measured(c, mode) && c->fixed + c->per_px * l->x.win * l->y.win > budget) return 0;
    if (ensemble && cached(c, l->y.win, l->x.win, mode)) return model_plan_bytes(c->plan) <= budget;
    if (plan_within(m, c, l->x.win, l->y.win, mode, (size_t)budget)) return 1;
    as_clear_error();  // over the budget, or too many pixels for one plan: windows
    return 0;
}

int upscale_layout(const model *m, plan_cache *cache, int w, int h, const upscale_options *o, int mode, upscale_axis *x,
                   upscale_axis *y) {
    // Context beyond the network's reach changes nothing but CA's mean over the window,
    // and would cost (tile + 2 overlap)^2 per tile: --overlap 4096 with --tile 8
    // computed the whole image once per tile.
    int radius = model_receptive_radius(&m->cfg), overlap = o->overlap ? AS_MIN(o->overlap, radius) : radius;
    layout l;
    if (o->tile) {
        l = layout_of_tile(w, h, o->tile, overlap);
    } else {
        double fixed, per_px, budget = o->plan_bytes ? (double)o->plan_bytes : (double)AUTO_PLAN_BYTES;
        // The whole image's plan first: the plan the image needs anyway, and no probes
        // (two more plans) for it. Else windows, from the probes' measure.
        l.x = axis_of_k(w, 1, overlap), l.y = axis_of_k(h, 1, overlap);
        if (cache && whole_fits(m, cache, &l, mode, o->ensemble, budget)) {
            *x = l.x, *y = l.y;
            return 0;
        }
        if (plan_memory(m, cache, mode, &fixed, &per_px)) return -1;
        double max_px = AS_MAX((budget - fixed) / per_px, (double)MIN_SIDE * MIN_SIDE);
        // A reach the budget's windows cannot hold (paper-size SA4: 649 pixels) gets
        // less context: at most a quarter of the largest square window's side.
        overlap = AS_MIN(overlap, (int)(sqrt(max_px) / 4));
        if (!layout_auto(w, h, max_px, overlap, &l))
            l = layout_of_tile(w, h, AS_MAX(8, (int)sqrt(max_px) - 2 * overlap), overlap);
    }
    *x = l.x, *y = l.y;
    return 0;
}

// Copies LR rows [y0, y1) x cols [x0, x1) of a window's output (origin wx, wy; width
// ww) into the whole output (width w); all coordinates in LR pixels.
static void copy_core(float *dst, const float *src, int s, int w, int ww, int wx, int wy, int x0, int x1, int y0,
                      int y1) {
    size_t row = (size_t)(x1 - x0) * s * 3 * sizeof(float);
#pragma omp parallel for schedule(static)
    for (int y = y0 * s; y < y1 * s; y++)
        memcpy(dst + ((size_t)y * w * s + (size_t)x0 * s) * 3,
               src + ((size_t)(y - wy * s) * ww * s + (size_t)(x0 - wx) * s) * 3, row);
}

// The window at (wx, wy), ww x wh, from the w x h image; outside it, mirrored pixels.
static void fill_window(float *pin, const float *in, int w, int h, int wx, int wy, int ww, int wh) {
    for (int y = 0; y < wh; y++) {
        const float *row = in + (size_t)resize_mirror(wy + y, h) * w * 3;
        float *dst = pin + (size_t)y * ww * 3;
        if (wx >= 0 && wx + ww <= w) {
            memcpy(dst, row + (size_t)wx * 3, sizeof(float) * ww * 3);
        } else {
            for (int x = 0; x < ww; x++)
                memcpy(dst + 3 * x, row + (size_t)resize_mirror(wx + x, w) * 3, 3 * sizeof(float));
        }
    }
}

// One pass over the image in the windows of l; `pass` of `passes` numbers the progress
// calls across an ensemble's passes.
static int upscale_tiled(const model *m, plan_cache *cache, const float *in, int w, int h, float *out, float *structure,
                         float *texture, const upscale_options *o, const layout *l, int pass, int passes) {
    int s = m->cfg.scale, ww = l->x.win, wh = l->y.win, n = l->x.k * l->y.k, done = 0;
    model_plan *p = plan_for(m, cache, ww, wh, structure || texture ? MODEL_INFER : MODEL_INFER_SR);
    if (!p) return -1;
    float *dst[OUT_COUNT] = {[OUT_SR] = out, [OUT_S] = structure, [OUT_T] = texture};
    for (int ty = 0; ty < l->y.k; ty++) {
        for (int tx = 0; tx < l->x.k; tx++) {
            int x0 = axis_keep(&l->x, tx), x1 = axis_keep(&l->x, tx + 1);
            int y0 = axis_keep(&l->y, ty), y1 = axis_keep(&l->y, ty + 1);
            int wx = axis_start(&l->x, tx), wy = axis_start(&l->y, ty);
            fill_window(cache->window, in, w, h, wx, wy, ww, wh);
            if (model_plan_set_input(p, cache->window) || model_forward(p, m)) return -1;
            for (int k = 0; k < OUT_COUNT; k++) {
                if (!dst[k]) continue;
                const float *src = host_output(cache, k);
                if (!src) return -1;
                copy_core(dst[k], src, s, w, ww, wx, wy, x0, x1, y0, y1);
            }
            done++;
            if (o->progress) o->progress(pass * n + done, passes * n, o->user);
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

static int upscale_ensemble(const model *m, plan_cache *cache, const float *in, int w, int h, float *dst[3],
                            const upscale_options *o, const layout *ls) {
    int s = m->cfg.scale, W = w * s, H = h * s, rc = 0;
    size_t n_out = (size_t)W * H * 3;
    float *tin = as_malloc_array((size_t)w * h * 3, sizeof(float)), *t[3] = {0};
    rc = tin ? 0 : -1;
    for (int i = 0; i < 3 && !rc; i++) {
        if (!dst[i]) continue;
        if (!(t[i] = as_malloc_array(n_out, sizeof(float))))
            rc = -1;
        else
            memset(dst[i], 0, n_out * sizeof(float));
    }
    // k = 0..3 keep the orientation, 4..7 transpose: at most two plans per image. The
    // half whose window the cache already holds goes first, so a run of same-sized
    // images (eval) plans once per image, not twice.
    const layout *l = ls;
    layout lt = {l->y, l->x};  // the transposed image's windows
    int first = cache->plan && cache->w == lt.x.win && cache->h == lt.y.win && lt.x.win != lt.y.win ? 4 : 0;
    for (int pass = 0; pass < 8 && !rc; pass++) {
        int k = pass ^ first, tw = k & 4 ? h : w, th = k & 4 ? w : h;
        transform_input(tin, in, w, h, k);
        rc = upscale_tiled(m, cache, tin, tw, th, t[0], t[1], t[2], o, k & 4 ? &lt : l, pass, 8);
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

int upscale_image(const model *m, plan_cache *cache, const float *in, int w, int h, float *out, float *structure,
                  float *texture, const upscale_options *opt) {
    if (as_check_pixels("input", w, h)) return -1;
    size_t n_in = (size_t)w * h * 3, bad = as_first_nonfinite(in, n_in);
    if (bad < n_in)
        return as_errorf("input: pixel (x %zu, y %zu) holds a non-finite value (%g)", bad / 3 % w, bad / 3 / w,
                         in[bad]);
    upscale_options o = opt ? *opt : (upscale_options){0};
    layout l;
    if (upscale_layout(m, cache, w, h, &o, structure || texture ? MODEL_INFER : MODEL_INFER_SR, &l.x, &l.y)) return -1;
    if (!o.ensemble) return upscale_tiled(m, cache, in, w, h, out, structure, texture, &o, &l, 0, 1);
    float *dst[OUT_COUNT] = {[OUT_SR] = out, [OUT_S] = structure, [OUT_T] = texture};
    return upscale_ensemble(m, cache, in, w, h, dst, &o, &l);
}
