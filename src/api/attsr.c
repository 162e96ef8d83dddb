// The public C API (include/attsr.h): a model plus a cached inference plan, and tiled
// upscaling so that any image fits in bounded memory.
#define _GNU_SOURCE  // program_invocation_name (argv[0])
#include "attsr.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "model/model.h"
#include "model/evaluate.h"
#include "model/upscale.h"

struct attsr_model {
    model m;
    plan_cache cache;  // the last window size's plan (video frames reuse it)
};

const char *attsr_error(void) { return as_error(); }

static int wrap(attsr_model **out, int rc, attsr_model *a) {
    if (rc) {
        free(a);
        *out = NULL;
        return -1;
    }
    *out = a;
    return 0;
}

int attsr_model_load(attsr_model **out, const char *path) {
    attsr_model *a = as_calloc(1, sizeof *a);
    if (!a) return -1;
    return wrap(out, model_load(&a->m, path), a);
}

int attsr_model_load_memory(attsr_model **out, const void *data, size_t size) {
    attsr_model *a = as_calloc(1, sizeof *a);
    if (!a) return -1;
    return wrap(out, model_load_memory(&a->m, data, size, "model (memory)"), a);
}

void attsr_model_free(attsr_model *a) {
    if (!a) return;
    plan_cache_free(&a->cache);
    model_free(&a->m);
    free(a);
}

// The install's model folder, compiled in by the Makefile (PREFIX/share/attsr/models).
#ifndef ATTSR_MODEL_DIR
#define ATTSR_MODEL_DIR "/usr/local/share/attsr/models"
#endif

// Writes DIR/attsr_xS.safetensors to path, without ../ when it fits; 1 when it is readable.
static int model_in(const char *dir, int scale, char *path, size_t n) {
    char real[PATH_MAX];
    int len = snprintf(path, n, "%s/attsr_x%d.safetensors", dir, scale);
    if (len <= 0 || (size_t)len >= n || access(path, R_OK) != 0) return 0;
    if (realpath(path, real) && strlen(real) < n) memcpy(path, real, strlen(real) + 1);
    return 1;
}

int attsr_model_bundled(int scale, char *path, size_t n) {
    if (!path || n == 0) return as_errorf("attsr_model_bundled: NULL path");
    if (scale < 2 || scale > 4) return as_errorf("attsr_model_bundled: scale %d is not 2, 3 or 4", scale);
    const char *env = getenv("ATTSR_MODELS");
    if (env && *env && model_in(env, scale, path, n)) return 0;
    // the build tree: models/ one or two folders above the running program (build/attsr,
    // build/examples/upscale), which Linux names in /proc; without /proc, argv[0]'s folder
    char exe[PATH_MAX], dir[PATH_MAX + 16];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0)
        exe[len] = 0;
    else
        snprintf(exe, sizeof exe, "%s", program_invocation_name);
    char *slash = strrchr(exe, '/');
    if (slash) {
        *slash = 0;
        snprintf(dir, sizeof dir, "%s/../models", exe);
        if (model_in(dir, scale, path, n)) return 0;
        snprintf(dir, sizeof dir, "%s/../../models", exe);
        if (model_in(dir, scale, path, n)) return 0;
    }
    if (model_in(ATTSR_MODEL_DIR, scale, path, n)) return 0;
    return as_errorf(
        "no bundled model for x%d (looked in $ATTSR_MODELS, models/ above the program, " ATTSR_MODEL_DIR ")", scale);
}

int attsr_model_scale(const attsr_model *a) { return a->m.cfg.scale; }

void attsr_model_get_info(const attsr_model *a, attsr_model_info *info) {
    const model_config *c = &a->m.cfg;
    *info = (attsr_model_info){c->scale,     c->feats, c->fe_groups, c->groups, c->blocks, attention_name(c->attention),
                               a->m.n_floats};
}

// The public options as the library's; -1 with a reason when one is out of range.
static int options_of(const attsr_options *opt, attsr_options *o, upscale_options *u, const char *fn) {
    *o = opt ? *opt : (attsr_options){0};
    if (o->tile < 0 || o->overlap < 0 || o->threads < 0 || o->memory_mib < 0)
        return as_errorf("%s: negative option", fn);
    if (o->ensemble != 0 && o->ensemble != 1) return as_errorf("%s: ensemble is 0 or 1", fn);
    if (o->keep_orientation != 0 && o->keep_orientation != 1) return as_errorf("%s: keep_orientation is 0 or 1", fn);
    if (o->device < ATTSR_DEVICE_AUTO || o->device > ATTSR_DEVICE_CUDA)
        return as_errorf("%s: device %d is not one of ATTSR_DEVICE_AUTO, _CPU, _CUDA", fn, o->device);
    *u = (upscale_options){.tile = o->tile,
                           .overlap = o->overlap,
                           .ensemble = o->ensemble,
                           .plan_bytes = (size_t)o->memory_mib << 20,
                           .progress = o->progress,
                           .user = o->progress_user};
    return 0;
}

// options.threads for one call: set (0 keeps OpenMP's), then put back.
static int threads_set(int n) {
    int saved = omp_get_max_threads();
    if (n) omp_set_num_threads(n);
    return saved;
}

static void threads_restore(int n, int saved) {
    if (n) omp_set_num_threads(saved);
}

int attsr_device_supported(const attsr_model *a, int device) {
    if (!a) return as_errorf("attsr_device_supported: NULL model"), 0;
    if (device == ATTSR_DEVICE_AUTO || device == ATTSR_DEVICE_CPU) return 1;
    if (device != ATTSR_DEVICE_CUDA) return as_errorf("attsr_device_supported: unknown device %d", device), 0;
    return model_on_device(&a->m.cfg, NN_CUDA, 0);
}

// options.device for one call (the process's device is put back after it): *saved gets
// the device before; -1 when the request cannot be met. m NULL (bicubic): the CPU.
static int device_set(const model *m, int request, nn_device *saved) {
    *saved = nn_get_device();
    nn_device d = NN_CPU;
    if (m && request == ATTSR_DEVICE_CUDA) {
        if (!model_on_device(&m->cfg, NN_CUDA, 0)) return -1;
        d = NN_CUDA;
    } else if (m && request == ATTSR_DEVICE_AUTO && model_on_device(&m->cfg, NN_CUDA, 0)) {
        d = NN_CUDA;
    }
    return nn_set_device(d);
}

int attsr_upscale(attsr_model *a, const float *in, int w, int h, float *out, float *structure, float *texture,
                  const attsr_options *opt) {
    attsr_options o;
    upscale_options u;
    if (!a || !in || !out) return as_errorf("attsr_upscale: NULL argument");
    if (options_of(opt, &o, &u, "attsr_upscale")) return -1;
    nn_device dev;
    if (device_set(&a->m, o.device, &dev)) return -1;
    int saved = threads_set(o.threads);
    int rc = upscale_image(&a->m, &a->cache, in, w, h, out, structure, texture, &u);
    threads_restore(o.threads, saved);
    nn_set_device(dev);
    return rc;
}

int attsr_evaluate(attsr_model *a, int scale, const char *hr_path, const attsr_options *opt, double *psnr,
                   double *ssim) {
    attsr_options o;
    upscale_options u;
    metrics m;
    if (!hr_path) return as_errorf("attsr_evaluate: NULL path");
    if (options_of(opt, &o, &u, "attsr_evaluate")) return -1;
    nn_device dev;
    if (device_set(a ? &a->m : NULL, o.device, &dev)) return -1;
    int saved = threads_set(o.threads);
    int rc = evaluate_image_flags(a ? &a->m : NULL, a ? &a->cache : NULL, &u, scale, hr_path,
                                  o.keep_orientation ? IMAGE_KEEP_ORIENTATION : 0, &m);
    threads_restore(o.threads, saved);
    nn_set_device(dev);
    if (rc) return -1;
    if (psnr) *psnr = m.psnr;
    if (ssim) *ssim = m.ssim;
    return 0;
}
