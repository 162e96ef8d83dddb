// bench_gemm: the batched products of one Winograd layer alone, as winograd.c runs them
// (per chunk of tc tiles, P transformed positions of [tc x cinp] x [cinp x coutp],
// row-major), through oneDNN's matmul primitive and through libxsmm's small-GEMM kernel,
// in GFLOP/s; one thread. The choice between the two in winograd.c rests on this.
//   build/bench/bench_gemm [cinp coutp tc P chunks]   (default: F(2x2,7x7) 64 -> 32 at
//                                                      128x128, then F(4x4,3x3) 64 -> 64)
// DNNL_MAX_CPU_ISA=AVX2 and LIBXSMM_TARGET=hsw hold the two to AVX2 kernels.
#include <libxsmm.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"

#define CHECK(call)                                            \
    do {                                                       \
        if ((call) != dnnl_success) {                          \
            fprintf(stderr, "bench_gemm: %s failed\n", #call); \
            exit(1);                                           \
        }                                                      \
    } while (0)

static float *filled(size_t n, int mod) {
    float *p = as_aligned_alloc(n * sizeof(float));
    if (!p) exit(1);
    for (size_t i = 0; i < n; i++) p[i] = (float)(i % mod) * 0.1f;
    return p;
}

static void bench(int cinp, int coutp, int tc, int P, int chunks) {
    float *V = filled((size_t)P * tc * cinp, 7), *U = filled((size_t)P * cinp * coutp, 5);
    float *M = filled((size_t)P * tc * coutp, 3);
    const double gflop = 2e-9 * P * tc * cinp * coutp * chunks;
    // oneDNN: one batched matmul per chunk, as winograd.c's chunk()
    dnnl_engine_t eng;
    dnnl_stream_t st;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    dnnl_memory_desc_t smd, wmd, dmd;
    dnnl_dims_t sd = {P, tc, cinp}, wd = {P, cinp, coutp}, dd = {P, tc, coutp};
    CHECK(dnnl_memory_desc_init_by_tag(&smd, 3, sd, dnnl_f32, dnnl_abc));
    CHECK(dnnl_memory_desc_init_by_tag(&wmd, 3, wd, dnnl_f32, dnnl_abc));
    CHECK(dnnl_memory_desc_init_by_tag(&dmd, 3, dd, dnnl_f32, dnnl_abc));
    dnnl_matmul_desc_t md;
    CHECK(dnnl_matmul_desc_init(&md, &smd, &wmd, NULL, &dmd));
    dnnl_primitive_attr_t attr;
    CHECK(dnnl_primitive_attr_create(&attr));
    CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    CHECK(dnnl_primitive_desc_create(&pd, &md, attr, eng, NULL));
    CHECK(dnnl_primitive_create(&prim, pd));
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    const dnnl_memory_desc_t *smd_scr = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    void *scr = as_aligned_alloc(dnnl_memory_desc_get_size(smd_scr) + 64);
    dnnl_memory_t ms, mw, mdst, mscr;
    CHECK(dnnl_memory_create(&ms, &smd, eng, V));
    CHECK(dnnl_memory_create(&mw, &wmd, eng, U));
    CHECK(dnnl_memory_create(&mdst, &dmd, eng, M));
    CHECK(dnnl_memory_create(&mscr, smd_scr, eng, scr));
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, mdst}, {DNNL_ARG_SCRATCHPAD, mscr}};
    // libxsmm: one kernel, called per position, as winograd.c's xsmm_plan
    const libxsmm_blasint m = coutp, n = tc, k = cinp, lda = coutp, ldb = cinp, ldc = coutp;
    const float alpha = 1, beta = 0;
    const int flags = LIBXSMM_GEMM_FLAGS('N', 'N');
    libxsmm_smmfunction f = libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, NULL);
    double best[2] = {1e30, 1e30};
    for (int r = 0; r < 7; r++)  // the two alternate; best of 7 each
        for (int v = 0; v < 2; v++) {
            if (v == 1 && !f) continue;
            double t0 = as_now();
            for (int c = 0; c < chunks; c++) {
                if (v == 0) {
                    CHECK(dnnl_primitive_execute(prim, st, 4, args));
                    CHECK(dnnl_stream_wait(st));
                } else {
                    for (int p = 0; p < P; p++)
                        f(U + (size_t)p * cinp * coutp, V + (size_t)p * tc * cinp, M + (size_t)p * tc * coutp);
                }
            }
            double t = as_now() - t0;
            if (t < best[v]) best[v] = t;
        }
    printf("%d x [%d x %d] x [%d x %d], %d chunks: oneDNN %s %.1f GFLOP/s, libxsmm %.1f GFLOP/s\n", P, tc, cinp, cinp,
           coutp, chunks, impl, gflop / best[0], f ? gflop / best[1] : 0.0);
    dnnl_memory_destroy(ms), dnnl_memory_destroy(mw), dnnl_memory_destroy(mdst), dnnl_memory_destroy(mscr);
    dnnl_primitive_destroy(prim), dnnl_primitive_desc_destroy(pd), dnnl_primitive_attr_destroy(attr);
    dnnl_stream_destroy(st), dnnl_engine_destroy(eng);
    free(V), free(U), free(M), free(scr);
}

int main(int argc, char **argv) {
    libxsmm_init();
    if (argc >= 6) {
        bench(atoi(argv[1]), atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    } else {
        bench(64, 32, 40, 64, 103);  // F(2x2, 7x7) 64 -> 32 at 128x128: 4096 tiles, tc 40
        bench(64, 64, 56, 36, 19);   // F(4x4, 3x3) 64 -> 64 at 128x128: 1024 tiles, tc 56
    }
    return 0;
}
