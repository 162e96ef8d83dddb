// Training against PyTorch (tools/fixtures_train.py): 10 steps of L1 + GradNorm + Adam
// on a fixed batch for each attention kind — losses, task weights, final weights.
// Plus the pieces on their own: L1's gradient, Adam against its closed form, GradNorm's
// invariants, the learning-rate schedules at points their definitions pin.
#include "core/core.h"
#include "model/safetensors.h"
#include "test.h"
#include "fixture_st.h"
#include "step_state.h"
#include "train/optim.h"
#include "train/train.h"

#define FIX "tests/fixtures/train/"

static void run_kind(const char *att) {
    model m;
    st_file io;
    load_case(FIX, att, "steps", &m, &io);
    const st_tensor *in = need(&io, "input"), *s_hr = need(&io, "s_hr"), *t_hr = need(&io, "t_hr");
    const float *losses = need(&io, "losses")->data, *weights = need(&io, "task_weights")->data;
    model_plan *p = model_plan_create(&m, (int)in->shape[0], (int)in->shape[1], (int)in->shape[2], MODEL_TRAIN);
    CHECK(p, "%s", as_error());
    step_state st;
    step_state_init(&st, &m, s_hr->numel, 2e-4);
    for (int k = 0; k < 10; k++) {
        double out[3];
        CHECK_OK(model_plan_set_input(p, in->data));
        CHECK_OK(train_step(&st.t, NULL, p, s_hr->data, t_hr->data, st.d_s, st.d_t, 2e-4, out));
        for (int j = 0; j < 3; j++)
            CHECK(fabs(out[j] - losses[3 * k + j]) <= 1e-4 * fabs(losses[3 * k + j]),
                  "%s step %d loss %d: %.8g vs PyTorch %.8g", att, k, j, out[j], losses[3 * k + j]);
        for (int j = 0; j < 2; j++)
            CHECK(fabs(st.t.gn.w[j] - weights[2 * k + j]) <= 1e-4 * weights[2 * k + j],
                  "%s step %d w_%d: %.8g vs PyTorch %.8g", att, k, j, st.t.gn.w[j], weights[2 * k + j]);
    }
    for (int i = 0; i < m.n_params; i++) {
        char name[160];
        snprintf(name, sizeof name, "final.%s", m.info[i].name);
        const st_tensor *ref = need(&io, name);
        double e = test_max_rel(m.w + m.info[i].offset, ref->data, ref->numel);
        // Adam divides by sqrt(v): a near-zero gradient's fp32 noise moves its weight by a
        // fraction of one step (lr = 2e-4), hence a looser bound than the losses'
        CHECK(e <= 1e-3, "%s %s after 10 steps: max error %.3g of its scale", att, name, e);
    }
    step_state_free(&st);
    model_plan_free(p);
    st_free(&io);
    model_free(&m);
}

static void test_ten_steps_match_pytorch(void) {
    static const char *kinds[] = {"none", "ca", "sa1", "sa4", "ca-avgmax"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) run_kind(kinds[i]);
}

static void test_l1_gradient(void) {
    float pred[5] = {1, -2, 0.5f, 3, 7}, target[5] = {0, -2, 1, 3.5f, -1}, d[5];
    double L = l1_loss(d, pred, target, 5, 2.0f);
    CHECK(fabs(L - (1 + 0 + 0.5 + 0.5 + 8) / 5.0) < 1e-12, "L = %g", L);
    float want[5] = {0.4f, 0, -0.4f, -0.4f, 0.4f};  // 2 * sign / 5, sign(0) = 0
    for (int i = 0; i < 5; i++) CHECK(d[i] == want[i], "d[%d] = %g", i, d[i]);
}

// Adam's first step moves every weight by lr * sign(g) (bias correction makes m/sqrt(v) = ±1).
static void test_adam_first_step(void) {
    float w[3] = {1, 1, 1}, g[3] = {0.5f, -3, 1e-3f}, m[3] = {0}, v[3] = {0};
    adam a;
    adam_init(&a, 0.1);
    adam_step(&a, w, g, m, v, 3);
    CHECK(fabsf(w[0] - 0.9f) < 1e-6f && fabsf(w[1] - 1.1f) < 1e-6f && fabsf(w[2] - 0.9f) < 1e-4f, "w = %g %g %g", w[0],
          w[1], w[2]);
}

// GradNorm keeps sum w = 2 and w >= floor; off keeps w = 1; a task whose loss falls
// slower (larger ratio) gains weight when the gradient norms are equal.
static void test_gradnorm_invariants(void) {
    gradnorm g;
    gradnorm_init(&g, 1, 1.5, 0.01);
    double L0[2] = {1, 1}, G[2] = {1, 1};
    gradnorm_update(&g, 0, L0, G);
    for (int k = 0; k < 20; k++) {
        double L[2] = {0.5, 0.9};
        double Gk[2] = {g.w[0], g.w[1]};  // ||dL_i/dW|| = 1
        gradnorm_update(&g, k + 1, L, Gk);
        CHECK(fabs(g.w[0] + g.w[1] - 2) < 1e-12 && g.w[0] >= g.floor && g.w[1] >= g.floor, "w %g %g", g.w[0], g.w[1]);
    }
    // targets 0.6 and 1.46 (Gbar = 1, r = 0.71, 1.29): 20 steps of 0.01 each way
    CHECK(fabs(g.w[0] - 0.8) < 1e-9 && fabs(g.w[1] - 1.2) < 1e-9, "the slower task should gain weight: w %g %g", g.w[0],
          g.w[1]);
    gradnorm_init(&g, 0, 1.5, 0.5);
    double L[2] = {0.5, 0.9};
    gradnorm_update(&g, 0, L0, G);
    gradnorm_update(&g, 1, L, G);
    CHECK(g.w[0] == 1 && g.w[1] == 1, "off must keep w = 1");
}

// The schedules at points where their definitions give exact values: milestones
// multiply by gamma from their step on; cosine (torch's CosineAnnealingLR, T_max =
// steps) starts at lr, passes (lr + min) / 2 at half way, lr_min + (lr - lr_min) / 4 at
// two thirds (cos(2 pi / 3) = -1/2), ends at lr_min; the warm-up ramp is (step + 1) / N.
static void test_lr_schedules(void) {
    train_config c;
    train_config_default(&c);
    c.lr = 1e-3, c.steps = 600, c.n_milestones = 2, c.milestones[0] = 100, c.milestones[1] = 400;
    struct {
        long step;
        double want;
    } step_cases[] = {{0, 1e-3}, {99, 1e-3}, {100, 5e-4}, {399, 5e-4}, {400, 2.5e-4}, {599, 2.5e-4}};
    for (int i = 0; i < 6; i++) {
        double got = train_lr_at(&c, step_cases[i].step);
        CHECK(fabs(got - step_cases[i].want) < 1e-15, "milestones, step %ld: %g, want %g", step_cases[i].step, got,
              step_cases[i].want);
    }
    c.n_milestones = 0, c.lr_cosine = 1, c.lr_min = 1e-5;
    struct {
        long step;
        double want;
    } cos_cases[] = {{0, 1e-3}, {300, (1e-3 + 1e-5) / 2}, {400, 1e-5 + (1e-3 - 1e-5) / 4}, {600, 1e-5}};
    double prev = INFINITY;
    for (int i = 0; i < 4; i++) {
        double got = train_lr_at(&c, cos_cases[i].step);
        CHECK(fabs(got - cos_cases[i].want) < 1e-15, "cosine, step %ld: %.17g, want %.17g", cos_cases[i].step, got,
              cos_cases[i].want);
    }
    for (long t = 0; t < c.steps; t++) {
        double got = train_lr_at(&c, t);
        CHECK(got <= prev && got >= c.lr_min, "cosine not falling from lr to lr_min at step %ld: %g", t, got);
        prev = got;
    }
    c.warmup = 50;
    CHECK(fabs(train_lr_at(&c, 0) - 1e-3 / 50) < 1e-15, "cosine warm-up, step 0: %g", train_lr_at(&c, 0));
    c.lr_cosine = 0;
    struct {
        long step;
        double want;
    } warm_cases[] = {{0, 1e-3 / 50}, {24, 5e-4}, {49, 1e-3}, {50, 1e-3}};
    for (int i = 0; i < 4; i++) {
        double got = train_lr_at(&c, warm_cases[i].step);
        CHECK(fabs(got - warm_cases[i].want) < 1e-15, "warm-up, step %ld: %g, want %g", warm_cases[i].step, got,
              warm_cases[i].want);
    }
}

int main(void) {
    RUN(test_lr_schedules);
    RUN(test_l1_gradient);
    RUN(test_adam_first_step);
    RUN(test_gradnorm_invariants);
    RUN(test_ten_steps_match_pytorch);
    return test_summary();
}
