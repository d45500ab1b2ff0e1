"""Time the ``numba`` selective-scan backend against ``torch`` on CPU (forward, no_grad) and print a markdown table.

Scan shapes: the SS2D skip levels of Akmamba-Net (base_channels 32) on a 584x565 fundus image: level i has
C = 32·2^i channels, K·E = 4·2·C scan channels, L = ceil(584/2^i)·ceil(565/2^i) tokens, N = 16, G = 4, batch 1,
float32, softplus and delta_bias on, D = 1, no z (as SS2D calls it); plus the spec shape batch 1, Dm 512, L 4096.
Each configuration is timed, after one warm-up call of each backend, as the median of ``--repeats`` runs, numba
and torch runs interleaved (the machine may be shared: read the ratios, not the absolute times); the process
CPU-time ratio is shown as a check less sensitive to other load. The end-to-end row times
``build_model("akmamba", 3, 2, scan_backend=...)`` on one 584x565 RGB image under ``torch.inference_mode()`` (the
network pads the input to 592x576 inside, so its skip levels are a little longer than the L above).

Compilation: the first call of a process compiles the Numba kernel, or loads it from Numba's cache (cache=True);
both are measured in fresh subprocesses with an empty and then a warm ``NUMBA_CACHE_DIR``.

    PYTHONPATH=. python benchmarks/bench_scan_cpu.py --out docs/benchmarks/scan_cpu_numba.md
"""

from __future__ import annotations

import argparse
import datetime
import functools
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from report import publish

from akmamba.ops.selective_scan import SCAN_BACKENDS
from akmamba.ops.selective_scan.numba_scan import numba_available

IMAGE_HW = (584, 565)
BASE_CHANNELS = 32
LEVELS = 4
SPEC_SHAPE = {"batch": 1, "dim": 512, "length": 4096}


def level_shapes() -> list[tuple[str, dict[str, int]]]:
    """(label, {batch, dim, length}) for the SS2D skip levels and the spec shape."""
    h, w = IMAGE_HW
    shapes = []
    for i in range(LEVELS):
        c = BASE_CHANNELS * 2**i
        length = math.ceil(h / 2**i) * math.ceil(w / 2**i)
        shapes.append((f"level {i}: C={c}, Dm={8 * c}, L={length}", {"batch": 1, "dim": 8 * c, "length": length}))
    shapes.append((f"spec: Dm={SPEC_SHAPE['dim']}, L={SPEC_SHAPE['length']}", dict(SPEC_SHAPE)))
    return shapes


def make_inputs(batch: int, dim: int, length: int, dstate: int = 16, groups: int = 4) -> dict[str, Any]:
    """SS2D-like inputs: A = -(1..N), softplus(delta + bias) in about [1e-3, 0.1], B/C grouped, D = 1."""
    gen = torch.Generator().manual_seed(0)
    return {
        "u": torch.randn(batch, dim, length, generator=gen),
        "delta": torch.randn(batch, dim, length, generator=gen) * 0.5,
        "A": -torch.arange(1, dstate + 1, dtype=torch.float32).repeat(dim, 1),
        "B": torch.randn(batch, groups, dstate, length, generator=gen),
        "C": torch.randn(batch, groups, dstate, length, generator=gen),
        "D": torch.ones(dim),
        "delta_bias": torch.empty(dim).uniform_(-6.9, -2.3, generator=gen),
    }


def interleaved_medians(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, float, Any]]:
    """name -> (median wall s, median process CPU s, last output); runs alternate between the functions."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    out: dict[str, Any] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            out[name] = fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name]), out[name]) for name in fns}


def bench_scans(repeats: int) -> list[str]:
    numba_fn, torch_fn = SCAN_BACKENDS.get("numba").fn, SCAN_BACKENDS.get("torch").fn
    lines = [
        "| shape (batch 1, N 16, G 4) | torch s | numba s | speed-up (wall) | speed-up (CPU time) | max abs diff |",
        "|---|---|---|---|---|---|",
    ]
    for label, shape in level_shapes():
        inputs = make_inputs(**shape)
        fns = {
            "torch": functools.partial(torch_fn, **inputs, delta_softplus=True),
            "numba": functools.partial(numba_fn, **inputs, delta_softplus=True),
        }
        with torch.no_grad():
            for fn in fns.values():  # warm-up: first-touch page faults, and the Numba kernel's compile or load
                fn()
            res = interleaved_medians(fns, repeats)
        (tw, tc, ty), (nw, nc, ny) = res["torch"], res["numba"]
        diff = (ty - ny).abs().max().item()
        lines.append(f"| {label} | {tw:.3f} | {nw:.3f} | **{tw / nw:.2f}x** | {tc / nc:.2f}x | {diff:.1e} |")
        print(lines[-1], file=sys.stderr, flush=True)
        del inputs, fns, res, ty, ny
    return lines


def bench_model(repeats: int) -> list[str]:
    from akmamba.nn.build import build_model

    models = {}
    for backend in ("torch", "numba"):
        torch.manual_seed(0)
        models[backend] = build_model("akmamba", 3, 2, scan_backend=backend).eval()
    models["numba"].load_state_dict(models["torch"].state_dict())
    x = torch.rand(1, 3, *IMAGE_HW, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for model in models.values():  # warm-up
            model(x)
        res = interleaved_medians({name: (lambda m=m: m(x)) for name, m in models.items()}, repeats)
    (tw, tc, ty), (nw, nc, ny) = res["torch"], res["numba"]
    diff = (ty - ny).abs().max().item()
    return [
        "",
        f"End to end: `build_model(\"akmamba\", 3, 2, scan_backend=...)`, one {IMAGE_HW[0]}x{IMAGE_HW[1]} RGB image, "
        "`torch.inference_mode()`, eval mode.",
        "",
        "| model forward | torch s | numba s | speed-up (wall) | speed-up (CPU time) | max abs diff of logits |",
        "|---|---|---|---|---|---|",
        f"| akmamba, 1x3x{IMAGE_HW[0]}x{IMAGE_HW[1]} | {tw:.2f} | {nw:.2f} | **{tw / nw:.2f}x** | {tc / nc:.2f}x | "
        f"{diff:.1e} |",
    ]


_COMPILE_PROBE = """
import time
t0 = time.perf_counter()
import torch
from akmamba.ops.selective_scan.numba_scan import selective_scan_numba
t1 = time.perf_counter()
u = torch.randn(1, 64, 300)
y = selective_scan_numba(u, u.abs(), -torch.ones(64, 16), torch.randn(1, 4, 16, 300), torch.randn(1, 4, 16, 300),
                         D=torch.ones(64), delta_bias=torch.zeros(64), delta_softplus=True)
print(t1 - t0, time.perf_counter() - t1)
"""


def compile_times() -> tuple[float, float]:
    """Seconds of the first float32 call in a fresh process: with an empty Numba cache, then with it warm."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        times = []
        for _ in range(2):
            out = subprocess.run(
                [sys.executable, "-c", _COMPILE_PROBE], env=env, capture_output=True, text=True, check=True
            )
            times.append(float(out.stdout.split()[1]))
    return times[0], times[1]


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the markdown to this file")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (default 3)")
    parser.add_argument("--skip-model", action="store_true", help="leave out the end-to-end model forward")
    args = parser.parse_args(argv)
    ok, reason = numba_available()
    if not ok:
        parser.error(f"the numba backend cannot run here: {reason}")
    import llvmlite
    import numba
    import numpy

    cold, warm = compile_times()
    print(f"compile: {cold:.1f} s cold, {warm:.2f} s from cache", file=sys.stderr, flush=True)
    body = bench_scans(args.repeats)
    if not args.skip_model:
        body += bench_model(args.repeats)
    prefix = f"PYTHONPATH={os.environ['PYTHONPATH']} " if os.environ.get("PYTHONPATH") else ""
    header = [
        "# Selective scan on CPU: `numba` vs `torch` backend (inference)",
        "",
        f"- command: `{prefix}{shlex.join(['python', *sys.argv])}`",
        f"- torch {torch.__version__}, numba {numba.__version__}, llvmlite {llvmlite.__version__}, "
        f"numpy {numpy.__version__}, Python {platform.python_version()}",
        f"- device: {cpu_name()}, {os.cpu_count()} logical CPUs; {torch.get_num_threads()} torch threads, "
        f"{numba.get_num_threads()} numba threads (threading layer {numba.threading_layer()})",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}",
        f"- Numba kernel, first float32 call of a process: {cold:.1f} s compiling (empty cache), {warm:.2f} s "
        "loading from Numba's cache (cache=True; later calls run at once). Not included in the times below.",
        "- forward only, under `torch.no_grad()`; float32; one warm-up call each, then the median of "
        f"{args.repeats} runs, numba and torch interleaved. The machine is shared with other work: absolute times "
        "vary from run to run, the ratios less so.",
        "",
    ]
    footer = [
        "",
        "Notes: the end-to-end speed-up is bounded by the rest of the network (AKConv units, convolutions, the SS2D "
        "projections and norms), which both runs share. `backend=\"auto\"` picks numba on CPU only when no gradient "
        "is needed (training keeps torch). The scan rows use L = ceil(584/2^i)·ceil(565/2^i); the model pads its "
        "input to 592x576, so its skip levels are about 3% longer.",
    ]
    text = "\n".join(header + body + footer) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
