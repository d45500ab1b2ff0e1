"""benchmarks/static_cross_kernels.py: the fused kernels compile for sm_90 without a GPU and their machine code is
counted (skipped where Triton is absent)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")


def test_shipped_backward_compiles_for_sm90_and_is_counted() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import static_cross_kernels as sk

    fn, consts, warps = sk.VARIANTS["backward, tokens last, 4 ch, 4 warps (shipped)"]
    r = sk.inspect_kernel(sk.compile_for_sm90(fn, consts, warps))
    assert 0 < r["regs"] <= 255
    assert r["ops"]["SHFL"] > 0  # the token axis lies along the lanes: the scans shuffle
    assert r["ops"]["MUFU"] > 0  # exp2
    assert r["ops"]["REDG"] > 0  # du and dB/dC atomic adds
    assert r["layout"].startswith("sizePerThread = [1, 1, 1], threadsPerWarp = [1, 1, 32]")
    fn, consts, warps = sk.VARIANTS["backward, tokens first, 4 ch, 4 warps"]
    tm = sk.inspect_kernel(sk.compile_for_sm90(fn, consts, warps))
    assert "threadsPerWarp = [1, 2, 16]" in tm["layout"]  # tokens off the lanes
    assert tm["ops"]["SHFL"] < r["ops"]["SHFL"]
