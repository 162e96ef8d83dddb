// metrics: PSNR and SSIM on Y, the field's protocol (docs/spec.md §2).
// Both images are first rounded to 8 bits (image_to_u8, as if saved to PNG); then Y (or
// full-range luma when the HR file was gray) is computed, s pixels shaved off every border.
//
//   Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255     R, G, B in 0..255, not rounded
//   L =      (65.481 R + 128.553 G + 24.966 B) / 219     when hr->gray (L = v for gray v)
//
// PSNR = 10 log10(255^2 / MSE); identical images give +INFINITY, as BasicSR's
// calculate_psnr (float('inf')): writers of JSON must map it themselves (e.g. to null).
// SSIM: Wang et al. 2004 as MATLAB's ssim_index / BasicSR's calculate_ssim: 11 x 11
// Gaussian window (sigma 1.5, normalised), 'valid' filtering only, C1 = (0.01*255)^2,
// C2 = (0.03*255)^2, mean of the SSIM map; all in double. An image smaller than 11 x 11
// after shaving has no valid region: its SSIM is NAN (BasicSR: mean of an empty map).
// Alpha (a 4th channel) is ignored. tools/fixtures_resize.py is the reference.
#pragma once
#include <stddef.h>  // image.h uses size_t without including it

#include "image/image.h"

typedef struct {
    double psnr;  // dB, peak 255
    double ssim;  // Wang et al. 2004, 11x11 Gaussian window, sigma 1.5, valid region
} metrics;

// sr and hr must have equal size; hr->gray selects the luma exception. Fails (-1, m
// untouched) on a size mismatch, a negative shave or one that leaves no pixel.
int metrics_compute(metrics *m, const image *sr, const image *hr, int shave);
