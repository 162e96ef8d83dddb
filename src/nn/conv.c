// conv: k x k 'same' convolution with bias on oneDNN (fp32), forward and backward.
//
// Activations stay in the caller's NHWC buffers (oneDNN's `nhwc` tag), so nothing is
// reordered on the activation side. Weights come in PyTorch's OIHW; each primitive picks
// its own blocked weights layout (`any`) and we reorder into a private buffer per call
// (36 K floats for a 64->64 3x3 layer: negligible next to the convolution itself). A plan
// may serve several layers of one shape, so nothing about the weights is cached.
#include "nn/nn.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

// Every oneDNN call goes through this: a failure records the call and returns -1.
#define DNNL_CHECK(call)                                                                \
    do {                                                                                \
        dnnl_status_t s_ = (call);                                                      \
        if (s_ != dnnl_success)                                                         \
            return as_errorf("oneDNN: %s failed: status %d (%s)", #call, (int)s_,       \
                             dnnl_status2str(s_));                                      \
    } while (0)

// ---- process-wide engine and stream (created once, on first use) -------------------
static dnnl_engine_t g_engine;
static dnnl_stream_t g_stream;
static dnnl_status_t g_init_status = dnnl_success;
static const char *g_init_what = "";
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

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

// ---- the plan ---------------------------------------------------------------------
// One pass (forward, backward-data or backward-weights): its primitive and, when the
// primitive's weights layout differs from OIHW, a reorder and the buffer it fills.
typedef struct {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t prim;
    dnnl_primitive_t w_reorder;  // OIHW <-> primitive layout; NULL when they agree
    dnnl_memory_t w_mem;         // weights (or diff_weights) as the primitive wants them
    float *w_buf;                // its storage when w_reorder != NULL
} conv_pass;

struct nn_conv {
    int N, H, W, cin, cout, k, training;
    conv_pass fwd, bwd_data, bwd_weights;
    // memory objects over caller buffers; the data handle is set on every call
    dnnl_memory_t src, dst, bias, w_user;                // forward
    dnnl_memory_t diff_src, diff_dst, diff_bias, dw_user;  // backward
    dnnl_memory_t scratch;                                // shared by the three passes
    void *scratch_buf;
};

static int md_init(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                   dnnl_format_tag_t tag) {
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag));
    return 0;
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

// Creates pass->prim from pass->pd and, where the primitive's weights layout `want`
// differs from the user's OIHW `user`, the reorder between them (direction: user->want
// when to_prim, else want->user) and the private buffer.
static int pass_finish(conv_pass *pass, const dnnl_memory_desc_t *user,
                       const dnnl_memory_desc_t *want, int to_prim) {
    DNNL_CHECK(dnnl_primitive_create(&pass->prim, pass->pd));
    if (mem_create(&pass->w_mem, want)) return -1;
    if (dnnl_memory_desc_equal(user, want)) return 0;
    pass->w_buf = as_aligned_alloc(dnnl_memory_desc_get_size(want));
    if (!pass->w_buf || set_handle(pass->w_mem, pass->w_buf)) return -1;
    dnnl_primitive_desc_t rpd;
    if (to_prim) {
        DNNL_CHECK(dnnl_reorder_primitive_desc_create(&rpd, user, g_engine, want, g_engine, NULL));
    } else {
        DNNL_CHECK(dnnl_reorder_primitive_desc_create(&rpd, want, g_engine, user, g_engine, NULL));
    }
    dnnl_status_t s = dnnl_primitive_create(&pass->w_reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    DNNL_CHECK(s);
    return 0;
}

static size_t pass_scratch_bytes(const conv_pass *pass) {
    if (!pass->pd) return 0;
    return dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pass->pd, dnnl_query_scratchpad_md, 0));
}

static int conv_plan(nn_conv *c) {
    if (engine_get()) return -1;
    int p = c->k / 2;
    dnnl_dims_t act_in = {c->N, c->cin, c->H, c->W}, act_out = {c->N, c->cout, c->H, c->W};
    dnnl_dims_t wdims = {c->cout, c->cin, c->k, c->k}, bdims = {c->cout};
    dnnl_dims_t strides = {1, 1}, pad = {p, p};
    dnnl_memory_desc_t src_md, dst_md, w_any, w_user, b_md;
    if (md_init(&src_md, 4, act_in, dnnl_nhwc) || md_init(&dst_md, 4, act_out, dnnl_nhwc) ||
        md_init(&w_any, 4, wdims, dnnl_format_tag_any) || md_init(&w_user, 4, wdims, dnnl_oihw) ||
        md_init(&b_md, 1, bdims, dnnl_x))
        return -1;

    // Scratchpads are ours (one buffer per plan), so no hidden allocations per call.
    dnnl_primitive_attr_t attr;
    DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    dnnl_status_t s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);

    dnnl_convolution_desc_t fd, bd, wd;
    if (s == dnnl_success)
        s = dnnl_convolution_forward_desc_init(
            &fd, c->training ? dnnl_forward_training : dnnl_forward_inference,
            dnnl_convolution_direct, &src_md, &w_any, &b_md, &dst_md, strides, pad, pad);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&c->fwd.pd, &fd, attr, g_engine, NULL);
    if (s == dnnl_success && c->training) {
        s = dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src_md, &w_any,
                                                     &dst_md, strides, pad, pad);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(&c->bwd_data.pd, &bd, attr, g_engine, c->fwd.pd);
        if (s == dnnl_success)
            s = dnnl_convolution_backward_weights_desc_init(&wd, dnnl_convolution_direct, &src_md,
                                                            &w_any, &b_md, &dst_md, strides, pad, pad);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(&c->bwd_weights.pd, &wd, attr, g_engine, c->fwd.pd);
    }
    dnnl_primitive_attr_destroy(attr);
    DNNL_CHECK(s);

    const dnnl_memory_desc_t *w_fwd = dnnl_primitive_desc_query_md(c->fwd.pd, dnnl_query_weights_md, 0);
    if (pass_finish(&c->fwd, &w_user, w_fwd, 1)) return -1;
    if (mem_create(&c->src, &src_md) || mem_create(&c->dst, &dst_md) ||
        mem_create(&c->bias, &b_md) || mem_create(&c->w_user, &w_user))
        return -1;
    if (c->training) {
        const dnnl_memory_desc_t *w_bd =
            dnnl_primitive_desc_query_md(c->bwd_data.pd, dnnl_query_weights_md, 0);
        const dnnl_memory_desc_t *w_bw =
            dnnl_primitive_desc_query_md(c->bwd_weights.pd, dnnl_query_diff_weights_md, 0);
        if (pass_finish(&c->bwd_data, &w_user, w_bd, 1) ||
            pass_finish(&c->bwd_weights, &w_user, w_bw, 0))
            return -1;
        if (mem_create(&c->diff_src, &src_md) || mem_create(&c->diff_dst, &dst_md) ||
            mem_create(&c->diff_bias, &b_md) || mem_create(&c->dw_user, &w_user))
            return -1;
    }

    size_t sb = AS_MAX(pass_scratch_bytes(&c->fwd),
                       AS_MAX(pass_scratch_bytes(&c->bwd_data), pass_scratch_bytes(&c->bwd_weights)));
    dnnl_dims_t sdims = {(dnnl_dim_t)(sb ? sb : 1)};
    dnnl_memory_desc_t s_md;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&s_md, 1, sdims, dnnl_u8, dnnl_x));
    c->scratch_buf = as_aligned_alloc(sb);
    if (!c->scratch_buf || mem_create(&c->scratch, &s_md) || set_handle(c->scratch, c->scratch_buf))
        return -1;
    return 0;
}

nn_conv *conv_create(int N, int H, int W, int cin, int cout, int k, int training) {
    if (N <= 0 || H <= 0 || W <= 0 || cin <= 0 || cout <= 0 || k <= 0 || k % 2 == 0) {
        as_errorf("conv_create: invalid shape N=%d H=%d W=%d cin=%d cout=%d k=%d", N, H, W, cin,
                  cout, k);
        return NULL;
    }
    nn_conv *c = as_calloc(1, sizeof *c);
    if (!c) return NULL;
    *c = (nn_conv){.N = N, .H = H, .W = W, .cin = cin, .cout = cout, .k = k, .training = !!training};
    if (conv_plan(c)) {
        char msg[1024];  // destroy must not clobber the reason
        snprintf(msg, sizeof msg, "%s", as_error());
        conv_destroy(c);
        as_errorf("conv_create(N=%d H=%d W=%d cin=%d cout=%d k=%d): %s", N, H, W, cin, cout, k, msg);
        return NULL;
    }
    return c;
}

static void pass_free(conv_pass *p) {
    if (p->w_reorder) dnnl_primitive_destroy(p->w_reorder);
    if (p->w_mem) dnnl_memory_destroy(p->w_mem);
    if (p->prim) dnnl_primitive_destroy(p->prim);
    if (p->pd) dnnl_primitive_desc_destroy(p->pd);
    free(p->w_buf);
}

void conv_destroy(nn_conv *c) {
    if (!c) return;
    pass_free(&c->fwd);
    pass_free(&c->bwd_data);
    pass_free(&c->bwd_weights);
    dnnl_memory_t *mems[] = {&c->src, &c->dst, &c->bias, &c->w_user, &c->diff_src,
                             &c->diff_dst, &c->diff_bias, &c->dw_user, &c->scratch};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (*mems[i]) dnnl_memory_destroy(*mems[i]);
    free(c->scratch_buf);
    free(c);
}

// Reorders between the user's OIHW buffer (memory `user`) and the pass's layout.
static int reorder_weights(const conv_pass *pass, dnnl_memory_t user, int to_prim) {
    if (!pass->w_reorder) return 0;
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, to_prim ? user : pass->w_mem},
                               {DNNL_ARG_TO, to_prim ? pass->w_mem : user}};
    return execute(pass->w_reorder, 2, args);
}

int conv_forward(nn_conv *c, float *out, const float *in, const float *weight, const float *bias) {
    if (set_handle(c->src, in) || set_handle(c->dst, out) || set_handle(c->bias, bias) ||
        set_handle(c->w_user, weight))
        return -1;
    if (!c->fwd.w_reorder && set_handle(c->fwd.w_mem, weight)) return -1;
    if (reorder_weights(&c->fwd, c->w_user, 1)) return -1;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->src},     {DNNL_ARG_WEIGHTS, c->fwd.w_mem},
                              {DNNL_ARG_BIAS, c->bias},   {DNNL_ARG_DST, c->dst},
                              {DNNL_ARG_SCRATCHPAD, c->scratch}};
    return execute(c->fwd.prim, 5, args);
}

int conv_backward(nn_conv *c, float *d_in, float *d_weight, float *d_bias, const float *d_out,
                  const float *in, const float *weight) {
    if (!c->training) return as_errorf("conv_backward: the plan was created for inference");
    if (set_handle(c->diff_dst, d_out)) return -1;
    if (d_in) {
        if (set_handle(c->diff_src, d_in) || set_handle(c->w_user, weight)) return -1;
        if (!c->bwd_data.w_reorder && set_handle(c->bwd_data.w_mem, weight)) return -1;
        if (reorder_weights(&c->bwd_data, c->w_user, 1)) return -1;
        dnnl_exec_arg_t args[] = {{DNNL_ARG_DIFF_DST, c->diff_dst},
                                  {DNNL_ARG_WEIGHTS, c->bwd_data.w_mem},
                                  {DNNL_ARG_DIFF_SRC, c->diff_src},
                                  {DNNL_ARG_SCRATCHPAD, c->scratch}};
        if (execute(c->bwd_data.prim, 4, args)) return -1;
    }
    if (set_handle(c->src, in) || set_handle(c->diff_bias, d_bias) || set_handle(c->dw_user, d_weight))
        return -1;
    if (!c->bwd_weights.w_reorder && set_handle(c->bwd_weights.w_mem, d_weight)) return -1;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, c->src},
                              {DNNL_ARG_DIFF_DST, c->diff_dst},
                              {DNNL_ARG_DIFF_WEIGHTS, c->bwd_weights.w_mem},
                              {DNNL_ARG_DIFF_BIAS, c->diff_bias},
                              {DNNL_ARG_SCRATCHPAD, c->scratch}};
    if (execute(c->bwd_weights.prim, 5, args)) return -1;
    return reorder_weights(&c->bwd_weights, c->dw_user, 0);
}

double conv_flops(const nn_conv *c) {
    return 2.0 * c->N * c->H * c->W * c->cin * c->cout * c->k * c->k;
}

const char *conv_impl_name(const nn_conv *c, int pass) {
    const conv_pass *p = pass == 0 ? &c->fwd : pass == 1 ? &c->bwd_data : &c->bwd_weights;
    const char *s = NULL;
    if (!p->pd || dnnl_primitive_desc_query(p->pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success)
        return "none";
    return s;
}
