"""Simulated prompts for prompt training: seconds per batch, the images' CPU work one after the other (the
reference, ``workers=0``) against a thread pool (``workers=N``), in one process, alternating run by run.

The batch is what `akmamba prompt-train` draws on the GPU machine (16 patches of 320 x 320; bladder labels, real
when ../shared is there, else discs); the model is a tiny prompt-aware U-Net (base 4, depth 2) whose errors are
everywhere, so every round clicks every label and the network's own time is negligible: the table times the CPU
part (error regions, click sampling, guidance encoding). Every row also checks that the threaded guidance equals
the reference's.

    python benchmarks/bench_prompt_sim.py --out docs/benchmarks/prompt_sim_cpu.md
    python benchmarks/bench_prompt_sim.py --workers 0 4 8 16 --out $OUT/prompt_sim_gpu_machine.md   # 16 cores
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from report import publish

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT.parent / "shared" / "data" / "BladderMRI" / "Labels"


def batch(n: int, size: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(B, 1, size, size)`` images, ``(B, size, size)`` class indices (0, 1 wall, 2 tumour) and where from."""
    from akmamba.io import read_image

    files = sorted(LABELS.glob("19-*.png"))[:n] if LABELS.is_dir() else []
    if len(files) == n:
        raw = [np.asarray(read_image(f).array) for f in files]
        h0, w0 = (raw[0].shape[0] - size) // 2, (raw[0].shape[1] - size) // 2
        y = np.stack([np.select([r == 128, r == 255], [1, 2], 0)[h0:h0 + size, w0:w0 + size] for r in raw])
        where = f"{n} label slices of case 19 ({LABELS}), central {size} x {size}"
    else:
        yy, xx = np.mgrid[:size, :size]
        y = np.stack([np.where((yy - size / 2) ** 2 + (xx - size / 2 - k) ** 2 < (size / 4) ** 2, 1, 0)
                      for k in range(n)])
        y[:, size // 2 - 10:size // 2 + 10, size // 2 - 10:size // 2 + 10] = 2
        where = f"{n} synthetic discs ({LABELS} absent)"
    yt = torch.from_numpy(y.astype(np.int64))
    return torch.randn(n, 1, size, size), yt, where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from akmamba.nn import build_model
    from akmamba.prompt.layout import GuidanceLayout
    from akmamba.prompt.simulate import PosNegGuidance, simulate_guidance

    layout = GuidanceLayout.for_labels({1: "bladder_wall", 2: "tumor"})
    torch.manual_seed(0)
    model = build_model("unet", 1, 3, base_channels=4, depth=2, guidance=layout.to_dict())
    x, y, where = batch(args.batch, args.size)
    options = {"p_no_prompt": 0.3, "max_iters": 3, "p_box": 0.2}  # prompt-train's defaults
    load_before = os.getloadavg()
    times: dict[int, list[float]] = {w: [] for w in args.workers}
    same = {w: True for w in args.workers}
    for run in range(args.repeats + 1):
        results = {}
        for w in args.workers:
            sampler = PosNegGuidance(layout, seed=run)
            t0 = time.perf_counter()
            results[w] = simulate_guidance(model, x, y, sampler, workers=w, **options)
            if run:  # the first run warms up (thread pools, MONAI's imports)
                times[w].append(time.perf_counter() - t0)
        for w in args.workers:
            same[w] = same[w] and torch.equal(results[w], results[args.workers[0]])
    base = statistics.median(times[args.workers[0]])
    lines = [
        "# Simulated prompts for prompt training: the images' CPU work, one after the other vs threads",
        "",
        f"- command: `python {' '.join(sys.argv)}`",
        f"- torch {torch.__version__} ({torch.get_num_threads()} intra-op threads), Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores; date "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- batch: {where}; prompt-train's defaults (no prompt 0.3, 1-3 rounds, box 0.2); a tiny U-Net, so the "
        "time is the CPU work; median of "
        f"{args.repeats} runs after one warm-up, the worker counts alternating run by run",
        "- load average (1, 5, 15 min) before: " + ", ".join(f"{v:.2f}" for v in load_before) + "; after: "
        + ", ".join(f"{v:.2f}" for v in os.getloadavg()),
        "",
        "| workers | s per batch (median) | min | max | speed-up vs first row | guidance equal to first row |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for w in args.workers:
        t = times[w]
        lines.append(f"| {w} | {statistics.median(t):.3f} | {min(t):.3f} | {max(t):.3f} | "
                     f"{base / statistics.median(t):.2f}x | {'yes' if same[w] else 'NO'} |")
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
