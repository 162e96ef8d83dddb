// attsr export: a training checkpoint's weights as a model file. A run with --ema
// writes its moving average to model.safetensors; this also gives the raw weights.
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "train/checkpoint.h"

static const char *HELP = "usage: attsr export -c CHECKPOINT -o MODEL [--weights ema|raw]\n"
                          "Writes the weights of a training checkpoint (RUN/checkpoint.safetensors) as a model\n"
                          "file for upscale, eval and --init. --weights ema: the moving average of a run with\n"
                          "--ema (what the run's model.safetensors holds; the default when the checkpoint has\n"
                          "one); raw: the optimiser's own weights at the checkpoint's step (the default otherwise).\n";

typedef struct {
    const char *in, *out, *weights;
} export_args;

static int export_option(int opt, const char *arg, void *p) {
    export_args *a = p;
    switch (opt) {
    case 'c': a->in = arg; return 0;
    case 'o': a->out = arg; return 0;
    case 'w':
        if (strcmp(arg, "ema") && strcmp(arg, "raw")) return cli_error("--weights: '%s' is not ema or raw", arg);
        a->weights = arg;
        return 0;
    }
    return cli_error("unhandled option %d", opt);
}

int cmd_export(int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"checkpoint", required_argument, 0, 'c'},
                                         {"output", required_argument, 0, 'o'},
                                         {"weights", required_argument, 0, 'w'},
                                         {0, 0, 0, 0}};
    export_args a = {0};
    int r = cli_parse(argc, argv, ":c:o:", opts, HELP, export_option, &a, NULL);
    if (r) return cli_parse_status(r);
    if (!a.in || !a.out) return cli_error("-c CHECKPOINT and -o MODEL are required (see --help)");
    const cli_path in[] = {{"-c", a.in, CLI_FILE}}, out[] = {{"-o", a.out, CLI_FILE}};
    if (cli_check_paths(in, 1, out, 1)) return 1;
    trainer t;
    if (checkpoint_load(a.in, &t)) return cli_error("%s", as_error());
    model *m = &t.m;
    int want_ema = a.weights ? !strcmp(a.weights, "ema") : t.ema != NULL, rc = 0;
    if (want_ema && !t.ema)
        rc = cli_error("%s: the run kept no moving average (trained without --ema); use --weights raw", a.in);
    if (!rc && want_ema) memcpy(m->w, t.ema, sizeof(float) * m->n_floats);
    if (!rc && model_save(m, a.out)) rc = cli_error("%s", as_error());
    if (!rc)
        printf("%s: %s weights of step %ld, x%d, %zu parameters\n", a.out, want_ema ? "moving-average" : "raw",
               t.st.step, m->cfg.scale, m->n_floats);
    trainer_free(&t);
    return rc;
}
