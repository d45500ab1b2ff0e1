"""The PySide6 6.12.0 / Python 3.11 reference-count work-around keeps long sessions alive."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]


def test_many_void_calls_and_signal_emits_do_not_abort() -> None:
    script = textwrap.dedent(
        """
        import os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        import app  # applies the work-around
        from PySide6 import QtCore, QtWidgets
        qapp = QtWidgets.QApplication([])

        class Emitter(QtCore.QObject):
            sig = QtCore.Signal(int)

            def on_sig(self, value):
                pass

        widget, emitter = QtWidgets.QWidget(), Emitter()
        emitter.sig.connect(emitter.on_sig)
        for i in range(200_000):
            widget.setEnabled(True)
            emitter.sig.emit(i)
        print("alive")
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("alive")
