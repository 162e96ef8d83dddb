// Training against damaged state (issue 17): a checkpoint holding NaN or Inf (in any
// tensor, or in its numbers) is refused at load; a run that diverges stops with an
// error before its next save and leaves the last good files as they were; a resume
// refuses shape flags that disagree with its checkpoint. Plus the SATV cache reader
// refusing a non-finite payload.
#include "core/core.h"
#include "model/safetensors.h"
#include "test.h"
#include "train/checkpoint.h"
#include "train/satv_cache.h"
#include "train/train.h"

static char g_dir[256];

static void config(train_config *c, const char *run, long steps) {
    static const char *data[] = {"samples"};
    static char out[512], cache[512];
    train_config_default(c);
    c->model.scale = 2, c->model.feats = 8, c->model.fe_groups = 1, c->model.groups = 1, c->model.blocks = 1;
    c->model.attention = ATT_CA;
    c->data_dirs = data, c->n_data = 1, c->patch = 16, c->batch = 2, c->steps = steps, c->lr = 1e-3;
    c->seed = 3, c->resume = 1, c->val_dir = NULL, c->ckpt_every = 2, c->log_every = 1000;
    snprintf(out, sizeof out, "%s/%s", g_dir, run);
    snprintf(cache, sizeof cache, "%s/cache", g_dir);
    c->out_dir = out, c->cache_dir = cache;
}

static void path_of(char *buf, size_t n, const char *run, const char *file) {
    snprintf(buf, n, "%s/%s/%s", g_dir, run, file);
}

static void *slurp(const char *path, size_t *n) {
    void *data;
    CHECK_OK(as_read_file(path, &data, n, 1 << 26));
    return data;
}

// Rewrites a checkpoint with tensor `name`'s element 3 set to v, or metadata `key` = val.
static void damage(const char *path, const char *name, float v, const char *key, const char *val) {
    st_file f;
    CHECK_OK(st_read(&f, path));
    st_out_tensor t[4];
    for (int i = 0; i < f.n; i++) {
        t[i] = (st_out_tensor){f.tensors[i].name, f.tensors[i].ndim, f.tensors[i].shape, f.tensors[i].data};
        if (name && !strcmp(name, f.tensors[i].name)) f.tensors[i].data[3] = v;
    }
    const char *vals[32];
    for (int i = 0; i < f.n_meta && i < 32; i++) vals[i] = key && !strcmp(f.meta_keys[i], key) ? val : f.meta_values[i];
    CHECK_OK(st_write(path, t, f.n, (const char *const *)f.meta_keys, vals, f.n_meta));
    st_free(&f);
}

// 0 when the checkpoint at path loads; else -1 with the reason in as_error().
static int try_load(const char *path) {
    trainer t;
    if (checkpoint_load(path, &t)) return -1;
    trainer_free(&t);
    return 0;
}

// A checkpoint with a NaN in the middle of its data was resumed, trained on with loss
// nan and replaced the good model.safetensors with NaN weights.
static void test_nonfinite_checkpoint_refused(void) {
    train_config c;
    config(&c, "ck", 2);
    c.ema = 0.5;  // so that the checkpoint has all four tensors
    CHECK(train_run(&c) == 0, "%s", as_error());
    char ck[600], good[600], mp[600];
    path_of(ck, sizeof ck, "ck", "checkpoint.safetensors");
    path_of(good, sizeof good, "ck", "good.safetensors");
    path_of(mp, sizeof mp, "ck", "model.safetensors");
    size_t n, n_model;
    void *orig = slurp(ck, &n), *model_before = slurp(mp, &n_model);
    CHECK_OK(as_write_file_atomic(good, orig, n));
    CHECK_OK(try_load(ck));
    static const char *tensors[4] = {"params", "adam.m", "adam.v", "ema"};
    static const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) {
            CHECK_OK(as_write_file_atomic(ck, orig, n));
            damage(ck, tensors[i], bad[k], NULL, NULL);
            CHECK(try_load(ck) != 0, "%s[3] = %g accepted", tensors[i], bad[k]);
            char want[64];
            snprintf(want, sizeof want, "tensor '%s' holds a non-finite value", tensors[i]);
            CHECK(strstr(as_error(), want), "%s", as_error());
        }
    // train --resume on it fails, and the model file stays as it was
    config(&c, "ck", 4);
    c.ema = 0.5;
    CHECK(train_run(&c) != 0, "a damaged checkpoint was resumed");
    CHECK(strstr(as_error(), "non-finite"), "%s", as_error());
    size_t n2;
    void *model_after = slurp(mp, &n2);
    CHECK(n2 == n_model && !memcmp(model_after, model_before, n2), "model.safetensors was replaced");
    free(model_after);
    // the numbers in its metadata: finite (best_psnr may be +inf: an exact reproduction)
    static const char *meta[][3] = {{"gn_w", "nan 1", "'gn_w' = 'nan 1' is not a finite number"},
                                    {"gn_L0", "1 inf", "is not a finite number"},
                                    {"adam_lr", "-inf", "is not a finite number"},
                                    {"gn_alpha", "nan", "is not a finite number"},
                                    {"best_psnr", "nan", "'best_psnr' = 'nan' is not a finite number"},
                                    {"seed", "nan", "'seed' = 'nan' is not an integer"},
                                    {"seed", "-3", "'seed' = '-3' is not an integer"},
                                    {"feats", "1000000000", "feats 1000000000 out of range (1..1024)"},
                                    {"best_psnr", "inf", NULL}};
    for (int i = 0; i < 9; i++) {
        CHECK_OK(as_write_file_atomic(ck, orig, n));
        damage(ck, NULL, 0, meta[i][0], meta[i][1]);
        int rc = try_load(ck);
        if (!meta[i][2])
            CHECK(rc == 0, "%s = %s refused: %s", meta[i][0], meta[i][1], as_error());
        else
            CHECK(rc != 0 && strstr(as_error(), meta[i][2]), "%s = %s: '%s'", meta[i][0], meta[i][1], as_error());
    }
    free(orig), free(model_before);
}

// A run that diverges (here --lr 10 from a good checkpoint) stops with an error before
// it saves: the model, best and checkpoint files stay those of the last good step.
static void test_divergence_stops(void) {
    train_config c;
    config(&c, "div", 2);
    CHECK(train_run(&c) == 0, "%s", as_error());
    char ck[600], mp[600];
    path_of(ck, sizeof ck, "div", "checkpoint.safetensors");
    path_of(mp, sizeof mp, "div", "model.safetensors");
    size_t n_ck, n_m;
    void *ck_before = slurp(ck, &n_ck), *m_before = slurp(mp, &n_m);
    config(&c, "div", 40);
    c.lr = 10;
    CHECK(train_run(&c) < 0, "a diverging run ended without an error");
    CHECK(strstr(as_error(), "the run diverged") && strstr(as_error(), "stopped without saving"), "%s", as_error());
    size_t n1, n2;
    void *ck_after = slurp(ck, &n1), *m_after = slurp(mp, &n2);
    CHECK(n1 == n_ck && !memcmp(ck_after, ck_before, n1), "the checkpoint was replaced");
    CHECK(n2 == n_m && !memcmp(m_after, m_before, n2), "model.safetensors was replaced");
    CHECK_OK(try_load(ck));
    free(ck_before), free(m_before), free(ck_after), free(m_after);
}

// --resume with a shape flag: refused when it disagrees with the checkpoint, fine when
// it agrees; without the flag (a default that differs) the checkpoint's shape is used.
static void test_resume_shape_flags(void) {
    train_config c;
    config(&c, "shape", 2);
    CHECK(train_run(&c) == 0, "%s", as_error());
    static const struct {
        unsigned bit;
        const char *want;
    } cases[] = {{TRAIN_GIVEN_SCALE, "has --scale 2, not 3"},
                 {TRAIN_GIVEN_FEATS, "has --feats 8, not 16"},
                 {TRAIN_GIVEN_FE_GROUPS, "has --fe-groups 1, not 2"},
                 {TRAIN_GIVEN_GROUPS, "has --groups 1, not 2"},
                 {TRAIN_GIVEN_BLOCKS, "has --blocks 1, not 2"},
                 {TRAIN_GIVEN_ATTENTION, "has --attention ca, not sa4"},
                 {TRAIN_GIVEN_CA_REDUCTION, "has --ca-reduction 16, not 4"}};
    for (int i = 0; i < 7; i++) {
        config(&c, "shape", 3);
        model_config *mc = &c.model;
        mc->scale = 3, mc->feats = 16, mc->fe_groups = 2, mc->groups = 2, mc->blocks = 2, mc->attention = ATT_SA4;
        mc->ca_reduction = 4;
        c.model_given = cases[i].bit;
        CHECK(train_run(&c) != 0, "a disagreeing flag (bit %u) was ignored", cases[i].bit);
        CHECK(strstr(as_error(), cases[i].want), "'%s' lacks '%s'", as_error(), cases[i].want);
    }
    config(&c, "shape", 3);
    c.model_given = TRAIN_GIVEN_FEATS | TRAIN_GIVEN_ATTENTION;  // given, and the same
    CHECK(train_run(&c) == 0, "agreeing flags refused: %s", as_error());
    config(&c, "shape", 4);
    c.model.feats = 64;  // the default, not given: the checkpoint's 8 is used
    CHECK(train_run(&c) == 0, "a resume without shape flags refused: %s", as_error());
    char mp[600];
    path_of(mp, sizeof mp, "shape", "model.safetensors");
    model m;
    CHECK_OK(model_load(&m, mp));
    CHECK(m.cfg.feats == 8, "feats %d after the resume", m.cfg.feats);
    model_free(&m);
}

// A cache entry holding NaN (checksummed as written: a broken writer) is a miss.
static void test_satv_cache_nonfinite(void) {
    enum { W = 3, H = 2, N = W * H * 3 };
    float s[N], back[N];
    for (int i = 0; i < N; i++) s[i] = 0.1f * i;
    char path[600];
    path_of(path, sizeof path, "", "entry.satv");
    CHECK_OK(satv_cache_write(path, 42, W, H, s));
    CHECK_OK(satv_cache_read(path, 42, W, H, back));
    s[7] = NAN;
    CHECK_OK(satv_cache_write(path, 42, W, H, s));
    CHECK(satv_cache_read(path, 42, W, H, back) != 0, "a NaN entry hit");
    CHECK(strstr(as_error(), "non-finite"), "%s", as_error());
    unlink(path);
}

int main(void) {
    setenv("OMP_NUM_THREADS", "1", 0);
    snprintf(g_dir, sizeof g_dir, "/tmp/attsr_test_guard_XXXXXX");
    if (!mkdtemp(g_dir)) return 2;
    RUN(test_nonfinite_checkpoint_refused);
    RUN(test_divergence_stops);
    RUN(test_resume_shape_flags);
    RUN(test_satv_cache_nonfinite);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_summary();
}
