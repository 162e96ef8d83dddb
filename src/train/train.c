// The training loop: batches -> forward -> L1 per branch -> backward -> GradNorm ->
// Adam; logs, validation with best-model tracking, and atomic checkpoints. A SIGINT or
// SIGTERM finishes the current step, saves, and returns. Under mpirun the ranks share
// each batch (dist.h): rank 0 holds the run folder and sends the others its state.
#include "train/train.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
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
#include "train/dist.h"
#include "train/optim.h"
#include "train/satv.h"
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

// Cosine is torch's CosineAnnealingLR with T_max = steps (BasicSR's
// CosineAnnealingRestartLR with one period); the warm-up scales whichever schedule runs.
double train_lr_at(const train_config *c, long step) {
    double lr = c->lr;
    if (c->lr_cosine)
        lr = c->lr_min + (c->lr - c->lr_min) * 0.5 * (1 + cos(M_PI * (double)AS_MIN(step, c->steps) / c->steps));
    else
        for (int i = 0; i < c->n_milestones; i++)
            if (step >= c->milestones[i]) lr *= c->lr_gamma;
    if (step < c->warmup) lr *= (double)(step + 1) / c->warmup;
    return lr;
}

// ---- validation -------------------------------------------------------------------

static int validate_fp32(const model *m, const char *dir, double *psnr) {
    plan_cache cache = {0};
    evaluate_means mean;
    int rc = evaluate_folder(dir, &(evaluate_folder_options){.m = m, .cache = &cache, .scale = m->cfg.scale}, &mean);
    plan_cache_free(&cache);
    *psnr = mean.psnr;
    return rc;
}

// Mean Y-PSNR over the folder's images (docs/spec.md §2 protocol), in fp32 whatever
// precision the training plans use, so it is the score `attsr eval` gives the file.
static int validate(const model *m, const char *dir, double *psnr) {
    conv_precision train_precision = conv_get_precision();
    if (conv_set_precision(CONV_FP32)) return -1;
    int rc = validate_fp32(m, dir, psnr);
    conv_set_precision(train_precision);  // accepted before, so accepted again
    return rc;
}

// ---- run state ----------------------------------------------------------------------

typedef struct {
    const train_config *c;
    dist *dist;  // the ranks of a data-parallel run (a world of one alone)
    int root;    // rank 0: the one that writes the run folder and logs
    trainer t;   // the state; its moving average on rank 0 alone
    dataset *data;
    model_plan *plan;
    float *lr, *host_s, *host_t;     // the batch as the dataset writes it: (b, p, p, 3), (b, ps, ps, 3) x 2
    float *s_hr, *t_hr, *d_s, *d_t;  // (b, ps, ps, 3) on the plan's device: the targets, the losses' gradients
    FILE *log;                       // rank 0 only
    char path[4][4096];              // model, best, checkpoint, log
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
    int fd = as_open_regular(path, O_WRONLY | O_CREAT | (step > 0 ? O_APPEND : O_TRUNC));  // a FIFO would block
    if (fd < 0) return -1;
    if (!(r->log = fdopen(fd, step > 0 ? "a" : "w"))) {
        close(fd);
        return as_errorf("%s: cannot open the log", path);
    }
    return 0;
}

// Is NAME (n characters) one of the files the run writes?
static int is_run_file(const char *name, size_t n, void *ctx) {
    const run *r = ctx;
    for (int i = 0; i < 4; i++) {
        const char *own = strrchr(r->path[i], '/') + 1;
        if (strlen(own) == n && !strncmp(name, own, n)) return 1;
    }
    return 0;
}

// A resume continues the checkpoint's model: a shape flag that says otherwise is an
// error, not silently ignored (as a changed seed is).
static int check_given_shape(const train_config *c, const model_config *ck, const char *path) {
    static const char *flag[7] = {"--scale",  "--feats",     "--fe-groups",   "--groups",
                                  "--blocks", "--attention", "--ca-reduction"};
    const model_config *u = &c->model;
    int have[7] = {ck->scale, ck->feats, ck->fe_groups, ck->groups, ck->blocks, ck->attention, ck->ca_reduction};
    int want[7] = {u->scale, u->feats, u->fe_groups, u->groups, u->blocks, u->attention, u->ca_reduction};
    for (int i = 0; i < 7; i++) {
        if (!(c->model_given & (1u << i)) || have[i] == want[i]) continue;
        char h[16], w[16];
        if (i == 5)
            snprintf(h, sizeof h, "%s", attention_name(ck->attention)),
                snprintf(w, sizeof w, "%s", attention_name(u->attention));
        else
            snprintf(h, sizeof h, "%d", have[i]), snprintf(w, sizeof w, "%d", want[i]);
        return as_errorf("%s: the checkpoint's model has %s %s, not %s (a resume keeps the checkpoint's shape: "
                         "leave the flag out, or start a new run)",
                         path, flag[i], h, w);
    }
    return 0;
}

// Rank 0: the run's state from its checkpoint when resuming, else a fresh model.
static int load_or_init(run *r) {
    const train_config *c = r->c;
    if (as_mkdir_p(c->out_dir)) return -1;
    // a run killed while writing leaves the temp file of that write; the next start removes it
    as_outfile_remove_stale(c->out_dir, is_run_file, r, 0);
    trainer *t = &r->t;
    if (c->resume && access(r->path[P_CKPT], R_OK) == 0) {
        if (checkpoint_load(r->path[P_CKPT], t)) return -1;
        if (t->st.seed != c->seed)
            return as_errorf("%s: the checkpoint was made with --seed %llu, not %llu", r->path[P_CKPT],
                             (unsigned long long)t->st.seed, (unsigned long long)c->seed);
        if (check_given_shape(c, &t->m.cfg, r->path[P_CKPT])) return -1;
        fprintf(stderr, "train: resuming %s at step %ld\n", r->path[P_CKPT], t->st.step);
    } else {
        if (c->resume) fprintf(stderr, "train: no checkpoint in %s, starting afresh\n", c->out_dir);
        if (model_create(&t->m, &c->model)) return -1;
        model_init_params(&t->m, c->seed);
        if (c->init_from && init_from(&t->m, c->init_from)) return -1;
        if (trainer_alloc(t)) return -1;
        adam_init(&t->opt, c->lr);
        gradnorm_init(&t->gn, c->gradnorm, c->gn_alpha, c->gn_lr);
        t->gn.warmup = c->gn_warmup;
        t->st = (train_state){.step = 0, .best_psnr = -1, .best_step = -1, .seed = c->seed};
    }
    t->ema_decay = c->ema;
    if (c->ema && !t->ema) {  // starts as the weights, as BasicSR's model_ema(0)
        if (c->resume && t->st.step) fprintf(stderr, "train: the checkpoint has no weight average; it starts here\n");
        if (!(t->ema = as_malloc_array(t->m.n_floats, sizeof(float)))) return -1;
        memcpy(t->ema, t->m.w, sizeof(float) * t->m.n_floats);
    } else if (!c->ema && t->ema) {
        fprintf(stderr, "train: the checkpoint's weight average is dropped (no --ema)\n");
        free(t->ema);
        t->ema = NULL;
    }
    // fail now, not after an hour of training
    if (c->val_dir && evaluate_check_folder(c->val_dir, t->m.cfg.scale)) return as_errorf("--val: %s", as_error());
    return 0;
}

// Rank 0's trainer to the other ranks, so that only rank 0 reads (and writes) the run
// folder: it need not be shared between hosts. The structs go as bytes: every rank
// runs the same build. The moving average stays on rank 0, which alone saves it.
static int share_state(dist *d, int root, trainer *t) {
    model_config cfg = t->m.cfg;
    if (dist_bcast(d, &cfg, sizeof cfg)) return -1;
    if (!root && (model_create(&t->m, &cfg) || trainer_alloc(t))) return -1;
    size_t bytes = sizeof(float) * t->m.n_floats;
    return dist_bcast(d, t->m.w, bytes) || dist_bcast(d, t->adam_m, bytes) || dist_bcast(d, t->adam_v, bytes) ||
           dist_bcast(d, &t->opt, sizeof t->opt) || dist_bcast(d, &t->gn, sizeof t->gn) ||
           dist_bcast(d, &t->st, sizeof t->st);
}

// This rank's shard of the batches. Rank 0 decomposes the images first and the others
// then find them in its cache (when the cache folder is shared) instead of redoing it.
static int open_data(run *r) {
    const train_config *c = r->c;
    const model_config *mc = &r->t.m.cfg;
    char cache[4096];
    snprintf(cache, sizeof cache, "%s/.satv-cache", c->out_dir);
    satv_params satv = satv_defaults();
    dataset_config dc = {.dirs = c->data_dirs,
                         .n_dirs = c->n_data,
                         .scale = mc->scale,
                         .patch = c->patch,
                         .batch = c->batch,
                         .seed = c->seed,
                         .cache_dir = c->cache_dir ? c->cache_dir : cache,
                         .satv_lambda = satv.lambda,
                         .satv_iters = satv.max_iters,
                         .rank = dist_rank(r->dist),
                         .world = dist_world(r->dist),
                         .verbose = r->root};
    if (!r->root && dist_barrier(r->dist)) return -1;
    if (!(r->data = dataset_open(&dc))) return -1;
    if (r->root && dist_barrier(r->dist)) return -1;
    dist_set_batch(r->dist, dataset_local_batch(r->data), c->batch);
    return 0;
}

static int setup(run *r) {
    const train_config *c = r->c;
    int world = dist_world(r->dist);
    if (c->batch < world)
        return as_errorf("--batch %d is smaller than the %d ranks: each rank needs a sample per step", c->batch, world);
    static const char *names[4] = TRAIN_RUN_FILES;
    for (int i = 0; i < 4; i++) snprintf(r->path[i], sizeof r->path[i], "%s/%s", c->out_dir, names[i]);
    if (r->root && load_or_init(r)) return -1;
    if (world > 1 && share_state(r->dist, r->root, &r->t)) return -1;
    if (open_data(r)) return -1;
    int b = dataset_local_batch(r->data), ps = c->patch * r->t.m.cfg.scale;
    size_t hr = (size_t)b * ps * ps * 3;
    if (dist_set_device(r->dist, nn_get_device())) return -1;  // before the plan allocates there
    if (!(r->plan = model_plan_create(&r->t.m, b, c->patch, c->patch, MODEL_TRAIN))) return -1;
    nn_device dev = model_plan_device(r->plan);
    if (trainer_bind(&r->t, r->plan)) return -1;
    if (hr > SIZE_MAX / sizeof(float)) return as_errorf("a batch of %d x %d x %d is too large", b, ps, ps);
    r->lr = as_malloc_array((size_t)b * c->patch * c->patch * 3, sizeof(float));
    r->host_s = as_malloc_array(hr, sizeof(float));
    r->host_t = as_malloc_array(hr, sizeof(float));
    r->s_hr = nn_alloc(dev, hr * sizeof(float));
    r->t_hr = nn_alloc(dev, hr * sizeof(float));
    r->d_s = nn_alloc(dev, hr * sizeof(float));
    r->d_t = nn_alloc(dev, hr * sizeof(float));
    if (!r->lr || !r->host_s || !r->host_t || !r->s_hr || !r->t_hr || !r->d_s || !r->d_t) return -1;
    return r->root ? open_log(r, r->t.st.step) : 0;
}

static void teardown(run *r) {
    if (r->plan) {
        nn_device dev = model_plan_device(r->plan);
        nn_free(dev, r->s_hr);
        nn_free(dev, r->t_hr);
        nn_free(dev, r->d_s);
        nn_free(dev, r->d_t);
    }
    model_plan_free(r->plan);
    dataset_close(r->data);
    if (r->log) fclose(r->log);
    free(r->lr);
    free(r->host_s);
    free(r->host_t);
    trainer_free(&r->t);
}

// The weights that validation and the model files get: the moving average when the
// run keeps one (the same table, other weights).
static model deployed(const trainer *t) {
    model out = t->m;
    if (t->ema) out.w = t->ema;
    return out;
}

// Nothing non-finite reaches the run folder: a model or checkpoint file is replaced
// only by a sound one. A run whose weights or optimiser state have become NaN or Inf
// (diverged) stops here, before its next save, with the last good files in place.
static int check_finite(const trainer *t) {
    const float *buf[4] = {t->m.w, t->adam_m, t->adam_v, t->ema};
    static const char *what[4] = {"the weights", "Adam's first moments", "Adam's second moments",
                                  "the weights' moving average"};
    for (int i = 0; i < 4; i++)
        if (buf[i] && as_first_nonfinite(buf[i], t->m.n_floats) < t->m.n_floats)
            return as_errorf("step %ld: %s hold NaN or Inf (the run diverged): stopped without saving; "
                             "the run folder keeps its last good files",
                             t->st.step, what[i]);
    if (!isfinite(t->gn.w[0]) || !isfinite(t->gn.w[1]))
        return as_errorf("step %ld: GradNorm's weights are not finite (%g, %g): stopped without saving", t->st.step,
                         t->gn.w[0], t->gn.w[1]);
    return 0;
}

// The log's lines first (a resume keeps those up to its checkpoint's step, so they
// must be there before the checkpoint is), then model.safetensors, then the
// checkpoint: a kill between the two resumes from the older checkpoint, which is
// consistent on its own. Every rank first checks that the replicas are still
// identical (they take identical steps); rank 0 writes.
static int save(run *r) {
    trainer *t = &r->t;
    if (trainer_to_host(t, r->plan)) return -1;
    if (dist_check_same(r->dist, t->m.w, sizeof(float) * t->m.n_floats, "the model weights")) return -1;
    if (!r->root) return 0;
    if (check_finite(t)) return -1;
    if (fflush(r->log)) return as_errorf("%s: cannot write the log", r->path[P_LOG]);
    model out = deployed(t);
    if (model_save(&out, r->path[P_MODEL])) return -1;
    return checkpoint_save(r->path[P_CKPT], t);
}

static void progress(const run *r, double loss, double t0, long start) {
    const train_config *c = r->c;
    const train_state *st = &r->t.st;
    const gradnorm *gn = &r->t.gn;
    long done = st->step - start, left = c->steps - st->step;
    double rate = done / fmax(1e-9, as_now() - t0), eta = left / fmax(1e-9, rate);
    if (c->progress_tty) {
        int width = 24, fill = (int)(width * st->step / c->steps);
        fprintf(stderr, "\rstep %ld/%ld [%.*s%*s] loss %.5f w_S %.3f w_T %.3f %.2f step/s ETA %02d:%02d:%02d ",
                st->step, c->steps, fill, "========================", width - fill, "", loss, gn->w[0], gn->w[1], rate,
                (int)(eta / 3600), (int)(eta / 60) % 60, (int)eta % 60);
    } else {
        fprintf(stderr, "step %ld/%ld loss %.5f w_S %.3f w_T %.3f %.2f step/s ETA %.0fs\n", st->step, c->steps, loss,
                gn->w[0], gn->w[1], rate, eta);
    }
}

int train_step(trainer *t, dist *d, model_plan *p, const float *s_hr, const float *t_hr, float *d_s, float *d_t,
               double lr, double out[3]) {
    model *m = &t->m;
    // on a GPU (trainer_bind) the step's buffers are there, the weights in the plan's copy
    float *weights = model_plan_weights(p, m), *grads = t->d_grads ? t->d_grads : t->grads;
    if (model_forward(p, m)) return -1;
    size_t n = model_plan_output_floats(p);
    // The loss is a mean over the global batch, of which this rank's samples are
    // `share`: scaled so, the ranks' gradients and losses sum to the global ones even
    // when the batch does not split evenly (share is exactly 1 alone).
    double L[2], G[2], w[2] = {t->gn.w[0], t->gn.w[1]}, share = dist_share(d);
    L[0] = l1_loss(d_s, model_plan_output(p, OUT_S), s_hr, n, (float)(w[0] * share));
    L[1] = l1_loss(d_t, model_plan_output(p, OUT_T), t_hr, n, (float)(w[1] * share));
    double L_share[2] = {L[0] * share, L[1] * share};
    const model_backward_hooks *hooks;
    if (dist_step_begin(d, m, grads, L_share, &hooks)) return -1;
    if (model_backward(p, m, grads, d_s, d_t, G, hooks)) return -1;
    if (dist_step_end(d, L, G)) return -1;
    gradnorm_update(&t->gn, t->st.step, L, G);
    t->opt.lr = lr;
    adam_step(&t->opt, weights, grads, t->d_m ? t->d_m : t->adam_m, t->d_v ? t->d_v : t->adam_v, m->n_floats);
    if (t->ema) ema_update(t->d_ema ? t->d_ema : t->ema, weights, m->n_floats, t->ema_decay);
    t->st.step++;
    out[0] = w[0] * L[0] + w[1] * L[1];
    out[1] = L[0];
    out[2] = L[1];
    return 0;
}

// The run's step: this step's batch, then train_step, then the log line.
static int step(run *r, double out[3]) {
    trainer *t = &r->t;
    size_t hr = model_plan_output_floats(r->plan) * sizeof(float);
    nn_device dev = model_plan_device(r->plan);
    if (dataset_batch(r->data, t->st.step, r->lr, r->host_s, r->host_t) || model_plan_set_input(r->plan, r->lr) ||
        nn_upload(dev, r->s_hr, r->host_s, hr) || nn_upload(dev, r->t_hr, r->host_t, hr))
        return -1;
    if (train_step(t, r->dist, r->plan, r->s_hr, r->t_hr, r->d_s, r->d_t, train_lr_at(r->c, t->st.step), out))
        return -1;
    // the losses are the global batch's, the same on every rank: all stop together
    if (!isfinite(out[0]) || !isfinite(out[1]) || !isfinite(out[2]))
        return as_errorf("step %ld: the loss is not finite (L_S %g, L_T %g; the run diverged): stopped without "
                         "saving; the run folder keeps its last good files",
                         t->st.step, out[1], out[2]);
    if (r->log)
        fprintf(r->log,
                "{\"step\":%ld,\"loss\":%.7g,\"loss_s\":%.7g,\"loss_t\":%.7g,\"w_s\":%.7g,\"w_t\":%.7g,\"lr\":%.4g}\n",
                t->st.step, out[0], out[1], out[2], t->gn.w[0], t->gn.w[1], t->opt.lr);
    return 0;
}

static int maybe_validate(run *r) {
    const train_config *c = r->c;
    train_state *st = &r->t.st;
    if (!r->root || !c->val_dir || !c->val_every || (st->step % c->val_every && st->step != c->steps)) return 0;
    double psnr = 0;
    if (trainer_to_host(&r->t, r->plan)) return -1;
    model m = deployed(&r->t);
    if (check_finite(&r->t) || validate(&m, c->val_dir, &psnr)) return -1;
    int best = psnr > st->best_psnr;
    if (best) {
        st->best_psnr = psnr;
        st->best_step = st->step;
        if (model_save(&m, r->path[P_BEST])) return -1;
    }
    fprintf(r->log, "{\"step\":%ld,\"val_psnr\":%.4f,\"best\":%s}\n", st->step, psnr, best ? "true" : "false");
    fflush(r->log);
    fprintf(stderr, "%sstep %ld: validation PSNR %.3f dB%s\n", c->progress_tty ? "\n" : "", st->step, psnr,
            best ? " (best)" : "");
    return 0;
}

// A data-parallel run: the step time and how much of it went to waiting for gradient
// reductions, both averaged over the ranks (a collective: every rank calls it).
static int report_comm(const run *r, double seconds, long steps) {
    int world = dist_world(r->dist);
    if (world == 1 || steps <= 0) return 0;
    double x[2] = {dist_get_stats(r->dist).wait_s, seconds};
    if (dist_sum(r->dist, x, 2)) return -1;
    if (r->root)
        fprintf(stderr, "train: %d ranks, %.4f s per step, %.1f%% of it waiting for gradient reductions\n", world,
                x[1] / world / steps, 100 * x[0] / fmax(x[1], 1e-9));
    return 0;
}

static int train_loop(run *r) {
    const train_config *c = r->c;
    long start = r->t.st.step;
    double t0 = as_now(), loss[3] = {0};
    int stop, rc = dist_any(r->dist, g_stop, &stop);
    // every rank stops after the same step, whichever of them got the signal
    while (!rc && r->t.st.step < c->steps && !stop) {
        rc = step(r, loss);
        if (!rc && r->root && (r->t.st.step % c->log_every == 0 || r->t.st.step == c->steps))
            progress(r, loss[0], t0, start);
        if (!rc) rc = maybe_validate(r);
        if (!rc) rc = dist_any(r->dist, g_stop, &stop);
        if (!rc && (r->t.st.step % c->ckpt_every == 0 || r->t.st.step == c->steps || stop)) rc = save(r);
    }
    if (c->progress_tty && r->root) fputc('\n', stderr);
    if (!rc) rc = report_comm(r, as_now() - t0, r->t.st.step - start);
    if (rc) return -1;
    return stop ? 1 : 0;
}

int train_run(const train_config *c) {
    run r = {.c = c};
    if (!(r.dist = dist_open())) return -1;
    r.root = dist_rank(r.dist) == 0;
    g_stop = 0;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    int rc = setup(&r);
    if (!rc) rc = train_loop(&r);
    if (rc == 1 && r.root)
        fprintf(stderr, "train: interrupted at step %ld; saved; continue with --resume\n", r.t.st.step);
    if (rc >= 0 && r.root && r.t.st.best_step >= 0)
        fprintf(stderr, "train: best validation PSNR %.3f dB at step %ld\n", r.t.st.best_psnr, r.t.st.best_step);
    if (rc < 0) dist_abort(r.dist);  // a data-parallel run ends here; alone, the error is returned
    teardown(&r);
    dist_close(r.dist);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    return rc;
}
