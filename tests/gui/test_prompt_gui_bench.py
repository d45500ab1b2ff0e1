"""benchmarks/bench_prompt_gui.py's event path, so the benchmark does not rot: its real mouse events to the viewer's
image view make each gesture's prompts, the preview is painted and reaches the screen grab, and its timings add up
(offscreen, a tiny random prompt-aware model)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PySide6 import QtWidgets

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_prompt_gui as bench


def test_benchmark_gestures_paint_their_preview(grey_png: Path, prompt_checkpoint: Path, tmp_path: Path) -> None:
    app, window, probe = bench.open_window(grey_png, prompt_checkpoint, tmp_path / "bench", size=(1000, 700))
    try:
        rows = []
        for gesture in bench.GESTURES:
            run = bench.measure(app, window, probe, gesture, timeout_s=30)  # raises unless the view made gesture.kinds
            assert 0 < run["library"] < run["total"]
            assert min(run["to_worker"], run["hand_off"]) >= 0
            assert run["draw"] > 0
            assert run["painted"] <= run["total"] <= run["grab"]
            parts = run["to_worker"] + run["library"] + run["hand_off"] + run["draw"]
            assert parts <= run["total"] + 1e-3  # the parts lie inside the total (the job's own overhead aside)
            np.testing.assert_array_equal(window.view.overlay.pixels(), window.session.preview[1])
            assert run["preview_px"] > 0
            del run["prompts"]
            rows.append({"model": "tiny", "gesture": gesture.name, "runs": [run], "alone": [0.01],
                         "warmup": run["total"]})
            if gesture.before:  # the converted-like model answers the same: nothing new to see on screen
                continue
            # a first prompt turns the empty overlay into the preview: the screen shows it at every sampled pixel
            assert run["checked"] > 50
            assert run["changed"] == run["checked"]
        text = bench.report([{"platform": app.platformName(), "rows": rows, "load_before": (0, 0, 0),
                              "load_after": (0, 0, 0), "torch": "x", "torch_threads": 1, "qt": "x",
                              "screen": [1, 1]}], grey_png.name, 1, ["bench_prompt_gui.py"])
        assert text.count("| tiny |") == len(bench.GESTURES)
    finally:
        window.controller.drop_prompts()
        bench.settle(app, window)
        window.session.dirty = False
        window.close()
        probe.restore()
        QtWidgets.QApplication.processEvents()
