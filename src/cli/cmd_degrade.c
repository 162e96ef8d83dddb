// attsr degrade: docs/spec.md §2's LR image of an HR image.
#include <stdlib.h>

#include "cli/cli.h"
#include "core/core.h"
#include "image/resize.h"

static const char *HELP =
    "usage: attsr degrade --scale S -i HR -o LR\n"
    "Crops HR to a multiple of S (top-left kept), resizes by 1/S with MATLAB-compatible\n"
    "bicubic (antialiased) and rounds to 8 bits: the field's LR protocol.\n" CLI_KEEP_ORIENTATION_HELP;

typedef struct {
    const char *in, *out;
    long scale;
    unsigned read_flags;
} degrade_args;

static int degrade_option(int opt, const char *arg, void *p) {
    degrade_args *a = p;
    switch (opt) {
    case 's': return cli_int(arg, 2, 4, "--scale", &a->scale);
    case 'i': a->in = arg; return 0;
    case 'o': a->out = arg; return 0;
    case OPT_KEEP_ORIENTATION: a->read_flags |= IMAGE_KEEP_ORIENTATION; return 0;
    }
    return cli_error("unhandled option %d", opt);
}

int cmd_degrade(int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"scale", required_argument, 0, 's'},
                                         {"input", required_argument, 0, 'i'},
                                         {"output", required_argument, 0, 'o'},
                                         CLI_KEEP_ORIENTATION_OPTION,
                                         {0, 0, 0, 0}};
    degrade_args a = {0};
    int r = cli_parse(argc, argv, ":s:i:o:", opts, HELP, degrade_option, &a, NULL);
    if (r) return cli_parse_status(r);
    if (!a.in || !a.out || !a.scale) return cli_error("--scale, -i and -o are required (see --help)");
    const cli_path in[] = {{"-i", a.in, CLI_IMAGE}}, out[] = {{"-o", a.out, CLI_IMAGE}};
    if (cli_check_paths(in, 1, out, 1)) return 1;
    image hr = {0}, lr = {0};
    int rc = image_read_flags(a.in, &hr, a.read_flags);
    if (!rc && degrade(&lr, NULL, &hr, (int)a.scale)) rc = as_errorf("%s: %s", a.in, as_error());  // name the file
    rc = rc || image_write(a.out, &lr);
    if (rc) cli_error("%s", as_error());
    image_free(&hr);
    image_free(&lr);
    return rc ? 1 : 0;
}
