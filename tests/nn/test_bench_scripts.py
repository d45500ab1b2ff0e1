"""Benchmark scripts that change a setting of SS2D while they time it leave it as they found it:
benchmarks/bench_unfused_proj.py (both projection forms of SS2D's unfused path) and
benchmarks/probe_fused_layout.py (the fused op with x in three memory formats, the block with
ss2d.FUSED_X_CHANNELS_LAST off and on; its GPU work is faked here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from akmamba.nn.blocks import ss2d as ss2d_module

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str = "bench_unfused_proj"):
    """Import ``benchmarks/<name>.py`` (with benchmarks/ on sys.path for its own imports)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_times_both_forms_and_restores_the_setting(monkeypatch) -> None:
    bench = _load()
    monkeypatch.setattr(ss2d_module, "UNFUSED_PROJ_FORM", "copies")
    seen = []
    real = ss2d_module.SS2D._forward_core

    def spy(self, x):
        seen.append(ss2d_module.UNFUSED_PROJ_FORM)
        return real(self, x)

    monkeypatch.setattr(ss2d_module.SS2D, "_forward_core", spy)
    t = bench.time_forms(4, 1, 6, 5, "cpu", "torch", reps=2)
    assert set(t) == {"copies", "pixels"}
    assert all(len(v) == 2 and all(ms > 0 for ms in v) for v in t.values())
    # warm-up plus two reps, forward and forward+backward, alternating the forms
    assert seen == ["copies", "copies", "pixels", "pixels"] * 3
    assert ss2d_module.UNFUSED_PROJ_FORM == "copies"


def test_probe_row_times_each_layout_and_both_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _load("probe_fused_layout")
    bm = probe.bm
    monkeypatch.setattr(ss2d_module, "FUSED_X_CHANNELS_LAST", True)
    monkeypatch.setattr(bm, "DEV", "cpu")
    x = torch.randn(1, 8, 4, 3)  # NCHW-contiguous, as a conv might return it
    dts = torch.randn(1, 4, 8, 4, 3)
    bc = torch.randn(1, 4, 2, 4, 3)
    monkeypatch.setattr(bm, "capture_scan_args", lambda block, x_in: ((x, dts, torch.zeros(8, 2), bc, bc), {}))
    op_x, flags = [], []
    monkeypatch.setattr(bm, "op_timings_cuda", lambda args, kwargs, backend: (op_x.append(args[0]), (1.0, 2.0))[1])
    monkeypatch.setattr(bm, "block_timings_cuda",
                        lambda block, x_in: (flags.append(ss2d_module.FUSED_X_CHANNELS_LAST), (3.0, 4.0))[1])
    row = {"base": 4, "level": 1, "batch": 1, "C": 4, "H": 4, "W": 3}
    layout, timing = probe.probe_row(row, None, with_mamba=False)
    assert layout.startswith("| 1, 4, 4x3 | float32 | NCHW (1, 8, 4, 3) float32 (96, 12, 3, 1) |")
    assert [probe.x_format(t) for t in op_x] == ["NCHW", "channels-last", "NCHW"]  # as handed, made cl, made NCHW
    assert flags == [False, True]
    assert timing == "| 1, 4, 4x3 | float32 | 1.00 / 2.00 | 1.00 / 2.00 | 1.00 / 2.00 | 3.00 / 4.00 | 3.00 / 4.00 | - |"
    assert ss2d_module.FUSED_X_CHANNELS_LAST is True  # restored
