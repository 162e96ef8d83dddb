#!/usr/bin/python3
"""Fixtures for tests/test_satv.c: a real image crop and its SATV structure (docs/spec.md §5).

Writes into tests/fixtures/ (raw little-endian float32, layout (h, w, 3), values [0, 1]):
  satv_butterfly.f32    a 48 x 40 (w x h) crop of Set5 butterfly, the input f
  satv_butterfly_S.f32  its structure S from the numpy float64 solver below
  satv_butterfly.txt    "h w c iterations"
The numpy solver is whole-array (shifted copies with edge clamping), written apart from
both C implementations so that all three check one another.

Usage (Debian's python3, which has numpy and PIL):
  /usr/bin/python3 tools/fixtures_satv.py [/work/shared/data/benchmark]
"""
import os
import sys

import numpy as np
from PIL import Image


def shift(x, di, dj):
    """x[i + di, j + dj] with indices clamped to the image (x: (h, w, c))."""
    h, w = x.shape[:2]
    ii = np.clip(np.arange(h) + di, 0, h - 1)
    jj = np.clip(np.arange(w) + dj, 0, w - 1)
    return x[ii][:, jj]


def satv(f, lam=2.5, gamma1=5.0, tol=1e-3, max_iters=50):
    """docs/spec.md §5, float64. Returns (S, iterations)."""
    f = f.astype(np.float64)
    a = lam / gamma1
    u = f.copy()
    dx, dy, tx, ty = (np.zeros_like(f) for _ in range(4))
    nf = np.linalg.norm(f)
    for it in range(1, max_iters + 1):
        un = (a * f - (tx - shift(tx, 0, -1)) - (ty - shift(ty, -1, 0))
              + shift(u, -1, 0) + shift(u, 1, 0) + shift(u, 0, -1) + shift(u, 0, 1)
              + 4 * u) / (a + 8)
        delta = np.linalg.norm(un - u) / nf
        u = un
        if it >= 2 and delta <= tol:
            break
        zx = (shift(u, 0, 1) - u) + dx - tx
        zy = (shift(u, 1, 0) - u) + dy - ty
        s = np.sqrt(np.sum(zx * zx + zy * zy, axis=2, keepdims=True))
        m = np.maximum(0, s - 1 / gamma1) / np.maximum(1e-12, s)
        dx, dy = m * zx, m * zy
        tx, ty = 2 * dx - zx, 2 * dy - zy
    return u, it


def main():
    bench = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/benchmark"
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
    img = Image.open(os.path.join(bench, "Set5", "HR", "butterfly.png")).convert("RGB")
    x0, y0, w, h = 100, 120, 48, 40  # wing edges and fine texture
    f = np.asarray(img, dtype=np.float32)[y0:y0 + h, x0:x0 + w] / np.float32(255)
    S, its = satv(f)
    f.astype("<f4").tofile(os.path.join(out, "satv_butterfly.f32"))
    S.astype("<f4").tofile(os.path.join(out, "satv_butterfly_S.f32"))
    with open(os.path.join(out, "satv_butterfly.txt"), "w") as fp:
        fp.write(f"{h} {w} 3 {its}\n")
    print(f"satv_butterfly: {w} x {h}, {its} iterations, |T| mean {np.abs(f - S).mean():.4f}")


if __name__ == "__main__":
    main()
