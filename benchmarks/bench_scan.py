"""Time the selective-scan backends on identical inputs and print a markdown table.

CPU (default): batch 1, Dm = 512, N = 16, G = 4, L = 4096, float32 (SS2D on a 64x64 map: K = 4 directions times
E = 128 channels). Forward (under no_grad) and forward+backward in seconds, median of 3, plus the bytes saved for
backward (summed through saved_tensors_hooks during a forward with grad; with checkpointing that is the segments'
inputs, views of the caller's tensors) and the peak resident-set growth (Linux VmHWM) of a fresh process running
one forward+backward (one no_grad forward for the reference), with glibc's mmap threshold at 64 KiB.

CUDA: batch 8 with L = 4096 and 16384, and batch 1 with L = 16384; Dm = 256, N = 16, G = 4, float32. Median of 20
runs after warm-up, timed with CUDA events, in ms, and the ratio torch / mamba_ssm.

    python benchmarks/bench_scan.py --device cpu --out docs/benchmarks/scan_cpu.md
    python benchmarks/bench_scan.py --device cuda --out docs/benchmarks/scan_cuda.md
"""

from __future__ import annotations

import argparse
import datetime
import functools
import multiprocessing
import os
import platform
import resource
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from report import publish

from akmamba.ops import available_backends
from akmamba.ops.selective_scan import SCAN_BACKENDS
from akmamba.ops.selective_scan.chunked import selective_scan_chunked

MIB = 2**20
CPU_CONFIG = {"batch": 1, "dim": 512, "dstate": 16, "groups": 4, "length": 4096}
CUDA_CONFIGS = [
    {"batch": 8, "dim": 256, "dstate": 16, "groups": 4, "length": 4096},
    {"batch": 8, "dim": 256, "dstate": 16, "groups": 4, "length": 16384},
    {"batch": 1, "dim": 256, "dstate": 16, "groups": 4, "length": 16384},
]


def make_inputs(batch: int, dim: int, dstate: int, groups: int, length: int, device: str) -> dict[str, Any]:
    """SS2D-like inputs: A = -(1..N), softplus(delta + bias) in about [1e-3, 0.1], B/C grouped, D = 1."""
    gen = torch.Generator(device=device).manual_seed(0)
    return {
        "u": torch.randn(batch, dim, length, generator=gen, device=device),
        "delta": torch.randn(batch, dim, length, generator=gen, device=device) * 0.5,
        "A": -torch.arange(1, dstate + 1, dtype=torch.float32, device=device).repeat(dim, 1),
        "B": torch.randn(batch, groups, dstate, length, generator=gen, device=device),
        "C": torch.randn(batch, groups, dstate, length, generator=gen, device=device),
        "D": torch.ones(dim, device=device),
        "delta_bias": torch.empty(dim, device=device).uniform_(-6.9, -2.3, generator=gen),
    }


def scan_functions() -> dict[str, Callable[..., Any]]:
    """Backend name -> scan function; plus the torch backend with checkpointing off, for its memory cost."""
    fns = {name: SCAN_BACKENDS.get(name).fn for name in SCAN_BACKENDS}
    fns["torch (no checkpoint)"] = lambda *a, **k: selective_scan_chunked(*a, checkpoint_segments=False, **k)
    return fns


def forward(fn: Callable[..., Any], inputs: dict[str, Any]) -> torch.Tensor:
    return fn(**inputs, delta_softplus=True)


def forward_backward(fn: Callable[..., Any], inputs: dict[str, Any]) -> None:
    leaves = {k: v.detach().requires_grad_() for k, v in inputs.items()}
    forward(fn, leaves).sum().backward()


def saved_bytes(fn: Callable[..., Any], inputs: dict[str, Any]) -> int:
    """Bytes of the distinct storages autograd keeps for backward after one forward with grad.

    A tensor saved by several nodes, or a view, counts once (by storage); checkpoint inputs are included.
    """
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    leaves = {k: v.detach().requires_grad_() for k, v in inputs.items()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward(fn, leaves)  # noqa: F841  (keeps the graph, hence the saved storages, alive)
    return sum(storages.values())


def _proc_status_kib(field: str) -> int | None:
    status = Path("/proc/self/status")
    if not status.exists():
        return None
    for line in status.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None


def _rss_worker(name: str, backward: bool, threads: int, queue: Any) -> None:
    """Run one pass in a fresh process and report its peak RSS growth in bytes.

    Uses Linux's VmHWM (the peak of this process image); ru_maxrss would carry the parent's peak over exec.
    """
    torch.set_num_threads(threads)
    fn = scan_functions()[name]
    inputs = make_inputs(**CPU_CONFIG, device="cpu")
    before = _proc_status_kib("VmRSS")
    if before is None:  # not Linux: fall back to getrusage (KiB on Linux, bytes on macOS)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if backward:
        forward_backward(fn, inputs)
    else:
        with torch.no_grad():
            forward(fn, inputs)
    after = _proc_status_kib("VmHWM")
    if after is None:
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put((after - before) * 1024)


def peak_rss_growth(name: str, backward: bool) -> int:
    """Peak resident-set growth, in bytes, of a fresh process running one pass.

    The child runs with glibc's mmap threshold fixed at 64 KiB, so that freed large blocks go back to the system
    and the peak reflects live memory rather than allocator fragmentation.
    """
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", "65536")  # read by the spawned child's glibc at start-up
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_rss_worker, args=(name, backward, torch.get_num_threads(), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return int(result)


def cpu_median(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_cpu(reference: bool, repeats: int) -> list[str]:
    inputs = make_inputs(**CPU_CONFIG, device="cpu")
    c = CPU_CONFIG
    lines = [
        f"batch {c['batch']}, Dm {c['dim']}, N {c['dstate']}, G {c['groups']}, L {c['length']}, float32, "
        f"{torch.get_num_threads()} threads; median of {repeats}.",
        "",
        "| backend | forward (no_grad) s | forward+backward s | saved for backward MiB | peak RSS growth MiB |",
        "|---|---|---|---|---|",
    ]
    usable = {i.name for i in available_backends("cpu") if i.available}
    forward_only = {name for name in usable if SCAN_BACKENDS.get(name).forward_only} | {"reference"}
    for name, fn in scan_functions().items():
        if name not in usable or (name == "reference" and not reference):
            continue
        with torch.no_grad():
            fwd = cpu_median(lambda fn=fn: forward(fn, inputs), repeats)
        fo = name in forward_only
        both = "—" if fo else f"{cpu_median(lambda fn=fn: forward_backward(fn, inputs), repeats):.3f}"
        saved = 0.0 if fo else saved_bytes(fn, inputs) / MIB
        rss = peak_rss_growth(name, backward=not fo) / MIB
        rss_note = " (forward only)" if fo else ""
        lines.append(f"| {name} | {fwd:.3f} | {both} | {saved:.0f} | {rss:.0f}{rss_note} |")
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def cuda_median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def bench_cuda(reference: bool, repeats: int) -> list[str]:
    names = [i.name for i in available_backends("cuda") if i.available and (reference or i.name != "reference")]
    fns = scan_functions()
    lines = [
        f"float32, N 16, G 4; median of {repeats} after warm-up, CUDA events; forward under no_grad.",
        "",
        "| batch, Dm, L | backend | forward ms | forward+backward ms | peak CUDA memory (fwd+bwd) MiB |",
        "|---|---|---|---|---|",
    ]
    for cfg in CUDA_CONFIGS:
        inputs = make_inputs(**cfg, device="cuda")
        run_forward = functools.partial(forward, inputs=inputs)
        run_both = functools.partial(forward_backward, inputs=inputs)
        label = f"{cfg['batch']}, {cfg['dim']}, {cfg['length']}"
        results = {}
        for name in names:
            fn = fns[name]
            with torch.no_grad():
                fwd = cuda_median_ms(functools.partial(run_forward, fn), repeats)
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            both = cuda_median_ms(functools.partial(run_both, fn), repeats)
            peak = (torch.cuda.max_memory_allocated() - base) / MIB
            results[name] = (fwd, both)
            lines.append(f"| {label} | {name} | {fwd:.2f} | {both:.2f} | {peak:.0f} |")
            print(lines[-1], file=sys.stderr, flush=True)
        if "mamba_ssm" in results and "torch" in results:
            (tf, tb), (mf, mb) = results["torch"], results["mamba_ssm"]
            lines.append(f"| {label} | ratio torch / mamba_ssm | {tf / mf:.1f}x | {tb / mb:.1f}x | |")
        if "mamba_ssm" in results and "triton" in results:
            (tf, tb), (mf, mb) = results["triton"], results["mamba_ssm"]
            lines.append(f"| {label} | ratio triton / mamba_ssm | {tf / mf:.2f}x | {tb / mb:.2f}x | |")
        if "triton" in results:  # bytes of u, delta, B, C read and y written (no z here), fp32
            nbytes = 4 * cfg["batch"] * cfg["length"] * (3 * cfg["dim"] + 2 * cfg["groups"] * cfg["dstate"])
            tbps = nbytes / (results["triton"][0] * 1e-3) / 1e12
            lines.append(f"| {label} | triton forward bandwidth | {tbps:.2f} TB/s = {tbps / 4.3:.0%} of 4.3 | | |")
    unavailable = [f"{i.name}: {i.reason}" for i in available_backends("cuda") if not i.available]
    if unavailable:
        lines += ["", "Not run: " + "; ".join(unavailable)]
    return lines


def device_name(device: str) -> str:
    if device == "cuda":
        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text(encoding="utf-8").splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, help="also write the markdown to this file")
    parser.add_argument(
        "--reference",
        choices=["auto", "on", "off"],
        default="auto",
        help="time the per-token reference too (auto: on CPU only; it is slow)",
    )
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, help="runs per timing (default 3 on CPU, 20 on CUDA)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    reference = args.reference == "on" or (args.reference == "auto" and args.device == "cpu")
    if args.device == "cpu":
        body = bench_cpu(reference, args.repeats or 3)
    else:
        body = bench_cuda(reference, max(10, args.repeats or 20))
    header = [
        f"# Selective-scan backends on {args.device.upper()}",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- torch {torch.__version__}, Python {platform.python_version()}",
        f"- device: {device_name(args.device)}",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}",
        "",
    ]
    text = "\n".join(header + body) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
