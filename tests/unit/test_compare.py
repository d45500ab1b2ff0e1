"""akmamba.compare: difference codes (incl. a wrong foreground label), metrics per label, ranking."""

from __future__ import annotations

import numpy as np
import pytest

from akmamba.compare import compare_metrics, difference_lut, difference_map, mean_dice, rank_models
from akmamba.errors import ShapeError
from akmamba.metrics import evaluate_case


def test_difference_codes_by_hand() -> None:
    ref = np.array([[0, 0, 1, 1, 2, 2]], np.uint8)
    pred = np.array([[0, 1, 1, 0, 1, 2]], np.uint8)
    # both bg, FP, agree, FN, wrong label -> FP, agree
    np.testing.assert_array_equal(difference_map(pred, ref), [[0, 2, 1, 3, 2, 1]])
    assert difference_map(pred, ref).dtype == np.uint8


def test_difference_shape_mismatch() -> None:
    with pytest.raises(ShapeError):
        difference_map(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))


def test_difference_lut_colours() -> None:
    lut = difference_lut()
    assert lut.shape == (256, 4)
    assert lut.dtype == np.uint8
    assert lut[0, 3] == 0
    assert tuple(lut[1, :3]) == (0, 158, 115)
    assert tuple(lut[2, :3]) == (213, 94, 0)
    assert tuple(lut[3, :3]) == (0, 114, 178)
    assert len({tuple(lut[k]) for k in (1, 2, 3)}) == 3
    assert not lut[4:].any()


def test_compare_metrics_by_hand() -> None:
    ref = np.array([[1, 1, 1, 1, 0, 0]], np.uint8)
    pred = np.array([[1, 1, 0, 0, 1, 0]], np.uint8)
    rows = compare_metrics(pred, ref, {1: "vessel"})
    assert len(rows) == 1
    row = rows[0]
    assert row["label_name"] == "vessel"
    assert row["precision"] == pytest.approx(2 / 3)
    assert row["recall"] == pytest.approx(2 / 4)
    assert row["dice"] == pytest.approx(2 * 2 / (3 + 4))
    assert row["iou"] == pytest.approx(2 / 5)
    expected = evaluate_case(pred, ref, {1: "vessel"})[0]
    for key in ("precision", "recall", "dice", "iou"):
        assert row[key] == pytest.approx(expected[key])


def test_compare_metrics_wrong_label_and_unnamed_values() -> None:
    ref = np.array([[1, 1, 2, 2]], np.uint8)
    pred = np.array([[1, 2, 2, 3]], np.uint8)
    rows = compare_metrics(pred, ref, {0: "background", 1: "a", 2: "b"})
    assert [r["label"] for r in rows] == [1, 2, 3]
    assert rows[2]["label_name"] == "label 3"
    assert rows[0]["dice"] == pytest.approx(2 * 1 / (1 + 2))
    assert rows[1]["dice"] == pytest.approx(2 * 1 / (2 + 2))


def test_rank_models_best_first() -> None:
    ref = np.zeros((8, 8), np.uint8)
    ref[2:6, 2:6] = 1
    good = ref.copy()
    good[2, 2] = 0
    bad = np.zeros_like(ref)
    bad[0:3, 0:3] = 1
    ranking = rank_models({"bad": bad, "perfect": ref.copy(), "good": good}, ref, {1: "x"})
    assert [name for name, _ in ranking] == ["perfect", "good", "bad"]
    assert ranking[0][1] == pytest.approx(1.0)
    assert ranking[1][1] == pytest.approx(mean_dice(compare_metrics(good, ref, {1: "x"})))
