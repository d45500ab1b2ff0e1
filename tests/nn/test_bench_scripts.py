"""Benchmark scripts that change a setting of SS2D while they time it leave it as they found it:
benchmarks/bench_unfused_proj.py (both projection forms of SS2D's unfused path) and
benchmarks/probe_fused_bf16.py (the fused op with float32, bf16 and mixed inputs, the block with
ss2d.FUSED_DELTA_FLOAT32 off and on; its GPU work is faked here)."""

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


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch):
    """benchmarks/probe_fused_bf16.py, its device set to the CPU."""
    module = _load("probe_fused_bf16")
    monkeypatch.setattr(module.bm, "DEV", "cpu")
    return module


def test_bf16_probe_times_each_dtype_mix_and_restores_the_setting(probe, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ss2d_module, "FUSED_DELTA_FLOAT32", True)
    captured_with = []

    def fake_capture(row, amp):
        captured_with.append((amp, ss2d_module.FUSED_DELTA_FLOAT32))
        dt = amp or torch.float32
        x = torch.randn(1, 8, 4, 3).to(dt)
        dts = torch.randn(1, 4, 3, 4, 8).permute(0, 3, 4, 1, 2).to(dt)  # pixel-major, as SS2D hands it
        bc = torch.randn(1, 4, 3, 4, 2).permute(0, 3, 4, 1, 2).to(dt)
        return (x, dts, torch.zeros(32, 2), bc, bc), {}

    seen = []

    def fake_op_ms(args, kwargs, prep=None):
        args = (prep or list)(list(args))
        seen.append(tuple(str(a.dtype).removeprefix("torch.") for a in args[:2] + args[3:5]))
        return 1.0, 2.0

    monkeypatch.setattr(probe, "capture", fake_capture)
    monkeypatch.setattr(probe, "op_ms", fake_op_ms)
    line = probe.timing_row({"base": 4, "level": 1, "batch": 1, "C": 4, "H": 4, "W": 3})
    assert captured_with == [(None, False), (torch.bfloat16, False)]  # delta captured in bf16 under autocast
    f, b = "float32", "bfloat16"
    assert seen == [(f, f, f, f), (b, b, b, b), (f, f, f, f), (b, f, f, f), (f, b, f, f), (f, f, b, b), (b, f, b, b)]
    assert line == "| 1, 4, 4x3 |" + " 1.00 / 2.00 |" * 7
    assert ss2d_module.FUSED_DELTA_FLOAT32 is True  # restored


def test_bf16_probe_block_row_times_both_settings(probe, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ss2d_module, "FUSED_DELTA_FLOAT32", False)
    flags = []
    monkeypatch.setattr(probe.bm, "block_timings_cuda",
                        lambda block, x: (flags.append(ss2d_module.FUSED_DELTA_FLOAT32), (3.0, 4.0))[1])
    line = probe.block_row({"base": 4, "level": 1, "batch": 1, "C": 4, "H": 4, "W": 3})
    assert flags == [False, True, False]  # off, on, then the mamba_ssm block under the restored setting
    assert line == "| 1, 4, 4x3 | 3.00 / 4.00 | 3.00 / 4.00 | 3.00 / 4.00 |"
    assert ss2d_module.FUSED_DELTA_FLOAT32 is False


def test_bf16_probe_casts_keep_strides(probe) -> None:
    base = torch.randn(2, 3, 4, 4, 34, requires_grad=True)
    view = base[..., 2:18].permute(0, 3, 4, 1, 2)  # SS2D's B: a non-dense view of x_proj's output
    cast = probe.cast_keep_strides(view, torch.bfloat16)
    assert cast.stride() == view.stride()
    assert cast.dtype == torch.bfloat16
    assert view.to(torch.bfloat16).stride() != view.stride()  # what Tensor.to would have done
    torch.testing.assert_close(cast.float(), view, atol=1e-2, rtol=1e-2)
    cast.float().sum().backward()
    assert base.grad is not None
    assert base.grad[..., 2:18].eq(1).all()


def test_latency_bench_dry_run_prints_whole_beside_tiled(monkeypatch: pytest.MonkeyPatch, capsys, tmp_path) -> None:
    """benchmarks/bench_latency.py in its quick mode: a shipped model on a small synthetic image, whole (one
    forward) beside the old tiled path (six 16-pixel tiles), the table printed and written, and the tiling
    setting it changes for the tiled rows restored."""
    from akmamba.infer import tiling

    bench = _load("bench_latency")
    whole_max, threads = tiling.WHOLE_MAX_PIXELS, torch.get_num_threads()
    out = tmp_path / "latency.md"
    monkeypatch.setattr(sys, "argv", ["bench_latency.py", "--models", "unet-drive", "--size", "32x24", "--roi-size",
                                      "16", "--repeats", "1", "--threads", "1",
                                      "--in-process", "--out", str(out)])
    bench.main()
    printed = capsys.readouterr().out
    assert whole_max == tiling.WHOLE_MAX_PIXELS
    assert torch.get_num_threads() == threads
    assert "| model | image | whole (s) | whole CPU time (s) | old 16-tiled (s) | tiles | tiled / whole |" in printed
    row = next(line for line in printed.splitlines() if line.startswith("| unet-drive | 32x24 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert all(float(c.split()[0]) >= 0 for c in cells[2:5])  # seconds, two decimals (0.00 for so small an image)
    assert float(cells[6].removesuffix("x")) > 0  # tiled / whole, from the unrounded times
    assert cells[5] == "6"  # the old path cut 32x24 into 3 x 2 tiles of 16 (overlap 0.25); shipped: one forward
    assert cells[7] in ("yes", "by CPU time", "no")
    progress = [line.split() for line in printed.splitlines() if line.startswith("unet-drive ")]
    assert [(p[2], p[-1]) for p in progress] == [("whole", "1"), ("tiled", "6")]  # mode, forwards counted
    assert out.read_text() in printed + "\n"
    assert "Load average" in out.read_text()


def test_latency_bench_table_marks_images_that_fit_one_tile() -> None:
    bench = _load("bench_latency")
    r = {"s": 0.5, "times": [0.6, 0.5, 0.4], "cpu_s": 0.9, "tiles": 1, "shape": [584, 565, 3], "peak_mib": 300.0,
         "predict_mib": 120.0}
    t = {**r, "s": 3.0, "times": [3.0, 2.5, 3.5], "cpu_s": 5.0, "tiles": 4, "peak_mib": 350.0, "predict_mib": 170.0}
    slow = {**r, "s": 4.0, "times": [4.0], "cpu_s": 1.9, "shape": [512, 512]}
    lines = bench.table([("m", "big", "whole", r), ("m", "big", "tiled", t), ("m", "small", "whole", slow),
                         ("n", "big", "whole", r)], 512)
    assert lines[2] == "| m | big | 0.50 (0.40) | 0.90 | 3.00 (2.50) | 4 | 6.00x | yes | 300 / 350 | 120 / 170 |"
    assert lines[3] == "| m | small | 4.00 (4.00) | 1.90 | same (one tile) | 1 | 1.0x | by CPU time | 300 | 120 |"
    assert lines[4] == "| n | big | 0.50 (0.40) | 0.90 | not run | - | - | yes | 300 | 120 |"  # --modes whole
    assert bench.verdict(2.5, 2.1) == "no"
