"""GUI responsiveness on CPU, offscreen: brush stamp to screen, and event-loop stalls while loading and segmenting.

1. Brush: a 2048 x 2048 RGB image, brush radius 10; 300 real mouse-move events along a stroke. Each is timed
   from the event until the overlay has *painted* (``LabelOverlayItem.paint_count`` grows), i.e. it reached the
   window's backing store. Target p95 <= 16 ms. For contrast, the same stamps with a whole-image re-render per
   stamp (``pg.ImageItem.setImage`` of the label plane, what ``ImageItem.drawAt`` does).
2. Stalls: a 10 ms QTimer records the longest gap between its ticks while (a) the image is opened (read in a
   worker) and (b) a model segments it (GeneratorWorker over ``Predictor.iter_predict``). Target <= 50 ms.

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui_brush.py --out docs/benchmarks/gui_cpu.md``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets
from report import publish

SIZE = 2048
STAMPS = 300


class GapMeter(QtCore.QObject):
    """Longest interval between ticks of a 10 ms timer (an event-loop stall shows up as a long gap)."""

    def __init__(self) -> None:
        super().__init__()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._on_tick)
        self.gaps: list[float] = []
        self._last = 0.0

    def start(self) -> None:
        self.gaps, self._last = [], time.perf_counter()
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        return max(self.gaps, default=0.0) * 1000

    def _on_tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now


def wait_until(app: QtWidgets.QApplication, done, timeout: float = 600.0) -> None:
    deadline = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step timed out")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 5)


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def brush_latencies(app, window, points, full_rerender: bool) -> list[float]:
    """Milliseconds from each mouse move until the overlay painted it."""
    view, overlay = window.view, window.view.overlay
    extra = pg.ImageItem(axisOrder="row-major") if full_rerender else None
    if extra is not None:  # the naive path: re-render the whole label plane on every stamp
        lut = window.session.lut()
        extra.setLookupTable(lut)
        view.viewbox.addItem(extra)
        plane = window.session.label_map.array
        window.session.labels_changed.connect(
            lambda _b: extra.setImage(plane, levels=(0, 255), autoLevels=False))
    view.send_mouse("press", *points[0])
    view.send_mouse("move", points[1][0], points[1][1])  # pyqtgraph starts the drag after a few pixels
    app.processEvents()
    times = []
    last, dropped = time.perf_counter(), 0
    for x, y in points[2:]:
        for _attempt in range(20):
            # pyqtgraph drops mouse moves closer than 10 ms to the previous one it handled (mouseRateLimit =
            # 100/s; QGraphicsView's own replayed moves count too), as it would a real mouse's; wait out that
            # interval (not timed) and resend a dropped move, timing the move that stamps.
            while time.perf_counter() - last < 0.011:
                app.processEvents()
            before = overlay.paint_count
            t0 = last = time.perf_counter()
            view.send_mouse("move", x, y)
            try:
                wait_until(app, lambda b=before: overlay.paint_count > b, 0.05)
            except TimeoutError:
                dropped += 1
                continue
            times.append((time.perf_counter() - t0) * 1000)
            break
    view.send_mouse("release", *points[-1])
    app.processEvents()
    if extra is not None:
        view.viewbox.removeItem(extra)
    if dropped:
        print(f"{dropped} moves dropped by pyqtgraph's rate limit were resent")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the Markdown table here")
    parser.add_argument("--stamps", type=int, default=STAMPS)
    args = parser.parse_args()

    import torch

    from akmamba.demo import fundus_demo
    from akmamba.io import write_image
    from akmamba.nn import build_model, save_checkpoint
    from app.main_window import MainWindow
    from app.settings import Settings
    from app.views.edit_controller import Tool

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    tmp = Path(tempfile.mkdtemp(prefix="bench_gui_"))
    image_path = tmp / "fundus_2048.png"
    write_image(fundus_demo(size=SIZE).image, image_path)
    torch.manual_seed(0)
    ckpt = tmp / "bench-unet.safetensors"
    save_checkpoint(build_model("unet", 3, 2, base_channels=8, depth=3), ckpt,
                    metadata={"normalisation": "zscore", "version": "bench"})

    window = MainWindow(Settings(tmp / "s.ini"), tmp / "journals", probe=False, restore_policy="discard")
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    meter = GapMeter()
    rows = []

    meter.start()
    t0 = time.perf_counter()
    window.open_path(image_path)
    wait_until(app, lambda: window.session.has_case)
    app.processEvents()
    load_s, load_gap = time.perf_counter() - t0, meter.stop()
    rows.append(("Open 2048x2048 RGB PNG (read in a worker)", f"{load_s * 1000:.0f} ms total", f"{load_gap:.1f}"))

    window.controller.set_tool(Tool.BRUSH)
    window.controller.set_radius(10)
    window.view.fit()
    # A serpentine stroke in 10-pixel steps (about 3.5 screen pixels at this zoom, so every move is a new
    # mouse position) with a gentle wave, so each stamp paints new pixels.
    points: list[tuple[float, float]] = []
    for row in range(20):
        xs = np.arange(200.0, SIZE - 200.0, 10.0)
        for x in xs if row % 2 == 0 else xs[::-1]:
            points.append((float(x), 500.0 + 150.0 * row + 20.0 * float(np.sin(x / 60))))
    points = points[: args.stamps + 2]
    dirty = brush_latencies(app, window, points, full_rerender=False)
    window.commands["undo"].trigger()
    full = brush_latencies(app, window, [(x, y + 60) for x, y in points], full_rerender=True)
    window.commands["undo"].trigger()

    meter.start()
    t0 = time.perf_counter()
    window.segment(str(ckpt), "cpu")
    wait_until(app, lambda: window.session.pending is not None or window.last_error)
    seg_s, seg_gap = time.perf_counter() - t0, meter.stop()
    if window.last_error:
        raise RuntimeError(window.last_error)
    window.session.dirty = False
    window.close()

    lines = [
        "# GUI responsiveness on CPU (offscreen)",
        "",
        f"`python benchmarks/bench_gui_brush.py` on {platform.machine()} with {os.cpu_count()} cores "
        f"(shared), Python {platform.python_version()}, PySide6 {QtCore.qVersion()}, pyqtgraph {pg.__version__}, "
        f"torch {torch.__version__}; `QT_QPA_PLATFORM=offscreen`, window 1400 x 900, image {SIZE} x {SIZE} RGB.",
        "",
        "## Brush stamp until it is painted (300 mouse moves, radius 10 px)",
        "",
        "| overlay update | p50 ms | p95 ms | max ms | target |",
        "|---|---|---|---|---|",
        f"| dirty rectangle into an Indexed8 QImage (the viewer) | {pct(dirty, 50):.2f} | {pct(dirty, 95):.2f} | "
        f"{max(dirty):.2f} | p95 <= 16 ms: {'met' if pct(dirty, 95) <= 16 else 'MISSED'} |",
        f"| whole label plane re-rendered per stamp (`ImageItem.setImage`, for contrast) | {pct(full, 50):.2f} | "
        f"{pct(full, 95):.2f} | {max(full):.2f} | - |",
        "",
        "## Event-loop stalls (longest gap of a 10 ms timer; target <= 50 ms)",
        "",
        "| operation | duration | max gap ms |",
        "|---|---|---|",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
        f"| Segment 2048x2048 RGB, random U-Net (base 8, depth 3), 512 px tiles, CPU, GeneratorWorker | "
        f"{seg_s:.1f} s | {seg_gap:.1f} |",
        "",
        f"Stamp latency: mouse event -> pyqtgraph scene dispatch -> `LabelMap.paint_line` -> dirty-rectangle copy "
        f"-> Qt repaint of that rectangle ({statistics.mean(dirty):.2f} ms mean). pyqtgraph handles at most 100 "
        "mouse moves per second (`mouseRateLimit`); the benchmark paces its moves accordingly and times only the "
        "move that stamps.",
        "",
        "What keeps the stalls down: the file is read, its display window computed and its label map and journal "
        "created in the loading worker; 8-bit images shown at levels 0-255 skip pyqtgraph's whole-image rescale; "
        "an empty overlay is not drawn; the thresholded preview of a two-class result needs no argmax; window/level "
        "drags are coalesced to one re-render per event-loop pass.",
    ]
    text = "\n".join(lines) + "\n"
    publish(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
