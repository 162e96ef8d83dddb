// Shared helpers of the command line. See cli.h.
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "nn/nn.h"

const char *cli_command = "";

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "attsr%s%s: ", *cli_command ? " " : "", cli_command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_int(const char *s, long lo, long hi, const char *flag, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_error("%s: '%s' is not an integer in [%ld, %ld]", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_int32(const char *s, int lo, int hi, const char *flag, int *out) {
    long v;
    if (cli_int(s, lo, hi, flag, &v)) return -1;
    *out = (int)v;
    return 0;
}

int cli_float(const char *s, double lo, double hi, const char *flag, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) {
        cli_error("%s: '%s' is not a number in [%g, %g]", flag, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_device = ATTSR_DEVICE_AUTO;

int cli_select_device(const model_config *cfg, int training) {
    nn_device d = NN_CPU;
    if (cli_device == ATTSR_DEVICE_CUDA) {
        if (!model_on_device(cfg, NN_CUDA, training)) return cli_error("--device cuda: %s", as_error());
        d = NN_CUDA;
    } else if (cli_device == ATTSR_DEVICE_AUTO && model_on_device(cfg, NN_CUDA, training)) {
        d = NN_CUDA;
    }
    if (nn_set_device(d)) return cli_error("--device: %s", as_error());
    return 0;
}

static int common_option(int opt, const char *arg) {
    long v;
    if (opt == OPT_DEVICE) {
        static const struct {
            const char *name;
            int device;
        } names[] = {{"auto", ATTSR_DEVICE_AUTO}, {"cpu", ATTSR_DEVICE_CPU}, {"cuda", ATTSR_DEVICE_CUDA}};
        for (int i = 0; i < 3; i++)
            if (!strcmp(arg, names[i].name)) {
                cli_device = names[i].device;
                return 0;
            }
        return cli_error("--device: '%s' is not auto, cpu or cuda", arg);
    }
    if (opt == OPT_DETERMINISTIC) {
        nn_set_deterministic(1);
        return 0;
    }
    if (opt == OPT_MAX_PIXELS) {
        if (cli_int(arg, 1, 1L << 40, "--max-pixels", &v)) return -1;
        as_limits.max_pixels = v;
    } else if (opt == OPT_THREADS) {
        if (cli_int(arg, 1, 1024, "--threads", &v)) return -1;
        omp_set_num_threads((int)v);
    } else if (opt == OPT_PRECISION) {
        int bf16 = !strcmp(arg, "bf16") || (!strcmp(arg, "auto") && conv_bf16_available());
        if (strcmp(arg, "fp32") && strcmp(arg, "bf16") && strcmp(arg, "auto"))
            return cli_error("--precision: '%s' is not fp32, bf16 or auto", arg);
        if (conv_set_precision(bf16 ? CONV_BF16 : CONV_FP32)) return cli_error("--precision: %s", as_error());
    } else if (opt == OPT_CONV) {
        conv_algo a;
        if (conv_algo_parse(arg, &a)) return cli_error("--conv: %s", as_error()), -1;
        conv_set_algo(a);
    }
    return 0;
}

// getopt has already stepped past the offending word.
static int bad_option(char **argv) {
    if (optopt && optopt < 256) return cli_error("unknown option or missing value: -%c (see --help)", optopt);
    return cli_error("unknown option or missing value: %s (see --help)", optind > 0 ? argv[optind - 1] : "?");
}

int cli_parse(int argc, char **argv, const char *shortopts, const struct option *opts, const char *help,
              cli_option_fn handle, void *args, int *first_positional) {
    int opt;
    while ((opt = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        if (opt == OPT_HELP) {
            fputs(help, stdout);
            return CLI_EXIT_OK;
        }
        if (opt == '?' || opt == ':') {
            bad_option(argv);
            return CLI_EXIT_ERROR;
        }
        int common = opt == OPT_MAX_PIXELS || opt == OPT_THREADS || opt == OPT_PRECISION || opt == OPT_CONV ||
                     opt == OPT_DEVICE || opt == OPT_DETERMINISTIC;
        int rc = common ? common_option(opt, optarg) : handle(opt, optarg, args);
        if (rc) return CLI_EXIT_ERROR;
    }
    if (first_positional) {
        *first_positional = optind;
    } else if (optind < argc) {
        cli_error("unexpected argument '%s' (see --help)", argv[optind]);
        return CLI_EXIT_ERROR;
    }
    return 0;
}

int cli_is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int check_one_output(const cli_path *o) {
    switch (o->kind) {
    case CLI_IMAGE: return image_check_output(o->path);
    case CLI_FOLDER: return as_check_output_folder(o->path);
    case CLI_IN_NEW_FOLDER: {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", o->path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        if (slash && !cli_is_dir(dir)) return 0;  // the folder is checked as the command's output
        return as_check_output(o->path);
    }
    default: return as_check_output(o->path);
    }
}

// An input exists and is of its kind (the reader checks again on what it opens).
static int check_one_input(const cli_path *p) {
    struct stat st;
    if (stat(p->path, &st) != 0) return as_errorf("%s: cannot open: %s", p->path, strerror(errno));
    if (p->kind == CLI_FOLDER ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
        return as_errorf("%s: not a %s", p->path, p->kind == CLI_FOLDER ? "folder" : "regular file");
    return 0;
}

int cli_check_paths(const cli_path *in, int n_in, const cli_path *out, int n_out) {
    for (int i = 0; i < n_in; i++)
        if (in[i].path && check_one_input(&in[i])) {
            cli_error("%s %s", in[i].flag, as_error());
            return -1;
        }
    for (int i = 0; i < n_out; i++) {
        const cli_path *o = &out[i];
        if (!o->path) continue;
        if (check_one_output(o)) {
            cli_error("%s %s", o->flag, as_error());
            return -1;
        }
        for (int k = 0; k < i; k++)
            if (out[k].path && as_same_path(out[k].path, o->path)) {
                cli_error("%s %s and %s %s name the same %s: one would be lost", out[k].flag, out[k].path, o->flag,
                          o->path, o->kind == CLI_FOLDER ? "folder" : "file");
                return -1;
            }
        for (int k = 0; k < n_in; k++)
            if (in[k].path && as_same_path(in[k].path, o->path)) {
                if (o->kind == CLI_FOLDER)
                    cli_error("%s %s is the input folder %s %s: outputs would be written among the inputs", o->flag,
                              o->path, in[k].flag, in[k].path);
                else
                    cli_error("%s %s would write over the input %s %s", o->flag, o->path, in[k].flag, in[k].path);
                return -1;
            }
    }
    return 0;
}

void cli_report_skipped(const char *path, const char *why, void *count) {
    if (count) (*(int *)count)++;
    cli_error("%s: skipped: %s", path, why);
}

void cli_progress(const char *label, long done, long total) {
    static double last;
    double now = as_now();
    if (isatty(fileno(stderr))) {
        int width = 30, fill = total ? (int)(width * done / total) : width;
        fprintf(stderr, "\r%s [%.*s%*s] %ld/%ld", label, fill, "==============================", width - fill, "", done,
                total);
        if (done >= total) fputc('\n', stderr);
    } else if (done >= total || now - last >= 5.0) {
        fprintf(stderr, "%s: %ld/%ld\n", label, done, total);
        last = now;
    }
}

int cli_model_option(int opt, const char *arg, model_config *c) {
    switch (opt) {
    case OPT_SCALE: return cli_int32(arg, 2, 4, "--scale", &c->scale) ? -1 : 1;
    case OPT_FEATS: return cli_int32(arg, 1, 1024, "--feats", &c->feats) ? -1 : 1;
    case OPT_FE_GROUPS: return cli_int32(arg, 0, 64, "--fe-groups", &c->fe_groups) ? -1 : 1;
    case OPT_GROUPS: return cli_int32(arg, 0, 64, "--groups", &c->groups) ? -1 : 1;
    case OPT_BLOCKS: return cli_int32(arg, 0, 256, "--blocks", &c->blocks) ? -1 : 1;
    case OPT_ATTENTION:
        if (attention_parse(arg, &c->attention)) {
            cli_error("--attention: %s", as_error());
            return -1;
        }
        return 1;
    case OPT_CA_REDUCTION: return cli_int32(arg, 1, 1024, "--ca-reduction", &c->ca_reduction) ? -1 : 1;
    }
    return 0;
}
