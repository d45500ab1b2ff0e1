"""Sweep the fused cross-scan's launch settings on CUDA: tile, channels per program, warps and chunks.

For a few Mamba-out skip shapes it captures the exact tensors SS2D's fused path passes to ``cross_selective_scan``
(as bench_mambaout.py does), then times the op (forward under no_grad, and forward+backward) with the default
settings, with each variant in ``VARIANTS`` (triton_cross.LAUNCH_OVERRIDES and PROGRAMS_PER_SM), and the unfused
composition with mamba_ssm's kernel for reference. CUDA-event medians after warm-up (compile times excluded).
The table tells which defaults to keep in triton_cross._geometry.

    python benchmarks/sweep_cross_scan.py --out $OUT/sweep_cross_scan.md
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_mambaout import (
    PADDED,
    capture_scan_args,
    device_name,
    empty_cache,
    make_block,
    op_timings_cuda,
    versions,
)
from report import publish

from akmamba.ops.selective_scan import triton_cross

#: label -> settings of triton_cross for the variant: "LAUNCH_OVERRIDES" (dict) and any module constant
#: (PROGRAMS_PER_SM, CHUNK_BELOW_PER_SM, CUDA_FWD_BLOCK_D, CUDA_BWD_BLOCK_D)
VARIANTS: dict[str, dict[str, Any]] = {
    "no chunks": {"LAUNCH_OVERRIDES": {"fwd_chunks": 1, "bwd_chunks": 1}},
    "chunk below 4/SM": {"CHUNK_BELOW_PER_SM": 4},
    "8 programs/SM": {"PROGRAMS_PER_SM": 8},
    "T 64": {"LAUNCH_OVERRIDES": {"tile": 64}},
    "fwd 16 ch": {"CUDA_FWD_BLOCK_D": 16},
    "fwd 16 ch 8 warps": {"CUDA_FWD_BLOCK_D": 16, "LAUNCH_OVERRIDES": {"fwd_warps": 8}},
    "fwd 4 ch": {"CUDA_FWD_BLOCK_D": 4},
    "bwd 2 ch": {"CUDA_BWD_BLOCK_D": 2},
    "bwd 8 ch": {"CUDA_BWD_BLOCK_D": 8},
    "bwd 8 ch 8 warps": {"CUDA_BWD_BLOCK_D": 8, "LAUNCH_OVERRIDES": {"bwd_warps": 8}},
    "bwd 16 ch 8 warps": {"CUDA_BWD_BLOCK_D": 16, "LAUNCH_OVERRIDES": {"bwd_warps": 8}},
    "bwd 4 ch 8 warps": {"LAUNCH_OVERRIDES": {"bwd_warps": 8}},
    "bwd 4 ch 2 warps": {"LAUNCH_OVERRIDES": {"bwd_warps": 2}},
}
ROWS = [  # batch, C (SS2D E = 2C), level (1 = 592x576)
    (1, 16, 1),
    (8, 16, 1),
    (1, 64, 3),
    (8, 64, 3),
    (1, 128, 4),
    (1, 256, 4),
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--budget-s", type=float, default=200.0, help="stop starting new cells after this")
    parser.add_argument("--variants", default="", help="comma list of VARIANTS labels (default: all)")
    parser.add_argument("--no-mamba", dest="mamba", action="store_false", help="skip the mamba_ssm column")
    args = parser.parse_args(argv)
    names = [v for v in args.variants.split(",") if v] or list(VARIANTS)
    t0 = time.perf_counter()
    lines = [
        "# Fused cross-scan launch sweep (CUDA)",
        "",
        f"- command: `python {' '.join(sys.argv)}`",
        f"- {versions()}",
        f"- device: {device_name('cuda')}",
        "",
        "ms, forward / forward+backward of the op on SS2D's tensors (float32, N 16). `unfused mamba_ssm` = "
        "cross_scan copies + mamba_ssm kernel + cross_merge.",
        "",
        "| batch, C, H x W | unfused mamba_ssm | default | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    constants = ("PROGRAMS_PER_SM", "CHUNK_BELOW_PER_SM", "CUDA_FWD_BLOCK_D", "CUDA_BWD_BLOCK_D")
    saved = {name: getattr(triton_cross, name) for name in constants}
    for batch, c, level in ROWS:
        f = 2 ** (level - 1)
        h, w = PADDED[0] // f, PADDED[1] // f
        label = f"{batch}, {c}, {h}x{w}"
        x = torch.randn(batch, c, h, w, device="cuda")
        block = make_block(c, "cuda", "triton", True)
        scan_args, kwargs = capture_scan_args(block, x)
        del block
        cells: list[str] = []

        def timed(settings: dict[str, Any], backend: str = "fused_triton",
                  scan_args: Any = scan_args, kwargs: Any = kwargs) -> str:
            if time.perf_counter() - t0 > args.budget_s:
                return "(budget)"
            triton_cross.LAUNCH_OVERRIDES.clear()
            triton_cross.LAUNCH_OVERRIDES.update(settings.get("LAUNCH_OVERRIDES", {}))
            for name in constants:
                setattr(triton_cross, name, settings.get(name, saved[name]))
            try:
                fwd, both = op_timings_cuda(scan_args, kwargs, backend)
                return f"{fwd:.2f} / {both:.2f}"
            except Exception as exc:  # noqa: BLE001  (a failing variant is a result too)
                traceback.print_exc()
                return f"failed: {type(exc).__name__}"
            finally:
                triton_cross.LAUNCH_OVERRIDES.clear()
                for name in constants:
                    setattr(triton_cross, name, saved[name])
                empty_cache()

        cells.append(timed({}, backend="mamba_ssm") if args.mamba else "-")
        cells.append(timed({}))
        for name in names:
            cells.append(timed(VARIANTS[name]))
            print(f"{label} {name}: {cells[-1]}", file=sys.stderr, flush=True)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        publish("\n".join(lines) + "\n", args.out, echo=False)
        del scan_args, kwargs, x
    print("\n".join(lines))


if __name__ == "__main__":
    main()
