"""Why the fused four-direction scan is slower under bf16 autocast than under float32 (issue 7), on CUDA.

Under ``--amp bf16`` (docs/benchmarks/mambaout_cuda_bf16.md) the fused op took about twice its float32 time at the
same shapes, as long as with every input made NCHW-contiguous, while mamba_ssm's path got faster. This probe prints,
for a few of Akmamba-Net's skip shapes and both precisions:

1. the layouts SS2D hands ``cross_selective_scan`` (x, delta, B, C: shape, dtype, strides; whether x is
   channels-last), with ``ss2d.FUSED_X_CHANNELS_LAST`` off, i.e. x as the depthwise conv returns it;
2. the fused op, forward / forward+backward ms, on those tensors with x as handed, x made channels-last, and x made
   NCHW-contiguous (delta, B, C unchanged);
3. the whole Mamba-out block (benchmarks/bench_mambaout.py's timing) with ``FUSED_X_CHANNELS_LAST`` off and on,
   beside the unfused mamba_ssm path where it loads.

    python benchmarks/probe_fused_layout.py --out docs/benchmarks/probe_fused_layout_cuda.md
    python benchmarks/probe_fused_layout.py --dry-run      # the code path on tiny CPU shapes (Triton interpreter)
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_mambaout as bm
import torch

from akmamba.nn.blocks import ss2d as ss2d_module

#: base, level, batch of the probed skips (both batch sizes, full resolution and a deep level)
DEFAULT_ROWS = "32,1,1;32,1,8;16,1,8;16,3,8;32,4,1"


def describe(t: torch.Tensor) -> str:
    """Shape, dtype and strides of ``t`` in one cell."""
    return f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')} {tuple(t.stride())}"


def x_format(x: torch.Tensor) -> str:
    """Which memory format a 4-D x is in: channels-last, NCHW, or neither."""
    if x.is_contiguous(memory_format=torch.channels_last):
        return "channels-last"
    return "NCHW" if x.is_contiguous() else "other"


def cell(r: tuple[float, float]) -> str:
    return f"{r[0]:.2f} / {r[1]:.2f}"


def probe_row(row: dict[str, int], amp: torch.dtype | None, with_mamba: bool) -> tuple[str, str]:
    """(layout line, timing line) of one shape at one precision."""
    bm.AMP_DTYPE = amp
    prec = bm.precision()
    label = f"{row['batch']}, {row['C']}, {row['H']}x{row['W']}"
    x = torch.randn(row["batch"], row["C"], row["H"], row["W"], device=bm.DEV)
    keep = ss2d_module.FUSED_X_CHANNELS_LAST
    try:
        ss2d_module.FUSED_X_CHANNELS_LAST = False
        block = bm.make_block(row["C"], bm.DEV, "triton", True)
        args, kwargs = bm.capture_scan_args(block, x)
        xs, dts, _a, bs, cs = args[:5]
        layout = (f"| {label} | {prec} | {x_format(xs)} {describe(xs)} | {describe(dts)} | {describe(bs)} | "
                  f"{describe(cs)} |")
        rest = args[1:]
        op_as = bm.op_timings_cuda(args, kwargs, "fused_triton")
        op_cl = bm.op_timings_cuda((xs.contiguous(memory_format=torch.channels_last), *rest), kwargs, "fused_triton")
        op_nchw = bm.op_timings_cuda((xs.contiguous(), *rest), kwargs, "fused_triton")
        bm.empty_cache()
        blocks = []
        for flag in (False, True):
            ss2d_module.FUSED_X_CHANNELS_LAST = flag
            bm.set_path(block, "triton", True)
            blocks.append(bm.block_timings_cuda(block, x))
            bm.empty_cache()
        mamba = "-"
        if with_mamba:
            try:
                mamba = cell(bm.block_timings_cuda(bm.make_block(row["C"], bm.DEV, bm.CUDA_PATHS["mamba_ssm"][0],
                                                                 False), x))
            except Exception as exc:  # noqa: BLE001  (report and go on)
                mamba = f"failed: {type(exc).__name__}"
            bm.empty_cache()
        timing = (f"| {label} | {prec} | {cell(op_as)} | {cell(op_cl)} | {cell(op_nchw)} | {cell(blocks[0])} | "
                  f"{cell(blocks[1])} | {mamba} |")
    finally:
        ss2d_module.FUSED_X_CHANNELS_LAST = keep
    return layout, timing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=DEFAULT_ROWS, help=f"base,level,batch;... (default {DEFAULT_ROWS})")
    parser.add_argument("--no-mamba", action="store_true", help="leave out the mamba_ssm block column")
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
    layouts = ["| batch, C, H x W | precision | x (format, shape, dtype, strides) | delta | B | C |",
               "|---|---|---|---|---|---|"]
    timings = ["| batch, C, H x W | precision | op, x as handed | op, x channels-last | op, x NCHW | "
               "block, FUSED_X_CHANNELS_LAST off | block, on | block, mamba_ssm path |",
               "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for amp in (None, torch.bfloat16):
            layout, timing = probe_row(row, amp, with_mamba=not args.no_mamba and not args.dry_run)
            layouts.append(layout)
            timings.append(timing)
            print(layout, timing, sep="\n", file=sys.stderr, flush=True)
    text = "\n".join([
        "# Fused scan inputs' layouts under float32 and bf16 autocast (issue 7)", "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- {bm.versions()}",
        f"- device: {bm.device_name('cuda' if not args.dry_run else 'cpu')}",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='minutes')}", "",
        "## What SS2D hands the fused op (x as the depthwise conv returns it)", "", *layouts, "",
        "## Fused op and Mamba-out block, ms forward / forward+backward (CUDA-event medians)", "",
        "`op, x ...`: cross_selective_scan(backend='fused_triton') on the captured tensors with x as handed, made "
        "channels-last, or made NCHW-contiguous. `block`: pre-LN + SS2D + residual on the fused path with "
        "ss2d.FUSED_X_CHANNELS_LAST off and on; the unfused mamba_ssm path beside it.", "", *timings, "",
    ])
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
