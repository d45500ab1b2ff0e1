"""Never lose work: edits are journalled as they happen; after SIGKILL the next start restores every stroke."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]

# A scripted session in a child process: open the image, paint strokes with real mouse events, undo one,
# record the expected labels, say READY, then keep running until killed.
DRIVER = textwrap.dedent(
    """
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import numpy as np
    from PySide6 import QtWidgets
    app = QtWidgets.QApplication([])
    from app.main_window import MainWindow
    from app.settings import Settings
    from app.views.edit_controller import Tool
    image, journal_dir, settings, expected = sys.argv[1:5]
    w = MainWindow(Settings(settings), journal_dir, probe=False)
    w.resize(1000, 700)
    w.show()
    w.open_path(image)
    deadline = time.time() + 60
    while not w.session.has_case and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)
    w.controller.set_tool(Tool.BRUSH)
    w.controller.set_radius(2)
    for k in range(4):
        w.view.drag_through([(5.5, 8.5 + 12 * k), (40.5, 10.5 + 12 * k), (70.5, 9.5 + 12 * k)])
    w.commands["undo"].trigger()
    w.controller.set_tool(Tool.FILL)
    w.view.click_at(75.5, 60.5)
    np.save(expected, w.session.label_map.array)
    print("READY", w.session.label_map.history.n_undo, flush=True)
    while True:
        app.processEvents()
        time.sleep(0.02)
    """
)


def test_strokes_survive_sigkill_and_are_restored(tmp_path: Path, grey_png: Path, window_factory, qtbot) -> None:
    journal_dir, expected = tmp_path / "journals", tmp_path / "expected.npy"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    child = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(grey_png), str(journal_dir), str(tmp_path / "child.ini"), str(expected)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line, deadline = "", time.time() + 90
        while not line.startswith("READY") and time.time() < deadline and child.poll() is None:
            line = child.stdout.readline()
        assert line.startswith("READY"), child.stderr.read() if child.poll() is not None else "no READY"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    strokes = np.load(expected)
    assert strokes.any()
    assert int(line.split()[1]) == 4
    assert not (grey_png.parent / "case01_labels.png").exists()  # nothing was saved: only the journal has it

    offered = []
    win = window_factory(restore_policy="ask")
    win.cases.ask_restore = lambda items: offered.extend(items) or "restore"
    qtbot.waitUntil(lambda: win.session.has_case, timeout=20000)
    assert [item.image_path for item in offered] == [grey_png.resolve()]
    assert offered[0].edits == 5
    np.testing.assert_array_equal(win.session.label_map.array, strokes)
    np.testing.assert_array_equal(win.view.overlay.pixels(), strokes)
    assert win.session.dirty
    assert "restored 4 unsaved edits" in win.statusBar().currentMessage()
    win.commands["undo"].trigger()  # the restored history is usable
    assert not np.array_equal(win.session.label_map.array, strokes)
    win.commands["redo"].trigger()
    np.testing.assert_array_equal(win.session.label_map.array, strokes)
    assert win.cases.save()
    win.close()
    assert not list(journal_dir.glob("*.akjournal"))  # saved and closed: nothing left to recover
