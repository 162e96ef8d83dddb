// conv: k x k 'same' convolution with bias on oneDNN (fp32), forward and backward.
//
// Algorithm: oneDNN's direct kernels, or for plans that conv_set_algo / ATTSR_CONV and
// the auto table (auto_winograd) send there, Winograd from winograd.c for forward and
// backward-data (NHWC in and out): F(4x4, 3x3), and F(4x4, 5x5) and F(2x2, 7x7) for
// SA4's larger kernels; for 3x3 backward-weights too, by a table of its own
// (auto_winograd_bw). The caller sees the same plan either way.
//
// The caller's tensors are NHWC activations and PyTorch's OIHW weights. Each primitive
// picks its own weights layout (`any`, a blocked one in practice) and we reorder into a
// private buffer per call: 36 K floats for a 64->64 3x3 layer, negligible next to the
// convolution. A plan may serve several layers of one shape, so nothing is cached.
//
// Activations: CONV_AUTO (the default) lets oneDNN choose their layout too (nChw8c on
// AVX2) and reorders in and out of the plan's workspace around each call. On AVX2 the
// blocked kernels beat the nhwc ones by 20-40%, copies included (see
// bench/bench_conv.c, which measures both). Where oneDNN has a brgemm kernel for nhwc
// (AVX-512 and newer), that is used as it is; and a layout that comes out as nhwc gets
// no copies. CONV_NHWC hands the caller's buffers to the primitive as they are.
//
// Workspace: the blocked activation copies and oneDNN's scratchpad, memory that only
// lives during a call, so plans that never run at once can share one (see
// conv_set_workspace). A plan without one allocates its own on first use.
#include "nn/device.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "nn/winograd.h"

// Every oneDNN call goes through this: a failure records the call and returns -1.
#define DNNL_CHECK(call)                                                                                \
    do {                                                                                                \
        dnnl_status_t s_ = (call);                                                                      \
        if (s_ != dnnl_success)                                                                         \
            return as_errorf("oneDNN: %s failed: status %d (%s)", #call, (int)s_, dnnl_status2str(s_)); \
    } while (0)

// ---- process-wide engine and stream (created once, on first use) -------------------
static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;
static dnnl_status_t g_init_status = dnnl_success;
static const char *g_init_what = "";
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static conv_layout g_layout = CONV_AUTO;
static conv_precision g_precision = CONV_FP32;

static void engine_init_once(void) {
    dnnl_status_t s = dnnl_engine_create(&g_engine, dnnl_cpu, 0);
    if (s != dnnl_success) {
        g_init_status = s, g_init_what = "dnnl_engine_create";
        return;
    }
    s = dnnl_stream_create(&g_stream, g_engine, dnnl_stream_default_flags);
    if (s != dnnl_success) g_init_status = s, g_init_what = "dnnl_stream_create";
}

static int engine_get(void) {
    pthread_once(&g_once, engine_init_once);
    if (g_init_status != dnnl_success)
        return as_errorf("oneDNN: %s failed: status %d (%s)", g_init_what, (int)g_init_status,
                         dnnl_status2str(g_init_status));
    return 0;
}

int nn_dnnl_engine(dnnl_engine_t *engine) {
    if (engine_get()) return -1;
    *engine = g_engine;
    return 0;
}

void conv_set_layout(conv_layout layout) { g_layout = layout; }

// bf16 needs a CPU with native bf16 arithmetic (AVX512-BF16 or AMX): oneDNN 2.6 has no
// bf16 convolution below that, and its f32 kernels ignore fpmath_mode. Probed with the
// smallest plan, so the answer is the library's own. Probed once (bf16_supported).
static int g_bf16;
static pthread_once_t g_bf16_once = PTHREAD_ONCE_INIT;
static int bf16_probe(void) {
    if (engine_get()) return 0;
    dnnl_dims_t a = {1, 16, 4, 4}, w = {16, 16, 3, 3}, s = {1, 1}, p = {1, 1};
    dnnl_memory_desc_t src, wei, dst;
    dnnl_convolution_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_memory_desc_init_by_tag(&src, 4, a, dnnl_bf16, dnnl_nhwc) ||
        dnnl_memory_desc_init_by_tag(&wei, 4, w, dnnl_bf16, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&dst, 4, a, dnnl_f32, dnnl_nhwc) ||
        dnnl_convolution_forward_desc_init(&d, dnnl_forward_training, dnnl_convolution_direct, &src, &wei, NULL, &dst,
                                           s, p, p) ||
        dnnl_primitive_desc_create(&pd, &d, NULL, g_engine, NULL))
        return 0;
    const char *impl = "";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    int native = strstr(impl, "amx") || strstr(impl, "bf16");  // not a reference kernel
    dnnl_primitive_desc_destroy(pd);
    return native;
}
static void bf16_probe_once(void) { g_bf16 = bf16_probe(); }
static int bf16_supported(void) {
    pthread_once(&g_bf16_once, bf16_probe_once);
    return g_bf16;
}

int conv_set_precision(conv_precision precision) {
    if (precision == CONV_BF16 && !bf16_supported())
        return as_errorf("bf16 convolutions need a CPU with AVX512-BF16 or AMX; this one has neither");
    g_precision = precision;
    return 0;
}

conv_precision conv_get_precision(void) { return g_precision; }

int conv_bf16_available(void) { return bf16_supported(); }

// The same layout in another data type: oneDNN's blocking strides count elements, not
// bytes, so a plain or blocked f32 layout is the bf16 one with its type changed.
static dnnl_memory_desc_t md_as(dnnl_memory_desc_t md, dnnl_data_type_t dt) {
    md.data_type = dt;
    return md;
}

// ---- views: a caller's tensor as one primitive argument ---------------------------
// `user` wraps the caller's buffer (its handle is set on every call). When the
// primitive wants another layout, `inner` holds the copy and `reorder` copies
// user -> inner (inputs, before the primitive) or inner -> user (outputs, after).
// Weights copies are the plan's own (small); activation copies live in the workspace.
// The reorder primitive is made with the plan when its pass runs direct (make_direct).
typedef struct {
    dnnl_memory_t user, inner;
    dnnl_primitive_desc_t reorder_pd;
    dnnl_primitive_t reorder;
    float *buf;     // weights: the inner buffer, owned
    size_t ws_off;  // activations: the inner buffer's offset in the workspace
    int in_ws;
} view;

// Activation copies of one shape and layout share one region: a plan runs one pass
// at a time, and within a pass no two arguments have the same shape, except d_out,
// which both backward passes read (and which is then reordered once).
typedef struct {
    const dnnl_memory_desc_t *md;  // NULL until a view claims the region
    size_t off;
} region;

// Transformed kernels of the layers a plan serves, keyed by their weights pointer and
// checked against a hash of the weights on every call: a kernel is kept from its second
// call with unchanged weights (kernel_get), and transformed again when they change,
// with no help from the caller. A transformed kernel is 4x the weights (36 positions
// for 9 taps), so the cache holds KCACHE_BYTES per plan and direction: all of the
// bundled models' layers (C = 32: 3 MiB for the 20 conv1s). A plan told that it serves
// more layers than that (conv_opts.layers: the paper-size model's 140 conv1s, 82 MiB)
// caches none and transforms each kernel per call (0.1 ms for 64 -> 64, ~1% of its
// inference): a partial cache, the first few layers only, cost 15 MiB of peak RSS
// (+12% at paper size) for 0.1% of the time. Per-call kernels go to the workspace
// (kscr_off), so the plans of a model share one buffer for them, as for the rest of the
// workspace.
#define KCACHE_BYTES ((size_t)4 << 20)
typedef struct {
    const float *w;
    uint64_t hash;  // of the weights last seen at w
    float *U;
    int kept;  // U holds the transform of those weights
} kentry;
typedef struct {
    kentry *e;
    int n, cap;
} kcache;

// The plan. Passes: forward, backward-data (bd_), backward-weights (bw_).
struct nn_conv {
    int N, H, W, cin, cout, k, training;
    int bf16;  // the primitives read bf16 copies (conv_set_precision at create time)
    conv_opts opt;
    dnnl_memory_desc_t dst_user;        // the caller's dst layout: nhwc, or the native one
    dnnl_primitive_attr_t attr, fattr;  // backward passes; forward (+ post-ops)
    dnnl_primitive_desc_t pd[3];
    dnnl_primitive_t prim[3];
    view src, weights, dst;                     // forward
    view bd_diff_dst, bd_weights, bd_diff_src;  // backward-data
    view bw_src, bw_diff_dst, bw_diff_weights;  // backward-weights
    int bw_diff_dst_shared;                     // bw_diff_dst.inner is bd_diff_dst's region, same layout
    dnnl_memory_t bias, diff_bias, scratch;
    size_t ws_bytes, scratch_off;  // workspace: activation regions, then the scratchpad
    char *ws, *ws_own;             // the workspace in use; the one this plan allocated
    // Winograd (winograd.c) for forward and backward-data when wino_m > 0 (m x m output
    // tiles), for backward-weights when wino[2]. Transformed kernels, per weights pointer.
    int wino_m;
    wino *wino[3];  // forward cin -> cout; backward-data cout -> cin; backward-weights
    kcache kc[2];
    int kc_off;       // 1: no cache (opt.layers past the budget)
    size_t kscr_off;  // the workspace's piece for a kernel transformed per call
#ifdef ATTSR_CUDA
    cuda_conv *cu;  // a plan made while the process computes on CUDA: cuDNN's, NHWC
#endif
};

// A plan made on CUDA answers every call from its cuDNN plan (src/nn/cuda/conv.cu).
#ifdef ATTSR_CUDA
#define CUDA_PLAN_RETURN(c, call)   \
    do {                            \
        if ((c)->cu) return (call); \
    } while (0)
static int on_cuda(const nn_conv *c) { return c->cu != NULL; }
#else
#define CUDA_PLAN_RETURN(c, call) ((void)0)
static int on_cuda(const nn_conv *c) { return 0; }
#endif

// ---- the algorithm: oneDNN direct or Winograd ------------------------------------------
static const char *const ALGO_NAMES[] = {"auto", "direct", "winograd"};
static conv_algo g_algo;
static int g_algo_set;  // by conv_set_algo, or from ATTSR_CONV on first use

int conv_algo_parse(const char *s, conv_algo *a) {
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, ALGO_NAMES[i])) {
            *a = (conv_algo)i;
            return 0;
        }
    return as_errorf("convolution algorithm '%s': expected auto, direct or winograd", s ? s : "");
}

const char *conv_algo_name(conv_algo a) { return (unsigned)a < 3 ? ALGO_NAMES[a] : "?"; }

void conv_set_algo(conv_algo a) { g_algo = a, g_algo_set = 1; }

static int algo_get(conv_algo *a) {
    if (!g_algo_set) {
        const char *env = getenv("ATTSR_CONV");
        conv_algo e = CONV_ALGO_AUTO;
        if (env && *env && conv_algo_parse(env, &e)) return as_errorf("ATTSR_CONV: %s", as_error());
        conv_set_algo(e);
    }
    *a = g_algo;
    return 0;
}

// Where auto takes Winograd, from bench/bench_winograd (docs/benchmarks.md), on maps of
// 1024 pixels or more (a 16x16 map is faster direct):
//   3x3, F(4x4, 3x3): 32 or more input channels (the transforms are paid back; 1.5-2.3x
//     faster than direct from 32 to 256 output channels, and for the 64 -> 3 output
//     conv, whose direct kernel is slow); thinner layers (the 3-channel head, 16 -> 16)
//     stay direct;
//   5x5 and 7x7 (SA4's c2 and c1), F(4x4, 5x5) and F(2x2, 7x7): 16 or more input
//     channels (1.3-1.4x for 7x7 64 -> 32 and 16 -> 32, 1.5-2.2x for 5x5 32 -> 16 and
//     16 -> 16, against oneDNN's AVX-512 direct kernels).
static int auto_winograd(int N, int H, int W, int cin, int cout, int k) {
    (void)cout;
    return cin >= (k == 3 ? 32 : 16) && (int64_t)N * H * W >= 1024;
}

// The tile size when this plan is to run Winograd, 0 for direct.
static int wino_tile(const nn_conv *c, conv_algo a) {
    // m = 6 is no faster for 3x3 here and less accurate (docs/benchmarks.md); 5x5 and 7x7
    // take the largest m with F(6x6, 3x3)'s 8 x 8 tiles
    int m = c->k == 3 || c->k == 5 ? 4 : c->k == 7 ? 2 : 0;
    if (a == CONV_ALGO_DIRECT || !m || !wino_cpu_ok()) return 0;
    if (c->opt.native_src && !nn_layout_is_nhwc(c->opt.src, c->cin)) return 0;  // reads NHWC only
    // bf16 direct on AMX is several times faster than any f32 path: auto takes it
    if (a == CONV_ALGO_AUTO && (c->bf16 || !auto_winograd(c->N, c->H, c->W, c->cin, c->cout, c->k))) return 0;
    return m;
}

// Where auto runs backward-weights through Winograd F(4x4, 3x3), from bench/bench_winograd's
// bwd-wts rows (docs/benchmarks.md, 1 thread): the same edges as the forward's, 1.3-1.9x
// faster than direct for 32 -> 32 to 64 -> 256 at 16x48x48 and for 64 -> 3; slower for
// 3 -> 64 (0.35x), 16 -> 16 (0.8x) and a 16x16 map (0.6x).
static int auto_winograd_bw(int N, int H, int W, int cin, int cout) {
    (void)cout;
    return cin >= 32 && (int64_t)N * H * W >= 1024;
}

// Whether this training plan runs backward-weights through Winograd: it reads the
// forward's input and d_out as NHWC (after conv_plan, which settles the dst layout).
static int wino_bw(const nn_conv *c, conv_algo a) {
    if (!c->training || a == CONV_ALGO_DIRECT || c->k != 3 || !wino_cpu_ok() || !conv_dst_is_nhwc(c)) return 0;
    if (c->opt.native_src && !nn_layout_is_nhwc(c->opt.src, c->cin)) return 0;
    return a == CONV_ALGO_WINOGRAD || (!c->bf16 && auto_winograd_bw(c->N, c->H, c->W, c->cin, c->cout));
}

// A 64-bit hash of the weights' bits, 4 independent lanes of FNV-1a over 32-bit words.
static uint64_t weights_hash(const float *w, size_t n) {
    uint64_t h[4] = {0xcbf29ce484222325u, 0x84222325cbf29ce4u, 0x9e3779b97f4a7c15u, 0x2545f4914f6cdd1du};
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) {
            uint32_t u;
            memcpy(&u, w + i + k, 4);
            h[k] = (h[k] ^ u) * 0x100000001b3u;
        }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, w + i, 4);
        h[0] = (h[0] ^ u) * 0x100000001b3u;
    }
    uint64_t r = n;
    for (int k = 0; k < 4; k++) r = (r ^ h[k] ^ (h[k] >> 29)) * 0xbf58476d1ce4e5b9u;
    return r;
}

// The transformed kernel of `weight` for direction d. A kernel is cached from its second
// call with the same weights: a single forward (a one-shot `attsr upscale`) and a
// training step (new weights each time) transform into the workspace and touch no cache
// pages (7.4 MB, ~1950 page faults, for the bundled x2's first forward).
static const float *kernel_get(nn_conv *c, int d, const float *weight) {
    kcache *k = &c->kc[d];
    size_t nf = wino_kernel_floats(c->wino[d]);
    uint64_t h = weights_hash(weight, (size_t)c->cout * c->cin * c->k * c->k);
    kentry *e = NULL;
    for (int i = 0; i < k->n && !e; i++)
        if (k->e[i].w == weight) e = &k->e[i];
    if (e && e->kept && e->hash == h) return e->U;
    int again = e && e->hash == h;  // the second call with these weights: keep them
    if (e && !again) e->hash = h, e->kept = 0;
    if (!e && !c->kc_off && (size_t)(k->n + 1) * nf * sizeof(float) <= KCACHE_BYTES) {  // within the budget
        if (k->n == k->cap) {
            int cap = k->cap ? 2 * k->cap : 16;
            kentry *ne = realloc(k->e, (size_t)cap * sizeof *ne);
            if (!ne) return as_errorf("out of memory for the kernel cache"), NULL;
            k->e = ne, k->cap = cap;
        }
        k->e[k->n++] = (kentry){.w = weight, .hash = h};  // seen once, not yet kept
    }
    if (!again) {
        float *U = (float *)(c->ws + c->kscr_off);
        wino_kernel_transform(c->wino[d], U, weight, d);
        return U;
    }
    if (!e->U && !(e->U = as_aligned_alloc(nf * sizeof(float)))) return NULL;
    wino_kernel_transform(c->wino[d], e->U, weight, d);
    e->kept = 1;
    return e->U;
}

int conv_is_winograd(const nn_conv *c) { return c->wino_m > 0; }

// ---- nn_layout <-> oneDNN memory descriptors -----------------------------------------
static const dnnl_format_tag_t LAYOUT_TAGS[] = {dnnl_nhwc, dnnl_aBcd4b, dnnl_aBcd8b, dnnl_aBcd16b};
static const int LAYOUT_BLOCKS[] = {0, 4, 8, 16};

// The f32 descriptor of an (N, C, H, W) activation in layout l (block 0, 4, 8 or 16).
static dnnl_status_t layout_md(dnnl_memory_desc_t *md, int N, int C, int H, int W, nn_layout l) {
    dnnl_dims_t d = {N, C, H, W};
    for (int i = 0; i < 4; i++)
        if (l.block == LAYOUT_BLOCKS[i]) return dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, LAYOUT_TAGS[i]);
    return dnnl_invalid_arguments;
}

// The layout a descriptor is, 0; -1 when it is none that nn_layout can say.
static int md_layout(const dnnl_memory_desc_t *md, int N, int C, int H, int W, nn_layout *l) {
    for (int i = 0; i < 4; i++) {
        dnnl_memory_desc_t t;
        nn_layout c = {LAYOUT_BLOCKS[i]};
        if (layout_md(&t, N, C, H, W, c) == dnnl_success && dnnl_memory_desc_equal(&t, md)) {
            *l = c;
            return 0;
        }
    }
    return -1;
}

static int mem_create(dnnl_memory_t *m, const dnnl_memory_desc_t *md) {
    DNNL_CHECK(dnnl_memory_create(m, md, g_engine, DNNL_MEMORY_NONE));
    return 0;
}

static int set_handle(dnnl_memory_t m, const void *p) {
    DNNL_CHECK(dnnl_memory_set_data_handle(m, (void *)p));
    return 0;
}

static int execute(dnnl_primitive_t p, int nargs, const dnnl_exec_arg_t *args) {
    DNNL_CHECK(dnnl_primitive_execute(p, g_stream, nargs, args));
    DNNL_CHECK(dnnl_stream_wait(g_stream));
    return 0;
}

static size_t ws_take(size_t *ws_bytes, size_t n) {  // a 64-byte aligned piece
    size_t off = *ws_bytes;
    *ws_bytes += (n + 63) & ~(size_t)63;
    return off;
}

// user_md: the caller's layout; want: the primitive's. reg: the workspace region for
// this shape (NULL: a buffer of the view's own); ws_bytes: the workspace so far.
static int view_init(view *v, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *want, int is_input,
                     region *reg, size_t *ws_bytes) {
    if (mem_create(&v->user, user_md)) return -1;
    if (dnnl_memory_desc_equal(user_md, want)) return 0;
    if (mem_create(&v->inner, want)) return -1;
    if (!reg) {
        v->buf = as_aligned_alloc(dnnl_memory_desc_get_size(want));
        if (!v->buf || set_handle(v->inner, v->buf)) return -1;
    } else if (reg->md && dnnl_memory_desc_equal(reg->md, want)) {
        v->in_ws = 1, v->ws_off = reg->off;
    } else {  // a layout this region does not have: a piece of its own
        v->in_ws = 1, v->ws_off = ws_take(ws_bytes, dnnl_memory_desc_get_size(want));
        if (!reg->md) reg->md = want, reg->off = v->ws_off;
    }
    const dnnl_memory_desc_t *from = is_input ? user_md : want, *to = is_input ? want : user_md;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&v->reorder_pd, from, g_engine, to, g_engine, NULL));
    return 0;
}

static void view_free(view *v) {
    if (v->reorder) dnnl_primitive_destroy(v->reorder);
    if (v->reorder_pd) dnnl_primitive_desc_destroy(v->reorder_pd);
    if (v->inner) dnnl_memory_destroy(v->inner);
    if (v->user) dnnl_memory_destroy(v->user);
    free(v->buf);
}

static dnnl_memory_t view_mem(const view *v) { return v->inner ? v->inner : v->user; }

static int view_copy(const view *v, int is_input) {
    if (!v->reorder) return 0;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, is_input ? v->user : v->inner},
                               {DNNL_ARG_TO, is_input ? v->inner : v->user}};
    return execute(v->reorder, 2, args);
}

// Points the view at the caller's buffer; an input is then reordered in.
static int view_in(const view *v, const float *p) { return set_handle(v->user, p) || view_copy(v, 1) ? -1 : 0; }
static int view_out(const view *v, float *p) { return set_handle(v->user, p); }
static int view_out_done(const view *v) { return view_copy(v, 0); }

static const dnnl_memory_desc_t *query(dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return dnnl_primitive_desc_query_md(pd, what, 0);
}

// Points every workspace user at c->ws.
static int bind_workspace(nn_conv *c) {
    view *views[] = {&c->src, &c->dst, &c->bd_diff_dst, &c->bd_diff_src, &c->bw_src, &c->bw_diff_dst};
    for (size_t i = 0; i < sizeof views / sizeof *views; i++)
        if (views[i]->in_ws && set_handle(views[i]->inner, c->ws + views[i]->ws_off)) return -1;
    return set_handle(c->scratch, c->ws + c->scratch_off);
}

static int workspace_ready(nn_conv *c) {
    if (c->ws) return 0;
    if (!(c->ws_own = as_aligned_alloc(c->ws_bytes))) return -1;
    c->ws = c->ws_own;
    for (int d = 0; d < 3; d++)
        if (c->wino[d]) wino_set_workspace(c->wino[d], c->ws);
    return bind_workspace(c);
}

size_t conv_workspace_bytes(const nn_conv *c) {
    CUDA_PLAN_RETURN(c, cuda_conv_workspace_bytes(c->cu));
    return c->ws_bytes;
}

int conv_set_workspace(nn_conv *c, void *ws) {
    if (!ws) return as_errorf("conv_set_workspace: NULL workspace");
#ifdef ATTSR_CUDA
    if (c->cu) {
        cuda_conv_set_workspace(c->cu, ws);
        return 0;
    }
#endif
    if ((uintptr_t)ws % 64) return as_errorf("conv_set_workspace: workspace not 64-byte aligned");
    free(c->ws_own);
    c->ws_own = NULL;
    c->ws = ws;
    for (int d = 0; d < 3; d++)
        if (c->wino[d]) wino_set_workspace(c->wino[d], ws);
    return bind_workspace(c);
}

// The primitives (and their views' reorders) of the passes that run direct: oneDNN
// generates their code here (one 256 KiB mapping per kernel), so a Winograd layer's
// direct forward and backward-data, which never run, get none. Made with the plan, in
// the thread setting of their descriptors: a primitive made later under another OpenMP
// thread count computed wrong results (AVX2, SA4's layers at 1 thread of a plan of 2).
static int make_direct(nn_conv *c) {
    view *views[3][3] = {{&c->src, &c->weights, &c->dst},
                         {&c->bd_diff_dst, &c->bd_weights, &c->bd_diff_src},
                         {&c->bw_src, &c->bw_diff_dst, &c->bw_diff_weights}};
    for (int pass = 0; pass < (c->training ? 3 : 1); pass++) {
        if (pass < 2 ? c->wino_m > 0 : c->wino[2] != NULL) continue;
        DNNL_CHECK(dnnl_primitive_create(&c->prim[pass], c->pd[pass]));
        for (int i = 0; i < 3; i++)
            if (views[pass][i]->reorder_pd)
                DNNL_CHECK(dnnl_primitive_create(&views[pass][i]->reorder, views[pass][i]->reorder_pd));
    }
    return 0;
}

// The Winograd directions, sharing the plan's workspace (they run at other times
// than the direct passes that use it).
static int wino_plan(nn_conv *c, int bw) {
    if (c->wino_m && !(c->wino[0] = wino_create(c->N, c->H, c->W, c->cin, c->cout, c->k, c->wino_m))) return -1;
    if (c->wino_m && c->training && !(c->wino[1] = wino_create(c->N, c->H, c->W, c->cout, c->cin, c->k, c->wino_m)))
        return -1;
    if (bw && !(c->wino[2] = wino_create_bwd_weights(c->N, c->H, c->W, c->cin, c->cout))) return -1;
    // the per-call kernel after the tiles; pages the plan never transforms into stay
    // untouched (not resident)
    size_t wb = 0, kb = 0;
    for (int d = 0; d < 3; d++)
        if (c->wino[d]) wb = AS_MAX(wb, wino_workspace_bytes(c->wino[d]));
    for (int d = 0; d < 2; d++)
        if (c->wino[d]) kb = AS_MAX(kb, wino_kernel_floats(c->wino[d]) * sizeof(float));
    c->kscr_off = (wb + 63) & ~(size_t)63;
    c->ws_bytes = AS_MAX(c->ws_bytes, c->kscr_off + kb);
    c->kc_off = c->opt.layers > 0 && (size_t)c->opt.layers * kb > KCACHE_BYTES;
    return 0;
}

static int conv_plan(nn_conv *c) {
    if (engine_get()) return -1;
    int p = c->k / 2;
    dnnl_dims_t act_in = {c->N, c->cin, c->H, c->W}, act_out = {c->N, c->cout, c->H, c->W};
    dnnl_dims_t wdims = {c->cout, c->cin, c->k, c->k}, bdims = {c->cout};
    dnnl_dims_t strides = {1, 1}, pad = {p, p};
    // The caller's tensors are f32; with bf16 the primitives read bf16 copies of src,
    // weights and d_out (the views' reorders make them) and write f32 results.
    dnnl_data_type_t lo = c->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t src_nhwc, dst_nhwc, src_any, dst_any, w_any, w_oihw, b_md, wlo_any;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&src_nhwc, 4, act_in, dnnl_f32, dnnl_nhwc));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&dst_nhwc, 4, act_out, dnnl_f32, dnnl_nhwc));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&src_any, 4, act_in, dnnl_f32, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&dst_any, 4, act_out, dnnl_f32, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, wdims, dnnl_f32, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&wlo_any, 4, wdims, lo, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&w_oihw, 4, wdims, dnnl_f32, dnnl_oihw));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, bdims, dnnl_f32, dnnl_x));

    // Scratchpads are ours (in the workspace), so oneDNN allocates nothing per call.
    DNNL_CHECK(dnnl_primitive_attr_create(&c->attr));
    DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(c->attr, dnnl_scratchpad_mode_user));
    DNNL_CHECK(dnnl_primitive_attr_create(&c->fattr));
    DNNL_CHECK(dnnl_primitive_attr_set_scratchpad_mode(c->fattr, dnnl_scratchpad_mode_user));
    if (c->opt.lrelu) {  // relu with alpha: s > 0 ? s : alpha * s, LeakyReLU exactly
        dnnl_post_ops_t po;
        DNNL_CHECK(dnnl_post_ops_create(&po));
        dnnl_status_t st = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, c->opt.slope, 0.0f);
        if (st == dnnl_success) st = dnnl_primitive_attr_set_post_ops(c->fattr, po);
        dnnl_post_ops_destroy(po);
        DNNL_CHECK(st);
    }
    dnnl_convolution_desc_t fd, bd, wd;
    dnnl_prop_kind_t prop = c->training ? dnnl_forward_training : dnnl_forward_inference;
    dnnl_memory_desc_t src_lo = md_as(src_nhwc, lo), dst_lo = md_as(dst_nhwc, lo);
    DNNL_CHECK(dnnl_convolution_forward_desc_init(&fd, prop, dnnl_convolution_direct, &src_lo, &wlo_any, &b_md,
                                                  &dst_nhwc, strides, pad, pad));
    DNNL_CHECK(dnnl_primitive_desc_create(&c->pd[0], &fd, c->fattr, g_engine, NULL));
    // CONV_AUTO: oneDNN's layout, unless the nhwc kernel is a brgemm one (AVX-512 and
    // newer), as fast as any and without copies
    const char *impl = conv_impl_name(c, 0);
    int nhwc = g_layout == CONV_NHWC || strstr(impl, "brg") != NULL;
    dnnl_memory_desc_t src_md = nhwc ? src_nhwc : src_any, dst_md = nhwc ? dst_nhwc : dst_any;
    // native_src: the previous plan's output as it lies when blocked; NHWC (a Winograd
    // producer's) is the default case, copied when the primitive prefers blocks (a
    // primitive made to read nhwc can be oneDNN's reference code: ref:any for 3x3 16 -> 8
    // on AVX2, 2x the time of all of SA4)
    const int src_blocked = c->opt.native_src && c->opt.src.block != 0;
    dnnl_memory_desc_t src_given = src_nhwc;
    if (src_blocked) {
        DNNL_CHECK(layout_md(&src_given, c->N, c->cin, c->H, c->W, c->opt.src));
        src_md = src_given, nhwc = 0;
    }
    // f32 for what the primitives write (dst, d_in), `lo` for what they read
    src_lo = md_as(src_md, lo), dst_lo = md_as(dst_md, lo);
    if (!nhwc) {
        dnnl_primitive_desc_destroy(c->pd[0]);
        c->pd[0] = NULL;
        DNNL_CHECK(dnnl_convolution_forward_desc_init(&fd, prop, dnnl_convolution_direct, &src_lo, &wlo_any, &b_md,
                                                      &dst_md, strides, pad, pad));
        DNNL_CHECK(dnnl_primitive_desc_create(&c->pd[0], &fd, c->fattr, g_engine, NULL));
    }
    // the caller's layouts: nhwc, or for a native side the primitive's own
    const dnnl_memory_desc_t *src_user = &src_given;
    c->dst_user = dst_nhwc;
    if (c->opt.native_dst && !c->wino_m) {  // the primitive's own, where nn_layout can say it
        const dnnl_memory_desc_t *d = query(c->pd[0], dnnl_query_dst_md);
        nn_layout l;
        if (!md_layout(d, c->N, c->cout, c->H, c->W, &l)) c->dst_user = *d;
    }
    const dnnl_memory_desc_t *dst_user = &c->dst_user;
    if (c->training) {  // the forward descriptor is the backward passes' hint
        DNNL_CHECK(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src_md, &wlo_any, &dst_lo,
                                                            strides, pad, pad));
        DNNL_CHECK(dnnl_primitive_desc_create(&c->pd[1], &bd, c->attr, g_engine, c->pd[0]));
        DNNL_CHECK(dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &src_lo, &w_any, &b_md,
                                                               &dst_lo, strides, pad, pad));
        DNNL_CHECK(dnnl_primitive_desc_create(&c->pd[2], &wd, c->attr, g_engine, c->pd[0]));
    }

    dnnl_primitive_desc_t f = c->pd[0], d = c->pd[1], w = c->pd[2];
    region src_reg = {0}, dst_reg = {0};
    size_t *wsb = &c->ws_bytes;
    if (view_init(&c->src, src_user, query(f, dnnl_query_src_md), 1, &src_reg, wsb) ||
        view_init(&c->weights, &w_oihw, query(f, dnnl_query_weights_md), 1, NULL, wsb) ||
        view_init(&c->dst, dst_user, query(f, dnnl_query_dst_md), 0, &dst_reg, wsb) || mem_create(&c->bias, &b_md))
        return -1;
    if (c->training) {
        const dnnl_memory_desc_t *d_dd = query(d, dnnl_query_diff_dst_md);
        const dnnl_memory_desc_t *d_ds = query(d, dnnl_query_diff_src_md);
        const dnnl_memory_desc_t *w_dd = query(w, dnnl_query_diff_dst_md);
        const dnnl_memory_desc_t *w_dw = query(w, dnnl_query_diff_weights_md);
        if (view_init(&c->bd_diff_dst, dst_user, d_dd, 1, &dst_reg, wsb) ||
            view_init(&c->bd_weights, &w_oihw, query(d, dnnl_query_weights_md), 1, NULL, wsb) ||
            view_init(&c->bd_diff_src, src_user, d_ds, 0, &src_reg, wsb) ||
            view_init(&c->bw_src, src_user, query(w, dnnl_query_src_md), 1, &src_reg, wsb) ||
            view_init(&c->bw_diff_dst, dst_user, w_dd, 1, &dst_reg, wsb) ||
            view_init(&c->bw_diff_weights, &w_oihw, w_dw, 0, NULL, wsb) || mem_create(&c->diff_bias, &b_md))
            return -1;
        // both backward passes read d_out: reorder it once when they share the copy
        c->bw_diff_dst_shared =
            c->bd_diff_dst.in_ws && c->bw_diff_dst.in_ws && c->bd_diff_dst.ws_off == c->bw_diff_dst.ws_off;
    }

    size_t sb = 0;  // one scratchpad, in the workspace, for the three passes
    for (int i = 0; i < 3; i++)
        if (c->pd[i]) sb = AS_MAX(sb, dnnl_memory_desc_get_size(query(c->pd[i], dnnl_query_scratchpad_md)));
    c->scratch_off = ws_take(wsb, sb);
    if (c->ws_bytes == 0) c->ws_bytes = 64;  // never a zero-byte allocation
    dnnl_dims_t sdims = {(dnnl_dim_t)(sb ? sb : 1)};
    dnnl_memory_desc_t s_md;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&s_md, 1, sdims, dnnl_u8, dnnl_x));
    return mem_create(&c->scratch, &s_md);
}

nn_conv *conv_create(int N, int H, int W, int cin, int cout, int k, int training, const conv_opts *opt) {
    if (opt && opt->native_src && !nn_layout_ok(opt->src)) {
        as_errorf("conv_create: an input in channel blocks of %d (0: NHWC, 4, 8 or 16)", opt->src.block);
        return NULL;
    }
    if (N <= 0 || H <= 0 || W <= 0 || cin <= 0 || cout <= 0 || k <= 0 || k % 2 == 0) {
        as_errorf("conv_create: invalid shape N=%d H=%d W=%d cin=%d cout=%d k=%d", N, H, W, cin, cout, k);
        return NULL;
    }
    nn_conv *c = as_calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = (nn_conv){.N = N, .H = H, .W = W, .cin = cin, .cout = cout, .k = k, .bf16 = g_precision == CONV_BF16};
    if (opt) c->opt = *opt;
#ifdef ATTSR_CUDA
    if (NN_ON_CUDA()) {  // cuDNN: every layout is NHWC, so native_dst and native_src change nothing
        c->training = !!training;
        if (!(c->cu =
                  cuda_conv_create(N, H, W, cin, cout, k, training, c->opt.lrelu, c->opt.slope, nn_deterministic()))) {
            free(c);
            return NULL;
        }
        return c;
    }
#endif
    c->training = !!training;
    conv_algo algo = CONV_ALGO_AUTO;
    if (algo_get(&algo)) {
        free(c);
        return NULL;
    }
    c->wino_m = wino_tile(c, algo);
    int rc = conv_plan(c), bw = !rc && wino_bw(c, algo);
    if (rc || ((c->wino_m || bw) && wino_plan(c, bw)) || make_direct(c)) {
        conv_destroy(c);
        as_errorf("conv_create(N=%d H=%d W=%d cin=%d cout=%d k=%d): %s", N, H, W, cin, cout, k, as_error());
        return NULL;
    }
    return c;
}

void conv_destroy(nn_conv *c) {
    if (!c) return;
#ifdef ATTSR_CUDA
    cuda_conv_destroy(c->cu);
#endif
    for (int i = 0; i < 3; i++) {
        if (c->prim[i]) dnnl_primitive_destroy(c->prim[i]);
        if (c->pd[i]) dnnl_primitive_desc_destroy(c->pd[i]);
    }
    view *views[] = {&c->src,         &c->weights, &c->dst,         &c->bd_diff_dst,    &c->bd_weights,
                     &c->bd_diff_src, &c->bw_src,  &c->bw_diff_dst, &c->bw_diff_weights};
    for (size_t i = 0; i < sizeof views / sizeof *views; i++) view_free(views[i]);
    dnnl_memory_t mems[] = {c->bias, c->diff_bias, c->scratch};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (c->attr) dnnl_primitive_attr_destroy(c->attr);
    if (c->fattr) dnnl_primitive_attr_destroy(c->fattr);
    for (int d = 0; d < 3; d++) wino_destroy(c->wino[d]);
    for (int d = 0; d < 2; d++) {
        for (int i = 0; i < c->kc[d].n; i++) free(c->kc[d].e[i].U);
        free(c->kc[d].e);
    }
    free(c->ws_own);
    free(c);
}

// out = in * weight + bias (+ res, NULL: none): on Winograd and cuDNN plans the add is
// in the output's own pass, on direct ones a pass after the primitive.
static int forward(nn_conv *c, float *out, const float *in, const float *weight, const float *bias, const float *res) {
    CUDA_PLAN_RETURN(c, cuda_conv_forward(c->cu, out, in, weight, bias, res));
    if (c->wino_m) {
        const float *U = workspace_ready(c) ? NULL : kernel_get(c, 0, weight);
        return U ? wino_run(c->wino[0], out, in, U, bias, c->opt.lrelu, c->opt.slope, res) : -1;
    }
    if (workspace_ready(c) || view_in(&c->src, in) || view_in(&c->weights, weight) || view_out(&c->dst, out) ||
        set_handle(c->bias, bias))
        return -1;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, view_mem(&c->src)},
                              {DNNL_ARG_WEIGHTS, view_mem(&c->weights)},
                              {DNNL_ARG_BIAS, c->bias},
                              {DNNL_ARG_DST, view_mem(&c->dst)},
                              {DNNL_ARG_SCRATCHPAD, c->scratch}};
    if (execute(c->prim[0], 5, args) || view_out_done(&c->dst)) return -1;
    if (res) add_inplace(out, res, (size_t)c->N * c->H * c->W * c->cout);
    return 0;
}

int conv_forward(nn_conv *c, float *out, const float *in, const float *weight, const float *bias) {
    return forward(c, out, in, weight, bias, NULL);
}

int conv_forward_add(nn_conv *c, float *out, const float *in, const float *weight, const float *bias,
                     const float *res) {
    // Winograd's output transform reads each tile of res before it writes out's
    if (res == out && (on_cuda(c) || !c->wino_m))
        return as_errorf("conv_forward_add: res may not alias out on a %s plan", on_cuda(c) ? "cuDNN" : "direct");
    if (!conv_dst_is_nhwc(c)) return as_errorf("conv_forward_add: the plan's output is not NHWC");
    return forward(c, out, in, weight, bias, res);
}

int conv_backward(nn_conv *c, float *d_in, float *d_weight, float *d_bias, const float *d_out, const float *in,
                  const float *weight) {
    if (!c->training) return as_errorf("conv_backward: the plan was created for inference");
    CUDA_PLAN_RETURN(c, cuda_conv_backward(c->cu, d_in, d_weight, d_bias, d_out, in, weight));
    if (workspace_ready(c)) return -1;
    if (d_in && c->wino_m) {
        const float *U = kernel_get(c, 1, weight);
        if (!U || wino_run(c->wino[1], d_in, d_out, U, NULL, 0, 0, NULL)) return -1;
    } else if (d_in) {
        if (view_in(&c->bd_diff_dst, d_out) || view_in(&c->bd_weights, weight) || view_out(&c->bd_diff_src, d_in))
            return -1;
        dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, view_mem(&c->bd_diff_dst)},
                                  {DNNL_ARG_WEIGHTS, view_mem(&c->bd_weights)},
                                  {DNNL_ARG_DIFF_SRC, view_mem(&c->bd_diff_src)},
                                  {DNNL_ARG_SCRATCHPAD, c->scratch}};
        if (execute(c->prim[1], 4, args) || view_out_done(&c->bd_diff_src)) return -1;
    }
    if (c->wino[2]) return wino_backward_weights(c->wino[2], d_weight, d_bias, in, d_out);
    // d_out is already in the shared buffer when backward-data just reordered it
    int have_diff_dst = d_in && c->bw_diff_dst_shared && !c->wino_m;
    if (have_diff_dst ? set_handle(c->bw_diff_dst.user, d_out) : view_in(&c->bw_diff_dst, d_out)) return -1;
    if (view_in(&c->bw_src, in) || view_out(&c->bw_diff_weights, d_weight) || set_handle(c->diff_bias, d_bias))
        return -1;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, view_mem(&c->bw_src)},
                              {DNNL_ARG_DIFF_DST, view_mem(&c->bw_diff_dst)},
                              {DNNL_ARG_DIFF_WEIGHTS, view_mem(&c->bw_diff_weights)},
                              {DNNL_ARG_DIFF_BIAS, c->diff_bias},
                              {DNNL_ARG_SCRATCHPAD, c->scratch}};
    if (execute(c->prim[2], 5, args)) return -1;
    return view_out_done(&c->bw_diff_weights);
}

double conv_flops(const nn_conv *c) { return 2.0 * c->N * c->H * c->W * c->cin * c->cout * c->k * c->k; }

const char *conv_impl_name(const nn_conv *c, int pass) {
    const char *s = NULL;
    CUDA_PLAN_RETURN(c, pass >= 0 && pass <= 2 && (pass == 0 || c->training) ? "cudnn" : "none");
    if (pass >= 0 && pass <= 2 && c->wino[pass]) return wino_impl_name(c->wino[pass]);
    if (pass < 0 || pass > 2 || !c->pd[pass] ||
        dnnl_primitive_desc_query(c->pd[pass], dnnl_query_impl_info_str, 0, &s) != dnnl_success)
        return "none";
    return s;
}

int conv_uses_reorders(const nn_conv *c) {
    CUDA_PLAN_RETURN(c, 0);
    return c->src.reorder_pd || c->dst.reorder_pd || c->bd_diff_dst.reorder_pd || c->bd_diff_src.reorder_pd ||
           c->bw_src.reorder_pd || c->bw_diff_dst.reorder_pd;
}

size_t conv_dst_floats(const nn_conv *c) {
    CUDA_PLAN_RETURN(c, (size_t)c->N * c->H * c->W * c->cout);
    return dnnl_memory_desc_get_size(&c->dst_user) / sizeof(float);
}

nn_layout conv_dst_layout(const nn_conv *c) {
    nn_layout l = NN_NHWC;
    CUDA_PLAN_RETURN(c, l);
    md_layout(&c->dst_user, c->N, c->cout, c->H, c->W, &l);  // dst_user is always one of them
    return l;
}

// nhwc, or one block of all the channels (nChw8c with 8): both (N, H, W, C) in memory
int conv_dst_is_nhwc(const nn_conv *c) { return nn_layout_is_nhwc(conv_dst_layout(c), c->cout); }
