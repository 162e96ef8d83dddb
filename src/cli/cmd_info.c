// attsr info: a model's shape, its parameters, the FLOPs of a forward pass and,
// on request, its inference time (tools/experiment.sh reports these per variant).
#include <jansson.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"

static const char *HELP =
    "usage: attsr info -m MODEL [--size N] [--runs R] [--threads N] [--precision P] [--json]\n"
    "Prints the model's shape, its number of parameters and the FLOPs of one forward\n"
    "pass on an N x N LR image (default 128; convolutions and CA's fully connected\n"
    "layers, 2 FLOPs per multiply-add). --runs R also times R forward passes on such an\n"
    "image (after one warm-up that plans the network) and prints their median and best\n"
    "in milliseconds. --json prints one JSON object instead.\n" CLI_PRECISION_HELP CLI_DEVICE_HELP;

enum { OPT_SIZE = OPT_FIRST_FREE, OPT_RUNS, OPT_JSON };

typedef struct {
    const char *model_path;
    long size, runs;
    int json;
} info_args;

static int info_option(int opt, const char *arg, void *p) {
    info_args *a = p;
    switch (opt) {
    case 'm': a->model_path = arg; return 0;
    case OPT_SIZE: return cli_int(arg, 1, 4096, "--size", &a->size);
    case OPT_RUNS: return cli_int(arg, 0, 1000, "--runs", &a->runs);
    case OPT_JSON: a->json = 1; return 0;
    }
    return cli_error("unhandled option %d", opt);
}

// runs forward passes on a size x size input after a warm-up; t[] gets the seconds.
static int time_forward(const model *m, int size, int runs, double *t) {
    model_plan *p = model_plan_create(m, 1, size, size, MODEL_INFER_SR);
    if (!p) return -1;
    as_rng rng;
    as_rng_seed(&rng, 1);
    float *in = as_malloc_array((size_t)size * size * 3, sizeof(float));
    if (!in) {
        model_plan_free(p);
        return -1;
    }
    for (size_t i = 0; i < (size_t)size * size * 3; i++) in[i] = (float)as_rng_uniform(&rng);
    int rc = model_plan_set_input(p, in);
    free(in);
    for (int r = -1; r < runs && !rc; r++) {
        double t0 = as_now();
        rc = model_forward(p, m);
        if (r >= 0) t[r] = as_now() - t0;
    }
    model_plan_free(p);
    return rc;
}

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {CLI_NETWORK_OPTIONS,
                                         {"model", required_argument, 0, 'm'},
                                         {"size", required_argument, 0, OPT_SIZE},
                                         {"runs", required_argument, 0, OPT_RUNS},
                                         {"json", no_argument, 0, OPT_JSON},
                                         {0, 0, 0, 0}};
    info_args a = {.size = 128};
    int r = cli_parse(argc, argv, ":m:", opts, HELP, info_option, &a, NULL);
    if (r) return cli_parse_status(r);
    if (!a.model_path) return cli_error("-m MODEL is required (see --help)");
    model m;
    if (model_load(&m, a.model_path)) return cli_error("%s", as_error());
    if (cli_select_device(&m.cfg, 0)) {
        model_free(&m);
        return 1;
    }
    const model_config *c = &m.cfg;
    int size = (int)a.size, runs = (int)a.runs;
    double gflop = (double)model_flops(&m, size, size) / 1e9, med = 0, best = 0;
    double *t = runs ? malloc(sizeof(double) * runs) : NULL;
    if (runs && (!t || time_forward(&m, size, runs, t))) {
        if (!t) as_errorf("out of memory");
        free(t);
        model_free(&m);
        return cli_error("%s", as_error());
    }
    if (runs) {
        med = 1e3 * as_median(t, runs);  // sorts t
        best = 1e3 * t[0];
    }
    const char *att = attention_name(c->attention);
    if (a.json) {
        json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:s, s:i, s:I, s:i, s:f}", "model", a.model_path, "scale",
                              c->scale, "feats", c->feats, "fe_groups", c->fe_groups, "groups", c->groups, "blocks",
                              c->blocks, "attention", att, "ca_reduction", c->ca_reduction, "parameters",
                              (json_int_t)m.n_floats, "size", size, "gflop", gflop);
        if (runs) {
            json_object_set_new(o, "runs", json_integer(runs));
            json_object_set_new(o, "threads", json_integer(omp_get_max_threads()));
            json_object_set_new(o, "median_ms", json_real(med));
            json_object_set_new(o, "best_ms", json_real(best));
        }
        char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
        puts(s);
        free(s);
        json_decref(o);
    } else {
        printf("%s: x%d, feats %d, fe-groups %d, groups %d, blocks %d, attention %s", a.model_path, c->scale, c->feats,
               c->fe_groups, c->groups, c->blocks, att);
        if (attention_uses_reduction(c->attention)) printf(" (r %d)", c->ca_reduction);
        printf("\nparameters %zu\nforward %.3f GFLOP on a %dx%d LR image\n", m.n_floats, gflop, size, size);
        if (runs)
            printf("inference %.1f ms median of %d (best %.1f ms), %dx%d LR, %d threads\n", med, runs, best, size, size,
                   omp_get_max_threads());
    }
    free(t);
    model_free(&m);
    return 0;
}
