// cli: shared helpers of the attsr command line (a thin client of the library).
#pragma once
#include <getopt.h>
#include <stdio.h>

#include "image/image.h"

// Every command: int cmd_NAME(int argc, char **argv) returning the exit status.
int cmd_upscale(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_degrade(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_decompose(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_export(int argc, char **argv);

// Prints "attsr CMD: reason" (one line) on stderr; returns the exit status 1.
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern const char *cli_command;  // the running command's name, for messages

// Parses a whole decimal integer in [lo, hi] for `flag`; 0 or -1 (error printed).
int cli_int(const char *s, long lo, long hi, const char *flag, long *out);
int cli_float(const char *s, double lo, double hi, const char *flag, double *out);

// Options every command shares; a command's own option codes start at OPT_FIRST_FREE.
enum { OPT_HELP = 1000, OPT_MAX_PIXELS, OPT_THREADS, OPT_FIRST_FREE };
#define CLI_COMMON_OPTIONS                                                   \
    {"help", no_argument, 0, OPT_HELP}, {"max-pixels", required_argument, 0, OPT_MAX_PIXELS}, \
        {"threads", required_argument, 0, OPT_THREADS}

// A command's own options: returns 0, or -1 after printing the reason.
typedef int (*cli_option_fn)(int opt, const char *arg, void *args);

// The getopt_long loop of every command: --help prints `help`; the common options are
// applied; the rest go to `handle`; an unknown option, a missing value or (when
// first_positional is NULL) a stray argument is reported. Returns 0 to go on (with
// *first_positional = the index of the first non-option argument), CLI_EXIT_OK after
// --help, or CLI_EXIT_ERROR.
enum { CLI_EXIT_OK = 1, CLI_EXIT_ERROR = -1 };
int cli_parse(int argc, char **argv, const char *shortopts, const struct option *opts,
              const char *help, cli_option_fn handle, void *args, int *first_positional);
// The exit status for a non-zero cli_parse result.
static inline int cli_parse_status(int r) { return r == CLI_EXIT_OK ? 0 : 1; }

// Output paths: refuses to write over an input. 0 ok, -1 (printed).
int cli_check_output(const char *out, const char *in);

int cli_is_dir(const char *path);

// Progress on stderr: a bar when it is a terminal, otherwise plain lines now and then.
void cli_progress(const char *label, long done, long total);

// Model-shape flags shared by init and train (SPEC section 8).
#include "model/model.h"
enum { OPT_SCALE = 1100, OPT_FEATS, OPT_FE_GROUPS, OPT_GROUPS, OPT_BLOCKS, OPT_ATTENTION, OPT_CA_REDUCTION };
#define CLI_MODEL_OPTIONS                                                                    \
    {"scale", required_argument, 0, OPT_SCALE}, {"feats", required_argument, 0, OPT_FEATS},  \
        {"fe-groups", required_argument, 0, OPT_FE_GROUPS},                                  \
        {"groups", required_argument, 0, OPT_GROUPS}, {"blocks", required_argument, 0, OPT_BLOCKS}, \
        {"attention", required_argument, 0, OPT_ATTENTION},                                  \
        {"ca-reduction", required_argument, 0, OPT_CA_REDUCTION}
// Returns 1 when opt was a model flag (applied to c), 0 when not, -1 on a bad value.
int cli_model_option(int opt, const char *arg, model_config *c);

// Upscales lr by `scale` with the model, or with bicubic when model is NULL. Alpha (c
// == 4) is upscaled separately with bicubic (SPEC section 1). st/tx (may be NULL)
// receive the structure and texture branches (model only).
#include "attsr.h"
int cli_upscale_image(attsr_model *model, int scale, const image *lr, image *sr, image *st,
                      image *tx, const attsr_options *opt);
