"""The fine-tuning child process: ``python -m akmamba finetune ... --jsonl --stop-on-stdin`` in a QProcess.

Each JSON line on stdout becomes an ``event(dict)`` signal; other output is kept for the error message. A crash,
an out-of-memory kill or a failed import in the child ends only the child: ``finished(int code, str why)`` says how
it ended and the viewer carries on. Stopping asks politely (a ``stop`` line on stdin: the trainer stops at its next
step and registers nothing), then ``terminate()`` after ``grace_ms``, then ``kill()``; the registry is safe at any
of these moments (akmamba.finetune.registry).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence

from PySide6 import QtCore

log = logging.getLogger(__name__)


class FinetuneProcess(QtCore.QObject):
    """Signals: ``event(object dict)``, ``finished(int exit_code, str why)`` (why: ``""`` for a normal exit,
    else a sentence), ``started()``."""

    event = QtCore.Signal(object)
    finished = QtCore.Signal(int, str)
    started = QtCore.Signal()

    def __init__(self, parent: QtCore.QObject | None = None, grace_ms: int = 5000) -> None:
        super().__init__(parent)
        self.grace_ms = grace_ms
        self.proc: QtCore.QProcess | None = None
        self._buffer = b""
        self.stderr_tail = ""
        self.last_error: dict[str, object] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        """Whether the child is running."""
        return self.proc is not None and self.proc.state() != QtCore.QProcess.ProcessState.NotRunning

    def start(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        """Start ``python -m akmamba finetune ARGS --jsonl --stop-on-stdin`` (a running child is killed first)."""
        if self.running:
            self.kill()
        proc = QtCore.QProcess(self)
        proc.setProcessChannelMode(QtCore.QProcess.ProcessChannelMode.SeparateChannels)
        if env:
            penv = QtCore.QProcessEnvironment.systemEnvironment()
            for k, v in env.items():
                penv.insert(k, v)
            proc.setProcessEnvironment(penv)
        proc.readyReadStandardOutput.connect(self._on_stdout)
        proc.readyReadStandardError.connect(self._on_stderr)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        proc.started.connect(self.started.emit)
        self.proc, self._buffer, self.stderr_tail, self.last_error, self._stopping = proc, b"", "", None, False
        full = ["-m", "akmamba", "finetune", *args, "--jsonl", "--stop-on-stdin"]
        log.info("starting %s %s", sys.executable, " ".join(full))
        proc.start(sys.executable, full)

    def stop(self) -> None:
        """Ask the child to stop (stdin ``stop``); terminate, then kill, if it does not end in time."""
        if not self.running or self.proc is None:
            return
        self._stopping = True
        self.proc.write(b"stop\n")
        proc = self.proc
        QtCore.QTimer.singleShot(self.grace_ms, lambda: self._escalate(proc, kill=False))

    def _escalate(self, proc: QtCore.QProcess, kill: bool) -> None:
        if proc is not self.proc or not self.running:
            return
        if kill:
            proc.kill()
        else:
            proc.terminate()
            QtCore.QTimer.singleShot(self.grace_ms, lambda: self._escalate(proc, kill=True))

    def kill(self) -> None:
        """Kill the child now (used when the viewer closes)."""
        if self.proc is not None and self.running:
            self.proc.kill()
            self.proc.waitForFinished(3000)

    def _on_stdout(self) -> None:
        assert self.proc is not None
        self._buffer += bytes(self.proc.readAllStandardOutput().data())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                event = json.loads(text)
            except ValueError:
                log.debug("finetune child: %s", text)
                continue
            if isinstance(event, dict) and "event" in event:
                if event["event"] == "error":
                    self.last_error = event
                self.event.emit(event)

    def _on_stderr(self) -> None:
        assert self.proc is not None
        text = bytes(self.proc.readAllStandardError().data()).decode("utf-8", "replace")
        self.stderr_tail = (self.stderr_tail + text)[-4000:]

    def _on_error(self, error: QtCore.QProcess.ProcessError) -> None:
        if error == QtCore.QProcess.ProcessError.FailedToStart:
            self.finished.emit(-1, f"The trainer could not be started ({sys.executable}).")

    def _on_finished(self, code: int, status: QtCore.QProcess.ExitStatus) -> None:
        if self._buffer:
            self._buffer += b"\n"
            self._on_stdout()
        if status == QtCore.QProcess.ExitStatus.CrashExit:
            why = "stopped" if self._stopping else (
                "The trainer crashed or was killed (for example out of memory); the active model is unchanged.")
        elif code == 0 or (code == 1 and self._stopping):
            why = ""
        elif self.last_error is not None:
            why = str(self.last_error.get("message"))
        else:
            tail = self.stderr_tail.strip().splitlines()[-1:] or ["no message"]
            why = f"The trainer ended with exit code {code}: {tail[0]}"
        self.finished.emit(int(code), why)
