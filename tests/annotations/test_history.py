"""Atoms and the stroke recorder on their own."""

from __future__ import annotations

import numpy as np

from akmamba.annotations.history import Atom, History, StrokeRecorder


def test_atom_picks_the_smaller_encoding_and_round_trips() -> None:
    rng = np.random.default_rng(0)
    for density in (0.001, 0.5):
        arr = rng.integers(0, 4, size=(40, 50, 60), dtype=np.uint8)
        changed = rng.random(arr.shape) < density
        changed[3, 4, 5] = True
        before = arr.copy()
        new = np.where(changed, 7, arr).astype(np.uint8)
        region = ((0, 40), (0, 50), (0, 60))
        atom = Atom.from_change(region, changed, arr[changed], new[changed])
        assert atom.packed == (density == 0.5)
        assert atom.new.size == 1  # one label everywhere is stored once
        atom.apply(arr, undo=False)
        np.testing.assert_array_equal(arr, new)
        atom.apply(arr, undo=True)
        np.testing.assert_array_equal(arr, before)


def test_atom_region_is_shrunk_to_the_changed_pixels() -> None:
    changed = np.zeros((10, 10), bool)
    changed[3, 4] = changed[6, 2] = True
    atom = Atom.from_change(((10, 20), (30, 40)), changed, np.array([1, 2], np.uint8), np.array([5, 6], np.uint8))
    assert atom.region == ((13, 17), (32, 35))
    assert atom.new.tolist() == [5, 6]


def test_recorder_folds_overlapping_stamps() -> None:
    arr = np.zeros((8, 8), np.uint8)
    rec = StrokeRecorder()
    for (y0, x0), value in [((0, 0), 1), ((2, 2), 2), ((1, 1), 0)]:
        view = arr[y0 : y0 + 4, x0 : x0 + 4]
        changed = view != value
        rec.record(((y0, y0 + 4), (x0, x0 + 4)), changed, view[changed])
        view[changed] = value
    after = arr.copy()
    atom = rec.finish(arr)
    assert atom is not None
    assert len(rec) == 0
    history = History(3)
    history.push(atom, arr.shape)
    history.undo(arr)
    assert not arr.any()
    history.redo(arr)
    np.testing.assert_array_equal(arr, after)
    # A stroke that ends where it began is no undo item.
    first = arr[0, 0]
    rec.record(((0, 1), (0, 1)), np.ones((1, 1), bool), np.array([first]))
    arr[0, 0] = 9
    rec.record(((0, 1), (0, 1)), np.ones((1, 1), bool), np.array([9], np.uint8))
    arr[0, 0] = first
    assert rec.finish(arr) is None
