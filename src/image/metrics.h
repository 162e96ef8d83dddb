// metrics: PSNR and SSIM on Y, the field's protocol (SPEC section 2).
// Both images are first rounded to 8 bits (as if saved to PNG); then Y (or full-range
// luma when the HR file was gray) is computed, s pixels shaved off every border.
#pragma once
#include "image/image.h"

typedef struct {
    double psnr;  // dB, peak 255
    double ssim;  // Wang et al. 2004, 11x11 Gaussian window, sigma 1.5, valid region
} metrics;

// sr and hr must have equal size; hr->gray selects the luma exception.
int metrics_compute(metrics *m, const image *sr, const image *hr, int shave);
