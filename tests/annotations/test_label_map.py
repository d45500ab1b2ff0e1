"""LabelMap editing, undo/redo and history (no Qt)."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from akmamba.annotations import BBox, LabelMap
from akmamba.errors import ConfigError, ShapeError

ROOT = Path(__file__).resolve().parents[2]


def _random_stroke(lm: LabelMap, rng: np.random.Generator, n_stamps: int = 8, label: int | None = None) -> None:
    h, w = lm.plane_shape
    start = rng.integers(0, [h, w])
    pts = np.clip(start + np.cumsum(rng.integers(-15, 16, size=(n_stamps, 2)), axis=0), 0, [h - 1, w - 1])
    lab = int(rng.integers(1, 4)) if label is None else label
    with lm.stroke():
        for a, b in itertools.pairwise(pts):
            lm.paint_line(a, b, int(rng.integers(0, 12)), lab)


def test_paint_undo_redo_round_trip() -> None:
    rng = np.random.default_rng(0)
    lm = LabelMap(np.zeros((64, 80), np.uint8))
    states = [lm.array.copy()]
    for _ in range(6):
        _random_stroke(lm, rng)
        states.append(lm.array.copy())
    lm.erase_disc((30, 30), 9)
    states.append(lm.array.copy())
    for expected in reversed(states[:-1]):
        assert lm.undo() is not None
        np.testing.assert_array_equal(lm.array, expected)
    assert lm.undo() is None
    for expected in states[1:]:
        assert lm.redo() is not None
        np.testing.assert_array_equal(lm.array, expected)
    assert lm.redo() is None


def test_stroke_of_many_stamps_is_one_undo_item() -> None:
    lm = LabelMap(np.zeros((50, 50), np.uint8))
    lm.paint_disc((5, 5), 2, 3)
    before = lm.array.copy()
    lm.begin_stroke()
    for x in range(5, 45, 2):
        lm.paint_disc((25, x), 3, 1)
        lm.paint_disc((26, x), 3, 2)  # overlapping stamps with another label inside the same stroke
    bbox = lm.end_stroke()
    assert lm.history.n_undo == 2
    assert bbox == BBox(22, 30, 2, 47)
    after = lm.array.copy()
    assert lm.undo() == bbox
    np.testing.assert_array_equal(lm.array, before)
    lm.redo()
    np.testing.assert_array_equal(lm.array, after)


def test_new_edit_clears_redo() -> None:
    lm = LabelMap(np.zeros((20, 20), np.uint8))
    lm.paint_disc((5, 5), 2, 1)
    lm.undo()
    assert lm.history.can_redo
    lm.paint_disc((10, 10), 2, 1)
    assert not lm.history.can_redo


def test_history_limit_keeps_newest_and_drops_oldest() -> None:
    lm = LabelMap(np.zeros((40, 40), np.uint8), history_depth=5)
    states = [lm.array.copy()]
    for i in range(8):
        lm.paint_disc((4 * i + 3, 4 * i + 3), 2, 1 + i % 3)
        states.append(lm.array.copy())
    assert lm.history.n_undo == 5
    for _ in range(5):
        assert lm.undo() is not None
    assert lm.undo() is None
    np.testing.assert_array_equal(lm.array, states[3])  # the first three stay applied


def test_default_depth_holds_at_least_200_strokes() -> None:
    lm = LabelMap(np.zeros((64, 64), np.uint8))
    for i in range(210):  # pixel (i % 64, 3i % 64) repeats every 64 stamps, the label every 3
        lm.paint_disc((i % 64, (3 * i) % 64), 0, 1 + i % 3)  # each stamp changes its pixel
    assert lm.history.depth == 500
    assert lm.history.n_undo == 210


def test_history_of_250_strokes_is_under_one_percent_of_full_copies() -> None:
    rng = np.random.default_rng(1)
    lm = LabelMap(np.zeros((2048, 2048), np.uint8))
    for _ in range(250):
        _random_stroke(lm, rng, n_stamps=10)
    assert lm.history.n_undo == 250
    full_copies = 250 * lm.array.nbytes
    assert 0 < lm.history.nbytes < 0.01 * full_copies, lm.history.nbytes


def test_protect_labels() -> None:
    a = np.zeros((9, 9), np.uint8)
    a[4, :] = 3
    a[:, 4] = 2
    lm = LabelMap(a)
    lm.paint_disc((4, 4), 4, 1, protect={2})
    assert (lm.array[:, 4] == 2).all()
    assert lm.array[4, 0] == 1  # label 3 not protected
    lm.undo()
    lm.paint_disc((4, 4), 4, 1, protect_others=True)
    assert (lm.array[:, 4] == 2).all()
    assert (lm.array[4, [0, 1, 2, 3, 5, 6, 7, 8]] == 3).all()
    assert lm.array[2, 2] == 1
    lm.undo()
    lm.erase_disc((4, 4), 8, only_label=3)
    assert (lm.array[:, 4] == 2).all()
    assert (lm.array[4, :4] == 0).all()
    lm.undo()
    lm.erase_disc((4, 4), 8, protect={2, 3})
    np.testing.assert_array_equal(lm.array, a)
    assert lm.erase_disc((4, 4), 8, protect={2, 3}) is None


def test_flood_fill_4_vs_8_connectivity() -> None:
    # Background split by a diagonal wall of 1s: 4-connected fill stays on one side, 8-connected leaks through.
    a = np.array(
        [
            [0, 0, 0, 1],
            [0, 0, 1, 0],
            [0, 1, 0, 0],
            [1, 0, 0, 0],
        ],
        np.uint8,
    )
    lm = LabelMap(a.copy())
    lm.flood_fill((0, 0), 2, connectivity=4)
    np.testing.assert_array_equal(lm.array, [[2, 2, 2, 1], [2, 2, 1, 0], [2, 1, 0, 0], [1, 0, 0, 0]])
    lm.undo()
    lm.flood_fill((0, 0), 2, connectivity=8)
    np.testing.assert_array_equal(lm.array, np.where(a == 0, 2, 1))
    lm.undo()
    lm.flood_fill((0, 3), 2, connectivity=4)  # the wall itself: diagonal pixels are not 4-connected
    assert (lm.array == 2).sum() == 1
    lm.undo()
    lm.flood_fill((0, 3), 2, connectivity=8)
    np.testing.assert_array_equal(lm.array == 2, a == 1)
    lm.undo()
    b = np.zeros((3, 5), np.uint8)
    b[:, 2] = 1
    lm2 = LabelMap(b.copy())
    lm2.flood_fill((0, 0), 4, contiguous=False)
    np.testing.assert_array_equal(lm2.array, np.where(b == 0, 4, 1))
    with pytest.raises(ConfigError):
        lm.flood_fill((0, 0), 2, connectivity=6)


def test_polygon_fill_triangle_hand_case() -> None:
    lm = LabelMap(np.zeros((10, 10), np.uint8))
    bbox = lm.fill_polygon([(1, 1), (1, 7), (7, 1)], 5)
    yy, xx = np.mgrid[:10, :10]
    expected = (yy >= 1) & (xx >= 1) & (yy + xx <= 8)
    np.testing.assert_array_equal(lm.array == 5, expected)
    assert expected.sum() == 28
    assert bbox == BBox(1, 8, 1, 8)


def test_polygon_fill_concave_matches_point_in_polygon() -> None:
    pts = [(2.0, 2.0), (2.0, 27.0), (20.0, 27.0), (9.0, 15.0), (25.0, 3.0)]
    lm = LabelMap(np.zeros((30, 30), np.uint8))
    lm.fill_polygon(pts, 1)
    inside = np.zeros((30, 30), bool)
    n = len(pts)
    for y in range(30):
        for x in range(30):
            c = False
            for i in range(n):
                (ay, ax), (by, bx) = pts[i], pts[(i + 1) % n]
                if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
                    c = not c
            inside[y, x] = c
    got = lm.array == 1
    assert (got | ~inside).all()  # every interior pixel centre is filled
    extra = got & ~inside  # the rest is the 1-pixel outline: within 0.5 of an edge
    assert extra.sum() < 2 * 100
    yy, xx = np.nonzero(extra)
    for y, x in zip(yy, xx, strict=True):
        d = min(_dist_to_segment((y, x), pts[i], pts[(i + 1) % n]) for i in range(n))
        assert d <= 0.5 + 1e-9


def _dist_to_segment(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    p_, a_, b_ = (np.asarray(v, float) for v in (p, a, b))
    t = np.clip(np.dot(p_ - a_, b_ - a_) / np.dot(b_ - a_, b_ - a_), 0, 1)
    return float(np.linalg.norm(p_ - (a_ + t * (b_ - a_))))


def test_remove_small_islands() -> None:
    a = np.zeros((10, 10), np.uint8)
    a[1:4, 1:4] = 1  # 9 px: kept
    a[6, 1] = 1  # 1 px: removed
    a[8, 8] = a[7, 7] = 1  # diagonal pair: 2 px with 8-connectivity, two 1-px islands with 4
    a[0, 9] = 2  # another label: untouched
    lm = LabelMap(a.copy())
    lm.remove_small_islands(1, 2, connectivity=8)
    expected = a.copy()
    expected[6, 1] = 0
    np.testing.assert_array_equal(lm.array, expected)
    lm.undo()
    lm.remove_small_islands(1, 2, connectivity=4)
    expected[7, 7] = expected[8, 8] = 0
    np.testing.assert_array_equal(lm.array, expected)
    assert lm.history.n_undo == 1


def test_line_has_no_gaps() -> None:
    lm = LabelMap(np.zeros((100, 100), np.uint8))
    lm.paint_line((10, 10), (10, 90), 0, 1)
    assert (lm.array[10, 10:91] == 1).all()
    assert lm.array.sum() == 81
    from scipy import ndimage

    for p0, p1, r in [((5, 3), (93, 71), 0), ((90, 5), (12, 60), 1), ((50, 2), (53, 97), 0), ((3, 50), (96, 52), 3)]:
        lm.array[:] = 0
        lm.paint_line(p0, p1, r, 1)
        structure = np.ones((3, 3)) if r == 0 else None  # a 1-px line is 8-connected, a thick one 4-connected
        _, n = ndimage.label(lm.array, structure=structure)
        assert n == 1, (p0, p1, r)
        assert lm.array[p0] == 1
        assert lm.array[p1] == 1
        if r == 0:
            continue
        # Every point sampled densely along the segment lies on a painted pixel.
        t = np.linspace(0, 1, 1000)[:, None]
        samples = np.rint(np.asarray(p0) + t * (np.asarray(p1) - np.asarray(p0))).astype(int)
        assert (lm.array[samples[:, 0], samples[:, 1]] == 1).all()


def test_disc_shape_and_clipping() -> None:
    lm = LabelMap(np.zeros((10, 10), np.uint8))
    assert lm.paint_disc((0, 0), 2, 1) == BBox(0, 3, 0, 3)
    np.testing.assert_array_equal(lm.array[:3, :3], [[1, 1, 1], [1, 1, 0], [1, 0, 0]])
    assert lm.paint_disc((-20, -20), 3, 1) is None
    assert lm.paint_disc((0, 0), 2, 1) is None  # nothing changes: no undo item
    assert lm.history.n_undo == 1


def test_volume_slice_painting() -> None:
    vol = np.zeros((4, 16, 16), np.uint16)
    lm = LabelMap(vol, history_depth=50)
    with pytest.raises(ConfigError):
        lm.paint_disc((8, 8), 3, 1)
    with pytest.raises(ConfigError):
        lm.paint_disc((8, 8), 3, 1, slice_index=4)
    bbox = lm.paint_disc((8, 8), 3, 300, slice_index=2)
    assert bbox == BBox(5, 12, 5, 12, 2, 3)
    assert bbox.z == 2
    assert vol[2].max() == 300
    assert vol[[0, 1, 3]].max() == 0
    lm.fill_polygon([(0, 0), (0, 5), (5, 0)], 7, slice_index=0)
    lm.flood_fill((15, 15), 9, slice_index=3)
    assert (vol[3] == 9).all()
    lm.undo()
    lm.undo()
    assert vol[[0, 1, 3]].max() == 0
    assert vol[2].max() == 300
    lm.undo()
    assert vol.max() == 0
    # 3-D islands: a blob spanning slices is one component
    vol[0:3, 2:4, 2:4] = 1
    vol[3, 10, 10] = 1
    lm2 = LabelMap(vol)
    assert lm2.remove_small_islands(1, 5) == BBox(10, 11, 10, 11, 3, 4)
    assert vol[0:3, 2:4, 2:4].all()
    assert vol[3, 10, 10] == 0


def test_set_region_is_one_undo_item() -> None:
    lm = LabelMap(np.zeros((3, 20, 20), np.uint8))
    pred = np.zeros((20, 20), np.uint8)
    pred[5:15, 5:15] = 1
    pred[8:10, 8:10] = 2
    lm.begin_stroke()
    lm.paint_disc((1, 1), 1, 3, slice_index=1)
    bbox = lm.set_region(pred > 0, pred, slice_index=1)  # finishes the open stroke first
    assert bbox == BBox(5, 15, 5, 15, 1, 2)
    assert lm.history.n_undo == 2
    np.testing.assert_array_equal(lm.array[1][5:15, 5:15], pred[5:15, 5:15])
    lm.set_region((0, 2, 0, 4), np.full((2, 4), 4, np.uint8), slice_index=0)
    assert (lm.array[0, :2, :4] == 4).all()
    lm.set_region(BBox(0, 20, 0, 20, 2, 3), 6)
    assert (lm.array[2] == 6).all()
    full = np.ones((3, 20, 20), bool)
    lm.set_region(full, 5, protect={3, 2})
    assert lm.array[1, 1, 1] == 3
    assert lm.array[1, 9, 9] == 2
    assert lm.array[0, 0, 0] == 5
    for _ in range(4):
        lm.undo()
    assert lm.array.sum() == 3 * 5  # only the stroke's disc is left
    with pytest.raises(ShapeError):
        lm.set_region(np.ones((5, 5), bool), 1, slice_index=0)
    with pytest.raises(ConfigError):
        lm.set_region((0, 2, 0, 2), 256, slice_index=0)


def test_edited_mask() -> None:
    lm = LabelMap(np.zeros((20, 20), np.uint8), history_depth=2)
    lm.set_region((0, 20, 0, 10), 1)  # a model prediction is not a correction
    assert not lm.edited_mask().any()
    assert lm.edited_mask(("model",)).sum() == 200
    lm.paint_disc((10, 15), 0, 2)
    lm.erase_disc((10, 5), 0)
    expected = np.zeros((20, 20), bool)
    expected[10, 15] = expected[10, 5] = True
    np.testing.assert_array_equal(lm.edited_mask(), expected)
    lm.undo()
    expected[10, 5] = False
    np.testing.assert_array_equal(lm.edited_mask(), expected)
    lm.redo()
    lm.paint_disc((0, 19), 0, 3)  # depth 2: the first user edit is dropped from history but still counts
    expected[10, 5] = expected[0, 19] = True
    np.testing.assert_array_equal(lm.edited_mask(), expected)
    lm.clear_history()
    np.testing.assert_array_equal(lm.edited_mask(), expected)


def test_events_carry_the_dirty_box() -> None:
    lm = LabelMap(np.zeros((20, 20), np.uint8))
    boxes: list[BBox] = []
    history_events: list[int] = []
    lm.events.changed.connect(boxes.append)
    lm.events.history.connect(lambda: history_events.append(1))
    with lm.stroke():
        lm.paint_disc((5, 5), 1, 1)
        lm.paint_disc((5, 6), 1, 1)
        assert not history_events
    assert boxes == [BBox(4, 7, 4, 7), BBox(4, 7, 5, 8)]
    assert history_events == [1]
    lm.undo()
    assert boxes[-1] == BBox(4, 7, 4, 8)
    lm.events.changed.disconnect(boxes.append)
    lm.redo()
    assert len(boxes) == 3


def test_bad_input() -> None:
    with pytest.raises(ShapeError):
        LabelMap(np.zeros((4, 4), np.int32))
    with pytest.raises(ShapeError):
        LabelMap(np.zeros((4,), np.uint8))
    ro = np.zeros((4, 4), np.uint8)
    ro.flags.writeable = False
    with pytest.raises(ShapeError):
        LabelMap(ro)
    lm = LabelMap(np.zeros((4, 4), np.uint8))
    with pytest.raises(ConfigError):
        lm.paint_disc((1, 1), 1, 256)
    with pytest.raises(ConfigError):
        lm.paint_disc((1, 1), -1, 1)
    with pytest.raises(ConfigError):
        lm.paint_disc((1, 1), 1, 1, slice_index=2)
    with pytest.raises(ConfigError):
        lm.fill_polygon([(0, 0), (1, 1)], 1)
    with pytest.raises(ConfigError):
        LabelMap(np.zeros((4, 4), np.uint8), history_depth=0)


def test_annotations_import_without_torch_or_qt() -> None:
    script = textwrap.dedent(
        """
        import sys

        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "PySide6", "pyqtgraph", "app"):
                    raise ImportError(f"blocked import of {name}")
                return None

        sys.meta_path.insert(0, Block())
        import akmamba.annotations
        """
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
