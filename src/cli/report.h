// report: `attsr eval --html DIR`'s page, DIR/index.html. One self-contained HTML file
// (images as data: URIs, CSS and JS inline, nothing fetched): a sortable table of the
// sets and one of the images (PSNR/SSIM of bicubic and of the model), and for each image
// a before/after slider between bicubic and the model, zoomed crops of HR, bicubic and
// the model where the model differs most from bicubic, and the two branches.
#pragma once
#include "model/evaluate.h"

// Embedded image sizes: the slider and branch views show at most REPORT_VIEW x
// REPORT_VIEW HR pixels (a window, at 1:1, around the crop: downscaling would blur away
// the differences the page is for), as JPEG (quality REPORT_JPEG_QUALITY, 4:4:4); the
// crops are REPORT_CROP x REPORT_CROP pixels as PNG, exact, enlarged by the browser.
enum { REPORT_VIEW = 640, REPORT_CROP = 64, REPORT_JPEG_QUALITY = 90 };

typedef struct report report;

// An empty report for a model at `scale` (model_path names it on the page).
report *report_new(const char *model_path, int scale, int ensemble);
// Adds one scored image: its set, its name, the model's scores and the protocol's
// images (v->sr and the branches must be there). The images are encoded now, not kept.
int report_add(report *r, const char *set, const char *name, const metrics *m, const evaluate_views *v);
int report_images(const report *r);
// Writes path atomically (a temp file renamed into place; nothing is left on failure).
int report_write(const report *r, const char *path);
void report_free(report *r);
