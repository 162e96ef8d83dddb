"""Writes an attsr model (safetensors) as an ncnn network: OUT.param (text) and OUT.bin.

    /usr/bin/python3 bench/ncnn/convert.py MODEL.safetensors OUT

The graph is docs/spec.md §3 as tools/model_ref.py writes it (the same weights, by
name), in ncnn's layers: Convolution (3x3, pad 1, bias; a residual block's first conv
with its LeakyReLU fused, activation_type 2, as attsr fuses it), BinaryOp add for the
skips, PixelShuffle (mode 0: PyTorch's channel order), and for CA: Pooling (global
average) -> InnerProduct + LeakyReLU -> InnerProduct + Sigmoid -> BinaryOp mul, a 1-D
(C) gate broadcast over the (C, H, W) map. The output blob "sr" is S + T (the SR
image); the input blob is "in", (3, H, W). SA1 and SA4 are not converted.

ncnn's formats (its docs, param-and-model-file-structure): a blob consumed by more
than one layer goes through a Split layer; a Convolution's or InnerProduct's weights
are a 4-byte zero tag then float32 [out][in][kh][kw], the bias raw float32 after it.
"""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
import st  # noqa: E402


class Graph:
    def __init__(self):
        self.layers = []  # [type, name, inputs, outputs, params]
        self.blobs = []   # the weights, in layer order
        self.n = 0

    def blob(self):
        self.n += 1
        return "b%d" % self.n

    def add(self, typ, inputs, params="", weights=()):
        out = self.blob()
        self.layers.append([typ, "%s_%d" % (typ.lower(), len(self.layers)), list(inputs), [out], params])
        self.blobs.extend(weights)
        return out

    def write(self, path):
        # every blob read by k > 1 layers gets a Split into k copies, right after its producer
        readers = {}
        for li, l in enumerate(self.layers):
            for ii, b in enumerate(l[2]):
                readers.setdefault(b, []).append((li, ii))
        out = []
        for l in self.layers:
            out.append(l)
            b = l[3][0]
            r = readers.get(b, [])
            if len(r) > 1:
                copies = ["%s_%d" % (b, k) for k in range(len(r))]
                for (li, ii), c in zip(r, copies):
                    self.layers[li][2][ii] = c
                out.append(["Split", "split_" + b, [b], copies, ""])
        nblobs = sum(len(l[3]) for l in out)
        with open(path + ".param", "w") as f:
            f.write("7767517\n%d %d\n" % (len(out), nblobs))
            for typ, name, ins, outs, params in out:
                f.write("%-16s %-16s %d %d %s %s\n" % (typ, name, len(ins), len(outs), " ".join(ins + outs), params))
        with open(path + ".bin", "wb") as f:
            for tag, a in self.blobs:
                if tag:
                    f.write(struct.pack("<I", 0))  # float32, unquantised
                f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())


def convert(tensors, cfg):
    g = Graph()
    slope = float(cfg["leaky_slope"])
    act_lrelu = "9=2 -23310=1,%e" % slope

    def conv(x, name, lrelu=False):
        w, b = tensors[name + ".weight"], tensors[name + ".bias"]
        co, ci, kh, kw = w.shape
        assert kh == kw == 3, name
        p = "0=%d 1=3 3=1 4=1 5=1 6=%d" % (co, w.size) + (" " + act_lrelu if lrelu else "")
        return g.add("Convolution", [x], p, [(1, w), (0, b)])

    def add(a, b):
        return g.add("BinaryOp", [a, b], "0=0")

    def ca(x, name):
        w1, b1 = tensors[name + ".fc1.weight"], tensors[name + ".fc1.bias"]
        w2, b2 = tensors[name + ".fc2.weight"], tensors[name + ".fc2.bias"]
        p = g.add("Pooling", [x], "0=1 4=1")
        h = g.add("InnerProduct", [p], "0=%d 1=1 2=%d %s" % (w1.shape[0], w1.size, act_lrelu), [(1, w1), (0, b1)])
        s = g.add("InnerProduct", [h], "0=%d 1=1 2=%d 9=4" % (w2.shape[0], w2.size), [(1, w2), (0, b2)])
        return g.add("BinaryOp", [x, s], "0=2")

    def group(x, name):
        y = x
        for b in range(int(cfg["blocks"])):
            bn = "%s.blocks.%d" % (name, b)
            r = conv(conv(y, bn + ".conv1", lrelu=True), bn + ".conv2")
            if cfg["attention"] == "ca":
                r = ca(r, bn + ".att")
            y = add(y, r)
        return add(conv(y, name + ".tail"), x)

    def branch(f, name):
        y = f
        for k in range(int(cfg["groups"])):
            y = group(y, "%s.groups.%d" % (name, k))
        y = add(conv(y, name + ".tail"), f)
        s = int(cfg["scale"])
        for k, sk in enumerate([2, 2] if s == 4 else [s]):
            y = g.add("PixelShuffle", [conv(y, "%s.up.%d" % (name, k))], "0=%d 1=0" % sk)
        return conv(y, name + ".out")

    if cfg["attention"] not in ("none", "ca"):
        raise SystemExit("convert.py: attention %s is not converted (none and ca are)" % cfg["attention"])
    g.layers.append(["Input", "input", [], ["in"], ""])
    x0 = conv("in", "fe.head")
    y = x0
    for k in range(int(cfg["fe_groups"])):
        y = group(y, "fe.groups.%d" % k)
    f = add(conv(y, "fe.tail"), x0)
    sr = add(branch(f, "structure"), branch(f, "texture"))
    g.layers[-1][3] = ["sr"]
    used = 2 * sum(1 for t, _ in g.blobs if t)  # each weight comes with its bias
    if used != len(tensors):
        raise SystemExit("convert.py: %d of the model's %d tensors used" % (used, len(tensors)))
    return g


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: convert.py MODEL.safetensors OUT  (writes OUT.param, OUT.bin)")
    tensors, meta = st.load(sys.argv[1])
    if meta.get("format") != "attsr":
        raise SystemExit("convert.py: %s is not an attsr model" % sys.argv[1])
    convert({k: v.astype(np.float32) for k, v in tensors.items()}, meta).write(sys.argv[2])


if __name__ == "__main__":
    main()
