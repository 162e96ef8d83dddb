// resize: MATLAB-compatible bicubic imresize (docs/spec.md §2): cubic kernel a = -0.5,
// antialiasing when shrinking (kernel widened by 1/scale), symmetric border handling.
// Identical to MATLAB's imresize(I, scale, 'bicubic') and BasicSR's imresize.
//
// How: for each dimension, MATLAB's contributions() gives every output index its taps
// (input indices, mirrored at the borders as [1..n, n..1], and weights normalised to
// sum 1), computed once in double precision. The two 1-D passes run in MATLAB's order:
// the dimension with the smaller scale first, height first on a tie, so with one scale
// for both dimensions always height, then width. The passes are fused per output row
// (OpenMP over rows); the intermediate is kept in double, like MATLAB's double path,
// and only the result is stored as float. Nothing is clamped or rounded: out-of-range
// results (bicubic overshoot) are kept; degrade() rounds to 8 bits.
//
// tools/fixtures_resize.py is the independent numpy reference (tests/test_resize.c).
#pragma once
#include <stddef.h>  // image.h uses size_t without including it
#include <stdint.h>

#include "image/image.h"

// MATLAB's 'symmetric' padding: index j (0-based, any integer) read from
// [0, 1, ..., n-1, n-1, ..., 1, 0] repeated, i.e. aux(mod(j, 2n) + 1). Defined for every
// n >= 1 (n = 1: always 0).
static inline int resize_mirror(int64_t j, int n) {
    int64_t p = 2 * (int64_t)n, m = j % p;
    if (m < 0) m += p;
    return (int)(m < n ? m : p - 1 - m);
}

// Output length of one dimension: ceil(n * scale), as MATLAB and BasicSR compute it.
int64_t resize_out_len(int n, double scale);

// Resizes a (h, w, c) float array by `scale` into out, which must hold
// resize_out_len(h, scale) x resize_out_len(w, scale) x c floats. Any c >= 1; channels
// are independent. Returns 0, or -1 (as_error()) for a bad size or scale (not finite
// and > 0), an output over the pixel limit, or out of memory.
int resize_bicubic_into(float *out, const float *in, int h, int w, int c, double scale);

// The same with no way to fail (kept for callers that check sizes themselves). On a
// failure resize_bicubic_into() would report, out is filled with NaN (when its size is
// known) and the reason is left in as_error(). Prefer resize_bicubic_into().
void resize_bicubic_raw(float *out, const float *in, int h, int w, int c, double scale);

// Convenience on images: allocates out (same channel count and gray flag as in).
// On failure out is left empty (px == NULL).
int resize_bicubic(image *out, const image *in, double scale);

// As MATLAB's imresize on a uint8 image: each 1-D pass's result is rounded to 8 bits
// (clamped, half up). The field's published bicubic numbers come from this path, so
// degrade() and the bicubic baseline use it; it differs from resize_bicubic by at most
// about 1/255 per pixel.
int resize_bicubic_u8(image *out, const image *in, double scale);

// docs/spec.md §2 degradation: crop HR to a multiple of s (top-left kept), then bicubic 1/s of
// all channels (alpha too) on MATLAB's uint8 path (each pass rounded to 8 bits). lr gets
// (h/s, w/s) and hr's channel count and gray flag. hr_cropped (may be NULL) receives
// the cropped HR. Neither may be hr itself. On failure both are left empty.
int degrade(image *lr, image *hr_cropped, const image *hr, int s);
