// The public C API (include/attsr.h): a model plus a cached inference plan, and tiled
// upscaling so that any image fits in bounded memory.
#include "attsr.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

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

int attsr_model_scale(const attsr_model *a) { return a->m.cfg.scale; }

void attsr_model_get_info(const attsr_model *a, attsr_model_info *info) {
    const model_config *c = &a->m.cfg;
    *info = (attsr_model_info){c->scale, c->feats, c->fe_groups, c->groups, c->blocks,
                               attention_name(c->attention), a->m.n_floats};
}

int attsr_upscale(attsr_model *a, const float *in, int w, int h, float *out, float *structure,
                  float *texture, const attsr_options *opt) {
    attsr_options o = opt ? *opt : (attsr_options){0};
    if (!a || !in || !out) return as_errorf("attsr_upscale: NULL argument");
    if (o.tile < 0 || o.overlap < 0 || o.threads < 0) return as_errorf("attsr_upscale: negative option");
    int saved_threads = omp_get_max_threads();
    if (o.threads) omp_set_num_threads(o.threads);
    int rc = upscale_tiled(&a->m, &a->cache, in, w, h, out, structure, texture, o.tile, o.overlap,
                           o.progress, o.progress_user);
    if (o.threads) omp_set_num_threads(saved_threads);
    return rc;
}

int attsr_evaluate(attsr_model *a, int scale, const char *hr_path, double *psnr, double *ssim) {
    metrics m;
    if (evaluate_image(a ? &a->m : NULL, a ? &a->cache : NULL, scale, hr_path, &m)) return -1;
    if (psnr) *psnr = m.psnr;
    if (ssim) *ssim = m.ssim;
    return 0;
}
