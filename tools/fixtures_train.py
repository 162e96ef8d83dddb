"""Writes 10 training steps per attention kind for tests/test_train.c (outputs committed).

A small model (x2, C=8, 1/1/2 groups/blocks) of each attention kind, a fixed batch,
L1 on both branches, GradNorm (docs/spec.md §6: alpha 1.5, lr_w 0.01, floor 1e-3,
renormalised to sum 2) on fe.tail.weight, torch.optim.Adam (lr 2e-4). In float64, so
that the reference's own rounding is negligible next to attsr's fp32.

Usage: /usr/bin/python3 tools/fixtures_train.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402
from model_ref import AttSR  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "train")
STEPS, ALPHA, LR_W, FLOOR, LR = 10, 1.5, 0.01, 1e-3, 2e-4


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def run(att, seed):
    torch.manual_seed(seed)
    model = AttSR(2, 8, 1, 1, 2, att, ca_reduction=4)
    # start from exactly the float32 weights attsr will load
    st.save(os.path.join(OUT, f"{att}.weights.safetensors"), model.state_dict(), model.metadata())
    model = model.double()
    x = torch.rand(2, 3, 12, 12, dtype=torch.float64)
    s_hr = torch.rand(2, 3, 24, 24, dtype=torch.float64) * 0.8
    t_hr = torch.randn(2, 3, 24, 24, dtype=torch.float64) * 0.1
    x, s_hr, t_hr = (t.float().double() for t in (x, s_hr, t_hr))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    W = model.fe.tail.weight
    w, L0 = [1.0, 1.0], None
    losses, weights = [], []
    for _ in range(STEPS):
        _, s, t = model(x)
        L = [(s - s_hr).abs().mean(), (t - t_hr).abs().mean()]
        norms = [torch.autograd.grad(L[i], W, retain_graph=True)[0].norm().item() for i in range(2)]
        loss = w[0] * L[0] + w[1] * L[1]
        opt.zero_grad()
        loss.backward()
        Lv = [L[0].item(), L[1].item()]
        if L0 is None:
            L0 = Lv
        G = [w[i] * norms[i] for i in range(2)]
        ratio = [Lv[i] / L0[i] for i in range(2)]
        mean_ratio = sum(ratio) / 2
        Gbar = sum(G) / 2
        losses.append([loss.item(), Lv[0], Lv[1]])
        for i in range(2):
            target = Gbar * (ratio[i] / mean_ratio) ** ALPHA
            d = norms[i] if G[i] > target else -norms[i] if G[i] < target else 0.0
            w[i] = max(FLOOR, w[i] - LR_W * d)
        total = w[0] + w[1]
        w = [wi * 2 / total for wi in w]
        weights.append(list(w))
        opt.step()
    data = {"input": nhwc(x), "s_hr": nhwc(s_hr), "t_hr": nhwc(t_hr),
            "losses": torch.tensor(losses), "task_weights": torch.tensor(weights)}
    for k, p in model.named_parameters():
        data["final." + k] = p.detach()
    st.save(os.path.join(OUT, f"{att}.steps.safetensors"), {k: v.float() for k, v in data.items()})


def main():
    os.makedirs(OUT, exist_ok=True)
    # ca-avgmax: the kind beyond the paper whose files stay small (ca+sa4 carries SA4's
    # weights; its gradients are checked by the model fixtures)
    for i, att in enumerate(("none", "ca", "sa1", "sa4", "ca-avgmax")):
        run(att, 100 + i)


if __name__ == "__main__":
    main()
