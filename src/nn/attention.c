// Attention modules of the residual blocks (docs/spec.md §3): none, CA, SA1, SA4; and two
// beyond the paper (docs/protocol.md): CA then SA4 (CBAM's order), and CA over the mean
// and the max of each channel (CBAM's channel module).
//
// Both spatial kinds end in a per-pixel gate g = sigmoid(w . x + b) over a few channels
// x and scale out = in * g; that 1x1 conv with one output channel is a dot product per
// pixel, so it is written here (fused with the sigmoid and the scaling: one pass over
// `in`) instead of going through oneDNN. SA4's 7x7, 5x5 and 3x3 convolutions use nn_conv.
// Reductions over pixels (pooling, weight gradients) accumulate in double.
#include "nn/device.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

// ca-avgmax keeps its maxima's pixel indices in float: exact up to 2^24
#define MAX_INDEX_PIXELS (1 << 24)
enum { SA4_C1 = 32, SA4_C2 = 16, SA4_C3 = 8 };

struct nn_attention {
    attention_kind kind;
    int N, H, W, C, R, training;
    float slope;
    nn_conv *c1, *c2, *c3;  // sa4, ca+sa4: 7x7 C->32, 5x5 32->16, 3x3 16->8
    size_t n1, n2;          // sa4, ca+sa4: floats of c1's and c2's outputs in their own layout
    int in_blk;             // sa4: 0, `in` is (N,H,W,C); B, in oneDNN's layout of channel blocks of B
    int cuda;               // made while the process computes on CUDA: src/nn/cuda/attention.cu runs it
};

// What each kind is (nn.h): name, reach through its convolutions, whether CA's r
// shapes it, whether it can read a conv plan's own layout.
static const struct {
    const char *name;
    int radius, uses_r, reads_native;
} g_kinds[ATT_COUNT] = {
    [ATT_NONE] = {"none", 0, 0, 0},
    [ATT_CA] = {"ca", 0, 1, 0},
    [ATT_SA1] = {"sa1", 0, 0, 0},
    [ATT_SA4] = {"sa4", 7 / 2 + 5 / 2 + 3 / 2, 0, 1},
    [ATT_CA_SA4] = {"ca+sa4", 7 / 2 + 5 / 2 + 3 / 2, 1, 0},  // CA, not a conv, reads `in`
    [ATT_CA_AVGMAX] = {"ca-avgmax", 0, 1, 0},
};

static int has_sa4(attention_kind k) { return k == ATT_SA4 || k == ATT_CA_SA4; }

static int kind_ok(attention_kind k) { return (unsigned)k < ATT_COUNT; }

const char *attention_name(attention_kind k) { return kind_ok(k) ? g_kinds[k].name : "?"; }

int attention_parse(const char *s, attention_kind *k) {
    for (int i = 0; i < ATT_COUNT; i++)
        if (s && strcmp(s, g_kinds[i].name) == 0) {
            *k = (attention_kind)i;
            return 0;
        }
    char list[128];
    int len = 0;
    for (int i = 0; i < ATT_COUNT && len < (int)sizeof list; i++)
        len += snprintf(list + len, sizeof list - len, "%s%s",
                        i == 0              ? ""
                        : i < ATT_COUNT - 1 ? ", "
                                            : " or ",
                        g_kinds[i].name);
    return as_errorf("unknown attention '%s' (expected %s)", s ? s : "(null)", list);
}

int attention_hidden(int C, int r) { return AS_MAX(1, C / r); }
int attention_radius(attention_kind k) { return kind_ok(k) ? g_kinds[k].radius : 0; }
int attention_uses_reduction(attention_kind k) { return kind_ok(k) && g_kinds[k].uses_r; }
int attention_reads_native(attention_kind k) { return kind_ok(k) && g_kinds[k].reads_native; }

// The CUDA backend (src/nn/cuda/attention.cu) has the kernels of every kind, forward and
// backward.
int attention_on_device(attention_kind k, nn_device d, int training) {
    (void)k, (void)d, (void)training;
    return 1;
}

// Appends one tensor to p (when p is not NULL); returns the new count.
static int param(attention_param *p, int n, const char *name, int ndim, int64_t s0, int64_t s1, int64_t s2, int64_t s3,
                 int per_pixel, int passes) {
    if (p) p[n] = (attention_param){name, ndim, {s0, s1, s2, s3}, per_pixel, passes};
    return n + 1;
}

// CA's fc1 (R, C) and fc2 (C, R), applied `passes` times per image.
static int ca_params(attention_param *p, int n, const char *const names[4], int C, int R, int passes) {
    n = param(p, n, names[0], 2, R, C, 0, 0, 0, passes);
    n = param(p, n, names[1], 1, R, 0, 0, 0, 0, passes);
    n = param(p, n, names[2], 2, C, R, 0, 0, 0, passes);
    return param(p, n, names[3], 1, C, 0, 0, 0, 0, passes);
}

// SA4's chain C -> 32 -> 16 -> 8 -> 1 (7x7, 5x5, 3x3, 1x1), at every pixel.
static int sa4_params(attention_param *p, int n, const char *const names[8], int C) {
    static const int cout[4] = {SA4_C1, SA4_C2, SA4_C3, 1}, k[4] = {7, 5, 3, 1};
    for (int i = 0, cin = C; i < 4; cin = cout[i++]) {
        n = param(p, n, names[2 * i], 4, cout[i], cin, k[i], k[i], 1, 1);
        n = param(p, n, names[2 * i + 1], 1, cout[i], 0, 0, 0, 1, 1);
    }
    return n;
}

int attention_params(attention_kind kind, int C, int R, attention_param *p) {
    static const char *const ca[4] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"};
    static const char *const sa4[8] = {"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                       "conv3.weight", "conv3.bias", "conv4.weight", "conv4.bias"};
    static const char *const both_ca[4] = {"ca.fc1.weight", "ca.fc1.bias", "ca.fc2.weight", "ca.fc2.bias"};
    static const char *const both_sa4[8] = {"sa.conv1.weight", "sa.conv1.bias", "sa.conv2.weight", "sa.conv2.bias",
                                            "sa.conv3.weight", "sa.conv3.bias", "sa.conv4.weight", "sa.conv4.bias"};
    switch (kind) {
    case ATT_NONE: return 0;
    case ATT_CA: return ca_params(p, 0, ca, C, R, 1);
    case ATT_SA1: return param(p, param(p, 0, "conv.weight", 4, 1, C, 1, 1, 1, 1), "conv.bias", 1, 1, 0, 0, 0, 1, 1);
    case ATT_SA4: return sa4_params(p, 0, sa4, C);
    case ATT_CA_SA4: return sa4_params(p, ca_params(p, 0, both_ca, C, R, 1), both_sa4, C);
    case ATT_CA_AVGMAX: return ca_params(p, 0, ca, C, R, 2);  // the mean's pass and the max's
    default: return 0;
    }
}

int attention_num_params(attention_kind kind) { return attention_params(kind, 1, 1, NULL); }

size_t attention_flops(attention_kind kind, int C, int R, int H, int W) {
    attention_param p[ATT_MAX_PARAMS];
    size_t flops = 0;
    for (int i = 0, n = attention_params(kind, C, R, p); i < n; i++) {
        if (p[i].ndim < 2) continue;  // biases: additions, not counted (as conv_flops)
        size_t macs = 1;              // per output pixel, or per image for a linear layer
        for (int d = 0; d < p[i].ndim; d++) macs *= (size_t)p[i].shape[d];
        flops += 2 * macs * (p[i].per_pixel ? (size_t)H * W : 1) * p[i].passes;
    }
    return flops;
}

nn_attention *attention_create(attention_kind kind, int N, int H, int W, int C, int R, float slope, int training,
                               int native_in, nn_layout in) {
    if (!attention_on_device(kind, nn_get_device(), training)) return NULL;
    int blk = native_in ? in.block : 0;
    if (native_in && (!attention_reads_native(kind) || !nn_layout_ok(in))) {
        as_errorf("attention_create: %s takes no input in a conv plan's layout (channel blocks of %d)",
                  attention_name(kind), blk);
        return NULL;
    }
    if (!kind_ok(kind) || N <= 0 || H <= 0 || W <= 0 || C <= 0 || (attention_uses_reduction(kind) && R <= 0)) {
        as_errorf("attention_create: invalid kind %d or shape N=%d H=%d W=%d C=%d R=%d", (int)kind, N, H, W, C, R);
        return NULL;
    }
    if (kind == ATT_CA_AVGMAX && training && (size_t)H * W > MAX_INDEX_PIXELS) {
        as_errorf("attention_create: ca-avgmax trains on at most %d pixels per image, not %dx%d", MAX_INDEX_PIXELS, H,
                  W);
        return NULL;
    }
    nn_attention *a = as_calloc(1, sizeof *a);
    if (!a) return NULL;
    *a = (nn_attention){.kind = kind,
                        .N = N,
                        .H = H,
                        .W = W,
                        .C = C,
                        .R = attention_uses_reduction(kind) ? R : 0,
                        .training = !!training,
                        .slope = slope,
                        .in_blk = blk,
                        .cuda = nn_get_device() == NN_CUDA};
    if (has_sa4(kind)) {  // ca+sa4: `in` is NHWC (its SA4 reads CA's (N,H,W,C) output)
        // c1 -> c2 -> c3 hand their outputs on in their own layouts, LeakyReLU fused; the
        // gate reads c3's output per pixel, so that one must be (P, 8) in memory
        conv_opts o1 = {.native_dst = 1, .native_src = native_in, .lrelu = 1, .slope = slope, .src = in};
        a->c1 = conv_create(N, H, W, C, SA4_C1, 7, training, &o1);
        conv_opts o2 = {.native_dst = 1, .native_src = 1, .lrelu = 1, .slope = slope};
        if (a->c1) o2.src = conv_dst_layout(a->c1);
        a->c2 = a->c1 ? conv_create(N, H, W, SA4_C1, SA4_C2, 5, training, &o2) : NULL;
        conv_opts o3 = {.native_dst = 1, .native_src = 1, .lrelu = 1, .slope = slope};
        if (a->c2) o3.src = conv_dst_layout(a->c2);
        a->c3 = a->c2 ? conv_create(N, H, W, SA4_C2, SA4_C3, 3, training, &o3) : NULL;
        if (a->c3 && !conv_dst_is_nhwc(a->c3)) {
            conv_destroy(a->c3);
            o3.native_dst = 0;
            a->c3 = conv_create(N, H, W, SA4_C2, SA4_C3, 3, training, &o3);
        }
        if (a->c3) a->n1 = conv_dst_floats(a->c1), a->n2 = conv_dst_floats(a->c2);
        if (!a->c3) {
            attention_destroy(a);
            as_errorf("attention sa4: %s", as_error());
            return NULL;
        }
    }
    return a;
}

void attention_destroy(nn_attention *a) {
    if (!a) return;
    conv_destroy(a->c1);
    conv_destroy(a->c2);
    conv_destroy(a->c3);
    free(a);
}

// saved: ca         pooled (N,C), hidden pre-activation (N,R), gate (N,C)
//        ca-avgmax  pooled (2N,C): means, then maxima; hidden pre-activations (2N,R);
//                   gate (N,C); the maxima's pixel indices (N,C, as floats; training only)
//        sa1        gate (N,H,W)
//        sa4        a1 (n1: 32 channels), a2 (n2: 16 channels) in c1's and c2's output
//                   layouts, a3 (N,H,W,8), all after LeakyReLU; gate (N,H,W)
//        ca+sa4     ca's, then CA's output t (N,H,W,C), then sa4's
static size_t ca_saved(const nn_attention *a) { return (size_t)a->N * (2 * (size_t)a->C + a->R); }
static size_t sa4_saved(const nn_attention *a) { return a->n1 + a->n2 + (size_t)a->N * a->H * a->W * (SA4_C3 + 1); }
static size_t image_floats(const nn_attention *a) { return (size_t)a->N * a->H * a->W * a->C; }

size_t attention_saved_floats(const nn_attention *a) {
    switch (a->kind) {
    case ATT_CA: return ca_saved(a);
    case ATT_SA1: return (size_t)a->N * a->H * a->W;
    case ATT_SA4: return sa4_saved(a);
    case ATT_CA_SA4: return ca_saved(a) + image_floats(a) + sa4_saved(a);
    case ATT_CA_AVGMAX: return (size_t)a->N * (4 * (size_t)a->C + 2 * (size_t)a->R);
    default: return 0;
    }
}

// scratch: ca         d_gate then d_z (N,C), d_hidden (N,R), d_pooled (N,C)
//          ca-avgmax  the same over 2N rows (means', then maxima's)
//          sa4        A (n1): d_a3 then d_a1;  B (n2): d_z then d_a2
//          ca+sa4     d_t (N,H,W,C), then sa4's, which ca's reuses
static size_t sa4_scratch(const nn_attention *a) {
    size_t P = (size_t)a->N * a->H * a->W;
    return AS_MAX(a->n1, P * SA4_C3) + AS_MAX(a->n2, P);
}

size_t attention_scratch_floats(const nn_attention *a) {
    switch (a->kind) {
    case ATT_CA: return ca_saved(a);
    case ATT_SA1: return a->cuda ? (size_t)a->N * a->H * a->W : 0;  // CUDA's dz
    case ATT_SA4: return sa4_scratch(a);
    case ATT_CA_SA4: return image_floats(a) + AS_MAX(ca_saved(a), sa4_scratch(a));
    case ATT_CA_AVGMAX: return 2 * ca_saved(a);
    default: return 0;
    }
}

size_t attention_workspace_bytes(const nn_attention *a) {
    if (!has_sa4(a->kind)) return 0;
    return AS_MAX(conv_workspace_bytes(a->c1), AS_MAX(conv_workspace_bytes(a->c2), conv_workspace_bytes(a->c3)));
}

int attention_set_workspace(nn_attention *a, void *ws) {
    if (!has_sa4(a->kind)) return 0;
    return conv_set_workspace(a->c1, ws) || conv_set_workspace(a->c2, ws) || conv_set_workspace(a->c3, ws) ? -1 : 0;
}

static inline float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

// ---- per-pixel gate: g = sigmoid(w . x + b), out = in * g -------------------------
// One pixel's gate, sigmoid(w . x + b), for both layouts of `in` below.
static inline float gate_value(const float *x, const float *w, float b, int Cx) {
    float z = b;
#pragma omp simd reduction(+ : z)
    for (int c = 0; c < Cx; c++) z += w[c] * x[c];
    return sigmoidf(z);
}

// `in` (and d_in) in channel blocks of B, element (n, hw, c) at
// n*Cp*HW + (c/B)*HW*B + hw*B + c%B (Cp: C rounded up to B): oneDNN's blocked layouts,
// and with B = C the plain (P, C) one, so one kernel serves both. out, res, d_out (P, C).
// g (P), out from gate input x (P,Cx), w (Cx), b; res or NULL: out = res + in * g
static void gate_forward(float *g, float *out, const float *res, const float *in, const float *x, const float *w,
                         float b, size_t N, size_t HW, int C, int B, int Cx) {
    const size_t Cp = (size_t)(C + B - 1) / B * B, P = N * HW;
#pragma omp parallel for if (P * C >= AS_PAR_MIN)
    for (size_t p = 0; p < P; p++) {
        const float gp = gate_value(x + p * Cx, w, b, Cx);
        g[p] = gp;
        const float *ib = in + p / HW * Cp * HW + p % HW * B;
        const float *rp = res ? res + p * C : NULL;
        float *op = out + p * C;
        for (int c0 = 0; c0 < C; c0 += B) {
            const float *ip = ib + (size_t)c0 * HW;
            const int nb = AS_MIN(B, C - c0);
            if (rp) {
#pragma omp simd
                for (int j = 0; j < nb; j++) op[c0 + j] = rp[c0 + j] + ip[j] * gp;
            } else {
#pragma omp simd
                for (int j = 0; j < nb; j++) op[c0 + j] = ip[j] * gp;
            }
        }
    }
}

// d_z (P) = sigmoid' * <d_out, in> per pixel: the gradient reaching the gate's logit.
static void gate_backward_z(float *dz, const float *d_out, const float *in, const float *g, size_t N, size_t HW, int C,
                            int B) {
    const size_t Cp = (size_t)(C + B - 1) / B * B, P = N * HW;
#pragma omp parallel for if (P * C >= AS_PAR_MIN)
    for (size_t p = 0; p < P; p++) {
        const float *dp = d_out + p * C, *ib = in + p / HW * Cp * HW + p % HW * B;
        float s = 0;
        for (int c0 = 0; c0 < C; c0 += B) {
            const float *ip = ib + (size_t)c0 * HW;
            const int nb = AS_MIN(B, C - c0);
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < nb; j++) s += dp[c0 + j] * ip[j];
        }
        dz[p] = s * g[p] * (1 - g[p]);
    }
}

// d_in (blocks of B) += d_out (P, C) * g
static void gate_direct(float *d_in, const float *d_out, const float *g, size_t N, size_t HW, int C, int B) {
    const size_t Cp = (size_t)(C + B - 1) / B * B, P = N * HW;
#pragma omp parallel for if (P * C >= AS_PAR_MIN)
    for (size_t p = 0; p < P; p++) {
        const float *dp = d_out + p * C;
        float *ib = d_in + p / HW * Cp * HW + p % HW * B;
        const float gp = g[p];
        for (int c0 = 0; c0 < C; c0 += B) {
            float *ip = ib + (size_t)c0 * HW;
            const int nb = AS_MIN(B, C - c0);
#pragma omp simd
            for (int j = 0; j < nb; j++) ip[j] += dp[c0 + j] * gp;
        }
    }
}

// Fixed-order sums: pixels [0, P) split into SUM_CHUNKS pieces, each accumulating into
// its own row, the rows then added in order. Unlike OpenMP's reduction clause, the
// result depends on neither the thread count nor the scheduling, which bit-identical
// training resumes rely on.
#define SUM_CHUNKS AS_SUM_CHUNKS
static size_t chunk_begin(size_t P, int k) { return P * k / SUM_CHUNKS; }
static void add_rows(double *out, const double *part, int len) {
    memset(out, 0, len * sizeof *out);
    for (int k = 0; k < SUM_CHUNKS; k++)
        for (int c = 0; c < len; c++) out[c] += part[(size_t)k * len + c];
}

// d_w (Cx) = sum_p dz[p] x[p,:],  d_b = sum_p dz[p]
static void gate_backward_w(float *d_w, float *d_b, const float *dz, const float *x, size_t P, int Cx) {
    double part[SUM_CHUNKS][Cx + 1], acc[Cx + 1];
#pragma omp parallel for if (P * Cx >= AS_PAR_MIN)
    for (int k = 0; k < SUM_CHUNKS; k++) {
        double *a = part[k];
        memset(a, 0, sizeof(double) * (Cx + 1));
        for (size_t p = chunk_begin(P, k); p < chunk_begin(P, k + 1); p++) {
            const float *xp = x + p * Cx;
            const double d = dz[p];
#pragma omp simd
            for (int c = 0; c < Cx; c++) a[c] += d * xp[c];
            a[Cx] += d;
        }
    }
    add_rows(acc, &part[0][0], Cx + 1);
    for (int c = 0; c < Cx; c++) d_w[c] = (float)acc[c];
    *d_b = (float)acc[Cx];
}

// ---- channel attention ------------------------------------------------------------
// sum (C) = sum over P pixels of x (P,C)  [y NULL]  or of x*y  [y (P,C)]
static void channel_sum(double *sum, const float *x, const float *y, size_t P, int C) {
    double part[SUM_CHUNKS][C];
#pragma omp parallel for if (P * C >= AS_PAR_MIN)
    for (int k = 0; k < SUM_CHUNKS; k++) {
        double *a = part[k];
        memset(a, 0, sizeof(double) * C);
        for (size_t p = chunk_begin(P, k); p < chunk_begin(P, k + 1); p++) {
            const float *xp = x + p * C, *yp = y ? y + p * C : NULL;
            if (yp) {
#pragma omp simd
                for (int c = 0; c < C; c++) a[c] += (double)xp[c] * yp[c];
            } else {
#pragma omp simd
                for (int c = 0; c < C; c++) a[c] += xp[c];
            }
        }
    }
    add_rows(sum, &part[0][0], C);
}

// max (C) over P pixels of x (P,C), and idx (C, as floats; NULL: not wanted) the pixel
// it came from: the first maximum in raster order, or the last NaN, as PyTorch's
// adaptive_max_pool2d (a value replaces the running one when greater, or NaN). Chunks
// as channel_sum's, merged in order by the same rule: the same result for any split.
static void channel_max(float *mx, float *idx, const float *x, size_t P, int C) {
    float part[SUM_CHUNKS][C];
    size_t at[SUM_CHUNKS][C];
#pragma omp parallel for if (P * C >= AS_PAR_MIN)
    for (int k = 0; k < SUM_CHUNKS; k++) {
        float *m = part[k];
        size_t *i = at[k];
        for (int c = 0; c < C; c++) m[c] = -INFINITY, i[c] = 0;
        for (size_t p = chunk_begin(P, k); p < chunk_begin(P, k + 1); p++) {
            const float *xp = x + p * C;
            for (int c = 0; c < C; c++)
                if (xp[c] > m[c] || isnan(xp[c])) m[c] = xp[c], i[c] = p;
        }
    }
    for (int c = 0; c < C; c++) {
        float m = -INFINITY;
        size_t i = 0;  // all -inf: the first pixel, as PyTorch
        for (int k = 0; k < SUM_CHUNKS; k++)
            if (part[k][c] > m || isnan(part[k][c])) m = part[k][c], i = at[k][c];
        mx[c] = m;
        if (idx) idx[c] = (float)i;
    }
}

// CA's two fully connected layers: y (out) = W (out, in) x (in) + b, summed in float in
// order, as PyTorch's reference does it for these few values.
static void linear_forward(float *y, const float *x, const float *W, const float *b, int out, int in) {
    for (int o = 0; o < out; o++) {
        float s = b[o];
        for (int i = 0; i < in; i++) s += W[(size_t)o * in + i] * x[i];
        y[o] = s;
    }
}

// Their gradients over `rows` rows, in double: dW (out, in) = sum_n dy[n] x[n]^T and
// db (out) = sum_n dy[n]; and, one row, dx (in) = dy W, left in double for the caller to
// carry through what comes before the layer.
static void linear_backward_params(float *dW, float *db, const float *dy, const float *x, int rows, int out, int in) {
    for (int o = 0; o < out; o++) {
        double s = 0;
        for (int n = 0; n < rows; n++) s += dy[(size_t)n * out + o];
        db[o] = (float)s;
        for (int i = 0; i < in; i++) {
            double t = 0;
            for (int n = 0; n < rows; n++) t += (double)dy[(size_t)n * out + o] * x[(size_t)n * in + i];
            dW[(size_t)o * in + i] = (float)t;
        }
    }
}

static void linear_backward_input(double *dx, const float *dy, const float *W, int out, int in) {
    for (int i = 0; i < in; i++) {
        double t = 0;
        for (int o = 0; o < out; o++) t += (double)W[(size_t)o * in + i] * dy[o];
        dx[i] = t;
    }
}

// CA's MLP on one vector v (C): hid (R), fc1's output before LeakyReLU, and z (C),
// fc2's output (the gate's logits).
static void mlp_row(const nn_attention *a, float *hid, float *z, const float *v, const float *const *params) {
    const int C = a->C, R = a->R;
    float act[R];
    linear_forward(hid, v, params[0], params[1], R, C);
    for (int r = 0; r < R; r++) act[r] = hid[r] > 0 ? hid[r] : a->slope * hid[r];
    linear_forward(z, act, params[2], params[3], C, R);
}

// out (N,P,C) = in * gate[n,c], plus res (N,P,C) when not NULL.
static void channel_scale(const nn_attention *a, float *out, const float *in, const float *res, const float *gate) {
    const int N = a->N, C = a->C;
    const size_t P = (size_t)a->H * a->W;
#pragma omp parallel for collapse(2) if (N * P * C >= AS_PAR_MIN)
    for (int n = 0; n < N; n++)
        for (size_t p = 0; p < P; p++) {
            const float *gn = gate + (size_t)n * C, *ip = in + (n * P + p) * C;
            float *op = out + (n * P + p) * C;
            if (res) {
                const float *rp = res + (n * P + p) * C;
#pragma omp simd
                for (int c = 0; c < C; c++) op[c] = rp[c] + ip[c] * gn[c];
            } else {
#pragma omp simd
                for (int c = 0; c < C; c++) op[c] = ip[c] * gn[c];
            }
        }
}

static void ca_forward(const nn_attention *a, float *out, float *saved, const float *in, const float *res,
                       const float *const *params) {
    const int N = a->N, C = a->C, R = a->R;
    const size_t P = (size_t)a->H * a->W;
    float *pooled = saved, *hid = saved + (size_t)N * C, *gate = hid + (size_t)N * R;
    double sum[C];
    for (int n = 0; n < N; n++) {
        channel_sum(sum, in + n * P * C, NULL, P, C);
        float *pn = pooled + (size_t)n * C, *gn = gate + (size_t)n * C;
        for (int c = 0; c < C; c++) pn[c] = (float)(sum[c] / P);
        mlp_row(a, hid + (size_t)n * R, gn, pn, params);
        for (int c = 0; c < C; c++) gn[c] = sigmoidf(gn[c]);
    }
    channel_scale(a, out, in, res, gate);
}

// The MLP over 2N rows: the N means, then the N maxima; each image's gate takes the sum
// of its two rows' logits.
// The compositions (SA1, SA4, CA+SA4) are written once; their kernels run where the
// module was made: these two, on the CPU above or on CUDA (src/nn/cuda/attention.cu).
static void ca_any_forward(const nn_attention *a, float *out, float *saved, const float *in, const float *res,
                           const float *const *params) {
#ifdef ATTSR_CUDA
    if (a->cuda) {
        cuda_ca_forward(a->N, (size_t)a->H * a->W, a->C, a->R, a->slope, out, saved, in, res, params);
        return;
    }
#endif
    ca_forward(a, out, saved, in, res, params);
}

// g = sigmoid(w . x + b) per pixel, out = (res +) in * g; b: a one-float tensor
static void pixel_gate(const nn_attention *a, float *g, float *out, const float *res, const float *in, const float *x,
                       const float *w, const float *b, int Cx) {
#ifdef ATTSR_CUDA
    if (a->cuda) {  // NHWC only (CUDA's plans are)
        cuda_gate_forward(g, out, res, in, x, w, b, (size_t)a->N * a->H * a->W, a->C, Cx);
        return;
    }
#endif
    gate_forward(g, out, res, in, x, w, b[0], a->N, (size_t)a->H * a->W, a->C, a->in_blk ? a->in_blk : a->C, Cx);
}

// The gate's logit gradient dz (P) and its weights' gradient (d_w (Cx), d_b) for gate
// input x (P,Cx), where the module was made.
static void pixel_gate_backward(const nn_attention *a, float *dz, float *d_w, float *d_b, const float *d_out,
                                const float *in, const float *x, const float *g, int Cx) {
    const size_t P = (size_t)a->N * a->H * a->W;
#ifdef ATTSR_CUDA
    if (a->cuda) {
        cuda_gate_backward_z(dz, d_out, in, g, P, a->C);
        cuda_gate_backward_w(d_w, d_b, dz, x, P, Cx);
        return;
    }
#endif
    gate_backward_z(dz, d_out, in, g, a->N, (size_t)a->H * a->W, a->C, a->in_blk ? a->in_blk : a->C);
    gate_backward_w(d_w, d_b, dz, x, P, Cx);
}

static void ca_avgmax_forward(const nn_attention *a, float *out, float *saved, const float *in, const float *res,
                              const float *const *params) {
    const int N = a->N, C = a->C, R = a->R;
    const size_t P = (size_t)a->H * a->W;
    float *pooled = saved, *hid = pooled + 2 * (size_t)N * C, *gate = hid + 2 * (size_t)N * R;
    float *idx = gate + (size_t)N * C;
#ifdef ATTSR_CUDA
    if (a->cuda) {
        cuda_ca_avgmax_forward(N, P, C, R, a->slope, a->training, out, saved, in, res, params);
        return;
    }
#endif
    double sum[C];
    float z_max[C];
    for (int n = 0; n < N; n++) {
        const float *x = in + n * P * C;
        float *mean = pooled + (size_t)n * C, *max = pooled + (size_t)(N + n) * C;
        float *gn = gate + (size_t)n * C;
        channel_sum(sum, x, NULL, P, C);
        for (int c = 0; c < C; c++) mean[c] = (float)(sum[c] / P);
        channel_max(max, a->training ? idx + (size_t)n * C : NULL, x, P, C);
        mlp_row(a, hid + (size_t)n * R, gn, mean, params);
        mlp_row(a, hid + (size_t)(N + n) * R, z_max, max, params);
        for (int c = 0; c < C; c++) gn[c] = sigmoidf(gn[c] + z_max[c]);
    }
    channel_scale(a, out, in, res, gate);
}

// dz (N,C) = sigmoid'(z) * sum_p d_out*in: the gradient at the gate's logits.
static void gate_logit_grad(const nn_attention *a, float *dz, const float *d_out, const float *in, const float *gate) {
    const int C = a->C;
    const size_t P = (size_t)a->H * a->W;
    double sum[C];
    for (int n = 0; n < a->N; n++) {
        channel_sum(sum, d_out + n * P * C, in + n * P * C, P, C);
        for (int c = 0; c < C; c++) {
            float g = gate[(size_t)n * C + c];
            dz[(size_t)n * C + c] = (float)sum[c] * g * (1 - g);
        }
    }
}

// The MLP's backward over `rows` rows of pooled vectors v (rows,C), fc1's outputs hid
// (rows,R) and the gradients dz (rows,C) at fc2's: the weight gradients (summed over the
// rows), dh (rows,R), and dv (rows,C), the gradient at v, divided by P in the first
// mean_rows rows (a mean spreads it over P pixels).
static void mlp_backward(const nn_attention *a, int rows, int mean_rows, float *const *d_params, float *dh, float *dv,
                         const float *dz, const float *v, const float *hid, const float *const *params) {
    const int C = a->C, R = a->R;
    const size_t P = (size_t)a->H * a->W;
    float act[(size_t)rows * R];  // fc2's input, LeakyReLU(hid)
    double t[AS_MAX(C, R)];
    for (size_t i = 0; i < (size_t)rows * R; i++) act[i] = hid[i] > 0 ? hid[i] : a->slope * hid[i];
    // fc2, then back through LeakyReLU to d_hidden
    linear_backward_params(d_params[2], d_params[3], dz, act, rows, C, R);
    for (int n = 0; n < rows; n++) {
        linear_backward_input(t, dz + (size_t)n * C, params[2], C, R);
        for (int r = 0; r < R; r++)
            dh[(size_t)n * R + r] = (float)(hid[(size_t)n * R + r] > 0 ? t[r] : a->slope * t[r]);
    }
    // fc1, then d_v (a mean spreads its gradient over the P pixels)
    linear_backward_params(d_params[0], d_params[1], dh, v, rows, R, C);
    for (int n = 0; n < rows; n++) {
        linear_backward_input(t, dh + (size_t)n * R, params[0], R, C);
        for (int c = 0; c < C; c++) dv[(size_t)n * C + c] = (float)(n < mean_rows ? t[c] / P : t[c]);
    }
}

// d_in (N,P,C) = d_out * gate[n,c] + d_mean[n,c] (the mean's share, already / P).
static void channel_input_grad(const nn_attention *a, float *d_in, const float *d_out, const float *gate,
                               const float *d_mean) {
    const int N = a->N, C = a->C;
    const size_t P = (size_t)a->H * a->W;
#pragma omp parallel for collapse(2) if (N * P * C >= AS_PAR_MIN)
    for (int n = 0; n < N; n++)
        for (size_t p = 0; p < P; p++) {
            const float *gn = gate + (size_t)n * C, *dmn = d_mean + (size_t)n * C;
            const float *dop = d_out + (n * P + p) * C;
            float *dip = d_in + (n * P + p) * C;
#pragma omp simd
            for (int c = 0; c < C; c++) dip[c] = dop[c] * gn[c] + dmn[c];
        }
}

static void ca_backward(const nn_attention *a, float *d_in, float *const *d_params, float *scratch, const float *d_out,
                        const float *saved, const float *in, const float *const *params) {
#ifdef ATTSR_CUDA
    if (a->cuda) {
        cuda_ca_backward(a->N, (size_t)a->H * a->W, a->C, a->R, a->slope, d_in, d_params, scratch, d_out, saved, in,
                         params);
        return;
    }
#endif
    const int N = a->N, C = a->C, R = a->R;
    const float *pooled = saved, *hid = saved + (size_t)N * C, *gate = hid + (size_t)N * R;
    float *dz = scratch, *dh = scratch + (size_t)N * C, *dpool = dh + (size_t)N * R;
    gate_logit_grad(a, dz, d_out, in, gate);
    mlp_backward(a, N, N, d_params, dh, dpool, dz, pooled, hid, params);
    channel_input_grad(a, d_in, d_out, gate, dpool);
}

// Both rows of an image get the gate's logit gradient; the maxima's row's gradient goes
// to the pixel each maximum came from.
static void ca_avgmax_backward(const nn_attention *a, float *d_in, float *const *d_params, float *scratch,
                               const float *d_out, const float *saved, const float *in, const float *const *params) {
    const int N = a->N, C = a->C, R = a->R;
    const size_t P = (size_t)a->H * a->W, NC = (size_t)N * C;
#ifdef ATTSR_CUDA
    if (a->cuda) {
        cuda_ca_avgmax_backward(N, P, C, R, a->slope, d_in, d_params, scratch, d_out, saved, in, params);
        return;
    }
#endif
    const float *pooled = saved, *hid = pooled + 2 * NC, *gate = hid + 2 * (size_t)N * R;
    const float *idx = gate + NC;
    float *dz = scratch, *dh = dz + 2 * NC, *dv = dh + 2 * (size_t)N * R;
    gate_logit_grad(a, dz, d_out, in, gate);
    memcpy(dz + NC, dz, NC * sizeof *dz);
    mlp_backward(a, 2 * N, N, d_params, dh, dv, dz, pooled, hid, params);
    channel_input_grad(a, d_in, d_out, gate, dv);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            size_t p = (size_t)idx[(size_t)n * C + c];
            d_in[(n * P + p) * C + c] += dv[NC + (size_t)n * C + c];
        }
}

// ---- spatial attention --------------------------------------------------------------
static void sa1_backward(const nn_attention *a, float *d_in, float *const *d_params, float *scratch, const float *d_out,
                         const float *gate, const float *in, const float *const *params) {
    const int C = a->C;
    const size_t P = (size_t)a->N * a->H * a->W;
    const float *w = params[0];
#ifdef ATTSR_CUDA
    if (a->cuda) {  // the CPU's one pass as three kernels; dz (P) in scratch
        pixel_gate_backward(a, scratch, d_params[0], d_params[1], d_out, in, in, gate, C);
        cuda_gate_backward_in(d_in, d_out, gate, scratch, w, P, C, 0);
        return;
    }
#endif
    double part[SUM_CHUNKS][C + 1], acc[C + 1];
    // one pass: d_z per pixel, d_in = d_out*g + d_z*w, and the weight gradient
#pragma omp parallel for if (P * C >= AS_PAR_MIN)
    for (int k = 0; k < SUM_CHUNKS; k++) {
        double *ak = part[k];
        memset(ak, 0, sizeof(double) * (C + 1));
        for (size_t p = chunk_begin(P, k); p < chunk_begin(P, k + 1); p++) {
            const float *dp = d_out + p * C, *ip = in + p * C;
            float *dip = d_in + p * C;
            float s = 0;
#pragma omp simd reduction(+ : s)
            for (int c = 0; c < C; c++) s += dp[c] * ip[c];
            const float g = gate[p], dz = s * g * (1 - g);
#pragma omp simd
            for (int c = 0; c < C; c++) {
                dip[c] = dp[c] * g + dz * w[c];
                ak[c] += (double)dz * ip[c];
            }
            ak[C] += dz;
        }
    }
    add_rows(acc, &part[0][0], C + 1);
    for (int c = 0; c < C; c++) d_params[0][c] = (float)acc[c];
    d_params[1][0] = (float)acc[C];
}

static int sa4_forward(const nn_attention *a, float *out, float *saved, const float *in, const float *res,
                       const float *const *params) {
    const size_t P = (size_t)a->N * a->H * a->W;
    float *a1 = saved, *a2 = a1 + a->n1, *a3 = a2 + a->n2, *gate = a3 + P * SA4_C3;
    // each conv applies its LeakyReLU (a post-op)
    if (conv_forward(a->c1, a1, in, params[0], params[1]) || conv_forward(a->c2, a2, a1, params[2], params[3]) ||
        conv_forward(a->c3, a3, a2, params[4], params[5]))
        return -1;
    pixel_gate(a, gate, out, res, in, a3, params[6], params[7], SA4_C3);
    return 0;
}

// d3 (P,8) = lrelu'(a3) * dz[p] w4: the gradient through c4 to c3's pre-activation
static void sa4_d3(const nn_attention *a, float *d3, const float *dz, const float *w4, const float *a3) {
    const size_t P = (size_t)a->N * a->H * a->W;
#ifdef ATTSR_CUDA
    if (a->cuda) {
        cuda_sa4_d3(d3, dz, w4, a3, P, SA4_C3, a->slope);
        return;
    }
#endif
#pragma omp parallel for if (P * SA4_C3 >= AS_PAR_MIN)
    for (size_t p = 0; p < P; p++)
        for (int k = 0; k < SA4_C3; k++) {
            float d = dz[p] * w4[k];
            d3[p * SA4_C3 + k] = a3[p * SA4_C3 + k] > 0 ? d : a->slope * d;
        }
}

static int sa4_backward(const nn_attention *a, float *d_in, float *const *d_params, float *scratch, const float *d_out,
                        const float *saved, const float *in, const float *const *params) {
    const int C = a->C;
    const size_t P = (size_t)a->N * a->H * a->W;
    const float *a1 = saved, *a2 = a1 + a->n1, *a3 = a2 + a->n2, *gate = a3 + P * SA4_C3;
    const float *w4 = params[6];
    float *A = scratch, *B = scratch + AS_MAX(a->n1, P * SA4_C3);
    float *dz = B, *d3 = A;  // d_z (P), then d_a3 -> d_h3 (P,8)
    pixel_gate_backward(a, dz, d_params[6], d_params[7], d_out, in, a3, gate, SA4_C3);
    sa4_d3(a, d3, dz, w4, a3);
    // d_a2, d_a1 in the layouts of a2, a1; LeakyReLU backward in place
    float *d2 = B, *d1 = A;
    if (conv_backward(a->c3, d2, d_params[4], d_params[5], d3, a2, params[4])) return -1;
    lrelu_backward(d2, d2, a2, a->n2, a->slope);
    if (conv_backward(a->c2, d1, d_params[2], d_params[3], d2, a1, params[2])) return -1;
    lrelu_backward(d1, d1, a1, a->n1, a->slope);
    if (d_in) {
        if (conv_backward(a->c1, d_in, d_params[0], d_params[1], d1, in, params[0])) return -1;
            // plus the direct path through out = in * g
#ifdef ATTSR_CUDA
        if (a->cuda) {
            cuda_gate_backward_in(d_in, d_out, gate, NULL, NULL, P, C, 1);
            return 0;
        }
#endif
        gate_direct(d_in, d_out, gate, a->N, (size_t)a->H * a->W, C, a->in_blk ? a->in_blk : C);
    } else if (conv_backward(a->c1, NULL, d_params[0], d_params[1], d1, in, params[0])) {
        return -1;
    }
    return 0;
}

// ---- CA, then SA4 on its output t -------------------------------------------------------
static int ca_sa4_forward(const nn_attention *a, float *out, float *saved, const float *in, const float *res,
                          const float *const *params) {
    float *t = saved + ca_saved(a);
    ca_any_forward(a, t, saved, in, NULL, params);
    return sa4_forward(a, out, t + image_floats(a), t, res, params + 4);
}

static int ca_sa4_backward(const nn_attention *a, float *d_in, float *const *d_params, float *scratch,
                           const float *d_out, const float *saved, const float *in, const float *const *params) {
    const float *t = saved + ca_saved(a);
    float *d_t = scratch, *rest = scratch + image_floats(a);
    if (sa4_backward(a, d_t, d_params + 4, rest, d_out, t + image_floats(a), t, params + 4)) return -1;
    ca_backward(a, d_in, d_params, rest, d_t, saved, in, params);
    return 0;
}

// ---- dispatch ------------------------------------------------------------------------
int attention_forward_add(nn_attention *a, float *out, float *saved, const float *in, const float *res,
                          const float *const *params) {
    const size_t n = (size_t)a->N * a->H * a->W * a->C;
    switch (a->kind) {
    case ATT_NONE:
        if (!res) return nn_copy(a->cuda ? NN_CUDA : NN_CPU, out, in, n * sizeof *out);
        add_forward(out, res, in, n);
        return 0;
    case ATT_CA: ca_any_forward(a, out, saved, in, res, params); return 0;
    case ATT_SA1: pixel_gate(a, saved, out, res, in, in, params[0], params[1], a->C); return 0;
    case ATT_SA4: return sa4_forward(a, out, saved, in, res, params);
    case ATT_CA_SA4: return ca_sa4_forward(a, out, saved, in, res, params);
    case ATT_CA_AVGMAX: ca_avgmax_forward(a, out, saved, in, res, params); return 0;
    default: break;
    }
    return as_errorf("attention_forward: invalid kind %d", (int)a->kind);
}

int attention_forward(nn_attention *a, float *out, float *saved, const float *in, const float *const *params) {
    return attention_forward_add(a, out, saved, in, NULL, params);
}

int attention_backward(nn_attention *a, float *d_in, float *const *d_params, float *scratch, const float *d_out,
                       const float *saved, const float *in, const float *const *params) {
    if (!a->training) return as_errorf("attention_backward: created for inference");
    const size_t n = (size_t)a->N * a->H * a->W * a->C;
    float *tmp = NULL;
    // all but SA4 compute d_in on the way to their weights' gradients: give them a buffer
    const nn_device dev = a->cuda ? NN_CUDA : NN_CPU;
    if (!d_in && a->kind != ATT_NONE && a->kind != ATT_SA4) {
        if (n > SIZE_MAX / sizeof *tmp || !(tmp = nn_alloc(dev, n * sizeof *tmp))) return -1;
        d_in = tmp;
    }
    int rc = 0;
    switch (a->kind) {
    case ATT_NONE:
        if (d_in) rc = nn_copy(dev, d_in, d_out, n * sizeof *d_in);
        break;
    case ATT_CA: ca_backward(a, d_in, d_params, scratch, d_out, saved, in, params); break;
    case ATT_SA1: sa1_backward(a, d_in, d_params, scratch, d_out, saved, in, params); break;
    case ATT_SA4: rc = sa4_backward(a, d_in, d_params, scratch, d_out, saved, in, params); break;
    case ATT_CA_SA4: rc = ca_sa4_backward(a, d_in, d_params, scratch, d_out, saved, in, params); break;
    case ATT_CA_AVGMAX: ca_avgmax_backward(a, d_in, d_params, scratch, d_out, saved, in, params); break;
    default: rc = as_errorf("attention_backward: invalid kind %d", (int)a->kind);
    }
    nn_free(dev, tmp);
    return rc;
}
