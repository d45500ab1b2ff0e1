"""Area under the ROC curve, exact and rank-based (numpy only).

AUC is the probability that a randomly chosen positive pixel scores higher than a randomly chosen negative
one, ties counting one half (the Mann-Whitney U statistic divided by ``n_pos * n_neg``). It is computed from
one sort, so it costs O(n log n) time and O(n) memory and is exact for any number of tied scores; it is the
same number as the trapezoidal area under the ROC curve through every distinct threshold.

Convention: AUC is undefined (``nan``) when the pixels judged hold only positives or only negatives; it is
never replaced by 0.5 or 1.0, and aggregation skips it (see ``akmamba.metrics.aggregate``).

Pooled AUC over several images is *not* the mean of per-image AUCs; it needs every pixel of every image at
once. Use :func:`pooled_roc_auc` on the (scores, targets) pairs; ``summarise`` reports per-image AUC only.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from akmamba.errors import ConfigError
from akmamba.metrics.overlap import require_same_shape


def roc_auc(scores: np.ndarray, targets: np.ndarray, fov: np.ndarray | None = None) -> float:
    """Exact ROC AUC of ``scores`` for the binary ``targets``, with ties counted as one half.

    Args:
        scores: real scores or probabilities, any shape ``S``; higher means more likely positive.
        targets: shape ``S``; non-zero is positive.
        fov: optional mask, shape ``S``; only pixels where ``fov != 0`` are used.

    Returns:
        AUC in [0, 1], or ``nan`` when the pixels used are all positive or all negative.

    Raises:
        ShapeError: when the shapes differ.
        ConfigError: when a used score is NaN.
    """
    scores, targets = np.asarray(scores), np.asarray(targets)
    require_same_shape(scores, targets, "scores", "targets")
    if fov is not None:
        fov = np.asarray(fov)
        require_same_shape(fov, targets, "fov", "targets")
        keep = fov != 0
        scores, targets = scores[keep], targets[keep]
    return _auc_flat(scores.ravel(), targets.ravel() != 0)


def pooled_roc_auc(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """Exact ROC AUC over all pixels of several images together (the pooled counterpart of :func:`roc_auc`).

    Args:
        pairs: ``(scores, targets)`` per image, each pair of equal shape; apply any FOV beforehand by
            indexing (``scores[fov != 0]``).

    Returns:
        Pooled AUC, or ``nan`` when all pixels are of one class.

    Raises:
        ShapeError: when a pair's shapes differ.
        ConfigError: when a score is NaN.
    """
    all_scores, all_targets = [], []
    for scores, targets in pairs:
        scores, targets = np.asarray(scores), np.asarray(targets)
        require_same_shape(scores, targets, "scores", "targets")
        all_scores.append(scores.ravel())
        all_targets.append(targets.ravel() != 0)
    if not all_scores:
        return float("nan")
    return _auc_flat(np.concatenate(all_scores), np.concatenate(all_targets))


def _auc_flat(scores: np.ndarray, positive: np.ndarray) -> float:
    n_pos = int(np.count_nonzero(positive))
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        raise ConfigError(
            "Scores contain NaN, expected finite probabilities. Check the model output for this case.",
            parameter="scores",
            expected="finite values",
            got="NaN",
        )
    order = np.argsort(scores, kind="stable")
    s = scores[order]
    y = positive[order].astype(np.int64)
    # Groups of equal scores, in increasing order: a positive beats every negative of a lower group and
    # ties (half a win) with each negative of its own group.
    starts = np.flatnonzero(np.concatenate(([True], s[1:] != s[:-1])))
    pos_g = np.add.reduceat(y, starts)
    neg_g = np.diff(np.append(starts, s.size)) - pos_g
    neg_below = np.cumsum(neg_g) - neg_g
    # Twice the U statistic, kept in int64 so that it is exact (2 * n_pos * n_neg < 2**63 for any image).
    twice_u = int(np.sum(2 * pos_g * neg_below + pos_g * neg_g))
    return twice_u / (2 * n_pos * n_neg)
