// satv: structure/texture decomposition by vectorial TV-L2 (ROF), docs/spec.md §5.
//
// The ground truth of the two network branches: S = argmin_u TV(u) + lambda/2 ||u - f||^2
// with the channels coupled in the TV norm (sum over pixels of sqrt(sum_c |grad u_c|^2)),
// and T = f - S. The solver is the SATV authors' split-Bregman iteration (their MATLAB
// `satv(I, 2.5, [], [], 'L2')`), step for step up to float rounding: S agrees with a
// double-precision transcription of docs/spec.md §5 to ~1e-7 and stops after the same number of
// iterations.
//
//   satv_params p = satv_defaults();           // lambda 2.5, gamma1 5, tol 1e-3, 50 its
//   int its;
//   if (satv_decompose(S, T, &its, img.px, img.h, img.w, 3, &p)) ... as_error()
//
// All c channels enter the TV norm together, so an RGBA image's alpha should be split
// off first (docs/spec.md §1 treats alpha separately).
//
// Multithreaded with OpenMP; the result does not depend on the thread count (bit for bit).
// Reentrant: no global state, so several images may be decomposed at once. Work space:
// about (5c + 1) floats per pixel, allocated and freed by each call.
#pragma once

typedef struct {
    float lambda;             // fidelity weight (docs/spec.md §5: 2.5); >= 0
    float gamma1;             // split-Bregman penalty (docs/spec.md §5: 5); > 0
    float tol;                // stop when ||u' - u|| / ||f|| <= tol, from iteration 2 on
    int max_iters;            // at most this many u updates (docs/spec.md §5: 50); >= 1
    const float *lambda_map;  // (h, w) per-pixel lambda (>= 0) replacing `lambda`, or NULL
} satv_params;

// docs/spec.md §5's values, no lambda map.
satv_params satv_defaults(void);

// Decomposes f (h, w, c), any c >= 1, into structure (h, w, c) and, when texture is not
// NULL, texture = f - structure (h, w, c). structure or texture may be f itself (in
// place); they must not be each other. iters_done (may be NULL) receives the number of
// u updates made (2..max_iters, or 1 when max_iters is 1). Fails on bad sizes or
// parameters, a negative or non-finite lambda (map), non-finite f, or out of memory.
int satv_decompose(float *structure, float *texture, int *iters_done, const float *f, int h, int w, int c,
                   const satv_params *p);
