#!/usr/bin/env python3
"""attsr's training recipe in PyTorch, for a GPU lease; reads and writes attsr's files.

The network is tools/model_ref.py (attsr's tensor names and table order); the recipe is
src/train/: L = w_S L_S + w_T L_T, L1 means, GradNorm off (w = 1); Adam as optim.c
(torch.optim.Adam's bias correction, t in the checkpoint); the learning rate of
train_lr_at (steps or cosine, then the linear warm-up); the moving average of
ema_update (avg = d avg + (1 - d) w after every step, starting as the weights); patches
as dataset.c: an image uniformly at random, a uniform (48 s)^2 HR crop, one of the 8
flips/transposes, LR = MATLAB bicubic 1/s of that patch rounded to 8 bits after each
pass (resize.c's u8 path), targets S = SATV of the whole HR image (docs/spec.md §5, computed
here once per image on the device) and T = HR - S. The random draws are torch's, not
attsr's generator: the same distribution, other samples.

Its flags are `attsr train`'s (a models/state/xS.args line can be passed as it is),
plus the GPU ones below. The run folder gets what attsr's does: checkpoint.safetensors
(params, adam.m, adam.v, ema, metadata as checkpoint.c writes them), model.safetensors
(the average, or the weights without --ema), best.safetensors, log.jsonl in train.c's
format; so `attsr train SAME FLAGS -o RUN --resume` continues it on a CPU. Every file
is written to a temporary name and renamed.

  python3 tools/gpu/train_torch.py $(cat models/state/x2.args) -o RUN --pack runs/gpu-pack \\
      --minutes 8 [--resume] [--bf16]

GPU flags: --pack DIR (-d and --val folders are looked up there first, by their last
component: T91, BSD200, Set5; the default --val is its Set5), --minutes M (stop
cleanly, saved, M minutes after the start), --save-every-s N (checkpoint period in
seconds, 60; --ckpt-every is accepted and ignored), --bf16 (autocast the forward to bfloat16; default fp32 with
TF32 convolutions), --no-tf32, --no-channels-last, --device, --max-images N (per
folder; tests), --stop-after N (stop as --minutes does, after N steps), --tag NAME
(prefix of the progress lines).
Exit status: 0 at --steps, 130 when stopped by --minutes or a signal (saved), 1 on error.
"""
import time

T_START = time.time()  # --minutes counts from here, torch's import included

import argparse  # noqa: E402
import contextlib  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, TOOLS)
import st  # noqa: E402
from fixtures_resize import resize_matrix  # noqa: E402
from model_ref import AttSR  # noqa: E402

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp")


def die(msg):
    print(f"train_torch: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- images -------------------------------------------------------------------------

def read_rgb8(path):
    """(h, w, 3) uint8 and whether the file is gray (docs/spec.md §2's luma exception). Pillow,
    else OpenCV (either may lack WebP)."""
    try:
        from PIL import Image
        with Image.open(path) as im:
            gray = im.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L")
            if im.mode.startswith("I"):  # 16-bit: image_to_u8 of v / 65535
                a = np.asarray(im, dtype=np.float64) / 65535.0
                a = np.clip(np.floor(a * 255 + 0.5), 0, 255).astype(np.uint8)
                return np.repeat(a[:, :, None], 3, axis=2), gray
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy(), gray
    except Exception as e:  # noqa: BLE001 (any reader failure: try the other one)
        err = e
    try:
        import cv2
        a = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except ImportError:
        a = None
    if a is None or a.dtype != np.uint8:
        die(f"{path}: cannot read ({err})")
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2), True
    return np.ascontiguousarray(a[:, :, 2::-1]), False  # BGR(A) -> RGB


def list_images(d):
    hr = os.path.join(d, "HR")  # image_hr_folder: a folder holding HR/
    if os.path.isdir(hr):
        d = hr
    names = sorted(n for n in os.listdir(d) if not n.startswith(".") and n.lower().endswith(IMAGE_EXT))
    return [os.path.join(d, n) for n in names]


def find_dir(path, pack):
    """PACK/basename(PATH) when it exists (the packed copy of ../shared's folder), else PATH."""
    name = os.path.basename(os.path.normpath(path))
    if pack and os.path.isdir(os.path.join(pack, name)):
        return os.path.join(pack, name)
    if os.path.isdir(path):
        return path
    die(f"{path}: no such folder" + (f" (nor {pack}/{name})" if pack else ""))


# ---- docs/spec.md §2: MATLAB bicubic, 8-bit rounding, Y-PSNR --------------------------------------

class Degrader:
    """degrade() of resize.c on (N, 3, H, W) batches: each pass a float64 matrix product
    (MATLAB's weights, symmetric borders folded in; tools/fixtures_resize.py), rounded
    to 8 bits as MATLAB's uint8 path. Matrices cached per (length, scale)."""

    def __init__(self, device):
        self.device, self.cache = device, {}

    def matrix(self, n, s):
        key = (n, s)
        if key not in self.cache:
            self.cache[key] = torch.from_numpy(resize_matrix(n, n // s, 1.0 / s)).to(self.device)
        return self.cache[key]

    def __call__(self, hr, s):
        """hr: (N, 3, H, W) float (values k/255 in float32), H and W multiples of s.
        Returns the LR (N, 3, H/s, W/s) float32 on the 8-bit grid."""
        x = hr.double()
        mh, mw = self.matrix(x.shape[2], s), self.matrix(x.shape[3], s)
        x = quantize(torch.einsum("oh,nchw->ncow", mh, x))  # height pass first, as MATLAB
        x = quantize(torch.einsum("pw,ncow->ncop", mw, x))
        return x.float()


def quantize(x):
    """round_u8: clamp, round half up, back to k/255 (double)."""
    return torch.clamp(torch.floor(x * 255.0 + 0.5), 0, 255) / 255.0


def to_u8(x):
    """image_to_u8 in float32: v*255 + 0.5, clamped, truncated."""
    return torch.clamp(x.float() * 255.0 + 0.5, 0, 255).floor()


def psnr_y(sr, hr_u8, s, gray):
    """docs/spec.md §2 (metrics.c): Y (full-range luma for gray files) of both 8-bit images,
    s pixels shaved, peak 255. sr (3, H, W) float, hr_u8 (3, H, W) uint8."""
    def luma(v):
        v = v.double()
        t = 65.481 * v[0] + 128.553 * v[1] + 24.966 * v[2]
        return (t / 219.0 if gray else 16.0 + t / 255.0)[s:-s, s:-s]
    mse = float(((luma(to_u8(sr)) - luma(hr_u8)) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(255.0 * 255.0 / mse)


# ---- docs/spec.md §5: SATV -------------------------------------------------------------------------

def satv(f, lam=2.5, gamma1=5.0, tol=1e-3, max_iters=50):
    """Structure of f (c, h, w) float32 by satv.c's form of the docs/spec.md §5 iteration (state z
    and m; u' = u + (a (f - u) + lap - div t) / (a + 8)), borders clamped. float32 as
    attsr; the stopping test's norms in float64."""
    def sh(x, axis, d):  # x[..., i + d, ...] with the index clamped
        n = x.shape[axis]
        if d > 0:
            return torch.cat([x.narrow(axis, 1, n - 1), x.narrow(axis, n - 1, 1)], axis)
        return torch.cat([x.narrow(axis, 0, 1), x.narrow(axis, 0, n - 1)], axis)
    a = float(np.float32(lam) / np.float32(gamma1))
    r = float(np.float32(1.0) / (np.float32(a) + np.float32(8.0)))
    thresh = float(np.float32(1.0) / np.float32(gamma1))
    u = f.clone()
    zx, zy = torch.zeros_like(f), torch.zeros_like(f)
    m = torch.zeros_like(f[:1])
    nf = float(torch.sqrt((f.double() ** 2).sum()))
    for it in range(1, max_iters + 1):
        q = 2.0 * m - 1.0
        tx, ty = q * zx, q * zy
        lap = ((sh(u, 1, -1) - u) + (sh(u, 1, 1) - u)) + ((sh(u, 2, -1) - u) + (sh(u, 2, 1) - u))
        div = (tx - sh(tx, 2, -1)) + (ty - sh(ty, 1, -1))
        un = u + (a * (f - u) + (lap - div)) * r
        du = float(torch.sqrt(((un.double() - u.double()) ** 2).sum()))
        delta = du / nf if nf > 0 else du
        if it < max_iters:  # shrink from u' (the old z and m)
            b = 1.0 - m
            x = (sh(un, 2, 1) - un) + b * zx
            y = (sh(un, 1, 1) - un) + b * zy
            s = torch.sqrt((x * x + y * y).sum(0, keepdim=True))
            m = torch.clamp(s - thresh, min=0) / torch.clamp(s, min=1e-12)
            zx, zy = x, y
        u = un
        if it >= 2 and delta <= tol:
            break
    return u


# ---- the recipe's pieces ------------------------------------------------------------------

def lr_at(a, step):
    """train_lr_at (train.c)."""
    lr = a.lr
    if a.lr_schedule == "cosine":
        lr = a.lr_min + (a.lr - a.lr_min) * 0.5 * (1 + math.cos(math.pi * min(step, a.steps) / a.steps))
    else:
        for ms in a.milestones:
            if step >= ms:
                lr *= a.lr_gamma
    if step < a.warmup:
        lr *= (step + 1) / a.warmup
    return lr


def adam_update(w, g, m, v, t, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Adam step t (from 1) in place: optim.c's, which is torch.optim.Adam's (bias
    corrections, eps outside the square root)."""
    m.mul_(b1).add_(g, alpha=1.0 - b1)
    v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
    bc1, bc2_sqrt = 1.0 - b1 ** t, math.sqrt(1.0 - b2 ** t)
    w.addcdiv_(m, v.sqrt().div_(bc2_sqrt).add_(eps), value=-lr / bc1)


class Flat:
    """The model's parameters as views of one flat float32 buffer in attsr's table order
    (registration order of model_ref's modules = model.c's), so that Adam, the moving
    average and the checkpoint's tensors are single flat tensors."""

    def __init__(self, model, device):
        self.names, self.shapes, self.offsets = [], [], []
        n = 0
        for name, p in model.named_parameters():
            self.names.append(name)
            self.shapes.append(tuple(p.shape))
            self.offsets.append(n)
            n += p.numel()
        self.n = n
        self.w = torch.empty(n, device=device)
        self.g = torch.zeros(n, device=device)
        self.params = list(model.parameters())
        self.bind(model, self.w, grads=True)

    def views(self, buf):
        return [buf[o:o + int(np.prod(s))].view(s) for o, s in zip(self.offsets, self.shapes)]

    def bind(self, model, buf, grads=False):
        """Makes model's parameters views of buf (copying their values in when grads:
        the training model's initial weights); .grad views of self.g when grads."""
        for p, v, gv in zip(model.parameters(), self.views(buf), self.views(self.g)):
            if grads:
                v.copy_(p.data)
                p.grad = gv
            p.data = v

    def grads_in_place(self):
        """Did backward accumulate into the flat gradient (autograd keeps a preset .grad)?"""
        return all(p.grad is not None and p.grad.data_ptr() == v.data_ptr()
                   for p, v in zip(self.params, self.views(self.g)))

    def tensors(self, buf):
        return {n: v.detach().cpu().numpy() for n, v in zip(self.names, self.views(buf))}


def fmt_meta_float(x):
    return "%.17g" % x


class Run:
    def __init__(self, a):
        self.a = a
        self.dev = torch.device(a.device)
        self.cuda = self.dev.type == "cuda"
        self.stop = None
        self.paths = {k: os.path.join(a.output, f) for k, f in
                      (("model", "model.safetensors"), ("best", "best.safetensors"),
                       ("ckpt", "checkpoint.safetensors"), ("log", "log.jsonl"))}
        self.degrade = Degrader(self.dev)

    def say(self, msg):
        tag = f"[{self.a.tag}] " if self.a.tag else ""
        print(f"{tag}{msg}", file=sys.stderr, flush=True)

    # -- model, optimiser state --

    def config_from(self, meta):
        a = self.a
        for k in ("scale", "feats", "fe_groups", "groups", "blocks", "ca_reduction"):
            setattr(a, k, int(meta[k]))
        a.attention, a.leaky_slope = meta["attention"], float(meta["leaky_slope"])

    def build(self):
        a = self.a
        return AttSR(a.scale, a.feats, a.fe_groups, a.groups, a.blocks, a.attention,
                     a.ca_reduction, a.leaky_slope).to(self.dev)

    def setup_model(self):
        a = self.a
        ck = None
        if a.resume and os.path.exists(self.paths["ckpt"]):
            ck, meta = st.load(self.paths["ckpt"])
            if meta.get("format") != "attsr-checkpoint" or meta.get("version") != "1":
                die(f"{self.paths['ckpt']}: not an attsr checkpoint of version 1")
            if int(meta["seed"]) != a.seed:
                die(f"{self.paths['ckpt']}: the checkpoint was made with --seed {meta['seed']}, not {a.seed}")
            if int(meta["gn_enabled"]):
                die(f"{self.paths['ckpt']}: a GradNorm run; this trainer has --gradnorm off only")
            self.config_from(meta)
        elif a.resume:
            self.say(f"no checkpoint in {a.output}, starting afresh")
        torch.manual_seed(a.seed)  # PyTorch's default init: attsr's distribution (model.c)
        self.model = self.build()
        self.flat = Flat(self.model, self.dev)
        n = self.flat.n
        if ck is not None:
            for k in ("params", "adam.m", "adam.v") + (("ema",) if "ema" in ck else ()):
                if ck[k].shape != (n,):
                    die(f"{self.paths['ckpt']}: tensor '{k}' has {ck[k].size} floats, the model {n}")
            self.flat.w.copy_(torch.from_numpy(ck["params"]))
            self.m = torch.from_numpy(ck["adam.m"]).to(self.dev)
            self.v = torch.from_numpy(ck["adam.v"]).to(self.dev)
            self.step, self.adam_t = int(meta["step"]), int(meta["adam_t"])
            self.adam_lr = float(meta["adam_lr"])
            self.best_psnr, self.best_step = float(meta["best_psnr"]), int(meta["best_step"])
            self.gn = {k: meta[k] for k in ("gn_alpha", "gn_lr", "gn_w", "gn_L0", "gn_has_L0")}
            self.ema = torch.from_numpy(ck["ema"]).to(self.dev) if "ema" in ck else None
            self.say(f"resuming {self.paths['ckpt']} at step {self.step}")
        else:
            if a.init:
                init, _ = st.load(a.init)
                copied = 0
                for name, v in zip(self.flat.names, self.flat.views(self.flat.w)):
                    t = init.get(name)
                    if t is not None and tuple(t.shape) == tuple(v.shape) and t.dtype == np.float32:
                        v.copy_(torch.from_numpy(t))
                        copied += 1
                self.say(f"{copied} of {len(self.flat.names)} tensors initialised from {a.init}")
                if not copied:
                    die(f"{a.init}: no tensor matches this model's names and shapes")
            self.m, self.v = torch.zeros(n, device=self.dev), torch.zeros(n, device=self.dev)
            self.step, self.adam_t, self.adam_lr = 0, 0, a.lr
            self.best_psnr, self.best_step = -1.0, -1
            self.gn = {"gn_alpha": fmt_meta_float(a.gn_alpha), "gn_lr": fmt_meta_float(a.gn_lr),
                       "gn_w": "1 1", "gn_L0": "0 0", "gn_has_L0": "0"}
            self.ema = None
        if a.ema and self.ema is None:  # starts as the weights (BasicSR's model_ema(0))
            if a.resume and self.step:
                self.say("the checkpoint has no weight average; it starts here")
            self.ema = self.flat.w.clone()
        elif not a.ema and self.ema is not None:
            self.say("the checkpoint's weight average is dropped (no --ema)")
            self.ema = None
        # validation and the model files use the average (a second model viewing it)
        self.deployed = self.build()
        self.flat.bind(self.deployed, self.ema if self.ema is not None else self.flat.w)
        for p in self.deployed.parameters():
            p.requires_grad_(False)

    # -- data --

    def load_images(self, dirs, limit):
        out = []
        for d in dirs:
            files = list_images(d)
            if limit:
                files = files[:limit]
            out += files
        return out

    def setup_data(self):
        a = self.a
        s, ps = a.scale, a.patch * a.scale
        t0 = time.time()
        hr_list, s_list, sizes, skipped = [], [], [], 0
        dirs = [find_dir(d, a.pack) for d in a.data]
        for path in self.load_images(dirs, a.max_images):
            img, _ = read_rgb8(path)
            h, w = img.shape[:2]
            if h < ps or w < ps:
                skipped += 1
                continue
            hr = torch.from_numpy(img).to(self.dev)
            f = (hr.float() / 255.0).permute(2, 0, 1).contiguous()  # the 8-bit image is the ground truth
            s_list.append(satv(f).permute(1, 2, 0).reshape(-1, 3))
            hr_list.append(hr.reshape(-1, 3))
            sizes.append((h, w))
        if not hr_list:
            die(f"no training image of at least {ps}x{ps} pixels in the given folders")
        self.hr = torch.cat(hr_list)  # (pixels, 3) uint8
        self.s = torch.cat(s_list)    # (pixels, 3) float32
        hw = torch.tensor(sizes, dtype=torch.int64)
        self.heights, self.widths = hw[:, 0].to(self.dev), hw[:, 1].to(self.dev)
        px = hw[:, 0] * hw[:, 1]
        self.offsets = (torch.cumsum(px, 0) - px).to(self.dev)  # each image's first pixel
        self.n_images = len(sizes)
        self.say(f"dataset: {self.n_images} images of {', '.join(dirs)} ({skipped} too small, skipped), "
                 f"SATV on {self.dev.type} in {time.time() - t0:.1f}s")
        yy, xx = torch.meshgrid(torch.arange(ps, device=self.dev), torch.arange(ps, device=self.dev), indexing="ij")
        self.yy, self.xx = yy[None], xx[None]
        self.gen = torch.Generator(device=self.dev)
        self.gen.manual_seed((a.seed * 1000003 + self.step) % (1 << 62))
        self.val = []
        if a.val:
            for path in list_images(find_dir(a.val, a.pack)):
                img, gray = read_rgb8(path)
                h, w = img.shape[0] // s * s, img.shape[1] // s * s
                hr = torch.from_numpy(img[:h, :w]).to(self.dev).permute(2, 0, 1).contiguous()
                lr = self.degrade((hr.float() / 255.0)[None], s)
                self.val.append((lr, hr, gray))
            if not self.val:
                die(f"{a.val}: no validation images")

    def batch(self):
        """build_sample for the whole batch: image, crop, flip/transpose (bit 0 x, bit 1 y,
        bit 2 transpose), then LR of the transformed HR patch."""
        a, B, ps = self.a, self.a.batch, self.a.patch * self.a.scale
        g, dev = self.gen, self.dev
        i = torch.randint(0, self.n_images, (B,), generator=g, device=dev)
        W, H = self.widths[i], self.heights[i]
        x0 = (torch.rand(B, generator=g, device=dev, dtype=torch.float64) * (W - ps + 1)).long().clamp_(max=W - ps)
        y0 = (torch.rand(B, generator=g, device=dev, dtype=torch.float64) * (H - ps + 1)).long().clamp_(max=H - ps)
        aug = torch.randint(0, 8, (B, 1, 1), generator=g, device=dev)
        tr = (aug & 4) != 0
        sx = torch.where(tr, self.yy, self.xx)
        sy = torch.where(tr, self.xx, self.yy)
        sx = torch.where((aug & 1) != 0, ps - 1 - sx, sx)
        sy = torch.where((aug & 2) != 0, ps - 1 - sy, sy)
        pix = self.offsets[i, None, None] + (y0[:, None, None] + sy) * W[:, None, None] + (x0[:, None, None] + sx)
        hr = (self.hr[pix].float() / 255.0).permute(0, 3, 1, 2)  # (B, 3, ps, ps), channels-last strides
        s_hr = self.s[pix].permute(0, 3, 1, 2)
        t_hr = hr - s_hr
        lr = self.degrade(hr, a.scale)
        fmt = torch.channels_last if a.channels_last else torch.contiguous_format
        return (lr.contiguous(memory_format=fmt), s_hr.contiguous(memory_format=fmt),
                t_hr.contiguous(memory_format=fmt))

    # -- files --

    def open_log(self):
        """train.c's open_log: a resumed run keeps the lines up to its checkpoint's step."""
        path = self.paths["log"]
        if self.step > 0 and os.path.exists(path):
            keep = []
            with open(path) as f:
                for line in f:
                    if not line.endswith("\n"):
                        break
                    if line.startswith('{"step":'):
                        try:
                            if int(line[8:].split(",")[0].split("}")[0]) > self.step:
                                break
                        except ValueError:
                            pass
                    keep.append(line)
            write_atomic(path, "".join(keep).encode())
        self.log = open(path, "a" if self.step > 0 else "w")

    def save(self):
        """Log, model file, then checkpoint (train.c's order: a kill in between resumes
        from the older checkpoint, consistent on its own)."""
        a = self.a
        self.log.flush()
        os.fsync(self.log.fileno())
        self.save_model(self.paths["model"])
        meta = {"format": "attsr-checkpoint", "version": "1", "scale": str(a.scale), "feats": str(a.feats),
                "fe_groups": str(a.fe_groups), "groups": str(a.groups), "blocks": str(a.blocks),
                "attention": a.attention, "ca_reduction": str(a.ca_reduction),
                "leaky_slope": "%.9g" % np.float32(a.leaky_slope), "step": str(self.step),
                "best_psnr": fmt_meta_float(self.best_psnr), "best_step": str(self.best_step),
                "seed": str(a.seed), "adam_t": str(self.adam_t), "adam_lr": fmt_meta_float(self.adam_lr),
                "gn_enabled": "0", **self.gn}
        t = {"params": self.flat.w.cpu().numpy(), "adam.m": self.m.cpu().numpy(), "adam.v": self.v.cpu().numpy()}
        if self.ema is not None:
            t["ema"] = self.ema.cpu().numpy()
        save_atomic(self.paths["ckpt"], t, meta)

    def save_model(self, path):
        a = self.a
        meta = {"format": "attsr", "scale": str(a.scale), "feats": str(a.feats), "fe_groups": str(a.fe_groups),
                "groups": str(a.groups), "blocks": str(a.blocks), "attention": a.attention,
                "ca_reduction": str(a.ca_reduction), "leaky_slope": "%g" % np.float32(a.leaky_slope)}
        save_atomic(path, self.flat.tensors(self.ema if self.ema is not None else self.flat.w), meta)

    # -- validation --

    def validate(self):
        """Mean Y-PSNR of the deployed weights over the validation images (fp32 convs)."""
        tf32 = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
        total = 0.0
        with torch.no_grad():
            for lr, hr, gray in self.val:
                out, _, _ = self.deployed(lr)
                total += psnr_y(out[0], hr, self.a.scale, gray)
        torch.backends.cudnn.allow_tf32 = tf32
        return total / len(self.val)

    def maybe_validate(self, force=False):
        a = self.a
        due = a.val_every and (self.step % a.val_every == 0 or self.step == a.steps)
        if not self.val or not (due or force) or self.step == self.last_val:
            return
        self.flush_losses()
        psnr = self.validate()
        self.last_val = self.step
        best = psnr > self.best_psnr
        if best:
            self.best_psnr, self.best_step = psnr, self.step
            self.save_model(self.paths["best"])
        self.log.write('{"step":%d,"val_psnr":%.4f,"best":%s}\n' % (self.step, psnr, "true" if best else "false"))
        self.log.flush()
        self.say(f"step {self.step}: validation PSNR {psnr:.3f} dB{' (best)' if best else ''}")

    # -- the loop --

    def flush_losses(self):
        """The pending steps' log lines (their losses stay on the device until here, so
        that the loop never waits for the GPU)."""
        if not self.pending:
            return
        vals = torch.stack([p[2] for p in self.pending]).cpu().tolist()
        for (step, lr, _), (loss, ls, lt) in zip(self.pending, vals):
            self.log.write('{"step":%d,"loss":%.7g,"loss_s":%.7g,"loss_t":%.7g,"w_s":1,"w_t":1,"lr":%.4g}\n'
                           % (step, loss, ls, lt, lr))
            if self.gn["gn_has_L0"] == "0":  # gradnorm_update keeps the first losses, even when off
                self.gn["gn_L0"], self.gn["gn_has_L0"] = "%.17g %.17g" % (ls, lt), "1"
        self.last_loss = vals[-1][0]
        self.pending = []

    def train_step(self):
        a = self.a
        lr_in, s_hr, t_hr = self.batch()
        self.flat.g.zero_()
        ctx = torch.autocast(device_type=self.dev.type, dtype=torch.bfloat16) if a.bf16 else contextlib.nullcontext()
        with ctx:
            _, s_sr, t_sr = self.model(lr_in)
        ls = (s_sr.float() - s_hr).abs().mean()
        lt = (t_sr.float() - t_hr).abs().mean()
        loss = ls + lt  # w_S = w_T = 1 (GradNorm off)
        loss.backward()
        if not self.grads_checked:
            self.grads_checked = True
            if not self.flat.grads_in_place():
                self.say("autograd did not keep the flat gradient views; gathering them each step")
                self.gather = True
        if self.gather:
            self.flat.g.copy_(torch.cat([p.grad.reshape(-1) for p in self.flat.params]))
            for p, gv in zip(self.flat.params, self.flat.views(self.flat.g)):
                p.grad = gv
        lr = lr_at(a, self.step)
        self.adam_t += 1
        self.adam_lr = lr
        adam_update(self.flat.w, self.flat.g, self.m, self.v, self.adam_t, lr)
        self.step += 1
        if self.ema is not None:  # ema_update, float32 factors
            d = float(np.float32(a.ema))
            self.ema.mul_(d).add_(self.flat.w, alpha=float(np.float32(1.0 - a.ema)))
        self.pending.append((self.step, lr, torch.stack([loss.detach(), ls.detach(), lt.detach()])))

    def run(self):
        a = self.a
        self.setup_model()
        self.setup_data()
        os.makedirs(a.output, exist_ok=True)
        self.open_log()
        self.pending, self.last_val, self.last_loss = [], -1, float("nan")
        self.grads_checked, self.gather = False, False
        deadline = T_START + a.minutes * 60 if a.minutes else math.inf
        reserve = 15.0  # seconds kept for the last validation and save; grows to what they took
        start, t0 = self.step, time.time()
        last_save = last_print = t0
        while self.step < a.steps and self.stop is None:
            self.train_step()
            if len(self.pending) >= 200:
                self.flush_losses()
            self.maybe_validate()
            now = time.time()
            if now + reserve >= deadline or (a.stop_after and self.step - start >= a.stop_after):
                self.stop = "time"
            if now - last_print >= a.progress_s:
                self.flush_losses()
                rate = (self.step - start) / max(1e-9, time.time() - t0)
                self.say(f"step {self.step}/{a.steps} loss {self.last_loss:.5f} lr {lr_at(a, self.step):.3g} "
                         f"{rate:.2f} step/s ETA {(a.steps - self.step) / max(rate, 1e-9):.0f}s")
                last_print = now
            if now - last_save >= a.save_every_s and self.stop is None:
                ts = time.time()
                self.flush_losses()
                self.save()
                reserve = max(reserve, 3 * (time.time() - ts) + 5)
                last_save = time.time()
        ts = time.time()
        self.flush_losses()
        self.maybe_validate(force=self.stop is not None)
        self.save()
        self.log.close()
        rate = (self.step - start) / max(1e-9, ts - t0)
        self.say(f"stopped at step {self.step} ({self.step - start} steps, {rate:.2f} step/s, "
                 f"final save {time.time() - ts:.1f}s)" + (f"; best validation PSNR {self.best_psnr:.3f} dB "
                                                          f"at step {self.best_step}" if self.best_step >= 0 else ""))
        return 130 if self.stop is not None else 0


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_atomic(path, tensors, meta):
    tmp = path + ".tmp"
    st.save(tmp, tensors, meta)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    add = p.add_argument
    add("-d", "--data", action="append", required=True)
    add("-o", "--output", required=True)
    add("--init")
    add("--scale", type=int, default=2)
    add("--feats", type=int, default=64)
    add("--fe-groups", type=int, default=1)
    add("--groups", type=int, default=3)
    add("--blocks", type=int, default=20)
    add("--attention", choices=("none", "ca", "sa1", "sa4", "ca+sa4", "ca-avgmax"), default="none")
    add("--ca-reduction", type=int, default=16)
    add("--leaky-slope", type=float, default=0.2)
    add("--patch", type=int, default=48)
    add("--batch", type=int, default=16)
    add("--steps", type=int, default=1000)
    add("--lr", type=float, default=1e-4)
    add("--milestones", default="")
    add("--lr-gamma", type=float, default=0.5)
    add("--lr-schedule", choices=("step", "cosine"), default="step")
    add("--lr-min", type=float, default=0.0)
    add("--warmup", type=int, default=0)
    add("--ema", type=float, default=0.0)
    add("--seed", type=int, default=0)
    add("--gradnorm", choices=("on", "off"), default="on")
    add("--gn-alpha", type=float, default=1.5)
    add("--gn-lr", type=float, default=0.01)
    add("--val")
    add("--val-every", type=int, default=500)
    add("--ckpt-every", type=int, default=100, help="accepted for attsr's flags; see --save-every-s")
    add("--log-every", type=int, default=10, help="accepted for attsr's flags; see --progress-s")
    add("--cache", help="accepted for attsr's flags (the decomposition is redone here)")
    add("--resume", action="store_true")
    add("--threads", type=int, default=0)
    add("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
        help="accepted for attsr's flags (the CPU's convolution arithmetic); see --bf16")
    # GPU flags
    add("--pack")
    add("--minutes", type=float, default=0.0)
    add("--save-every-s", type=float, default=60.0)
    add("--progress-s", type=float, default=30.0)
    add("--bf16", action="store_true")
    add("--no-tf32", action="store_true")
    add("--no-channels-last", action="store_true")
    add("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add("--max-images", type=int, default=0)
    add("--stop-after", type=int, default=0, help="stop as --minutes does after N steps (tests, smoke runs)")
    add("--tag", default="")
    a = p.parse_args(argv)
    if a.gradnorm == "on":
        die("--gradnorm on is not implemented here (the bundled recipe is --gradnorm off)")
    if a.lr_schedule == "cosine" and a.milestones:
        die("--milestones has no effect with --lr-schedule cosine")
    if a.lr_min > a.lr:
        die(f"--lr-min {a.lr_min:g} exceeds --lr {a.lr:g}")
    if not 0 <= a.ema < 1:
        die("--ema: the decay must be in [0, 1)")
    a.milestones = [int(x) for x in a.milestones.split(",") if x]
    if a.val is None:  # attsr's default, or its packed copy
        for d in ((os.path.join(a.pack, "Set5"),) if a.pack else ()) + ("../shared/data/benchmark/Set5",):
            if os.path.isdir(d):
                a.val = d
                break
    elif a.val == "":
        a.val = None
    a.channels_last = not a.no_channels_last
    return a


def main(argv):
    a = parse(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = not a.no_tf32
    torch.backends.cudnn.allow_tf32 = not a.no_tf32
    r = Run(a)

    def on_signal(sig, frame):
        r.stop = "signal"
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return r.run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
