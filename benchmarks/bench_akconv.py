"""CPU timing and saved-for-backward memory: AKConv (reference / grid_sample sampler) vs Conv3x3 + BN + SiLU.

Usage:
    python benchmarks/bench_akconv.py [--output docs/benchmarks/akconv_cpu.md]

Prints a markdown table (fwd+bwd median of 3 after one warm-up, B=2, C=64 -> 64, 128x128, float32, training
mode) with the command, torch version, thread count and date. Treat the timings as ratios between rows.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from report import publish
from torch import nn

from akmamba.nn.blocks.akconv import AKConv

MIB = 2**20


def saved_bytes(module: nn.Module, x: torch.Tensor) -> int:
    """Unique storage bytes autograd saves for backward during one forward, parameters excluded."""
    params = {p.untyped_storage().data_ptr() for p in module.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(storages.values())


def fwd_bwd_seconds(module: nn.Module, x: torch.Tensor, repeats: int = 3) -> float:
    """Median wall time of forward + backward (sum of the output) after one warm-up run."""
    times = []
    for i in range(repeats + 1):
        module.zero_grad(set_to_none=True)
        x.grad = None
        start = time.perf_counter()
        module(x).sum().backward()
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def variants(channels: int) -> list[tuple[str, Callable[[], nn.Module]]]:
    conv3 = lambda: nn.Sequential(  # noqa: E731
        nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.SiLU()
    )
    rows: list[tuple[str, Callable[[], nn.Module]]] = [("Conv3x3 + BN + SiLU", conv3)]
    for n in (5, 9):
        for sampler in ("reference", "grid_sample"):
            build = lambda n=n, s=sampler: AKConv(channels, channels, n, sampler=s)  # noqa: E731
            rows.append((f"AKConv N={n}, sampler={sampler}", build))
    rows.append(
        (
            "AKConv N=9, grid_sample, faithful_border=True, centered=False",
            lambda: AKConv(channels, channels, 9, centered=False, faithful_border=True),
        )
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="also write the markdown to this file")
    args = parser.parse_args()

    torch.manual_seed(0)
    batch, channels, size = 2, 64, 128
    # requires_grad: the block sits inside a network, so the input gradient is computed (and, for the gather
    # reference, the int64 index tensors are saved).
    x = torch.randn(batch, channels, size, size, requires_grad=True)
    input_mib = x.numel() * x.element_size() / MIB
    lines = [
        "# AKConv on CPU: time and saved-for-backward memory",
        "",
        f"- command: `python {' '.join(sys.argv)}`",
        f"- torch {torch.__version__}, {torch.get_num_threads()} threads, Python {platform.python_version()}, "
        f"{platform.machine()}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- input B={batch}, C={channels} -> {channels}, {size}x{size}, float32 ({input_mib:.0f} MiB), "
        "training mode, input requires grad; fwd+bwd median of 3 after one warm-up; saved = unique storages "
        "held for backward, parameters excluded. AKConv rows use the defaults (centered, correct border) "
        "unless stated; offsets at init.",
        "- Timings were taken on a shared machine: read them as ratios between rows.",
        "",
        "| variant | saved for backward | times input | fwd+bwd |",
        "|---|---|---|---|",
    ]
    for name, build in variants(channels):
        module = build()
        saved = saved_bytes(module, x) / MIB
        seconds = fwd_bwd_seconds(module, x)
        lines.append(f"| {name} | {saved:.0f} MiB | {saved / input_mib:.1f} | {seconds * 1000:.0f} ms |")
        del module
    text = "\n".join(lines) + "\n"
    publish(text, args.output)


if __name__ == "__main__":
    main()
