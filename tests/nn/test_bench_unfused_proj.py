"""benchmarks/bench_unfused_proj.py times both projection forms of SS2D's unfused path and leaves the setting as
it found it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from akmamba.nn.blocks import ss2d as ss2d_module

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_unfused_proj.py"


def _load():
    sys.path.insert(0, str(BENCH.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_unfused_proj", BENCH)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH.parent))


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
