"""evaluate_case rows and summarise: multi-label hand case, per-image mean vs pooled, mean over labels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from akmamba.errors import ConfigError, ShapeError
from akmamba.metrics import evaluate_case, label_table, summarise

GT = np.array([[0, 1, 1, 0], [0, 1, 2, 0], [0, 1, 2, 0], [0, 0, 0, 0]])
PRED = np.array([[0, 1, 1, 1], [0, 2, 2, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
LABELS = {1: "wall", 2: "tumour"}


def test_multi_label_hand_worked() -> None:
    wall, tumour = evaluate_case(PRED, GT, LABELS, case_id="c1")
    # wall: gt (0,1),(0,2),(1,1),(2,1); pred (0,1),(0,2),(0,3),(2,1)
    # TP 3, FP (0,3) 1, FN (1,1) 1, TN 16 - 5 = 11
    assert (wall["tp"], wall["fp"], wall["fn"], wall["tn"]) == (3, 1, 1, 11)
    assert wall["dice"] == pytest.approx(0.75)  # 6 / 8
    assert wall["iou"] == pytest.approx(0.6)  # 3 / 5
    assert wall["specificity"] == pytest.approx(11 / 12)
    assert wall["accuracy"] == pytest.approx(14 / 16)
    # tumour: gt (1,2),(2,2); pred (1,1),(1,2): TP 1, FP 1, FN 1, TN 13
    assert (tumour["tp"], tumour["fp"], tumour["fn"], tumour["tn"]) == (1, 1, 1, 13)
    assert tumour["dice"] == pytest.approx(0.5)  # 2 / 4
    assert tumour["iou"] == pytest.approx(1 / 3)
    assert tumour["precision"] == pytest.approx(0.5)
    assert tumour["recall"] == pytest.approx(0.5)
    assert (wall["case"], wall["label"], wall["label_name"], wall["n_pixels"]) == ("c1", 1, "wall", 16)
    assert "auc" not in wall
    assert "cldice" not in wall


def test_label_list_names_classes_one_to_k() -> None:
    assert label_table(["wall", "tumour"]) == LABELS
    assert label_table({0: "background", 2: "tumour", 1: "wall"}) == LABELS
    assert evaluate_case(PRED, GT, ["wall", "tumour"]) == evaluate_case(PRED, GT, LABELS)
    with pytest.raises(ConfigError, match=r"background .* implicit"):
        label_table(["background", "vessel"])
    with pytest.raises(ConfigError, match="No foreground label"):
        label_table({0: "background"})
    with pytest.raises(ConfigError, match="unique"):
        label_table(["a", "a"])


def test_fov_and_probs() -> None:
    gt = np.array([[0, 1, 1], [0, 1, 0], [0, 0, 0]])
    pred = np.array([[0, 1, 0], [0, 1, 0], [1, 0, 0]])
    fov = np.array([[1, 1, 1], [1, 1, 1], [0, 1, 1]])  # hides the false positive at (2,0)
    probs = np.array([[0.1, 0.9, 0.4], [0.2, 0.8, 0.3], [0.7, 0.1, 0.1]])
    (row,) = evaluate_case(pred, gt, ["vessel"], fov=fov, probs=probs)
    # inside FOV: TP 2, FP 0, FN (0,2) 1, TN 8 - 3 = 5
    assert (row["tp"], row["fp"], row["fn"], row["tn"], row["n_pixels"]) == (2, 0, 1, 5, 8)
    # positives 0.9, 0.8, 0.4 vs negatives 0.1, 0.2, 0.3, 0.1, 0.1: every pair won -> 1.0
    assert row["auc"] == 1.0
    (no_fov,) = evaluate_case(pred, gt, ["vessel"], probs=probs)
    assert no_fov["fp"] == 1
    # 3 positives x 6 negatives; the 0.7 negative at (2,0) beats the 0.4 positive: 17 of 18 pairs won
    assert no_fov["auc"] == pytest.approx(17 / 18)


def test_multi_label_probs_channels_by_class() -> None:
    probs = np.stack([np.zeros((4, 4)), (GT == 1).astype(float), (GT == 2).astype(float)])
    wall, tumour = evaluate_case(PRED, GT, LABELS, probs=probs)
    assert wall["auc"] == 1.0
    assert tumour["auc"] == 1.0
    with pytest.raises(ShapeError, match=r"probs shape \(2, 4, 4\)"):
        evaluate_case(PRED, GT, LABELS, probs=probs[:2])


def test_cldice_rows() -> None:
    gt = np.zeros((5, 7), dtype=np.uint8)
    gt[2, 1:6] = 1
    pred = np.zeros_like(gt)
    pred[2, 1:4] = 1
    (row,) = evaluate_case(pred, gt, ["vessel"], cldice=True, skeleton_method="numpy")
    assert row["cldice"] == pytest.approx(0.75)
    assert (row["skel_pred"], row["skel_pred_in_gt"], row["skel_gt"], row["skel_gt_in_pred"]) == (3, 3, 5, 3)


def test_volume_case() -> None:
    gt = np.zeros((2, 3, 3), dtype=np.int16)
    gt[0, 1, 1] = gt[1, 1, 1] = 1
    pred = np.zeros_like(gt)
    pred[1, 1, 1:3] = 1
    # (z, y, x): TP (1,1,1); FP (1,1,2); FN (0,1,1); TN 18 - 3 = 15
    (row,) = evaluate_case(pred, gt, ["organ"])
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (1, 1, 1, 15)
    assert row["dice"] == pytest.approx(0.5)


def test_bad_inputs() -> None:
    with pytest.raises(ShapeError, match=r"pred shape \(4, 4\) does not match gt shape \(3, 3\)"):
        evaluate_case(PRED, GT[:3, :3], LABELS)
    with pytest.raises(ConfigError, match=r"gt holds values \[255\].*binary_to_labels"):
        evaluate_case(PRED.clip(0, 1), GT.clip(0, 1) * 255, ["vessel"])
    with pytest.raises(ConfigError, match=r"pred holds values \[2\]"):
        evaluate_case(PRED, GT.clip(0, 1), ["vessel"])
    with pytest.raises(ShapeError, match="dtype is float64"):
        evaluate_case(PRED.astype(float), GT, LABELS)
    with pytest.raises(ShapeError, match="fov shape"):
        evaluate_case(PRED, GT, LABELS, fov=np.ones((2, 2)))


def two_cases_of_different_size() -> list[dict]:
    pred_a, gt_a = np.array([[1, 0], [0, 0]]), np.array([[1, 1], [0, 0]])
    pred_b, gt_b = np.zeros((4, 4), dtype=int), np.zeros((4, 4), dtype=int)
    pred_b[0:3] = 1
    gt_b[0] = 1
    return evaluate_case(pred_a, gt_a, ["vessel"], case_id="a") + evaluate_case(pred_b, gt_b, ["vessel"], case_id="b")


def test_summarise_per_image_mean_vs_pooled() -> None:
    rows = two_cases_of_different_size()
    # a (2x2): TP 1, FP 0, FN 1, TN 2 -> Dice 2/3, IoU 1/2
    # b (4x4): TP 4, FP 8, FN 0, TN 4 -> Dice 8/16 = 1/2, IoU 4/12 = 1/3
    s = summarise(rows)["vessel"]
    assert s["n_cases"] == 2
    assert s["label"] == 1
    assert s["per_image_mean"]["dice"] == pytest.approx(7 / 12)  # (2/3 + 1/2) / 2
    assert s["per_image_mean"]["iou"] == pytest.approx(5 / 12)  # (1/2 + 1/3) / 2
    assert s["per_image_std"]["dice"] == pytest.approx((1 / 6) / math.sqrt(2))  # ddof = 1
    assert s["per_image_count"]["dice"] == 2
    # pooled: TP 5, FP 8, FN 1, TN 6
    assert s["counts"] == {"tp": 5, "fp": 8, "fn": 1, "tn": 6}
    assert s["pooled"]["dice"] == pytest.approx(10 / 19)  # 10 / (10 + 8 + 1)
    assert s["pooled"]["iou"] == pytest.approx(5 / 14)
    assert s["pooled"]["precision"] == pytest.approx(5 / 13)
    assert s["pooled"]["recall"] == pytest.approx(5 / 6)
    assert s["pooled"]["specificity"] == pytest.approx(6 / 14)
    assert s["pooled"]["accuracy"] == pytest.approx(11 / 20)
    assert "mean_over_labels" not in summarise(rows)


def test_summarise_single_case_std_is_nan() -> None:
    s = summarise(evaluate_case(PRED, GT, LABELS))["wall"]
    assert s["per_image_mean"]["dice"] == pytest.approx(0.75)
    assert math.isnan(s["per_image_std"]["dice"])


def test_mean_over_labels() -> None:
    rows = evaluate_case(PRED, GT, LABELS, case_id="c1") + evaluate_case(GT, GT, LABELS, case_id="c2")
    s = summarise(rows)
    m = s["mean_over_labels"]
    assert m["labels"] == ["wall", "tumour"]
    assert m["n_cases"] == 2
    # case means of Dice: c1 (0.75 + 0.5) / 2 = 0.625, c2 1.0 -> mean 0.8125
    assert m["per_image_mean"]["dice"] == pytest.approx(0.8125)
    assert m["per_image_std"]["dice"] == pytest.approx(0.375 / math.sqrt(2))
    # pooled wall: TP 7, FP 1, FN 1 -> 14/16; tumour: TP 3, FP 1, FN 1 -> 6/8; mean 0.8125
    assert s["wall"]["pooled"]["dice"] == pytest.approx(14 / 16)
    assert m["pooled"]["dice"] == pytest.approx((14 / 16 + 6 / 8) / 2)


def test_summarise_skips_undefined_auc_and_pools_cldice() -> None:
    gt_a = np.zeros((5, 7), dtype=np.uint8)
    gt_a[2, 1:6] = 1
    pred_a = np.zeros_like(gt_a)
    pred_a[2, 1:4] = 1
    probs = gt_a * 0.9 + 0.05
    rows = evaluate_case(pred_a, gt_a, ["v"], probs=probs, case_id="a", cldice=True, skeleton_method="numpy")
    empty = np.zeros_like(gt_a)
    rows += evaluate_case(empty, empty, ["v"], probs=probs, case_id="b", cldice=True, skeleton_method="numpy")
    assert math.isnan(rows[1]["auc"])  # one class only
    s = summarise(rows)["v"]
    assert s["per_image_mean"]["auc"] == 1.0
    assert s["per_image_count"]["auc"] == 1
    assert "auc" not in s["pooled"]
    assert s["per_image_mean"]["cldice"] == pytest.approx((0.75 + 1.0) / 2)
    assert s["pooled"]["cldice"] == pytest.approx(0.75)  # the empty case adds no skeleton pixels


def test_summarise_errors() -> None:
    rows = evaluate_case(PRED, GT, LABELS)
    with pytest.raises(ConfigError, match=r"appears twice.*unique case_id"):
        summarise(rows + rows)
    with pytest.raises(ConfigError, match="No rows"):
        summarise([])
    with pytest.raises(ConfigError, match=r"lacks keys \['tp'"):
        summarise([{"case": "x", "label": 1, "label_name": "v"}])


def test_pool_rows_sums_a_cases_files_and_recomputes_the_metrics() -> None:
    from akmamba.metrics import pool_rows

    pred, gt = np.zeros((4, 5), np.int64), np.zeros((4, 5), np.int64)
    gt[:2] = 1
    pred[:1] = 1  # half of the truth found, nothing false
    rows = [*evaluate_case(pred, gt, ["a"], case_id="p1-s1"), *evaluate_case(gt, gt, ["a"], case_id="p1-s2"),
            *evaluate_case(pred, gt, ["a"], case_id="p2-s1")]
    merged = pool_rows(rows, lambda name: name.split("-")[0])
    assert [(r["case"], r["n_files"]) for r in merged] == [("p1", 2), ("p2", 1)]
    p1 = merged[0]
    assert (p1["tp"], p1["fp"], p1["fn"], p1["tn"], p1["n_pixels"]) == (15, 0, 5, 20, 40)
    assert p1["dice"] == pytest.approx(2 * 15 / (2 * 15 + 5))
    assert merged[1]["dice"] == pytest.approx(rows[2]["dice"])  # a case of one file keeps its score
    assert summarise(merged)["a"]["pooled"]["dice"] == pytest.approx(summarise(rows)["a"]["pooled"]["dice"])
    with pytest.raises(ConfigError, match="appears twice"):
        pool_rows([*rows, rows[0]], str)
