// winograd: F(m x m, r x r) convolutions: F(4x4, 3x3) (the default for 3x3), F(6x6, 3x3),
// F(4x4, 5x5) and F(2x2, 7x7) (SA4's c2 and c1). See winograd.h.
//
// Why attsr's own kernel: on AVX2 no maintained library in Debian 12 has one. oneDNN
// 2.x implements Winograd only for AVX-512 cores (jit:avx512_core wino, and it is
// being removed upstream); NNPACK and ncnn, which have AVX2 Winograd kernels, are not
// packaged. What is generic stays a library's: the products in the transformed domain
// are a batched GEMM, one [tiles x cin] x [cin x cout] product per transformed position
// (36 for m = 4). Forward and backward-data run them through libxsmm's small-GEMM
// kernels (JIT, one per plan shape, no allocation per call): for F(2x2, 7x7)'s
// 40 x 64 x 32 products 1.6x oneDNN's matmul on AVX2 (whose jit sgemm allocates its
// packing buffers on every call) and level with its AVX-512 brgemm (docs/benchmarks.md);
// oneDNN's matmul where libxsmm has no kernel, and for backward-weights (its sum
// post-op accumulates the chunks).
//
// Lavin & Gray's formulation: with d an a x a input tile, a = m + r - 1 ((r - 1) / 2
// pixels of zero padding at the borders) and g an r x r kernel, the m x m output tile is
//     Y = A^T [ (G g G^T) (.) (B^T d B) ] A,
// summed over input channels inside the (.) product, which is where the GEMM comes in.
// The tiles are processed in chunks of `tc` (sized to stay in L2): each thread
// transforms a chunk's input, multiplies it by the whole kernel and transforms the
// output back, so the transformed data never leaves the cache. With fewer chunks than
// threads, the chunks run one after another, each step parallel over tiles and
// channels (and the GEMM multithreaded inside oneDNN).
//
// Padding: channel counts are rounded up to 8 (one AVX2 vector) inside; the padded
// input lanes are loaded as zeros and the padded kernel rows are zero, so they add
// nothing. Tiles past the image's edge read zeros and their outputs are not stored.
//
// Backward-weights (wino_create_bwd_weights) reuses the input transform and the chunks;
// its GEMM's K is the tiles (see "backward-weights" below).
#include "nn/winograd.h"

// The AVX2 + FMA code builds whatever -march says (the Makefile compiles this file
// with -mavx2 -mfma, which both GCC and clang honour in OpenMP's outlined regions too);
// with -march on an AVX-512 CPU, the AVX-512 code. conv.c uses it only where the CPU has
// what it was built for (wino_cpu_ok).
#include <immintrin.h>
#include <libxsmm.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define DNNL_CHECK(call)                                                                          \
    do {                                                                                          \
        dnnl_status_t s_ = (call);                                                                \
        if (s_ != dnnl_success) return as_errorf("oneDNN: %s failed: status %d", #call, (int)s_); \
    } while (0)

// ---- the transforms -----------------------------------------------------------------
// Interpolation points 0, -1, 1, -2, 2 (m = 4) and 0, -1, 1, -1/2, 1/2, -2, 2 (m = 6),
// plus infinity; B^T (a x a), G (a x 3), A^T (m x a) with a = m + 2 (Lavin & Gray for
// m = 4; m = 6 as in NNPACK and ncnn).
static const float BT4[6][6] = {
    {4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
};
static const double G4[6][3] = {
    // double: 1/6 etc. are not floats
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};
static const float AT4[4][6] = {
    {1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0},
    {0, 1, 1, 4, 4, 0},
    {0, 1, -1, 8, -8, 1},
};
static const float BT6[8][8] = {
    {1, 0, -5.25f, 0, 5.25f, 0, -1, 0},        {0, 1, 1, -4.25f, -4.25f, 1, 1, 0},
    {0, -1, 1, 4.25f, -4.25f, -1, 1, 0},       {0, 0.5f, 0.25f, -2.5f, -1.25f, 2, 1, 0},
    {0, -0.5f, 0.25f, 2.5f, -1.25f, -2, 1, 0}, {0, 2, 4, -2.5f, -5, 0.5f, 1, 0},
    {0, -2, 4, 2.5f, -5, -0.5f, 1, 0},         {0, -1, 0, 5.25f, 0, -5.25f, 0, 1},
};
static const double G6[8][3] = {
    {1, 0, 0},
    {-2.0 / 9, -2.0 / 9, -2.0 / 9},
    {-2.0 / 9, 2.0 / 9, -2.0 / 9},
    {1.0 / 90, 1.0 / 45, 2.0 / 45},
    {1.0 / 90, -1.0 / 45, 2.0 / 45},
    {32.0 / 45, 16.0 / 45, 8.0 / 45},
    {32.0 / 45, -16.0 / 45, 8.0 / 45},
    {0, 0, 1},
};
static const float AT6[6][8] = {
    {1, 1, 1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
    {0, 1, 1, 4, 4, 0.25f, 0.25f, 0},
    {0, 1, -1, 8, -8, 0.125f, -0.125f, 0},
    {0, 1, 1, 16, 16, 0.0625f, 0.0625f, 0},
    {0, 1, -1, 32, -32, 0.03125f, -0.03125f, 1},
};

// F(4x4, 5x5) and F(2x2, 7x7) (SA4's convolutions) use F(6x6, 3x3)'s eight points and
// so its B^T: with a = m + r - 1 = 8 in all three, B^T depends on the points alone, and
// G (a x r) and A^T (m x a) follow from them: G[j][k] = s_j p_j^k with F(6x6, 3x3)'s row
// scales s_j (G6[j][0]), A^T[i][j] = p_j^i, and infinity's row and column pick the
// highest coefficient (Toom-Cook, as Lavin & Gray derive F(m, r) for any r).
static const double G5[8][5] = {
    {1, 0, 0, 0, 0},
    {-2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9},
    {-2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9},
    {1.0 / 90, 1.0 / 45, 2.0 / 45, 4.0 / 45, 8.0 / 45},
    {1.0 / 90, -1.0 / 45, 2.0 / 45, -4.0 / 45, 8.0 / 45},
    {32.0 / 45, 16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45},
    {32.0 / 45, -16.0 / 45, 8.0 / 45, -4.0 / 45, 2.0 / 45},
    {0, 0, 0, 0, 1},
};
static const float AT45[4][8] = {
    {1, 1, 1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0.5f, -0.5f, 0},
    {0, 1, 1, 4, 4, 0.25f, 0.25f, 0},
    {0, 1, -1, 8, -8, 0.125f, -0.125f, 1},
};
static const double G7[8][7] = {
    {1, 0, 0, 0, 0, 0, 0},
    {-2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9, -2.0 / 9},
    {-2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9},
    {1.0 / 90, 1.0 / 45, 2.0 / 45, 4.0 / 45, 8.0 / 45, 16.0 / 45, 32.0 / 45},
    {1.0 / 90, -1.0 / 45, 2.0 / 45, -4.0 / 45, 8.0 / 45, -16.0 / 45, 32.0 / 45},
    {32.0 / 45, 16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45, 1.0 / 45, 1.0 / 90},
    {32.0 / 45, -16.0 / 45, 8.0 / 45, -4.0 / 45, 2.0 / 45, -1.0 / 45, 1.0 / 90},
    {0, 0, 0, 0, 0, 0, 1},
};
static const float AT27[2][8] = {
    {1, 1, 1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0.5f, -0.5f, 1},
};

// One algorithm F(m x m, r x r): a = m + r - 1, the tile's input side.
typedef struct {
    int m, r, a;
    const float *BT, *AT;
    const double *G;
} mats;

static int get_mats(int r, int m, mats *t) {
    if (r == 3 && m == 4)
        *t = (mats){4, 3, 6, &BT4[0][0], &AT4[0][0], &G4[0][0]};
    else if (r == 3 && m == 6)
        *t = (mats){6, 3, 8, &BT6[0][0], &AT6[0][0], &G6[0][0]};
    else if (r == 5 && m == 4)
        *t = (mats){4, 5, 8, &BT6[0][0], &AT45[0][0], &G5[0][0]};
    else if (r == 7 && m == 2)
        *t = (mats){2, 7, 8, &BT6[0][0], &AT27[0][0], &G7[0][0]};
    else
        return as_errorf("winograd: no F(%dx%d, %dx%d) (F(4x4 or 6x6, 3x3), F(4x4, 5x5), F(2x2, 7x7))", m, m, r, r);
    return 0;
}

// ---- the vector type ---------------------------------------------------------------------
// The transforms work on VL channels at a time: 16 (one AVX-512 register) where the build
// targets AVX-512 (-march=native on such a CPU), else 8 (AVX2). Every lane does the same
// operations in the same order either way (the compiler may fuse a multiply and an add
// differently, so the two agree to rounding); on AVX-512 the transforms take about half
// the instructions. tests/test_winograd.c passes on both (make OPT="-O3 -march=haswell"
// builds the AVX2 one on an AVX-512 machine).
#if defined(__AVX512F__)
#define VL 16
typedef __m512 vf;
typedef __mmask16 vmask;
static inline vf v_zero(void) { return _mm512_setzero_ps(); }
static inline vf v_set1(float x) { return _mm512_set1_ps(x); }
static inline vf v_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf v_fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }    // a b + c
static inline vf v_fnmadd(vf a, vf b, vf c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a b
static inline vmask v_mask(int n) { return n >= 16 ? (vmask)0xffff : n <= 0 ? 0 : (vmask)((1u << n) - 1); }
static inline vf v_load(const float *p) { return _mm512_loadu_ps(p); }
static inline vf v_maskload(const float *p, vmask m) { return _mm512_maskz_loadu_ps(m, p); }
static inline void v_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline void v_maskstore(float *p, vmask m, vf v) { _mm512_mask_storeu_ps(p, m, v); }
static inline vf v_lrelu(vf v, vf slope) {  // v > 0 ? v : slope * v, as oneDNN's relu post-op
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, v_zero(), _CMP_GT_OQ), _mm512_mul_ps(v, slope), v);
}
#else
#define VL 8
typedef __m256 vf;
typedef __m256i vmask;
static inline vf v_zero(void) { return _mm256_setzero_ps(); }
static inline vf v_set1(float x) { return _mm256_set1_ps(x); }
static inline vf v_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf v_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf v_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf v_fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf v_fnmadd(vf a, vf b, vf c) { return _mm256_fnmadd_ps(a, b, c); }
static inline vmask v_mask(int n) {  // the first n of 8 lanes
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf v_load(const float *p) { return _mm256_loadu_ps(p); }
static inline vf v_maskload(const float *p, vmask m) { return _mm256_maskload_ps(p, m); }
static inline void v_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline void v_maskstore(float *p, vmask m, vf v) { _mm256_maskstore_ps(p, m, v); }
static inline vf v_lrelu(vf v, vf slope) {
    return _mm256_blendv_ps(_mm256_mul_ps(v, slope), v, _mm256_cmp_ps(v, v_zero(), _CMP_GT_OQ));
}
#endif
// n (<= VL) channels from p: all VL lanes when n == VL, else the first n (the rest zero)
static inline vf v_loadn(const float *p, int n, vmask m) { return n >= VL ? v_load(p) : v_maskload(p, m); }
static inline void v_storen(float *p, int n, vmask m, vf v) {
    if (n >= VL)
        v_store(p, v);
    else
        v_maskstore(p, m, v);
}

// y[i*ys] = sum_j M[i][j] x[j*xs], i < rows, j < cols, on VL lanes. Inlined with constant
// M, rows and cols and unrolled, so zero terms vanish and +-1 terms need no multiply.
static inline __attribute__((always_inline)) void tr8(const float *M, int rows, int cols, const vf *x, int xs, vf *y,
                                                      int ys) {
#pragma GCC unroll 8
    for (int i = 0; i < rows; i++) {
        vf acc = v_zero();
        int first = 1;
#pragma GCC unroll 8
        for (int j = 0; j < cols; j++) {
            float c = M[i * cols + j];
            if (c == 0.0f) continue;
            vf v = x[j * xs];
            if (first)
                acc = c == 1.0f ? v : v_mul(v_set1(c), v);
            else if (c == 1.0f)
                acc = v_add(acc, v);
            else if (c == -1.0f)
                acc = v_sub(acc, v);
            else
                acc = v_fmadd(v_set1(c), v, acc);
            first = 0;
        }
        y[i * ys] = acc;
    }
}

// F(4x4, 3x3)'s 1D transforms with their common terms shared (12 and 10 operations where
// the matrices have 22 and 18 non-zeros): B^T x (6 -> 6) and A^T x (6 -> 4).
static inline __attribute__((always_inline)) void bt4(const vf *x, int xs, vf *y, int ys) {
    const vf c2 = v_set1(2), c4 = v_set1(4), c5 = v_set1(5);
    vf d0 = x[0], d1 = x[xs], d2 = x[2 * xs], d3 = x[3 * xs], d4 = x[4 * xs], d5 = x[5 * xs];
    vf a = v_fnmadd(c4, d2, d4), b = v_fnmadd(c4, d1, d3);  // d4-4d2, d3-4d1
    vf c = v_sub(d4, d2), e = v_mul(c2, v_sub(d3, d1));
    y[0] = v_fmadd(c4, d0, v_fnmadd(c5, d2, d4));
    y[ys] = v_add(a, b);
    y[2 * ys] = v_sub(a, b);
    y[3 * ys] = v_add(c, e);
    y[4 * ys] = v_sub(c, e);
    y[5 * ys] = v_fmadd(c4, d1, v_fnmadd(c5, d3, d5));
}

static inline __attribute__((always_inline)) void at4(const vf *x, int xs, vf *y, int ys) {
    vf a = v_add(x[xs], x[2 * xs]), b = v_sub(x[xs], x[2 * xs]);
    vf c = v_add(x[3 * xs], x[4 * xs]), d = v_sub(x[3 * xs], x[4 * xs]);
    y[0] = v_add(v_add(x[0], a), c);
    y[ys] = v_fmadd(v_set1(2), d, b);
    y[2 * ys] = v_fmadd(v_set1(4), c, a);
    y[3 * ys] = v_add(v_fmadd(v_set1(8), d, b), x[5 * xs]);
}

// The 8-point B^T x (8 -> 8) of F(6x6, 3x3), F(4x4, 5x5) and F(2x2, 7x7) with its
// common terms shared (26 operations where the matrix has 44 non-zeros; the grouping
// is NNPACK's and ncnn's).
static inline __attribute__((always_inline)) void bt8(const vf *x, int xs, vf *y, int ys) {
    vf d0 = x[0], d1 = x[xs], d2 = x[2 * xs], d3 = x[3 * xs], d4 = x[4 * xs], d5 = x[5 * xs], d6 = x[6 * xs],
       d7 = x[7 * xs];
    const vf c525 = v_set1(5.25f), c425 = v_set1(4.25f), c25 = v_set1(2.5f);
    const vf c125 = v_set1(1.25f), c2 = v_set1(2), c4 = v_set1(4);
    const vf c05 = v_set1(0.5f), c025 = v_set1(0.25f);
    y[0] = v_fmadd(c525, v_sub(d4, d2), v_sub(d0, d6));
    y[7 * ys] = v_fmadd(c525, v_sub(d3, d5), v_sub(d7, d1));
    vf a = v_fnmadd(c425, d4, v_add(d2, d6));  // d2 + d6 - 4.25 d4
    vf b = v_fnmadd(c425, d3, v_add(d1, d5));  // d1 + d5 - 4.25 d3
    y[ys] = v_add(a, b);
    y[2 * ys] = v_sub(a, b);
    a = v_fnmadd(c125, d4, v_fmadd(c025, d2, d6));           // d6 + d2/4 - 1.25 d4
    b = v_fmadd(c2, d5, v_fnmadd(c25, d3, v_mul(c05, d1)));  // d1/2 - 2.5 d3 + 2 d5
    y[3 * ys] = v_add(a, b);
    y[4 * ys] = v_sub(a, b);
    a = v_fmadd(c4, v_fnmadd(c125, d4, d2), d6);             // d6 + 4 (d2 - 1.25 d4)
    b = v_fmadd(c05, d5, v_fnmadd(c25, d3, v_mul(c2, d1)));  // 2 d1 - 2.5 d3 + d5/2
    y[5 * ys] = v_add(a, b);
    y[6 * ys] = v_sub(a, b);
}

// A^T x (8 -> 2) of F(2x2, 7x7), even and odd pairs shared (12 operations for 14 non-zeros).
static inline __attribute__((always_inline)) void at2(const vf *x, int xs, vf *y, int ys) {
    vf s12 = v_add(x[xs], x[2 * xs]), d12 = v_sub(x[xs], x[2 * xs]);
    vf s34 = v_add(x[3 * xs], x[4 * xs]), d34 = v_sub(x[3 * xs], x[4 * xs]);
    vf s56 = v_add(x[5 * xs], x[6 * xs]), d56 = v_sub(x[5 * xs], x[6 * xs]);
    y[0] = v_add(v_add(x[0], s12), v_add(s34, s56));
    y[ys] = v_add(v_fmadd(v_set1(2), d34, d12), v_fmadd(v_set1(0.5f), d56, x[7 * xs]));
}

// A x (4 -> 6, A = (A^T)^T of F(4x4, 3x3)), for backward-weights' d_out tiles: even and
// odd terms shared (8 operations).
static inline __attribute__((always_inline)) void a4(const vf *x, int xs, vf *y, int ys) {
    vf x0 = x[0], x1 = x[xs], x2 = x[2 * xs], x3 = x[3 * xs];
    vf e = v_add(x0, x2), o = v_add(x1, x3);
    vf e4 = v_fmadd(v_set1(4), x2, x0);
    vf o8 = v_fmadd(v_set1(8), x3, v_add(x1, x1));
    y[0] = x0;
    y[ys] = v_add(e, o);
    y[2 * ys] = v_sub(e, o);
    y[3 * ys] = v_add(e4, o8);
    y[4 * ys] = v_sub(e4, o8);
    y[5 * ys] = x3;
}

// ---- the plan -------------------------------------------------------------------------
typedef void in_chunk_fn(const wino *w, float *V, const float *in, int t0, int nt, int par);
typedef void out_chunk_fn(const wino *w, float *out, const float *M, int t0, int nt, const float *bias, int lrelu,
                          float slope, const float *res, int par);

struct wino {
    int N, H, W, cin, cout, r, m, a, a2, cinp, coutp;  // F(m x m, r x r), a = m + r - 1
    int bwdw;                                          // a backward-weights plan (wino_create_bwd_weights)
    int th, tw, T;                                     // tiles per column, per row, in all
    int tc, nchunks, nthr;                             // tiles per chunk, chunks, threads planned for
    mats t;
    in_chunk_fn *in_chunk;  // the transforms, instantiated per algorithm
    out_chunk_fn *out_chunk;
    libxsmm_smmfunction xmm;   // forward: M[p] = V[p] U[p] by libxsmm, when it has a kernel
    dnnl_primitive_desc_t pd;  // else (and backward-weights) oneDNN's matmul
    dnnl_primitive_t prim;
    dnnl_stream_t *stream;                                      // per thread
    dnnl_memory_t *msrc, *mwei, *mdst, *mscr;                   // per thread (handles set per call)
    size_t v_floats, m_floats, u_floats, scr_bytes, thr_bytes;  // u: backward-weights' dU
    float *wt;                                                  // the kernel transform's regrouped weights
    char *ws, *ws_own;
    char impl[96];
};

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

// The forward's products through libxsmm: one kernel M[p] = V[p] U[p] (row-major tc x
// cinp times cinp x coutp; in libxsmm's column-major terms C = A B with A = U[p], m =
// coutp, n = tc, k = cinp). 0 where libxsmm has no kernel for the shape or CPU.
static int xsmm_plan(wino *w) {
    libxsmm_init();  // once per process; later calls return at once
    const libxsmm_blasint m = w->coutp, n = w->tc, k = w->cinp, lda = w->coutp, ldb = w->cinp, ldc = w->coutp;
    const float alpha = 1, beta = 0;
    const int flags = LIBXSMM_GEMM_FLAGS('N', 'N');
    w->xmm = libxsmm_smmdispatch(m, n, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, NULL);
    return w->xmm != NULL;
}

// The products through oneDNN's matmul: the primitive, and per thread a stream and the
// memory objects whose handles each call sets.
static int dnnl_plan(wino *w) {
    dnnl_engine_t eng;
    if (nn_dnnl_engine(&eng)) return -1;
    const int tc = w->tc;
    dnnl_memory_desc_t smd, wmd, dmd, scr_md;
    if (!w->bwdw) {  // M[p] (tc x coutp) = V[p] (tc x cinp) x U[p] (cinp x coutp)
        dnnl_dims_t sd = {w->a2, tc, w->cinp}, wd = {w->a2, w->cinp, w->coutp}, dd = {w->a2, tc, w->coutp};
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&smd, 3, sd, dnnl_f32, dnnl_abc));
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&wmd, 3, wd, dnnl_f32, dnnl_abc));
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&dmd, 3, dd, dnnl_f32, dnnl_abc));
    } else {  // dU[p] (coutp x cinp) += dM[p]^T (coutp x tc, dM read transposed) x V[p] (tc x cinp)
        dnnl_dims_t sd = {w->a2, w->coutp, tc}, ss = {(dnnl_dim_t)tc * w->coutp, 1, w->coutp};
        dnnl_dims_t wd = {w->a2, tc, w->cinp}, dd = {w->a2, w->coutp, w->cinp};
        DNNL_CHECK(dnnl_memory_desc_init_by_strides(&smd, 3, sd, dnnl_f32, ss));
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&wmd, 3, wd, dnnl_f32, dnnl_abc));
        DNNL_CHECK(dnnl_memory_desc_init_by_tag(&dmd, 3, dd, dnnl_f32, dnnl_abc));
    }
    dnnl_matmul_desc_t md;
    DNNL_CHECK(dnnl_matmul_desc_init(&md, &smd, &wmd, NULL, &dmd));
    dnnl_primitive_attr_t attr;
    DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    dnnl_status_t st = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (st == dnnl_success && w->bwdw) {  // the chunks accumulate: dst += product
        dnnl_post_ops_t po;
        st = dnnl_post_ops_create(&po);
        if (st == dnnl_success) {
            st = dnnl_post_ops_append_sum(po, 1.0f);
            if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(attr, po);
            dnnl_post_ops_destroy(po);
        }
    }
    if (st == dnnl_success) st = dnnl_primitive_desc_create(&w->pd, &md, attr, eng, NULL);
    dnnl_primitive_attr_destroy(attr);
    DNNL_CHECK(st);
    DNNL_CHECK(dnnl_primitive_create(&w->prim, w->pd));
    const char *impl = "?";
    dnnl_primitive_desc_query(w->pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(w->impl, sizeof w->impl, "winograd F(%dx%d,%dx%d)%s + %s", w->m, w->m, w->r, w->r,
             w->bwdw ? " bwd-weights" : "", impl);
    scr_md = *dnnl_primitive_desc_query_md(w->pd, dnnl_query_scratchpad_md, 0);
    w->scr_bytes = dnnl_memory_desc_get_size(&scr_md);
    int n = w->nthr;
    w->stream = as_calloc(n, sizeof *w->stream);
    w->msrc = as_calloc(n, sizeof *w->msrc);
    w->mwei = as_calloc(n, sizeof *w->mwei);
    w->mdst = as_calloc(n, sizeof *w->mdst);
    w->mscr = as_calloc(n, sizeof *w->mscr);
    if (!w->stream || !w->msrc || !w->mwei || !w->mdst || !w->mscr) return -1;
    for (int i = 0; i < n; i++) {
        DNNL_CHECK(dnnl_stream_create(&w->stream[i], eng, dnnl_stream_default_flags));
        DNNL_CHECK(dnnl_memory_create(&w->msrc[i], &smd, eng, DNNL_MEMORY_NONE));
        DNNL_CHECK(dnnl_memory_create(&w->mwei[i], &wmd, eng, DNNL_MEMORY_NONE));
        DNNL_CHECK(dnnl_memory_create(&w->mdst[i], &dmd, eng, DNNL_MEMORY_NONE));
        DNNL_CHECK(dnnl_memory_create(&w->mscr[i], &scr_md, eng, DNNL_MEMORY_NONE));
    }
    return 0;
}

static int plan(wino *w) {
    // tc: V and M of a chunk in about 1 MiB (half of L2 on the machines we measured),
    // a multiple of 8 tiles; it depends on the shape only, so results do not depend
    // on the thread count
    size_t per_tile = (size_t)w->a2 * (w->cinp + w->coutp) * sizeof(float);
    int tc = (int)((1u << 20) / per_tile) & ~7;
    tc = AS_MAX(tc, 8);
    tc = AS_MIN(tc, (w->T + 7) & ~7);
    w->nchunks = (w->T + tc - 1) / tc;
    w->tc = tc;
    w->nthr = omp_get_max_threads();
    w->v_floats = (size_t)w->a2 * tc * w->cinp;
    w->m_floats = (size_t)w->a2 * tc * w->coutp;

    w->u_floats = w->bwdw ? (size_t)w->a2 * w->coutp * w->cinp : 0;

    if (!w->bwdw && !(w->wt = as_aligned_alloc(sizeof(float) * w->cin * w->r * w->r * w->coutp))) return -1;
    if (!w->bwdw && xsmm_plan(w)) {
        snprintf(w->impl, sizeof w->impl, "winograd F(%dx%d,%dx%d) + libxsmm", w->m, w->m, w->r, w->r);
    } else if (dnnl_plan(w)) {
        return -1;
    }
    w->thr_bytes = round64(w->v_floats * sizeof(float)) + round64(w->m_floats * sizeof(float)) + round64(w->scr_bytes);
    if (w->bwdw) w->thr_bytes += round64(w->u_floats * sizeof(float)) + round64(w->coutp * sizeof(float));
    return 0;
}

static void transforms_for(wino *w);

static wino *create(int N, int H, int W, int cin, int cout, int r, int m, int bwdw) {
    mats t = {0};
    if (get_mats(r, m, &t)) return NULL;
    if (N <= 0 || H <= 0 || W <= 0 || cin <= 0 || cout <= 0) {
        as_errorf("winograd: invalid shape N=%d H=%d W=%d cin=%d cout=%d", N, H, W, cin, cout);
        return NULL;
    }
    wino *w = as_calloc(1, sizeof *w);
    if (!w) return NULL;
    *w = (wino){.N = N,
                .H = H,
                .W = W,
                .cin = cin,
                .cout = cout,
                .r = r,
                .m = m,
                .a = t.a,
                .a2 = t.a * t.a,
                .cinp = (cin + 7) & ~7,
                .coutp = (cout + 7) & ~7,
                .bwdw = bwdw,
                .t = t};
    w->th = (H + m - 1) / m, w->tw = (W + m - 1) / m;
    int64_t T = (int64_t)N * w->th * w->tw;
    if (T > (1 << 30)) {
        as_errorf("winograd: %lld tiles", (long long)T);
        free(w);
        return NULL;
    }
    w->T = (int)T;
    transforms_for(w);
    if (plan(w)) {
        wino_destroy(w);
        return NULL;
    }
    return w;
}

wino *wino_create(int N, int H, int W, int cin, int cout, int r, int m) { return create(N, H, W, cin, cout, r, m, 0); }
wino *wino_create_bwd_weights(int N, int H, int W, int cin, int cout) { return create(N, H, W, cin, cout, 3, 4, 1); }

void wino_destroy(wino *w) {
    if (!w) return;
    for (int i = 0; i < w->nthr; i++) {
        if (w->stream && w->stream[i]) dnnl_stream_destroy(w->stream[i]);
        dnnl_memory_t *ms[] = {w->msrc, w->mwei, w->mdst, w->mscr};
        for (int k = 0; k < 4; k++)
            if (ms[k] && ms[k][i]) dnnl_memory_destroy(ms[k][i]);
    }
    free(w->stream), free(w->msrc), free(w->mwei), free(w->mdst), free(w->mscr);
    if (w->prim) dnnl_primitive_destroy(w->prim);
    if (w->pd) dnnl_primitive_desc_destroy(w->pd);
    free(w->ws_own);
    free(w->wt);
    free(w);
}

int wino_cpu_ok(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           (VL == 8 || __builtin_cpu_supports("avx512f"));
}

size_t wino_workspace_bytes(const wino *w) { return w->thr_bytes * w->nthr; }
void wino_set_workspace(wino *w, void *ws) { w->ws = ws; }
const char *wino_impl_name(const wino *w) { return w->impl; }
size_t wino_kernel_floats(const wino *w) { return (size_t)w->a2 * w->cinp * w->coutp; }

// ---- kernel transform: U[p][ci][co] = (G g[co][ci] G^T)[p], once per model or step ----
// In double (U's only rounding is the last one), 4 output channels per vector, from the
// weights regrouped as wt[ci][k][co]; about 0.1 ms for a 64 -> 64 3x3 layer.
static inline __attribute__((always_inline)) void kernel_quad(const double *G, int a, int r, const float *wt, int coutp,
                                                              float *U, size_t ps, int ci, int co) {
    __m256d g[7 * 7], tg[8 * 7];
    for (int k = 0; k < r * r; k++) g[k] = _mm256_cvtps_pd(_mm_loadu_ps(wt + (size_t)k * coutp + co));
    for (int i = 0; i < a; i++)  // G g: a x r
        for (int l = 0; l < r; l++) {
            __m256d acc = _mm256_mul_pd(_mm256_set1_pd(G[i * r]), g[l]);
            for (int k = 1; k < r; k++) acc = _mm256_fmadd_pd(_mm256_set1_pd(G[i * r + k]), g[k * r + l], acc);
            tg[i * r + l] = acc;
        }
    float *u = U + (size_t)ci * coutp + co;
    for (int i = 0; i < a; i++)  // (.) G^T: a x a
        for (int j = 0; j < a; j++) {
            __m256d v = _mm256_mul_pd(tg[i * r], _mm256_set1_pd(G[j * r]));
            for (int l = 1; l < r; l++) v = _mm256_fmadd_pd(tg[i * r + l], _mm256_set1_pd(G[j * r + l]), v);
            _mm_storeu_ps(u + (size_t)(i * a + j) * ps, _mm256_cvtpd_ps(v));
        }
}

void wino_kernel_transform(wino *w, float *U, const float *weight, int flip) {
    const int cin = w->cin, cout = w->cout, cinp = w->cinp, coutp = w->coutp, kk = w->r * w->r;
    const size_t ps = (size_t)cinp * coutp;
    float *wt = w->wt;
    const double *G = w->t.G;
#pragma omp parallel for schedule(static)
    for (int ci = 0; ci < cin; ci++) {
        float *t = wt + (size_t)ci * kk * coutp;
        for (int k = 0; k < kk; k++) {  // flip: g'[co][ci][k] = g[ci][co][kk - 1 - k]
            for (int co = 0; co < cout; co++)
                t[k * coutp + co] = flip ? weight[((size_t)ci * cout + co) * kk + kk - 1 - k]
                                         : weight[((size_t)co * cin + ci) * kk + k];
            for (int co = cout; co < coutp; co++) t[k * coutp + co] = 0;
        }
        for (int co = 0; co < coutp; co += 4) {  // constant a and r in each call: unrolled
            if (w->r == 3 && w->a == 6)
                kernel_quad(G, 6, 3, t, coutp, U, ps, ci, co);
            else if (w->r == 3)
                kernel_quad(G, 8, 3, t, coutp, U, ps, ci, co);
            else if (w->r == 5)
                kernel_quad(G, 8, 5, t, coutp, U, ps, ci, co);
            else
                kernel_quad(G, 8, 7, t, coutp, U, ps, ci, co);
        }
    }
    for (int p = 0; p < w->a2; p++)  // the padded input channels' rows: zero
        memset(U + p * ps + (size_t)cin * coutp, 0, sizeof(float) * (cinp - cin) * coutp);
}

// ---- input and output transforms (AVX2 or AVX-512) ------------------------------------

// V[p] (p = i * a + j, stride ps) = (B^T d B)[p] of one tile d (origin y0, x0 in image
// n) of `in`, channels c..c+VL (of cinp: the lanes past cin are zeros, those past cinp
// not stored): each column loaded and transformed in registers, each row transformed and
// stored, so the tile goes through memory once (s) between the two. Interior tiles skip
// the bounds checks.
static inline __attribute__((always_inline)) void in_tile(const wino *w, int a, float *v, size_t ps, const float *in,
                                                          int n, int y0, int x0, int c) {
    const int H = w->H, W = w->W, C = w->cin, nc = C - c, np = w->cinp - c;
    const int inside = nc >= VL && y0 >= 0 && x0 >= 0 && y0 + a <= H && x0 + a <= W;
    const vmask mask = v_mask(nc), pmask = v_mask(np);
    const float *base = in + (size_t)n * H * W * C + c;
    vf s[64];
    for (int j = 0; j < a; j++) {  // B^T d, column j
        vf col[8];
        const int x = x0 + j;
        for (int i = 0; i < a; i++) {
            const int y = y0 + i;
            const float *q = base + ((size_t)y * W + x) * C;
            if (inside)
                col[i] = v_load(q);
            else if (y < 0 || y >= H || x < 0 || x >= W)
                col[i] = v_zero();
            else
                col[i] = v_loadn(q, nc, mask);
        }
        if (a == 6)
            bt4(col, 1, s + j, a);
        else
            bt8(col, 1, s + j, a);
    }
    for (int i = 0; i < a; i++) {  // (.) B, row i
        vf row[8];
        if (a == 6)
            bt4(s + i * a, 1, row, 1);
        else
            bt8(s + i * a, 1, row, 1);
        for (int j = 0; j < a; j++) v_storen(v + (size_t)(i * a + j) * ps, np, pmask, row[j]);
    }
}

// out at tile (n, y0, x0), channels c..c+VL (of cout), from M[p][tt][c..c+VL), + bias,
// LeakyReLU, + res.
static inline __attribute__((always_inline)) void out_tile(const wino *w, int m, int a, const float *AT, float *out,
                                                           const float *M, int tt, int n, int y0, int x0, int c,
                                                           const float *bias, int lrelu, float slope,
                                                           const float *res) {
    const int H = w->H, W = w->W, C = w->cout, nc = C - c;
    const vmask mask = v_mask(nc);
    vf x[64], s[64];
    size_t ps = (size_t)w->tc * w->coutp;
    const float *mp = M + (size_t)tt * w->coutp + c;
    for (int p = 0; p < a * a; p++) x[p] = v_loadn(mp + p * ps, nc, mask);  // M's lanes past cout: unused
    if (a == 6) {
        for (int j = 0; j < a; j++) at4(x + j, a, s + j, a);
        for (int i = 0; i < m; i++) at4(s + i * a, 1, x + i * m, 1);
    } else if (m == 2) {
        for (int j = 0; j < a; j++) at2(x + j, a, s + j, a);
        for (int i = 0; i < m; i++) at2(s + i * a, 1, x + i * m, 1);
    } else {
        for (int j = 0; j < a; j++) tr8(AT, m, a, x + j, a, s + j, a);          // A^T x: m x a
        for (int i = 0; i < m; i++) tr8(AT, m, a, s + i * a, 1, x + i * m, 1);  // (.) A: m x m
    }
    vf b = bias ? v_loadn(bias + c, nc, mask) : v_zero(), sl = v_set1(slope);
    for (int i = 0; i < m && y0 + i < H; i++) {
        for (int j = 0; j < m && x0 + j < W; j++) {
            vf v = v_add(x[i * m + j], b);
            if (lrelu) v = v_lrelu(v, sl);
            float *q = out + (((size_t)n * H + y0 + i) * W + x0 + j) * C + c;
            if (res) v = v_add(v, v_loadn(res + (q - out), nc, mask));
            v_storen(q, nc, mask, v);
        }
    }
}

// The transforms of tiles [t0, t0 + nt), one instance per algorithm (m output and a
// input pixels a side, the 'same' padding (a - m) / 2) so that the matrices are
// constants in the unrolled code (named inside the loop body: OpenMP outlines it, and a
// pointer captured from outside would be a variable there); `par`: spread over the
// threads (tiles x channels).
#define DEFINE_TRANSFORMS(NAME_, M_, A_, AT_)                                                                         \
    static void in_chunk_##NAME_(const wino *w, float *V, const float *in, int t0, int nt, int par) {                 \
        int ncg = (w->cinp + VL - 1) / VL, per = w->th * w->tw;                                                       \
        size_t ps = (size_t)w->tc * w->cinp;                                                                          \
        _Pragma("omp parallel for collapse(2) schedule(static) if (par)") for (int tt = 0; tt < nt;                   \
                                                                               tt++) for (int cg = 0; cg < ncg;       \
                                                                                          cg++) {                     \
            int t = t0 + tt, n = t / per, r = t % per, y0 = (r / w->tw) * M_ - (A_ - M_) / 2;                         \
            int x0 = (r % w->tw) * M_ - (A_ - M_) / 2, c = cg * VL;                                                   \
            in_tile(w, A_, V + (size_t)tt * w->cinp + c, ps, in, n, y0, x0, c);                                       \
        }                                                                                                             \
    }                                                                                                                 \
    static void out_chunk_##NAME_(const wino *w, float *out, const float *Mb, int t0, int nt, const float *bias,      \
                                  int lrelu, float slope, const float *res, int par) {                                \
        int ncg = (w->cout + VL - 1) / VL, per = w->th * w->tw;                                                       \
        _Pragma("omp parallel for collapse(2) schedule(static) if (par)") for (int tt = 0; tt < nt;                   \
                                                                               tt++) for (int cg = 0; cg < ncg;       \
                                                                                          cg++) {                     \
            int t = t0 + tt, n = t / per, r = t % per;                                                                \
            out_tile(w, M_, A_, &AT_[0][0], out, Mb, tt, n, (r / w->tw) * M_, (r % w->tw) * M_, cg * VL, bias, lrelu, \
                     slope, res);                                                                                     \
        }                                                                                                             \
    }
DEFINE_TRANSFORMS(f43, 4, 6, AT4)
DEFINE_TRANSFORMS(f63, 6, 8, AT6)
DEFINE_TRANSFORMS(f45, 4, 8, AT45)
DEFINE_TRANSFORMS(f27, 2, 8, AT27)

static void transforms_for(wino *w) {
    if (w->r == 3 && w->m == 4)
        w->in_chunk = in_chunk_f43, w->out_chunk = out_chunk_f43;
    else if (w->r == 3)
        w->in_chunk = in_chunk_f63, w->out_chunk = out_chunk_f63;
    else if (w->r == 5)
        w->in_chunk = in_chunk_f45, w->out_chunk = out_chunk_f45;
    else
        w->in_chunk = in_chunk_f27, w->out_chunk = out_chunk_f27;
}

// One chunk with thread tid's buffers; 0, or a oneDNN status.
static dnnl_status_t chunk(wino *w, int tid, int ch, float *out, const float *in, const float *U, const float *bias,
                           int lrelu, float slope, const float *res, int par) {
    char *base = w->ws + (size_t)tid * w->thr_bytes;
    float *V = (float *)base;
    float *M = (float *)(base + round64(w->v_floats * sizeof(float)));
    void *scr = base + round64(w->v_floats * sizeof(float)) + round64(w->m_floats * sizeof(float));
    int t0 = ch * w->tc, nt = AS_MIN(w->tc, w->T - t0);
    w->in_chunk(w, V, in, t0, nt, par);
    if (nt < w->tc)  // the last chunk's unused rows: zeros, so the GEMM reads no garbage
        for (int p = 0; p < w->a2; p++)
            memset(V + ((size_t)p * w->tc + nt) * w->cinp, 0, sizeof(float) * (w->tc - nt) * w->cinp);
    if (w->xmm) {  // the positions' products, over the threads when the chunk is theirs
        const size_t vs = (size_t)w->tc * w->cinp, us = (size_t)w->cinp * w->coutp, ms = (size_t)w->tc * w->coutp;
#pragma omp parallel for schedule(static) if (par)
        for (int p = 0; p < w->a2; p++) w->xmm(U + p * us, V + p * vs, M + p * ms);
    } else {
        dnnl_status_t s;
        if ((s = dnnl_memory_set_data_handle(w->msrc[tid], V)) ||
            (s = dnnl_memory_set_data_handle(w->mwei[tid], (void *)U)) ||
            (s = dnnl_memory_set_data_handle(w->mdst[tid], M)) || (s = dnnl_memory_set_data_handle(w->mscr[tid], scr)))
            return s;
        dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, w->msrc[tid]},
                                  {DNNL_ARG_WEIGHTS, w->mwei[tid]},
                                  {DNNL_ARG_DST, w->mdst[tid]},
                                  {DNNL_ARG_SCRATCHPAD, w->mscr[tid]}};
        if ((s = dnnl_primitive_execute(w->prim, w->stream[tid], 4, args)) || (s = dnnl_stream_wait(w->stream[tid])))
            return s;
    }
    w->out_chunk(w, out, M, t0, nt, bias, lrelu, slope, res, par);
    return dnnl_success;
}

int wino_run(wino *w, float *out, const float *in, const float *U, const float *bias, int lrelu, float slope,
             const float *res) {
    if (w->bwdw) return as_errorf("winograd: wino_run on a backward-weights plan");
    if (!w->ws && !(w->ws = w->ws_own = as_aligned_alloc(wino_workspace_bytes(w)))) return -1;
    int nthr = AS_MIN(omp_get_max_threads(), w->nthr);
    dnnl_status_t st = dnnl_success;
    if (nthr > 1 && w->nchunks >= nthr) {  // a chunk per thread at a time, GEMM inside
#pragma omp parallel num_threads(nthr)
        {
            int tid = omp_get_thread_num();
#pragma omp for schedule(dynamic)
            for (int ch = 0; ch < w->nchunks; ch++) {
                dnnl_status_t s = chunk(w, tid, ch, out, in, U, bias, lrelu, slope, res, 0);
                if (s != dnnl_success) {
#pragma omp critical(wino_status)
                    st = s;
                }
            }
        }
    } else {  // few tiles: each step of each chunk over all threads
        for (int ch = 0; ch < w->nchunks && st == dnnl_success; ch++)
            st = chunk(w, 0, ch, out, in, U, bias, lrelu, slope, res, nthr > 1);
    }
    if (st != dnnl_success) return as_errorf("oneDNN: winograd matmul failed: status %d", (int)st);
    return 0;
}

// ---- backward-weights -------------------------------------------------------------------
// The forward is Y = A^T [sum_ci U[ci] (.) V[ci]] A per tile, with U = G g G^T, so
//     dU[co][ci] = sum over tiles of (A dY[co] A^T) (.) V[ci],   dg = G^T dU G,
// dY the tile's 4x4 of d_out (zeros past the edges: those outputs are not stored), V the
// forward's input transform. Per transformed position p, dU[p] is a GEMM whose K is the
// tiles: each chunk adds its product to a slot's dU (oneDNN's sum post-op).

// dM[p][tt][c..c+VL) = (A dY A^T)[p] of d_out's tiles [t0, t0 + nt), and each tile's pixels
// summed into db (d_bias). Over channel groups, tiles in order inside: the bias sums do
// not depend on the threads.
static void dy_chunk4(const wino *w, float *dM, float *db, const float *dout, int t0, int nt, int par) {
    const int ncg = (w->coutp + VL - 1) / VL, per = w->th * w->tw, C = w->cout, H = w->H, W = w->W;
    const size_t ps = (size_t)w->tc * w->coutp;
#pragma omp parallel for schedule(static) if (par)
    for (int cg = 0; cg < ncg; cg++) {
        const int c = cg * VL, nc = C - c, np = w->coutp - c;  // lanes past cout: zeros, past coutp: not stored
        const vmask mask = v_mask(nc), pmask = v_mask(np);
        vf bsum = v_loadn(db + c, np, pmask);
        for (int tt = 0; tt < nt; tt++) {
            int t = t0 + tt, n = t / per, r = t % per, y0 = (r / w->tw) * 4, x0 = (r % w->tw) * 4;
            vf x[16], s[24], d[36], tsum = v_zero();
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) {
                    if (y0 + i >= H || x0 + j >= W) {
                        x[i * 4 + j] = v_zero();
                        continue;
                    }
                    const float *q = dout + (((size_t)n * H + y0 + i) * W + x0 + j) * C + c;
                    x[i * 4 + j] = v_loadn(q, nc, mask);
                    tsum = v_add(tsum, x[i * 4 + j]);
                }
            bsum = v_add(bsum, tsum);
            for (int j = 0; j < 4; j++) a4(x + j, 4, s + j, 4);          // A dY (columns): 6 x 4
            for (int i = 0; i < 6; i++) a4(s + i * 4, 1, d + i * 6, 1);  // (.) A^T (rows): 6 x 6
            float *o = dM + (size_t)tt * w->coutp + c;
            for (int p = 0; p < 36; p++) v_storen(o + p * ps, np, pmask, d[p]);
        }
        v_storen(db + c, np, pmask, bsum);
    }
}

// Thread tid's buffers: V, dM, the GEMM's scratchpad, dU, db.
typedef struct {
    float *V, *M, *U, *db;
    void *scr;
} bw_bufs;

static bw_bufs bw_get(const wino *w, int tid) {
    char *b = w->ws + (size_t)tid * w->thr_bytes;
    size_t v = round64(w->v_floats * sizeof(float)), m = round64(w->m_floats * sizeof(float));
    size_t u = round64(w->u_floats * sizeof(float));
    return (bw_bufs){(float *)b, (float *)(b + v), (float *)(b + v + m + round64(w->scr_bytes)),
                     (float *)(b + v + m + round64(w->scr_bytes) + u), b + v + m};
}

// Slot `slot`'s chunks [c0, c1) accumulated into its dU and db.
static dnnl_status_t bw_slot(wino *w, int slot, int c0, int c1, const float *in, const float *d_out, int par) {
    bw_bufs b = bw_get(w, slot);
    memset(b.U, 0, w->u_floats * sizeof(float));
    memset(b.db, 0, w->coutp * sizeof(float));
    dnnl_status_t s;
    if ((s = dnnl_memory_set_data_handle(w->msrc[slot], b.M)) ||
        (s = dnnl_memory_set_data_handle(w->mwei[slot], b.V)) ||
        (s = dnnl_memory_set_data_handle(w->mdst[slot], b.U)) ||
        (s = dnnl_memory_set_data_handle(w->mscr[slot], b.scr)))
        return s;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, w->msrc[slot]},
                              {DNNL_ARG_WEIGHTS, w->mwei[slot]},
                              {DNNL_ARG_DST, w->mdst[slot]},
                              {DNNL_ARG_SCRATCHPAD, w->mscr[slot]}};
    for (int ch = c0; ch < c1; ch++) {
        int t0 = ch * w->tc, nt = AS_MIN(w->tc, w->T - t0);
        in_chunk_f43(w, b.V, in, t0, nt, par);
        dy_chunk4(w, b.M, b.db, d_out, t0, nt, par);
        if (nt < w->tc)  // the last chunk's unused rows: zeros in both (0 x garbage may be NaN)
            for (int p = 0; p < w->a2; p++) {
                memset(b.V + ((size_t)p * w->tc + nt) * w->cinp, 0, sizeof(float) * (w->tc - nt) * w->cinp);
                memset(b.M + ((size_t)p * w->tc + nt) * w->coutp, 0, sizeof(float) * (w->tc - nt) * w->coutp);
            }
        if ((s = dnnl_primitive_execute(w->prim, w->stream[slot], 4, args)) || (s = dnnl_stream_wait(w->stream[slot])))
            return s;
    }
    return dnnl_success;
}

// d_weight[co][ci] = G^T (sum over slots of dU[co][ci]) G, in double, 4 input channels per
// vector; the slots summed in order.
static void bw_finish(const wino *w, int nslots, float *d_weight, float *d_bias, int par) {
    const int cin = w->cin, cout = w->cout, cinp = w->cinp;
    const size_t ps = (size_t)w->coutp * cinp;
#pragma omp parallel for schedule(static) if (par)
    for (int co = 0; co < cout; co++)
        for (int ci = 0; ci < cin; ci += 4) {
            __m256d u[36], t[18];
            for (int p = 0; p < 36; p++) {
                u[p] = _mm256_setzero_pd();
                for (int sl = 0; sl < nslots; sl++)
                    u[p] = _mm256_add_pd(
                        u[p], _mm256_cvtps_pd(_mm_loadu_ps(bw_get(w, sl).U + p * ps + (size_t)co * cinp + ci)));
            }
            for (int i = 0; i < 6; i++)  // dU G: 6 x 3
                for (int l = 0; l < 3; l++) {
                    __m256d acc = _mm256_setzero_pd();
                    for (int j = 0; j < 6; j++)
                        if (G4[j][l] != 0) acc = _mm256_fmadd_pd(u[i * 6 + j], _mm256_set1_pd(G4[j][l]), acc);
                    t[i * 3 + l] = acc;
                }
            double r[9][4];
            for (int k = 0; k < 3; k++)  // G^T (.): 3 x 3
                for (int l = 0; l < 3; l++) {
                    __m256d acc = _mm256_setzero_pd();
                    for (int i = 0; i < 6; i++)
                        if (G4[i][k] != 0) acc = _mm256_fmadd_pd(_mm256_set1_pd(G4[i][k]), t[i * 3 + l], acc);
                    _mm256_storeu_pd(r[k * 3 + l], acc);
                }
            for (int q = 0; q < 4 && ci + q < cin; q++)
                for (int k = 0; k < 9; k++) d_weight[((size_t)co * cin + ci + q) * 9 + k] = (float)r[k][q];
        }
    if (d_bias)
        for (int co = 0; co < cout; co++) {
            double acc = 0;
            for (int sl = 0; sl < nslots; sl++) acc += bw_get(w, sl).db[co];
            d_bias[co] = (float)acc;
        }
}

int wino_backward_weights(wino *w, float *d_weight, float *d_bias, const float *in, const float *d_out) {
    if (!w->bwdw) return as_errorf("winograd: not a backward-weights plan");
    if (!w->ws && !(w->ws = w->ws_own = as_aligned_alloc(wino_workspace_bytes(w)))) return -1;
    // Slots: a thread's share of the chunks (contiguous), each its own accumulator, added
    // in slot order at the end, so the result depends on the thread count (in rounding)
    // but not on timing.
    int nthr = AS_MIN(omp_get_max_threads(), w->nthr), nslots = AS_MIN(nthr, w->nchunks);
    dnnl_status_t st = dnnl_success;
    if (nslots > 1) {
#pragma omp parallel for schedule(static) num_threads(nslots)
        for (int sl = 0; sl < nslots; sl++) {
            dnnl_status_t s = bw_slot(w, sl, (int)((int64_t)w->nchunks * sl / nslots),
                                      (int)((int64_t)w->nchunks * (sl + 1) / nslots), in, d_out, 0);
            if (s != dnnl_success) {
#pragma omp critical(wino_status)
                st = s;
            }
        }
    } else {  // one chunk: each step over all threads
        st = bw_slot(w, 0, 0, w->nchunks, in, d_out, nthr > 1);
    }
    if (st != dnnl_success) return as_errorf("oneDNN: winograd backward-weights matmul failed: status %d", (int)st);
    bw_finish(w, nslots, d_weight, d_bias, nthr > 1);
    return 0;
}

// ---- the plain C reference ----------------------------------------------------------------
static void mat_apply(const float *Mx, int rows, int cols, const float *x, int xs, float *y, int ys) {
    for (int i = 0; i < rows; i++) {
        float acc = 0;
        for (int j = 0; j < cols; j++) acc += Mx[i * cols + j] * x[j * xs];
        y[i * ys] = acc;
    }
}

// The references' input transform: V[ci] = B^T d B of image n's tile at (ty, tx) for
// every channel, d read with the 'same' padding's zeros.
static void ref_input_tiles(const mats *t, float *V, const float *in, int n, int ty, int tx, int H, int W, int cin) {
    const int a = t->a, a2 = a * a;
    for (int ci = 0; ci < cin; ci++) {
        float d[64], s[64];
        for (int i = 0; i < a; i++)
            for (int j = 0; j < a; j++) {
                int y = ty - (t->r - 1) / 2 + i, x = tx - (t->r - 1) / 2 + j;
                d[i * a + j] = y < 0 || y >= H || x < 0 || x >= W ? 0 : in[(((size_t)n * H + y) * W + x) * cin + ci];
            }
        for (int j = 0; j < a; j++) mat_apply(t->BT, a, a, d + j, a, s + j, a);
        for (int i = 0; i < a; i++) mat_apply(t->BT, a, a, s + i * a, 1, V + (size_t)ci * a2 + i * a, 1);
    }
}

int wino_ref_conv(int r, int m, float *out, const float *in, const float *weight, const float *bias, int N, int H,
                  int W, int cin, int cout) {
    mats t = {0};
    if (get_mats(r, m, &t)) return -1;
    const int a = t.a, a2 = a * a, kk = r * r;
    float *U = as_malloc_array((size_t)a2 * cin * cout, sizeof(float));
    float *V = as_malloc_array((size_t)a2 * cin, sizeof(float));
    float *Mx = as_malloc_array((size_t)a2, sizeof(float));
    if (!U || !V || !Mx) {
        free(U), free(V), free(Mx);
        return -1;
    }
    for (int co = 0; co < cout; co++)  // U[co][ci][p] = G g G^T
        for (int ci = 0; ci < cin; ci++) {
            const float *g = weight + ((size_t)co * cin + ci) * kk;
            for (int i = 0; i < a; i++)
                for (int j = 0; j < a; j++) {
                    double acc = 0;
                    for (int k = 0; k < r; k++)
                        for (int l = 0; l < r; l++) acc += t.G[i * r + k] * g[k * r + l] * t.G[j * r + l];
                    U[(((size_t)co * cin + ci) * a + i) * a + j] = (float)acc;
                }
        }
    for (int n = 0; n < N; n++)
        for (int ty = 0; ty < H; ty += m)
            for (int tx = 0; tx < W; tx += m) {
                ref_input_tiles(&t, V, in, n, ty, tx, H, W, cin);
                for (int co = 0; co < cout; co++) {
                    for (int p = 0; p < a2; p++) {
                        float acc = 0;
                        for (int ci = 0; ci < cin; ci++)
                            acc += U[((size_t)co * cin + ci) * a2 + p] * V[(size_t)ci * a2 + p];
                        Mx[p] = acc;
                    }
                    float s[64], y[64];
                    for (int j = 0; j < a; j++) mat_apply(t.AT, m, a, Mx + j, a, s + j, a);
                    for (int i = 0; i < m; i++) mat_apply(t.AT, m, a, s + i * a, 1, y + i * m, 1);
                    for (int i = 0; i < m && ty + i < H; i++)
                        for (int j = 0; j < m && tx + j < W; j++)
                            out[(((size_t)n * H + ty + i) * W + tx + j) * cout + co] =
                                y[i * m + j] + (bias ? bias[co] : 0);
                }
            }
    free(U), free(V), free(Mx);
    return 0;
}

int wino_ref_bwd_weights(int m, float *d_weight, float *d_bias, const float *in, const float *d_out, int N, int H,
                         int W, int cin, int cout) {
    mats t = {0};
    if (get_mats(3, m, &t)) return -1;
    const int a = t.a, a2 = a * a;
    double *dU = as_calloc((size_t)a2 * cin * cout, sizeof(double));  // the sum over tiles, in double
    float *V = as_malloc_array((size_t)a2 * cin, sizeof(float));
    float *dM = as_malloc_array((size_t)a2 * cout, sizeof(float));
    double *db = as_calloc(cout, sizeof(double));
    if (!dU || !V || !dM || !db) {
        free(dU), free(V), free(dM), free(db);
        return -1;
    }
    float A[8 * 6];  // A = (A^T)^T: a x m
    for (int i = 0; i < a; i++)
        for (int j = 0; j < m; j++) A[i * m + j] = t.AT[j * a + i];
    for (int n = 0; n < N; n++)
        for (int ty = 0; ty < H; ty += m)
            for (int tx = 0; tx < W; tx += m) {
                ref_input_tiles(&t, V, in, n, ty, tx, H, W, cin);
                for (int co = 0; co < cout; co++) {  // dM[co] = A dY A^T, dY zero past the edges
                    float y[36], s[64];
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < m; j++) {
                            int yy = ty + i, xx = tx + j;
                            y[i * m + j] = yy >= H || xx >= W ? 0 : d_out[(((size_t)n * H + yy) * W + xx) * cout + co];
                            db[co] += y[i * m + j];
                        }
                    for (int j = 0; j < m; j++) mat_apply(A, a, m, y + j, m, s + j, m);
                    for (int i = 0; i < a; i++) mat_apply(A, a, m, s + i * m, 1, dM + (size_t)co * a2 + i * a, 1);
                }
                for (int co = 0; co < cout; co++)
                    for (int ci = 0; ci < cin; ci++)
                        for (int p = 0; p < a2; p++)
                            dU[((size_t)co * cin + ci) * a2 + p] +=
                                (double)dM[(size_t)co * a2 + p] * V[(size_t)ci * a2 + p];
            }
    for (int co = 0; co < cout; co++)  // dg = G^T dU G
        for (int ci = 0; ci < cin; ci++) {
            const double *u = dU + ((size_t)co * cin + ci) * a2;
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < 3; l++) {
                    double acc = 0;
                    for (int i = 0; i < a; i++)
                        for (int j = 0; j < a; j++) acc += t.G[i * 3 + k] * u[i * a + j] * t.G[j * 3 + l];
                    d_weight[((size_t)co * cin + ci) * 9 + k * 3 + l] = (float)acc;
                }
        }
    if (d_bias)
        for (int co = 0; co < cout; co++) d_bias[co] = (float)db[co];
    free(dU), free(V), free(dM), free(db);
    return 0;
}
