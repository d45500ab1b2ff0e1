"""Where the Mamba-out block's GPU time goes, fused Triton path vs mamba_ssm path (issue 7's next step).

    python3 benchmarks/profile_mambaout_cuda.py --out $OUT/profile_cuda.md        # on the GPU machine
    python3 benchmarks/profile_mambaout_cuda.py --dry-run                         # CPU: checks the script only

The block-level benchmark (bench_mambaout.py) found the fused path behind mamba_ssm at batch 1 on the middle and
deepest skip levels, where the whole block takes 1.5-2 ms. This script says why, per path and shape, for the
forward (no_grad) and the forward+backward:

- wall ms per iteration (CUDA events, median of the profiled iterations' mean);
- kernel ms per iteration (sum of the CUDA kernels' self device time in torch.profiler) and the GPU busy share
  (kernel / wall): a low share means launch and host overhead, not kernel speed, decides the time (then CUDA
  graphs or fewer launches help, not a faster scan);
- kernel launches per iteration (the CPU-side ``*LaunchKernel*`` runtime calls, Triton's included);
- the 8 kernels with the most device time.

Shapes: the block rows of bench_mambaout.py (``--rows base:level:batch``, default the losing rows 16:2:1,
16:3:1 and a winning one, 16:1:8).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from report import publish

REPS = 10


def _is_kernel(e: Any) -> bool:
    """A device-side event (a CUDA kernel or memcpy/memset). CPU-side operators (``aten::bmm``, an autograd
    Function) also carry the device time of the kernels they launched, so summing them too would count every kernel
    twice (the first run of this script did: its "kernel ms" exceeded the wall time)."""
    from torch.autograd import DeviceType

    return getattr(e, "device_type", None) == DeviceType.CUDA


def _device_time(e: Any) -> float:
    """Self device (CUDA) time of a profiler average in microseconds (attribute renamed across torch versions)."""
    for name in ("self_device_time_total", "self_cuda_time_total"):
        if hasattr(e, name):
            return float(getattr(e, name))
    return 0.0


def profile_path(block: torch.nn.Module, x: torch.Tensor, backward: bool, cuda: bool) -> dict[str, Any]:
    """Profile ``REPS`` iterations of one block (forward, or forward+backward) after three warm-ups."""
    from torch.profiler import ProfilerActivity, profile

    g = torch.randn_like(x)

    def step() -> None:
        if backward:
            xi = x.detach().requires_grad_()
            block(xi).backward(g)
        else:
            with torch.no_grad():
                block(x)

    for _ in range(3):
        step()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    sync()
    walls = []
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(REPS):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                step()
                end.record()
                sync()
                walls.append(start.elapsed_time(end))
            else:
                import time

                t = time.perf_counter()
                step()
                walls.append((time.perf_counter() - t) * 1e3)
    events = prof.key_averages()
    launches = sum(e.count for e in events if "LaunchKernel" in e.key)
    kernels = [e for e in events if _is_kernel(e) and _device_time(e) > 0]
    kernel_us = sum(_device_time(e) for e in kernels)
    top = sorted(kernels, key=_device_time, reverse=True)[:8]
    return {"wall_ms": statistics.median(walls), "kernel_ms": kernel_us / 1e3 / REPS, "launches": launches / REPS,
            "top": [(e.key, _device_time(e) / 1e3 / REPS, e.count / REPS) for e in top]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="16:2:1,16:3:1,16:1:8", help="base:level:batch, comma-separated")
    p.add_argument("--out", type=Path, default=None, help="also write the tables here (markdown)")
    p.add_argument("--dry-run", action="store_true", help="CPU, torch backend for every path: checks the script")
    args = p.parse_args(argv)
    import bench_mambaout as bm

    from akmamba.nn.blocks import ss2d

    cuda = not bm.DRY_RUN
    try:
        wanted = [tuple(int(v) for v in r.split(":")) for r in args.rows.split(",")]
    except ValueError:
        p.error(f"--rows: expected base:level:batch integers, comma-separated, got {args.rows!r}")
    if any(len(w) != 3 or not 1 <= w[1] <= 4 for w in wanted):
        p.error(f"--rows: expected base:level:batch with level 1-4 (the skip levels), got {args.rows!r}")
    rows = [r for r in bm.shapes(sorted({b for b, _, _ in wanted}), sorted({n for _, _, n in wanted}),
                                 sorted({lv for _, lv, _ in wanted})) if (r["base"], r["level"], r["batch"]) in wanted]
    # name -> (scan backend, fused, the fused path's dt projection form: ss2d.DT_PROJ_FORM)
    fused = bm.CUDA_PATHS["fused triton"]
    paths = {"mamba_ssm": (*bm.CUDA_PATHS["mamba_ssm"], "auto"), "fused triton": (*fused, "auto"),
             "fused triton, dt einsum": (*fused, "einsum")}
    if bm.DRY_RUN:
        paths = {name: ("torch", False, form) for name, (_, _, form) in paths.items()}
    device = "cuda" if cuda else "cpu"
    lines = ["# Mamba-out block on " + (torch.cuda.get_device_name() if cuda else "CPU (dry run: not a result)"), "",
             f"torch.profiler over {REPS} iterations after 3 warm-ups; float32; per iteration.", "",
             "| shape (batch, C, H x W) | pass | path | wall ms | kernel ms | GPU busy | launches |",
             "|---|---|---|---|---|---|---|"]
    tops: list[str] = []
    for row in rows:
        label = f"{row['batch']}, {row['C']}, {row['H']}x{row['W']} (base {row['base']} level {row['level']})"
        x = torch.randn(row["batch"], row["C"], row["H"], row["W"], device=device)
        for backward in (False, True):
            for name, (backend, fused, form) in paths.items():
                try:
                    block = bm.make_block(row["C"], device, backend, fused)
                    ss2d.DT_PROJ_FORM = form
                    r = profile_path(block, x, backward, cuda)
                except Exception as exc:  # noqa: BLE001 (report the failure in the table, keep the other cells)
                    lines.append(f"| {label} | {'fwd+bwd' if backward else 'fwd'} | {name} | failed: "
                                 f"{type(exc).__name__} | | | |")
                    continue
                finally:
                    ss2d.DT_PROJ_FORM = "auto"
                busy = r["kernel_ms"] / r["wall_ms"] if r["wall_ms"] else 0.0
                lines.append(f"| {label} | {'fwd+bwd' if backward else 'fwd'} | {name} | {r['wall_ms']:.3f} | "
                             f"{r['kernel_ms']:.3f} | {busy:.0%} | {r['launches']:.0f} |")
                tops += ["", f"### {label}, {'fwd+bwd' if backward else 'fwd'}, {name}", "",
                         "| kernel | ms per iteration | calls |", "|---|---|---|"]
                tops += [f"| `{k[:90]}` | {ms:.3f} | {n:.0f} |" for k, ms, n in r["top"]]
                print(lines[-1], file=sys.stderr, flush=True)
    text = "\n".join([*lines, "", "## Kernels with the most device time", *tops]) + "\n"
    publish(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
