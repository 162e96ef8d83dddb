// Writes the generated part of the fuzz corpus and the CLI target's models:
//   fuzz/data/{x2,x3,x4,ckpt_x2}.safetensors    tiny models and a checkpoint (fuzz_cli)
//   fuzz/corpus/{model,safetensors,checkpoint,satv_cache,cli}/...
// The image corpora are copies of tests/fixtures/image. Deterministic: rerunning it
// rewrites the same bytes. Usage: make_seeds FUZZ_DIR (fuzz/run.sh builds it).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_tokens.h"
#include "core/core.h"
#include "image/image.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "train/checkpoint.h"
#include "train/satv_cache.h"

static const char *g_dir;

static void fail(const char *what) {
    fprintf(stderr, "make_seeds: %s: %s\n", what, as_error());
    exit(1);
}

static const char *out(const char *rel) {
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", g_dir, rel);
    return path;
}

static void write_bytes(const char *rel, const void *data, size_t n) {
    if (as_write_file_atomic(out(rel), data, n)) fail(rel);
}

static model tiny(int scale, int feats, int fe_groups, int groups, int blocks, attention_kind att) {
    model_config c = model_config_default();
    c.scale = scale, c.feats = feats, c.fe_groups = fe_groups, c.groups = groups, c.blocks = blocks;
    c.attention = att, c.ca_reduction = 2;
    model m;
    if (model_create(&m, &c)) fail("model_create");
    model_init_params(&m, (uint64_t)scale);
    return m;
}

static void save_model(const model *m, const char *rel) {
    if (model_save(m, out(rel))) fail(rel);
}

// ema: with the weights' moving average (train --ema) as a fourth tensor; warmup: a
// GradNorm warm-up of that many steps (train --gradnorm-warmup), with its fields.
static void save_checkpoint(const model *m, const char *rel, int gn_on, long step, int ema, long warmup) {
    float *mv = as_calloc(2 * m->n_floats, sizeof(float));
    if (!mv) fail("calloc");
    for (size_t i = 0; i < m->n_floats; i++) mv[i] = 1e-3f * (float)(i % 7), mv[m->n_floats + i] = 1e-6f;
    // the trainer borrows m and the buffers: nothing of it is freed here but mv
    trainer t = {.m = *m, .adam_m = mv, .adam_v = mv + m->n_floats, .ema = ema ? m->w : NULL};
    adam_init(&t.opt, 1e-4);
    t.opt.t = step;
    gradnorm_init(&t.gn, gn_on, 1.5, 0.01);
    t.gn.w[0] = 1.25, t.gn.w[1] = 0.75, t.gn.L0[0] = 0.1, t.gn.L0[1] = 0.05, t.gn.has_L0 = step > 0;
    t.gn.warmup = warmup, t.gn.L_sum[0] = warmup ? 0.3 : 0, t.gn.L_sum[1] = warmup ? 0.15 : 0;
    t.st = (train_state){.step = step, .best_psnr = step ? 20.5 : -1, .best_step = step ? step : -1, .seed = 0};
    if (checkpoint_save(out(rel), &t)) fail(rel);
    free(mv);
}

// A safetensors file by hand: an 8-byte length, the header, the data.
static void write_st(const char *rel, const char *header, const void *data, size_t n) {
    size_t h = strlen(header);
    unsigned char *buf = malloc(8 + h + n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    memcpy(buf + 8 + h, data, n);
    write_bytes(rel, buf, 8 + h + n);
    free(buf);
}

static void cache_entry(const char *rel, int w, int h, int damage) {
    size_t n = (size_t)w * h * 3;
    float *s = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) s[i] = (float)i / (float)n;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.entry", out(rel));
    if (satv_cache_write(tmp, 0x5eed5eed5eed5eedULL, w, h, s)) fail(tmp);
    void *file;
    size_t len;
    if (as_read_file(tmp, &file, &len, 1 << 20)) fail(tmp);
    remove(tmp);
    unsigned char *buf = malloc(len + 2);
    buf[0] = (unsigned char)(w - 1), buf[1] = (unsigned char)(h - 1);  // fuzz_satv_cache's size bytes
    memcpy(buf + 2, file, len);
    if (damage) buf[2 + len - 1] ^= 1;  // a payload byte: the checksum no longer matches
    write_bytes(rel, buf, len + 2);
    free(buf);
    free(file);
    free(s);
}

// A CLI seed: the command, then words (a flag's value follows it, "@path" a positional).
static void cli_seed(const char *rel, const char *cmd, const char *const *words) {
    unsigned char buf[256];
    size_t n = 0;
    for (int c = 0; c < N_COMMANDS; c++)
        if (!strcmp(COMMANDS[c], cmd)) buf[n++] = (unsigned char)c;
    for (int i = 0; words[i]; i++) {
        const char *w = words[i];
        int t = -1;
        for (int k = 0; k < N_TOKENS; k++)
            if (w[0] == '@' ? !TOKENS[k].word : TOKENS[k].word && !strcmp(TOKENS[k].word, w)) t = k;
        if (t < 0) fail(w);
        buf[n++] = (unsigned char)t;
        if (TOKENS[t].value == V_NONE) continue;
        const char *v = w[0] == '@' ? w + 1 : words[++i];
        int found = -1;
        for (int k = 0; k < VALUES[TOKENS[t].value].n; k++)
            if (!strcmp(VALUES[TOKENS[t].value].v[k], v)) found = k;
        if (found < 0) fail(v);
        buf[n++] = (unsigned char)found;
    }
    write_bytes(rel, buf, n);
}

// WebP and TIFF seeds: fixtures of tests/fixtures/image written in those formats, in
// the variants the readers take different paths for (lossy/lossless, alpha, 8/16
// bits, gray, ICC and EXIF chunks). BMP's seed comes from tests/test_image_meta --make.
static void image_seeds(void) {
    static const char *fixtures[] = {"png_rgb8", "png_rgba8", "png_gray16", "png_graya8"};
    if (as_mkdir_p(out("corpus/webp")) || as_mkdir_p(out("corpus/tiff"))) fail("corpus/webp, corpus/tiff");
    static uint8_t icc[132] = {0, 0, 0, 132};
    memcpy(icc + 12, "mntrRGB XYZ ", 12), memcpy(icc + 36, "acsp", 4);
    static uint8_t exif[26] = {'I', 'I', '*', 0, 8, 0, 0, 0, 1, 0, 0x12, 1, 3, 0, 1, 0, 0, 0, 6, 0};
    for (int i = 0; i < 4; i++) {
        char in[256], o[256];
        snprintf(in, sizeof in, "tests/fixtures/image/%s.png", fixtures[i]);
        image img;
        if (image_read(in, &img)) fail(in);
        if (i == 0) {  // metadata chunks on one of each
            img.meta.icc = icc, img.meta.icc_n = sizeof icc;
            img.meta.exif = exif, img.meta.exif_n = sizeof exif;
        }
        snprintf(o, sizeof o, "%s/corpus/webp/%s.webp", g_dir, fixtures[i]);
        if (image_write(o, &img)) fail(o);
        snprintf(o, sizeof o, "%s/corpus/webp/%s_q50.webp", g_dir, fixtures[i]);
        if (image_write_with(o, &img, &(image_write_options){.quality = 50})) fail(o);
        snprintf(o, sizeof o, "%s/corpus/tiff/%s.tif", g_dir, fixtures[i]);
        if (image_write(o, &img)) fail(o);
        if (i == 0) img.meta = (image_meta){0};  // static blobs: not image_free's
        image_free(&img);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds FUZZ_DIR\n");
        return 2;
    }
    g_dir = argv[1];
    const char *dirs[] = {"data",      "corpus/model", "corpus/safetensors", "corpus/checkpoint", "corpus/satv_cache",
                          "corpus/cli"};
    for (int i = 0; i < 6; i++)
        if (as_mkdir_p(out(dirs[i]))) fail(dirs[i]);

    // models: the CLI's three, and a few more shapes for the loaders
    model x2 = tiny(2, 2, 0, 1, 1, ATT_NONE), x3 = tiny(3, 2, 0, 1, 1, ATT_CA), x4 = tiny(4, 2, 0, 1, 1, ATT_SA1);
    model sa4 = tiny(2, 1, 1, 0, 1, ATT_SA4), bare = tiny(3, 1, 0, 0, 0, ATT_NONE);
    save_model(&x2, "data/x2.safetensors");
    save_model(&x3, "data/x3.safetensors");
    save_model(&x4, "data/x4.safetensors");
    save_checkpoint(&x2, "data/ckpt_x2.safetensors", 1, 1, 0, 0);
    save_model(&x2, "corpus/model/x2_none.safetensors");
    save_model(&x3, "corpus/model/x3_ca.safetensors");
    save_model(&x4, "corpus/model/x4_sa1.safetensors");
    save_model(&sa4, "corpus/model/x2_sa4_fe.safetensors");
    save_model(&bare, "corpus/model/x3_bare.safetensors");
    save_checkpoint(&x2, "corpus/checkpoint/x2_gn.safetensors", 1, 1, 0, 0);
    save_checkpoint(&bare, "corpus/checkpoint/x3_bare_fresh.safetensors", 0, 0, 0, 0);
    save_checkpoint(&x3, "corpus/checkpoint/x3_ca.safetensors", 1, 7, 0, 0);
    save_checkpoint(&bare, "corpus/checkpoint/x3_bare_ema.safetensors", 0, 3, 1, 0);
    save_checkpoint(&bare, "corpus/checkpoint/x3_bare_gn_warmup.safetensors", 1, 5, 0, 3);
    save_model(&bare, "corpus/safetensors/model_bare.safetensors");
    save_checkpoint(&bare, "corpus/safetensors/checkpoint_bare.safetensors", 0, 0, 0, 0);
    model_free(&x2), model_free(&x3), model_free(&x4), model_free(&sa4), model_free(&bare);
    image_seeds();

    // safetensors: each dtype, metadata, an empty tensor, a 0-d tensor, an empty file
    const unsigned char d[] = {0, 0, 128, 63, 0, 60, 0, 0, 128, 63, 0, 0, 0, 64, 0, 128, 0, 124};
    write_st("corpus/safetensors/dtypes.safetensors",
             "{\"__metadata__\":{\"k\":\"v\",\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[1],"
             "\"data_offsets\":[0,4]},\"h\":{\"dtype\":\"F16\",\"shape\":[1,1],\"data_offsets\":[4,6]},"
             "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[6,10]},\"s\":{\"dtype\":\"F32\","
             "\"shape\":[],\"data_offsets\":[10,14]},\"e\":{\"dtype\":\"F16\",\"shape\":[0,3],"
             "\"data_offsets\":[14,14]},\"f\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[14,18]}}",
             d, sizeof d);
    write_st("corpus/safetensors/empty.safetensors", "{}", "", 0);
    write_st("corpus/safetensors/meta_only.safetensors", "{\"__metadata__\":{}}  ", "", 0);

    // SATV cache entries (size bytes + file), one with a damaged payload
    cache_entry("corpus/satv_cache/4x3.bin", 4, 3, 0);
    cache_entry("corpus/satv_cache/1x1.bin", 1, 1, 0);
    cache_entry("corpus/satv_cache/16x16.bin", 16, 16, 0);
    cache_entry("corpus/satv_cache/5x5_bad.bin", 5, 5, 1);

    // command lines
#define SEED(name, cmd, ...) cli_seed("corpus/cli/" name, cmd, (const char *const[]){__VA_ARGS__, NULL})
    SEED("degrade", "degrade", "--scale", "2", "-i", "%T/in/rgb.png", "-o", "%T/out/a.png");
    SEED("degrade_jpg", "degrade", "-s", "3", "-i", "%T/in/photo.jpg", "-o", "%T/out/c.npy");
    SEED("upscale_model", "upscale", "-m", "%T/in/x2.safetensors", "-i", "%T/in/rgb.png", "-o", "%T/out/a.png");
    SEED("upscale_bicubic_dir", "upscale", "--bicubic", "--scale", "3", "-i", "%T/in/set", "-o", "%T/out/run");
    SEED("upscale_branches", "upscale", "-i", "%T/in/rgba.png", "-o", "%T/out/a.png", "--structure", "%T/out/c.npy",
         "--texture", "%T/out/b.jpg", "--tile", "8", "--overlap", "2");
    SEED("upscale_x4_gray", "upscale", "--scale", "4", "-i", "%T/in/gray.png", "-o", "%T/out/b.jpg", "--threads", "1");
    SEED("upscale_ensemble", "upscale", "-m", "%T/in/x3.safetensors", "--ensemble", "-i", "%T/in/rgb.png", "-o",
         "%T/out/c.npy", "--tile", "8");
    SEED("eval_ensemble", "eval", "-m", "%T/in/x2.safetensors", "--ensemble", "@%T/in/set");
    SEED("eval_bicubic", "eval", "--bicubic", "--scale", "2", "@%T/in/set");
    SEED("eval_model_json", "eval", "-m", "%T/in/x3.safetensors", "--json", "@%T/in/bench");
    SEED("init", "init", "--scale", "3", "--attention", "ca", "-o", "%T/out/m.safetensors");
    SEED("decompose", "decompose", "-i", "%T/in/photo.jpg", "--structure", "%T/out/a.png", "--texture", "%T/out/c.npy",
         "--iters", "3");
    SEED("decompose_npy", "decompose", "-i", "%T/in/img.npy", "--structure", "%T/out/c.npy", "--lambda", "0.5");
    SEED("train", "train", "-d", "%T/in/set", "-o", "%T/out/run");
    SEED("train_resume", "train", "-d", "%T/in/set", "-o", "%T/out/resume", "--resume", "--steps", "3");
    SEED("train_val", "train", "-d", "%T/in/set", "-o", "%T/out/run", "--val", "%T/in/bench", "--attention", "sa1",
         "--gradnorm", "off", "--milestones", "1,2");
    SEED("train_init", "train", "-d", "%T/in/bench/HR", "-o", "%T/out/run", "--init", "%T/in/x2.safetensors", "--cache",
         "%T/out/c.npy");
    SEED("info", "info", "-m", "%T/in/x2.safetensors", "--size", "3", "--runs", "2", "--json");
    SEED("info_bad_model", "info", "-m", "%T/in/bad.safetensors");
    SEED("upscale_formats", "upscale", "--bicubic", "--scale", "2", "-i", "%T/in/scan.tif", "-o", "%T/out/f.webp",
         "--quality", "3", "--keep-orientation");
    SEED("upscale_depth", "upscale", "-i", "%T/in/photo.webp", "-o", "%T/out/g.tif", "--depth", "16", "--rgb");
    SEED("help", "upscale", "--help");
    SEED("bad_option", "eval", "-x", "--max-pixels", "1");
#undef SEED
    return 0;
}
