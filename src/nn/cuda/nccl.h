// NCCL for data-parallel training on GPUs (nccl.cu): one process per GPU, bootstrapped
// by MPI (src/train/dist.c broadcasts rank 0's id), the gradients summed in place in
// GPU memory on the stream the kernels run on, so each sum follows the backward work
// that wrote its buffer and precedes the optimiser's. Only in builds with both CUDA and
// MPI (make CUDA=1 MPI=1: ATTSR_NCCL).
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CUDA_NCCL_ID_BYTES 128  // sizeof(ncclUniqueId), checked in nccl.cu
// This process's GPU: its rank among the ranks on its host, modulo the host's GPUs.
// Before anything is allocated on the GPU. 0, or -1 + error.
int cuda_nccl_select_device(int local_rank);
int cuda_nccl_make_id(void *id);  // on rank 0: the id every rank passes to cuda_nccl_open
int cuda_nccl_open(const void *id, int rank, int world);
// Enqueues buf (n floats, GPU memory) summed over the ranks, in place.
int cuda_nccl_sum(float *buf, size_t n);
int cuda_nccl_check(void);  // 0, or -1 with an error NCCL reported for earlier work
void cuda_nccl_close(void);

#ifdef __cplusplus
}
#endif
