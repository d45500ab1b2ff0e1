"""ROC AUC: hand cases, ties, a brute-force O(n^2) pair count, FOV, pooled, and a few million pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from akmamba.errors import ConfigError, ShapeError
from akmamba.metrics import pooled_roc_auc, roc_auc


def brute_force_auc(scores: np.ndarray, targets: np.ndarray) -> float:
    """Wins plus half ties over every (positive, negative) pair."""
    pos, neg = scores[targets != 0], scores[targets == 0]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def test_hand_worked() -> None:
    # positives 0.35, 0.8; negatives 0.1, 0.4: 0.35 beats 0.1, loses to 0.4; 0.8 beats both -> 3 / 4
    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75


def test_hand_worked_ties_count_half() -> None:
    # positives 0.5, 0.5; negatives 0.5, 0.2: each positive ties one (0.5) and beats one (1) -> 3 / 4
    assert roc_auc(np.array([0.5, 0.5, 0.5, 0.2]), np.array([1, 0, 1, 0])) == 0.75
    assert roc_auc(np.full(6, 0.3), np.array([1, 0, 1, 0, 0, 1])) == 0.5  # all tied


def test_perfect_and_inverted_on_2d_image() -> None:
    gt = np.array([[0, 1], [1, 0]])
    assert roc_auc(np.array([[0.1, 0.9], [0.8, 0.2]]), gt) == 1.0
    assert roc_auc(np.array([[0.9, 0.1], [0.2, 0.8]]), gt) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_with_many_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    targets = rng.random(400) < 0.3
    scores = np.round(rng.random(400) * 0.5 + 0.4 * targets, 1)  # ~10 distinct values: heavy ties
    assert roc_auc(scores, targets) == pytest.approx(brute_force_auc(scores, targets), abs=1e-12)
    ints = rng.integers(0, 5, 400)  # integer scores work too
    assert roc_auc(ints, targets) == pytest.approx(brute_force_auc(ints, targets), abs=1e-12)


def test_fov_uses_only_inside_pixels() -> None:
    scores = np.array([[0.9, 0.1], [0.2, 0.8]])
    gt = np.array([[0, 1], [1, 0]])
    fov = np.array([[0, 1], [1, 1]])
    # inside: positives 0.1, 0.2; negative 0.8 -> 0
    assert roc_auc(scores, gt, fov) == 0.0
    assert roc_auc(scores, gt, np.array([[1, 1], [0, 0]])) == 0.0  # 0.1 (pos) vs 0.9 (neg)


def test_one_class_is_nan() -> None:
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([0, 0])))
    assert math.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))
    assert math.isnan(pooled_roc_auc([]))


def test_errors() -> None:
    with pytest.raises(ShapeError, match=r"scores shape \(3,\) does not match targets shape \(4,\)"):
        roc_auc(np.zeros(3), np.zeros(4))
    with pytest.raises(ConfigError, match="NaN"):
        roc_auc(np.array([0.1, np.nan]), np.array([0, 1]))


def test_pooled_is_auc_of_all_pixels_not_mean_of_cases() -> None:
    a = (np.array([0.1, 0.9]), np.array([0, 1]))  # AUC 1
    b = (np.array([0.95, 0.99]), np.array([0, 1]))  # AUC 1
    pooled = pooled_roc_auc([a, b])
    all_s, all_t = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
    assert pooled == pytest.approx(brute_force_auc(all_s, all_t))
    assert pooled == 0.75  # 0.9 loses to 0.95; the other three pairs are won


def test_millions_of_pixels_against_histogram() -> None:
    rng = np.random.default_rng(3)
    n = 3_000_000
    targets = rng.random(n) < 0.12
    scores = np.clip(rng.normal(100 + 40 * targets, 30), 0, 255).astype(np.uint8)
    # independent count over the 256 score levels
    pos = np.bincount(scores[targets], minlength=256).astype(np.float64)
    neg = np.bincount(scores[~targets], minlength=256).astype(np.float64)
    expected = (np.sum(pos * (np.cumsum(neg) - neg)) + 0.5 * np.sum(pos * neg)) / (pos.sum() * neg.sum())
    assert roc_auc(scores.reshape(1000, 3000), targets.reshape(1000, 3000)) == pytest.approx(expected, abs=1e-12)
