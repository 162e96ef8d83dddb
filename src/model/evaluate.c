// The field's evaluation protocol on one image and on a folder. See evaluate.h.
#include "model/evaluate.h"

#include <string.h>

#include "core/core.h"
#include "image/resize.h"

// Drops an alpha channel in place: metrics are on colour alone.
static void drop_alpha(image *img) {
    if (img->c != 4) return;
    size_t n = (size_t)img->w * img->h;
    for (size_t i = 0; i < n; i++) memmove(img->px + 3 * i, img->px + 4 * i, 3 * sizeof(float));
    img->c = 3;
}

void evaluate_views_free(evaluate_views *v) {
    image_free(&v->hr);
    image_free(&v->bicubic);
    image_free(&v->sr);
    image_free(&v->structure);
    image_free(&v->texture);
}

// One image; with v (emptied first), its images are kept there, and bicubic is scored
// beside the model.
static int evaluate_one(const model *m, plan_cache *cache, const upscale_options *o, int scale, const char *hr_path,
                        unsigned read_flags, metrics *out, evaluate_views *v) {
    image hr = {0}, hr_crop = {0}, lr = {0}, sr = {0}, bic = {0}, st = {0}, tx = {0};
    plan_cache local = {0};
    if (v) *v = (evaluate_views){0};
    if (m && scale != m->cfg.scale) return as_errorf("evaluate: the model is x%d, not x%d", m->cfg.scale, scale);
    int rc = image_read_flags(hr_path, &hr, read_flags);
    if (rc) goto done;  // image_read's reason names the file; the others get its name here
    drop_alpha(&hr);
    rc = degrade(&lr, &hr_crop, &hr, scale);
    if (!rc) hr_crop.gray = hr.gray;  // docs/spec.md §2: gray HR files are compared on full-range luma
    if (!rc && m) {
        int w = lr.w * scale, h = lr.h * scale;
        rc = image_alloc(&sr, w, h, 3) || (v && (image_alloc(&st, w, h, 3) || image_alloc(&tx, w, h, 3))) ||
             upscale_image(m, cache ? cache : &local, lr.px, lr.w, lr.h, sr.px, st.px, tx.px, o);
    } else if (!rc) {
        rc = resize_bicubic_u8(&sr, &lr, scale);  // MATLAB's uint8 path, as published
    }
    if (!rc) rc = metrics_compute(out, &sr, &hr_crop, scale);
    if (!rc && v) {
        if (m) {
            rc = resize_bicubic_u8(&bic, &lr, scale) || metrics_compute(&v->bicubic_m, &bic, &hr_crop, scale);
        } else {  // bicubic is the method scored
            v->bicubic_m = *out;
            bic = sr;
            sr = (image){0};
        }
    }
    if (rc) as_errorf("%s: %s", hr_path, as_error());
    if (!rc && v) {  // hand the images over
        *v = (evaluate_views){hr_crop, bic, sr, st, tx, v->bicubic_m};
        hr_crop = bic = sr = st = tx = (image){0};
    }
done:
    plan_cache_free(&local);
    image_free(&hr);
    image_free(&hr_crop);
    image_free(&lr);
    image_free(&sr);
    image_free(&bic);
    image_free(&st);
    image_free(&tx);
    return rc ? -1 : 0;
}

int evaluate_image(const model *m, plan_cache *cache, const upscale_options *o, int scale, const char *hr_path,
                   metrics *out) {
    return evaluate_one(m, cache, o, scale, hr_path, 0, out, NULL);
}

int evaluate_image_flags(const model *m, plan_cache *cache, const upscale_options *o, int scale, const char *hr_path,
                         unsigned read_flags, metrics *out) {
    return evaluate_one(m, cache, o, scale, hr_path, read_flags, out, NULL);
}

int evaluate_folder(const char *dir, const evaluate_folder_options *o, evaluate_means *out) {
    char hr[4096];
    double sum_p = 0, sum_s = 0;
    int n, rc = 0;
    *out = (evaluate_means){0};
    char **list = image_list_folder_skips(image_hr_folder(dir, hr, sizeof hr), &n, o->skipped, o->skipped_ctx);
    if (!list) return -1;
    if (!n) rc = as_errorf("%s: no images in the folder", hr);
    for (int i = 0; i < n && !rc; i++) {
        evaluate_views views;
        evaluate_item it = {.path = list[i], .index = i, .n = n};
        it.rc =
            evaluate_one(o->m, o->cache, o->upscale, o->scale, list[i], o->read_flags, &it.m, o->views ? &views : NULL);
        if (!it.rc) {
            it.views = o->views ? &views : NULL;
            sum_p += it.m.psnr;
            sum_s += it.m.ssim;
            out->done++;
        } else if (!o->keep_going) {
            rc = -1;  // the image's reason stays the folder's
        }
        if (o->each && o->each(&it, o->user)) rc = -1;
        if (it.views) evaluate_views_free(&views);
    }
    out->n = n;
    if (out->done) {
        out->psnr = sum_p / out->done;
        out->ssim = sum_s / out->done;
    }
    image_free_list(list);
    return rc;
}

int evaluate_check_folder(const char *dir, int scale) {
    evaluate_means mean;
    return evaluate_folder(dir, &(evaluate_folder_options){.scale = scale}, &mean);
}
