"""Minimal safetensors read/write with numpy (Debian has no python3-safetensors).

The format: 8-byte little-endian header length, a JSON header mapping each tensor name
to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data
block), an optional "__metadata__" of strings, then the raw little-endian data.
Used by the fixture scripts in tools/; the C reader is src/model/safetensors.c.
"""
import json
import struct

import numpy as np

_DTYPES = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int64"): "I64",
           np.dtype("int32"): "I32", np.dtype("uint8"): "U8", np.dtype("float64"): "F64"}


def save(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (or torch tensor). Written in sorted order."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        if hasattr(t, "detach"):
            t = t.detach().cpu().numpy()
        a = np.ascontiguousarray(t)
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)  # align the data block to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path):
    """Returns (dict name -> numpy array, metadata dict)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    inv = {v: k for k, v in _DTYPES.items()}
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=inv[info["dtype"]]).reshape(info["shape"]).copy()
    return out, meta
