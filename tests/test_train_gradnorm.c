// GradNorm's warm-up (train --gradnorm-warmup K) against its definition: weights fixed
// at 1 for steps < 2K, L_i(0) the mean of each loss over steps K..2K-1, then GradNorm
// (docs/spec.md section 6) from a reference written here from the formulas; K = 0 is
// GradNorm as before. A run with the warm-up resumed at every step ends bit-identical to
// an uninterrupted one; its checkpoint holds the warm-up's fields (and checks them), a
// run without one writes none of them.
#include "core/core.h"
#include "model/safetensors.h"
#include "test.h"
#include "train/checkpoint.h"
#include "train/optim.h"
#include "train/train.h"

#define K 3
#define ALPHA 1.5
#define LR_W 0.01

// One GradNorm step from docs/spec.md section 6: norm[i] = ||dL_i/dW||, G_i = w_i norm[i].
static void reference_step(double w[2], const double L0[2], const double L[2], const double norm[2]) {
    double G[2] = {w[0] * norm[0], w[1] * norm[1]}, Gbar = (G[0] + G[1]) / 2;
    double q[2] = {L[0] / L0[0], L[1] / L0[1]}, qbar = (q[0] + q[1]) / 2;
    for (int i = 0; i < 2; i++) {
        double target = Gbar * pow(q[i] / qbar, ALPHA);
        double dw = (G[i] > target ? 1 : G[i] < target ? -1 : 0) * norm[i];
        w[i] = fmax(1e-3, w[i] - LR_W * dw);
    }
    double sum = w[0] + w[1];
    w[0] *= 2 / sum, w[1] *= 2 / sum;
}

// Losses and gradient norms that differ from step to step, the texture's falling slower.
static void losses_at(long step, double L[2], double norm[2]) {
    L[0] = 0.5 / (1 + 0.3 * step) + 0.01 * (step % 3);
    L[1] = 0.2 / (1 + 0.05 * step) + 0.004 * (step % 2);
    norm[0] = 1.0 + 0.1 * (step % 4), norm[1] = 0.7 + 0.05 * (step % 5);
}

static void test_warmup_definition(void) {
    gradnorm g;
    gradnorm_init(&g, 1, ALPHA, LR_W);
    g.warmup = K;
    double sum[2] = {0, 0}, L0[2], w[2] = {1, 1};
    for (long step = 0; step < 2 * K + 6; step++) {
        double L[2], norm[2];
        losses_at(step, L, norm);
        double G[2] = {g.w[0] * norm[0], g.w[1] * norm[1]};
        gradnorm_update(&g, step, L, G);
        if (step < 2 * K) {
            if (step >= K) sum[0] += L[0], sum[1] += L[1];
            CHECK(g.w[0] == 1 && g.w[1] == 1, "step %ld, inside the warm-up: w %g %g", step, g.w[0], g.w[1]);
            CHECK(g.has_L0 == (step == 2 * K - 1), "step %ld: has_L0 %d", step, g.has_L0);
            if (step == 2 * K - 1) {
                L0[0] = sum[0] / K, L0[1] = sum[1] / K;
                CHECK(fabs(g.L0[0] - L0[0]) <= 1e-15 * L0[0] && fabs(g.L0[1] - L0[1]) <= 1e-15 * L0[1],
                      "L_i(0) %.17g %.17g, the mean of steps K..2K-1 is %.17g %.17g", g.L0[0], g.L0[1], L0[0], L0[1]);
            }
            continue;
        }
        reference_step(w, L0, L, norm);
        CHECK(fabs(g.w[0] - w[0]) <= 1e-12 && fabs(g.w[1] - w[1]) <= 1e-12, "step %ld: w %.15g %.15g, want %.15g %.15g",
              step, g.w[0], g.w[1], w[0], w[1]);
    }
    CHECK(fabs(w[0] - 1) > 0.01, "the reference never moved the weights (w_S %g): the test proves nothing", w[0]);

    // K = 0: L_i(0) is step 0's loss and GradNorm moves the weights from step 0 on
    gradnorm_init(&g, 1, ALPHA, LR_W);
    double L[2], norm[2], w0[2] = {1, 1};
    losses_at(0, L0, norm);
    for (long step = 0; step < 6; step++) {
        losses_at(step, L, norm);
        double G[2] = {g.w[0] * norm[0], g.w[1] * norm[1]};
        gradnorm_update(&g, step, L, G);
        reference_step(w0, L0, L, norm);
        CHECK(fabs(g.w[0] - w0[0]) <= 1e-12 && fabs(g.w[1] - w0[1]) <= 1e-12,
              "no warm-up, step %ld: w %.15g %.15g, "
              "want %.15g %.15g",
              step, g.w[0], g.w[1], w0[0], w0[1]);
    }
    CHECK(g.L0[0] == L0[0] && g.L0[1] == L0[1], "no warm-up: L_i(0) is not step 0's loss");
}

// ---- a run --------------------------------------------------------------------------

static char g_dir[256];

static void config(train_config *c, const char *run, long steps, long warmup) {
    static const char *data[] = {"samples"};
    static char out[512], cache[512];
    train_config_default(c);
    c->model.scale = 2, c->model.feats = 8, c->model.fe_groups = 1, c->model.groups = 1, c->model.blocks = 1;
    c->model.attention = ATT_CA;
    c->data_dirs = data, c->n_data = 1, c->patch = 16, c->batch = 2, c->steps = steps, c->lr = 1e-3;
    c->seed = 4, c->resume = 1, c->val_dir = NULL, c->ckpt_every = 1, c->log_every = 1000;
    c->gn_warmup = warmup;
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

// The log's losses and weights of steps 1..n (the step's number counts it as done).
static void read_log(const char *run, int n, double (*L)[2], double (*w)[2]) {
    char path[600], line[512];
    path_of(path, sizeof path, run, "log.jsonl");
    FILE *f = fopen(path, "r");
    CHECK(f, "%s: missing", path);
    int got = 0;
    while (f && fgets(line, sizeof line, f)) {
        long step;
        double loss, ls, lt, ws, wt;
        if (sscanf(line, "{\"step\":%ld,\"loss\":%lf,\"loss_s\":%lf,\"loss_t\":%lf,\"w_s\":%lf,\"w_t\":%lf", &step,
                   &loss, &ls, &lt, &ws, &wt) != 6 ||
            step < 1 || step > n)
            continue;
        L[step - 1][0] = ls, L[step - 1][1] = lt, w[step - 1][0] = ws, w[step - 1][1] = wt;
        got++;
    }
    if (f) fclose(f);
    CHECK(got == n, "%s: %d loss lines, want %d", path, got, n);
}

#define RUN_STEPS 9
#define RUN_K 2

static void test_warmup_run_resumed(void) {
    train_config c;
    config(&c, "straight", RUN_STEPS, RUN_K);
    CHECK(train_run(&c) == 0, "%s", as_error());
    for (long k = 1; k <= RUN_STEPS; k++) {
        config(&c, "resumed", k, RUN_K);
        CHECK(train_run(&c) == 0, "resumed run to step %ld: %s", k, as_error());
    }
    char a[600], b[600];
    path_of(a, sizeof a, "straight", "checkpoint.safetensors");
    path_of(b, sizeof b, "resumed", "checkpoint.safetensors");
    size_t na, nb;
    void *da = slurp(a, &na), *db = slurp(b, &nb);
    CHECK(na == nb && !memcmp(da, db, na), "the run resumed at every step differs from the uninterrupted one");
    free(da), free(db);

    // the log against the definition: w = 1 through step 2K, moving after it
    double L[RUN_STEPS][2], w[RUN_STEPS][2];
    read_log("straight", RUN_STEPS, L, w);
    for (int s = 0; s < 2 * RUN_K; s++) CHECK(w[s][0] == 1 && w[s][1] == 1, "step %d: w %g %g", s, w[s][0], w[s][1]);
    CHECK(w[2 * RUN_K][0] != 1, "GradNorm did not start after the warm-up: w_S %g", w[2 * RUN_K][0]);
    trainer t;
    CHECK_OK(checkpoint_load(a, &t));
    for (int i = 0; i < 2; i++) {
        double mean = 0;
        for (int s = RUN_K; s < 2 * RUN_K; s++) mean += L[s][i] / RUN_K;
        CHECK(fabs(t.gn.L0[i] - mean) <= 1e-6 * mean, "L_%d(0) %.9g, the logged mean of steps K..2K-1 %.9g", i,
              t.gn.L0[i], mean);
    }
    CHECK(t.gn.warmup == RUN_K && t.gn.has_L0, "warm-up %ld, has_L0 %d", t.gn.warmup, t.gn.has_L0);
    trainer_free(&t);
}

// The checkpoint's warm-up fields: there only with a warm-up, checked at load.
static void test_warmup_checkpoint_fields(void) {
    train_config c;
    config(&c, "plain", 2, 0);
    CHECK(train_run(&c) == 0, "%s", as_error());
    char path[600];
    path_of(path, sizeof path, "plain", "checkpoint.safetensors");
    st_file f;
    CHECK_OK(st_read(&f, path));
    CHECK(!st_meta(&f, "gn_warmup") && !st_meta(&f, "gn_L_sum"), "a run without a warm-up wrote its fields");
    st_free(&f);

    path_of(path, sizeof path, "straight", "checkpoint.safetensors");
    CHECK_OK(st_read(&f, path));
    CHECK(st_meta(&f, "gn_warmup") && st_meta(&f, "gn_L_sum"), "the warm-up's fields are missing");
    static const char *bad[][3] = {{"gn_warmup", "0", "out of range"},     {"gn_warmup", "-2", "out of range"},
                                   {"gn_warmup", "x", "is not a number"},  {"gn_L_sum", "nan 1", "not a finite"},
                                   {"gn_L_sum", "0.5", "is not a number"}, {"gn_L_sum", NULL, "'gn_L_sum' is missing"}};
    st_out_tensor t[4];
    for (int i = 0; i < f.n; i++)
        t[i] = (st_out_tensor){f.tensors[i].name, f.tensors[i].ndim, f.tensors[i].shape, f.tensors[i].data};
    char damaged[600];
    path_of(damaged, sizeof damaged, "straight", "damaged.safetensors");
    for (int k = 0; k < 6; k++) {
        const char *keys[40], *vals[40];
        int n = 0;
        for (int i = 0; i < f.n_meta && n < 40; i++) {
            int hit = !strcmp(f.meta_keys[i], bad[k][0]);
            if (hit && !bad[k][1]) continue;  // dropped
            keys[n] = f.meta_keys[i], vals[n++] = hit ? bad[k][1] : f.meta_values[i];
        }
        CHECK_OK(st_write(damaged, t, f.n, keys, vals, n));
        trainer tr;
        CHECK(checkpoint_load(damaged, &tr) != 0, "%s = %s accepted", bad[k][0], bad[k][1] ? bad[k][1] : "(none)");
        CHECK(strstr(as_error(), bad[k][2]), "%s = %s: '%s' lacks '%s'", bad[k][0], bad[k][1], as_error(), bad[k][2]);
    }
    st_free(&f);
}

int main(void) {
    setenv("OMP_NUM_THREADS", "1", 0);
    RUN(test_warmup_definition);
    snprintf(g_dir, sizeof g_dir, "/tmp/attsr_test_gn_XXXXXX");
    if (!mkdtemp(g_dir)) return 2;
    RUN(test_warmup_run_resumed);
    RUN(test_warmup_checkpoint_fields);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    return test_summary();
}
