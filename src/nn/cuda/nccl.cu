// NCCL's side of data-parallel training on GPUs. See nccl.h.
#ifdef ATTSR_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#include <string.h>

#include "nn/cuda/nccl.h"

extern "C" int as_errorf(const char *fmt, ...);

static_assert(sizeof(ncclUniqueId) == CUDA_NCCL_ID_BYTES, "CUDA_NCCL_ID_BYTES is not NCCL's id size");

static ncclComm_t g_comm;

static int nccl_fail(const char *what, ncclResult_t r) {
    return as_errorf("NCCL %s: %s (did another rank die?)", what, ncclGetErrorString(r));
}

extern "C" int cuda_nccl_select_device(int local_rank) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n < 1) return as_errorf("NCCL: no GPU for local rank %d", local_rank);
    e = cudaSetDevice(local_rank % n);
    return e == cudaSuccess ? 0 : as_errorf("CUDA: selecting GPU %d: %s", local_rank % n, cudaGetErrorString(e));
}

extern "C" int cuda_nccl_make_id(void *id) {
    ncclResult_t r = ncclGetUniqueId((ncclUniqueId *)id);
    return r == ncclSuccess ? 0 : nccl_fail("ncclGetUniqueId", r);
}

extern "C" int cuda_nccl_open(const void *id, int rank, int world) {
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclResult_t r = ncclCommInitRank(&g_comm, world, u, rank);
    if (r != ncclSuccess) {
        g_comm = NULL;
        return nccl_fail("ncclCommInitRank", r);
    }
    return 0;
}

extern "C" int cuda_nccl_sum(float *buf, size_t n) {
    if (!g_comm) return as_errorf("NCCL: no communicator (cuda_nccl_open)");
    ncclResult_t r = ncclAllReduce(buf, buf, n, ncclFloat, ncclSum, g_comm, cudaStreamPerThread);  // the kernels
    return r == ncclSuccess ? 0 : nccl_fail("ncclAllReduce", r);
}

extern "C" int cuda_nccl_check(void) {
    if (!g_comm) return 0;
    ncclResult_t async = ncclSuccess, r = ncclCommGetAsyncError(g_comm, &async);
    if (r != ncclSuccess) return nccl_fail("ncclCommGetAsyncError", r);
    return async == ncclSuccess ? 0 : nccl_fail("all-reduce", async);
}

extern "C" void cuda_nccl_close(void) {
    if (g_comm) ncclCommDestroy(g_comm);
    g_comm = NULL;
}
#endif
