"""benchmarks/static_cross_kernels.py: the fused kernels compile for sm_90 without a GPU and their machine code is
counted (skipped where Triton is absent). It runs in a subprocess: other tests set TRITON_INTERPRET=1 in this one,
which makes the kernels interpreted rather than compiled."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")


def test_backward_kernels_compile_for_sm90_and_are_counted() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    shipped, eight = "backward, 4 ch, 4 warps (shipped)", "backward, 8 ch, 8 warps"
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "static_cross_kernels.py"), "--only",
                          f"{shipped};{eight}"], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    counts, layouts = res.stdout.split("## Layout")
    rows = {line.split(" | ")[0].lstrip("| "): line.split(" | ") for line in counts.splitlines()
            if line.startswith("| backward")}
    head = next(line for line in res.stdout.splitlines() if line.startswith("| kernel | registers")).split(" | ")
    col = {name.strip("| "): i for i, name in enumerate(head)}
    for label in (shipped, eight):
        cells = rows[label]
        assert 0 < int(cells[col["registers"]]) <= 255
        assert int(cells[col["MUFU"]]) > 0  # exp2
        assert int(cells[col["REDG"]]) > 0  # du and dB/dC atomic adds
    # twice the channels per program: about twice the straight-line code per tile, so more shuffles
    assert int(rows[eight][col["SHFL"]]) > int(rows[shipped][col["SHFL"]])
    # the token axis lies along a warp's 32 lanes
    assert "threadsPerWarp = [1, 1, 32]" in layouts.split(shipped)[1].splitlines()[0]
    with_interpreter = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "static_cross_kernels.py")],
                                      capture_output=True, text=True, env={**env, "TRITON_INTERPRET": "1"}, timeout=600)
    assert with_interpreter.returncode == 2
    assert "unset it" in with_interpreter.stderr
