#!/usr/bin/env python3
"""train_torch.py's ports run alone, to compare with attsr's commands (tests/cli_gpu_prep.sh).

  check_torch.py degrade S HR OUT.npy      the LR of HR (as `attsr degrade`), float32 (h, w, 3)
  check_torch.py decompose IN OUT.npy      the SATV structure (as `attsr decompose`)
  check_torch.py eval MODEL S DIR          mean Y-PSNR of MODEL on DIR (as `attsr eval`'s folder line)
  check_torch.py same A B                  exit 0 when two safetensors files hold equal tensors
  check_torch.py maxdiff A.npy B.npy       max |A - B| and the fraction of elements off by over 1e-6
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_torch as tt  # noqa: E402


def chw(img):
    return torch.from_numpy(img).permute(2, 0, 1).float() / 255.0


def main(argv):
    cmd, args = argv[0], argv[1:]
    if cmd == "degrade":
        s, img = int(args[0]), tt.read_rgb8(args[1])[0]
        h, w = img.shape[0] // s * s, img.shape[1] // s * s
        lr = tt.Degrader(torch.device("cpu"))(chw(img[:h, :w])[None], s)[0]
        np.save(args[2], lr.permute(1, 2, 0).numpy().astype(np.float32))
    elif cmd == "decompose":
        s = tt.satv(chw(tt.read_rgb8(args[0])[0]).contiguous())
        np.save(args[1], s.permute(1, 2, 0).numpy().astype(np.float32))
    elif cmd == "eval":
        tensors, meta = tt.st.load(args[0])
        s = int(args[1])
        if int(meta["scale"]) != s:
            sys.exit(f"check_torch: the model is x{meta['scale']}, not x{s}")
        m = tt.AttSR(s, int(meta["feats"]), int(meta["fe_groups"]), int(meta["groups"]), int(meta["blocks"]),
                     meta["attention"], int(meta["ca_reduction"]), float(meta["leaky_slope"]))
        m.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
        deg, total, files = tt.Degrader(torch.device("cpu")), 0.0, tt.list_images(args[2])
        with torch.no_grad():
            for f in files:
                img, gray = tt.read_rgb8(f)
                h, w = img.shape[0] // s * s, img.shape[1] // s * s
                hr = torch.from_numpy(img[:h, :w]).permute(2, 0, 1).contiguous()
                out, _, _ = m(deg((hr.float() / 255.0)[None], s))
                total += tt.psnr_y(out[0], hr, s, gray)
        print("%.4f" % (total / len(files)))
    elif cmd == "same":
        a, b = tt.st.load(args[0])[0], tt.st.load(args[1])[0]
        same = a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        sys.exit(0 if same else 1)
    elif cmd == "maxdiff":
        a, b = np.load(args[0]).astype(np.float64), np.load(args[1]).astype(np.float64)
        if a.shape != b.shape:
            sys.exit(f"check_torch: shapes {a.shape} and {b.shape} differ")
        d = np.abs(a - b)
        print("%.3g %.3g" % (d.max(), (d > 1e-6).mean()))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
