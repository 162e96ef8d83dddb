#!/usr/bin/env python3
"""Reference fixtures for src/image/resize.c and src/image/metrics.c (docs/spec.md §2).

An independent numpy implementation of the field's protocol:
  * MATLAB's imresize(I, scale, 'bicubic') with antialiasing, written after MATLAB's
    imresize.m (contributions(): cubic kernel a = -0.5, kernel widened to 4/scale and
    scaled when shrinking, weights normalised per output pixel, 'symmetric' index
    mirroring through aux = [1:n, n:-1:1], all-zero columns removed; the passes in
    sort(scale) order). Each pass is a dense (out x in) matrix product in float64.
  * 8-bit quantisation as image_to_u8: clamp to [0, 1], round half up to k/255.
  * PSNR / SSIM on Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 (0..255 values, not
    rounded), or on full-range luma L = (65.481 R + 128.553 G + 24.966 B) / 219 when the
    HR file was gray; `shave` pixels off every border; SSIM of Wang et al. 2004
    (11 x 11 Gaussian, sigma 1.5, 'valid' 2-D convolution via scipy, mean of the map).

Usage (Debian's python3 with numpy, scipy and PIL; run from the repo root):
  /usr/bin/python3 tools/fixtures_resize.py            writes tests/fixtures/resize/
  /usr/bin/python3 tools/fixtures_resize.py --baselines [DIR]
      prints the bicubic baseline PSNR/SSIM of DIR/{Set5,Set14,BSD100}/HR at x2, x3, x4
      (DIR defaults to ../shared/data/benchmark)

Baselines this protocol gives (bicubic, Y PSNR dB / SSIM; published PSNR in brackets).
Both resizes follow MATLAB's uint8 path (each 1-D pass rounded to 8 bits), which is
how the published numbers were made; with float passes Set5 x2 would be 33.682, 0.022
over. Y is not rounded (docs/spec.md §2).
  x2  Set5 33.6736 / 0.9303 [33.66]  Set14 30.2302 / 0.8691 [30.24]  BSD100 29.5599 / 0.8434 [29.56]
  x3  Set5 30.4033 / 0.8689 [30.39]  Set14 27.5367 / 0.7745 [27.55]  BSD100 27.2079 / 0.7394 [27.21]
  x4  Set5 28.4290 / 0.8111 [28.42]  Set14 25.9940 / 0.7029 [26.00]  BSD100 25.9613 / 0.6681 [25.96]

Fixture format (tests/fixtures/resize/):
  Arrays are raw little-endian float32 files `<file>.f32`, row-major (h, w, c), no
  header; an input used by several cases is stored once. `manifest.txt` has one case
  per line, '#' starts a comment, fields separated by spaces (file names without .f32):
    resize  IN OUT H W C SCALE OH OW       IN (H,W,C) -> OUT (OH,OW,C)
    degrade HR LR H W C S LH LW            HR (H,W,C) -> LR (LH,LW,C)
    metrics SR HR H W C GRAY SHAVE PSNR SSIM
                                           SR and HR both (H,W,C); GRAY is the HR
                                           file's gray flag (0/1)
  SCALE, PSNR and SSIM are printed with 17 significant digits, so strtod() gives back
  the very doubles used here (SCALE = 1/3 is the double nearest to 1/3).
"""
import math
import os
import sys

import numpy as np

OUT_DIR = os.path.join("tests", "fixtures", "resize")


# ---- MATLAB imresize ----------------------------------------------------------------

def cubic(x):
    """Keys' cubic convolution kernel with a = -0.5, as MATLAB's cubic()."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def contributions(in_len, out_len, scale):
    """MATLAB's contributions(): (weights, 1-based indices), both (out_len, P')."""
    width = 4.0
    if scale < 1:  # antialiasing: a wider, lower kernel
        h = lambda x: scale * cubic(scale * x)
        width = width / scale
    else:
        h = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)[:, None]
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(math.ceil(width)) + 2
    idx = left + np.arange(p)[None, :]
    wts = h(u - idx)
    wts = wts / wts.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(1, in_len + 1), np.arange(in_len, 0, -1)])
    idx = aux[np.mod(idx.astype(np.int64) - 1, aux.size)]
    keep = np.any(wts != 0, axis=0)
    return wts[:, keep], idx[:, keep]


def resize_matrix(in_len, out_len, scale):
    """The pass as a dense (out_len, in_len) matrix (mirrored taps add up)."""
    wts, idx = contributions(in_len, out_len, scale)
    m = np.zeros((out_len, in_len))
    rows = np.repeat(np.arange(out_len), wts.shape[1])
    np.add.at(m, (rows, idx.ravel() - 1), wts.ravel())
    return m


def imresize(img, scale, u8=False):
    """img (h, w, c) float -> (ceil(h*scale), ceil(w*scale), c) float64. u8: as MATLAB
    on a uint8 image, each 1-D pass's result is rounded to 8 bits."""
    a = np.asarray(img, dtype=np.float64)
    scales = [scale, scale]
    order = np.argsort(scales, kind="stable")  # MATLAB: sort(scale), stable on ties
    for dim in order:
        n = a.shape[dim]
        m = resize_matrix(n, int(math.ceil(n * scales[dim])), scales[dim])
        a = np.moveaxis(np.tensordot(m, np.moveaxis(a, dim, 0), axes=(1, 0)), 0, dim)
        if u8:
            a = quantize(a)
    return a


# ---- degradation and metrics --------------------------------------------------------

def quantize(img):
    """image_to_u8 then back to [0, 1]: clamp, round half up, k/255."""
    return np.floor(np.clip(np.asarray(img, np.float64) * 255 + 0.5, 0, 255)) / 255


def degrade(hr, s):
    h, w = hr.shape[0] // s * s, hr.shape[1] // s * s
    hr = hr[:h, :w]
    return imresize(hr, 1.0 / s, u8=True), hr


def luma(img, gray):
    """Y (or full-range L when gray) on the 0..255 scale of an 8-bit image."""
    v = np.floor(np.clip(np.asarray(img, np.float64) * 255 + 0.5, 0, 255))
    r, g, b = v[..., 0], v[..., 1], v[..., 2]
    t = 65.481 * r + 128.553 * g + 24.966 * b
    return t / 219.0 if gray else 16.0 + t / 255.0


def gaussian_window():
    x = np.arange(11) - 5.0
    g = np.exp(-(x * x) / (2 * 1.5 * 1.5))
    w = np.outer(g, g)
    return w / w.sum()


def ssim(a, b):
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    from scipy.signal import convolve2d  # here: the other functions need numpy alone (tools/gpu/)
    win = gaussian_window()
    f = lambda x: convolve2d(x, win, mode="valid")
    mu1, mu2 = f(a), f(b)
    s11 = f(a * a) - mu1 * mu1
    s22 = f(b * b) - mu2 * mu2
    s12 = f(a * b) - mu1 * mu2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2))
    return float(m.mean())


def metrics(sr, hr, shave, gray):
    a, b = luma(sr, gray), luma(hr, gray)
    if shave:
        a, b = a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave]
    mse = float(np.mean((a - b) ** 2))
    psnr = math.inf if mse == 0 else 10 * math.log10(255.0 * 255.0 / mse)
    return psnr, ssim(a, b)


# ---- fixtures -----------------------------------------------------------------------

def save(name, arr):
    """Writes name.f32 (once: inputs shared by several cases are saved again unchanged)."""
    np.asarray(arr, dtype="<f4").tofile(os.path.join(OUT_DIR, f"{name}.f32"))
    return name


def away_from_ties(x):
    """Moves values off the 8-bit rounding boundaries (k + 0.5) / 255 by >= 1e-4/255,
    so that float32 rounding (with or without FMA) cannot flip a quantised value."""
    t = x * 255 + 0.5
    frac = t - np.floor(t)
    near = np.minimum(frac, 1 - frac) < 1e-4
    return np.where(near, x + 3e-4 / 255, x).astype(np.float32)


def crop_of_real_image():
    """A 48 x 40 crop of Set5's butterfly when the data is around, else smooth noise."""
    path = os.path.join("..", "shared", "data", "benchmark", "Set5", "HR", "butterfly.png")
    if os.path.exists(path):
        from PIL import Image
        a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64) / 255
        return a[100:148, 60:100].astype(np.float32)
    raise SystemExit(f"{path} not found: run from the repo root with ../shared present")


def resize_cases(rng, lines):
    scales = [1 / 2, 1 / 3, 1 / 4, 2, 3, 4, 0.7, 1.3]
    inputs = {"r13x9x3": rng.random((13, 9, 3)), "r1x7x3": rng.random((1, 7, 3)),
              "r2x2x3": rng.random((2, 2, 3)), "r6x1x4": rng.random((6, 1, 4)),
              "r17x23x3": rng.random((17, 23, 3)) * 1.4 - 0.2}  # unclamped range too
    real = crop_of_real_image()
    inputs["real48x40"] = real
    # The bigger inputs at fewer scales, to keep the fixtures small.
    some = {"r17x23x3": [1 / 2, 1 / 3, 1 / 4, 0.7, 1.3, 2],
            "real48x40": [1 / 2, 1 / 3, 1 / 4, 0.7, 1.3]}
    for sname, img in inputs.items():
        for s in some.get(sname, scales):
            add_resize(lines, sname, img.astype(np.float32), s)
    return real


def add_resize(lines, name, img, s):
    out = imresize(img.astype(np.float64), s)
    h, w, c = img.shape
    src = save(name, img)
    dst = save(f"{name}_s{s:.4g}", out)
    lines.append(f"resize {src} {dst} {h} {w} {c} {s!r} {out.shape[0]} {out.shape[1]}")


def degrade_cases(rng, real, lines):
    hr = real[:47, :37]  # not a multiple of 2, 3 or 4
    src = save("real47x37", hr)
    for s in (2, 3, 4):
        lr, _ = degrade(hr, s)
        dst = save(f"real47x37_lr_x{s}", lr)
        lines.append(f"degrade {src} {dst} 47 37 3 {s} {lr.shape[0]} {lr.shape[1]}")
    hr4 = np.concatenate([hr[:21, :19], rng.random((21, 19, 1))], axis=2).astype(np.float32)
    lr, _ = degrade(hr4, 2)
    src, dst = save("rgba21x19", hr4), save("rgba21x19_lr_x2", lr)
    lines.append(f"degrade {src} {dst} 21 19 4 2 {lr.shape[0]} {lr.shape[1]}")


def metrics_cases(rng, real, lines):
    # The bicubic baseline on a real crop: LR by degrade, SR = imresize(LR, s), 8-bit.
    for s in (2, 4):
        lr, hr = degrade(real, s)
        sr = imresize(lr, s, u8=True)
        add_metrics(lines, f"bicubic48x40_x{s}", "real48x40", sr, hr, s, 0)
    gray_hr = np.repeat(real[:, :, 1:2], 3, axis=2)
    lr, hr = degrade(gray_hr, 2)
    add_metrics(lines, "gray48x40_x2", "gray48x40", quantize(imresize(lr, 2)), hr, 2, 1)
    # Unquantised floats, some outside [0, 1]: metrics must round them itself.
    a = away_from_ties(rng.random((23, 29, 3)) * 1.2 - 0.1)
    b = away_from_ties(np.clip(a + rng.normal(0, 0.05, a.shape), -0.1, 1.1))
    add_metrics(lines, "float23x29_a", "float23x29_b", a, b, 3, 0)
    add_metrics(lines, "float23x29_a", "float23x29_b", a, b, 0, 1)


def add_metrics(lines, sr_name, hr_name, sr, hr, shave, gray):
    sr, hr = np.asarray(sr, np.float32), np.asarray(hr, np.float32)
    psnr, ss = metrics(sr, hr, shave, gray)
    h, w, c = hr.shape
    save(sr_name, sr)
    save(hr_name, hr)
    lines.append(f"metrics {sr_name} {hr_name} {h} {w} {c} {gray} {shave} {psnr!r} {ss!r}")


def write_fixtures():
    os.makedirs(OUT_DIR, exist_ok=True)
    for f in os.listdir(OUT_DIR):
        if f.endswith(".f32"):
            os.remove(os.path.join(OUT_DIR, f))
    rng = np.random.default_rng(20240601)
    lines = ["# written by tools/fixtures_resize.py; format in its docstring"]
    real = resize_cases(rng, lines)
    degrade_cases(rng, real, lines)
    metrics_cases(rng, real, lines)
    with open(os.path.join(OUT_DIR, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, f)) for f in os.listdir(OUT_DIR))
    print(f"{len(lines) - 1} cases, {total / 1024:.0f} KiB in {OUT_DIR}")


# ---- published bicubic baselines ----------------------------------------------------

def bicubic_baseline(path, s):
    from PIL import Image
    im = Image.open(path)
    gray = im.mode in ("L", "LA", "I;16", "I")
    hr = np.asarray(im.convert("RGB"), dtype=np.float64) / 255
    lr, hr = degrade(hr, s)
    sr = imresize(lr, s, u8=True)
    return metrics(sr, hr, s, gray)


def baselines(root):
    import glob
    for s in (2, 3, 4):
        for ds in ("Set5", "Set14", "BSD100"):
            files = sorted(glob.glob(os.path.join(root, ds, "HR", "*.png")))
            if not files:
                continue
            r = np.array([bicubic_baseline(f, s) for f in files])
            print(f"x{s} {ds:7s} {len(files):3d} images  PSNR {r[:, 0].mean():.4f}  "
                  f"SSIM {r[:, 1].mean():.4f}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--baselines":
        baselines(sys.argv[2] if len(sys.argv) > 2 else
                  os.path.join("..", "shared", "data", "benchmark"))
    else:
        write_fixtures()
