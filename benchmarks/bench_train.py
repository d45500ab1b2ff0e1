"""Training throughput (images/s) of each model at 584x565 and 512x512, and the projected wall time of the paper's
1000-epoch DRIVE recipe (16 training images per fold with 5-fold CV, batch 8).

Usage:
    python benchmarks/bench_train.py --device cuda [--models akmamba,unet] [--steps 20] [--out FILE.md]
    python benchmarks/bench_train.py --device cpu  [--steps 2] [--batch 2]

Each step is a full optimiser step (forward, Dice+CE loss, backward, Adam) on random in-memory batches, with
bfloat16 autocast on CUDA as the trainer uses; the data pipeline is excluded (it is cached in memory by the
trainer). Throughput is the median over timed steps after warm-up.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from monai.losses import DiceCELoss
from report import publish

from akmamba.nn import build_model

DRIVE_IMAGES_PER_EPOCH = 16
EPOCHS = 1000


def step_times(name: str, opts: dict, device: str, batch: int, size: tuple[int, int], steps: int,
               channels: int) -> list[float]:
    """Seconds per optimiser step after two warm-up steps."""
    torch.manual_seed(0)
    model = build_model(name, channels, 2, **opts).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, weight_decay=1e-4)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False)
    x = torch.randn(batch, channels, *size, device=device)
    y = (torch.rand(batch, 1, *size, device=device) > 0.88).long()
    amp = device == "cuda"
    times = []
    for i in range(steps + 2):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device, dtype=torch.bfloat16, enabled=amp):
            logits = model(x)
        loss_fn(logits.float(), y).backward()
        opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--models", default="akmamba,unet")
    parser.add_argument("--options", default="{}", help="JSON model options applied to every model that takes them")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    import json

    extra = json.loads(args.options)
    rows = []
    for name in args.models.split(","):
        from akmamba.nn import model_options

        opts = {k: v for k, v in extra.items() if k in model_options(name)}
        for size in ((584, 565), (512, 512)):
            try:
                t = statistics.median(step_times(name, opts, args.device, args.batch, size, args.steps, args.channels))
            except torch.OutOfMemoryError:
                print(f"{name} {size}: out of memory", file=sys.stderr)
                continue
            ips = args.batch / t
            proj = DRIVE_IMAGES_PER_EPOCH * EPOCHS / ips if size == (584, 565) else None
            peak = torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else float("nan")
            if args.device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            rows.append((name, size, t, ips, proj, peak))
            print(f"{name} {size}: {t * 1000:.1f} ms/step, {ips:.1f} img/s", flush=True)
    dev = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    lines = [
        f"# Training throughput ({args.device})", "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"torch {torch.__version__}; {dev}; date {dt.date.today()}; batch {args.batch}; median of {args.steps} "
        "steps after 2 warm-up steps; bf16 autocast on CUDA; options " + json.dumps(extra), "",
        "| model | input | ms / step | images / s | projected 1000-epoch DRIVE fold (16 images/epoch) | peak GiB |",
        "|---|---|---|---|---|---|",
    ]
    for name, size, t, ips, proj, peak in rows:
        p = f"{proj / 60:.1f} min" if proj else "-"
        lines.append(f"| {name} | {size[0]}x{size[1]} | {t * 1000:.1f} | {ips:.1f} | {p} | {peak:.1f} |")
    text = "\n".join(lines) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
