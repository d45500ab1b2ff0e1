"""Model inference off the UI thread: a generator job over ``Predictor.iter_predict`` run by a GeneratorWorker,
and the controller that keeps one inference per view (a new run cancels the old one)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore

from akmamba.errors import ConfigError
from app.segment_jobs import SegmentResult, probe_job, segment_job
from app.workers import GeneratorWorker, WorkerSet

__all__ = ["SegmentController", "SegmentResult", "probe_job", "segment_job"]


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

