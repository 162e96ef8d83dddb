#!/usr/bin/env python3
"""Writes the image reader fixtures in tests/fixtures/image/ (used by tests/test_image.c).

Run from the repo root with Debian's python (it has numpy and PIL):
    /usr/bin/python3 tools/fixtures_image.py

Independent of the C code under test:
  * PNGs come from the small encoder below (struct + zlib; every colour type and bit
    depth, palette with tRNS, Adam7 interlacing, all five row filters), and each is
    cross-checked by decoding it with PIL.
  * NAME.ref.npy holds what the C reader must return: float32 (h, w, c), c = 3 or 4,
    gray copied to R, G, B, computed here from the integer samples (v / (2^depth - 1)).
  * JPEGs are written by PIL; their reference is PIL's own decode (/ 255).
  * The float .npy files are written by numpy, with values the C test recomputes.
"""
import io
import os
import struct
import zlib

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "image")
W, H = 7, 5
rng = np.random.default_rng(20240601)

# ---- a minimal PNG encoder --------------------------------------------------------

GRAY, RGB, PALETTE, GRAY_ALPHA, RGBA = 0, 2, 3, 4, 6
CHANNELS = {GRAY: 1, RGB: 3, PALETTE: 1, GRAY_ALPHA: 2, RGBA: 4}
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
         (0, 1, 1, 2)]


def chunk(kind, data):
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def pack_row(samples, depth):
    """One row of integer samples (flattened channels) to bytes, MSB first below 8 bits."""
    if depth == 16:
        return b"".join(struct.pack(">H", int(v)) for v in samples)
    if depth == 8:
        return bytes(int(v) for v in samples)
    bits = "".join(format(int(v), "0%db" % depth) for v in samples)
    bits += "0" * (-len(bits) % 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def filter_row(kind, row, prev, bpp):
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i] if prev else 0
        c = prev[i - bpp] if prev and i >= bpp else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out.append((x - pred) & 0xFF)
    return bytes([kind]) + bytes(out)


def scanlines(pix, depth, bpp):
    """pix: (h, w, ch) ints. Rows filtered with types 0..4 in turn."""
    data, prev = b"", None
    for y in range(pix.shape[0]):
        row = pack_row(pix[y].reshape(-1), depth)
        data += filter_row(y % 5, row, prev, bpp)
        prev = row
    return data


def encode_png(pix, depth, ctype, palette=None, trns=None, interlace=False):
    h, w, ch = pix.shape
    bpp = max(1, ch * depth // 8)
    if interlace:
        raw = b"".join(scanlines(pix[y0::dy, x0::dx], depth, bpp)
                       for x0, y0, dx, dy in ADAM7 if pix[y0::dy, x0::dx].size)
    else:
        raw = scanlines(pix, depth, bpp)
    out = b"\x89PNG\r\n\x1a\n"
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette.astype(np.uint8).reshape(-1)))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    comp = zlib.compress(raw, 9)
    half = len(comp) // 2  # two IDAT chunks: readers must join them
    out += chunk(b"IDAT", comp[:half]) + chunk(b"IDAT", comp[half:])
    return out + chunk(b"IEND", b"")


# ---- PNG cases: (name, depth, colour type, options) -------------------------------

def expected(pix, depth, ctype, palette=None, trns_alpha=None, trns_key=None):
    """What the reader must return, float32 (h, w, 3 or 4)."""
    pix = pix.astype(np.int64)
    if ctype == PALETTE:
        rgb = palette[pix[..., 0]].astype(np.float32) / np.float32(255)
        if trns_alpha is None:
            return rgb
        alpha = np.full(256, 255, np.int64)
        alpha[:len(trns_alpha)] = trns_alpha
        a = alpha[pix[..., 0]].astype(np.float32) / np.float32(255)
        return np.concatenate([rgb, a[..., None]], axis=2)
    f = pix.astype(np.float32) / np.float32(2 ** depth - 1)
    if ctype in (GRAY, GRAY_ALPHA):
        f = np.concatenate([f[..., :1]] * 3 + ([f[..., 1:]] if ctype == GRAY_ALPHA else []), axis=2)
    if trns_key is not None:  # the key colour becomes transparent, the rest opaque
        opaque = np.any(pix != np.array(trns_key), axis=2)
        f = np.concatenate([f, opaque[..., None].astype(np.float32)], axis=2)
    return f.astype(np.float32)


def pil_check(name, data, ref):
    """PIL decodes the PNG to the same values (at its own precision)."""
    im = Image.open(io.BytesIO(data))
    im.load()
    mode = "RGBA" if ref.shape[2] == 4 else "RGB"
    if im.mode in ("I;16", "I;16B", "I"):  # 16-bit gray: PIL keeps all 16 bits
        got = np.array(im).astype(np.float64) / 65535
        assert np.abs(got - ref[..., 0]).max() < 1e-6, name
        return
    if im.mode == "RGB" and isinstance(im.info.get("transparency"), tuple):
        # PIL keeps a 16-bit colour key aside instead of applying it: check it and RGB.
        keyed = np.rint(ref[ref[..., 3] == 0][:, :3].astype(np.float64) * 65535)
        assert len(keyed) and np.all(keyed == np.array(im.info["transparency"])), name
        mode, ref = "RGB", ref[..., :3]
    got = np.array(im.convert(mode)).astype(np.float64) / 255
    # PIL reduces 16-bit colour to 8 bits by truncation: allow one 8-bit step.
    assert np.abs(got - ref).max() <= (1 / 255 + 1e-6 if "16" in name else 1e-6), name


def png_cases():
    cases = []
    for depth in (1, 2, 4, 8, 16):
        cases.append(("gray%d" % depth, depth, GRAY, {}))
    for depth in (8, 16):
        cases += [("graya%d" % depth, depth, GRAY_ALPHA, {}), ("rgb%d" % depth, depth, RGB, {}),
                  ("rgba%d" % depth, depth, RGBA, {})]
    cases += [("pal8_trns", 8, PALETTE, {"trns": True}), ("pal2", 2, PALETTE, {}),
              ("gray8_trns", 8, GRAY, {"key": True}), ("rgb16_trns", 16, RGB, {"key": True}),
              ("rgb8_adam7", 8, RGB, {"interlace": True}),
              ("gray2_adam7", 2, GRAY, {"interlace": True}),
              ("rgba16_adam7", 16, RGBA, {"interlace": True})]
    return cases


def make_png(name, depth, ctype, opt):
    ch = CHANNELS[ctype]
    w, h = (W, H) if not opt.get("interlace") else (W + 3, H + 4)  # 10x9: passes uneven
    top = (1 << depth) if ctype != PALETTE else min(1 << depth, 12)
    pix = rng.integers(0, top, size=(h, w, ch))
    pix[0, 0] = 0  # the extremes always appear
    pix[0, 1] = top - 1
    palette = trns = trns_alpha = trns_key = None
    if ctype == PALETTE:
        palette = rng.integers(0, 256, size=(top, 3))
        if opt.get("trns"):
            trns_alpha = [0, 128, 255, 7, 64]  # shorter than the palette: the rest opaque
            trns = bytes(trns_alpha)
    if opt.get("key"):
        trns_key = [int(v) for v in pix[1, 1]]
        pix[2, 3] = pix[1, 1]
        trns = b"".join(struct.pack(">H", v) for v in trns_key)
    data = encode_png(pix, depth, ctype, palette, trns, opt.get("interlace", False))
    ref = expected(pix, depth, ctype, palette, trns_alpha, trns_key)
    pil_check(name, data, ref)
    return data, ref


# ---- JPEG and npy -----------------------------------------------------------------

def smooth_rgb(w, h):
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / (w - 1), y * 255 / (h - 1), (x + y) * 255 / (w + h - 2)], axis=2)
    return np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)


def make_jpegs():
    out = {}
    rgb = Image.fromarray(smooth_rgb(23, 17))
    for name, im, kw in [("rgb", rgb, {}), ("gray", rgb.convert("L"), {}),
                         ("rgb_progressive", rgb, {"progressive": True})]:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=90, **kw)
        data = buf.getvalue()
        dec = np.array(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.float32) / np.float32(255)
        out["jpeg_" + name] = (data, dec)
    buf = io.BytesIO()
    rgb.convert("CMYK").save(buf, "JPEG", quality=90)
    out["jpeg_cmyk"] = (buf.getvalue(), None)
    return out


def npy_values(shape):
    """(i - 50) * 0.25 in file order: negative, above 1, exact in float32."""
    n = int(np.prod(shape))
    return ((np.arange(n, dtype=np.float32) - 50) * np.float32(0.25)).reshape(shape)


def write_npy(path, arr, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, depth, ctype, opt in png_cases():
        data, ref = make_png(name, depth, ctype, opt)
        with open(os.path.join(OUT, "png_%s.png" % name), "wb") as f:
            f.write(data)
        np.save(os.path.join(OUT, "png_%s.ref.npy" % name), ref)
    for name, (data, ref) in make_jpegs().items():
        with open(os.path.join(OUT, name + ".jpg"), "wb") as f:
            f.write(data)
        if ref is not None:
            np.save(os.path.join(OUT, name + ".ref.npy"), ref)
    write_npy(os.path.join(OUT, "npy_v1_rgb.npy"), npy_values((H, W, 3)), (1, 0))
    write_npy(os.path.join(OUT, "npy_v2_rgba.npy"), npy_values((H, W, 4)), (2, 0))
    write_npy(os.path.join(OUT, "npy_v3_gray.npy"), npy_values((H, W)), (3, 0))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d files, %d bytes, to %s" % (len(os.listdir(OUT)), total, os.path.normpath(OUT)))
    assert total < 200_000


if __name__ == "__main__":
    main()
