// Devices: the process's choice of where to compute, and memory on it. See nn.h.
#include <string.h>
#include <stdlib.h>

#include "core/core.h"
#include "nn/device.h"

static nn_device g_device = NN_CPU;

const char *nn_device_name(nn_device d) { return d == NN_CUDA ? "cuda" : "cpu"; }

int nn_device_parse(const char *s, nn_device *d) {
    if (!strcmp(s, "cpu"))
        *d = NN_CPU;
    else if (!strcmp(s, "cuda"))
        *d = NN_CUDA;
    else
        return as_errorf("unknown device '%s' (cpu, cuda)", s);
    return 0;
}

int nn_device_available(nn_device d) {
    if (d == NN_CPU) return 1;
#ifdef ATTSR_CUDA
    return cuda_available();
#else
    as_errorf("this build of attsr has no CUDA backend (build it with make CUDA=1)");
    return 0;
#endif
}

int nn_set_device(nn_device d) {
    if (!nn_device_available(d)) return -1;
    g_device = d;
    return 0;
}

nn_device nn_get_device(void) { return g_device; }

static int g_deterministic;
void nn_set_deterministic(int on) { g_deterministic = !!on; }
int nn_deterministic(void) { return g_deterministic; }

void *nn_alloc(nn_device d, size_t bytes) {
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) return cuda_alloc(bytes);
#endif
    return as_aligned_alloc(bytes);
}

void nn_free(nn_device d, void *p) {
    if (!p) return;
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) {
        cuda_free(p);
        return;
    }
#endif
    free(p);
}

int nn_upload(nn_device d, void *dst, const void *src, size_t bytes) {
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) return cuda_upload(dst, src, bytes);
#endif
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}

int nn_copy(nn_device d, void *dst, const void *src, size_t bytes) {
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) return cuda_copy(dst, src, bytes);
#endif
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

int nn_sync(nn_device d) {
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) return cuda_sync();
#endif
    return 0;
}

int nn_graphs(nn_device d) {
#ifdef ATTSR_CUDA
    const char *env = getenv("ATTSR_CUDA_GRAPHS");
    return d == NN_CUDA && env && !strcmp(env, "1");
#else
    return 0;
#endif
}

int nn_graph_begin(nn_device d) {
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) return cuda_graph_begin();
#endif
    return as_errorf("recorded work (graphs) needs CUDA");
}

int nn_graph_end(nn_device d, nn_graph **g) {
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) {
        void *exec = NULL;
        int rc = cuda_graph_end(&exec);
        *g = exec;
        return rc;
    }
#endif
    *g = NULL;
    return as_errorf("recorded work (graphs) needs CUDA");
}

int nn_graph_replay(nn_device d, nn_graph *g) {
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) return cuda_graph_replay(g);
#endif
    return as_errorf("recorded work (graphs) needs CUDA");
}

void nn_graph_free(nn_device d, nn_graph *g) {
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) cuda_graph_free(g);
#endif
    (void)d, (void)g;
}

int nn_download(nn_device d, void *dst, const void *src, size_t bytes) {
#ifdef ATTSR_CUDA
    if (d == NN_CUDA) return cuda_download(dst, src, bytes);
#endif
    if (bytes) memcpy(dst, src, bytes);
    return 0;
}
