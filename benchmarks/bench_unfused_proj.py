"""Time SS2D's unfused path with its two projection forms side by side (ss2d.UNFUSED_PROJ_FORM).

``copies``: x_proj and dt_proj as einsums on the four direction copies of x (VMamba's way, the default);
``pixels``: one per-pixel F.linear on x, the dt projection by ss2d.project_dt, and only the results put in each
direction's order. The whole Mamba-out block (pre-LN + SS2D + residual), float32, forward (no_grad) and
forward+backward, at the shipped models' skip shapes (bench_mambaout.shapes). The two forms alternate rep by rep
on the same block and input, so machine noise hits both alike; each cell is the median.

    python benchmarks/bench_unfused_proj.py --device cpu --backend torch --out docs/benchmarks/unfused_proj_cpu.md
    python benchmarks/bench_unfused_proj.py --device cuda --backend mamba_ssm --out $OUT/unfused_proj_cuda.md
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mambaout import device_name, make_block, shapes, versions
from report import publish

from akmamba.nn.blocks import ss2d as ss2d_module

FORMS = ("copies", "pixels")


def _time_ms(fn: Callable[[], object], device: str) -> float:
    if device == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end)
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def time_forms(c: int, batch: int, h: int, w: int, device: str, backend: str, reps: int) -> dict[str, list[float]]:
    """Median (forward ms, forward+backward ms) of each form, alternating forms rep by rep after a warm-up."""
    block = make_block(c, device, backend, False)
    x = torch.randn(batch, c, h, w, device=device)
    xg = x.clone().requires_grad_()
    g = torch.randn_like(x)

    def fwd() -> None:
        with torch.no_grad():
            block(x)

    def both() -> None:
        block(xg).backward(g)

    times: dict[str, list[list[float]]] = {f: [[], []] for f in FORMS}
    saved = ss2d_module.UNFUSED_PROJ_FORM
    try:
        for rep in range(reps + 1):  # rep 0 warms up both forms
            for form in FORMS:
                ss2d_module.UNFUSED_PROJ_FORM = form
                for i, fn in enumerate((fwd, both)):
                    ms = _time_ms(fn, device)
                    if rep:
                        times[form][i].append(ms)
    finally:
        ss2d_module.UNFUSED_PROJ_FORM = saved
    return {f: [statistics.median(t) for t in pair] for f, pair in times.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--backend", default="torch", help="selective-scan backend of the unfused path")
    p.add_argument("--bases", default="16", help="comma-separated base widths")
    p.add_argument("--batches", default="1", help="comma-separated batch sizes")
    p.add_argument("--levels", default="1,2,3,4", help="comma-separated skip levels (1 = full resolution)")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", type=Path, default=None, help="also write the table here (markdown)")
    args = p.parse_args(argv)
    rows = shapes([int(v) for v in args.bases.split(",")], [int(v) for v in args.batches.split(",")],
                  [int(v) for v in args.levels.split(",")])
    lines = [
        "# SS2D's unfused path: projections on the four copies vs per pixel (ss2d.UNFUSED_PROJ_FORM)", "",
        f"- command: `python benchmarks/bench_unfused_proj.py {' '.join(sys.argv[1:] if argv is None else argv)}`",
        f"- {versions()}", f"- device: {device_name(args.device)}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M+00:00')}",
        f"- Mamba-out block, float32, scan backend `{args.backend}`; median of {args.reps} alternating reps after a "
        "warm-up; ms forward (no_grad) / forward+backward. Speed-up = copies time / pixels time.", "",
        "| base, level | batch, C, H x W | copies | pixels | speed-up |", "|---|---|---|---|---|",
    ]
    for row in rows:
        t = time_forms(row["C"], row["batch"], row["H"], row["W"], args.device, args.backend, args.reps)
        a, b = t["copies"], t["pixels"]
        lines.append(f"| {row['base']}, {row['level']} | {row['batch']}, {row['C']}, {row['H']}x{row['W']} | "
                     f"{a[0]:.2f} / {a[1]:.2f} | {b[0]:.2f} / {b[1]:.2f} | {a[0] / b[0]:.2f}x / {a[1] / b[1]:.2f}x |")
        print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join(lines) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
