"""The one rule that turns class probabilities into a label map (numpy only; no torch, no Qt).

Rule: **argmax over classes, ties to the lower class index** (``numpy.argmax`` returns the first maximum). It is
the maximum-a-posteriori decision for the softmax a model is trained with (cross-entropy + Dice), the rule nnU-Net
and MONAI's ``AsDiscrete(argmax=True)`` apply, and the one the training validation, the fine-tune promotion gate,
``akmamba predict`` and the viewer all use through :func:`labels_from_probs`. So a 3-class bladder pixel with
``p = (0.45, 0.30, 0.25)`` is background everywhere, and a tie ``(0.5, 0.5)`` is background.

A probability *threshold* is defined for a model with one foreground class only (``K = 2``, or a single
foreground-probability channel): the pixel is foreground where ``p[1] > threshold``. At 0.5 this is exactly the
argmax (``p[1] > p[0]``, the tie going to background). With more classes "how sure must the model be" has no single
answer (which foreground class would a lower threshold promote?), so a threshold is refused there rather than
giving a second rule; the viewer disables its slider for such models (:func:`threshold_applies`).
"""

from __future__ import annotations

import numpy as np

from akmamba.errors import ConfigError, ShapeError

#: The threshold at which the binary rule equals the argmax.
ARGMAX_THRESHOLD = 0.5


def threshold_applies(n_classes: int) -> bool:
    """Whether a probability threshold is defined for a model with ``n_classes`` output channels (1 or 2)."""
    return int(n_classes) <= 2


def labels_from_probs(probs: np.ndarray, threshold: float | None = None) -> np.ndarray:
    """Class labels of per-class probabilities (module docstring: argmax, ties to the lower index).

    Args:
        probs: ``(K, ...)`` probabilities, background first, e.g. ``(K, H, W)`` or ``(K, Z, Y, X)``. ``K = 1`` is
            read as the foreground probability.
        threshold: None (the argmax), or in [0, 1] for a model with one foreground class (``K <= 2``):
            foreground where ``p[1] > threshold``; lower keeps more foreground; 0.5 equals the argmax.

    Returns:
        Labels of shape ``probs.shape[1:]``, uint8 (uint16 for more than 256 classes).

    Raises:
        ConfigError: a threshold outside [0, 1], or a threshold for a model with more than one foreground class.
        ShapeError: ``probs`` has fewer than 2 dimensions.
    """
    p = np.asarray(probs)
    if p.ndim < 2:
        raise ShapeError(f"probs must be (K, ...) with K classes, got shape {p.shape}.", expected="(K, H, W)",
                         got=p.shape)
    k = p.shape[0]
    dtype = np.uint8 if k <= 256 else np.uint16
    if threshold is not None:
        if not 0.0 <= float(threshold) <= 1.0:
            raise ConfigError(f"Probability threshold must be in [0, 1], got {threshold}.", parameter="threshold",
                              expected="0..1", got=threshold)
        if not threshold_applies(k):
            raise ConfigError(
                f"A probability threshold is defined for a model with one foreground class; this one has {k} "
                "classes, so its labels are the argmax over classes. Pass no threshold.",
                parameter="threshold", expected="None for more than 2 classes", got=threshold)
    if k == 1:
        return (p[0] > (ARGMAX_THRESHOLD if threshold is None else float(threshold))).astype(dtype)
    if k == 2:  # p1 > t; at t = 0.5 this is p1 > p0 for probabilities summing to 1 (no argmax: 10x faster)
        if threshold is None:
            return (p[1] > p[0]).astype(dtype)
        return (p[1] > float(threshold)).astype(dtype)
    return p.argmax(axis=0).astype(dtype, copy=False)
