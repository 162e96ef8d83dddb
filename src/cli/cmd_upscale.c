// attsr upscale: one image or a folder of images, with a model or the bicubic baseline.
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"

static const char *HELP =
    "usage: attsr upscale [-m MODEL | --bicubic] [--scale S] -i IN -o OUT\n"
    "                     [--structure OUT_S] [--texture OUT_T] [--tile N] [--overlap N]\n"
    "                     [--ensemble] [--threads N] [--max-pixels N]\n"
    "IN and OUT are files (.png, .jpg, .npy) or, when IN is a folder, folders: every\n"
    "image in IN is upscaled into OUT under the same name; a bad file is reported and\n"
    "skipped, and the exit status is then 1. Without -m, the bundled model for the\n"
    "scale (default 2) is used. --structure/--texture write the two branches (the\n"
    "texture, which is signed, as T + 0.5 in 8-bit files). --tile N processes N x N\n"
    "LR tiles with --overlap pixels of context (default: automatic, bounded memory).\n"
    "--ensemble averages the outputs for the 8 flips and transposes of the input (x8\n"
    "self-ensemble, as EDSR's \"+\" results): usually a little higher PSNR, 8x the time.\n";

typedef struct {
    attsr_model *model;  // NULL: bicubic
    int scale;
    attsr_options opt;
    const char *structure, *texture;
} job;

static void tile_progress(int done, int total, void *user) {
    if (total > 1) cli_progress((const char *)user, done, total);
}

// Texture is signed: 8-bit files store T + 0.5 (SPEC section 1); .npy stays raw.
static int write_texture(const char *path, image *t) {
    if (strcmp(as_ext(path), "npy")) {
        size_t n = (size_t)t->w * t->h * t->c;
        for (size_t i = 0; i < n; i++) t->px[i] += 0.5f;
    }
    return image_write(path, t);
}

static int upscale_one(const job *j, const char *in, const char *out, const char *out_s,
                       const char *out_t) {
    if (cli_check_output(out, in) || (out_s && cli_check_output(out_s, in)) ||
        (out_t && cli_check_output(out_t, in)))
        return -1;
    image lr = {0}, sr = {0}, st = {0}, tx = {0};
    attsr_options opt = j->opt;
    opt.progress_user = (void *)in;
    int rc = image_read(in, &lr) ||
             cli_upscale_image(j->model, j->scale, &lr, &sr, out_s ? &st : NULL, out_t ? &tx : NULL, &opt) ||
             image_write(out, &sr) || (out_s && image_write(out_s, &st)) || (out_t && write_texture(out_t, &tx));
    if (rc) cli_error("%s", as_error());
    image_free(&lr);
    image_free(&sr);
    image_free(&st);
    image_free(&tx);
    return rc ? -1 : 0;
}

static char *join(const char *dir, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(dir) + strlen(base) + 2;
    char *r = malloc(n);
    if (r) snprintf(r, n, "%s/%s", dir, base);
    return r;
}

static int upscale_folder(const job *j, const char *in, const char *out) {
    int n, failed = 0;
    char **list = image_list_folder(in, &n);
    if (!list) return cli_error("%s", as_error());
    if (as_mkdir_p(out) || (j->structure && as_mkdir_p(j->structure)) || (j->texture && as_mkdir_p(j->texture))) {
        image_free_list(list);
        return cli_error("%s", as_error());
    }
    for (int i = 0; i < n; i++) {
        char *o = join(out, list[i]), *os = j->structure ? join(j->structure, list[i]) : NULL,
             *ot = j->texture ? join(j->texture, list[i]) : NULL;
        failed += upscale_one(j, list[i], o, os, ot) != 0;
        free(o);
        free(os);
        free(ot);
        cli_progress("upscale", i + 1, n);
    }
    image_free_list(list);
    if (failed) fprintf(stderr, "attsr upscale: %d of %d images failed\n", failed, n);
    return failed ? 1 : 0;
}

enum { OPT_BICUBIC = OPT_FIRST_FREE, OPT_STRUCTURE, OPT_TEXTURE, OPT_TILE, OPT_OVERLAP, OPT_ENSEMBLE };

typedef struct {
    job j;
    const char *model_path, *in, *out;
    long scale;
    int bicubic;
} upscale_args;

static int upscale_option(int opt, const char *arg, void *p) {
    upscale_args *a = p;
    long v;
    switch (opt) {
    case 'm': a->model_path = arg; return 0;
    case OPT_BICUBIC: a->bicubic = 1; return 0;
    case 's': return cli_int(arg, 2, 4, "--scale", &a->scale);
    case 'i': a->in = arg; return 0;
    case 'o': a->out = arg; return 0;
    case OPT_STRUCTURE: a->j.structure = arg; return 0;
    case OPT_TEXTURE: a->j.texture = arg; return 0;
    case OPT_TILE:
        if (cli_int(arg, 8, 1 << 16, "--tile", &v)) return -1;
        a->j.opt.tile = (int)v;
        return 0;
    case OPT_OVERLAP:
        if (cli_int(arg, 1, 1 << 12, "--overlap", &v)) return -1;
        a->j.opt.overlap = (int)v;
        return 0;
    case OPT_ENSEMBLE: a->j.opt.ensemble = 1; return 0;
    }
    return cli_error("unhandled option %d", opt);
}

int cmd_upscale(int argc, char **argv) {
    static const struct option opts[] = {
        CLI_COMMON_OPTIONS,
        {"model", required_argument, 0, 'm'},         {"bicubic", no_argument, 0, OPT_BICUBIC},
        {"scale", required_argument, 0, 's'},         {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},        {"structure", required_argument, 0, OPT_STRUCTURE},
        {"texture", required_argument, 0, OPT_TEXTURE}, {"tile", required_argument, 0, OPT_TILE},
        {"overlap", required_argument, 0, OPT_OVERLAP}, {"ensemble", no_argument, 0, OPT_ENSEMBLE},
        {0, 0, 0, 0}};
    upscale_args a = {0};
    int r = cli_parse(argc, argv, ":m:s:i:o:", opts, HELP, upscale_option, &a, NULL);
    if (r) return cli_parse_status(r);
    job j = a.j;
    const char *model_path = a.model_path, *in = a.in, *out = a.out;
    long scale = a.scale;
    int bicubic = a.bicubic;
    if (!in || !out) return cli_error("-i IN and -o OUT are required (see --help)");
    if (bicubic && (model_path || j.structure || j.texture || j.opt.ensemble))
        return cli_error("--bicubic takes no model, --structure, --texture or --ensemble");
    char bundled[4096];
    if (!bicubic && !model_path) {
        if (attsr_model_bundled(scale ? (int)scale : 2, bundled, sizeof bundled))
            return cli_error("%s; pass -m MODEL or --bicubic", as_error());
        model_path = bundled;
    }
    if (model_path) {
        if (attsr_model_load(&j.model, model_path)) return cli_error("%s", as_error());
        int model_scale = attsr_model_scale(j.model);
        if (scale && scale != model_scale) {
            attsr_model_free(j.model);
            return cli_error("%s is a x%d model, but --scale %ld was asked for", model_path, model_scale, scale);
        }
        scale = attsr_model_scale(j.model);
    }
    j.scale = scale ? (int)scale : 2;
    j.opt.progress = tile_progress;
    int rc = cli_is_dir(in) ? upscale_folder(&j, in, out)
                            : (upscale_one(&j, in, out, j.structure, j.texture) ? 1 : 0);
    attsr_model_free(j.model);
    return rc;
}
