"""Prompt latency in the real viewer on CPU: from the mouse event to the preview painted on screen.

The viewer's main window (``app.main_window.MainWindow``) opens a real 512 x 512 bladder MRI slice, the Prompt tool
is selected and a prompt-aware model made from a shipped checkpoint (``akmamba.prompt.model.convert_checkpoint``,
as benchmarks/bench_prompt.py does) is chosen in the Segment panel. For each gesture (one click, a third click
after two, a box drag, a Shift+drag scribble) real ``QMouseEvent``s go to the image view's viewport
(``SliceView.send_mouse``, the path of tests/gui), and the time runs from the event (the press of a click, the
release that ends a drag) until the overlay has painted the preview and the event loop has flushed the window's
backing store to the window system. The parts:

- *library*: ``PromptAnswer.seconds``, the worker's ``prompt_job`` (cached predictor + ``predict_prompts``);
- *to worker*: event dispatch, the tool's prompt bookkeeping, the request and the thread pool's start;
- *hand-off*: the worker's answer queued to the GUI thread, ``preview_plane`` and ``Session.set_preview``;
- *draw*: from ``set_preview`` to the end of the overlay's paint and the flush;
- *grab*: the same total, until a screen grab of the view (``QScreen.grabWindow``: on xcb the X server's pixels)
  has returned; the grab is compared with one taken before the event at the pixels the preview changed.

Each gesture runs once to warm up (model loaded and cached, as for a user's second prompt) and ``--repeats`` times
timed; the prompts are dropped between runs. Each ``--platforms`` entry runs in its own process (a QApplication's
platform is fixed); xcb needs an X server (``Xvfb :65 -screen 0 1600x1000x24 &`` and ``DISPLAY=:65``).

    DISPLAY=:65 python benchmarks/bench_prompt_gui.py --platforms xcb offscreen \
        --out docs/benchmarks/prompt_gui_cpu.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

SLICE = Path("/work/shared/data/BladderMRI/Images/20-IM454.png")
LIMIT_S = 1.5  # issue 24: per prompt on the 2-core CPU, from the click to the preview on screen
_LEFT = QtCore.Qt.MouseButton.LeftButton
_SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
_NONE = QtCore.Qt.KeyboardModifier.NoModifier


@dataclass(frozen=True)
class Gesture:
    """A timed prompt: ``before`` clicks (untimed, each preview awaited), then a click (one point) or a drag through
    ``points``; view points ``(x, y)`` in pixels of the 512 x 512 design, scaled to the image shown."""

    name: str
    points: tuple[tuple[float, float], ...]
    before: tuple[tuple[float, float], ...] = ()
    modifiers: QtCore.Qt.KeyboardModifier = _NONE
    kinds: tuple[str, ...] = ("Click",)


# On 20-IM454 the bladder wall lies near rows 160-250, columns 195-325.
GESTURES = (
    Gesture("1 click", ((270.5, 200.5),)),
    Gesture("3rd click (after 2)", ((270.5, 212.5),), before=((250.5, 195.5), (290.5, 205.5)),
            kinds=("Click", "Click", "Click")),
    Gesture("box (drag)", ((235.5, 170.5), (270.5, 195.5), (310.5, 225.5)), kinds=("Box",)),
    Gesture("scribble (Shift+drag)", ((245.5, 185.5), (258.5, 200.5), (272.5, 210.5), (290.5, 214.5)),
            modifiers=_SHIFT, kinds=("Scribble",)),
)


def scaled(points: tuple[tuple[float, float], ...], shape: tuple[int, int]) -> list[tuple[float, float]]:
    """``points`` of the 512 x 512 design at the same place of an ``(H, W)`` image (pixel centres kept)."""
    h, w = shape
    return [(np.floor(x * w / 512) + 0.5, np.floor(y * h / 512) + 0.5) for x, y in points]


class Probe(QtCore.QObject):
    """Timestamps along the viewer's own prompt path, without changing it: the worker's job (module function
    ``app.prompt_tool.prompt_job``, looked up when each worker starts), ``Session.set_preview`` (instance
    attribute) and the end of ``LabelOverlayItem.paint`` (class attribute, which Qt calls by name)."""

    def __init__(self, window: QtWidgets.QMainWindow) -> None:
        super().__init__()
        import app.prompt_tool as prompt_tool
        from app.views.overlay import LabelOverlayItem

        self.window = window
        self.jobs: dict[int, dict[str, float]] = {}
        self.t_set: float | None = None
        self.t_paint: float | None = None
        self._armed = False
        self._loop: QtCore.QEventLoop | None = None
        job = prompt_tool.prompt_job

        def timed_job(request: Any, cache: Any) -> Any:
            import torch

            t0 = time.perf_counter()
            answer = job(request, cache)
            self.jobs[request.seq] = {"start": t0, "end": time.perf_counter(), "threads": torch.get_num_threads()}
            return answer

        prompt_tool.prompt_job = timed_job
        paint = LabelOverlayItem.paint
        self._originals = [(prompt_tool, "prompt_job", job), (LabelOverlayItem, "paint", paint)]

        def timed_paint(item: Any, painter: Any, option: Any, widget: Any = None) -> None:
            paint(item, painter, option, widget)
            if self._armed and item is window.view.overlay:
                self._armed = False
                self.t_paint = time.perf_counter()
                if self._loop is not None:
                    self._loop.quit()  # exec() returns once this event (paint, then flush) is done

        LabelOverlayItem.paint = timed_paint  # type: ignore[method-assign]
        session = window.session
        set_preview = session.set_preview

        def timed_set_preview(plane: np.ndarray | None) -> None:
            if plane is not None:
                self.t_set, self.t_paint, self._armed = time.perf_counter(), None, True
            set_preview(plane)

        session.set_preview = timed_set_preview

    def wait_painted(self, timeout_s: float = 300.0) -> float:
        """Run the event loop (idle, as the viewer's own) until the overlay painted a new preview; the time then."""
        if self.t_paint is None:
            self._loop = QtCore.QEventLoop()
            timer = QtCore.QTimer()
            timer.setSingleShot(True)
            timer.timeout.connect(self._loop.quit)
            timer.start(int(timeout_s * 1000))
            self._loop.exec()
            timer.stop()
            self._loop = None
        done = time.perf_counter()
        if self.t_paint is None:
            error = getattr(self.window, "last_error", "")
            raise TimeoutError(f"no preview painted within {timeout_s} s{': ' + error if error else ''}")
        return done

    def restore(self) -> None:
        """Put back the functions the probe wrapped."""
        for owner, name, original in self._originals:
            setattr(owner, name, original)

    def reset(self) -> None:
        self.t_set = self.t_paint = None
        self._armed = False


def settle(app: QtWidgets.QApplication, window: QtWidgets.QMainWindow, timeout_s: float = 300.0) -> None:
    """Let the running preview worker finish and the event loop drain (untimed)."""
    deadline = time.perf_counter() + timeout_s
    while window.prompter.worker is not None or window.prompter.queued is not None:
        if time.perf_counter() > deadline:
            raise TimeoutError("the prompt worker did not finish")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.005)
    for _ in range(3):
        app.processEvents()


def grab_view(window: QtWidgets.QMainWindow) -> np.ndarray:
    """``(h, w, 3)`` uint8 RGB of the image view's viewport as the screen holds it (``QScreen.grabWindow``)."""
    vp = window.view.viewport()
    origin = vp.mapTo(window, QtCore.QPoint(0, 0))
    pixmap = window.screen().grabWindow(window.winId(), origin.x(), origin.y(), vp.width(), vp.height())
    img = pixmap.toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    rows = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return rows[:, : 4 * img.width()].reshape(img.height(), img.width(), 4)[..., 2::-1].copy()  # BGRA -> RGB


def changed_on_screen(window: QtWidgets.QMainWindow, shown_before: np.ndarray, shown_after: np.ndarray,
                      grab_before: np.ndarray, grab_after: np.ndarray, samples: int = 400) -> tuple[int, int]:
    """Of the overlay pixels the preview changed (``shown_before != shown_after``, ``(H, W)`` label planes; up to
    ``samples`` of them), how many show another colour on screen after than before: ``(changed, checked)``."""
    ys, xs = np.nonzero(shown_before != shown_after)
    if ys.size == 0:
        return 0, 0
    pick = np.linspace(0, ys.size - 1, min(samples, ys.size)).astype(int)
    view, shape = window.view, shown_after.shape
    a = view.orientation.affine(shape)
    changed = checked = 0
    for y, x in zip(ys[pick], xs[pick], strict=True):
        vx, vy = a[:2, :2] @ (float(x) + 0.5, float(y) + 0.5) + a[:2, 2]
        w = view.viewportTransform().map(view.viewbox.mapViewToScene(QtCore.QPointF(float(vx), float(vy))))
        px, py = int(np.floor(w.x())), int(np.floor(w.y()))  # the screen pixel under the pixel's centre
        if 0 <= py < grab_after.shape[0] and 0 <= px < grab_after.shape[1]:
            checked += 1
            changed += bool((grab_before[py, px] != grab_after[py, px]).any())
    return changed, checked


def _pace(app: QtWidgets.QApplication, seconds: float) -> None:
    """Keep the event loop running for ``seconds`` (pyqtgraph drops mouse moves closer than 1 / mouseRateLimit)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()


def perform(app: QtWidgets.QApplication, window: QtWidgets.QMainWindow, points: list[tuple[float, float]],
            modifiers: QtCore.Qt.KeyboardModifier = _NONE) -> tuple[float, float]:
    """Deliver a click (one point) or a drag through ``points`` to the view; the wall and process CPU times at the
    event that makes the prompt (the press of a click, the release of a drag)."""
    import pyqtgraph as pg

    view = window.view
    if len(points) == 1:
        c0, t0 = time.process_time(), time.perf_counter()
        view.send_mouse("press", *points[0], button=_LEFT, modifiers=modifiers)
        view.send_mouse("release", *points[0], button=_LEFT, modifiers=modifiers)
        return t0, c0
    rate = float(pg.getConfigOption("mouseRateLimit") or 100)
    view.send_mouse("press", *points[0], button=_LEFT, modifiers=modifiers)
    for x, y in points[1:]:
        _pace(app, 1.05 / rate)
        view.send_mouse("move", x, y, button=_LEFT, modifiers=modifiers)
    _pace(app, 1.05 / rate)
    c0, t0 = time.process_time(), time.perf_counter()
    view.send_mouse("release", *points[-1], button=_LEFT, modifiers=modifiers)
    return t0, c0


def measure(app: QtWidgets.QApplication, window: QtWidgets.QMainWindow, probe: Probe, gesture: Gesture,
            on_shown: Callable[[], None] | None = None, timeout_s: float = 300.0) -> dict[str, Any]:
    """One timed run of ``gesture`` from no prompts; seconds of each part, and the on-screen check.

    ``on_shown`` is called once the preview is on screen (e.g. to save a screenshot); each wait for a preview
    gives up after ``timeout_s`` (TimeoutError)."""
    shape = window.session.image.array.shape[:2]
    window.controller.drop_prompts()
    settle(app, window, timeout_s)
    for point in scaled(gesture.before, shape):
        probe.reset()
        perform(app, window, [point])
        probe.wait_painted(timeout_s)
        settle(app, window, timeout_s)
    shown_before, grab_before = window.view.overlay.pixels(), grab_view(window)
    seq_before = window.prompter.seq
    probe.reset()
    t0, c0 = perform(app, window, scaled(gesture.points, shape), gesture.modifiers)
    flushed = probe.wait_painted(timeout_s)
    cpu = time.process_time() - c0
    grab_after = grab_view(window)
    grabbed = time.perf_counter()
    settle(app, window, timeout_s)
    answer, state = window.prompt_answer, window.controller.prompt
    if answer is None or answer.request.seq <= seq_before or state is None:
        raise RuntimeError(f"{gesture.name}: the preview painted is not the answer to this gesture")
    kinds = tuple(type(p).__name__ for p in state.prompts)
    if kinds != gesture.kinds:
        raise RuntimeError(f"{gesture.name}: the view made prompts {kinds}, expected {gesture.kinds}")
    shown_after = window.view.overlay.pixels()
    if not np.array_equal(shown_after, window.session.preview[1]):
        raise RuntimeError(f"{gesture.name}: the overlay does not hold the preview")
    job = probe.jobs[answer.request.seq]
    changed, checked = changed_on_screen(window, shown_before, shown_after, grab_before, grab_after)
    if on_shown is not None:
        on_shown()
    if probe.t_set is None or probe.t_paint is None:
        raise RuntimeError(f"{gesture.name}: no set_preview or paint recorded")
    return {"total": flushed - t0, "cpu": cpu, "library": answer.seconds, "to_worker": job["start"] - t0,
            "hand_off": probe.t_set - job["end"], "draw": flushed - probe.t_set, "painted": probe.t_paint - t0,
            "grab": grabbed - t0, "changed": changed, "checked": checked, "threads": job["threads"],
            "preview_px": int((window.session.preview[1] == answer.request.label).sum()),
            "prompts": list(state.prompts)}


def open_window(image: Path, model: Path, tmp: Path, size: tuple[int, int] = (1400, 900)) -> tuple[Any, Any, Probe]:
    """The viewer's main window, shown, with ``image`` open, ``model`` chosen and the Prompt tool on label 1."""
    from app.main_window import MainWindow
    from app.settings import Settings
    from app.views.edit_controller import Tool

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    QtCore.QStandardPaths.setTestModeEnabled(True)  # never the user's data folders
    window = MainWindow(Settings(tmp / "settings.ini"), tmp / "journals", probe=False, restore_policy="discard")
    window.cases.ask_unsaved = lambda _name: "discard"
    probe = Probe(window)
    window.resize(*size)
    window.show()
    deadline = time.perf_counter() + 60
    window.open_path(image)
    while not window.session.has_case:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{image} did not open: {getattr(window, 'last_error', '')}")
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 20)
    window.model_panel.add_checkpoint(model)
    window.commands["tool_prompt"].trigger()
    window.controller.set_label(1)
    if window.controller.tool is not Tool.PROMPT:
        raise RuntimeError("the Prompt tool did not take")
    for _ in range(5):
        app.processEvents()
    return app, window, probe


def library_alone(ckpt: Path, plane: np.ndarray, prompts: list[Any], repeats: int) -> list[float]:
    """Seconds of ``predict_prompts`` called directly on the main thread (no viewer), ``repeats`` times after a
    warm-up, at the same moment and in the same process: what benchmarks/bench_prompt.py times."""
    from akmamba.prompt.predictor import PromptPredictor

    predictor = _ALONE.get(str(ckpt)) or _ALONE.setdefault(str(ckpt), PromptPredictor.from_checkpoint(ckpt, "auto"))
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        predictor.predict_prompts(plane, prompts)
        if i:
            times.append(time.perf_counter() - t0)
    return times


_ALONE: dict[str, Any] = {}


def _screenshot(window: QtWidgets.QMainWindow, path: Path) -> Callable[[], None]:
    """A callback saving the window as the screen shows it to ``path``."""
    return lambda: window.screen().grabWindow(window.winId()).save(str(path)) or None


def run_platform(models: list[tuple[str, Path]], image: Path, repeats: int, shots: Path | None) -> dict[str, Any]:
    """All gestures for each model in this process's Qt platform; the raw timings."""
    import torch

    platform_name = QtWidgets.QApplication.platformName() if QtWidgets.QApplication.instance() else ""
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_prompt_gui_") as tmp:
        for name, ckpt in models:
            app, window, probe = open_window(image, ckpt, Path(tmp) / name)
            platform_name = app.platformName()
            for gesture in GESTURES:
                shot = None
                if shots is not None and gesture is GESTURES[0]:
                    shot = _screenshot(window, shots / f"{name}-{platform_name}.png")
                warm = measure(app, window, probe, gesture)  # warm-up (the first: loads the model)
                runs = [measure(app, window, probe, gesture, shot if i == repeats - 1 else None)
                        for i in range(repeats)]
                bare = library_alone(ckpt, window.session.image.array, runs[-1]["prompts"], repeats)
                for r in [warm, *runs]:
                    del r["prompts"]
                rows.append({"model": name, "gesture": gesture.name, "runs": runs, "alone": bare,
                             "warmup": warm["total"]})
                print(f"{platform_name} {name} {gesture.name}: median "
                      f"{statistics.median(r['total'] for r in runs):.3f} s", flush=True)
            window.controller.drop_prompts()
            settle(app, window)
            window.session.dirty = False
            window.close()
            probe.restore()
            _ALONE.clear()
            app.processEvents()
    return {"platform": platform_name, "rows": rows, "load_before": load_before, "load_after": os.getloadavg(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "qt": QtCore.qVersion(),
            "screen": list(QtWidgets.QApplication.primaryScreen().size().toTuple())}


def _ms(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):.0f}"


def report(results: list[dict[str, Any]], image: str, repeats: int, argv: list[str]) -> str:
    """The Markdown report of one run per platform."""
    import pyqtgraph as pg

    xcb = any(res["platform"] == "xcb" for res in results)
    display = f"DISPLAY={os.environ['DISPLAY']} " if xcb and os.environ.get("DISPLAY") else ""
    lines = [
        "# Prompt latency in the viewer on CPU (mouse event to preview on screen, 512 x 512 slice)",
        "",
        f"- command: `{display}python {' '.join(argv)}`"
        + (" (xcb: under `Xvfb :N -screen 0 1600x1000x24`)" if display else ""),
        f"- {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch "
        f"{results[0]['torch']} ({results[0]['torch_threads']} threads; the worker's count is in the table), "
        f"PySide6 {results[0]['qt']}, pyqtgraph {pg.__version__}; "
        f"date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- image: {image}, shown in the main window (1400 x 900) with the Prompt tool on label 1 (bladder_wall); "
        "models: prompt-aware copies of the shipped checkpoints (`convert_checkpoint`: zero guidance weights, "
        "so the time is a real model's but the preview does not depend on the prompts)",
        f"- median and max of {repeats} runs after one warm-up per gesture (the model is then cached, as for a "
        "user's second prompt); the prompts are dropped between runs",
        f"- target (issue 24): <= {LIMIT_S} s per prompt on this CPU, from the click to the preview on screen",
        "- columns: *total* = event -> the overlay's paint of the preview and the backing-store flush (the event "
        "loop idles meanwhile, as the viewer's); *library* = `PromptAnswer.seconds` (cached predictor + "
        "`predict_prompts`); *to worker* = event dispatch, prompt bookkeeping, request, thread-pool start; "
        "*hand-off* = answer queued to the GUI thread + `preview_plane`; *draw* = `set_preview` -> paint + flush; "
        "*+grab* = total until a `QScreen.grabWindow` of the view returned; *on screen* = of the overlay pixels "
        "the preview changed (sampled), how many differ on the grab from the grab before the event (min over runs); "
        "*library alone* = `predict_prompts` of the same prompts called on the main thread with no viewer, in the "
        "same process right after (what benchmarks/bench_prompt.py times), as a control for the machine's load; "
        "*CPU s* = the process's CPU time (all threads) over the total: divided by the worker's thread count it "
        "estimates the wall time on an idle machine; *all runs* = each timed run's total, in order; *warm-up* = the "
        "untimed first run's total (for a model's first gesture: the first click after choosing the Prompt tool, "
        "which loads the model and runs one forward in the background, a warm-up that `measure` lets finish first)",
    ]
    for res in results:
        lb, la = (", ".join(f"{v:.2f}" for v in res[k]) for k in ("load_before", "load_after"))
        lines += [
            "",
            f"## `QT_QPA_PLATFORM={res['platform']}`"
            + (f" (Xvfb, screen {res['screen'][0]} x {res['screen'][1]})" if res["platform"] == "xcb" else ""),
            "",
            f"load average (1, 5, 15 min) before: {lb}; after: {la}",
            "",
            "| model | prompt | total median (s) | total max (s) | library (ms) | to worker (ms) | hand-off (ms) | "
            f"draw (ms) | +grab (s) | on screen | worker threads | library alone (ms) | CPU s | all runs (s) | "
            f"warm-up (s) | <= {LIMIT_S} s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---|",
        ]
        for row in res["rows"]:
            runs = row["runs"]
            totals = [r["total"] for r in runs]
            checked = [r for r in runs if r["checked"]]
            screen = (f"{min(r['changed'] for r in checked)}/{checked[0]['checked']} px"
                      if checked else "same pixels as before")
            lines.append(
                f"| {row['model']} | {row['gesture']} | {statistics.median(totals):.2f} | {max(totals):.2f} | "
                f"{_ms([r['library'] for r in runs])} | {_ms([r['to_worker'] for r in runs])} | "
                f"{_ms([r['hand_off'] for r in runs])} | {_ms([r['draw'] for r in runs])} | "
                f"{statistics.median(r['grab'] for r in runs):.2f} | {screen} | {runs[0]['threads']} | "
                f"{_ms(row['alone'])} | {statistics.median(r['cpu'] for r in runs):.2f} | "
                f"{' '.join(f'{t:.2f}' for t in totals)} | {row['warmup']:.2f} | "
                f"{'yes' if max(totals) <= LIMIT_S else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["unet-bladder", "akmamba-bladder"],
                        help="plain installed models or checkpoints to make prompt-aware (default: the shipped "
                             "bladder models)")
    parser.add_argument("--image", type=Path, default=SLICE)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--platforms", nargs="+", default=[os.environ["QT_QPA_PLATFORM"]],
                        help="Qt platforms, each run in its own process (xcb needs DISPLAY)")
    parser.add_argument("--screenshots", type=Path, default=None,
                        help="save a grab of the window with the 1-click preview per model and platform here")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--checkpoints", nargs="+", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.image.is_file():
        parser.error(f"--image {args.image}: no such file (the benchmark needs a real 512 x 512 slice)")
    if args.child is not None:  # one platform, in this process
        models = list(zip(args.models, args.checkpoints, strict=True))
        if args.screenshots is not None:
            args.screenshots.mkdir(parents=True, exist_ok=True)
        args.child.write_text(json.dumps(run_platform(models, args.image, args.repeats, args.screenshots)))
        return 0

    from report import publish

    from akmamba.infer.models import resolve_model
    from akmamba.prompt.model import convert_checkpoint

    results = []
    with tempfile.TemporaryDirectory(prefix="bench_prompt_gui_") as tmp:
        ckpts = []
        for name in args.models:
            ckpt = Path(tmp) / f"{Path(str(name)).stem}-prompt.safetensors"
            convert_checkpoint(resolve_model(name), ckpt)
            ckpts.append(str(ckpt))
        for qpa in args.platforms:
            out = Path(tmp) / f"{qpa}.json"
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(out), "--image", str(args.image),
                   "--repeats", str(args.repeats), "--models", *args.models, "--checkpoints", *ckpts]
            if args.screenshots is not None:
                cmd += ["--screenshots", str(args.screenshots)]
            subprocess.run(cmd, check=True, env={**os.environ, "QT_QPA_PLATFORM": qpa})
            results.append(json.loads(out.read_text()))
    publish(report(results, args.image.name, args.repeats, sys.argv), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
