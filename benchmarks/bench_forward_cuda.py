"""The shipped networks' forward on the GPU: eager against CUDA-graph replay, float32 against bfloat16 autocast.

Issue 21's target is one forward of 1x3x592x576 in <= 10 ms on the GPU machine. At batch 1 the shipped
Akmamba-Net is bound by kernel launches, so this measures, side by side in one process and alternating run by
run (so every mode sees the same load):

* ``eager fp32``: ``net(x)``, what the Predictor did before CUDA graphs;
* ``graph fp32``: :class:`akmamba.infer.cuda_graph.GraphedForward` (the Predictor's default on CUDA,
  ``cuda_graphs=True``);
* ``eager bf16`` / ``graph bf16``: the same under ``torch.autocast("cuda", torch.bfloat16)``.

Each row also gives the largest absolute difference of its logits from ``eager fp32`` (the reference) and the
share of pixels whose argmax label differs. Then the whole ``Predictor.predict`` of a 584 x 565 image, graphs on
and off (normalise, forward, softmax, copy back). Times are CUDA-event medians (forward) or wall-clock medians
(predict) after warm-up.

    python benchmarks/bench_forward_cuda.py --repeats 50 --out docs/benchmarks/forward_cuda_graphs.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from report import publish  # noqa: E402

SHAPE = (1, 3, 592, 576)
MODES = ("eager fp32", "graph fp32", "eager bf16", "graph bf16")


def forward_rows(model_name: str, repeats: int) -> list[dict]:
    """Time the four modes of one shipped model's network; returns one dict per mode."""
    import torch

    from akmamba.infer import Predictor
    from akmamba.infer.cuda_graph import GraphedForward

    net = Predictor.from_checkpoint(model_name, device="cuda", cuda_graphs=False).model
    graphed = GraphedForward(net)
    x = torch.randn(*SHAPE, device="cuda", generator=torch.Generator("cuda").manual_seed(0))

    def call(mode: str) -> torch.Tensor:
        ctx = torch.autocast("cuda", torch.bfloat16) if mode.endswith("bf16") else contextlib.nullcontext()
        with ctx:
            return (graphed if mode.startswith("graph") else net)(x).float()

    times: dict[str, list[float]] = {m: [] for m in MODES}
    with torch.inference_mode():
        outs = {m: call(m) for m in MODES}  # warm-up and capture
        for _ in range(3):
            for m in MODES:
                call(m)
        torch.cuda.synchronize()
        for _ in range(repeats):
            for m in MODES:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                call(m)
                end.record()
                torch.cuda.synchronize()
                times[m].append(start.elapsed_time(end))
    ref = outs["eager fp32"]
    return [{"model": model_name, "mode": m, "ms": statistics.median(times[m]), "best": min(times[m]),
             "max_diff": float((outs[m] - ref).abs().max()),
             "label_diff": float((outs[m].argmax(1) != ref.argmax(1)).float().mean())} for m in MODES]


def predict_rows(model_name: str, repeats: int) -> list[dict]:
    """Wall time of ``Predictor.predict`` on a 584 x 565 RGB image, CUDA graphs on and off, alternating."""
    import numpy as np

    from akmamba.infer import Predictor

    image = (np.random.default_rng(0).random((584, 565, 3)) * 255).astype(np.uint8)
    predictors = {on: Predictor.from_checkpoint(model_name, device="cuda", cuda_graphs=on) for on in (True, False)}
    times: dict[bool, list[float]] = {True: [], False: []}
    for p in predictors.values():
        p.predict(image)
        p.predict(image)
    for _ in range(repeats):
        for on, p in predictors.items():
            t0 = time.perf_counter()
            p.predict(image)
            times[on].append((time.perf_counter() - t0) * 1000)
    return [{"model": model_name, "graphs": on, "ms": statistics.median(t), "best": min(t)} for on, t in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="akmamba-drive,unet-drive",
                        help="comma list of shipped model names (or checkpoint paths)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        sys.exit("bench_forward_cuda.py needs a CUDA GPU (torch.cuda.is_available() is False).")
    fwd, pred = [], []
    for name in args.models.split(","):
        try:
            fwd += forward_rows(name, args.repeats)
            pred += predict_rows(name, max(args.repeats // 5, 5))
        except (OSError, RuntimeError, ValueError) as exc:  # e.g. a model missing here: report it, go on
            print(f"{name}: skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
    lines = [
        "# Shipped networks on the GPU: eager vs CUDA graphs, float32 vs bfloat16 (one forward of 1x3x592x576)",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"torch {torch.__version__}; device: {torch.cuda.get_device_name()}; date {dt.datetime.now():%Y-%m-%d %H:%M}; "
        f"forward: CUDA-event median (fastest) of {args.repeats} runs per mode after warm-up, the modes alternating "
        "run by run; predict: wall-clock median (fastest), graphs on and off alternating.",
        "*max abs diff* / *labels differ*: the logits' largest difference from `eager fp32` and the share of pixels "
        "whose argmax differs. Target (issue 21): one forward <= 10 ms.",
        "",
        "| model | mode | forward (ms) | <= 10 ms | max abs diff | labels differ |",
        "|---|---|---|---|---|---|",
    ]
    for r in fwd:
        lines.append(f"| {r['model']} | {r['mode']} | {r['ms']:.2f} ({r['best']:.2f}) | "
                     f"{'yes' if r['ms'] <= 10 else 'no'} | {r['max_diff']:.2e} | {100 * r['label_diff']:.3f} % |")
    lines += ["", "| model | `Predictor.predict` 584 x 565 | wall (ms) |", "|---|---|---|"]
    for r in pred:
        state = "on" if r["graphs"] else "off"
        lines.append(f"| {r['model']} | CUDA graphs {state} | {r['ms']:.1f} ({r['best']:.1f}) |")
    publish("\n".join(lines) + "\n", args.out)


if __name__ == "__main__":
    main()
