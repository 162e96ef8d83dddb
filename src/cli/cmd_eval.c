// attsr eval: PSNR/SSIM on folders of HR images, with the field's protocol (docs/spec.md §2, §8).
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "image/metrics.h"
#include "cli/report.h"
#include "model/evaluate.h"

static const char *HELP =
    "usage: attsr eval [-m MODEL | --bicubic] [--scale S] [--ensemble] [--json] [--html OUT]\n"
    "                  DIR...\n"
    "Each DIR is a folder of HR images, or a folder holding an HR/ folder. For every\n"
    "image: crop to a multiple of S, LR by bicubic 1/S rounded to 8 bits, SR by the model\n"
    "(or bicubic xS), then PSNR and SSIM on Y with S pixels shaved off each border\n"
    "(full-range luma for gray HR files). Prints per image and per folder; --json prints\n"
    "one JSON object instead; both name the model file. Without -m, the bundled model for\n"
    "the scale (default 2) is scored, as by upscale. --ensemble scores the model's x8\n"
    "self-ensemble (the mean over the 8 flips and transposes of each LR image; 8x the time).\n"
    "An image that cannot be scored (unreadable, smaller than S) is reported and skipped:\n"
    "the means are over the others, and the exit status is then 1.\n"
    "--html OUT also writes OUT/index.html (OUT is created if missing; it may not be a\n"
    "folder DIR or a file), one self-contained page to open in a browser: sortable\n"
    "tables of the sets and images (PSNR/SSIM of bicubic and the model) and, per image,\n"
    "a slider between bicubic and the model's output, HR/bicubic/model crops at pixel\n"
    "zoom where the model differs most from bicubic, and the structure and texture\n"
    "branches. Views are 640x640 windows at most, as JPEG; crops are PNG. Needs a model.\n" CLI_KEEP_ORIENTATION_HELP
    "Scores are fp32's unless --precision asks otherwise.\n" CLI_PRECISION_HELP CLI_DEVICE_HELP;

// The dataset's name: the name of DIR, or of its parent when DIR itself is called HR.
static void dataset_name(const char *dir, char *name, size_t nn) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    size_t len = strlen(tmp);
    while (len > 1 && tmp[len - 1] == '/') tmp[--len] = 0;
    char *base = basename(tmp);
    if (!strcmp(base, "HR")) {
        char *parent = dirname(tmp);
        snprintf(name, nn, "%s", basename(parent));
    } else {
        snprintf(name, nn, "%s", base);
    }
}

// JSON has no infinity (identical images give PSNR = inf, as BasicSR): null instead.
static json_t *number(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static void stem(const char *path, char *out, size_t n) {
    const char *b = strrchr(path, '/');
    snprintf(out, n, "%s", b ? b + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot) *dot = 0;
}

// One folder's report as its images come (evaluate_folder's callback).
typedef struct {
    const char *name;
    int print;       // the text report (not --json)
    json_t *images;  // the JSON report's entries
    report **html;   // --html's page (*html NULL: none, or it failed)
    int *html_failed;
} folder;

static int image_done(const evaluate_item *it, void *user) {
    folder *f = user;
    if (it->rc) {
        cli_error("%s (skipped)", as_error());
    } else {
        char im[512];
        stem(it->path, im, sizeof im);
        json_array_append_new(f->images, json_pack("{s:s, s:o, s:o}", "name", im, "psnr", number(it->m.psnr), "ssim",
                                                   number(it->m.ssim)));
        if (f->print) printf("%-10s %-24s PSNR %7.3f dB  SSIM %.4f\n", f->name, im, it->m.psnr, it->m.ssim);
        if (*f->html && report_add(*f->html, f->name, im, &it->m, it->views)) {  // no page, the scores go on
            cli_error("--html: %s (no page is written)", as_error());
            report_free(*f->html);
            *f->html = NULL;
            *f->html_failed = 1;
        }
    }
    cli_progress(f->name, it->index + 1, it->n);
    return 0;
}

// --html OUT, checked before any work: OUT is a folder that can be made, OUT/index.html
// can be written, and neither is an input (the model, a DIR or the folder read in it).
// A DIR that does not exist is no input to protect (it is reported when its turn comes).
static int check_html_paths(const char *out, const char *page, const char *model_path, char **dirs, int n) {
    cli_path *in = calloc((size_t)2 * n + 1, sizeof *in);
    char(*hr)[4096] = calloc((size_t)n, sizeof *hr);
    if (!in || !hr) {
        free(in);
        free(hr);
        return cli_error("out of memory");
    }
    int k = 0;
    in[k++] = (cli_path){"-m", model_path, CLI_FILE};
    for (int i = 0; i < n; i++) {
        if (!cli_is_dir(dirs[i])) continue;
        in[k++] = (cli_path){"DIR", dirs[i], CLI_FOLDER};
        image_hr_folder(dirs[i], hr[i], sizeof hr[i]);
        if (strcmp(hr[i], dirs[i])) in[k++] = (cli_path){"DIR", hr[i], CLI_FOLDER};
    }
    const cli_path outs[] = {{"--html", out, CLI_FOLDER}, {"--html", page, CLI_IN_NEW_FOLDER}};
    int rc = cli_check_paths(in, k, outs, CLI_N(outs));
    free(in);
    free(hr);
    return rc ? 1 : 0;
}

enum { OPT_BICUBIC = OPT_FIRST_FREE, OPT_JSON, OPT_ENSEMBLE, OPT_HTML };

typedef struct {
    const char *model_path, *html;
    long scale;
    int bicubic, json, ensemble, keep_orientation;
} eval_args;

static int eval_option(int opt, const char *arg, void *p) {
    eval_args *a = p;
    switch (opt) {
    case 'm': a->model_path = arg; return 0;
    case OPT_BICUBIC: a->bicubic = 1; return 0;
    case 's': return cli_int(arg, 2, 4, "--scale", &a->scale);
    case OPT_JSON: a->json = 1; return 0;
    case OPT_ENSEMBLE: a->ensemble = 1; return 0;
    case OPT_HTML: a->html = arg; return 0;
    case OPT_KEEP_ORIENTATION: a->keep_orientation = 1; return 0;
    }
    return cli_error("unhandled option %d", opt);
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {CLI_NETWORK_OPTIONS,
                                         {"model", required_argument, 0, 'm'},
                                         {"bicubic", no_argument, 0, OPT_BICUBIC},
                                         {"scale", required_argument, 0, 's'},
                                         {"json", no_argument, 0, OPT_JSON},
                                         {"ensemble", no_argument, 0, OPT_ENSEMBLE},
                                         {"html", required_argument, 0, OPT_HTML},
                                         CLI_KEEP_ORIENTATION_OPTION,
                                         {0, 0, 0, 0}};
    eval_args a = {0};
    int first, r = cli_parse(argc, argv, ":m:s:", opts, HELP, eval_option, &a, &first);
    if (r) return cli_parse_status(r);
    const char *model_path = a.model_path;
    long scale = a.scale;
    int bicubic = a.bicubic, json = a.json;
    if (model_path && bicubic) return cli_error("give -m MODEL or --bicubic, not both (see --help)");
    if (first >= argc) return cli_error("no DIR given (see --help)");
    if (bicubic && a.ensemble) return cli_error("--ensemble needs a model, not --bicubic");
    if (bicubic && a.html) return cli_error("--html compares a model with bicubic: give a model, not --bicubic");
    char bundled[4096];
    if (!bicubic && !model_path) {
        if (attsr_model_bundled(scale ? (int)scale : 2, bundled, sizeof bundled))
            return cli_error("%s; pass -m MODEL or --bicubic", as_error());
        model_path = bundled;
    }
    char page[4096 + 16];
    if (a.html) {
        snprintf(page, sizeof page, "%s/index.html", a.html);
        if (check_html_paths(a.html, page, model_path, argv + first, argc - first)) return 1;
    }
    upscale_options up = {.ensemble = a.ensemble};
    model m = {0};
    plan_cache cache = {0};  // one plan while the window size stays the same, across folders
    if (model_path) {
        if (model_load(&m, model_path)) return cli_error("%s", as_error());
        if (scale && scale != m.cfg.scale) {
            int ms = m.cfg.scale;
            model_free(&m);
            return cli_error("%s is a x%d model, but --scale %ld was asked for", model_path, ms, scale);
        }
        scale = m.cfg.scale;
        if (cli_select_device(&m.cfg, 0)) {
            model_free(&m);
            return 1;
        }
    }
    if (!scale) {
        return cli_error("--scale S is required with --bicubic");
    }
    json_t *root = json_pack("{s:i, s:s, s:b, s:[]}", "scale", (int)scale, "model", model_path ? model_path : "bicubic",
                             "ensemble", a.ensemble, "datasets");
    json_t *datasets = json_object_get(root, "datasets");
    report *html = NULL;
    if (a.html && !(html = report_new(model_path, (int)scale, a.ensemble))) {
        json_decref(root);
        model_free(&m);
        return cli_error("%s", as_error());
    }
    // docs/spec.md §8: a bad image (or folder) is reported and skipped, the rest scored; the exit
    // status is then 1, and the means are over the images scored.
    int failed = 0, total = 0, empty = 0, html_failed = 0;
    for (int d = first; d < argc; d++) {
        char name[1024];
        dataset_name(argv[d], name, sizeof name);
        folder f = {.name = name, .print = !json, .images = json_array(), .html = &html, .html_failed = &html_failed};
        evaluate_folder_options o = {.m = model_path ? &m : NULL,
                                     .cache = &cache,
                                     .upscale = &up,
                                     .scale = (int)scale,
                                     .read_flags = a.keep_orientation ? IMAGE_KEEP_ORIENTATION : 0,
                                     .keep_going = 1,
                                     .skipped = cli_report_skipped,
                                     .views = html != NULL,
                                     .each = image_done,
                                     .user = &f};
        evaluate_means mean;
        int frc = evaluate_folder(argv[d], &o, &mean);
        total += mean.n;
        failed += mean.n - mean.done;
        if (frc && !mean.n) {  // the folder could not be listed, or held no image
            cli_error("%s", as_error());
            empty++;
        }
        if (!mean.done) {
            json_decref(f.images);
            continue;
        }
        json_array_append_new(datasets, json_pack("{s:s, s:o, s:o, s:o}", "name", name, "psnr", number(mean.psnr),
                                                  "ssim", number(mean.ssim), "images", f.images));
        if (!json)
            printf("%-10s %-24s PSNR %7.3f dB  SSIM %.4f  (x%ld, %d images, %s%s%s)\n", name, "mean", mean.psnr,
                   mean.ssim, scale, mean.done, model_path ? model_path : "bicubic",
                   a.ensemble ? ", x8 self-ensemble" : "", mean.done < mean.n ? ", some skipped" : "");
    }
    int rc = html_failed;
    if (failed || empty)
        rc = cli_error("%d of %d images could not be evaluated%s (see above)", failed, total,
                       empty ? ", and a folder had none" : "");
    if (html && report_images(html) && (as_mkdir_p(a.html) || report_write(html, page)))
        rc = cli_error("--html %s", as_error());
    report_free(html);
    if (json_array_size(datasets) && json) {
        char *s = json_dumps(root, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        puts(s);
        free(s);
    }
    json_decref(root);
    plan_cache_free(&cache);
    model_free(&m);
    return rc;
}
