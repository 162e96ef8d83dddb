/* attsr: single-image super-resolution with attention, as a C library.
 *
 * A model restores a structure image and a texture image at s times the resolution
 * of its input and adds them (docs/spec.md §3). Typical use:
 *
 *     attsr_model *m;
 *     if (attsr_model_load(&m, "models/attsr_x2.safetensors") != 0) {
 *         fprintf(stderr, "%s\n", attsr_error());
 *         return 1;
 *     }
 *     int s = attsr_model_scale(m);
 *     float *out = malloc(sizeof(float) * (size_t)w * s * h * s * 3);
 *     if (attsr_upscale(m, rgb, w, h, out, NULL, NULL, NULL) != 0) ...
 *     attsr_model_free(m);
 *
 * Images are float32 RGB, row-major, interleaved (h, w, 3), values nominally in [0, 1]
 * (outputs are not clamped). Every function that can fail returns 0 on success and -1
 * on failure; attsr_error() then gives a one-line reason (per thread). Nothing here
 * prints or exits. A model may be used by one thread at a time; load one per thread
 * for parallel use (weights are small next to the activations).
 */
#ifndef ATTSR_H
#define ATTSR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 0.4.0: attsr_options grew `device` (an ABI break; the soname is libattsr.so.0.4).
 * 0.5.0: attsr_options grew `memory_mib` (an ABI break; libattsr.so.0.5). */
#define ATTSR_VERSION "0.5.0"

/* What libattsr.so exports: the functions declared here, nothing else (the library's
 * objects are compiled with -fvisibility=hidden), as ggml's GGML_API. */
#if defined(__GNUC__) || defined(__clang__)
#define ATTSR_API __attribute__((visibility("default")))
#else
#define ATTSR_API
#endif

typedef struct attsr_model attsr_model;

/* Loads a weights file (safetensors, docs/spec.md §4) or the same bytes from memory. */
ATTSR_API int attsr_model_load(attsr_model **model, const char *path);
ATTSR_API int attsr_model_load_memory(attsr_model **model, const void *data, size_t size);
ATTSR_API void attsr_model_free(attsr_model *model);

/* The bundled model file for scale (2, 3 or 4) into path (n bytes): the first readable
 * attsr_xS.safetensors in $ATTSR_MODELS, then in models/ one or two folders above the
 * running program's (the build tree: build/attsr, build/examples/upscale), then in
 * PREFIX/share/attsr/models (PREFIX as given to make, /usr/local by default; where
 * `make install` puts them). path is made absolute where it can be. */
ATTSR_API int attsr_model_bundled(int scale, char *path, size_t n);

typedef struct {
    int scale; /* 2, 3 or 4 */
    int feats; /* C */
    int fe_groups, groups, blocks;
    const char *attention; /* "none", "ca", "sa1", "sa4", "ca+sa4", "ca-avgmax" */
    size_t parameters;     /* number of weights */
} attsr_model_info;

ATTSR_API int attsr_model_scale(const attsr_model *model);
ATTSR_API void attsr_model_get_info(const attsr_model *model, attsr_model_info *info);

/* Where the network runs (attsr_options.device). AUTO: CUDA when the library was built
 * with it (make CUDA=1), a GPU is present and the CUDA backend has the model's layers;
 * otherwise the CPU. CUDA when it cannot is an error, never a silent fallback. */
enum { ATTSR_DEVICE_AUTO = 0, ATTSR_DEVICE_CPU = 1, ATTSR_DEVICE_CUDA = 2 };

/* 1 when the model's inference can run on device (ATTSR_DEVICE_*; AUTO and CPU always
 * can), 0 with the reason in attsr_error(): a library without CUDA, no GPU, or layers
 * the CUDA backend lacks. */
ATTSR_API int attsr_device_supported(const attsr_model *model, int device);

/* Progress: called after each tile with the tiles done and the total. */
typedef void (*attsr_progress_fn)(int done, int total, void *user);

typedef struct {
    int tile;    /* LR tile side in pixels, at most; 0: automatic (the whole
                              image when its plan fits memory_mib, else the fewest
                              windows that do) */
    int overlap; /* LR pixels of context around each tile; 0: the network's
                              receptive radius (tiles then exact but for CA's mean over
                              the window); at most that radius is used */
    int threads; /* 0: OpenMP's default */
    attsr_progress_fn progress;
    void *progress_user;
    int ensemble;         /* 1: x8 self-ensemble, the mean of the outputs for the 8 flips
                              and transposes of the input (EDSR's "+"): 8x the time */
    int keep_orientation; /* attsr_evaluate: 1 reads the file's pixels in their stored
                              order; 0 applies its EXIF Orientation, as browsers do */
    int device;           /* ATTSR_DEVICE_*: 0 (AUTO) by default */
    int memory_mib;       /* the automatic windows' budget for the network's buffers, in
                              MiB (the image and its output come on top); 0: 1152.
                              Smaller: less memory, more time (overlapping context) */
} attsr_options;

/* Upscales in (h, w, 3) to out (h*s, w*s, 3). structure and texture (same shape as
 * out) receive the two branches when non-NULL. options may be NULL. NaN or Inf in
 * `in` is an error. */
ATTSR_API int attsr_upscale(attsr_model *model, const float *in, int w, int h, float *out, float *structure,
                            float *texture, const attsr_options *options);

/* The field's evaluation protocol (docs/spec.md §2) on one HR image file: crop to a
 * multiple of scale, LR by MATLAB-compatible bicubic 1/scale rounded to 8 bits, SR by
 * the model (bicubic when model is NULL), PSNR (dB) and SSIM on Y with scale pixels
 * shaved off each border. options (may be NULL) apply to the model's upscaling. */
ATTSR_API int attsr_evaluate(attsr_model *model, int scale, const char *hr_path, const attsr_options *options,
                             double *psnr, double *ssim);

/* The reason for the last failure on this thread. */
ATTSR_API const char *attsr_error(void);

#ifdef __cplusplus
}
#endif
#endif
