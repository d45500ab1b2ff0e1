"""GeneratorWorker / FunctionWorker: progress, result, cancel between yields, errors; results in the GUI thread."""

from __future__ import annotations

import threading

import pytest
from PySide6 import QtCore

from akmamba.errors import CheckpointError
from app.workers import FunctionWorker, GeneratorWorker, WorkerSet

pytestmark = pytest.mark.gui


class Receiver(QtCore.QObject):
    """Collects signals in the GUI thread (a QObject, so queued connections deliver here)."""

    def __init__(self) -> None:
        super().__init__()
        self.progress: list[float] = []
        self.threads: list[bool] = []
        self.result = None

    def on_progress(self, value: float) -> None:
        self.progress.append(value)
        self.threads.append(QtCore.QThread.currentThread() is QtCore.QCoreApplication.instance().thread())

    def on_returned(self, value: object) -> None:
        self.result = value


def test_generator_worker_reports_progress_and_result_in_the_gui_thread(qtbot) -> None:
    def job(n: int):
        for i in range(n):
            yield i / n
        return "done"

    worker, rec = GeneratorWorker(job, 4), Receiver()
    worker.signals.progress.connect(rec.on_progress)
    worker.signals.returned.connect(rec.on_returned)
    with qtbot.waitSignal(worker.signals.finished, timeout=10000):
        WorkerSet().start(worker)
    qtbot.waitUntil(lambda: rec.result == "done")
    assert rec.progress == [0.0, 0.25, 0.5, 0.75]
    assert all(rec.threads)


def test_generator_worker_cancels_between_yields(qtbot) -> None:
    gate, closed = threading.Event(), threading.Event()

    def job():
        try:
            yield 0.1
            gate.wait(5)
            yield 0.2
            yield 0.3
            return "never"
        finally:
            closed.set()

    worker, rec = GeneratorWorker(job), Receiver()
    worker.signals.returned.connect(rec.on_returned)
    with qtbot.waitSignal(worker.signals.progress, timeout=10000):
        WorkerSet().start(worker)
    with qtbot.waitSignal(worker.signals.aborted, timeout=10000):
        worker.abort()  # asked while the job is between its first and second yield
        gate.set()
    assert closed.wait(5)
    assert rec.result is None


def test_errors_are_delivered_not_raised(qtbot) -> None:
    def fail() -> None:
        raise CheckpointError("Checkpoint 'x' is broken. Choose another one.")

    worker = FunctionWorker(fail)
    with qtbot.waitSignal(worker.signals.errored, timeout=10000) as blocker:
        WorkerSet().start(worker)
    assert isinstance(blocker.args[0], CheckpointError)
