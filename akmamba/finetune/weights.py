"""Edit-weighted loss: pixels the user corrected count ``edit_weight`` times as much as the rest.

The weight map of an image is ``1`` everywhere and ``edit_weight`` on its correction mask (the union of the regions
the user edited, see :mod:`akmamba.finetune.data`). :class:`WeightedDiceCELoss` is MONAI's ``DiceCELoss`` (softmax,
one-hot target, background excluded from Dice, Dice + cross-entropy with weight 1 each) with every per-pixel sum
weighted; with a weight map of ones it equals ``DiceCELoss`` (tested), so ``edit_weight=1`` is plain training.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from akmamba.errors import ConfigError, ShapeError

#: MONAI DiceLoss's default smoothing terms (numerator and denominator).
SMOOTH = 1e-5


def edit_weight_map(mask: np.ndarray | None, shape: tuple[int, int], edit_weight: float) -> np.ndarray:
    """The per-pixel loss weight of one image: ``edit_weight`` on edited pixels, 1 elsewhere.

    Args:
        mask: ``(H, W)`` correction mask (non-zero = edited), or None for an image without edits.
        shape: the label's ``(H, W)``.
        edit_weight: weight of edited pixels (> 0).

    Returns:
        ``(H, W)`` float32.

    Raises:
        ConfigError: ``edit_weight`` <= 0.
        ShapeError: the mask's shape differs from ``shape``.
    """
    if not edit_weight > 0:
        raise ConfigError(f"edit_weight must be > 0; got {edit_weight!r}.", parameter="edit_weight",
                          expected="> 0", got=edit_weight)
    out = np.ones(shape, np.float32)
    if mask is None:
        return out
    if tuple(mask.shape) != tuple(shape):
        raise ShapeError(f"Correction mask of shape {tuple(mask.shape)} does not match the label {tuple(shape)}.",
                         expected=tuple(shape), got=tuple(mask.shape))
    out[np.asarray(mask) != 0] = float(edit_weight)
    return out


class WeightedDiceCELoss(nn.Module):
    """Per-pixel weighted Dice + cross-entropy for ``(B, C, H, W)`` logits and ``(B, H, W)`` class targets.

    * cross-entropy: ``sum(w * ce) / sum(w)`` over the batch;
    * Dice, per image and foreground class: ``1 - (2 sum(w p t) + s) / (sum(w p) + sum(w t) + s)``, averaged over
      images and classes (``p`` softmax probability, ``t`` one-hot target, ``s`` = 1e-5).
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """The loss (a scalar tensor).

        Args:
            logits: ``(B, C, H, W)`` float, C >= 2.
            target: ``(B, H, W)`` or ``(B, 1, H, W)`` integer class indices.
            weight: ``(B, H, W)`` non-negative weights (None: ones).
        """
        if target.ndim == 4:
            target = target[:, 0]
        if logits.ndim != 4 or logits.shape[1] < 2 or target.shape != (logits.shape[0], *logits.shape[2:]):
            raise ShapeError(f"WeightedDiceCELoss needs logits (B, C>=2, H, W) and target (B, H, W); got "
                             f"{tuple(logits.shape)} and {tuple(target.shape)}.",
                             expected="(B, C, H, W) and (B, H, W)", got=(tuple(logits.shape), tuple(target.shape)))
        if weight is None:
            weight = torch.ones_like(target, dtype=logits.dtype)
        if weight.shape != target.shape:
            raise ShapeError(f"Loss weight {tuple(weight.shape)} must match the target {tuple(target.shape)}.",
                             expected=tuple(target.shape), got=tuple(weight.shape))
        target = target.long()
        weight = weight.to(logits.dtype)
        ce = F.cross_entropy(logits, target, reduction="none")
        ce_loss = (weight * ce).sum() / weight.sum().clamp_min(1e-12)
        probs = logits.softmax(1)[:, 1:]
        onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2)[:, 1:].to(logits.dtype)
        w = weight[:, None]
        dims = (2, 3)
        inter = (w * probs * onehot).sum(dims)
        denom = (w * probs).sum(dims) + (w * onehot).sum(dims)
        dice_loss = (1.0 - (2.0 * inter + SMOOTH) / (denom + SMOOTH)).mean()
        return dice_loss + ce_loss
