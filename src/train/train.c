// The training loop: batches -> forward -> L1 per branch -> backward -> GradNorm ->
// Adam; logs, validation with best-model tracking, and atomic checkpoints. A SIGINT or
// SIGTERM finishes the current step, saves, and returns.
#include "train/train.h"

#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "image/image.h"
#include "image/metrics.h"
#include "image/resize.h"
#include "model/safetensors.h"
#include "model/upscale.h"
#include "train/checkpoint.h"
#include "train/dataset.h"
#include "train/optim.h"
#include "model/evaluate.h"

void train_config_default(train_config *c) {
    memset(c, 0, sizeof *c);
    c->model = model_config_default();
    c->patch = 48;
    c->batch = 16;
    c->steps = 1000;
    c->lr = 1e-4;
    c->lr_gamma = 0.5;
    c->gradnorm = 1;
    c->gn_alpha = 1.5;
    c->gn_lr = 0.01;
    c->val_every = 500;
    c->ckpt_every = 100;
    c->log_every = 10;
}

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static double lr_at(const train_config *c, long step) {
    double lr = c->lr;
    for (int i = 0; i < c->n_milestones; i++)
        if (step >= c->milestones[i]) lr *= c->lr_gamma;
    return lr;
}

// ---- validation -------------------------------------------------------------------

// Mean Y-PSNR over the folder's images (SPEC section 2 protocol).
static int validate(const model *m, const char *dir, double *psnr) {
    int n;
    char hr[4096];
    char **list = image_list_folder(image_hr_folder(dir, hr, sizeof hr), &n);
    if (!list) return -1;
    if (!n) {
        image_free_list(list);
        return as_errorf("%s: no validation images", dir);
    }
    plan_cache cache = {0};
    double sum = 0;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        metrics mt;
        rc = evaluate_image(m, &cache, m->cfg.scale, list[i], &mt);
        sum += mt.psnr;
    }
    plan_cache_free(&cache);
    image_free_list(list);
    *psnr = sum / n;
    return rc;
}

// ---- run state ----------------------------------------------------------------------

typedef struct {
    const train_config *c;
    model m;
    float *grads, *adam_m, *adam_v;   // (n_floats) each
    adam opt;
    gradnorm gn;
    train_state st;
    dataset *data;
    model_plan *plan;
    float *s_hr, *t_hr, *d_s, *d_t;   // (b, ps, ps, 3)
    FILE *log;
    char path[4][4096];               // model, best, checkpoint, log
} run;

enum { P_MODEL, P_BEST, P_CKPT, P_LOG };

// Copies tensors that match by name and shape from a weights file (x4 from x2, say).
static int init_from(model *m, const char *path) {
    st_file f;
    if (st_read(&f, path)) return -1;
    int copied = 0;
    for (int i = 0; i < m->n_params; i++) {
        const st_tensor *t = st_find(&f, m->info[i].name);
        if (!t || t->numel != m->info[i].numel || t->ndim != m->info[i].ndim) continue;
        memcpy(m->w + m->info[i].offset, t->data, sizeof(float) * t->numel);
        copied++;
    }
    st_free(&f);
    fprintf(stderr, "train: %d of %d tensors initialised from %s\n", copied, m->n_params, path);
    return copied ? 0 : as_errorf("%s: no tensor matches this model's names and shapes", path);
}

// Keeps log lines up to `step` (a resumed run rewrites what came after its checkpoint).
static int open_log(run *r, long step) {
    const char *path = r->path[P_LOG];
    if (step > 0) {
        void *data;
        size_t n;
        if (as_read_file(path, &data, &n, (size_t)1 << 30) == 0) {
            char *s = data, *keep = s;
            for (char *line = s; line < s + n;) {
                char *nl = memchr(line, '\n', s + n - line);
                if (!nl) break;
                long st = -1;
                if (sscanf(line, "{\"step\":%ld", &st) == 1 && st > step) break;
                keep = nl + 1;
                line = nl + 1;
            }
            int rc = as_write_file_atomic(path, s, (size_t)(keep - s));
            free(data);
            if (rc) return -1;
        }
    }
    r->log = fopen(path, step > 0 ? "a" : "w");
    if (!r->log) return as_errorf("%s: cannot open the log", path);
    return 0;
}

// A run killed while writing leaves "<file>.tmp-XXXXXX" beside the intact old file;
// the next run removes them.
static void remove_stale_temps(const char *path) {
    char pattern[4200];
    glob_t g;
    snprintf(pattern, sizeof pattern, "%s.tmp-??????", path);
    if (glob(pattern, 0, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++) unlink(g.gl_pathv[i]);
    globfree(&g);
}

static int setup(run *r) {
    const train_config *c = r->c;
    if (as_mkdir_p(c->out_dir)) return -1;
    static const char *names[4] = {"model.safetensors", "best.safetensors", "checkpoint.safetensors", "log.jsonl"};
    for (int i = 0; i < 4; i++) {
        snprintf(r->path[i], sizeof r->path[i], "%s/%s", c->out_dir, names[i]);
        remove_stale_temps(r->path[i]);
    }
    if (c->resume && access(r->path[P_CKPT], R_OK) == 0) {
        if (checkpoint_load(r->path[P_CKPT], &r->m, &r->adam_m, &r->adam_v, &r->opt, &r->gn, &r->st)) return -1;
        if (r->st.seed != c->seed) return as_errorf("%s: the checkpoint was made with --seed %llu, not %llu",
                                                    r->path[P_CKPT], (unsigned long long)r->st.seed,
                                                    (unsigned long long)c->seed);
        fprintf(stderr, "train: resuming %s at step %ld\n", r->path[P_CKPT], r->st.step);
    } else {
        if (c->resume) fprintf(stderr, "train: no checkpoint in %s, starting afresh\n", c->out_dir);
        if (model_create(&r->m, &c->model)) return -1;
        model_init_params(&r->m, c->seed);
        if (c->init_from && init_from(&r->m, c->init_from)) return -1;
        r->adam_m = as_calloc(r->m.n_floats, sizeof(float));
        r->adam_v = as_calloc(r->m.n_floats, sizeof(float));
        if (!r->adam_m || !r->adam_v) return -1;
        adam_init(&r->opt, c->lr);
        gradnorm_init(&r->gn, c->gradnorm, c->gn_alpha, c->gn_lr);
        r->st = (train_state){.step = 0, .best_psnr = -1, .best_step = -1, .seed = c->seed};
    }
    if (c->val_dir) {  // fail now, not after an hour of training
        int n;
        char hr[4096];
        char **list = image_list_folder(image_hr_folder(c->val_dir, hr, sizeof hr), &n);
        image_free_list(list);
        if (!list) return -1;
        if (!n) return as_errorf("%s: no validation images", hr);
    }
    const model_config *mc = &r->m.cfg;
    char cache[4096];
    snprintf(cache, sizeof cache, "%s/.satv-cache", c->out_dir);
    dataset_config dc = {.dirs = c->data_dirs, .n_dirs = c->n_data, .scale = mc->scale, .patch = c->patch,
                         .batch = c->batch, .seed = c->seed, .cache_dir = c->cache_dir ? c->cache_dir : cache,
                         .satv_lambda = 2.5f, .satv_iters = 50, .rank = 0, .world = 1, .verbose = 1};
    if (!(r->data = dataset_open(&dc))) return -1;
    int b = dataset_local_batch(r->data), ps = c->patch * mc->scale;
    size_t hr = (size_t)b * ps * ps * 3;
    r->grads = as_calloc(r->m.n_floats, sizeof(float));
    r->s_hr = as_malloc_array(hr, sizeof(float));
    r->t_hr = as_malloc_array(hr, sizeof(float));
    r->d_s = as_malloc_array(hr, sizeof(float));
    r->d_t = as_malloc_array(hr, sizeof(float));
    if (!r->grads || !r->s_hr || !r->t_hr || !r->d_s || !r->d_t) return -1;
    if (!(r->plan = model_plan_create(&r->m, b, c->patch, c->patch, 1))) return -1;
    return open_log(r, r->st.step);
}

static void teardown(run *r) {
    model_plan_free(r->plan);
    dataset_close(r->data);
    if (r->log) fclose(r->log);
    free(r->grads);
    free(r->adam_m);
    free(r->adam_v);
    free(r->s_hr);
    free(r->t_hr);
    free(r->d_s);
    free(r->d_t);
    model_free(&r->m);
}

// model.safetensors first, then the checkpoint: a kill between the two resumes from
// the older checkpoint, which is consistent on its own.
static int save(run *r) {
    if (model_save(&r->m, r->path[P_MODEL])) return -1;
    if (checkpoint_save(r->path[P_CKPT], &r->m, r->adam_m, r->adam_v, &r->opt, &r->gn, &r->st)) return -1;
    fflush(r->log);
    return 0;
}

static void progress(const run *r, double loss, double t0, long start) {
    const train_config *c = r->c;
    long done = r->st.step - start, left = c->steps - r->st.step;
    double rate = done / fmax(1e-9, as_now() - t0), eta = left / fmax(1e-9, rate);
    if (c->progress_tty) {
        int width = 24, fill = (int)(width * r->st.step / c->steps);
        fprintf(stderr, "\rstep %ld/%ld [%.*s%*s] loss %.5f w_S %.3f w_T %.3f %.2f step/s ETA %02d:%02d:%02d ",
                r->st.step, c->steps, fill, "========================", width - fill, "", loss, r->gn.w[0],
                r->gn.w[1], rate, (int)(eta / 3600), (int)(eta / 60) % 60, (int)eta % 60);
    } else {
        fprintf(stderr, "step %ld/%ld loss %.5f w_S %.3f w_T %.3f %.2f step/s ETA %.0fs\n", r->st.step, c->steps,
                loss, r->gn.w[0], r->gn.w[1], rate, eta);
    }
}

int train_step(model *m, model_plan *p, float *grads, float *adam_m, float *adam_v, adam *opt,
               gradnorm *gn, const float *s_hr, const float *t_hr, float *d_s, float *d_t,
               double lr, double out[3]) {
    if (model_forward(p, m)) return -1;
    size_t n = model_plan_output_floats(p);
    double L[2], G[2], w[2] = {gn->w[0], gn->w[1]};
    L[0] = l1_loss(d_s, model_plan_output(p, 1), s_hr, n, (float)w[0]);
    L[1] = l1_loss(d_t, model_plan_output(p, 2), t_hr, n, (float)w[1]);
    if (model_backward(p, m, grads, d_s, d_t, G)) return -1;
    gradnorm_update(gn, L, G);
    opt->lr = lr;
    adam_step(opt, m->w, grads, adam_m, adam_v, m->n_floats);
    out[0] = w[0] * L[0] + w[1] * L[1];
    out[1] = L[0];
    out[2] = L[1];
    return 0;
}

// The run's step: this step's batch, then train_step, then the log line.
static int step(run *r, double out[3]) {
    if (dataset_batch(r->data, r->st.step, model_plan_input(r->plan), r->s_hr, r->t_hr)) return -1;
    if (train_step(&r->m, r->plan, r->grads, r->adam_m, r->adam_v, &r->opt, &r->gn, r->s_hr, r->t_hr, r->d_s,
                   r->d_t, lr_at(r->c, r->st.step), out))
        return -1;
    r->st.step++;
    fprintf(r->log, "{\"step\":%ld,\"loss\":%.7g,\"loss_s\":%.7g,\"loss_t\":%.7g,\"w_s\":%.7g,\"w_t\":%.7g,\"lr\":%.4g}\n",
            r->st.step, out[0], out[1], out[2], r->gn.w[0], r->gn.w[1], r->opt.lr);
    return 0;
}

static int maybe_validate(run *r) {
    const train_config *c = r->c;
    if (!c->val_dir || !c->val_every || (r->st.step % c->val_every && r->st.step != c->steps)) return 0;
    double psnr = 0;
    if (validate(&r->m, c->val_dir, &psnr)) return -1;
    int best = psnr > r->st.best_psnr;
    if (best) {
        r->st.best_psnr = psnr;
        r->st.best_step = r->st.step;
        if (model_save(&r->m, r->path[P_BEST])) return -1;
    }
    fprintf(r->log, "{\"step\":%ld,\"val_psnr\":%.4f,\"best\":%s}\n", r->st.step, psnr, best ? "true" : "false");
    fflush(r->log);
    fprintf(stderr, "%sstep %ld: validation PSNR %.3f dB%s\n", c->progress_tty ? "\n" : "", r->st.step, psnr,
            best ? " (best)" : "");
    return 0;
}

int train_run(const train_config *c) {
    run r = {.c = c};
    g_stop = 0;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = setup(&r);
    long start = r.st.step;
    double t0 = as_now(), loss[3] = {0};
    while (!rc && r.st.step < c->steps && !g_stop) {
        rc = step(&r, loss);
        if (!rc && (r.st.step % c->log_every == 0 || r.st.step == c->steps)) progress(&r, loss[0], t0, start);
        if (!rc) rc = maybe_validate(&r);
        if (!rc && (r.st.step % c->ckpt_every == 0 || r.st.step == c->steps || g_stop)) rc = save(&r);
    }
    if (c->progress_tty) fputc('\n', stderr);
    if (!rc && g_stop) fprintf(stderr, "train: interrupted at step %ld; saved; continue with --resume\n", r.st.step);
    if (!rc && r.st.best_step >= 0)
        fprintf(stderr, "train: best validation PSNR %.3f dB at step %ld\n", r.st.best_psnr, r.st.best_step);
    int interrupted = g_stop;
    teardown(&r);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (!rc && interrupted) return 1;
    return rc;
}
