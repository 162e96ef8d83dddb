// resize: MATLAB-compatible bicubic imresize (SPEC section 2): cubic kernel a = -0.5,
// antialiasing when shrinking (kernel widened by 1/scale), symmetric border handling.
// Identical to MATLAB's imresize(I, scale, 'bicubic') and BasicSR's imresize.
#pragma once
#include "image/image.h"

// Resizes a (h, w, c) float array by `scale`: the output is ceil(h*scale) x
// ceil(w*scale) x c, computed separably in MATLAB's order. out must hold that many floats.
void resize_bicubic_raw(float *out, const float *in, int h, int w, int c, double scale);

// Convenience on images: allocates out (same channel count as in).
int resize_bicubic(image *out, const image *in, double scale);

// SPEC 2 degradation: crop HR to a multiple of s (top-left kept), then bicubic 1/s,
// then rounded to 8 bits. hr_cropped (may be NULL) receives the cropped HR.
int degrade(image *lr, image *hr_cropped, const image *hr, int s);
