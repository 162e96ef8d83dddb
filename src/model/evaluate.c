// The field's evaluation protocol on one image. See evaluate.h.
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

int evaluate_image(const model *m, plan_cache *cache, const upscale_options *o, int scale,
                   const char *hr_path, metrics *out) {
    return evaluate_image_flags(m, cache, o, scale, hr_path, 0, out);
}

int evaluate_image_flags(const model *m, plan_cache *cache, const upscale_options *o, int scale,
                         const char *hr_path, unsigned read_flags, metrics *out) {
    image hr = {0}, hr_crop = {0}, lr = {0}, sr = {0};
    plan_cache local = {0};
    if (m && scale != m->cfg.scale) return as_errorf("evaluate: the model is x%d, not x%d", m->cfg.scale, scale);
    int rc = image_read_flags(hr_path, &hr, read_flags);
    if (rc) goto done;  // image_read's reason names the file; the others get its name here
    drop_alpha(&hr);
    rc = degrade(&lr, &hr_crop, &hr, scale);
    if (!rc && m) {
        rc = image_alloc(&sr, lr.w * scale, lr.h * scale, 3) ||
             upscale_image(m, cache ? cache : &local, lr.px, lr.w, lr.h, sr.px, NULL, NULL, o);
    } else if (!rc) {
        rc = resize_bicubic_u8(&sr, &lr, scale);  // MATLAB's uint8 path, as published
    }
    if (!rc) {
        hr_crop.gray = hr.gray;  // SPEC 2: gray HR files are compared on full-range luma
        rc = metrics_compute(out, &sr, &hr_crop, scale);
    }
    if (rc) as_errorf("%s: %s", hr_path, as_error());
done:
    plan_cache_free(&local);
    image_free(&hr);
    image_free(&hr_crop);
    image_free(&lr);
    image_free(&sr);
    return rc ? -1 : 0;
}

int evaluate_check_folder(const char *dir, int scale) {
    char hr[4096];
    int n, rc = 0;
    char **list = image_list_folder(image_hr_folder(dir, hr, sizeof hr), &n);
    if (!list) return -1;
    if (!n) rc = as_errorf("%s: no images in the folder", hr);
    for (int i = 0; i < n && !rc; i++) {
        metrics m;
        rc = evaluate_image(NULL, NULL, NULL, scale, list[i], &m);
    }
    image_free_list(list);
    return rc;
}
