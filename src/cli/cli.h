// cli: shared helpers of the attsr command line (a thin client of the library).
#pragma once
#include <getopt.h>
#include <stdio.h>

#include "attsr.h"
#include "image/image.h"
#include "model/model.h"

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
int cli_int32(const char *s, int lo, int hi, const char *flag, int *out);  // the same into an int
int cli_float(const char *s, double lo, double hi, const char *flag, double *out);

// Options every command shares; a command's own option codes start at OPT_FIRST_FREE.
// --conv auto|direct|winograd: the convolution algorithm (nn.h's conv_set_algo; the
// default follows ATTSR_CONV, then auto).
enum { OPT_HELP = 1000, OPT_MAX_PIXELS, OPT_THREADS, OPT_PRECISION, OPT_CONV, OPT_FIRST_FREE };
#define CLI_COMMON_OPTIONS                                                                    \
    {"help", no_argument, 0, OPT_HELP}, {"max-pixels", required_argument, 0, OPT_MAX_PIXELS}, \
        {"threads", required_argument, 0, OPT_THREADS}, {                                     \
        "conv", required_argument, 0, OPT_CONV                                                \
    }
// The commands that run the network add --precision fp32|bf16|auto (conv_set_precision;
// auto: bf16 where the CPU has it, else fp32). CLI_PRECISION_HELP is its help line.
#define CLI_PRECISION_OPTION \
    { "precision", required_argument, 0, OPT_PRECISION }
#define CLI_PRECISION_HELP                                                                     \
    "  --precision P           convolution arithmetic: fp32 (default); bf16 (bf16 products,\n" \
    "                          f32 sums and weights; AMX or AVX512-BF16 CPUs only); auto\n"    \
    "                          (bf16 where the CPU has it, else fp32)\n"

// The commands that run the network add --device auto|cpu|cuda (CLI_DEVICE_OPTION,
// recorded in cli_device); after loading their model they call cli_select_device.
enum { OPT_DEVICE = 1300, OPT_DETERMINISTIC };
#define CLI_DEVICE_OPTION \
    {"device", required_argument, 0, OPT_DEVICE}, { "deterministic", no_argument, 0, OPT_DETERMINISTIC }
#define CLI_DEVICE_HELP                                                                        \
    "  --device D              where the network runs: auto (default: cuda when this build\n"  \
    "                          has CUDA, a GPU is present and the CUDA backend has the\n"      \
    "                          model's layers; else cpu), cpu, cuda (docs/cuda.md)\n"          \
    "  --deterministic         bit-identical reruns on CUDA too (only cuDNN's deterministic\n" \
    "                          algorithms; the CPU always is)\n"
extern int cli_device;  // the request: ATTSR_DEVICE_AUTO (default), _CPU or _CUDA
// The options of every command that runs the network: the common ones, --precision, --device.
#define CLI_NETWORK_OPTIONS CLI_COMMON_OPTIONS, CLI_PRECISION_OPTION, CLI_DEVICE_OPTION
// Makes the request for cfg's network (training or not) the process's device; 0, or -1
// after printing why an explicit --device cuda cannot be met.
int cli_select_device(const model_config *cfg, int training);

// Reading images: --keep-orientation (IMAGE_KEEP_ORIENTATION) in every command that
// reads them. Written as one line of --help: CLI_KEEP_ORIENTATION_HELP.
enum { OPT_KEEP_ORIENTATION = 1200 };
#define CLI_KEEP_ORIENTATION_OPTION \
    { "keep-orientation", no_argument, 0, OPT_KEEP_ORIENTATION }
#define CLI_KEEP_ORIENTATION_HELP                                                         \
    "--keep-orientation keeps the stored pixel order of files with an EXIF Orientation\n" \
    "(which is otherwise applied, as browsers do).\n"

// A command's own options: returns 0, or -1 after printing the reason.
typedef int (*cli_option_fn)(int opt, const char *arg, void *args);

// The getopt_long loop of every command: --help prints `help`; the common options are
// applied; the rest go to `handle`; an unknown option, a missing value or (when
// first_positional is NULL) a stray argument is reported. Returns 0 to go on (with
// *first_positional = the index of the first non-option argument), CLI_EXIT_OK after
// --help, or CLI_EXIT_ERROR.
enum { CLI_EXIT_OK = 1, CLI_EXIT_ERROR = -1 };
int cli_parse(int argc, char **argv, const char *shortopts, const struct option *opts, const char *help,
              cli_option_fn handle, void *args, int *first_positional);
// The exit status for a non-zero cli_parse result.
static inline int cli_parse_status(int r) { return r == CLI_EXIT_OK ? 0 : 1; }

// The files and folders one command reads and writes, checked together before it
// computes (docs/security.md): every input exists and is a regular file (a folder for
// CLI_FOLDER), every output can be written (an image's extension, its
// folder exists and is writable, it is no folder; a folder can be created), no two
// outputs name one file or folder, and no output names an input, by any path (links,
// "./", "dir/.."). Entries with a NULL path are skipped. 0, or -1 after printing the
// first problem, naming the flags.
enum {
    CLI_IMAGE,          // an image file (a format image.c writes: image_ext_writable)
    CLI_FILE,           // any other file (a model)
    CLI_FOLDER,         // a folder (created when missing)
    CLI_IN_NEW_FOLDER,  // a file in a CLI_FOLDER output: checked as CLI_FILE when the folder exists
};
typedef struct {
    const char *flag, *path;  // the flag for messages ("-o"); NULL path: not given
    int kind;
} cli_path;
int cli_check_paths(const cli_path *in, int n_in, const cli_path *out, int n_out);
#define CLI_N(a) ((int)(sizeof(a) / sizeof *(a)))

int cli_is_dir(const char *path);

// image_list_folder_skips' report for the commands: "attsr CMD: PATH: skipped: WHY" on
// stderr; count (an int *, or NULL) counts them.
void cli_report_skipped(const char *path, const char *why, void *count);

// Progress on stderr: a bar when it is a terminal, otherwise plain lines now and then.
void cli_progress(const char *label, long done, long total);

// Model-shape flags shared by init and train (docs/spec.md §8).
#include "model/model.h"
enum { OPT_SCALE = 1100, OPT_FEATS, OPT_FE_GROUPS, OPT_GROUPS, OPT_BLOCKS, OPT_ATTENTION, OPT_CA_REDUCTION };
#define CLI_MODEL_OPTIONS                                                                                   \
    {"scale", required_argument, 0, OPT_SCALE}, {"feats", required_argument, 0, OPT_FEATS},                 \
        {"fe-groups", required_argument, 0, OPT_FE_GROUPS}, {"groups", required_argument, 0, OPT_GROUPS},   \
        {"blocks", required_argument, 0, OPT_BLOCKS}, {"attention", required_argument, 0, OPT_ATTENTION}, { \
        "ca-reduction", required_argument, 0, OPT_CA_REDUCTION                                              \
    }
// Returns 1 when opt was a model flag (applied to c), 0 when not, -1 on a bad value.
int cli_model_option(int opt, const char *arg, model_config *c);

// Upscales lr by `scale` with the model, or with bicubic when model is NULL. Alpha (c
// == 4) is upscaled separately with bicubic (docs/spec.md §1). st/tx (may be NULL)
// receive the structure and texture branches (model only).
#include "attsr.h"
int cli_upscale_image(attsr_model *model, int scale, const image *lr, image *sr, image *st, image *tx,
                      const attsr_options *opt);
