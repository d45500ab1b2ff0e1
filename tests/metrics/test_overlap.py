"""Overlap metrics on hand-worked 3x3 and 4x4 cases, the empty-mask conventions, FOV masking, mask helpers."""

from __future__ import annotations

import numpy as np
import pytest

from akmamba.errors import ConfigError, ShapeError
from akmamba.metrics import (
    Confusion,
    binary_to_labels,
    confusion_counts,
    overlap_metrics,
    remap_values,
)


def test_hand_worked_3x3() -> None:
    pred = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    gt = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]])
    # TP: (0,0), (1,1) -> 2; FP: (0,1) -> 1; FN: (1,0) -> 1; TN: 9 - 4 = 5
    c = confusion_counts(pred, gt)
    assert c == Confusion(tp=2, fp=1, fn=1, tn=5)
    m = overlap_metrics(c)
    assert m["precision"] == pytest.approx(2 / 3)  # 2 / (2 + 1)
    assert m["recall"] == pytest.approx(2 / 3)  # 2 / (2 + 1)
    assert m["specificity"] == pytest.approx(5 / 6)  # 5 / (5 + 1)
    assert m["accuracy"] == pytest.approx(7 / 9)  # (2 + 5) / 9
    assert m["dice"] == pytest.approx(2 / 3)  # 4 / (4 + 1 + 1)
    assert m["iou"] == pytest.approx(1 / 2)  # 2 / (2 + 1 + 1)


def test_hand_worked_4x4_asymmetric() -> None:
    pred = np.zeros((4, 4), dtype=np.uint8)
    pred[0:2, 0:3] = 1  # 6 px
    gt = np.zeros((4, 4), dtype=np.uint8)
    gt[:, 1] = 1
    gt[3, 3] = 1  # 5 px
    # TP: (0,1), (1,1) -> 2; FP: 6 - 2 = 4; FN: (2,1), (3,1), (3,3) -> 3; TN: 16 - 9 = 7
    c = confusion_counts(pred, gt)
    assert c == Confusion(2, 4, 3, 7)
    m = overlap_metrics(c)
    assert m["precision"] == pytest.approx(1 / 3)  # 2 / 6
    assert m["recall"] == pytest.approx(2 / 5)  # 2 / 5
    assert m["specificity"] == pytest.approx(7 / 11)  # 7 / (7 + 4)
    assert m["accuracy"] == pytest.approx(9 / 16)  # (2 + 7) / 16
    assert m["dice"] == pytest.approx(4 / 11)  # 4 / (4 + 4 + 3)
    assert m["iou"] == pytest.approx(2 / 9)  # 2 / (2 + 4 + 3)


def test_fov_restricts_every_count() -> None:
    pred = np.zeros((4, 4), dtype=np.uint8)
    pred[0:2, 0:3] = 1
    gt = np.zeros((4, 4), dtype=np.uint8)
    gt[:, 1] = 1
    gt[3, 3] = 1
    fov = np.zeros((4, 4), dtype=np.uint8)
    fov[0:3, 1:4] = 255  # 9 px; drops column 0 and row 3
    # inside: pred (0,1),(0,2),(1,1),(1,2); gt (0,1),(1,1),(2,1)
    # TP 2; FP (0,2),(1,2) -> 2; FN (2,1) -> 1; TN 9 - 5 = 4
    c = confusion_counts(pred, gt, fov)
    assert c == Confusion(2, 2, 1, 4)
    assert c.n == 9
    m = overlap_metrics(c)
    assert m["precision"] == pytest.approx(1 / 2)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["specificity"] == pytest.approx(4 / 6)
    assert m["accuracy"] == pytest.approx(6 / 9)
    assert m["dice"] == pytest.approx(4 / 7)
    assert m["iou"] == pytest.approx(2 / 5)


def test_both_empty_score_one_everywhere() -> None:
    z = np.zeros((3, 3), dtype=np.uint8)
    c = confusion_counts(z, z)
    assert c == Confusion(0, 0, 0, 9)
    assert overlap_metrics(c) == {k: 1.0 for k in overlap_metrics(c)}


def test_empty_prediction_non_empty_truth() -> None:
    gt = np.zeros((3, 3), dtype=np.uint8)
    gt[1, 1] = 1
    m = overlap_metrics(confusion_counts(np.zeros_like(gt), gt))  # TP 0, FP 0, FN 1, TN 8
    assert m["precision"] == 0.0  # nothing predicted but truth not empty
    assert m["recall"] == 0.0
    assert m["dice"] == 0.0
    assert m["iou"] == 0.0
    assert m["specificity"] == 1.0  # 8 / 8
    assert m["accuracy"] == pytest.approx(8 / 9)


def test_non_empty_prediction_empty_truth() -> None:
    pred = np.zeros((3, 3), dtype=np.uint8)
    pred[0, 0] = 1
    m = overlap_metrics(confusion_counts(pred, np.zeros_like(pred)))  # TP 0, FP 1, FN 0, TN 8
    assert m["precision"] == 0.0  # 0 / 1
    assert m["recall"] == 0.0  # truth empty but something predicted
    assert m["dice"] == 0.0
    assert m["iou"] == 0.0
    assert m["specificity"] == pytest.approx(8 / 9)


def test_specificity_without_true_negatives() -> None:
    ones = np.ones((3, 3), dtype=np.uint8)
    assert overlap_metrics(confusion_counts(ones, ones))["specificity"] == 1.0  # nothing to judge, agree
    pred = ones.copy()
    pred[0, 0] = 0  # one predicted negative, no true negative: TN + FP = 0, FN = 1
    assert overlap_metrics(confusion_counts(pred, ones))["specificity"] == 0.0


def test_empty_fov_scores_one() -> None:
    pred = np.ones((3, 3), dtype=np.uint8)
    c = confusion_counts(pred, np.zeros_like(pred), np.zeros_like(pred))
    assert c == Confusion(0, 0, 0, 0)
    assert overlap_metrics(c)["accuracy"] == 1.0


def test_counts_add_for_pooling() -> None:
    assert Confusion(1, 2, 3, 4) + Confusion(10, 20, 30, 40) == Confusion(11, 22, 33, 44)
    with pytest.raises(ConfigError, match="tp"):
        Confusion(-1, 0, 0, 0)


def test_shape_mismatch_names_both_shapes() -> None:
    with pytest.raises(ShapeError, match=r"pred shape \(3, 3\) does not match gt shape \(3, 4\)"):
        confusion_counts(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(ShapeError, match=r"fov shape \(2, 2\)"):
        confusion_counts(np.zeros((3, 3)), np.zeros((3, 3)), np.zeros((2, 2)))


def test_binary_to_labels() -> None:
    mask = np.array([[0, 255], [255, 0]], dtype=np.uint8)
    out = binary_to_labels(mask)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(binary_to_labels(mask.astype(bool)), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(binary_to_labels(np.array([0, 1])), [0, 1])
    with pytest.raises(ConfigError, match=r"other values \[128\].*remap_values"):
        binary_to_labels(np.array([0, 128, 255], dtype=np.uint8))


def test_remap_values_bladder() -> None:
    mask = np.array([[0, 128], [255, 128]], dtype=np.uint8)
    np.testing.assert_array_equal(remap_values(mask, {0: 0, 128: 1, 255: 2}), [[0, 1], [2, 1]])
    with pytest.raises(ConfigError, match=r"\[255\]"):
        remap_values(mask, {0: 0, 128: 1})
    with pytest.raises(ShapeError, match="float"):
        remap_values(mask.astype(np.float32), {0: 0})
