// dist: data-parallel training over MPI — one process (rank) per model replica.
//
// Each rank trains on its own shard of every batch; after backward the ranks sum their
// gradients, losses and GradNorm's per-branch gradients, so every rank takes the same
// Adam and GradNorm step and the replicas stay identical. Gradients are reduced in
// buckets with non-blocking all-reduces started while backward still runs on earlier
// layers (model_backward_hooks), so communication hides behind compute.
//
// MPI is optional: built without ATTSR_MPI (make without MPI=1), or run without a
// launcher (no mpirun), everything here is a world of one rank and costs nothing.
// The MPI calls are all in dist.c; nothing else includes mpi.h (nor NCCL's
// src/nn/cuda/nccl.h).
#pragma once
#include <stddef.h>

#include "model/model.h"

typedef struct dist dist;

// Joins the MPI job when started by an MPI launcher (mpirun, mpiexec, srun), else a
// world of one. A build without MPI started by a launcher with several ranks fails
// with a hint, rather than training N unrelated copies. NULL + error.
dist *dist_open(void);
void dist_close(dist *d);       // finalises MPI when dist_open initialised it
int dist_rank(const dist *d);   // 0 for NULL
int dist_world(const dist *d);  // 1 for NULL
int dist_has_mpi(void);         // 1 in a build with ATTSR_MPI
// This process's rank as its MPI launcher says (0 without one), known before
// dist_open: for checks that only rank 0 needs (the files it alone reads).
int dist_launcher_rank(void);
// Prints "attsr: rank R of N: <as_error()>" on stderr and ends the whole job (every
// rank) with status 1: the way out for an error on one rank while the others may be
// waiting in a collective. Returns only in a world of one.
void dist_abort(dist *d);

// Where the steps compute, called before anything is allocated there: on CUDA each
// rank takes its own GPU (its rank on its host, modulo the host's GPUs) and NCCL sums
// the gradients in GPU memory (a build with CUDA and MPI; otherwise an error). The CPU,
// and a world of one, need nothing.
int dist_set_device(dist *d, nn_device dev);

// Small collectives (every rank calls them, in the same order).
int dist_bcast(dist *d, void *buf, size_t bytes);  // rank 0's bytes to all
int dist_barrier(dist *d);
int dist_any(dist *d, int flag, int *any);  // *any = flag on some rank
int dist_sum(dist *d, double *x, int n);    // x summed over the ranks, in place
// Fails on every rank unless buf's bytes are the same on every rank ("what" names it).
int dist_check_same(dist *d, const void *buf, size_t bytes, const char *what);

// ---- one training step ------------------------------------------------------------
// This rank's samples per step (`local`) out of `global`: its share of the loss.
void dist_set_batch(dist *d, int local, int global);
double dist_share(const dist *d);  // local / global (1 for NULL)
// Options: the gradient bucket size in bytes (default 1 MiB) and overlap (1: reduce
// buckets during backward; 0: one blocking all-reduce after it, for comparison).
void dist_set_buckets(dist *d, size_t bytes, int overlap);

// Begins a step: L_share[i] = this rank's task loss i times its share; their sums over
// the ranks are the global losses. *hooks: what to pass to model_backward (NULL
// in a world of one: nothing to do).
int dist_step_begin(dist *d, const model *m, float *grads, const double L_share[2], const model_backward_hooks **hooks);
// Ends it after backward: waits for every reduction; grads then hold the gradient of
// the global loss, L the global task losses and G GradNorm's G_i from the summed
// per-branch gradients. In a world of one L and G are left as they are.
int dist_step_end(dist *d, double L[2], double G[2]);

// Seconds spent blocked waiting for reductions (dist_step_end), and in the hooks
// (starting reductions and driving their progress), since dist_open.
typedef struct {
    long steps;
    double wait_s, hook_s;
} dist_stats;
dist_stats dist_get_stats(const dist *d);
