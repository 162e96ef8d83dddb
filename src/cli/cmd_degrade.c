// attsr degrade: SPEC section 2's LR image of an HR image.
#include <stdlib.h>

#include "cli/cli.h"
#include "core/core.h"
#include "image/resize.h"

static const char *HELP =
    "usage: attsr degrade --scale S -i HR -o LR\n"
    "Crops HR to a multiple of S (top-left kept), resizes by 1/S with MATLAB-compatible\n"
    "bicubic (antialiased) and rounds to 8 bits: the field's LR protocol.\n";

int cmd_degrade(int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {"scale", required_argument, 0, 's'},
                                         {"input", required_argument, 0, 'i'},
                                         {"output", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    const char *in = NULL, *out = NULL;
    long scale = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":s:i:o:", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_HELP: fputs(HELP, stdout); return 0;
        case OPT_MAX_PIXELS:
        case OPT_THREADS:
            if (cli_common_option(opt, optarg)) return 1;
            break;
        case 's':
            if (cli_int(optarg, 2, 4, "--scale", &scale)) return 1;
            break;
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        default: return cli_bad_option(argv);
        }
    }
    if (optind < argc) return cli_error("unexpected argument '%s' (see --help)", argv[optind]);
    if (!in || !out || !scale) return cli_error("--scale, -i and -o are required (see --help)");
    if (cli_check_output(out, in)) return 1;
    image hr = {0}, lr = {0};
    int rc = image_read(in, &hr) || degrade(&lr, NULL, &hr, (int)scale) || image_write(out, &lr);
    if (rc) cli_error("%s", as_error());
    image_free(&hr);
    image_free(&lr);
    return rc ? 1 : 0;
}
