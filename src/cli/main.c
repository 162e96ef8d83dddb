// attsr: the command line. Each command lives in src/cli/cmd_*.c and calls the library.
#include <stdio.h>
#include <string.h>

#include "attsr.h"
#include "cli/cli.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} COMMANDS[] = {
    {"upscale", cmd_upscale, "upscale images with a model (or the bicubic baseline)"},
    {"eval", cmd_eval, "PSNR/SSIM on benchmark folders (the field's protocol, docs/spec.md section 2)"},
    {"degrade", cmd_degrade, "make the LR image of an HR image (crop + bicubic 1/s)"},
    {"init", cmd_init, "write a freshly initialised model"},
    {"decompose", cmd_decompose, "split an image into structure and texture (SATV)"},
    {"train", cmd_train, "train a model"},
    {"export", cmd_export, "a training checkpoint's weights (moving average or raw) as a model"},
    {"info", cmd_info, "a model's shape, parameters, FLOPs and inference time"},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof *COMMANDS)

static void usage(FILE *f) {
    fprintf(f, "attsr %s: single-image super-resolution with attention\n\nusage: attsr COMMAND [options]\n\n",
            ATTSR_VERSION);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(f, "\n'attsr COMMAND --help' describes a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("attsr %s\n", ATTSR_VERSION);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) {
            cli_command = COMMANDS[i].name;
            opterr = 0;  // commands report bad options themselves, in one line
            return COMMANDS[i].run(argc - 1, argv + 1);
        }
    cli_error("unknown command '%s' (see attsr --help)", argv[1]);
    return 2;
}
