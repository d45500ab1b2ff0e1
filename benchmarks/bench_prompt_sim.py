"""Simulated prompts for prompt training: seconds per batch of the images' CPU work, with MONAI's click signal one
image after the other (the plain reference) against the stamp click signal one after the other (``workers=0``)
and on a thread pool (``workers=N``), in one process, alternating run by run.

The batch is what `akmamba prompt-train` draws on the GPU machine (16 patches of 320 x 320; bladder labels, real
when ../shared is there, else discs); the "model" is one random 1 x 1 convolution over image and guidance, whose
errors are everywhere, so every round clicks every label and the network's own time is negligible (a tiny U-Net
on the CPU, used before, took 40-60 % of the time): the table times the CPU part (error regions, click sampling,
guidance encoding). Every row also gives the largest difference of its guidance from the reference's (0 for the
threads, float32 rounding for the stamp).

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
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def click_signal_of(kind: str) -> Iterator[None]:
    """Within the block, guidance encoding uses the ``"stamp"`` click signal (the default) or MONAI's transform
    (``"monai"``, the reference)."""
    from akmamba.prompt import encode

    fast = encode.click_signal
    encode.click_signal = fast if kind == "stamp" else encode.click_signal_reference
    try:
        yield
    finally:
        encode.click_signal = fast


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    from akmamba.prompt.layout import GuidanceLayout
    from akmamba.prompt.simulate import PosNegGuidance, simulate_guidance

    layout = GuidanceLayout.for_labels({1: "bladder_wall", 2: "tumor"})
    torch.manual_seed(0)
    model = torch.nn.Conv2d(1 + layout.num_channels, 3, 1)  # (B, 1 + G, H, W) -> (B, 3, H, W) logits: errors
    # everywhere at almost no cost (a 1 x 1 convolution), so the table times the CPU work alone
    x, y, where = batch(args.batch, args.size)
    options = {"p_no_prompt": 0.3, "max_iters": 3, "p_box": 0.2}  # prompt-train's defaults
    load_before = os.getloadavg()
    # rows: (click signal, workers); the first is the plain reference (MONAI's transform, one image after the other)
    rows = [("monai", 0)] + [("stamp", w) for w in args.workers]
    times: dict[tuple[str, int], list[float]] = {r: [] for r in rows}
    diff = {r: 0.0 for r in rows}
    for run in range(args.repeats + 1):
        results = {}
        for row in rows:
            sampler = PosNegGuidance(layout, seed=run)
            with click_signal_of(row[0]):
                t0 = time.perf_counter()
                results[row] = simulate_guidance(model, x, y, sampler, workers=row[1], **options)
                dt = time.perf_counter() - t0
            if run:  # the first run warms up (thread pools, MONAI's imports)
                times[row].append(dt)
        for row in rows:
            diff[row] = max(diff[row], float((results[row] - results[rows[0]]).abs().max()))
    base = statistics.median(times[rows[0]])
    lines = [
        "# Simulated prompts for prompt training: the images' CPU work, MONAI's click signal vs the stamp, one "
        "after the other vs threads",
        "",
        f"- command: `python {' '.join(sys.argv)}`",
        f"- torch {torch.__version__} ({torch.get_num_threads()} intra-op threads), Python "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores; date "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- batch: {where}; prompt-train's defaults (no prompt 0.3, 1-3 rounds, box 0.2); a 1 x 1 "
        "convolution stands in for the network, so the time is the CPU work (a tiny U-Net on the CPU took most of "
        "the time in an earlier version of this table); median of "
        f"{args.repeats} runs after one warm-up, the worker counts alternating run by run",
        "- load average (1, 5, 15 min) before: " + ", ".join(f"{v:.2f}" for v in load_before) + "; after: "
        + ", ".join(f"{v:.2f}" for v in os.getloadavg()),
        "",
        "- click signal: `monai` is MONAI DeepEdit's transform (`click_signal_reference`, the plain reference), "
        "`stamp` the sum of one point's Gaussian placed at each point (`click_signal`, the default)",
        "",
        "| click signal | workers | s per batch (median) | min | max | speed-up vs first row | "
        "max abs difference of the guidance from the first row |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        t = times[row]
        lines.append(f"| {row[0]} | {row[1]} | {statistics.median(t):.3f} | {min(t):.3f} | {max(t):.3f} | "
                     f"{base / statistics.median(t):.2f}x | {diff[row]:.1e} |")
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
