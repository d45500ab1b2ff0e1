"""Confusion counts and the overlap metrics computed from them (numpy only).

Every metric here is a function of the four pixel counts of one binary decision (one label of one case):
TP (predicted and true), FP (predicted, not true), FN (true, not predicted), TN (neither). Values are
fractions in [0, 1], never percentages. Formulas (Dice and IoU are the paper's eqs. 4-5):

=============  ==========================  ==============================  ==================================
metric         formula                     undefined when                  value then (convention)
=============  ==========================  ==============================  ==================================
precision      TP / (TP + FP)              nothing predicted               1.0 if the truth is empty too
                                                                           (FN = 0), else 0.0
recall         TP / (TP + FN)              the truth is empty              1.0 if nothing predicted (FP = 0),
(sensitivity)                                                              else 0.0
specificity    TN / (TN + FP)              no true negatives (all pixels   1.0 if no predicted negatives
                                           are foreground)                 either (FN = 0), else 0.0
accuracy       (TP + TN) / N               N = 0 (empty FOV)               1.0
dice           2TP / (2TP + FP + FN)       both masks empty                1.0
iou            TP / (TP + FP + FN)         both masks empty                1.0
=============  ==========================  ==============================  ==================================

The single rule behind the table: when a ratio has no pixels to judge, it is 1.0 if the prediction and the
truth agree on the pixels concerned (both empty) and 0.0 otherwise. So two empty masks score 1.0 on every
metric, and an empty prediction against a non-empty truth scores precision 0.0, recall 0.0, Dice 0.0.

Note on the paper: its "precision" on DRIVE (97.21 next to Dice 82.57) is almost certainly pixel *accuracy*.
This module keeps the two apart; report both under their own names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from akmamba.errors import ConfigError, ShapeError

OVERLAP_METRICS: tuple[str, ...] = ("precision", "recall", "specificity", "accuracy", "dice", "iou")
"""Names of the metrics returned by :func:`overlap_metrics`, in report column order."""


@dataclass(frozen=True)
class Confusion:
    """Pixel counts of one binary decision. Counts add up over cases (``a + b``) for pooled metrics.

    Attributes:
        tp: predicted and true pixels.
        fp: predicted, not true.
        fn: true, not predicted.
        tn: neither predicted nor true.
    """

    tp: int
    fp: int
    fn: int
    tn: int

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn", "tn"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(
                    f"Confusion count {name} is {getattr(self, name)}, expected >= 0. Counts are pixel numbers.",
                    parameter=name,
                    expected=">= 0",
                    got=getattr(self, name),
                )

    @property
    def n(self) -> int:
        """Number of pixels judged (inside the FOV)."""
        return self.tp + self.fp + self.fn + self.tn

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)


def require_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """Raise ShapeError naming both arrays and both shapes unless ``a.shape == b.shape``."""
    if a.shape != b.shape:
        raise ShapeError(
            f"{name_a} shape {a.shape} does not match {name_b} shape {b.shape}. "
            f"Pass arrays of the same image, with the same (z, y, x) or (y, x) layout.",
            parameter=name_a,
            expected=b.shape,
            got=a.shape,
        )


def confusion_counts(pred: np.ndarray, gt: np.ndarray, fov: np.ndarray | None = None) -> Confusion:
    """Count TP, FP, FN, TN of a binary prediction against a binary truth.

    Args:
        pred: predicted mask, any shape ``S``; non-zero is foreground.
        gt: ground-truth mask, shape ``S``; non-zero is foreground.
        fov: optional field-of-view mask, shape ``S``; only pixels where ``fov != 0`` are counted.

    Returns:
        The four counts.

    Raises:
        ShapeError: when the shapes differ.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    require_same_shape(pred, gt, "pred", "gt")
    p, g = pred != 0, gt != 0
    if fov is None:
        n = p.size
    else:
        f = np.asarray(fov)
        require_same_shape(f, gt, "fov", "gt")
        f = f != 0
        p &= f
        g &= f
        n = int(np.count_nonzero(f))
    tp = int(np.count_nonzero(p & g))
    n_p, n_g = int(np.count_nonzero(p)), int(np.count_nonzero(g))
    return Confusion(tp=tp, fp=n_p - tp, fn=n_g - tp, tn=n - n_p - n_g + tp)


def _ratio(num: int, den: int, agree_when_empty: bool) -> float:
    if den == 0:
        return 1.0 if agree_when_empty else 0.0
    return num / den


def precision(c: Confusion) -> float:
    """TP / (TP + FP); with nothing predicted, 1.0 if the truth is empty too, else 0.0 (module table)."""
    return _ratio(c.tp, c.tp + c.fp, c.fn == 0)


def recall(c: Confusion) -> float:
    """Sensitivity TP / (TP + FN); with an empty truth, 1.0 if nothing is predicted, else 0.0."""
    return _ratio(c.tp, c.tp + c.fn, c.fp == 0)


def specificity(c: Confusion) -> float:
    """TN / (TN + FP); with no true negatives, 1.0 if there are no predicted negatives either, else 0.0."""
    return _ratio(c.tn, c.tn + c.fp, c.fn == 0)


def accuracy(c: Confusion) -> float:
    """(TP + TN) / N over the pixels judged; 1.0 when no pixel is judged (empty FOV)."""
    return _ratio(c.tp + c.tn, c.n, True)


def dice(c: Confusion) -> float:
    """2TP / (2TP + FP + FN) (paper eq. 4, = F1); 1.0 when both masks are empty."""
    return _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn, True)


def iou(c: Confusion) -> float:
    """Jaccard TP / (TP + FP + FN) (paper eq. 5); 1.0 when both masks are empty."""
    return _ratio(c.tp, c.tp + c.fp + c.fn, True)


def overlap_metrics(c: Confusion) -> dict[str, float]:
    """All metrics of :data:`OVERLAP_METRICS` for one set of counts, as ``{name: value}``."""
    return {
        "precision": precision(c),
        "recall": recall(c),
        "specificity": specificity(c),
        "accuracy": accuracy(c),
        "dice": dice(c),
        "iou": iou(c),
    }


def remap_values(mask: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """Map stored pixel values to class indices, for example ``{0: 0, 128: 1, 255: 2}`` for bladder PNGs.

    Args:
        mask: integer or bool array, any shape ``S``.
        mapping: stored value -> class index (0 background, 1..K); every value present must be a key.

    Returns:
        ``uint8`` array of shape ``S`` (``int32`` if a class index exceeds 255).

    Raises:
        ConfigError: when the mask holds a value that is not a key of ``mapping``.
        ShapeError: when the mask is not of integer or bool dtype.
    """
    mask = np.asarray(mask)
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        raise ShapeError(
            f"Mask dtype is {mask.dtype}, expected an integer or bool mask. Threshold probabilities first.",
            parameter="mask",
            expected="integer or bool",
            got=str(mask.dtype),
        )
    values = np.unique(mask)
    unknown = [int(v) for v in values if int(v) not in mapping]
    if unknown:
        raise ConfigError(
            f"Mask holds values {unknown[:10]} that the mapping does not cover (keys {sorted(mapping)}). "
            f"Add them to the mapping or check that this is a label mask.",
            parameter="mapping",
            expected=sorted(mapping),
            got=unknown,
        )
    out_dtype = np.uint8 if max(mapping.values(), default=0) <= 255 else np.int32
    out = np.zeros(mask.shape, dtype=out_dtype)
    for value, index in mapping.items():
        if index != 0:
            out[mask == value] = index
    return out


def binary_to_labels(mask: np.ndarray) -> np.ndarray:
    """Convert a binary mask stored as 0/255 (or already 0/1, or bool) to class indices 0/1.

    Args:
        mask: shape ``S``, values in {0, 255} or {0, 1}.

    Returns:
        ``uint8`` array of shape ``S`` with values 0 and 1.

    Raises:
        ConfigError: when other values are present (use :func:`remap_values` for multi-class masks).
    """
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return mask.astype(np.uint8)
    try:
        return remap_values(mask, {0: 0, 1: 1, 255: 1})
    except ConfigError as exc:
        raise ConfigError(
            f"Binary mask expected (values 0 and 255, or 0 and 1), got other values {exc.got}. "
            f"Use remap_values() for a multi-class mask such as 0/128/255.",
            parameter="mask",
            expected=[0, 255],
            got=exc.got,
        ) from exc
