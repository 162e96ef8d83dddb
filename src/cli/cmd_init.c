// attsr init: write a freshly initialised model (PyTorch's default init, seeded).
#include <stdlib.h>

#include "cli/cli.h"
#include "core/core.h"

static const char *HELP = "usage: attsr init --scale S --feats C --fe-groups G --groups G --blocks B\n"
                          "                  --attention none|ca|sa1|sa4|ca+sa4|ca-avgmax [--ca-reduction R]\n"
                          "                  [--seed N] -o MODEL\n"
                          "Writes a model whose weights and biases are uniform in +-1/sqrt(fan_in) (PyTorch's\n"
                          "default for Conv2d and Linear) from the seed (default 0). Shape defaults are the\n"
                          "paper's: x2, C=64, fe-groups 1, groups 3, blocks 20, attention none, r=16.\n";

typedef struct {
    model_config cfg;
    const char *out;
    long seed;
} init_args;

static int init_option(int opt, const char *arg, void *p) {
    init_args *a = p;
    int r = cli_model_option(opt, arg, &a->cfg);
    if (r) return r < 0 ? -1 : 0;
    switch (opt) {
    case 's': return cli_int(arg, 0, 1L << 62, "--seed", &a->seed);
    case 'o': a->out = arg; return 0;
    }
    return cli_error("unhandled option %d", opt);
}

int cmd_init(int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         CLI_MODEL_OPTIONS,
                                         {"seed", required_argument, 0, 's'},
                                         {"output", required_argument, 0, 'o'},
                                         {0, 0, 0, 0}};
    init_args a = {.cfg = model_config_default()};
    int r = cli_parse(argc, argv, ":o:", opts, HELP, init_option, &a, NULL);
    if (r) return cli_parse_status(r);
    if (!a.out) return cli_error("-o MODEL is required (see --help)");
    const cli_path out[] = {{"-o", a.out, CLI_FILE}};
    if (cli_check_paths(NULL, 0, out, 1)) return 1;
    model m;
    if (model_create(&m, &a.cfg)) return cli_error("%s", as_error());
    model_init_params(&m, (uint64_t)a.seed);
    int rc = model_save(&m, a.out);
    if (rc)
        cli_error("%s", as_error());
    else
        printf("%s: %zu parameters, x%d, attention %s\n", a.out, m.n_floats, a.cfg.scale,
               attention_name(a.cfg.attention));
    model_free(&m);
    return rc ? 1 : 0;
}
