"""Work off the UI thread: ``GeneratorWorker`` (progress, cancel between yields) and ``FunctionWorker`` (one call),
both QRunnables on ``QThreadPool.globalInstance()`` (the superqt / napari pattern).

Signals carry data, never widgets; connect them to methods of GUI-thread QObjects so results are applied in the
GUI thread (queued). Keep a reference to a running worker (``WorkerSet``) until ``finished``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Generator
from typing import Any

from PySide6 import QtCore

from akmamba.errors import CancelledError

log = logging.getLogger(__name__)


class WorkerSignals(QtCore.QObject):
    """``progress(float)``, ``returned(object)``, ``errored(object)``, ``aborted()``, then always ``finished()``."""

    progress = QtCore.Signal(float)
    returned = QtCore.Signal(object)
    errored = QtCore.Signal(object)
    aborted = QtCore.Signal()
    finished = QtCore.Signal()


class _Worker(QtCore.QRunnable):
    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self.signals = WorkerSignals()
        self._func, self._args, self._kwargs = func, args, kwargs
        self._abort = threading.Event()
        self.done = threading.Event()

    @property
    def abort_requested(self) -> bool:
        """Whether :meth:`abort` was called."""
        return self._abort.is_set()

    def abort(self) -> None:
        """Ask the work to stop at its next chance (between yields for a generator)."""
        self._abort.set()

    def run(self) -> None:  # runs in a pool thread
        try:
            self._work()
        except CancelledError:
            self.signals.aborted.emit()
        except BaseException as exc:
            log.debug("worker failed", exc_info=True)
            self.signals.errored.emit(exc)
        finally:
            self.done.set()
            self.signals.finished.emit()

    def _work(self) -> None:
        raise NotImplementedError


class FunctionWorker(_Worker):
    """Run ``func(*args, **kwargs)`` once; emits ``returned(result)`` (or ``aborted`` if aborted before start)."""

    def _work(self) -> None:
        if self.abort_requested:
            self.signals.aborted.emit()
            return
        self.signals.returned.emit(self._func(*self._args, **self._kwargs))


class GeneratorWorker(_Worker):
    """Iterate ``func(*args, **kwargs)``, a generator of progress fractions whose return value is the result.

    Between two yields the worker checks :meth:`abort`; when asked, it closes the generator (which cancels the
    computation behind it) and emits ``aborted``.
    """

    def _work(self) -> None:
        gen: Generator[float, None, Any] = self._func(*self._args, **self._kwargs)
        try:
            while True:
                if self.abort_requested:
                    gen.close()
                    self.signals.aborted.emit()
                    return
                try:
                    value = next(gen)
                except StopIteration as stop:
                    self.signals.returned.emit(stop.value)
                    return
                self.signals.progress.emit(float(value))
        finally:
            gen.close()


class WorkerSet:
    """Keeps running workers alive, starts them on the global pool, and aborts them all on shutdown."""

    def __init__(self) -> None:
        self._running: set[_Worker] = set()

    def start(self, worker: _Worker) -> _Worker:
        """Start ``worker``; it is forgotten when it finishes."""
        self._running.add(worker)
        worker.signals.finished.connect(lambda: self._running.discard(worker))
        QtCore.QThreadPool.globalInstance().start(worker)
        return worker

    def abort_all(self, wait_ms: int = 5000) -> None:
        """Abort every running worker and wait up to ``wait_ms`` for them."""
        for worker in list(self._running):
            worker.abort()
        for worker in list(self._running):
            worker.done.wait(wait_ms / 1000)

    def __len__(self) -> int:
        return len(self._running)
