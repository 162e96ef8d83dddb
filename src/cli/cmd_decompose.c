// attsr decompose: SATV structure/texture split of an image (docs/spec.md §5).
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "train/satv.h"

static const char *HELP = "usage: attsr decompose -i IN --structure OUT [--texture OUT] [--lambda L] [--iters N]\n"
                          "Splits IN into structure S (vectorial TV-L2 by the SATV authors' split-Bregman\n"
                          "iteration, lambda 2.5, at most 50 iterations) and texture T = IN - S. The texture,\n"
                          "which is signed, is written as T + 0.5 to 8-bit files (raw in .npy). Alpha is kept\n"
                          "as it is in both outputs.\n" CLI_KEEP_ORIENTATION_HELP;

static int with_alpha(image *out, const float *rgb, const image *in, float offset) {
    if (image_alloc(out, in->w, in->h, in->c)) return -1;
    size_t n = (size_t)in->w * in->h;
    for (size_t i = 0; i < n; i++) {
        for (int k = 0; k < 3; k++) out->px[i * in->c + k] = rgb[3 * i + k] + offset;
        if (in->c == 4) out->px[4 * i + 3] = in->px[4 * i + 3];
    }
    return 0;
}

enum { OPT_STRUCTURE = OPT_FIRST_FREE, OPT_TEXTURE, OPT_LAMBDA, OPT_ITERS };

typedef struct {
    const char *in, *out_s, *out_t;
    satv_params p;
    unsigned read_flags;
} decompose_args;

static int decompose_option(int opt, const char *arg, void *args) {
    decompose_args *a = args;
    double v;
    switch (opt) {
    case 'i': a->in = arg; return 0;
    case OPT_STRUCTURE: a->out_s = arg; return 0;
    case OPT_TEXTURE: a->out_t = arg; return 0;
    case OPT_KEEP_ORIENTATION: a->read_flags |= IMAGE_KEEP_ORIENTATION; return 0;
    case OPT_LAMBDA:
        if (cli_float(arg, 0, 1e6, "--lambda", &v)) return -1;
        a->p.lambda = (float)v;
        return 0;
    case OPT_ITERS: return cli_int32(arg, 1, 100000, "--iters", &a->p.max_iters);
    }
    return cli_error("unhandled option %d", opt);
}

int cmd_decompose(int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"input", required_argument, 0, 'i'},
                                         {"structure", required_argument, 0, OPT_STRUCTURE},
                                         {"texture", required_argument, 0, OPT_TEXTURE},
                                         {"lambda", required_argument, 0, OPT_LAMBDA},
                                         {"iters", required_argument, 0, OPT_ITERS},
                                         CLI_KEEP_ORIENTATION_OPTION,
                                         {0, 0, 0, 0}};
    decompose_args a = {.p = satv_defaults()};
    int r = cli_parse(argc, argv, ":i:", opts, HELP, decompose_option, &a, NULL);
    if (r) return cli_parse_status(r);
    const char *in = a.in, *out_s = a.out_s, *out_t = a.out_t;
    satv_params p = a.p;
    if (!in || !out_s) return cli_error("-i IN and --structure OUT are required (see --help)");
    const cli_path ins[] = {{"-i", in, CLI_IMAGE}},
                   outs[] = {{"--structure", out_s, CLI_IMAGE}, {"--texture", out_t, CLI_IMAGE}};
    if (cli_check_paths(ins, CLI_N(ins), outs, CLI_N(outs))) return 1;
    image img = {0}, rgb = {0}, s_img = {0}, t_img = {0};
    float *s = NULL, *t = NULL;
    int its = 0, rc = image_read_flags(in, &img, a.read_flags) ||
                      image_take_channels(&rgb, &img, 0, 3);  // alpha stays out of the TV norm
    if (!rc) {
        size_t n = (size_t)img.w * img.h * 3;
        s = as_malloc_array(n, sizeof(float));
        t = as_malloc_array(n, sizeof(float));
        rc = !s || !t || satv_decompose(s, t, &its, rgb.px, img.h, img.w, 3, &p);
    }
    float t_offset = out_t && strcmp(as_ext(out_t), "npy") ? 0.5f : 0.0f;  // docs/spec.md §1: T + 0.5 in 8-bit files
    rc = rc || with_alpha(&s_img, s, &img, 0.0f) || image_write(out_s, &s_img) ||
         (out_t && (with_alpha(&t_img, t, &img, t_offset) || image_write(out_t, &t_img)));
    if (rc)
        cli_error("%s", as_error());
    else
        printf("%s: %d iterations\n", in, its);
    image_free(&img);
    image_free(&rgb);
    image_free(&s_img);
    image_free(&t_img);
    free(s);
    free(t);
    return rc ? 1 : 0;
}
