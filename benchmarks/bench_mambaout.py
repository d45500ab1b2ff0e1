"""Time the Mamba-out block (akmamba.nn.blocks.ss2d.MambaOut) with each scan path at the shipped models' skip shapes.

Shapes: the skips of Akmamba-Net on a 584x565 image, which PadToMultiple pads to 592x576 (depth 4): level l = 1..4
(skip index l-1 in the code) has C = base * 2**(l-1) channels on a (592 / 2**(l-1)) x (576 / 2**(l-1)) map, for
base_channels 16 and 32, batch 1 and 8. The block is pre-LayerNorm + SS2D (E = 2C, N = 16) + residual.

CUDA (``--device cuda``), float32 (or, with ``--amp bf16``, under bf16 autocast as ``akmamba train`` runs on CUDA:
the block's projections then hand the scan bf16 tensors), CUDA-event medians after warm-up (Triton compile times
excluded):

1. the block, forward (no_grad) and forward+backward, with SS2D's fused Triton path (``fused triton``), the unfused
   path with mamba_ssm's kernel (``mamba_ssm``) and the unfused path with the per-sequence Triton kernel
   (``triton``); the suggested values of triton_cross.MEASURED_SPEED_VS_MAMBA_SSM / _VS_TRITON (worst row);
2. the four-direction scan op alone on the exact tensors SS2D passes it: fused vs the unfused composition with
   mamba_ssm (cross_scan copies + kernel + cross_merge), and the fused kernel's achieved bandwidth (bytes it
   must move, triton_cross.fused_bytes, over its time) against the H200's measured 4.3 TB/s;
3. Akmamba-Net forward at 1x3x584x565 with each path (batch 1, as bench_models.py).

CPU (``--device cpu``), every cell in its own subprocess (an out-of-memory kill loses one cell, not the table):

1. the block's forward under inference_mode on three paths: the unfused path with the ``torch`` scan backend
   (the baseline), the unfused path with the ``numba`` scan backend, and SS2D's fused path with the fused Numba
   four-direction kernel (``fused numba``: what ``scan_backend="auto"`` takes on CPU for inference). Batch-1 rows
   first, then the batch-8 rows from the cheapest (deepest level) up, until the time budget is spent;
2. where the fused block's time goes at one shape (torch.profiler, the kernel wrapped in a record_function);
3. Akmamba-Net forward at 1x3x584x565 on the three paths (--model-bases).

    python benchmarks/bench_mambaout.py --device cuda --out docs/benchmarks/mambaout_cuda.md
    python benchmarks/bench_mambaout.py --device cpu --budget-s 900 --out docs/benchmarks/mambaout_cpu.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import platform
import shlex
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DRY_RUN = "--dry-run" in sys.argv
if DRY_RUN:  # the CUDA code path on CPU tensors, kernels in Triton's interpreter: a smoke test of this script
    import os

    os.environ.setdefault("TRITON_INTERPRET", "1")

import report  # noqa: E402
import torch  # noqa: E402

from akmamba.nn.blocks import ss2d as ss2d_module  # noqa: E402
from akmamba.nn.blocks.ss2d import SS2D, MambaOut  # noqa: E402

PADDED = (592, 576)  # 584 x 565 padded to multiples of 16 (akmamba/nn/nets/padding.py, depth 4)
H200_TBPS = 4.3
#: label -> (scan_backend, fused_scan)
CUDA_PATHS = {"mamba_ssm": ("mamba_ssm", False), "triton": ("triton", False), "fused triton": ("triton", True)}
#: label -> (scan_backend, fused_scan); fused_scan=None with "numba" takes the fused Numba kernel under inference_mode
CPU_PATHS = {"torch": ("torch", False), "numba": ("numba", False), "fused numba": ("numba", None)}
#: The target of issue 7 for the CPU path at block level: torch time / fused numba time.
CPU_TARGET = 3.0
#: Forwards profiled (after a warm-up) for the "where the time goes" table; the table gives their mean.
PROFILE_REPS = 3
if DRY_RUN:  # no mamba_ssm on a CPU: the torch backend stands in for it
    CUDA_PATHS = {"mamba_ssm": ("torch", False), "triton": ("torch", False), "fused triton": ("triton", True)}
DEV = "cpu" if DRY_RUN else "cuda"
#: Autocast dtype of the timed CUDA forwards (``--amp bf16``: as training runs); None: plain float32.
AMP_DTYPE: torch.dtype | None = None


def amp_context() -> contextlib.AbstractContextManager:
    """Autocast to :data:`AMP_DTYPE` on the benchmark's device, or nothing when it is None."""
    return torch.autocast(DEV, dtype=AMP_DTYPE) if AMP_DTYPE is not None else contextlib.nullcontext()


def precision() -> str:
    """The precision the CUDA tables ran in, in words."""
    return "float32" if AMP_DTYPE is None else f"{str(AMP_DTYPE).removeprefix('torch.')} autocast"
UNFUSED_OP = "torch" if DRY_RUN else "mamba_ssm"


def shapes(bases: list[int], batches: list[int], levels: list[int]) -> list[dict[str, int]]:
    """(base, level, batch, C, H, W) of every Mamba-out skip; batch-major, in the order of ``bases``."""
    out = []
    for batch in batches:
        for base in bases:
            for level in levels:
                f = 2 ** (level - 1)
                out.append({"base": base, "level": level, "batch": batch, "C": base * f,
                            "H": PADDED[0] // f, "W": PADDED[1] // f})
    return out


def make_block(c: int, device: str, backend: str, fused: bool) -> MambaOut:
    torch.manual_seed(0)
    block = MambaOut(c, d_state=16).to(device)
    set_path(block, backend, fused)
    return block


def set_path(model: torch.nn.Module, backend: str, fused: bool) -> None:
    for m in model.modules():
        if isinstance(m, SS2D):
            m.scan_backend, m.fused_scan = backend, fused


# -- timing -----------------------------------------------------------------------------------------------------------


def cuda_median_ms(fn: Callable[[], Any], min_reps: int = 5, max_reps: int = 15, budget_ms: float = 500.0) -> float:
    """Median CUDA-event time of ``fn`` after two warm-up calls (which also compile any Triton kernel)."""
    if DRY_RUN:
        fn()
        t0 = time.perf_counter()
        fn()
        return (time.perf_counter() - t0) * 1e3
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times: list[float] = []
    while len(times) < max_reps and (len(times) < min_reps or sum(times) < budget_ms):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def cpu_median_s(
    fn: Callable[[], Any], max_reps: int = 3, budget_s: float = 10.0, warm_up: Callable[[], Any] | None = None
) -> float:
    """Median of up to ``max_reps`` runs (one once they pass ``budget_s``) after one warm-up call.

    ``warm_up`` (default: ``fn``) loads or compiles the Numba kernels; a small input does that as well as the real
    one and saves a long run at the largest shapes.
    """
    (warm_up or fn)()
    times: list[float] = []
    while len(times) < max_reps and (not times or sum(times) < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def block_timings_cuda(block: MambaOut, x: torch.Tensor) -> tuple[float, float]:
    """(forward ms under no_grad, forward+backward ms) of one block."""
    g = torch.randn_like(x)
    xg = x.clone().requires_grad_()

    def fwd() -> None:
        with torch.no_grad(), amp_context():
            block(x)

    def both() -> None:
        with amp_context():
            y = block(xg)
        y.backward(g)

    return cuda_median_ms(fwd), cuda_median_ms(both)


def capture_scan_args(block: MambaOut, x: torch.Tensor) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The exact (args, kwargs) SS2D's fused path passes to cross_selective_scan for input x."""
    captured: dict[str, Any] = {}
    original = ss2d_module.cross_selective_scan

    def spy(*args: Any, **kwargs: Any) -> torch.Tensor:
        captured["args"], captured["kwargs"] = args, kwargs
        return original(*args, **kwargs)

    ss2d_module.cross_selective_scan = spy
    try:
        with torch.no_grad(), amp_context():
            set_path(block, "triton", True)
            block(x)
    finally:
        ss2d_module.cross_selective_scan = original
    kwargs = dict(captured["kwargs"])
    kwargs.pop("backend", None)
    args = list(captured["args"])
    if args and isinstance(args[-1], bool):  # delta_softplus, passed positionally
        kwargs["delta_softplus"] = args.pop()
    return tuple(a.detach() for a in args), kwargs


def op_timings_cuda(args: tuple[Any, ...], kwargs: dict[str, Any], backend: str) -> tuple[float, float]:
    """(forward ms, forward+backward ms) of cross_selective_scan(backend) on the captured tensors."""
    from akmamba.ops import cross_selective_scan

    leaves = [a.clone().requires_grad_() for a in args]  # clone keeps dense strides (SS2D's layouts)
    params = {k: (v.clone().requires_grad_() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    g = torch.randn_like(args[0])

    def fwd() -> None:
        with torch.no_grad():
            cross_selective_scan(*args, **kwargs, backend=backend)

    def both() -> None:
        cross_selective_scan(*leaves, **params, backend=backend).backward(g)

    return cuda_median_ms(fwd), cuda_median_ms(both)


def empty_cache() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# -- CUDA -----------------------------------------------------------------------------------------------------------


def bench_cuda(
    rows: list[dict[str, int]], budget_s: float, model_bases: list[int], publish: Callable[[list[str]], None]
) -> list[str]:
    """All CUDA tables; ``publish`` gets the text so far after every row (a killed run keeps its rows)."""
    from akmamba.ops.selective_scan import triton_cross

    t_start = time.perf_counter()
    block_lines = [
        f"## Mamba-out block (pre-LN + SS2D + residual), {precision()}",
        "",
        "ms, CUDA-event median after warm-up; forward under no_grad. Speed-up = mamba_ssm time / fused time.",
        "",
        "| base | level | batch, C, H x W | mamba_ssm fwd / fwd+bwd | triton (unfused) fwd / fwd+bwd "
        "| fused triton fwd / fwd+bwd | fused speed-up vs mamba_ssm | vs triton |",
        "|---|---|---|---|---|---|---|---|",
    ]
    op_lines = [
        f"## The four-direction scan op alone (the tensors SS2D passes it, {precision()})",
        "",
        "`unfused mamba_ssm` = cross_scan copies + mamba_ssm kernel + cross_merge (what SS2D's unfused path runs "
        "around its projections). `fused` = the fused kernel on SS2D's layouts (x NCHW, delta/B/C pixel-major "
        "views); `fused, NCHW` = the same tensors made contiguous in (B, 4, ·, H, W) order; `store merge` = the "
        "four directions stored and summed in PyTorch instead of atomically merged. Bandwidth = "
        "triton_cross.fused_bytes / time, against 4.3 TB/s.",
        "",
        "| batch, C, H x W | unfused mamba_ssm fwd / fwd+bwd ms | fused fwd / fwd+bwd ms | fused, NCHW fwd / "
        "fwd+bwd ms | fused, store merge fwd / fwd+bwd ms | fused fwd bandwidth | fused fwd+bwd bandwidth |",
        "|---|---|---|---|---|---|---|",
    ]
    ratios: dict[str, list[tuple[float, float]]] = {"mamba_ssm": [], "triton": []}
    skipped: list[str] = []
    for row in rows:
        label = f"{row['batch']}, {row['C']}, {row['H']}x{row['W']}"
        if time.perf_counter() - t_start > budget_s:
            skipped.append(label)
            continue
        x = torch.randn(row["batch"], row["C"], row["H"], row["W"], device=DEV)
        results: dict[str, tuple[float, float] | str] = {}
        for name, (backend, fused) in CUDA_PATHS.items():
            try:
                block = make_block(row["C"], DEV, backend, fused)
                results[name] = block_timings_cuda(block, x)
            except Exception as exc:  # noqa: BLE001  (report the row and go on)
                results[name] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
                traceback.print_exc()
            finally:
                empty_cache()
            print(f"[block] {label} {name}: {results[name]}", file=sys.stderr, flush=True)

        def cell(r: tuple[float, float] | str) -> str:
            return r if isinstance(r, str) else f"{r[0]:.2f} / {r[1]:.2f}"

        fused_r = results["fused triton"]
        speed = {}
        for ref in ("mamba_ssm", "triton"):
            ref_r = results[ref]
            if isinstance(ref_r, tuple) and isinstance(fused_r, tuple):
                pair = (ref_r[0] / fused_r[0], ref_r[1] / fused_r[1])
                ratios[ref].append(pair)
                speed[ref] = f"{pair[0]:.2f}x / {pair[1]:.2f}x"
            else:
                speed[ref] = "-"
        block_lines.append(
            f"| {row['base']} | {row['level']} | {label} | {cell(results['mamba_ssm'])} | {cell(results['triton'])} "
            f"| {cell(fused_r)} | {speed['mamba_ssm']} | {speed['triton']} |"
        )
        # the op alone
        try:
            block = make_block(row["C"], DEV, "triton", True)
            args, kwargs = capture_scan_args(block, x)
            del block
            op: dict[str, tuple[float, float]] = {}
            op["mamba_ssm"] = op_timings_cuda(args, kwargs, UNFUSED_OP)
            op["fused"] = op_timings_cuda(args, kwargs, "fused_triton")
            op["nchw"] = op_timings_cuda(tuple(a.contiguous() for a in args), kwargs, "fused_triton")
            triton_cross.LAUNCH_OVERRIDES["atomic_merge"] = 0
            try:
                op["store"] = op_timings_cuda(args, kwargs, "fused_triton")
            finally:
                triton_cross.LAUNCH_OVERRIDES.pop("atomic_merge", None)
            e, n, itemsize = 2 * row["C"], 16, args[0].element_size()  # 2 under bf16 autocast
            fb = triton_cross.fused_bytes(row["batch"], e, row["H"], row["W"], n, itemsize, backward=False)
            bb = fb + triton_cross.fused_bytes(row["batch"], e, row["H"], row["W"], n, itemsize, backward=True)
            bw_f = fb / (op["fused"][0] * 1e-3) / 1e12
            bw_b = bb / (op["fused"][1] * 1e-3) / 1e12
            op_lines.append(
                f"| {label} | {op['mamba_ssm'][0]:.2f} / {op['mamba_ssm'][1]:.2f} | {op['fused'][0]:.2f} / "
                f"{op['fused'][1]:.2f} | {op['nchw'][0]:.2f} / {op['nchw'][1]:.2f} | {op['store'][0]:.2f} / "
                f"{op['store'][1]:.2f} | {bw_f:.2f} TB/s = {bw_f / H200_TBPS:.0%} | {bw_b:.2f} TB/s = "
                f"{bw_b / H200_TBPS:.0%} |"
            )
            del args, kwargs
        except Exception as exc:  # noqa: BLE001
            op_lines.append(f"| {label} | failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]} | | | | | |")
            traceback.print_exc()
        finally:
            empty_cache()
        print(f"[op] {op_lines[-1]}", file=sys.stderr, flush=True)
        publish([*summarise(ratios, skipped, budget_s), "", *block_lines, "", *op_lines])

    summary = summarise(ratios, skipped, budget_s)
    model_lines = [f"## Akmamba-Net forward at 1x3x584x565 (inference, {precision()})", "",
                   "| model | mamba_ssm ms | triton (unfused) ms | fused triton ms |", "|---|---|---|---|"]
    for base in model_bases:
        if time.perf_counter() - t_start > budget_s + 60:
            model_lines.append(f"| akmamba (base {base}) | not run: time budget spent | | |")
            continue
        cells = []
        for _name, (backend, fused) in CUDA_PATHS.items():
            try:
                cells.append(f"{model_forward_ms(base, backend, fused):.1f}")
            except Exception as exc:  # noqa: BLE001
                cells.append(f"failed: {type(exc).__name__}")
                traceback.print_exc()
            finally:
                empty_cache()
        model_lines.append(f"| akmamba (base {base}) | {' | '.join(cells)} |")
        print(f"[model] {model_lines[-1]}", file=sys.stderr, flush=True)
        publish([*summary, "", *block_lines, "", *op_lines, "", *model_lines])
    return [*summary, "", *block_lines, "", *op_lines, "", *model_lines]


def summarise(ratios: dict[str, list[tuple[float, float]]], skipped: list[str], budget_s: float) -> list[str]:
    """The suggested MEASURED_SPEED_* constants from the block rows so far."""
    summary = ["## Suggested constants (akmamba/ops/selective_scan/triton_cross.py)", ""]
    for ref, const in (("mamba_ssm", "MEASURED_SPEED_VS_MAMBA_SSM"), ("triton", "MEASURED_SPEED_VS_TRITON")):
        pairs = ratios[ref]
        if pairs:
            worst = (min(p[0] for p in pairs), min(p[1] for p in pairs))
            geo = tuple(statistics.geometric_mean(p[i] for p in pairs) for i in (0, 1))
            summary.append(
                f"- `{const} = ({worst[0]:.2f}, {worst[1]:.2f})` (worst of {len(pairs)} block rows; geometric mean "
                f"{geo[0]:.2f}x forward, {geo[1]:.2f}x forward+backward)"
            )
        else:
            summary.append(f"- `{const}`: no complete row")
    if skipped:
        summary += ["", f"Not run (time budget of {budget_s:.0f} s spent): {'; '.join(skipped)}"]
    return summary


def model_forward_ms(base: int, backend: str, fused: bool) -> float:
    """Akmamba-Net (default options but base_channels) forward at 1x3x584x565, ms (bench_models.py's protocol)."""
    from akmamba.nn import build_model

    torch.manual_seed(0)
    model = build_model("akmamba", 3, 2, base_channels=base, scan_backend=backend).to(DEV).eval()
    set_path(model, backend, fused)
    size = (36, 35) if DRY_RUN else (584, 565)
    x = torch.randn(1, 3, *size, device=DEV)
    with torch.inference_mode(), amp_context():
        return cuda_median_ms(lambda: model(x), min_reps=10, max_reps=20)


# -- CPU ------------------------------------------------------------------------------------------------------------


def cpu_row(row: dict[str, int], name: str) -> float:
    """Seconds for one block forward under inference_mode on path ``name`` (run in a child process)."""
    backend, fused = CPU_PATHS[name]
    block = make_block(row["C"], "cpu", backend, fused).eval()
    x = torch.randn(row["batch"], row["C"], row["H"], row["W"])
    small = torch.randn(1, row["C"], 8, 8)
    with torch.inference_mode():
        return cpu_median_s(lambda: block(x), warm_up=lambda: block(small))


def cpu_model_row(base: int, name: str) -> float:
    """Seconds for Akmamba-Net's forward at 1x3x584x565 under inference_mode on path ``name`` (child process)."""
    from akmamba.nn import build_model

    backend, fused = CPU_PATHS[name]
    torch.manual_seed(0)
    model = build_model("akmamba", 3, 2, base_channels=base, scan_backend=backend).eval()
    set_path(model, backend, fused)
    x = torch.randn(1, 3, 584, 565)
    small = torch.randn(1, 3, 20, 20)
    with torch.inference_mode():
        return cpu_median_s(lambda: model(x), warm_up=lambda: model(small))


def cpu_profile(row: dict[str, int]) -> list[str]:
    """Where the fused block's forward time goes at one shape: torch.profiler's self CPU time per op, with the
    fused kernel call (SS2D -> cross_selective_scan) wrapped in a record_function (child process)."""
    from torch.profiler import ProfilerActivity, profile, record_function

    def timed(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
        def wrapped(*args: Any, **kwargs: Any) -> torch.Tensor:
            with record_function("fused numba scan kernel"):
                return fn(*args, **kwargs)

        return wrapped

    # SS2D calls the kernel through the dispatcher, or directly when it folds dt_proj into the kernel
    for name in ("cross_selective_scan", "cross_selective_scan_numba"):
        setattr(ss2d_module, name, timed(getattr(ss2d_module, name)))
    block = make_block(row["C"], "cpu", *CPU_PATHS["fused numba"]).eval()
    x = torch.randn(row["batch"], row["C"], row["H"], row["W"])
    with torch.inference_mode():
        block(x)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(PROFILE_REPS):
                block(x)
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    lines = ["| op | self CPU ms per forward | share |", "|---|---|---|"]
    for e in events[:10]:
        ms = e.self_cpu_time_total / 1e3 / PROFILE_REPS
        lines.append(f"| `{e.key}` | {ms:.1f} | {e.self_cpu_time_total / total:.0%} |")
    lines.append(f"| total | {total / 1e3 / PROFILE_REPS:.1f} | 100% |")
    return lines


def run_cell(args: list[str]) -> float | str:
    """Run this script's child mode with ``args``; its last stdout line is the result (seconds)."""
    cmd = [sys.executable, __file__, "--device", "cpu", *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()
        return f"failed (rc {exc.returncode}{': ' + tail[-1][:80] if tail else ''})"


def _cell(v: float | str) -> str:
    return f"{v:.3f}" if isinstance(v, float) else v


def _ratio(num: float | str, den: float | str) -> float | None:
    return num / den if isinstance(num, float) and isinstance(den, float) else None


def bench_cpu(
    rows: list[dict[str, int]],
    budget_s: float,
    model_bases: list[int],
    profile_row: dict[str, int],
    publish: Callable[[list[str]], None],
) -> list[str]:
    """All CPU tables; ``publish`` gets the text so far after every row (a killed run keeps its rows)."""
    t_start = time.perf_counter()
    lines = [
        "## Mamba-out block forward under inference_mode, float32",
        "",
        "Seconds, median of up to 3 runs after a warm-up on an 8x8 map (one run once runs pass 10 s); every "
        "cell in its own process. `torch` and `numba` are SS2D's unfused path with that scan backend; "
        f"`fused numba` is its fused path with the Numba four-direction kernel. Target: torch / fused numba >= "
        f"{CPU_TARGET:g}x.",
        "",
        "| base | level | batch, C, H x W | torch s | numba s | fused numba s | torch / numba | torch / fused numba "
        "| 3x met? |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    # batch 1 first, then larger batches from the cheapest row up (more rows fit the budget)
    order = sorted(rows, key=lambda r: (r["batch"] > 1, r["batch"] * r["C"] * r["H"] * r["W"] if r["batch"] > 1 else 0))
    skipped = []
    for row in order:
        label = f"{row['batch']}, {row['C']}, {row['H']}x{row['W']}"
        if time.perf_counter() - t_start > budget_s:
            skipped.append(label)
            continue
        res: dict[str, float | str] = {}
        for name in CPU_PATHS:
            res[name] = run_cell(["--single", json.dumps([row, name])])
            print(f"[cpu] {label} {name}: {res[name]}", file=sys.stderr, flush=True)
        old, new = _ratio(res["torch"], res["numba"]), _ratio(res["torch"], res["fused numba"])
        met = "-" if new is None else ("yes" if new >= CPU_TARGET else "no")
        lines.append(
            f"| {row['base']} | {row['level']} | {label} | {_cell(res['torch'])} | {_cell(res['numba'])} "
            f"| {_cell(res['fused numba'])} | {'-' if old is None else f'{old:.2f}x'} "
            f"| {'-' if new is None else f'{new:.2f}x'} | {met} |"
        )
        publish(lines)
    if skipped:
        lines += ["", f"Not run (time budget of {budget_s:.0f} s spent): {'; '.join(skipped)}"]
    label = f"{profile_row['batch']}, {profile_row['C']}, {profile_row['H']}x{profile_row['W']}"
    lines += [
        "",
        f"## Where the fused block's time goes ({label}, base {profile_row['base']} level {profile_row['level']})",
        "",
        f"torch.profiler over {PROFILE_REPS} forwards after a warm-up; self CPU time per op and forward.",
        "",
    ]
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--device", "cpu", "--profile-single", json.dumps(profile_row)],
            capture_output=True,
            text=True,
            check=True,
        )
        lines += [ln for ln in out.stdout.splitlines() if ln.startswith("|")]
    except subprocess.CalledProcessError as exc:
        lines.append(f"failed (rc {exc.returncode})")
    publish(lines)
    lines += [
        "",
        "## Akmamba-Net forward at 1x3x584x565 under inference_mode, float32",
        "",
        "Seconds, as above (warm-up on 20x20); default model options but base_channels.",
        "",
        "| model | torch s | numba s | fused numba s | torch / numba | torch / fused numba |",
        "|---|---|---|---|---|---|",
    ]
    for base in model_bases:
        res = {name: run_cell(["--single-model", json.dumps([base, name])]) for name in CPU_PATHS}
        print(f"[cpu model] base {base}: {res}", file=sys.stderr, flush=True)
        old, new = _ratio(res["torch"], res["numba"]), _ratio(res["torch"], res["fused numba"])
        lines.append(
            f"| akmamba (base {base}) | {_cell(res['torch'])} | {_cell(res['numba'])} | {_cell(res['fused numba'])} "
            f"| {'-' if old is None else f'{old:.2f}x'} | {'-' if new is None else f'{new:.2f}x'} |"
        )
        publish(lines)
    return lines


# -- main -----------------------------------------------------------------------------------------------------------


def device_name(device: str) -> str:
    if device == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name()
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text(encoding="utf-8").splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()}, {torch.get_num_threads()} threads"
    return platform.processor() or platform.machine()


def versions() -> str:
    parts = [f"torch {torch.__version__}", f"Python {platform.python_version()}"]
    for mod in ("triton", "mamba_ssm", "numba"):
        try:
            parts.append(f"{mod} {__import__(mod).__version__}")
        except Exception:  # noqa: BLE001
            parts.append(f"{mod} absent")
    return ", ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, help="also write the markdown to this file")
    parser.add_argument("--bases", default="32,16", help="comma list of base_channels (default 32,16)")
    parser.add_argument("--batches", default="1,8", help="comma list of batch sizes (default 1,8)")
    parser.add_argument("--levels", default="1,2,3,4", help="comma list of levels 1..4 (1 = full resolution)")
    parser.add_argument("--model-bases", default="32,16", help="Akmamba-Net widths for the end-to-end rows")
    parser.add_argument(
        "--profile",
        default="32,2,1",
        help="CPU: base,level,batch of the shape whose fused block is profiled (default 32,2,1)",
    )
    parser.add_argument(
        "--budget-s", type=float, default=240.0, help="stop starting new rows after this many seconds (default 240)"
    )
    parser.add_argument("--amp", choices=["none", "bf16"], default="none",
                        help="CUDA: time under bf16 autocast, as akmamba train runs on CUDA (default none: float32)")
    parser.add_argument("--single", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--single-model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--profile-single", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="run the --device cuda code path on tiny CPU shapes in Triton's interpreter (a smoke "
        "test of this script; the timings mean nothing)",
    )
    args = parser.parse_args(argv)
    if args.single:  # child processes of the CPU mode: one cell, seconds on stdout
        row, name = json.loads(args.single)
        print(cpu_row(row, name))
        return
    if args.single_model:
        base, name = json.loads(args.single_model)
        print(cpu_model_row(base, name))
        return
    if args.profile_single:
        print("\n".join(cpu_profile(json.loads(args.profile_single))))
        return
    if args.device == "cuda" and not torch.cuda.is_available() and not args.dry_run:
        parser.error("--device cuda: CUDA is not available on this machine")
    if args.amp != "none" and args.device != "cuda":
        parser.error(f"--amp {args.amp}: only with --device cuda (the CPU tables time inference in float32)")
    global AMP_DTYPE
    AMP_DTYPE = torch.bfloat16 if args.amp == "bf16" else None
    ints = [[int(v) for v in s.split(",") if v] for s in (args.bases, args.batches, args.levels, args.model_bases)]
    rows = shapes(ints[0], ints[1], ints[2])
    if args.dry_run:
        from akmamba.ops.selective_scan import triton_cross

        rows = [dict(r, H=max(2, r["H"] // 32), W=max(2, r["W"] // 32), C=min(r["C"], 8)) for r in rows]
        triton_cross.LAUNCH_OVERRIDES.update(fwd_block_d=16, bwd_block_d=16)  # few interpreted programs
    header = [
        f"# Mamba-out block with each scan path on {args.device.upper()} (issue 7)",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- {versions()}",
        f"- device: {device_name(args.device)}",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}",
        *([f"- precision: {precision()}"] if args.device == "cuda" else []),
        "- shapes: Akmamba-Net's skips on 584x565 padded to 592x576; level l has C = base * 2**(l-1) channels on "
        "592/2**(l-1) x 576/2**(l-1); SS2D E = 2C, N = 16",
        f"- unfused paths (mamba_ssm, triton, torch): projection form `{ss2d_module.UNFUSED_PROJ_FORM}` "
        "(akmamba.nn.blocks.ss2d.unfused_proj_form)",
        "",
    ]

    def publish(body: list[str], final: bool = False) -> None:
        text = "\n".join(header + body + ([] if final else ["", "(partial: the run was still going)"])) + "\n"
        report.publish(text, args.out, echo=final)

    if args.device == "cuda":
        body = bench_cuda(rows, args.budget_s, ints[3], publish)
    else:
        base, level, batch = (int(v) for v in args.profile.split(","))
        body = bench_cpu(rows, args.budget_s, ints[3], shapes([base], [batch], [level])[0], publish)
    publish(body, final=True)


if __name__ == "__main__":
    main()
