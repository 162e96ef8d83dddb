// dist: data-parallel training over MPI. See dist.h.
//
// A step: dist_step_begin starts the sum of the task losses; during backward the
// `ready` hook gathers finished parameter ranges into buckets (contiguous runs of the
// gradient array, at least bucket_floats long, as PyTorch DDP does) and starts a
// non-blocking all-reduce on each, and `fe_tail_split` starts one on a copy of the two
// per-branch fe.tail.weight gradients; dist_step_end waits for them all. Every rank
// starts the same reductions in the same order, since backward runs in the same order
// everywhere. Open MPI's non-blocking collectives advance only inside MPI calls, so
// each hook also tests the oldest pending request, which drives them all.
//
// On GPUs (dist_set_device, a build with NCCL) the gradients and the per-branch copy
// stay in GPU memory and NCCL sums them, enqueued on the kernels' stream: each sum
// follows the backward work that wrote its bucket, and Adam's kernels follow the sums,
// so nothing waits on the host; the losses still go through MPI.
//
// Without ATTSR_MPI every function takes its world-of-one path.
#include "train/dist.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ATTSR_MPI
#include <mpi.h>
#endif

#include "core/core.h"
#include "nn/nn.h"
#ifdef ATTSR_NCCL
#include "nn/cuda/nccl.h"
#endif

struct dist {
    int rank, world;
    int local, global;  // samples per step: this rank's, all ranks'
    size_t bucket_floats;
    int overlap;
    dist_stats stats;
#ifdef ATTSR_MPI
    int owns_mpi;   // dist_open initialised MPI
    MPI_Comm comm;  // a duplicate of MPI_COMM_WORLD that returns errors
    nn_device dev;  // where the gradients are: NN_CUDA when NCCL sums them
    model_backward_hooks hooks;
    const model *m;  // this step's model and gradients
    float *grads;
    int lo, hi;        // parameters ready but not yet sent: [lo, hi), empty when lo == hi
    size_t sent;       // floats of grads sent this step
    MPI_Request *req;  // (cap_req) this step's reductions, in start order
    int n_req, cap_req, n_done;
    float *split;  // (2, split_n) fe.tail.weight's gradient per branch, on dev
    size_t split_n;
    int have_split;
    double loss[2];  // the task losses times the share, summed in place
    int failed;      // a hook failed (hooks cannot return errors); see as_error()
#endif
};

int dist_rank(const dist *d) { return d ? d->rank : 0; }
int dist_world(const dist *d) { return d ? d->world : 1; }
double dist_share(const dist *d) { return d && d->global ? (double)d->local / d->global : 1.0; }

void dist_set_batch(dist *d, int local, int global) {
    d->local = local;
    d->global = global;
}

void dist_set_buckets(dist *d, size_t bytes, int overlap) {
    d->bucket_floats = AS_MAX(bytes / sizeof(float), (size_t)1);
    d->overlap = overlap;
}

dist_stats dist_get_stats(const dist *d) { return d->stats; }

// The number of ranks an MPI launcher started, from the variables it gives each
// process (Open MPI, MPICH and Intel MPI's hydra or PMI, MVAPICH); 0 when none did.
static int launcher_world(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 0;
}

int dist_launcher_rank(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "MV2_COMM_WORLD_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 0;
}

#ifdef ATTSR_MPI
int dist_has_mpi(void) { return 1; }

static uint64_t hash_bytes(const void *buf, size_t n) {
    const unsigned char *p = buf;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    for (; n; n--, p++) h = (h ^ *p) * 0x100000001b3ULL;
    return h;
}

// MPI calls on d->comm return their errors (MPI_ERRORS_RETURN): this names them.
static int mpi_check(int rc, const char *call) {
    if (rc == MPI_SUCCESS) return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int n = 0;
    MPI_Error_string(rc, msg, &n);
    return as_errorf("%s failed: %.*s (did another rank die?)", call, n, msg);
}

static int open_mpi(dist *d) {
    int initialised = 0, provided = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
        // FUNNELED: OpenMP and the batch loader run threads, but only this one calls MPI
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return as_errorf("MPI_Init_thread failed");
        d->owns_mpi = 1;
        if (provided < MPI_THREAD_FUNNELED) return as_errorf("this MPI does not support threads (MPI_THREAD_FUNNELED)");
    }
    if (mpi_check(MPI_Comm_dup(MPI_COMM_WORLD, &d->comm), "MPI_Comm_dup")) return -1;
    MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->world);
    return 0;
}

static void close_mpi(dist *d) {
    if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (d->owns_mpi && !finalised) MPI_Finalize();
    free(d->req);
    nn_free(d->dev, d->split);
#ifdef ATTSR_NCCL
    if (d->dev == NN_CUDA) cuda_nccl_close();
#endif
}
#else
int dist_has_mpi(void) { return 0; }
#endif

dist *dist_open(void) {
    int launched = launcher_world();
    dist *d = as_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->world = 1;
    d->local = d->global = 1;
    dist_set_buckets(d, (size_t)1 << 20, 1);
#ifdef ATTSR_MPI
    d->comm = MPI_COMM_NULL;
    if (launched && open_mpi(d)) {
        dist_close(d);
        return NULL;
    }
#else
    if (launched > 1) {
        free(d);
        as_errorf("started by an MPI launcher with %d ranks, but this attsr was built without MPI "
                  "(rebuild with make MPI=1)",
                  launched);
        return NULL;
    }
#endif
    return d;
}

#ifdef ATTSR_NCCL
// Each rank takes its host's GPU of its rank on the host, then joins rank 0's NCCL
// communicator (its id broadcast over MPI). An error on one rank ends the job
// (dist_abort), so no other rank waits in the broadcast.
static int open_nccl(dist *d) {
    MPI_Comm host;
    int local = 0;
    if (mpi_check(MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &host),
                  "MPI_Comm_split_type"))
        return -1;
    MPI_Comm_rank(host, &local);
    MPI_Comm_free(&host);
    char id[CUDA_NCCL_ID_BYTES] = {0};
    if (cuda_nccl_select_device(local) || (d->rank == 0 && cuda_nccl_make_id(id)) || dist_bcast(d, id, sizeof id) ||
        cuda_nccl_open(id, d->rank, d->world))
        return -1;
    d->dev = NN_CUDA;
    return 0;
}
#endif

int dist_set_device(dist *d, nn_device dev) {
    if (dist_world(d) == 1 || dev == NN_CPU) return 0;
#ifdef ATTSR_NCCL
    if (dev == NN_CUDA) return open_nccl(d);
#endif
    return as_errorf("data-parallel training on %s needs NCCL: a build made with make CUDA=1 MPI=1",
                     nn_device_name(dev));
}

void dist_close(dist *d) {
    if (!d) return;
#ifdef ATTSR_MPI
    close_mpi(d);
#endif
    free(d);
}

void dist_abort(dist *d) {
    if (dist_world(d) == 1) return;
    fprintf(stderr, "attsr train: rank %d of %d: %s\n", d->rank, d->world, as_error());
    fflush(stderr);
#ifdef ATTSR_MPI
    MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    exit(1);
}

// ---- small collectives ----------------------------------------------------------------

int dist_bcast(dist *d, void *buf, size_t bytes) {
    if (dist_world(d) == 1) return 0;
#ifdef ATTSR_MPI
    for (size_t done = 0; done < bytes;) {  // MPI counts are ints
        int n = (int)AS_MIN(bytes - done, (size_t)1 << 30);
        if (mpi_check(MPI_Bcast((char *)buf + done, n, MPI_BYTE, 0, d->comm), "MPI_Bcast")) return -1;
        done += (size_t)n;
    }
#endif
    return 0;
}

int dist_barrier(dist *d) {
    if (dist_world(d) == 1) return 0;
#ifdef ATTSR_MPI
    return mpi_check(MPI_Barrier(d->comm), "MPI_Barrier");
#else
    return 0;
#endif
}

int dist_any(dist *d, int flag, int *any) {
    *any = flag != 0;
    if (dist_world(d) == 1) return 0;
#ifdef ATTSR_MPI
    int mine = flag != 0;
    return mpi_check(MPI_Allreduce(&mine, any, 1, MPI_INT, MPI_MAX, d->comm), "MPI_Allreduce");
#else
    return 0;
#endif
}

int dist_sum(dist *d, double *x, int n) {
    if (dist_world(d) == 1) return 0;
#ifdef ATTSR_MPI
    return mpi_check(MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, d->comm), "MPI_Allreduce");
#else
    return 0;
#endif
}

// One all-reduce of (h, ~h) under MAX gives the largest and the smallest hash.
int dist_check_same(dist *d, const void *buf, size_t bytes, const char *what) {
    if (dist_world(d) == 1) return 0;
#ifdef ATTSR_MPI
    uint64_t h = hash_bytes(buf, bytes), mm[2] = {h, ~h}, out[2];
    if (mpi_check(MPI_Allreduce(mm, out, 2, MPI_UINT64_T, MPI_MAX, d->comm), "MPI_Allreduce")) return -1;
    if (out[0] != ~out[1])
        return as_errorf("%s differ between the ranks (rank %d's hash %016llx)", what, d->rank, (unsigned long long)h);
#endif
    return 0;
}

// ---- one training step ----------------------------------------------------------------
#ifdef ATTSR_MPI

static void fail(dist *d) { d->failed = 1; }

// Starts summing n elements of buf in place over the ranks.
static void start_sum(dist *d, void *buf, size_t n, MPI_Datatype type) {
    int size;
    MPI_Type_size(type, &size);
    while (n && !d->failed) {
        if (d->n_req == d->cap_req) {
            int cap = d->cap_req ? 2 * d->cap_req : 64;
            MPI_Request *r = realloc(d->req, sizeof *r * (size_t)cap);
            if (!r) {
                as_errorf("out of memory");
                fail(d);
                return;
            }
            d->req = r;
            d->cap_req = cap;
        }
        int count = (int)AS_MIN(n, (size_t)1 << 30);  // MPI counts are ints
        if (mpi_check(MPI_Iallreduce(MPI_IN_PLACE, buf, count, type, MPI_SUM, d->comm, &d->req[d->n_req]),
                      "MPI_Iallreduce")) {
            fail(d);
            return;
        }
        d->n_req++;
        buf = (char *)buf + (size_t)count * size;
        n -= (size_t)count;
    }
}

// Where parameter i starts in the gradient array (n_floats for one past the last).
static size_t param_start(const model *m, int i) { return i < m->n_params ? m->info[i].offset : m->n_floats; }

// Starts summing n floats of gradients over the ranks: MPI on the host's memory, NCCL
// on the GPU's.
static void start_grad_sum(dist *d, float *buf, size_t n) {
#ifdef ATTSR_NCCL
    if (d->dev == NN_CUDA) {
        if (!d->failed && cuda_nccl_sum(buf, n)) fail(d);
        return;
    }
#endif
    start_sum(d, buf, n, MPI_FLOAT);
}

static void send_pending(dist *d) {
    if (d->lo == d->hi) return;
    size_t off = param_start(d->m, d->lo), n = param_start(d->m, d->hi) - off;
    start_grad_sum(d, d->grads + off, n);
    d->sent += n;
    d->lo = d->hi = 0;
}

// Lets pending reductions advance (Open MPI progresses them only inside MPI calls).
static void progress(dist *d) {
    while (d->n_done < d->n_req && !d->failed) {
        int done = 0;
        if (mpi_check(MPI_Test(&d->req[d->n_done], &done, MPI_STATUS_IGNORE), "MPI_Test")) fail(d);
        if (!done) return;
        d->n_done++;
    }
}

// Backward finished parameters [first, last): they join the pending range when they
// border it (backward walks each branch's table from its end), otherwise the pending
// range goes alone; a range of a bucket's size goes at once.
static void on_ready(void *ctx, int first, int last) {
    dist *d = ctx;
    if (!d->overlap) return;
    double t0 = as_now();
    if (d->lo != d->hi && last != d->lo) send_pending(d);
    if (d->lo == d->hi) d->hi = last;
    d->lo = first;
    if (param_start(d->m, d->hi) - param_start(d->m, d->lo) >= d->bucket_floats) send_pending(d);
    progress(d);
    d->stats.hook_s += as_now() - t0;
}

static void on_split(void *ctx, const float *const dw[2], size_t n) {
    dist *d = ctx;
    double t0 = as_now();
    if (d->split_n != n) {
        nn_free(d->dev, d->split);
        d->split_n = 0;
        if (n > SIZE_MAX / (2 * sizeof(float))) as_errorf("dist: %zu floats of fe.tail gradient overflow", n);
        if (n > SIZE_MAX / (2 * sizeof(float)) || !(d->split = nn_alloc(d->dev, 2 * n * sizeof(float)))) {
            fail(d);
            return;
        }
        d->split_n = n;
    }
    if (nn_copy(d->dev, d->split, dw[0], sizeof(float) * n) || nn_copy(d->dev, d->split + n, dw[1], sizeof(float) * n)) {
        fail(d);
        return;
    }
    d->have_split = 1;
    start_grad_sum(d, d->split, 2 * n);
    d->stats.hook_s += as_now() - t0;
}

int dist_step_begin(dist *d, const model *m, float *grads, const double L_share[2],
                    const model_backward_hooks **hooks) {
    *hooks = NULL;
    if (dist_world(d) == 1) return 0;
    d->m = m;
    d->grads = grads;
    d->lo = d->hi = 0;
    d->sent = 0;
    d->n_req = d->n_done = 0;
    d->have_split = d->failed = 0;
    d->loss[0] = L_share[0];
    d->loss[1] = L_share[1];
    start_sum(d, d->loss, 2, MPI_DOUBLE);
    if (d->failed) return -1;
    d->hooks = (model_backward_hooks){.ctx = d, .ready = on_ready, .fe_tail_split = on_split};
    *hooks = &d->hooks;
    return 0;
}

int dist_step_end(dist *d, double L[2], double G[2]) {
    if (dist_world(d) == 1) return 0;
    double t0 = as_now();
    if (d->overlap) {
        send_pending(d);
    } else {
        start_grad_sum(d, d->grads, d->m->n_floats);
        d->sent = d->m->n_floats;
    }
    int rc = d->failed ? -1 : mpi_check(MPI_Waitall(d->n_req, d->req, MPI_STATUSES_IGNORE), "MPI_Waitall");
#ifdef ATTSR_NCCL
    if (!rc && d->dev == NN_CUDA) rc = cuda_nccl_check();
#endif
    d->stats.wait_s += as_now() - t0;
    d->stats.steps++;
    if (rc) return -1;
    if (d->sent != d->m->n_floats || !d->have_split)
        return as_errorf("dist: backward reported %zu of %zu gradients%s", d->sent, d->m->n_floats,
                         d->have_split ? "" : " and no per-branch fe.tail gradient");
    for (int i = 0; i < 2; i++) {
        L[i] = d->loss[i];
        G[i] = sqrt(nn_sum_sq(d->split + i * d->split_n, d->split_n));  // on the GPU: after the sums
    }
    return 0;
}

#else  // a world of one: backward needs no hooks, and L and G are already global

int dist_step_begin(dist *d, const model *m, float *grads, const double L_share[2],
                    const model_backward_hooks **hooks) {
    *hooks = NULL;
    return 0;
}

int dist_step_end(dist *d, double L[2], double G[2]) { return 0; }

#endif
