"""Forward time and peak memory of every registered model at DRIVE size (584 x 565), batch 1.

Usage:
    python benchmarks/bench_models.py --device cpu  [--repeats 3] [--out docs/benchmarks/models_cpu.md]
    python benchmarks/bench_models.py --device cuda [--repeats 20] [--backends torch,mamba_ssm] [--out ...]

On CPU each row runs in its own subprocess so that the peak resident memory (ru_maxrss) belongs to that model
alone; on CUDA the peak is torch.cuda.max_memory_allocated and times are CUDA-event medians after warm-up.
Rows: every registered model with its default options, plus Akmamba-Net variants that move Mamba-out off the
full-resolution skip or change AKConv's number of points (model-spec.md §4 item 10).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from report import publish  # noqa: E402

VARIANTS: list[tuple[str, str, dict]] = [
    ("akmamba (mambaout 1-3)", "akmamba", {"mambaout_levels": [1, 2, 3]}),
    ("akmamba (mambaout 2-3)", "akmamba", {"mambaout_levels": [2, 3]}),
    ("akmamba (AKConv N=9)", "akmamba", {"num_points": 9}),
    ("unet (base 16)", "unet", {"base_channels": 16}),
    ("akmamba (base 16)", "akmamba", {"base_channels": 16}),
    ("akmamba (base 16, mambaout 1-3)", "akmamba", {"base_channels": 16, "mambaout_levels": [1, 2, 3]}),
    ("akmamba (base 16, mambaout 2-3)", "akmamba", {"base_channels": 16, "mambaout_levels": [2, 3]}),
    ("akmamba (base 16, AKConv 1-4, mambaout 1-3)", "akmamba",
     {"base_channels": 16, "akconv_levels": [1, 2, 3, 4], "mambaout_levels": [1, 2, 3]}),
    # the width sweep of issue 21 (accuracy against CPU latency): the shipped layout at base 24 and 32
    ("unet (base 24)", "unet", {"base_channels": 24}),
    ("akmamba (base 24, AKConv 1-4, mambaout 1-3)", "akmamba",
     {"base_channels": 24, "akconv_levels": [1, 2, 3, 4], "mambaout_levels": [1, 2, 3]}),
    ("akmamba (base 32, AKConv 1-4, mambaout 1-3)", "akmamba",
     {"base_channels": 32, "akconv_levels": [1, 2, 3, 4], "mambaout_levels": [1, 2, 3]}),
]
SCAN_MODELS = {"akmamba", "unet_mambaout"}


def rows(backends: list[str]) -> list[tuple[str, str, dict]]:
    """(label, model name, options) for every benchmark row."""
    from akmamba.nn import list_models

    out = []
    for name in list_models():
        if name in SCAN_MODELS:
            out += [(f"{name} [{b}]", name, {"scan_backend": b}) for b in backends]
        else:
            out.append((name, name, {}))
    for label, name, opts in VARIANTS:
        if name in SCAN_MODELS:
            out += [(f"{label} [{b}]", name, {**opts, "scan_backend": b}) for b in backends]
        else:
            out.append((label, name, opts))
    return out


def measure(name: str, options: dict, device: str, repeats: int, channels: int) -> dict:
    """Build one model and time its forward at (1, channels, 584, 565); returns ms, peak MiB and params."""
    import torch

    from akmamba.nn import build_model

    torch.manual_seed(0)
    model = build_model(name, channels, 2, **options).to(device).eval()
    x = torch.randn(1, channels, 584, 565, device=device)
    params = sum(p.numel() for p in model.parameters())
    times = []
    with torch.inference_mode():
        if device == "cuda":
            for _ in range(3):
                model(x)
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            for _ in range(repeats):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                model(x)
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end))
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        else:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            model(x)  # warm-up
            for _ in range(repeats):
                t0 = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - t0) * 1000)
            peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return {"ms": statistics.median(times), "peak_mib": peak, "params": params}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--backends", default=None,
                        help="comma list of scan backends (default: torch, +mamba_ssm on cuda)")
    parser.add_argument("--only", default=None,
                        help="comma list of row labels to run (substring match; =LABEL for an exact match)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.device == "cpu" else 20)

    if args.single:  # child process: one row, JSON on stdout
        name, opts = json.loads(args.single)
        print(json.dumps(measure(name, opts, args.device, repeats, args.channels)))
        return

    import torch

    default_backends = ["torch", "mamba_ssm"] if args.device == "cuda" else ["torch"]
    backends = args.backends.split(",") if args.backends else default_backends
    table = []
    for label, name, opts in rows(backends):
        if args.only and not any(label == s[1:] if s.startswith("=") else s in label for s in args.only.split(",")):
            continue
        try:
            if args.device == "cpu":
                cmd = [sys.executable, __file__, "--device", "cpu", "--repeats", str(repeats), "--channels",
                       str(args.channels), "--single", json.dumps([name, opts])]
                res = subprocess.run(cmd, capture_output=True, text=True, check=True)
                r = json.loads(res.stdout.strip().splitlines()[-1])
            else:
                r = measure(name, opts, "cuda", repeats, args.channels)
        except (subprocess.CalledProcessError, RuntimeError) as exc:
            err = getattr(exc, "stderr", "") or str(exc)
            print(f"{label}: failed: {err.strip().splitlines()[-1] if err.strip() else exc}", file=sys.stderr)
            continue
        table.append((label, r))
        print(f"{label:<48} {r['ms']:10.1f} ms  {r['peak_mib']:9.0f} MiB  {r['params'] / 1e6:6.2f} M", flush=True)

    unet_ms = next((r["ms"] for lbl, r in table if lbl == "unet"), None)
    cpu_name = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    dev = torch.cuda.get_device_name() if args.device == "cuda" else cpu_name
    lines = [
        f"# Model forward at 584x565, batch 1, {args.channels} input channels ({args.device})",
        "",
        f"Command: `python {' '.join(sys.argv)}`  ",
        f"torch {torch.__version__}; device: {dev}; date {dt.date.today()}; median of {repeats} runs after warm-up.",
        "Peak memory: " + ("torch.cuda.max_memory_allocated above the resident weights." if args.device == "cuda"
                           else "growth of the process's peak RSS during the timed forwards (own subprocess per row)."),
        "",
        "| model | forward (ms) | ratio to unet | peak memory (MiB) | parameters (M) |",
        "|---|---|---|---|---|",
    ]
    for label, r in table:
        ratio = f"{r['ms'] / unet_ms:.1f}x" if unet_ms else "-"
        lines.append(f"| {label} | {r['ms']:.1f} | {ratio} | {r['peak_mib']:.0f} | {r['params'] / 1e6:.2f} |")
    text = "\n".join(lines) + "\n"
    publish(text, args.out)


if __name__ == "__main__":
    main()
