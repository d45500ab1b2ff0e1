"""Never lose work: edits are journalled as they happen; after SIGKILL the next start restores every stroke.

One real session is killed (module fixture); each test then starts a fresh window on a copy of its journals, in
one of the ways a user starts the viewer: without a path (the start-up check offers the journal), or with the
folder or the file that has the leftover (the folder's load finishes while the start-up offer is open, which
used to give two offers, the second of which reloaded the case from disk and deleted the journal).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtWidgets

from akmamba.io import Image, read_image, write_image

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[2]

# A scripted session in a child process: open the image, paint two strokes with real mouse events, save, paint
# two more, undo one, fill; record the saved and the expected labels, say READY, then keep running until killed.
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
    image, journal_dir, settings, saved, expected = sys.argv[1:6]
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
        if k == 2:
            assert w.cases.save()
            np.save(saved, w.session.label_map.array)
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
UNSAVED = 2  # after the save: the third stroke and the fill (the fourth stroke was undone)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A session killed with SIGKILL after unsaved edits: its folder (case00 = the edited image, case01, case02),
    journal folder, and the labels it had saved and had at the kill."""
    root = tmp_path_factory.mktemp("crashed")
    folder = root / "cases"
    folder.mkdir()
    arr = np.tile(np.arange(80, dtype=np.uint8) * 2, (64, 1))
    arr[20:40, 30:50] = 250
    for k in range(3):
        write_image(Image(np.roll(arr, 7 * k, axis=1), "2d"), folder / f"case0{k}.png")
    image = folder / "case00.png"
    journals, saved, expected = root / "journals", root / "saved.npy", root / "expected.npy"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    child = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(image), str(journals), str(root / "child.ini"), str(saved), str(expected)],
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
    assert int(line.split()[1]) == 4  # undo items at the kill: 4 strokes - 1 undone + the fill
    assert len(list(journals.glob("*.akjournal"))) == 1
    shutil.copytree(folder, root / "pristine")
    return {"pristine": root / "pristine", "folder": folder, "image": image, "journals": journals, "saved": saved,
            "expected": expected}


def _start(crashed: dict[str, Path], tmp_path: Path, window_factory, qtbot, launch: str, answer: str):
    """A fresh window on a copy of the crashed journals, started as ``launch`` ("none", "folder", "file"), whose
    restore dialog answers ``answer`` after running the event loop until no image is loading (as the modal dialog
    does). Returns the window and the list of offers made."""
    shutil.rmtree(crashed["folder"])  # the folder as the killed session left it (tests save into it)
    shutil.copytree(crashed["pristine"], crashed["folder"])
    shutil.copytree(crashed["journals"], tmp_path / "journals")
    offers: list[list] = []
    win = window_factory(restore_policy="ask")

    def ask(items: list) -> str:
        offers.append(list(items))
        qtbot.waitUntil(lambda: not win.session.busy, timeout=20000)
        qtbot.wait(50)
        return answer

    win.cases.ask_restore = ask
    if launch != "none":  # as `akmamba-viewer PATH` does: open before the event loop runs the start-up check
        win.open_path(crashed["folder"] if launch == "folder" else crashed["image"])
    qtbot.waitUntil(lambda: win.session.has_case and not win.session.busy, timeout=20000)
    qtbot.wait(100)  # let any second offer or reload show itself
    return win, offers


@pytest.mark.parametrize("launch", ["none", "folder", "file"])
def test_sigkilled_edits_are_offered_once_and_restored_to_the_pixel(
    crashed: dict[str, Path], tmp_path: Path, window_factory, qtbot, launch: str
) -> None:
    win, offers = _start(crashed, tmp_path, window_factory, qtbot, launch, "restore")
    expected, saved = np.load(crashed["expected"]), np.load(crashed["saved"])
    assert len(offers) == 1, f"{len(offers)} restore offers"
    assert [(item.image_path, item.edits) for item in offers[0]] == [(crashed["image"].resolve(), UNSAVED)]
    assert win.session.path.resolve() == crashed["image"].resolve()
    np.testing.assert_array_equal(win.session.label_map.array, expected)  # every pixel
    np.testing.assert_array_equal(win.view.overlay.pixels(), expected)
    assert win.session.dirty
    assert f"restored {UNSAVED} unsaved edits" in win.statusBar().currentMessage()
    if launch == "folder":
        assert len(win.cases.cases) == 3
        assert win.cases.cases.index == 0
    on_disk = read_image(crashed["folder"] / "case00_labels.png").array
    np.testing.assert_array_equal(on_disk, saved)  # restoring wrote nothing yet
    win.commands["undo"].trigger()  # the restored history is usable
    assert not np.array_equal(win.session.label_map.array, expected)
    win.commands["redo"].trigger()
    np.testing.assert_array_equal(win.session.label_map.array, expected)
    # A second kill before saving offers the same unsaved edits again, not every edit since the journal began.
    win.journals.fsync = True
    again = [(item.edits, item.image_path) for item in _leftovers_if_killed(win)]
    assert again == [(UNSAVED, crashed["image"].resolve())]
    assert win.cases.save()
    win.close()
    np.testing.assert_array_equal(read_image(crashed["folder"] / "case00_labels.png").array, expected)
    assert not list((tmp_path / "journals").glob("*.akjournal"))  # saved and closed: nothing left to recover


def _leftovers_if_killed(win: QtWidgets.QMainWindow) -> list:
    """The leftovers another viewer would find if this one were killed now (its journal, renamed to a dead PID)."""
    from app.recovery import JournalStore

    journal = win.session.label_map.journal.path
    copy = journal.parent / "probe"
    copy.mkdir()
    dead = copy / journal.name.replace(f"-{os.getpid()}-", "-999999999-")
    shutil.copy(journal, dead)
    if journal.with_suffix(".saved").exists():
        shutil.copy(journal.with_suffix(".saved"), dead.with_suffix(".saved"))
    found = JournalStore(copy).leftovers()
    shutil.rmtree(copy)
    return found


@pytest.mark.parametrize("answer", ["later", "discard"])
def test_one_offer_when_the_folder_loads_during_it(
    crashed: dict[str, Path], tmp_path: Path, window_factory, qtbot, answer: str
) -> None:
    win, offers = _start(crashed, tmp_path, window_factory, qtbot, "folder", answer)
    assert len(offers) == 1, f"{len(offers)} restore offers"
    np.testing.assert_array_equal(win.session.label_map.array, np.load(crashed["saved"]))  # the saved labels
    assert not win.session.dirty
    left = list((tmp_path / "journals").glob(f"*-{os.getpid()}-*.akjournal"))
    assert len(left) == 1  # the journal of the case now open
    others = [j for j in (tmp_path / "journals").glob("*.akjournal") if j not in left]
    assert len(others) == (1 if answer == "later" else 0)  # "later" keeps the crashed journal for another time
    win.close()
