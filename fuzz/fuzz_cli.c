// libFuzzer target: the command line (src/cli/cmd_*.c). The input becomes an argv of
// fixed words (cli_tokens.h) and runs one command in-process, as main() would.
//
// Safety: the target works in a private temp folder T (made at start, removed at exit):
// inputs in T/in are made once (small images, the tiny committed models of fuzz/data),
// outputs can only name T/out, which is emptied after every run. Every path is absolute,
// and train is given --val "" first, so no default relative path (train's
// ../shared/data/benchmark/Set5) is looked up. The value classes keep every run short. After each run the inputs are checked unchanged,
// and the process-wide state a command may set (limits, thread count, getopt) is reset.
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli_tokens.h"
#include "core/core.h"
#include "image/image.h"

#ifndef FUZZ_DATA
#error "FUZZ_DATA: the folder of the committed models (fuzz/data), set by fuzz/run.sh"
#endif

#define MAX_WORDS 64

static char g_tmp[256];
static as_limits_t g_limits;
static int g_threads;

// ---- the temp folder -----------------------------------------------------------------

static void die(const char *what) {
    fprintf(stderr, "fuzz_cli: %s: %s\n", what, as_error()[0] ? as_error() : strerror(errno));
    abort();
}

static void path_in(char *buf, size_t n, const char *rel) { snprintf(buf, n, "%s/%s", g_tmp, rel); }

static void copy_file(const char *from, const char *to_rel, size_t keep) {
    void *data;
    size_t n;
    char to[512];
    path_in(to, sizeof to, to_rel);
    if (as_read_file(from, &data, &n, (size_t)64 << 20)) die(from);
    if (as_write_file_atomic(to, data, keep && keep < n ? keep : n)) die(to);
    free(data);
}

// A w x h test card with c channels: gradients and a checkerboard, so SATV and the
// metrics have something to chew on.
static void write_image(const char *rel, int w, int h, int c, int gray) {
    image img;
    char path[512];
    if (image_alloc(&img, w, h, c)) die("image_alloc");
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float *p = img.px + ((size_t)y * w + x) * c;
            float v = ((x / 4 + y / 4) & 1) ? 0.8f : 0.2f;
            p[0] = v * x / w;
            p[1] = gray ? p[0] : v;
            p[2] = gray ? p[0] : (float)y / h;
            if (c == 4) p[3] = (float)(x + y) / (w + h);
        }
    path_in(path, sizeof path, rel);
    if (image_write(path, &img)) die(path);
    image_free(&img);
}

static void make_dir(const char *rel) {
    char path[512];
    path_in(path, sizeof path, rel);
    if (as_mkdir_p(path)) die(path);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tree(const char *rel) {
    char path[512];
    path_in(path, sizeof path, rel);
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

// The inputs' sizes and times, to check that no run writes to them.
static char g_inputs[64][512];
static struct stat g_input_st[64];
static int g_n_inputs;

static int note_input(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)flag, (void)ftw;
    if (g_n_inputs < 64) {
        snprintf(g_inputs[g_n_inputs], sizeof g_inputs[0], "%s", path);
        g_input_st[g_n_inputs++] = *st;
    }
    return 0;
}

static void check_inputs(void) {
    struct stat st;
    for (int i = 0; i < g_n_inputs; i++)
        if (lstat(g_inputs[i], &st) || st.st_size != g_input_st[i].st_size ||
            st.st_mtim.tv_sec != g_input_st[i].st_mtim.tv_sec || st.st_mtim.tv_nsec != g_input_st[i].st_mtim.tv_nsec) {
            fprintf(stderr, "fuzz_cli: input %s was changed by the run\n", g_inputs[i]);
            __builtin_trap();
        }
}

// T/out: empty but for a run folder holding a checkpoint, which --resume continues
// (written plainly: an fsync'd atomic write after every run would load the disk).
static void reset_outputs(void) {
    static void *ckpt;
    static size_t ckpt_n;
    if (!ckpt && as_read_file(FUZZ_DATA "/ckpt_x2.safetensors", &ckpt, &ckpt_n, 1 << 20)) die("checkpoint");
    remove_tree("out");
    make_dir("out/resume");
    char path[512];
    path_in(path, sizeof path, "out/resume/checkpoint.safetensors");
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(ckpt, 1, ckpt_n, fp) != ckpt_n || fclose(fp)) die(path);
}

static void cleanup(void) {
    if (g_tmp[0]) remove_tree("");
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    snprintf(g_tmp, sizeof g_tmp, "%s/attsr-fuzz-cli-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_tmp)) die("mkdtemp");
    atexit(cleanup);
    make_dir("in/set");
    make_dir("in/bench/HR");
    make_dir("in/empty");
    make_dir("models");
    write_image("in/rgb.png", 32, 32, 3, 0);
    write_image("in/gray.png", 24, 20, 3, 1);
    write_image("in/rgba.png", 16, 16, 4, 0);
    write_image("in/photo.jpg", 32, 24, 3, 0);
    write_image("in/img.npy", 12, 10, 3, 0);
    write_image("in/photo.webp", 20, 16, 4, 0);
    write_image("in/scan.tif", 18, 14, 3, 1);
    write_image("in/set/a.png", 32, 32, 3, 0);
    write_image("in/set/b.jpg", 40, 32, 3, 0);
    write_image("in/bench/HR/c.png", 24, 24, 3, 0);
    char rgb[512];
    path_in(rgb, sizeof rgb, "in/rgb.png");
    copy_file(rgb, "in/bad.png", 100);  // cut inside the pixel data
    copy_file(FUZZ_DATA "/x2.safetensors", "in/x2.safetensors", 0);
    copy_file(FUZZ_DATA "/x3.safetensors", "in/x3.safetensors", 0);
    copy_file(FUZZ_DATA "/x4.safetensors", "in/x4.safetensors", 0);
    copy_file(FUZZ_DATA "/x2.safetensors", "in/bad.safetensors", 300);
    copy_file(FUZZ_DATA "/ckpt_x2.safetensors", "in/ckpt.safetensors", 0);
    copy_file(FUZZ_DATA "/x2.safetensors", "models/attsr_x2.safetensors", 0);
    copy_file(FUZZ_DATA "/x3.safetensors", "models/attsr_x3.safetensors", 0);
    copy_file(FUZZ_DATA "/x4.safetensors", "models/attsr_x4.safetensors", 0);
    char path[512];
    path_in(path, sizeof path, "in/notes.txt");
    if (as_write_file_atomic(path, "not an image\n", 13)) die(path);
    path_in(path, sizeof path, "in");
    nftw(path, note_input, 16, FTW_PHYS);
    path_in(path, sizeof path, "models");
    setenv("ATTSR_MODELS", path, 1);  // the bundled models: the tiny ones
    reset_outputs();
    g_limits = as_limits;
    g_threads = omp_get_max_threads();
    return 0;
}

// ---- one run ---------------------------------------------------------------------------

typedef struct {
    int argc;
    char *argv[MAX_WORDS + 1];
    char buf[MAX_WORDS][512];
} args;

static void add_word(args *a, const char *w) {
    if (a->argc >= MAX_WORDS) return;
    if (!strncmp(w, "%T", 2))
        snprintf(a->buf[a->argc], sizeof a->buf[0], "%s%s", g_tmp, w + 2);
    else
        snprintf(a->buf[a->argc], sizeof a->buf[0], "%s", w);
    a->argv[a->argc] = a->buf[a->argc];
    a->argc++;
    a->argv[a->argc] = NULL;
}

static int run(const char *cmd, int argc, char **argv) {
    if (!strcmp(cmd, "upscale")) return cmd_upscale(argc, argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "degrade")) return cmd_degrade(argc, argv);
    if (!strcmp(cmd, "init")) return cmd_init(argc, argv);
    if (!strcmp(cmd, "decompose")) return cmd_decompose(argc, argv);
    if (!strcmp(cmd, "info")) return cmd_info(argc, argv);
    return cmd_train(argc, argv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n < 1) return 0;
    static args a;
    a.argc = 0;
    const char *cmd = COMMANDS[data[0] % N_COMMANDS];
    add_word(&a, cmd);
    if (!strcmp(cmd, "init") || !strcmp(cmd, "train"))
        for (size_t i = 0; i < sizeof SAFE_MODEL / sizeof *SAFE_MODEL; i++) add_word(&a, SAFE_MODEL[i]);
    if (!strcmp(cmd, "train"))
        for (size_t i = 0; i < sizeof SAFE_TRAIN / sizeof *SAFE_TRAIN; i++) add_word(&a, SAFE_TRAIN[i]);
    for (size_t i = 1; i < n && a.argc < MAX_WORDS; i++) {
        int t = data[i] % N_TOKENS;
        if (TOKENS[t].word) add_word(&a, TOKENS[t].word);
        if (TOKENS[t].value != V_NONE && i + 1 < n) {
            int c = TOKENS[t].value;
            add_word(&a, VALUES[c].v[data[++i] % VALUES[c].n]);
        }
    }
    // as main() does before a command
    cli_command = cmd;
    opterr = 0;
    optind = 0;  // glibc: start getopt afresh
    int rc = run(cmd, a.argc, a.argv);
    if (rc != 0 && rc != 1 && rc != 2) __builtin_trap();  // 130 would mean a signal
    fflush(stdout);
    as_limits = g_limits;
    omp_set_num_threads(g_threads);
    as_clear_error();
    check_inputs();
    reset_outputs();
    return 0;
}
