// attsr init: write a freshly initialised model (PyTorch's default init, seeded).
#include <stdlib.h>

#include "cli/cli.h"
#include "core/core.h"

static const char *HELP =
    "usage: attsr init --scale S --feats C --fe-groups G --groups G --blocks B\n"
    "                  --attention none|ca|sa1|sa4 [--ca-reduction R] [--seed N] -o MODEL\n"
    "Writes a model whose weights and biases are uniform in +-1/sqrt(fan_in) (PyTorch's\n"
    "default for Conv2d and Linear) from the seed (default 0). Shape defaults are the\n"
    "paper's: x2, C=64, fe-groups 1, groups 3, blocks 20, attention none, r=16.\n";

int cmd_init(int argc, char **argv) {
    static const struct option opts[] = {CLI_COMMON_OPTIONS, CLI_MODEL_OPTIONS,
                                         {"seed", required_argument, 0, 's'},
                                         {"output", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    model_config cfg = model_config_default();
    const char *out = NULL;
    long seed = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
        int r = cli_model_option(opt, optarg, &cfg);
        if (r < 0) return 1;
        if (r) continue;
        switch (opt) {
        case OPT_HELP: fputs(HELP, stdout); return 0;
        case OPT_MAX_PIXELS:
        case OPT_THREADS:
            if (cli_common_option(opt, optarg)) return 1;
            break;
        case 's':
            if (cli_int(optarg, 0, 1L << 62, "--seed", &seed)) return 1;
            break;
        case 'o': out = optarg; break;
        default: return cli_bad_option(argv);
        }
    }
    if (optind < argc) return cli_error("unexpected argument '%s' (see --help)", argv[optind]);
    if (!out) return cli_error("-o MODEL is required (see --help)");
    model m;
    if (model_create(&m, &cfg)) return cli_error("%s", as_error());
    model_init_params(&m, (uint64_t)seed);
    int rc = model_save(&m, out);
    if (rc) cli_error("%s", as_error());
    else printf("%s: %zu parameters, x%d, attention %s\n", out, m.n_floats, cfg.scale, attention_name(cfg.attention));
    model_free(&m);
    return rc ? 1 : 0;
}
