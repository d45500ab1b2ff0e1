"""Edit journal: round trip, undo/redo records, torn and damaged files, and a real SIGKILL mid-session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from akmamba.annotations import (
    Journal,
    JournalRecoveryWarning,
    LabelMap,
    image_identity,
    read_journal,
    replay,
    restore,
    unsaved_edits,
)
from akmamba.errors import ConfigError, JournalError, ShapeError

ROOT = Path(__file__).resolve().parents[2]

# Shared by this test and the child process it kills, so both make the same edits.
SESSION_CODE = textwrap.dedent(
    """
    import numpy as np

    def do_stroke(lm, i):
        rng = np.random.default_rng(i)
        pts = rng.integers(0, 128, size=(5, 2))
        with lm.stroke():
            for a, b in zip(pts[:-1], pts[1:]):
                lm.paint_line(a, b, int(rng.integers(1, 10)), int(i % 5 + 1))
        if i % 7 == 6:
            lm.undo()
        if i % 11 == 10:
            lm.redo()
    """
)
_ns: dict[str, Any] = {}
exec(SESSION_CODE, _ns)
do_stroke = _ns["do_stroke"]


def _session(lm: LabelMap, n: int) -> None:
    for i in range(n):
        do_stroke(lm, i)


def test_round_trip_restores_array_history_and_edited_mask(tmp_path: Path) -> None:
    base = np.zeros((128, 128), np.uint8)
    base[60:70, :] = 9
    lm = LabelMap(base.copy(), history_depth=20)
    path = tmp_path / "edits.akj"
    lm.start_journal(path, identity={"path": "img.png", "size": 123}, fsync=False)
    _session(lm, 40)
    lm.set_region((0, 10, 0, 10), 4)
    lm.undo()
    lm.undo()
    lm.paint_disc((100, 100), 5, 3, protect={9})
    lm.detach_journal().close()

    final = lm.array.copy()
    back = restore(path, base)
    np.testing.assert_array_equal(back.array, final)
    np.testing.assert_array_equal(back.edited_mask(), lm.edited_mask())
    assert (back.history.n_undo, back.history.n_redo) == (lm.history.n_undo, lm.history.n_redo)
    while lm.history.can_undo:  # the restored undo stack is the session's
        lm.undo()
        back.undo()
        np.testing.assert_array_equal(back.array, lm.array)
    np.testing.assert_array_equal(replay(path, base, identity={"path": "elsewhere.png", "size": 123}), final)
    assert (base[60:70] == 9).all()
    assert base.sum() == 9 * 10 * 128


def test_volume_and_stored_base(tmp_path: Path) -> None:
    vol = np.zeros((3, 32, 32), np.uint16)
    vol[1, 5:9, 5:9] = 1000
    lm = LabelMap(vol.copy())
    lm.start_journal(tmp_path / "v.akj", store_base=True, fsync=False)
    lm.paint_disc((16, 16), 4, 700, slice_index=2)
    lm.flood_fill((0, 0), 2, slice_index=1)
    lm.remove_small_islands(700, 1000)
    np.testing.assert_array_equal(replay(tmp_path / "v.akj"), lm.array)  # no base needed


def test_resume_appends_to_the_same_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.akj"
    lm = LabelMap(np.zeros((128, 128), np.uint8))
    lm.start_journal(path, fsync=False)
    _session(lm, 10)
    lm.journal.close()
    back = restore(path, np.zeros((128, 128), np.uint8), resume=True, fsync=False)
    back.undo()
    back.paint_disc((3, 3), 2, 7)
    back.journal.close()
    np.testing.assert_array_equal(replay(path, np.zeros((128, 128), np.uint8)), back.array)


def test_torn_final_record_is_ignored_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "t.akj"
    lm = LabelMap(np.zeros((128, 128), np.uint8))
    lm.start_journal(path, fsync=False)
    snapshots = []
    for i in range(5):
        lm.paint_disc((20 * i + 10, 20 * i + 10), 8, 1 + i)
        snapshots.append(lm.array.copy())
    lm.journal.close()
    full = path.read_bytes()
    last = read_journal(path).records[-1].offset
    base = np.zeros((128, 128), np.uint8)
    for cut in (last + 3, last + 13, len(full) - 1):  # inside the record header, at its payload, one byte short
        path.write_bytes(full[:cut])
        with pytest.warns(JournalRecoveryWarning, match="torn"):
            np.testing.assert_array_equal(replay(path, base), snapshots[3])
    # A crash can also leave the last record's bytes as zeros, or zeros after the last complete record.
    path.write_bytes(full[:last] + bytes(len(full) - last))
    with pytest.warns(JournalRecoveryWarning):
        np.testing.assert_array_equal(replay(path, base), snapshots[3])
    path.write_bytes(full + bytes(100))
    with pytest.warns(JournalRecoveryWarning):
        np.testing.assert_array_equal(replay(path, base), snapshots[4])
    # Resuming cuts the torn tail off, so new records follow the last complete one.
    path.write_bytes(full[:-1])
    with pytest.warns(JournalRecoveryWarning):
        back = restore(path, base, resume=True, fsync=False)
    back.paint_disc((0, 0), 3, 9)
    back.journal.close()
    np.testing.assert_array_equal(replay(path, base), back.array)


def test_damage_before_the_end_raises(tmp_path: Path) -> None:
    path = tmp_path / "d.akj"
    lm = LabelMap(np.zeros((64, 64), np.uint8))
    lm.start_journal(path, fsync=False)
    for i in range(3):
        lm.paint_disc((10 + 10 * i, 10), 4, 1)
    lm.journal.close()
    data = bytearray(path.read_bytes())
    data[read_journal(path).records[1].offset + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="damaged"):
        replay(path, np.zeros((64, 64), np.uint8))
    path.write_bytes(b"not a journal at all")
    with pytest.raises(JournalError, match="not an akmamba edit journal"):
        read_journal(path)
    path.write_bytes(b"AKMJ")
    with pytest.raises(JournalError, match="no complete header"):
        replay(path, np.zeros((64, 64), np.uint8))


def test_wrong_base_or_image_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = tmp_path / "img.raw"
    img.write_bytes(b"abc" * 100)
    ident = image_identity(img)
    assert ident["size"] == 300
    assert len(ident["sha256"]) == 64
    path = tmp_path / "w.akj"
    lm = LabelMap(np.zeros((16, 16), np.uint8))
    lm.start_journal(path, identity=ident, fsync=False)
    lm.paint_disc((8, 8), 3, 1)
    lm.journal.close()
    with pytest.raises(ShapeError):
        replay(path, np.zeros((16, 17), np.uint8))
    with pytest.raises(JournalError, match="differ"):
        replay(path, np.ones((16, 16), np.uint8))
    other = tmp_path / "other.raw"
    other.write_bytes(b"xyz" * 100)
    with pytest.raises(JournalError, match="belongs to image"):
        replay(path, np.zeros((16, 16), np.uint8), identity=image_identity(other))
    with pytest.raises(JournalError, match="does not store"):
        replay(path)


def test_journal_rules(tmp_path: Path) -> None:
    lm = LabelMap(np.zeros((16, 16), np.uint8))
    lm.paint_disc((8, 8), 3, 1)
    with pytest.raises(ConfigError):  # an undo past the journal's start could not be replayed
        lm.start_journal(tmp_path / "x.akj")
    lm.clear_history()
    journal = lm.start_journal(tmp_path / "x.akj")
    other = LabelMap(np.zeros((16, 16), np.uint8), history_depth=7)
    with pytest.raises(ConfigError, match="undo depth"):
        other.attach_journal(journal)
    journal.close()
    with pytest.raises(JournalError, match="not recording"):
        lm.paint_disc((1, 1), 1, 2)
    with pytest.raises(JournalError):
        Journal.create(tmp_path / "missing" / "dir" / "j.akj", lm.array)


def test_sigkill_mid_session_restores_every_completed_record(tmp_path: Path) -> None:
    path = tmp_path / "crash.akj"
    child = SESSION_CODE + textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from akmamba.annotations import LabelMap

        lm = LabelMap(np.zeros((128, 128), np.uint8), history_depth=16)
        lm.start_journal({str(path)!r})  # fsync on: a reported stroke is on disk
        i = 0
        while True:
            do_stroke(lm, i)
            print(i, flush=True)
            i += 1
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reported = -1
        while reported < 25:
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            reported = int(line)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # The same session in-process, with the array captured after every record the journal would get.
    class Capture:
        header = read_journal(path).header

        def __init__(self, lm: LabelMap) -> None:
            self.lm, self.states = lm, [lm.array.copy()]

        def _snap(self, *args: object) -> None:
            self.states.append(self.lm.array.copy())

        append_edit = append_undo = append_redo = append_clear = _snap

    lm = LabelMap(np.zeros((128, 128), np.uint8), history_depth=16)
    capture = Capture(lm)
    lm.attach_journal(capture)  # type: ignore[arg-type]
    contents = read_journal(path)
    n = len(contents.records)
    i = 0
    while len(capture.states) <= n:  # the child may have run ahead of the lines the parent read
        do_stroke(lm, i)
        i += 1
    assert n >= _records_for(reported + 1)
    if contents.torn:
        with pytest.warns(JournalRecoveryWarning):
            got = replay(path, np.zeros((128, 128), np.uint8))
    else:
        got = replay(path, np.zeros((128, 128), np.uint8))
    np.testing.assert_array_equal(got, capture.states[n])


def _records_for(n_strokes: int) -> int:
    """Journal records written by strokes 0 .. n_strokes - 1 of ``do_stroke`` (edit + undo/redo)."""
    return sum(1 + (i % 7 == 6) + (i % 11 == 10 and i % 7 == 6) for i in range(n_strokes))


def test_unsaved_edits_counts_steps_from_the_save_to_the_end(tmp_path: Path) -> None:
    lm = LabelMap(np.zeros((16, 16), np.uint8))
    path = tmp_path / "count.akj"
    lm.start_journal(path, fsync=False)

    def paint(k: int) -> None:
        lm.paint_disc((k, k), 1, 1 + k % 3)

    def count(saved_at: int | None = None) -> int:
        return unsaved_edits(read_journal(path), saved_at)

    assert count() == 0
    for k in range(4):
        paint(k)
    lm.undo()
    assert count() == 3  # 4 edit records, one undone
    saved_at = path.stat().st_size  # "saved" here: 3 edits in the file
    assert count(saved_at) == 0
    paint(8)
    paint(9)
    lm.undo()
    lm.redo()
    assert count(saved_at) == 2
    assert count() == 5
    lm.undo()
    lm.undo()
    lm.undo()  # one step back past the save
    assert count(saved_at) == 1
    paint(12)  # a new branch from there: undo past the save + this edit
    assert count(saved_at) == 2
    lm.clear_history()  # no state change
    assert count(saved_at) == 2
    assert count() == 3  # base -> 2 edits kept -> the new one
