// attsr train: flags -> train_config -> train_run (src/train/train.c).
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/core.h"
#include "train/train.h"

static const char *HELP =
    "usage: attsr train -d DIR [-d DIR...] -o RUN [options]\n"
    "Trains on random (48 s)-pixel HR patches of the images in the DIRs (flips and\n"
    "90-degree rotations; LR by bicubic 1/s; structure/texture targets by SATV, cached),\n"
    "L1 on both branches balanced by GradNorm, Adam. RUN receives model.safetensors,\n"
    "best.safetensors, checkpoint.safetensors and log.jsonl.\n"
    "  model shape (as init):  --scale S --feats C --fe-groups G --groups G --blocks B\n"
    "                          --attention none|ca|sa1|sa4|ca+sa4|ca-avgmax --ca-reduction R\n"
    "  --init MODEL            start from these weights (tensors matching by name and shape)\n"
    "  --patch P               LR patch side (48)      --batch B    samples per step (16)\n"
    "  --steps N               total steps (1000)      --lr LR      learning rate (1e-4)\n"
    "  --milestones A,B,...    halve the learning rate at these steps (--lr-gamma G: other factor)\n"
    "  --lr-schedule step|cosine  step: the milestones (default); cosine: from --lr down to\n"
    "                          --lr-min (0) over --steps, as torch's CosineAnnealingLR\n"
    "  --warmup N              ramp the learning rate up linearly over the first N steps (0)\n"
    "  --ema D                 keep a moving average of the weights, decay D (BasicSR's\n"
    "                          ema_decay, e.g. 0.999); validation and the model files use it\n"
    "  --seed N                data order and initialisation (0)\n"
    "  --gradnorm on|off       (on)  --gn-alpha A (1.5)  --gn-lr LR (0.01)\n"
    "  --gradnorm-warmup K     GradNorm's reference losses L_i(0) from the mean of steps K..2K-1,\n"
    "                          weights fixed at 1 until step 2K (0, the default: step 0's losses;\n"
    "                          docs/spec.md section 6)\n"
    "  --val DIR               validation folder of HR images: PSNR every --val-every steps,\n"
    "                          best.safetensors the best of them (none without --val)\n"
    "  --val-every N (500)     --ckpt-every N (100)    --log-every N (10)\n"
    "  --cache DIR             decomposition cache (default RUN/.satv-cache)\n"
    "  --resume                continue RUN from its checkpoint (same seed)\n"
    "  --threads N\n" CLI_PRECISION_HELP CLI_DEVICE_HELP
    "SIGINT or SIGTERM saves a checkpoint and exits with status 130.\n"
    "Data-parallel: mpirun -np N attsr train ... splits each --batch over N ranks; rank 0\n"
    "writes RUN (docs/distributed.md).\n";

// "A,B,C" -> milestones; 0 ok, 1 (printed) on a bad list.
static int parse_milestones(const char *s, train_config *c) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", s);
    c->n_milestones = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        long v;
        if (c->n_milestones == 16) return cli_error("--milestones: at most 16");
        if (cli_int(tok, 1, 1L << 40, "--milestones", &v)) return 1;
        c->milestones[c->n_milestones++] = v;
    }
    return 0;
}

enum {
    OPT_INIT = OPT_FIRST_FREE,
    OPT_PATCH,
    OPT_BATCH,
    OPT_STEPS,
    OPT_LR,
    OPT_MILESTONES,
    OPT_LR_GAMMA,
    OPT_LR_SCHEDULE,
    OPT_LR_MIN,
    OPT_WARMUP,
    OPT_EMA,
    OPT_SEED,
    OPT_GRADNORM,
    OPT_GN_ALPHA,
    OPT_GN_LR,
    OPT_GN_WARMUP,
    OPT_VAL,
    OPT_VAL_EVERY,
    OPT_CKPT_EVERY,
    OPT_LOG_EVERY,
    OPT_CACHE,
    OPT_RESUME
};

typedef struct {
    train_config c;
    const char *dirs[64];
    int n_dirs;
} train_args;

static int train_option(int opt, const char *arg, void *p) {
    train_args *a = p;
    train_config *c = &a->c;
    long v;
    int r = cli_model_option(opt, arg, &c->model);
    // what the user gave, apart from the defaults: a resume checks it against the checkpoint
    static const struct {
        int opt;
        unsigned bit;
    } given[] = {{OPT_SCALE, TRAIN_GIVEN_SCALE},
                 {OPT_FEATS, TRAIN_GIVEN_FEATS},
                 {OPT_FE_GROUPS, TRAIN_GIVEN_FE_GROUPS},
                 {OPT_GROUPS, TRAIN_GIVEN_GROUPS},
                 {OPT_BLOCKS, TRAIN_GIVEN_BLOCKS},
                 {OPT_ATTENTION, TRAIN_GIVEN_ATTENTION},
                 {OPT_CA_REDUCTION, TRAIN_GIVEN_CA_REDUCTION}};
    for (size_t i = 0; r > 0 && i < sizeof given / sizeof *given; i++)
        if (given[i].opt == opt) c->model_given |= given[i].bit;
    if (r) return r < 0 ? -1 : 0;
    switch (opt) {
    case 'd':
        if (a->n_dirs == 64) return cli_error("-d: at most 64 folders");
        a->dirs[a->n_dirs++] = arg;
        return 0;
    case 'o': c->out_dir = arg; return 0;
    case OPT_INIT: c->init_from = arg; return 0;
    case OPT_PATCH: return cli_int32(arg, 4, 1024, "--patch", &c->patch);
    case OPT_BATCH: return cli_int32(arg, 1, 4096, "--batch", &c->batch);
    case OPT_STEPS: return cli_int(arg, 1, 1L << 40, "--steps", &c->steps);
    case OPT_LR: return cli_float(arg, 0, 10, "--lr", &c->lr);
    case OPT_MILESTONES: return parse_milestones(arg, c) ? -1 : 0;
    case OPT_LR_GAMMA: return cli_float(arg, 0, 1, "--lr-gamma", &c->lr_gamma);
    case OPT_LR_SCHEDULE:
        if (strcmp(arg, "step") && strcmp(arg, "cosine")) return cli_error("--lr-schedule: 'step' or 'cosine'");
        c->lr_cosine = !strcmp(arg, "cosine");
        return 0;
    case OPT_LR_MIN: return cli_float(arg, 0, 10, "--lr-min", &c->lr_min);
    case OPT_WARMUP: return cli_int(arg, 0, 1L << 40, "--warmup", &c->warmup);
    case OPT_EMA:
        if (cli_float(arg, 0, 1, "--ema", &c->ema)) return -1;
        if (c->ema == 1) return cli_error("--ema: the decay must be below 1 (at 1 the average never moves)");
        return 0;
    case OPT_SEED:
        if (cli_int(arg, 0, 1L << 62, "--seed", &v)) return -1;
        c->seed = (uint64_t)v;
        return 0;
    case OPT_GRADNORM:
        if (strcmp(arg, "on") && strcmp(arg, "off")) return cli_error("--gradnorm: 'on' or 'off'");
        c->gradnorm = !strcmp(arg, "on");
        return 0;
    case OPT_GN_ALPHA: return cli_float(arg, 0, 100, "--gn-alpha", &c->gn_alpha);
    case OPT_GN_LR: return cli_float(arg, 0, 100, "--gn-lr", &c->gn_lr);
    case OPT_GN_WARMUP: return cli_int(arg, 0, 1L << 40, "--gradnorm-warmup", &c->gn_warmup);
    case OPT_VAL:
        c->val_dir = *arg ? arg : NULL;  // '' as none, for scripts
        return 0;
    case OPT_VAL_EVERY: return cli_int(arg, 0, 1L << 40, "--val-every", &c->val_every);
    case OPT_CKPT_EVERY: return cli_int(arg, 1, 1L << 40, "--ckpt-every", &c->ckpt_every);
    case OPT_LOG_EVERY: return cli_int(arg, 1, 1L << 40, "--log-every", &c->log_every);
    case OPT_CACHE: c->cache_dir = arg; return 0;
    case OPT_RESUME: c->resume = 1; return 0;
    }
    return cli_error("unhandled option %d", opt);
}

// Before any work: the run folder and the files the run writes there, the cache, and
// that none of them is --init or a data or validation folder (cli_check_paths). Rank
// 0 alone reads --init and --val: other ranks' hosts need not have them.
static int check_paths(const train_config *c, const char **dirs, int n_dirs) {
    int root = dist_launcher_rank() == 0;
    static const char *names[4] = TRAIN_RUN_FILES;
    char files[4][4096];
    cli_path in[66], out[5] = {{"-o", c->out_dir, CLI_FOLDER}};
    int n_in = 0;
    in[n_in++] = (cli_path){"--init", root ? c->init_from : NULL, CLI_FILE};
    in[n_in++] = (cli_path){"--val", root ? c->val_dir : NULL, CLI_FOLDER};
    for (int i = 0; i < n_dirs; i++) in[n_in++] = (cli_path){"-d", dirs[i], CLI_FOLDER};
    for (int i = 0; i < 4; i++) {
        snprintf(files[i], sizeof files[i], "%s/%s", c->out_dir, names[i]);
        out[i + 1] = (cli_path){"the run's file", files[i], CLI_IN_NEW_FOLDER};
    }
    const cli_path cache = {"--cache", c->cache_dir, CLI_FOLDER};  // may be the run folder itself
    return cli_check_paths(in, n_in, out, CLI_N(out)) || cli_check_paths(in, n_in, &cache, 1) ? -1 : 0;
}

int cmd_train(int argc, char **argv) {
    static const struct option opts[] = {CLI_NETWORK_OPTIONS,
                                         CLI_MODEL_OPTIONS,
                                         {"data", required_argument, 0, 'd'},
                                         {"output", required_argument, 0, 'o'},
                                         {"init", required_argument, 0, OPT_INIT},
                                         {"patch", required_argument, 0, OPT_PATCH},
                                         {"batch", required_argument, 0, OPT_BATCH},
                                         {"steps", required_argument, 0, OPT_STEPS},
                                         {"lr", required_argument, 0, OPT_LR},
                                         {"milestones", required_argument, 0, OPT_MILESTONES},
                                         {"lr-gamma", required_argument, 0, OPT_LR_GAMMA},
                                         {"lr-schedule", required_argument, 0, OPT_LR_SCHEDULE},
                                         {"lr-min", required_argument, 0, OPT_LR_MIN},
                                         {"warmup", required_argument, 0, OPT_WARMUP},
                                         {"ema", required_argument, 0, OPT_EMA},
                                         {"seed", required_argument, 0, OPT_SEED},
                                         {"gradnorm", required_argument, 0, OPT_GRADNORM},
                                         {"gn-alpha", required_argument, 0, OPT_GN_ALPHA},
                                         {"gn-lr", required_argument, 0, OPT_GN_LR},
                                         {"gradnorm-warmup", required_argument, 0, OPT_GN_WARMUP},
                                         {"val", required_argument, 0, OPT_VAL},
                                         {"val-every", required_argument, 0, OPT_VAL_EVERY},
                                         {"ckpt-every", required_argument, 0, OPT_CKPT_EVERY},
                                         {"log-every", required_argument, 0, OPT_LOG_EVERY},
                                         {"cache", required_argument, 0, OPT_CACHE},
                                         {"resume", no_argument, 0, OPT_RESUME},
                                         {0, 0, 0, 0}};
    static train_args a;  // large (paths, milestones); one command per process
    train_config_default(&a.c);
    int r = cli_parse(argc, argv, ":d:o:", opts, HELP, train_option, &a, NULL);
    if (r == CLI_EXIT_OK)  // after --help
        printf("This build: %s.\n", dist_has_mpi() ? "with MPI" : "without MPI (make MPI=1 to add it)");
    if (r) return cli_parse_status(r);
    train_config c = a.c;
    const char **dirs = a.dirs;
    int n_dirs = a.n_dirs;
    if (!n_dirs || !c.out_dir) return cli_error("-d DIR and -o RUN are required (see --help)");
    if (model_config_check(&c.model)) return cli_error("%s", as_error());
    if (c.lr_cosine && c.n_milestones) return cli_error("--milestones has no effect with --lr-schedule cosine");
    if (c.lr_min > c.lr) return cli_error("--lr-min %g exceeds --lr %g", c.lr_min, c.lr);
    if (c.gn_warmup && !c.gradnorm) return cli_error("--gradnorm-warmup needs --gradnorm on");
    if (check_paths(&c, dirs, n_dirs) || cli_select_device(&c.model, 1)) return 1;
    c.data_dirs = dirs;
    c.n_data = n_dirs;
    c.progress_tty = isatty(fileno(stderr));
    int rc = train_run(&c);
    if (rc < 0) return cli_error("%s", as_error());
    return rc ? 130 : 0;
}
