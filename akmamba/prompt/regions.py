"""Keep the regions the user pointed at: the connected-component rule applied to a prompt-aware model's answer.

A click says "this object" (or "not this object"), as in Slicer's and ITK-SNAP's seed tools and SAM-style
prompting. The model answers with a whole-image mask for the label, which may keep regions nobody pointed at
(false positives far from every click). With the ``"clicked"`` rule, for each label that has prompts:

* when the label has positive prompts (positive clicks or scribbles, or boxes), only its connected regions
  (8-connected) that touch one of them are kept: a region touches a click or a scribble pixel when it comes within
  ``reach`` pixels of it, a box when it overlaps the box;
* a region touched by a negative click or scribble and by no positive prompt is dropped.

Regions the user has not yet pointed at come back with the next positive click in them. ``"model"`` leaves the
answer as it is. numpy/scipy only (SciPy imported on first use, so the CLI's parser can read :data:`RULES`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from akmamba.errors import ConfigError
from akmamba.prompt.encode import Box, Click, Prompt, Scribble, stroke_pixels

RULES = ("clicked", "model")
"""The region rules: ``"clicked"`` (the default) and ``"model"``."""
_EIGHT = np.ones((3, 3), bool)


def _anchors(prompts: Sequence[Prompt], label: int, positive: bool, shape: tuple[int, int], reach: int
             ) -> np.ndarray:
    """``(H, W)`` bool: the pixels within ``reach`` of ``label``'s clicks and scribbles of the given sign, and
    (positive only) its boxes."""
    h, w = shape
    points = np.zeros(shape, bool)
    boxes = np.zeros(shape, bool)
    for p in prompts:
        if p.label != label:
            continue
        if isinstance(p, Click) and p.positive == positive:
            if 0 <= p.y < h and 0 <= p.x < w:
                points[p.y, p.x] = True
        elif isinstance(p, Scribble) and p.positive == positive:
            for y, x in stroke_pixels(p.points):
                if 0 <= y < h and 0 <= x < w:
                    points[y, x] = True
        elif isinstance(p, Box) and positive:
            ya, yb = sorted((p.y0, p.y1))
            xa, xb = sorted((p.x0, p.x1))
            boxes[max(ya, 0):yb + 1, max(xa, 0):xb + 1] = True
    if reach > 0 and points.any():
        from scipy import ndimage as ndi

        points = ndi.distance_transform_edt(~points) <= reach
    return points | boxes


def keep_clicked(mask: np.ndarray, prompts: Sequence[Prompt], label: int, *, reach: int = 2) -> np.ndarray:
    """The ``"clicked"`` rule on one label's mask.

    Args:
        mask: ``(H, W)`` bool, the model's answer for ``label``.
        prompts: every prompt given on the plane (those of other labels are ignored).
        label: the class index of ``mask``.
        reach: how near (pixels, Euclidean) a region must come to a click or scribble pixel to count as touched.

    Returns:
        ``(H, W)`` bool: ``mask`` with the regions nobody pointed at removed (``mask`` itself, copied, when
        ``label`` has no prompt).
    """
    from scipy import ndimage as ndi

    m = np.asarray(mask, bool)
    if not any(p.label == label for p in prompts):
        return m.copy()
    comps, n = ndi.label(m, structure=_EIGHT)
    if n == 0:
        return m.copy()
    pos = _anchors(prompts, label, True, m.shape, reach)
    neg = _anchors(prompts, label, False, m.shape, reach)
    touched_pos = np.zeros(n + 1, bool)
    touched_pos[np.unique(comps[pos & m])] = True
    touched_neg = np.zeros(n + 1, bool)
    touched_neg[np.unique(comps[neg & m])] = True
    keep = touched_pos if pos.any() else ~touched_neg
    keep[0] = False
    return keep[comps]


def check_rule(rule: str) -> None:
    """Raise :class:`ConfigError` (parameter ``regions``) unless ``rule`` is one of :data:`RULES`."""
    if rule not in RULES:
        raise ConfigError(f"Unknown region rule {rule!r}; valid: {', '.join(RULES)}.", parameter="regions",
                          expected=list(RULES), got=rule)


def apply_rule(labels: np.ndarray, prompts: Sequence[Prompt], rule: str = "clicked", *, reach: int = 2
               ) -> np.ndarray:
    """A prompt answer's class indices after ``rule`` (``"clicked"`` or ``"model"``), label by label.

    Args:
        labels: ``(H, W)`` class indices, the model's answer to ``prompts``.
        prompts: the prompts it answered.
        rule: ``"clicked"`` (:func:`keep_clicked` on every prompted label; removed pixels become background 0)
            or ``"model"`` (unchanged).
        reach: see :func:`keep_clicked`.

    Returns:
        ``(H, W)`` class indices, the same dtype as ``labels``.

    Raises:
        ConfigError: an unknown rule.
    """
    check_rule(rule)
    out = np.array(labels, copy=True)
    if rule == "model":
        return out
    for label in sorted({p.label for p in prompts}):
        mask = out == label
        out[mask & ~keep_clicked(mask, prompts, label, reach=reach)] = 0
    return out
