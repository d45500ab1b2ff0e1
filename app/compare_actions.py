"""Model > Compare: open the Compare panel (:class:`app.compare_window.ComparePanel`) on what the session holds
(the corrected mask, the last model result, the results of "Compare all models"), and "Compare all models":
every installed model (:func:`akmamba.infer.list_shipped_models`) and the checkpoints the user added, run one
after another in one cancellable GeneratorWorker, then ranked by mean Dice against the corrected mask."""

# mypy: disable-error-code="attr-defined"
from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from akmamba.compare import rank_models
from akmamba.errors import CancelledError
from akmamba.infer.suitability import describe_channels

CORRECTED = "Corrected mask"
LAST_RESULT = "Last model result"
_BOTTOM = QtCore.Qt.DockWidgetArea.BottomDockWidgetArea


class CompareState:
    """Per-window compare data: the last model result seen, the all-models results, added checkpoints."""

    def __init__(self) -> None:
        self.last_result: np.ndarray | None = None
        self.last_model_info: dict[str, str] | None = None
        self.model_results: dict[str, np.ndarray] = {}
        self.checkpoints: list[Path] = []
        self.skipped: list[str] = []  # models "Compare all models" left out: made for other images
        self.worker: Any = None


def build_compare_menu(win: Any, menu: QtWidgets.QMenu) -> None:
    """Add the compare actions to ``menu`` (the Model menu) and follow the session's model results."""
    win.compare_state = CompareState()
    win.compare_panel = None
    menu.addSeparator()
    menu.addAction("&Compare results...", lambda: open_compare(win))
    menu.addAction("Compare &all models", lambda: compare_all_models(win))
    win.session.prediction_changed.connect(lambda: _remember_prediction(win))
    win.session.case_changed.connect(lambda: _on_case_changed(win))


def _remember_prediction(win: Any) -> None:
    s = win.session
    if s.pending is not None:
        win.compare_state.last_result = s.prediction_labels()
        win.compare_state.last_model_info = dict(getattr(s.pending, "model_info", None) or {})
    _refresh_if_open(win)


def _on_case_changed(win: Any) -> None:
    state = win.compare_state
    state.last_result = None
    state.last_model_info = None
    state.model_results = {}
    if win.compare_panel is not None:
        win.compare_panel.set_ranking([])
        win.compare_panel.status_label.setText("")  # the last ranking was of the other case
    _refresh_if_open(win)


def _refresh_if_open(win: Any) -> None:
    if win.compare_panel is not None and win.compare_dock.isVisible():
        update_sources(win)


def sources(win: Any) -> dict[str, np.ndarray]:
    """The label maps to compare, by name: the corrected mask, the last model result, each model's result."""
    s, state = win.session, win.compare_state
    out: dict[str, np.ndarray] = {}
    if s.label_map is not None:
        s.label_map.end_stroke()
        out[CORRECTED] = np.array(s.label_map.array, copy=True)
    if state.last_result is not None:
        out[LAST_RESULT] = state.last_result
    out.update({f"Model: {name}": labels for name, labels in state.model_results.items()})
    return out


def update_sources(win: Any) -> None:
    """Give the panel the current image, levels, label table and sources."""
    s, panel = win.session, win.compare_panel
    panel.plane_index = lambda: s.z
    panel.set_image(s.image.array if s.image is not None else None, win.levels, s.orientation)
    panel.set_sources(sources(win), s.label_names(), s.lut())


def open_compare(win: Any) -> Any:
    """Show the Compare panel (created on first use) with A = the last result, B = the corrected mask."""
    if not win.session.has_case:
        win._show_message("Nothing to compare: open an image first.")
        return None
    if win.compare_panel is None:
        from app.compare_window import ComparePanel

        panel = ComparePanel()
        win.compare_panel = panel
        win.compare_dock = win.add_panel("Compare", panel, _BOTTOM)
        win.compare_dock.setFeatures(win.compare_dock.features() | QtWidgets.QDockWidget.DockWidgetFeature.
                                     DockWidgetClosable)
        panel.close_requested.connect(win.compare_dock.hide)
        panel.compare_all_requested.connect(lambda: compare_all_models(win))
        panel.add_checkpoint_requested.connect(lambda: add_checkpoint(win))
        panel.cancel_requested.connect(lambda: cancel_compare_all(win))
        panel.export_report_requested.connect(lambda: _export_report(win))
        win.session.slice_changed.connect(lambda _z: _refresh_if_open(win))
        win.session.labels_changed.connect(lambda _bbox: _refresh_if_open(win))
    win.compare_dock.show()
    win.compare_dock.raise_()
    update_sources(win)
    return win.compare_panel


def _export_report(win: Any) -> None:
    from app.export_actions import export_metric_report

    export_metric_report(win)


def report_choice(win: Any) -> tuple[str, str]:
    """Names of result A and reference B: the panel's choice when it is open, else the last model result
    (or the corrected mask) against the corrected mask."""
    panel = win.compare_panel
    if panel is not None and panel.combo_a.currentText() and panel.combo_b.currentText():
        return panel.combo_a.currentText(), panel.combo_b.currentText()
    a = LAST_RESULT if win.compare_state.last_result is not None else CORRECTED
    return a, CORRECTED


def model_info_of(win: Any, name: str) -> dict[str, str] | None:
    """Model info of the source ``name`` when it is a model result (None for the corrected mask)."""
    if name == LAST_RESULT:
        return win.compare_state.last_model_info or {"name": LAST_RESULT}
    if name.startswith("Model: "):
        return {"name": name.removeprefix("Model: ")}
    return None


def add_checkpoint(win: Any, path: str | Path | None = None) -> None:
    """Add a checkpoint file to the models that "Compare all models" runs."""
    if path is None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(win, "Add a checkpoint to compare", win.settings.last_folder(),
                                                        "Checkpoints (*.safetensors);;All files (*)")
        if not path:
            return
    win.compare_state.checkpoints.append(Path(path))
    if win.compare_panel is not None:
        win.compare_panel.status_label.setText(f"Added {Path(path).name}; "
                                               f"{len(win.compare_state.checkpoints)} checkpoint(s) added.")


def _model_list(win: Any, checkpoints: Sequence[str | Path] | None, include_installed: bool
                ) -> tuple[list[tuple[str, str]], list[str]]:
    """``([(unique name, checkpoint path), ...], [names skipped because they do not suit the open image])``: a
    fundus (colour) model is not run on a grey MRI slice, nor the reverse (:mod:`akmamba.infer.suitability`)."""
    from akmamba.infer import list_shipped_models
    from akmamba.infer.suitability import checkpoint_mismatch, input_mismatch

    channels = win.session.image.channels
    items: list[tuple[str, str]] = []
    skipped: list[str] = []
    if include_installed:
        for e in list_shipped_models():
            if e.error is not None:
                continue
            if input_mismatch(e.name, e.summary, channels) is not None:
                skipped.append(e.name)
                continue
            items.append((e.name, str(e.path)))
    extra = win.compare_state.checkpoints if checkpoints is None else [Path(p) for p in checkpoints]
    for p in extra:
        name = Path(p).name.removesuffix(".safetensors")
        if checkpoint_mismatch(p, channels) is not None:
            skipped.append(name)
            continue
        items.append((name, str(p)))
    named: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, path in items:
        if path in {p for _n, p in named}:
            continue
        unique, k = name, 2
        while unique in seen:
            unique, k = f"{name} ({k})", k + 1
        seen.add(unique)
        named.append((unique, path))
    return named, skipped


def compare_all_job(models: list[tuple[str, str]], device: str, array: np.ndarray, is_volume: bool,
                    ) -> Generator[float, None, tuple[dict[str, np.ndarray], dict[str, str]]]:
    """Segment with each model in turn (progress over all of them); returns ``(labels by name, errors by name)``,
    each model's labels by the one rule of :mod:`akmamba.decision` (argmax), as ``akmamba predict`` writes them."""
    from app.segmentation import segment_job

    results: dict[str, np.ndarray] = {}
    errors: dict[str, str] = {}
    n = len(models)
    for i, (name, path) in enumerate(models):
        run = segment_job(path, device, array, is_volume, {})
        try:
            while True:
                try:
                    fraction = next(run)
                except StopIteration as stop:
                    results[name] = np.asarray(stop.value.prediction.labels)  # akmamba.decision's rule
                    break
                yield (i + float(fraction)) / n
        except CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad checkpoint must not stop the others; reported by name
            errors[name] = str(exc) or type(exc).__name__
        finally:
            run.close()
        yield (i + 1) / n
    return results, errors


def compare_all_models(win: Any, checkpoints: Sequence[str | Path] | None = None, *,
                       include_installed: bool = True) -> Any:
    """Run every installed model (and the added or given checkpoints) on the open image, one after another in
    a worker, then rank them against the corrected mask. Returns the worker, or None when nothing runs."""
    from app.workers import GeneratorWorker

    if not win.session.has_case:
        win._show_message("Open an image before comparing models.")
        return None
    state = win.compare_state
    if state.worker is not None:
        win._show_message("Compare all models is already running.")
        return None
    models, skipped = _model_list(win, checkpoints, include_installed)
    state.skipped = skipped
    kind = describe_channels(win.session.image.channels)
    if not models:
        if skipped:
            text = (f"None of the models suits this {kind} image ({', '.join(skipped)} were trained on other "
                    "images), so there is nothing to compare. Add a checkpoint made for such images with "
                    "'Add checkpoint...' in the Compare panel.")
        else:
            text = ("No models are installed, so there is nothing to compare. Install a model, or add a checkpoint "
                    "(.safetensors) with 'Add checkpoint...' in the Compare panel.")
        win._show_message(text)
        if win.compare_panel is not None:
            win.compare_panel.status_label.setText(text)
        return None
    panel = open_compare(win)
    image = win.session.image
    worker = GeneratorWorker(compare_all_job, models, win.model_panel.device(), image.array, image.is_volume)
    shape = image.spatial_shape
    worker.signals.progress.connect(
        lambda f: panel.status_label.setText(f"Comparing {len(models)} model(s)... {100 * f:.0f} %"))
    worker.signals.returned.connect(lambda result: _on_compared(win, result, shape))
    worker.signals.errored.connect(lambda exc: win.show_error(exc, "Comparing all models"))
    worker.signals.aborted.connect(lambda: panel.status_label.setText("Compare all models was cancelled."))
    worker.signals.finished.connect(lambda: _on_finished(win))
    state.worker = worker
    panel.set_running(True)
    note = f" ({', '.join(skipped)} not run: made for other images than this {kind} one)" if skipped else ""
    panel.status_label.setText(f"Comparing {len(models)} model(s)...{note}")
    win.workers.start(worker)
    return worker


def cancel_compare_all(win: Any) -> None:
    """Stop "Compare all models" at its next tile."""
    if win.compare_state.worker is not None:
        win.compare_state.worker.abort()


def _on_finished(win: Any) -> None:
    win.compare_state.worker = None
    if win.compare_panel is not None:
        win.compare_panel.set_running(False)


def _on_compared(win: Any, result: tuple[dict[str, np.ndarray], dict[str, str]], shape: tuple[int, ...]) -> None:
    results, errors = result
    s, panel = win.session, win.compare_panel
    if s.label_map is None or tuple(s.label_map.shape) != tuple(shape):
        win._show_message("Model results for another image were ignored.")
        return
    win.compare_state.model_results = dict(results)
    update_sources(win)
    ranking = rank_models(results, sources(win)[CORRECTED], s.label_names()) if results else []
    panel.set_ranking(ranking)
    failed = f"; failed: {', '.join(f'{k} ({v})' for k, v in errors.items())}" if errors else ""
    best = f"; best: {ranking[0][0]}" if ranking else ""
    skipped = win.compare_state.skipped
    left_out = f"; not run (made for other images): {', '.join(skipped)}" if skipped else ""
    text = f"Ranked {len(ranking)} model(s) against the corrected mask by mean Dice{best}{failed}{left_out}"
    panel.status_label.setText(text)
    win._show_message(text)
