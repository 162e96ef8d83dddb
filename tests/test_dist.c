// The seam between backward and data-parallel training: the backward hooks report
// every parameter exactly once and only when its gradient is final, hand over the
// per-branch fe.tail gradients GradNorm's norms come from, and change nothing; a
// world of one (no mpirun) trains bit-identically to train_step without one. Two real ranks are
// tests/cli_mpi.sh's.
#include "core/core.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "test.h"
#include "fixture_st.h"
#include "step_state.h"
#include "train/dist.h"
#include "train/train.h"

#define FIX "tests/fixtures/model/"

// Every topology the model fixtures cover: scales, attention kinds, no fe groups, no blocks.
static const char *CASES[] = {"x2_none",    "x2_ca",           "x3_sa1",    "x4_sa4",      "x4_ca",
                              "x2_ca_nofe", "x3_sa4_noblocks", "x4_ca_sa4", "x2_ca_avgmax"};

typedef struct {
    const model *m;
    const float *grads;  // the gradients backward is writing
    float *snap;         // (n_floats) each range's gradients as they were when reported
    int *seen;           // (n_params) times each parameter was reported
    float *split;        // (2, n) the per-branch fe.tail.weight gradients
    size_t split_n;
    int calls, split_calls;
} recorder;

static void on_ready(void *ctx, int first, int last) {
    recorder *r = ctx;
    size_t a = r->m->info[first].offset, b = last < r->m->n_params ? r->m->info[last].offset : r->m->n_floats;
    memcpy(r->snap + a, r->grads + a, sizeof(float) * (b - a));
    for (int i = first; i < last; i++) r->seen[i]++;
    r->calls++;
}

static void on_split(void *ctx, const float *const dw[2], size_t n) {
    recorder *r = ctx;
    r->split = malloc(2 * n * sizeof(float));
    memcpy(r->split, dw[0], n * sizeof(float));
    memcpy(r->split + n, dw[1], n * sizeof(float));
    r->split_n = n;
    r->split_calls++;
}

static void hooks_case(const char *cs) {
    model m;
    st_file io;
    load_case(FIX, cs, "io", &m, &io);
    const st_tensor *in = need(&io, "input");
    model_plan *p = model_plan_create(&m, (int)in->shape[0], (int)in->shape[1], (int)in->shape[2], MODEL_TRAIN);
    CHECK(p, "%s", as_error());
    CHECK_OK(model_plan_set_input(p, in->data));
    CHECK_OK(model_forward(p, &m));
    const float *g_s = need(&io, "g_s")->data, *g_t = need(&io, "g_t")->data;
    float *plain = calloc(m.n_floats, 4), *hooked = calloc(m.n_floats, 4);
    recorder r = {.m = &m, .grads = hooked, .snap = calloc(m.n_floats, 4), .seen = calloc(m.n_params, sizeof(int))};
    double n0[2], n1[2];
    CHECK_OK(model_backward(p, &m, plain, g_s, g_t, n0, NULL));
    model_backward_hooks h = {.ctx = &r, .ready = on_ready, .fe_tail_split = on_split};
    CHECK_OK(model_backward(p, &m, hooked, g_s, g_t, n1, &h));

    CHECK(!memcmp(plain, hooked, sizeof(float) * m.n_floats) && n0[0] == n1[0] && n0[1] == n1[1],
          "%s: hooks changed the results", cs);
    for (int i = 0; i < m.n_params; i++)
        CHECK(r.seen[i] == 1, "%s: %s reported %d times", cs, m.info[i].name, r.seen[i]);
    CHECK(!memcmp(r.snap, hooked, sizeof(float) * m.n_floats), "%s: a gradient changed after it was reported", cs);
    const param_info *ft = &m.info[m.fe_tail];
    CHECK(r.split_calls == 1 && r.split_n == ft->numel, "%s: %d split calls of %zu floats", cs, r.split_calls,
          r.split_n);
    for (size_t k = 0; k < r.split_n; k++)
        CHECK(r.split[k] + r.split[r.split_n + k] == hooked[ft->offset + k], "%s: fe.tail split does not sum", cs);
    for (int b = 0; b < 2; b++)
        CHECK(sqrt(as_sum_sq(r.split + b * r.split_n, r.split_n)) == n1[b], "%s: branch %d norm", cs, b);
    free(plain), free(hooked), free(r.snap), free(r.seen), free(r.split);
    model_plan_free(p);
    st_free(&io);
    model_free(&m);
}

static void test_backward_hooks(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) hooks_case(CASES[i]);
}

// Without a launcher, dist is a world of one and train_step with it is train_step without.
static void test_world_of_one(void) {
    unsetenv("OMPI_COMM_WORLD_SIZE");
    unsetenv("PMI_SIZE");
    unsetenv("MV2_COMM_WORLD_SIZE");
    dist *d = dist_open();
    CHECK(d, "%s", as_error());
    CHECK(dist_rank(d) == 0 && dist_world(d) == 1, "rank %d of %d", dist_rank(d), dist_world(d));
    dist_set_batch(d, 3, 3);
    CHECK(dist_share(d) == 1.0, "share %g", dist_share(d));
    int any = 0;
    double x[2] = {1.5, 2.5};
    CHECK_OK(dist_any(d, 1, &any));
    CHECK_OK(dist_sum(d, x, 2));
    CHECK_OK(dist_check_same(d, x, sizeof x, "x"));
    CHECK(any == 1 && x[0] == 1.5 && x[1] == 2.5, "collectives of one rank changed their input");

    model m[2];
    st_file io;
    CHECK_OK(st_read(&io, FIX "x2_ca.io.safetensors"));
    const st_tensor *in = need(&io, "input");
    const float *hr = need(&io, "s")->data;  // any target of the output's shape
    int N = (int)in->shape[0], H = (int)in->shape[1], W = (int)in->shape[2];
    size_t out_n = need(&io, "s")->numel;
    for (int k = 0; k < 2; k++) {
        CHECK_OK(model_load(&m[k], FIX "x2_ca.weights.safetensors"));
        model_plan *p = model_plan_create(&m[k], N, H, W, MODEL_TRAIN);
        CHECK(p, "%s", as_error());
        step_state st;
        step_state_init(&st, &m[k], out_n, 1e-3);
        for (int s = 0; s < 3; s++) {
            double out[3];
            CHECK_OK(model_plan_set_input(p, in->data));
            CHECK_OK(train_step(&st.t, k == 0 ? NULL : d, p, hr, hr, st.d_s, st.d_t, 1e-3, out));
        }
        step_state_free(&st);
        model_plan_free(p);
    }
    CHECK(!memcmp(m[0].w, m[1].w, sizeof(float) * m[0].n_floats),
          "train_step with a world of one differs from train_step alone");
    CHECK(dist_get_stats(d).steps == 0, "a world of one counted reductions");
    model_free(&m[0]);
    model_free(&m[1]);
    st_free(&io);
    dist_close(d);
}

int main(void) {
    RUN(test_backward_hooks);
    RUN(test_world_of_one);
    return test_summary();
}
