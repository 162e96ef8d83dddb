"""PyTorch side of bench/run.sh: the same weights, input shapes and timing as
bench/bench_model.c, in PyTorch's default layout or channels_last.

  python3 tools/bench_torch.py infer MODEL H W REPS [--channels-last] [--cuda]
  python3 tools/bench_torch.py train MODEL BATCH PATCH REPS [--channels-last] [--cuda]

Prints one JSON line like bench_model. Threads: torch.set_num_threads(ATTSR_THREADS or 2).
--cuda: on the GPU, cudnn.benchmark on, TF32 convolutions (PyTorch's default), each run
timed to the end of its GPU work; peak_gpu_mib is torch's peak allocation.
"""
import json
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402
from model_ref import AttSR  # noqa: E402


def main():
    mode, path, a, b, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    cl = "--channels-last" in sys.argv
    dev = "cuda" if "--cuda" in sys.argv else "cpu"
    if dev == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.set_num_threads(int(os.environ.get("ATTSR_THREADS", "2")))
    tensors, meta = st.load(path)
    cfg = {k: (meta[k] if k == "attention" else float(meta[k]) if k == "leaky_slope" else int(meta[k]))
           for k in ("scale", "feats", "fe_groups", "groups", "blocks", "attention", "ca_reduction", "leaky_slope")}
    model = AttSR(**cfg)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
    N, H, W = (a, b, b) if mode == "train" else (1, a, b)
    s = cfg["scale"]
    g = torch.Generator().manual_seed(1)
    x = torch.rand(N, 3, H, W, generator=g)
    s_hr = torch.rand(N, 3, H * s, W * s, generator=g)
    t_hr = torch.rand(N, 3, H * s, W * s, generator=g) * 0.1
    fmt = torch.channels_last if cl else torch.contiguous_format
    model = model.to(device=dev, memory_format=fmt)
    x = x.to(dev).contiguous(memory_format=fmt)
    s_hr, t_hr = s_hr.to(dev), t_hr.to(dev)
    sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times, cpu = [], []
    for _ in range(reps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        if mode == "train":
            _, so, to = model(x)
            loss = (so - s_hr).abs().mean() + (to - t_hr).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)
        sync()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    t = sorted(times[1:])
    c = sorted(cpu[1:])
    med = t[len(t) // 2]
    out = {"impl": "pytorch" + ("-cl" if cl else "") + ("-cuda" if dev == "cuda" else ""), "mode": mode,
           "median_s": round(med, 4), "min_s": round(t[0], 4), "max_s": round(t[-1], 4),
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "cpu_s": round(c[len(c) // 2], 4)}
    if dev == "cuda":
        out["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
