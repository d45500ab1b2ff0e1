"""The viewer's window appears before torch is imported: app/ imports torch only lazily, in workers.

import-linter cannot state this (app reaches torch through functions that import akmamba's torch modules lazily,
which is allowed), so a fresh interpreter records every import made on the main thread while it imports ``app``,
builds the main window the way ``akmamba-viewer`` does (start-up probe included), shows it and runs the event loop
briefly; torch, or a module that needs it, must not be among them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, sys, threading

    seen = []

    class Record:
        def find_spec(self, name, path=None, target=None):
            if threading.current_thread() is threading.main_thread():
                seen.append(name)
            return None

    sys.meta_path.insert(0, Record())
    import app
    from app.main_window import MainWindow  # noqa: F401
    from PySide6 import QtCore, QtWidgets

    qapp = QtWidgets.QApplication(sys.argv[:1])
    window = app.create_window(app.build_parser().parse_args(["--no-journal"]))
    window.show()
    QtCore.QTimer.singleShot(300, qapp.quit)
    qapp.exec()
    print(json.dumps(seen))
    """
)


def test_app_start_up_never_imports_torch_on_the_main_thread(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", AKMAMBA_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert "app.main_window" in seen  # the recorder saw the start-up imports
    heavy = sorted({m.split(".")[0] for m in seen} & {"torch", "monai", "numba"})
    assert heavy == [], f"imported at start-up on the main thread: {heavy}"
