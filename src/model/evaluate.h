// evaluate: one HR image through the field's protocol (SPEC section 2) — crop, LR by
// bicubic 1/s rounded to 8 bits, SR by the model (or bicubic when m is NULL), PSNR and
// SSIM on Y with s pixels shaved. Shared by `attsr eval` and training's validation.
#pragma once
#include "image/metrics.h"
#include "model/upscale.h"

// cache may be NULL (a plan is then made and freed per image); o may be NULL (defaults).
int evaluate_image(const model *m, plan_cache *cache, const upscale_options *o, int scale,
                   const char *hr_path, metrics *out);
// The same with image_read_flags' flags for reading the HR file.
int evaluate_image_flags(const model *m, plan_cache *cache, const upscale_options *o, int scale,
                         const char *hr_path, unsigned read_flags, metrics *out);
// Before a long job (training's validation): every image of dir, or of dir/HR, goes
// through the protocol at `scale` with bicubic (it reads, and is large enough). 0, or
// -1 with the reason naming the folder or the first image that fails.
int evaluate_check_folder(const char *dir, int scale);
