// The words the command-line fuzz target (fuzz_cli.c) builds an argv from, shared with
// make_seeds.c, which writes its seed inputs.
//
// An input is bytes: the first picks the command; each next byte picks a TOKENS entry,
// and when that entry takes a value, the byte after it picks the value from the entry's
// class. No byte reaches argv as text: every path names a file of the fuzz target's
// private temp folder (T below), inputs under T/in (never written) and outputs under
// T/out (emptied after every run), and every number accepted by a flag keeps a run
// short (at most 3 training steps of a model of at most 3 features).
#pragma once

typedef enum { V_NONE, V_IN, V_OUT, V_SCALE, V_SMALL, V_FLOAT, V_ATT, V_ONOFF, V_TILE, V_PIXELS,
               V_THREADS, V_LIST, N_CLASSES } value_class;

static const char *const COMMANDS[] = {"upscale", "eval", "degrade", "init", "decompose", "train", "info"};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof *COMMANDS)

// "%T" at the start of a value is replaced by the temp folder.
static const char *const VALUES_IN[] = {
    "%T/in/rgb.png", "%T/in/gray.png", "%T/in/rgba.png", "%T/in/photo.jpg", "%T/in/img.npy",
    "%T/in/bad.png", "%T/in/missing.png", "%T/in/set", "%T/in/bench", "%T/in/bench/HR", "%T/in/empty",
    "%T/in/x2.safetensors", "%T/in/x3.safetensors", "%T/in/x4.safetensors", "%T/in/bad.safetensors",
    "%T/in/ckpt.safetensors", "%T/in/notes.txt", "%T/out/a.png", "%T/out/resume", "%T/in/photo.webp",
    "%T/in/scan.tif"};
static const char *const VALUES_OUT[] = {
    "%T/out/a.png", "%T/out/b.jpg", "%T/out/c.npy", "%T/out/d.txt", "%T/out/noext", "%T/out/m.safetensors",
    "%T/out/run", "%T/out/resume", "%T/out", "%T/out/no/such/dir/e.png", "%T/out/A.PNG", "%T/out/f.webp",
    "%T/out/g.tif", "%T/out/h.bmp"};
static const char *const VALUES_SCALE[] = {"2", "3", "4", "1", "5", "0", "x"};
static const char *const VALUES_SMALL[] = {"-1", "0", "1", "2", "3", "x", "", "1.5", "99999999999999999999"};
static const char *const VALUES_FLOAT[] = {"0", "0.5", "2.5", "1e6", "-1", "nan", "inf", "1e-300", "x"};
static const char *const VALUES_ATT[] = {"none", "ca", "sa1", "sa4", "ca+sa4", "ca-avgmax", "CA", "x"};
static const char *const VALUES_ONOFF[] = {"on", "off", "yes"};
static const char *const VALUES_TILE[] = {"8", "16", "7", "65537"};
static const char *const VALUES_PIXELS[] = {"1", "256", "100000000", "0", "1099511627777"};
static const char *const VALUES_THREADS[] = {"1", "2", "0", "1025"};
static const char *const VALUES_LIST[] = {"1", "1,2", "0", "1,,2", "a", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"};

static const struct {
    const char *const *v;
    int n;
} VALUES[N_CLASSES] = {
#define V(c, a) [c] = {a, (int)(sizeof a / sizeof *a)}
    V(V_IN, VALUES_IN),         V(V_OUT, VALUES_OUT),     V(V_SCALE, VALUES_SCALE),
    V(V_SMALL, VALUES_SMALL),   V(V_FLOAT, VALUES_FLOAT), V(V_ATT, VALUES_ATT),
    V(V_ONOFF, VALUES_ONOFF),   V(V_TILE, VALUES_TILE),   V(V_PIXELS, VALUES_PIXELS),
    V(V_THREADS, VALUES_THREADS), V(V_LIST, VALUES_LIST),
#undef V
};

// A NULL word is a positional argument: the value itself (an input path).
static const struct {
    const char *word;
    value_class value;
} TOKENS[] = {
    {"--help", V_NONE},       {"--max-pixels", V_PIXELS}, {"--threads", V_THREADS},
    {"--scale", V_SCALE},     {"-s", V_SCALE},           {"-i", V_IN},
    {"--input", V_IN},        {"-o", V_OUT},             {"--output", V_OUT},
    {"-m", V_IN},             {"--model", V_IN},         {"--bicubic", V_NONE},
    {"--structure", V_OUT},   {"--texture", V_OUT},      {"--tile", V_TILE},
    {"--overlap", V_SMALL},   {"--json", V_NONE},        {"--lambda", V_FLOAT},
    {"--iters", V_SMALL},     {"--seed", V_SMALL},       {"--feats", V_SMALL},
    {"--fe-groups", V_SMALL}, {"--groups", V_SMALL},     {"--blocks", V_SMALL},
    {"--attention", V_ATT},   {"--ca-reduction", V_SMALL}, {"-d", V_IN},
    {"--data", V_IN},         {"--init", V_IN},          {"--patch", V_SMALL},
    {"--batch", V_SMALL},     {"--steps", V_SMALL},      {"--lr", V_FLOAT},
    {"--milestones", V_LIST}, {"--lr-gamma", V_FLOAT},   {"--gradnorm", V_ONOFF},
    {"--gn-alpha", V_FLOAT},  {"--gn-lr", V_FLOAT},      {"--val", V_IN},
    {"--val-every", V_SMALL}, {"--ckpt-every", V_SMALL}, {"--log-every", V_SMALL},
    {"--cache", V_OUT},       {"--resume", V_NONE},      {"--", V_NONE},
    {"-", V_NONE},            {"-x", V_NONE},            {"--nope", V_NONE},
    {"--sca", V_SCALE},       {"--help=1", V_NONE},      {"-h", V_NONE},
    {"-s2", V_NONE},          {"--scale=3", V_NONE},     {"--size", V_SMALL},
    {"--runs", V_SMALL},      {"--ensemble", V_NONE},    {"--keep-orientation", V_NONE},
    {"--depth", V_TILE},      {"--rgb", V_NONE},         {"--quality", V_SMALL},
    {NULL, V_IN},
};
#define N_TOKENS (int)(sizeof TOKENS / sizeof *TOKENS)

// Prepended to init and train: a model small enough to train in milliseconds, a run of
// at most 2 steps, and no validation folder (its default is relative to the working
// folder). Fuzzed flags come after and may override each (within the
// value classes above, which keep every size at most 3).
static const char *const SAFE_MODEL[] = {"--feats", "2", "--fe-groups", "0", "--groups", "1", "--blocks", "1"};
static const char *const SAFE_TRAIN[] = {"--steps", "2", "--batch", "2", "--patch", "4", "--val-every", "1",
                                         "--ckpt-every", "1", "--log-every", "1", "--val", ""};
