"""Static look at the fused cross-scan kernels as compiled for an H100 (sm_90), without a GPU.

    python3 benchmarks/static_cross_kernels.py [--out docs/benchmarks/static_cross_kernels_sm90.md]

Triton compiles ahead of time for a named target with the ptxas, cuobjdump and nvdisasm it ships, so the kernels'
machine code can be read on any machine. For each backward variant (channels per program, warps) and, for
reference, the forward kernel, this prints:

- registers per thread and spill bytes (ptxas -v): at 255 registers a 4-warp program leaves room for two programs
  per multiprocessor (65,536 registers), i.e. 8 warps to hide latency;
- the static SASS instruction counts that matter for a scan: warp shuffles (SHFL), special-function ops (MUFU:
  exp2, reciprocal), shared-memory loads and stores (LDS, STS, layout conversions and cross-warp scans), barriers
  (BAR), global loads (LDG), stores (STG) and atomic adds (REDG), and the total;
- the same per element-state of a tile (count x warps / (BLOCK_D x NP x T)): the kernels are straight-line code
  per tile inside one loop over tiles, so this approximates the warp-instructions each (channel, state, token)
  costs;
- the layout Triton chose for the 3-D tile (sizePerThread, threadsPerWarp, warpsPerCTA).

These are counts, not times: they say which variants do less of what the H100 profile found expensive, not how
fast they run. The sweep on the GPU (benchmarks/sweep_cross_scan.py) decides. (Two backward designs this script
counted, a tokens-first tile layout and a_{t+1} by a gather shift, had fewer instructions per element in some
settings but were 9-44 % and 16-27 % slower on an H100, and were removed; docs/benchmarks/sweep_cross_scan_h100.md.)
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import triton
from report import publish
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from akmamba.ops.selective_scan import _triton_cross_kernels as kernels

TARGET = GPUTarget("cuda", 90, 32)
TOOLS = Path(triton.__file__).parent / "backends" / "nvidia" / "bin"
OPS = ("SHFL", "MUFU", "LDS", "STS", "BAR", "LDG", "STG", "REDG")
COMMON = dict(NP=16, T=32, HAS_D=True, HAS_DBIAS=True, SOFTPLUS=True, ATOMIC_MERGE=True)
#: label -> (kernel, constexprs, warps); the backward ones are the main pass (no chunk summary) with dB/dC atomics
VARIANTS: dict[str, tuple[Any, dict[str, Any], int]] = {
    "forward, 8 ch (shipped)": (kernels.cross_fwd_kernel, dict(BLOCK_D=8, SAVE_STATES=True, HAS_H0=False,
                                                               SUMMARY=False), 4),
}
for bd, warps in ((2, 4), (4, 4), (4, 8), (8, 4), (8, 8)):
    shipped = " (shipped)" if (bd, warps) == (4, 4) else ""
    VARIANTS[f"backward, {bd} ch, {warps} warps{shipped}"] = (
        kernels.cross_bwd_kernel, dict(BLOCK_D=bd, BC_ATOMIC=True, HAS_G0=False, SUMMARY=False), warps)


def compile_for_sm90(fn: Any, constexprs: dict[str, Any], warps: int) -> Any:
    """Triton's compiled kernel for sm_90: pointers as fp32, every other runtime argument i32."""
    names = fn.arg_names
    consts = {**COMMON, **constexprs}
    consts = {k: v for k, v in consts.items() if k in names}
    signature = {n: "constexpr" if n in consts else ("*fp32" if n.endswith("_ptr") else "i32") for n in names}
    source = ASTSource(fn=fn, signature=signature, constexprs={(names.index(k),): v for k, v in consts.items()})
    return triton.compile(source, target=TARGET, options={"num_warps": warps})


def inspect_kernel(compiled: Any) -> dict[str, Any]:
    """Registers, spills, SASS op counts and the 3-D tile layout of one compiled kernel."""
    with tempfile.TemporaryDirectory() as tmp:
        cubin, ptx = Path(tmp) / "k.cubin", Path(tmp) / "k.ptx"
        cubin.write_bytes(compiled.asm["cubin"])
        ptx.write_text(compiled.asm["ptx"])
        sass = subprocess.run([str(TOOLS / "cuobjdump"), "-sass", str(cubin)], capture_output=True, text=True,
                              check=True).stdout
        info = subprocess.run([str(TOOLS / "ptxas"), "-arch=sm_90a", "-v", str(ptx), "-o", os.devnull],
                              capture_output=True, text=True, check=True).stderr
    ops = collections.Counter(m.group(1).split(".")[0] for m in
                              re.finditer(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)", sass))
    regs = re.search(r"Used (\d+) registers", info)
    spill = re.search(r"(\d+) bytes spill stores", info)
    layouts = re.findall(r"#ttg\.blocked<\{(sizePerThread = \[\d+, \d+, \d+\][^}]*)\}>", compiled.asm["ttgir"])
    return {"regs": int(regs.group(1)) if regs else -1, "spill": int(spill.group(1)) if spill else -1,
            "ops": ops, "total": sum(ops.values()), "layout": layouts[0] if layouts else "-"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=None, help="also write the tables here (markdown)")
    p.add_argument("--only", default="", help="semicolon-separated variant labels (default: all)")
    args = p.parse_args(argv)
    if kernels.INTERPRETED:
        p.error("TRITON_INTERPRET is set: the kernels are interpreted, not compiled; unset it")
    chosen = [v for v in args.only.split(";") if v] or list(VARIANTS)
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown:
        p.error(f"--only: unknown variants {unknown}; known: {list(VARIANTS)}")
    lines = [f"# Fused cross-scan kernels compiled for sm_90 (static; triton {triton.__version__})", "",
             "- command: `python3 benchmarks/static_cross_kernels.py --out docs/benchmarks/"
             "static_cross_kernels_sm90.md`", "- compiled ahead of time on a machine without a GPU; NP 16, T 32, "
             "D, delta_bias and softplus on, atomic merge, dB/dC by atomics", "",
             "Static counts in the compiled code (per program; straight-line per tile, so per tile), then per "
             "element-state of a tile (x warps / (BLOCK_D x NP x T)).", "",
             "| kernel | registers | spill bytes | " + " | ".join(OPS) + " | total | SHFL / elem | MUFU / elem | "
             "LDS+STS / elem | total / elem |",
             "|---|---|---|" + "---|" * (len(OPS) + 5)]
    layouts = ["", "## Layout of the 3-D tile (first 3-D blocked layout in the TTGIR)", "",
               "| kernel | layout |", "|---|---|"]
    for label in chosen:
        fn, consts, warps = VARIANTS[label]
        t0 = time.perf_counter()
        r = inspect_kernel(compile_for_sm90(fn, consts, warps))
        per = warps / (consts["BLOCK_D"] * COMMON["NP"] * COMMON["T"])
        ops = r["ops"]
        lines.append(f"| {label} | {r['regs']} | {r['spill']} | " + " | ".join(str(ops[o]) for o in OPS)
                     + f" | {r['total']} | {ops['SHFL'] * per:.2f} | {ops['MUFU'] * per:.3f} | "
                     f"{(ops['LDS'] + ops['STS']) * per:.2f} | {r['total'] * per:.2f} |")
        layouts.append(f"| {label} | {r['layout']} |")
        print(lines[-1], f"({time.perf_counter() - t0:.1f} s)", file=sys.stderr, flush=True)
    text = "\n".join([*lines, *layouts]) + "\n"
    publish(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
