// evaluate: one HR image through the field's protocol (docs/spec.md §2) — crop, LR by
// bicubic 1/s rounded to 8 bits, SR by the model (or bicubic when m is NULL), PSNR and
// SSIM on Y with s pixels shaved — and a folder of them. Shared by `attsr eval` and
// training's validation.
#pragma once
#include "image/metrics.h"
#include "model/upscale.h"

// cache may be NULL (a plan is then made and freed per image); o may be NULL (defaults).
int evaluate_image(const model *m, plan_cache *cache, const upscale_options *o, int scale, const char *hr_path,
                   metrics *out);
// The same with image_read_flags' flags for reading the HR file.
int evaluate_image_flags(const model *m, plan_cache *cache, const upscale_options *o, int scale, const char *hr_path,
                         unsigned read_flags, metrics *out);

// The protocol's images of one evaluation, for a report: all of the cropped HR's size,
// RGB (alpha dropped), float. The model's three are empty (px NULL) without a model.
typedef struct {
    image hr;                      // the HR image cropped to a multiple of the scale
    image bicubic;                 // the LR image upscaled by bicubic (MATLAB's uint8 path)
    image sr, structure, texture;  // the model's output and its two branches (SR = S + T)
    metrics bicubic_m;             // bicubic's scores against hr
} evaluate_views;
void evaluate_views_free(evaluate_views *v);

// What evaluate_folder reports after each image.
typedef struct {
    const char *path;       // the HR file
    int index, n;           // its place in the folder's sorted list (from 0), the list's length
    int rc;                 // 0: scored; -1: failed, the reason (naming the file) in as_error()
    metrics m;              // the model's scores (bicubic's without a model) when rc is 0
    evaluate_views *views;  // with .views and rc 0; the callback may take (move) its images
} evaluate_item;

typedef struct {
    const model *m;                  // NULL: bicubic
    plan_cache *cache;               // may be NULL
    const upscale_options *upscale;  // may be NULL
    int scale;
    unsigned read_flags;  // image_read_flags' flags for the HR files
    // 0: the first image that fails ends the folder (-1, its reason); 1: it is passed to
    // `each` with rc -1 and skipped, and the means are over the others (docs/spec.md §8)
    int keep_going;
    // the folder's entries that are no image files (image_list_folder_skips); may be NULL
    void (*skipped)(const char *path, const char *why, void *ctx);
    void *skipped_ctx;
    int views;                                         // 1: each item carries the protocol's images
    int (*each)(const evaluate_item *it, void *user);  // after every image; may be NULL;
    void *user;                                        // non-zero ends the folder with -1
} evaluate_folder_options;

typedef struct {
    int n, done;        // images listed, images scored
    double psnr, ssim;  // the means over the scored ones (in list order: sum / done)
} evaluate_means;

// Every image of dir, or of dir/HR when it exists (image_hr_folder), in sorted order.
// 0, or -1 with the reason: the folder cannot be listed or holds no image (out->n is 0
// then), an image failed without keep_going, or `each` asked to stop. out is filled
// with what was scored either way.
int evaluate_folder(const char *dir, const evaluate_folder_options *o, evaluate_means *out);

// Before a long job (training's validation): every image of dir, or of dir/HR, goes
// through the protocol at `scale` with bicubic (it reads, and is large enough). 0, or
// -1 with the reason naming the folder or the first image that fails.
int evaluate_check_folder(const char *dir, int scale);
