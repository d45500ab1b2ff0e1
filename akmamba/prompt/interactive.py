"""The Qt-free state of an interactive prompt session on one 2-D plane (the viewer's Prompt tool uses it).

:class:`PromptState` collects the prompts of the label being corrected; :func:`accept_edit` says what Enter
writes into the label map; :func:`propagation_clicks` turns an accepted slice into the next slice's prompt.
Coordinates are pixel indices ``(row y, column x)`` of the plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from akmamba.prompt.encode import Box, Click, Prompt, Scribble


@dataclass
class PromptState:
    """The prompts given so far for one label on one plane of ``shape`` ``(H, W)``."""

    shape: tuple[int, int]
    label: int = 1
    prompts: list[Prompt] = field(default_factory=list)

    def _inside(self, y: float, x: float) -> tuple[int, int] | None:
        yi, xi = int(np.floor(y)), int(np.floor(x))
        h, w = self.shape
        return (yi, xi) if 0 <= yi < h and 0 <= xi < w else None

    def add_click(self, y: float, x: float, positive: bool = True) -> bool:
        """Add a click at pixel ``(floor(y), floor(x))``; False (nothing added) outside the plane."""
        p = self._inside(y, x)
        if p is None:
            return False
        self.prompts.append(Click(p[0], p[1], self.label, positive))
        return True

    def add_box(self, y0: float, x0: float, y1: float, x1: float) -> bool:
        """Add a box between two corners (clipped to the plane); False when it is under 2 pixels wide or tall."""
        h, w = self.shape
        ya, yb = sorted((int(np.clip(np.floor(y0), 0, h - 1)), int(np.clip(np.floor(y1), 0, h - 1))))
        xa, xb = sorted((int(np.clip(np.floor(x0), 0, w - 1)), int(np.clip(np.floor(x1), 0, w - 1))))
        if yb - ya < 1 or xb - xa < 1:
            return False
        self.prompts.append(Box(self.label, ya, xa, yb, xb))
        return True

    def add_scribble(self, points: list[tuple[float, float]], positive: bool = True) -> bool:
        """Add a stroke through ``(y, x)`` points (those outside the plane dropped); False when none is inside."""
        inside = [p for p in (self._inside(y, x) for y, x in points) if p is not None]
        if not inside:
            return False
        self.prompts.append(Scribble(self.label, tuple(inside), positive))
        return True

    def undo_last(self) -> bool:
        """Drop the last prompt; False when there was none."""
        if not self.prompts:
            return False
        self.prompts.pop()
        return True

    def clear(self) -> None:
        """Drop every prompt."""
        self.prompts.clear()


def preview_plane(current: np.ndarray, answer: np.ndarray, label: int) -> np.ndarray:
    """The plane shown while prompting: ``current`` labels with ``label`` replaced by the model's answer.

    Args:
        current: ``(H, W)`` the label map's plane.
        answer: ``(H, W)`` the model's class indices given the prompts.
        label: the label being corrected.

    Returns:
        ``(H, W)`` uint8: ``label`` where the answer says so; elsewhere ``current``, with its ``label`` pixels
        cleared to background.
    """
    cur = np.asarray(current)
    out = np.where(cur == label, 0, cur).astype(np.uint8)
    out[np.asarray(answer) == label] = label
    return out


def accept_edit(current: np.ndarray, answer: np.ndarray, label: int) -> tuple[np.ndarray, np.ndarray] | None:
    """What Enter writes: ``(mask, values)`` for ``LabelMap.set_region`` on the plane, or None when nothing
    changes. The label's pixels become exactly the answer's; other labels are overwritten only where the answer
    claims them."""
    new = preview_plane(current, answer, label)
    mask = new != np.asarray(current)
    return (mask, new) if mask.any() else None


def propagation_clicks(mask: np.ndarray, label: int, *, min_area: int = 4) -> list[Click]:
    """Positive clicks carrying an accepted slice to a neighbour: one at the interior-most pixel (distance
    transform maximum) of each 4-connected region of ``mask`` ``(H, W)`` of at least ``min_area`` pixels."""
    comps, n = ndi.label(np.asarray(mask, bool))
    clicks = []
    for k in range(1, n + 1):
        region = comps == k
        if region.sum() < min_area:
            continue
        dist = ndi.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        clicks.append(Click(int(y), int(x), label, True))
    return clicks
