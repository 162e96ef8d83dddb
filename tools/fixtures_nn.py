#!/usr/bin/python3
"""Writes tests/fixtures/nn/*.safetensors: PyTorch's forward and backward of every layer
in src/nn, for tests/test_nn.c.

    /usr/bin/python3 tools/fixtures_nn.py      (Debian's python3-torch; run from anywhere)

Each case: float32 inputs and parameters drawn from a fixed seed; the layer is evaluated
in float64 and the results rounded to float32. The upstream gradient `d_out` is random,
so the backward is checked for a generic direction. Activations are saved NHWC (torch is
NCHW), parameters exactly as in a state_dict (conv OIHW, linear [out, in]). Tensor names:
    in, out, d_out, d_in, and for parameters  <name>, d.<name>
Shapes and hyper-parameters go in the metadata (strings).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "nn")
SLOPE = 0.2


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def rand(g, *shape, scale=1.0):
    """float32 values, uniform in [-scale, scale), then promoted for the computation."""
    return ((torch.rand(*shape, generator=g, dtype=torch.float32) * 2 - 1) * scale).double()


def conv_params(g, cin, cout, k, gain=1.0):
    bound = gain / (cin * k * k) ** 0.5  # gain 1: PyTorch's default init range
    return rand(g, cout, cin, k, k, scale=bound), rand(g, cout, scale=bound)


def run_case(name, fn, x, params, meta, seed):
    """fn(x, *params) -> output (NCHW, or any shape for non-image outputs)."""
    g = torch.Generator().manual_seed(seed + 1000)
    x = x.clone().requires_grad_(True)
    ps = [p.clone().requires_grad_(True) for _, p in params]
    y = fn(x, *ps)
    d_out = rand(g, *y.shape)
    y.backward(d_out)
    t = {"in": nhwc(x.detach()), "out": nhwc(y.detach()), "d_out": nhwc(d_out),
         "d_in": nhwc(x.grad)}
    for (pname, _), p in zip(params, ps):
        t[pname] = p.detach()
        t["d." + pname] = p.grad
    t = {k: v.float() for k, v in t.items()}
    os.makedirs(OUT, exist_ok=True)
    st.save(os.path.join(OUT, name + ".safetensors"), t, {k: str(v) for k, v in meta.items()})


def conv_case(name, N, H, W, cin, cout, k, seed):
    g = torch.Generator().manual_seed(seed)
    x = rand(g, N, cin, H, W)
    w, b = conv_params(g, cin, cout, k)
    run_case(name, lambda x, w, b: F.conv2d(x, w, b, padding=k // 2), x,
             [("weight", w), ("bias", b)],
             dict(N=N, H=H, W=W, cin=cin, cout=cout, k=k), seed)


def lrelu_case(name, N, H, W, C, seed):
    g = torch.Generator().manual_seed(seed)
    x = rand(g, N, C, H, W)
    run_case(name, lambda x: F.leaky_relu(x, SLOPE), x, [],
             dict(N=N, H=H, W=W, C=C, slope=SLOPE), seed)


def shuffle_case(name, N, H, W, C, s, seed):
    g = torch.Generator().manual_seed(seed)
    x = rand(g, N, C * s * s, H, W)
    run_case(name, lambda x: F.pixel_shuffle(x, s), x, [], dict(N=N, H=H, W=W, C=C, s=s), seed)


def ca_params(g, C, R, prefix=""):
    b1, b2 = 1 / C ** 0.5, 1 / R ** 0.5
    return [(prefix + "fc1.weight", rand(g, R, C, scale=b1)), (prefix + "fc1.bias", rand(g, R, scale=b1)),
            (prefix + "fc2.weight", rand(g, C, R, scale=b2)), (prefix + "fc2.bias", rand(g, C, scale=b2))]


def ca_fn(x, w1, b1, w2, b2):
    z = F.leaky_relu(F.linear(x.mean(dim=(2, 3)), w1, b1), SLOPE)
    return x * torch.sigmoid(F.linear(z, w2, b2))[:, :, None, None]


def ca_case(name, N, H, W, C, r, seed):
    g = torch.Generator().manual_seed(seed)
    R = max(1, C // r)
    x = rand(g, N, C, H, W)
    params = ca_params(g, C, R)
    run_case(name, ca_fn, x, params, dict(kind="ca", N=N, H=H, W=W, C=C, R=R, slope=SLOPE), seed)


def ca_avgmax_case(name, N, H, W, C, r, seed, levels=0):
    """CBAM's channel module. levels > 0: x rounded to multiples of 1/levels, so channels
    have tied maxima, and the test sees where max's gradient goes (adaptive_max_pool2d:
    the first maximum in raster order)."""
    g = torch.Generator().manual_seed(seed)
    R = max(1, C // r)
    x = rand(g, N, C, H, W)
    if levels:
        x = torch.round(x * levels) / levels
        top = x.amax(dim=(2, 3), keepdim=True)
        ties = ((x == top).sum(dim=(2, 3)) > 1).sum().item()
        assert ties >= N * C // 2, f"{name}: only {ties} channels with tied maxima"
    params = ca_params(g, C, R)

    def fn(x, w1, b1, w2, b2):
        def mlp(v):
            return F.linear(F.leaky_relu(F.linear(v, w1, b1), SLOPE), w2, b2)
        z = mlp(x.mean(dim=(2, 3))) + mlp(F.adaptive_max_pool2d(x, 1).flatten(1))
        return x * torch.sigmoid(z)[:, :, None, None]

    run_case(name, fn, x, params, dict(kind="ca-avgmax", N=N, H=H, W=W, C=C, R=R, slope=SLOPE), seed)


def sa1_case(name, N, H, W, C, seed):
    g = torch.Generator().manual_seed(seed)
    x = rand(g, N, C, H, W)
    w, b = conv_params(g, C, 1, 1)
    run_case(name, lambda x, w, b: x * torch.sigmoid(F.conv2d(x, w, b)), x,
             [("conv.weight", w), ("conv.bias", b)],
             dict(kind="sa1", N=N, H=H, W=W, C=C, R=0, slope=SLOPE), seed)


def sa4_params(g, C, prefix=""):
    params = []
    # 4x the default init range: hidden pre-activations of order 1, so LeakyReLU kinks
    # are sparse and the test's finite differences stay well conditioned
    for i, (cin, cout, k) in enumerate([(C, 32, 7), (32, 16, 5), (16, 8, 3), (8, 1, 1)], 1):
        w, b = conv_params(g, cin, cout, k, gain=4.0)
        params += [(f"{prefix}conv{i}.weight", w), (f"{prefix}conv{i}.bias", b)]
    return params


def sa4_fn(x, w1, b1, w2, b2, w3, b3, w4, b4):
    h = F.leaky_relu(F.conv2d(x, w1, b1, padding=3), SLOPE)
    h = F.leaky_relu(F.conv2d(h, w2, b2, padding=2), SLOPE)
    h = F.leaky_relu(F.conv2d(h, w3, b3, padding=1), SLOPE)
    return x * torch.sigmoid(F.conv2d(h, w4, b4))


def sa4_case(name, N, H, W, C, seed):
    g = torch.Generator().manual_seed(seed)
    x = rand(g, N, C, H, W)
    params = sa4_params(g, C)
    run_case(name, sa4_fn, x, params, dict(kind="sa4", N=N, H=H, W=W, C=C, R=0, slope=SLOPE), seed)


def ca_sa4_case(name, N, H, W, C, r, seed):
    """CBAM's order: SA4 on CA's output."""
    g = torch.Generator().manual_seed(seed)
    R = max(1, C // r)
    x = rand(g, N, C, H, W)
    params = ca_params(g, C, R, "ca.") + sa4_params(g, C, "sa.")
    run_case(name, lambda x, *p: sa4_fn(ca_fn(x, *p[:4]), *p[4:]), x, params,
             dict(kind="ca+sa4", N=N, H=H, W=W, C=C, R=R, slope=SLOPE), seed)


def main():
    torch.set_default_dtype(torch.float64)
    # odd H, W everywhere; channel counts both tiny and SIMD-sized
    conv_case("conv_k3_5to3", 2, 7, 5, 5, 3, 3, seed=1)
    conv_case("conv_k1_5to3", 2, 7, 5, 5, 3, 1, seed=2)
    conv_case("conv_k5_5to3", 2, 7, 5, 5, 3, 5, seed=3)
    conv_case("conv_k7_5to3", 2, 7, 5, 5, 3, 7, seed=4)
    conv_case("conv_k3_16to16", 2, 7, 5, 16, 16, 3, seed=5)
    conv_case("conv_k3_3to16", 2, 7, 5, 3, 16, 3, seed=6)      # like fe.head
    conv_case("conv_k3_16to3", 2, 7, 5, 16, 3, 3, seed=7)      # like br.out
    conv_case("conv_k3_64to64", 1, 5, 7, 64, 64, 3, seed=8)    # the network's main layer
    lrelu_case("lrelu", 2, 7, 5, 3, seed=10)
    shuffle_case("pixel_shuffle_s2", 2, 3, 5, 3, 2, seed=11)
    shuffle_case("pixel_shuffle_s3", 2, 3, 5, 2, 3, seed=12)
    ca_case("att_ca_20_r16", 2, 7, 5, 20, 16, seed=20)        # C/r = 1.25 -> R = 1
    ca_case("att_ca_32_r16", 2, 7, 5, 32, 16, seed=21)        # R = 2
    sa1_case("att_sa1_16", 2, 7, 5, 16, seed=22)
    sa4_case("att_sa4_16", 2, 7, 5, 16, seed=23)
    ca_sa4_case("att_ca_sa4_16_r4", 2, 7, 5, 16, 4, seed=24)  # R = 4
    ca_avgmax_case("att_ca_avgmax_20_r16", 2, 7, 5, 20, 16, seed=25)           # R = 1
    ca_avgmax_case("att_ca_avgmax_32_r8_ties", 2, 7, 5, 32, 8, seed=26, levels=4)  # R = 4
    # 144 pixels: attsr's max runs in 64 chunks of 2-3 pixels, ties within and across them
    ca_avgmax_case("att_ca_avgmax_8_r2_ties_12x12", 2, 12, 12, 8, 2, seed=27, levels=2)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
