"""Writes whole-model fixtures for tests/test_model.c (run once; outputs committed).

For a small model of every attention kind at x2, x3 and x4: the weights (in attsr's
weights-file format, so the test also proves loading a file PyTorch wrote), a random
LR batch, the three outputs, and, for random upstream gradients g_S and g_T of
S_SR and T_SR, the gradient of every parameter and the norms of the structure and
texture shares of fe.tail.weight's gradient (GradNorm's G_i).

Usage: python3 tools/fixtures_model.py   (writes tests/fixtures/model/*.safetensors)
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402
from model_ref import AttSR  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "model")


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def case(name, scale, attention, feats, fe_groups, groups, blocks, N, H, W, seed):
    torch.manual_seed(seed)
    model = AttSR(scale, feats, fe_groups, groups, blocks, attention, ca_reduction=4).double()
    x = torch.rand(N, 3, H, W, dtype=torch.float64)
    sr, s, t = model(x)
    gs, gt = torch.randn_like(s), torch.randn_like(t)
    W_ = model.fe.tail.weight
    norm_s = torch.autograd.grad((s * gs).sum(), W_, retain_graph=True)[0].norm()
    norm_t = torch.autograd.grad((t * gt).sum(), W_, retain_graph=True)[0].norm()
    model.zero_grad()
    ((s * gs).sum() + (t * gt).sum()).backward()
    st.save(os.path.join(OUT, f"{name}.weights.safetensors"),
            {k: v.float() for k, v in model.state_dict().items()}, model.metadata())
    data = {"input": nhwc(x), "sr": nhwc(sr), "s": nhwc(s), "t": nhwc(t),
            "g_s": nhwc(gs), "g_t": nhwc(gt),
            "norms": torch.stack([norm_s, norm_t])}
    for k, p in model.named_parameters():
        data["grad." + k] = p.grad
    st.save(os.path.join(OUT, f"{name}.io.safetensors"),
            {k: v.detach().float() for k, v in data.items()})


def main():
    os.makedirs(OUT, exist_ok=True)
    seed = 0
    for scale in (2, 3, 4):
        for att in ("none", "ca", "sa1", "sa4"):
            seed += 1
            case(f"x{scale}_{att}", scale, att, feats=8, fe_groups=1, groups=1, blocks=2,
                 N=2, H=7, W=5, seed=seed)
    # degenerate shapes: no groups in the extractor, and no blocks
    case("x2_ca_nofe", 2, "ca", feats=6, fe_groups=0, groups=2, blocks=1, N=1, H=4, W=6, seed=99)
    case("x3_sa4_noblocks", 3, "sa4", feats=4, fe_groups=1, groups=1, blocks=0, N=1, H=3, W=3, seed=98)
    # the two kinds beyond the paper (docs/protocol.md); ca+sa4 carries SA4's weights,
    # so one block per group keeps its files small
    case("x4_ca_sa4", 4, "ca+sa4", feats=8, fe_groups=1, groups=1, blocks=1, N=2, H=7, W=5, seed=97)
    case("x2_ca_avgmax", 2, "ca-avgmax", feats=8, fe_groups=1, groups=1, blocks=2, N=2, H=7, W=5, seed=96)
    case("x3_ca_avgmax", 3, "ca-avgmax", feats=8, fe_groups=1, groups=1, blocks=2, N=2, H=7, W=5, seed=95)


if __name__ == "__main__":
    main()
