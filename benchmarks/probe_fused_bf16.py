"""Why the fused four-direction scan is slower with bf16 inputs than with float32 ones (issue 7), on CUDA.

Under ``--amp bf16`` (docs/benchmarks/mambaout_cuda_bf16.md) the fused op took about twice its float32 time at the
same shapes although it reads half the bytes. The first probe (docs/benchmarks/probe_fused_layout_cuda.md) ruled out
x's memory format: SS2D hands the op the same strides in both precisions (x channels-last, delta / B / C pixel-major
views) and making x channels-last changed nothing. This probe narrows it down, per skip shape:

1. the op, forward / forward+backward ms (CUDA events), on SS2D's captured float32 tensors; on its captured bf16
   tensors; on the bf16 tensors cast to float32 inside the timed call (strides kept; what an upcast in the op's
   wrapper would cost); on float32 tensors with one input group in bf16 (x; delta; B and C), which input's
   dtype makes the kernel slow; and on bf16 tensors with delta in float32 (ss2d.FUSED_DELTA_FLOAT32, the fix);
2. the compiled fused kernels (one per input dtype signature): registers per thread, spilled registers, shared memory;
3. the CUDA kernels of one forward of the op in each precision (torch.profiler): where the extra time goes;
4. the whole Mamba-out block under bf16 autocast with ss2d.FUSED_DELTA_FLOAT32 off and on, beside mamba_ssm's path.

    python benchmarks/probe_fused_bf16.py --out docs/benchmarks/probe_fused_bf16_cuda.md
    python benchmarks/probe_fused_bf16.py --dry-run      # the code path on tiny CPU shapes (Triton interpreter)
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_mambaout as bm
import torch
from report import publish

from akmamba.nn.blocks import ss2d as ss2d_module

#: base, level, batch of the probed skips (both batch sizes at full resolution and a deep level)
DEFAULT_ROWS = "32,1,1;32,1,8;16,3,8;32,4,1"
#: input groups of cross_selective_scan's positional arguments (x, delta, A, B, C)
GROUPS = {"x": (0,), "delta": (1,), "B, C": (3, 4)}


def cast_keep_strides(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``t`` in ``dtype`` with ``t``'s exact strides (``Tensor.to`` makes a non-dense view such as SS2D's B and C
    contiguous, which would change the kernel's access pattern). Differentiable."""
    out = torch.empty_strided(t.shape, t.stride(), dtype=dtype, device=t.device)
    return out.copy_(t)


def op_ms(args: Sequence[Any], kwargs: dict[str, Any], prep: Callable[[list[Any]], list[Any]] | None = None
          ) -> tuple[float, float]:
    """(forward ms, forward+backward ms) of the fused op; ``prep`` (timed with it) maps the inputs first. Calls the
    kernel's wrapper directly: cross_selective_scan's input check refuses most of the dtype mixes timed here (it
    allows only delta in float32 beside lower-precision inputs), which the kernels take."""
    from akmamba.ops.selective_scan.triton_cross import cross_selective_scan_fused as fused

    prep = prep or (lambda a: a)
    leaves = [cast_keep_strides(a, a.dtype).requires_grad_() for a in args]
    params = {k: (v.clone().requires_grad_() if isinstance(v, torch.Tensor) else v) for k, v in kwargs.items()}
    g = torch.randn(args[0].shape, device=args[0].device).to(args[0].dtype)

    def fwd() -> None:
        with torch.no_grad():
            fused(*prep(list(args)), **kwargs)

    def both() -> None:
        fused(*prep(list(leaves)), **params).backward(g)

    return bm.cuda_median_ms(fwd), bm.cuda_median_ms(both)


def cast_at(args: Sequence[Any], where: tuple[int, ...], dtype: torch.dtype) -> list[Any]:
    """``args`` with the positions ``where`` cast to ``dtype`` (strides kept)."""
    return [cast_keep_strides(a, dtype) if i in where else a for i, a in enumerate(args)]


def upcast(args: list[Any]) -> list[Any]:
    """x, delta, B, C cast to float32 with their strides (A is float32 already)."""
    return cast_at(args, (0, 1, 3, 4), torch.float32)


def cell(r: tuple[float, float]) -> str:
    return f"{r[0]:.2f} / {r[1]:.2f}"


def capture(row: dict[str, int], amp: torch.dtype | None) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """SS2D's fused-path inputs for one skip shape, captured under ``amp`` (None: float32)."""
    bm.AMP_DTYPE = amp
    x = torch.randn(row["batch"], row["C"], row["H"], row["W"], device=bm.DEV)
    block = bm.make_block(row["C"], bm.DEV, "triton", True)
    return bm.capture_scan_args(block, x)


def label(row: dict[str, int]) -> str:
    return f"{row['batch']}, {row['C']}, {row['H']}x{row['W']}"


def timing_row(row: dict[str, int]) -> str:
    """One table line: the op on float32, bf16, bf16 upcast, float32 with each group in bf16, and bf16 with a
    float32 delta (what SS2D hands it with ss2d.FUSED_DELTA_FLOAT32)."""
    keep = ss2d_module.FUSED_DELTA_FLOAT32
    try:
        ss2d_module.FUSED_DELTA_FLOAT32 = False  # capture delta in bf16 under autocast
        f_args, f_kw = capture(row, None)
        b_args, b_kw = capture(row, torch.bfloat16)
    finally:
        ss2d_module.FUSED_DELTA_FLOAT32 = keep
    cells = [op_ms(f_args, f_kw), op_ms(b_args, b_kw), op_ms(b_args, b_kw, upcast)]
    cells += [op_ms(cast_at(f_args, where, torch.bfloat16), f_kw) for where in GROUPS.values()]
    cells.append(op_ms(cast_at(b_args, GROUPS["delta"], torch.float32), b_kw))
    bm.empty_cache()
    return f"| {label(row)} | " + " | ".join(cell(c) for c in cells) + " |"


def block_row(row: dict[str, int]) -> str:
    """One table line: the Mamba-out block under bf16 autocast, fused path with FUSED_DELTA_FLOAT32 off and on, and
    the unfused mamba_ssm path (where it loads), ms forward / forward+backward."""
    bm.AMP_DTYPE = torch.bfloat16
    x = torch.randn(row["batch"], row["C"], row["H"], row["W"], device=bm.DEV)
    block = bm.make_block(row["C"], bm.DEV, "triton", True)
    keep = ss2d_module.FUSED_DELTA_FLOAT32
    cells = []
    try:
        for flag in (False, True):
            ss2d_module.FUSED_DELTA_FLOAT32 = flag
            cells.append(cell(bm.block_timings_cuda(block, x)))
            bm.empty_cache()
    finally:
        ss2d_module.FUSED_DELTA_FLOAT32 = keep
    try:
        mamba = bm.make_block(row["C"], bm.DEV, bm.CUDA_PATHS["mamba_ssm"][0], False)
        cells.append(cell(bm.block_timings_cuda(mamba, x)))
    except Exception as exc:  # noqa: BLE001  (report and go on: mamba_ssm absent or failing)
        cells.append(f"failed: {type(exc).__name__}")
    bm.empty_cache()
    return f"| {label(row)} | " + " | ".join(cells) + " |"


def compiled_kernels() -> list[str]:
    """Registers, spills and shared memory of every compiled fused-scan kernel variant (table lines)."""
    from akmamba.ops.selective_scan import _triton_cross_kernels as kernels

    lines = ["| kernel | pointer dtypes (x, delta, B, C) | constexprs | registers / thread | spilled | shared bytes |",
             "|---|---|---|---|---|---|"]
    for name in ("cross_fwd_kernel", "cross_bwd_kernel"):
        fn = getattr(kernels, name)
        for cache in getattr(fn, "device_caches", {}).values():
            for compiled in cache[0].values():
                compiled = compiled.result() if hasattr(compiled, "result") else compiled  # an async compile
                sig = getattr(getattr(compiled, "src", None), "signature", {}) or {}
                consts = getattr(getattr(compiled, "src", None), "constants", {}) or {}
                ptrs = ", ".join(str(sig.get(p, "?")) for p in ("x_ptr", "dt_ptr", "B_ptr", "C_ptr"))
                keep = ("BLOCK_D", "T", "SUMMARY", "HAS_H0", "HAS_G0", "SAVE_STATES")
                named = {fn.arg_names[k[0]] if isinstance(k, tuple) else k: v for k, v in consts.items()}
                const = " ".join(f"{k}={named[k]}" for k in keep if k in named)
                meta = getattr(compiled, "metadata", None)
                line = (f"| {name} | {ptrs} | {const} | {getattr(compiled, 'n_regs', '?')} | "
                        f"{getattr(compiled, 'n_spills', '?')} | {getattr(meta, 'shared', '?')} |")
                if line not in lines:
                    lines.append(line)
    if len(lines) == 2:  # the second H100 run found none (cause not found); say so rather than print a bare header
        lines.append("| (none found in Triton's per-device caches) | | | | | |")
    return lines


def kernel_profile(row: dict[str, int]) -> list[str]:
    """Device time per kernel of one forward of the op, float32 and bf16 inputs (ms per call)."""
    from profile_mambaout_cuda import _device_time, _is_kernel
    from torch.profiler import ProfilerActivity, profile

    from akmamba.ops import cross_selective_scan

    lines = ["| inputs | kernel | ms per forward | calls per forward |", "|---|---|---|---|"]
    for name, amp in (("float32", None), ("bf16 autocast, as SS2D hands it", torch.bfloat16)):
        args, kwargs = capture(row, amp)
        with torch.no_grad():
            cross_selective_scan(*args, **kwargs, backend="fused_triton")
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(3):
                    cross_selective_scan(*args, **kwargs, backend="fused_triton")
                torch.cuda.synchronize()
        for e in sorted((e for e in prof.key_averages() if _is_kernel(e)), key=_device_time, reverse=True)[:5]:
            lines.append(f"| {name} | {e.key[:60]} | {_device_time(e) / 3e3:.2f} | {e.count / 3:g} |")
        bm.empty_cache()
    return lines


def guarded(section: Callable[[], list[str]]) -> list[str]:
    """A section's lines, or one line saying why it failed (Triton's and torch's internals move between versions;
    the timing table above must still be written)."""
    try:
        return section()
    except Exception as exc:  # noqa: BLE001  (reported in the output)
        return [f"(failed: {type(exc).__name__}: {exc})"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=DEFAULT_ROWS, help=f"base,level,batch;... (default {DEFAULT_ROWS})")
    parser.add_argument("--out", type=Path, help="also write the markdown to this file")
    parser.add_argument("--dry-run", action="store_true",
                        help="tiny CPU shapes, kernels in Triton's interpreter (a smoke test; timings mean nothing)")
    args = parser.parse_args(argv)
    if not args.dry_run and not torch.cuda.is_available():
        parser.error("CUDA is not available on this machine (use --dry-run for a smoke test)")
    rows = []
    for spec in args.rows.split(";"):
        base, level, batch = (int(v) for v in spec.split(","))
        rows += bm.shapes([base], [batch], [level])
    if args.dry_run:
        from akmamba.ops.selective_scan import triton_cross

        rows = [dict(r, H=8, W=6, C=4) for r in rows[:1]]  # the interpreter is slow
        triton_cross.LAUNCH_OVERRIDES.update(fwd_block_d=16, bwd_block_d=16)
    timings = ["| batch, C, H x W | float32 | bf16 | bf16 cast to float32 (timed) | float32, x bf16 | "
               "float32, delta bf16 | float32, B and C bf16 | bf16, delta float32 |", "|---" * 8 + "|"]
    blocks = ["| batch, C, H x W | fused, FUSED_DELTA_FLOAT32 off | fused, on | mamba_ssm path |", "|---|---|---|---|"]
    for row in rows:
        timings.append(timing_row(row))
        print(timings[-1], file=sys.stderr, flush=True)
        if not args.dry_run:
            blocks.append(block_row(row))
            print(blocks[-1], file=sys.stderr, flush=True)
    kernels = guarded(compiled_kernels) if not args.dry_run else ["(not in the interpreter)"]
    profiled = guarded(lambda: kernel_profile(rows[0])) if not args.dry_run else ["(not in the interpreter)"]
    text = "\n".join([
        "# The fused scan with bf16 inputs (issue 7)", "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- {bm.versions()}",
        f"- device: {bm.device_name('cuda' if not args.dry_run else 'cpu')}",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}", "",
        "## cross_selective_scan(backend='fused_triton'), ms forward / forward+backward (CUDA-event medians)", "",
        "Inputs as SS2D hands them (strides kept in every cast). `bf16 cast to float32`: the cast is inside the "
        "timed call, as an upcast in the op's wrapper would be. `bf16, delta float32`: what SS2D hands the op "
        "under autocast with ss2d.FUSED_DELTA_FLOAT32.", "", *timings, "",
        "## Mamba-out block (pre-LN + SS2D + residual) under bf16 autocast, ms forward / forward+backward", "",
        *blocks, "",
        "## Compiled fused kernels", "", *kernels, "",
        f"## CUDA kernels of one forward, {timings[2].split(' | ')[0].lstrip('| ')}", "", *profiled, "",
    ])
    publish(text, args.out)


if __name__ == "__main__":
    main()
