// attsr eval: PSNR/SSIM on folders of HR images, with the field's protocol (SPEC 2, 8).
#include <jansson.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "image/metrics.h"

static const char *HELP =
    "usage: attsr eval [-m MODEL | --bicubic] [--scale S] [--ensemble] [--json] DIR...\n"
    "Each DIR is a folder of HR images, or a folder holding an HR/ folder. For every\n"
    "image: crop to a multiple of S, LR by bicubic 1/S rounded to 8 bits, SR by the model\n"
    "(or bicubic xS), then PSNR and SSIM on Y with S pixels shaved off each border\n"
    "(full-range luma for gray HR files). Prints per image and per folder; --json prints\n"
    "one JSON object instead; both name the model file. Without -m, the bundled model for\n"
    "the scale (default 2) is scored, as by upscale. --ensemble scores the model's x8\n"
    "self-ensemble (the mean over the 8 flips and transposes of each LR image; 8x the time).\n"
    "An image that cannot be scored (unreadable, smaller than S) is reported and skipped:\n"
    "the means are over the others, and the exit status is then 1.\n" CLI_KEEP_ORIENTATION_HELP
    "Scores are fp32's unless --precision asks otherwise.\n" CLI_PRECISION_HELP;

// The folder to read and the dataset's name: DIR/HR when it exists; the name of DIR,
// or of its parent when DIR itself is called HR.
static void dataset_of(const char *dir, char *hr, size_t n, char *name, size_t nn) {
    char tmp[4096];
    image_hr_folder(dir, hr, n);
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

enum { OPT_BICUBIC = OPT_FIRST_FREE, OPT_JSON, OPT_ENSEMBLE };

typedef struct {
    const char *model_path;
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
    case OPT_KEEP_ORIENTATION: a->keep_orientation = 1; return 0;
    }
    return cli_error("unhandled option %d", opt);
}

int cmd_eval(int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS, CLI_PRECISION_OPTION,
                                         {"model", required_argument, 0, 'm'},
                                         {"bicubic", no_argument, 0, OPT_BICUBIC},
                                         {"scale", required_argument, 0, 's'},
                                         {"json", no_argument, 0, OPT_JSON},
                                         {"ensemble", no_argument, 0, OPT_ENSEMBLE},
                                         CLI_KEEP_ORIENTATION_OPTION, {0, 0, 0, 0}};
    eval_args a = {0};
    int first, r = cli_parse(argc, argv, ":m:s:", opts, HELP, eval_option, &a, &first);
    if (r) return cli_parse_status(r);
    const char *model_path = a.model_path;
    long scale = a.scale;
    int bicubic = a.bicubic, json = a.json;
    if (model_path && bicubic) return cli_error("give -m MODEL or --bicubic, not both (see --help)");
    if (first >= argc) return cli_error("no DIR given (see --help)");
    if (bicubic && a.ensemble) return cli_error("--ensemble needs a model, not --bicubic");
    char bundled[4096];
    if (!bicubic && !model_path) {
        if (attsr_model_bundled(scale ? (int)scale : 2, bundled, sizeof bundled))
            return cli_error("%s; pass -m MODEL or --bicubic", as_error());
        model_path = bundled;
    }
    attsr_options opt = {.ensemble = a.ensemble, .keep_orientation = a.keep_orientation};
    attsr_model *model = NULL;
    if (model_path) {
        if (attsr_model_load(&model, model_path)) return cli_error("%s", as_error());
        if (scale && scale != attsr_model_scale(model)) {
            int ms = attsr_model_scale(model);
            attsr_model_free(model);
            return cli_error("%s is a x%d model, but --scale %ld was asked for", model_path, ms, scale);
        }
        scale = attsr_model_scale(model);
    }
    if (!scale) {
        return cli_error("--scale S is required with --bicubic");
    }
    json_t *root = json_pack("{s:i, s:s, s:b, s:[]}", "scale", (int)scale, "model",
                             model_path ? model_path : "bicubic", "ensemble", a.ensemble, "datasets");
    json_t *datasets = json_object_get(root, "datasets");
    // SPEC 8: a bad image (or folder) is reported and skipped, the rest scored; the exit
    // status is then 1, and the means are over the images scored.
    int failed = 0, total = 0, empty = 0;
    for (int d = first; d < argc; d++) {
        char hrdir[4096], name[1024];
        dataset_of(argv[d], hrdir, sizeof hrdir, name, sizeof name);
        int n, done = 0;
        char **list = image_list_folder_skips(hrdir, &n, cli_report_skipped, NULL);
        if (!list || n == 0) {
            if (list) as_errorf("%s: no images in the folder", hrdir);
            cli_error("%s", as_error());
            image_free_list(list);
            empty++;
            continue;
        }
        json_t *images = json_array();
        double sum_p = 0, sum_s = 0;
        for (int i = 0; i < n; i++) {
            metrics m;
            total++;
            if (attsr_evaluate(model, (int)scale, list[i], &opt, &m.psnr, &m.ssim)) {
                cli_error("%s (skipped)", as_error());
                failed++;
                cli_progress(name, i + 1, n);
                continue;
            }
            char im[512];
            stem(list[i], im, sizeof im);
            json_array_append_new(images, json_pack("{s:s, s:o, s:o}", "name", im, "psnr", number(m.psnr), "ssim", number(m.ssim)));
            sum_p += m.psnr;
            sum_s += m.ssim;
            done++;
            if (!json) printf("%-10s %-24s PSNR %7.3f dB  SSIM %.4f\n", name, im, m.psnr, m.ssim);
            cli_progress(name, i + 1, n);
        }
        image_free_list(list);
        if (!done) {
            json_decref(images);
            continue;
        }
        json_array_append_new(datasets, json_pack("{s:s, s:o, s:o, s:o}", "name", name, "psnr", number(sum_p / done),
                                                  "ssim", number(sum_s / done), "images", images));
        if (!json) printf("%-10s %-24s PSNR %7.3f dB  SSIM %.4f  (x%ld, %d images, %s%s%s)\n", name, "mean",
                          sum_p / done, sum_s / done, scale, done, model_path ? model_path : "bicubic",
                          a.ensemble ? ", x8 self-ensemble" : "", done < n ? ", some skipped" : "");
    }
    int rc = 0;
    if (failed || empty)
        rc = cli_error("%d of %d images could not be evaluated%s (see above)", failed, total,
                       empty ? ", and a folder had none" : "");
    if (json_array_size(datasets) && json) {
        char *s = json_dumps(root, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        puts(s);
        free(s);
    }
    json_decref(root);
    attsr_model_free(model);
    return rc;
}
