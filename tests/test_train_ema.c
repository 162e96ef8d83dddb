// train --ema: the run's moving average against its definition evaluated from the raw
// weights of every step, across a resume at every step; the model file holds the
// average, validation scores it, and the raw training is unchanged by it; the
// checkpoint reader with and without the average.
#include "core/core.h"
#include "model/evaluate.h"
#include "model/safetensors.h"
#include "test.h"
#include "train/checkpoint.h"
#include "train/train.h"

#define STEPS 8
#define DECAY 0.75

static char g_dir[256];

static void config(train_config *c, const char *run, double ema, long steps) {
    static const char *data[] = {"samples"};
    static char out[512], cache[512];  // one config is live at a time
    train_config_default(c);
    c->model.scale = 2, c->model.feats = 8, c->model.fe_groups = 1, c->model.groups = 1, c->model.blocks = 1;
    c->model.attention = ATT_NONE;
    c->data_dirs = data, c->n_data = 1, c->patch = 16, c->batch = 2, c->steps = steps, c->lr = 1e-3;
    c->seed = 3, c->ema = ema, c->resume = 1, c->val_dir = NULL, c->val_every = STEPS;
    c->ckpt_every = 1, c->log_every = 1000;
    snprintf(out, sizeof out, "%s/%s", g_dir, run);
    snprintf(cache, sizeof cache, "%s/cache", g_dir);
    c->out_dir = out, c->cache_dir = cache;
}

static float *tensor_copy(const char *path, const char *name, size_t n) {
    st_file f;
    CHECK_OK(st_read(&f, path));
    const st_tensor *t = st_find(&f, name);
    CHECK(t && t->numel == n, "%s: no tensor '%s' of %zu floats", path, name, n);
    float *r = malloc(n * sizeof(float));
    CHECK(r, "out of memory");
    memcpy(r, t->data, n * sizeof(float));
    st_free(&f);
    return r;
}

// The model file's weights, flat in table order.
static float *model_weights(const char *path, size_t n) {
    model m;
    CHECK_OK(model_load(&m, path));
    CHECK(m.n_floats == n, "%s: %zu floats", path, m.n_floats);
    float *r = malloc(n * sizeof(float));
    CHECK(r, "out of memory");
    memcpy(r, m.w, n * sizeof(float));
    model_free(&m);
    return r;
}

static void test_ema_matches_definition(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/attsr_test_ema_XXXXXX");
    CHECK(mkdtemp(g_dir), "mkdtemp");
    train_config c;
    config(&c, "raw", 0, STEPS);
    model m0;
    CHECK_OK(model_create(&m0, &c.model));
    model_init_params(&m0, c.seed);  // the run's step-0 weights
    size_t n = m0.n_floats;
    // w[k]: the raw weights after k steps, one resumed run per step; the EMA run the same way
    double *avg = calloc(n, sizeof(double));
    CHECK(avg, "out of memory");
    for (size_t i = 0; i < n; i++) avg[i] = m0.w[i];
    char path[600];
    for (long k = 1; k <= STEPS; k++) {
        config(&c, "raw", 0, k);
        CHECK(train_run(&c) == 0, "raw run to step %ld: %s", k, as_error());
        config(&c, "ema", DECAY, k);
        CHECK(train_run(&c) == 0, "EMA run to step %ld: %s", k, as_error());
        snprintf(path, sizeof path, "%s/raw/checkpoint.safetensors", g_dir);
        float *w = tensor_copy(path, "params", n);
        for (size_t i = 0; i < n; i++) avg[i] = DECAY * avg[i] + (1 - DECAY) * w[i];
        snprintf(path, sizeof path, "%s/ema/checkpoint.safetensors", g_dir);
        float *w_ema_run = tensor_copy(path, "params", n);
        CHECK(!memcmp(w, w_ema_run, n * sizeof(float)), "step %ld: the EMA run's raw weights differ", k);
        free(w), free(w_ema_run);
    }
    snprintf(path, sizeof path, "%s/ema/checkpoint.safetensors", g_dir);
    float *ema = tensor_copy(path, "ema", n), *raw = tensor_copy(path, "params", n);
    double worst = 0, moved = 0;
    for (size_t i = 0; i < n; i++) {
        worst = fmax(worst, fabs(ema[i] - avg[i]));
        moved = fmax(moved, fabs(raw[i] - avg[i]));
    }
    CHECK(worst <= 1e-6, "EMA after %d steps vs its definition: max difference %g", STEPS, worst);
    CHECK(moved > 1e-4, "the average equals the raw weights (max difference %g)", moved);
    // model.safetensors holds the average
    snprintf(path, sizeof path, "%s/ema/model.safetensors", g_dir);
    float *file = model_weights(path, n);
    CHECK(!memcmp(file, ema, n * sizeof(float)), "model.safetensors is not the moving average");
    // one uninterrupted run, validated once at its end, ends bit-identical to the run
    // resumed at every step, and its best.safetensors is the average too
    config(&c, "straight", DECAY, STEPS);
    c.val_dir = "samples";
    CHECK(train_run(&c) == 0, "%s", as_error());
    snprintf(path, sizeof path, "%s/straight/model.safetensors", g_dir);
    float *straight = model_weights(path, n);
    CHECK(!memcmp(straight, ema, n * sizeof(float)), "uninterrupted EMA run differs from the resumed one");
    free(straight);
    snprintf(path, sizeof path, "%s/straight/best.safetensors", g_dir);
    straight = model_weights(path, n);
    CHECK(!memcmp(straight, ema, n * sizeof(float)), "best.safetensors is not the moving average");
    free(straight), free(file), free(ema), free(raw), free(avg);
    model_free(&m0);
}

// Validation scores the average: the log's last val_psnr is the mean PSNR of
// model.safetensors over the validation images.
static void test_ema_validated(void) {
    char path[600], line[512];
    snprintf(path, sizeof path, "%s/straight/log.jsonl", g_dir);
    FILE *f = fopen(path, "r");
    CHECK(f, "%s: missing (the previous test failed?)", path);
    double logged = -1;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"val_psnr\":");
        if (p) logged = atof(p + 11);
    }
    fclose(f);
    CHECK(logged > 0, "no val_psnr in %s", path);
    snprintf(path, sizeof path, "%s/straight/model.safetensors", g_dir);
    model m;
    CHECK_OK(model_load(&m, path));
    static const char *images[] = {"samples/butterfly.png", "samples/comic.png", "samples/zebra.png"};
    double sum = 0;
    plan_cache cache = {0};
    for (int i = 0; i < 3; i++) {
        metrics mt;
        CHECK_OK(evaluate_image(&m, &cache, NULL, 2, images[i], &mt));
        sum += mt.psnr;
    }
    plan_cache_free(&cache);
    model_free(&m);
    CHECK(fabs(sum / 3 - logged) <= 1e-4, "validation logged %.4f, the model file scores %.6f", logged, sum / 3);
}

// The checkpoint reader: the average when the file has one (make_seeds writes the
// weights as it), NULL when it has none.
static void test_checkpoint_ema_tensor(void) {
    static const char *files[2] = {"fuzz/corpus/checkpoint/x3_bare_ema.safetensors",
                                   "fuzz/corpus/checkpoint/x3_bare_fresh.safetensors"};
    for (int k = 0; k < 2; k++) {
        trainer t;
        CHECK_OK(checkpoint_load(files[k], &t));
        if (k == 0)
            CHECK(t.ema && !memcmp(t.ema, t.m.w, t.m.n_floats * sizeof(float)), "%s: average not read", files[k]);
        else
            CHECK(!t.ema, "%s: an average from a file without one", files[k]);
        trainer_free(&t);
    }
}

int main(void) {
    setenv("OMP_NUM_THREADS", "1", 0);
    RUN(test_checkpoint_ema_tensor);
    RUN(test_ema_matches_definition);
    RUN(test_ema_validated);
    if (g_dir[0] && !strncmp(g_dir, "/tmp/attsr_test_ema_", 20)) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    }
    return test_summary();
}
