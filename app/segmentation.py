"""Model inference off the UI thread: a generator job over ``Predictor.iter_predict`` run by a GeneratorWorker,
and the controller that keeps one inference per view (a new run cancels the old one)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6 import QtCore

from akmamba.errors import ConfigError
from app.workers import GeneratorWorker, WorkerSet


@dataclass(frozen=True)
class SegmentResult:
    """A finished inference: the Prediction, the model's label table rows, and the device it ran on."""

    prediction: Any
    label_rows: list[dict[str, Any]] | None
    device: str


def segment_job(
    model_path: str, device: str, array: np.ndarray, is_volume: bool, cache: dict[tuple[str, str, str], Any],
    tta: str = "none",
) -> Generator[float, None, SegmentResult]:
    """Load (or reuse) the predictor and segment ``array`` with test-time augmentation ``tta`` (``"none"``,
    ``"flips"``, ``"d4"``); yields progress 0..1 (torch is imported here only)."""
    from akmamba.infer import Predictor

    key = (model_path, device, tta)
    predictor = cache.get(key)
    if predictor is None:
        predictor = Predictor.from_checkpoint(model_path, device, tta=tta)
        cache.clear()
        cache[key] = predictor
    yield 0.0
    run = predictor.iter_predict_volume(array) if is_volume else predictor.iter_predict(array)
    prediction = yield from run
    return SegmentResult(prediction, predictor.metadata.get("label_table"), str(predictor.device))


def probe_job() -> dict[str, Any]:
    """Startup facts gathered off the UI thread: scan backends, the automatic device, installed models."""
    from akmamba.infer import list_shipped_models
    from akmamba.ops import available_backends
    from akmamba.train.engine import resolve_device

    return {"backends": available_backends(), "auto_device": str(resolve_device("auto")),
            "models": list_shipped_models()}


class SegmentController(QtCore.QObject):
    """Runs one inference at a time.

    Signals:
        running_changed(bool), progress(float), done(SegmentResult), failed(object exception), cancelled().
    """

    running_changed = QtCore.Signal(bool)
    progress = QtCore.Signal(float)
    done = QtCore.Signal(object)
    failed = QtCore.Signal(object)
    cancelled = QtCore.Signal()

    def __init__(self, workers: WorkerSet, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._workers = workers
        self._cache: dict[tuple[str, str, str], Any] = {}
        self.worker: GeneratorWorker | None = None

    @property
    def running(self) -> bool:
        """Whether an inference is in flight."""
        return self.worker is not None

    def start(self, model_path: str, device: str, array: np.ndarray, is_volume: bool,
              tta: str = "none") -> GeneratorWorker | None:
        """Start segmenting with test-time augmentation ``tta`` (cancelling a run in flight); returns the worker, or
        None if no model was chosen."""
        if not model_path:
            self.failed.emit(ConfigError(
                "No model is chosen. Pick an installed model or choose a checkpoint file (.safetensors) in the "
                "Segment panel.", parameter="model"))
            return None
        self.cancel()
        worker = GeneratorWorker(segment_job, model_path, device, array, is_volume, self._cache, tta)
        worker.signals.progress.connect(self._on_progress)
        worker.signals.returned.connect(self._on_returned)
        worker.signals.errored.connect(self._on_errored)
        worker.signals.aborted.connect(self._on_aborted)
        worker.signals.finished.connect(self._on_finished)
        self.worker = worker
        self.running_changed.emit(True)
        self._workers.start(worker)
        return worker

    def cancel(self) -> None:
        """Ask the running inference to stop at its next tile."""
        if self.worker is not None:
            self.worker.abort()

    def _current(self) -> bool:
        return self.worker is not None and self.sender() is self.worker.signals

    def _on_progress(self, fraction: float) -> None:
        if self._current():
            self.progress.emit(fraction)

    def _on_returned(self, result: SegmentResult) -> None:
        if self._current():
            self.done.emit(result)

    def _on_errored(self, exc: BaseException) -> None:
        if self._current():
            self.failed.emit(exc)

    def _on_aborted(self) -> None:
        if self._current():
            self.cancelled.emit()

    def _on_finished(self) -> None:
        if self._current():
            self.worker = None
            self.running_changed.emit(False)

