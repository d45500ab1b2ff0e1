"""The simulated user of interactive-segmentation papers (NoC protocol), and the region-growing baseline.

Per image and label: the model segments without a prompt (click 0); then, while the label's Dice is below the
target and fewer than ``max_clicks`` clicks were given, the next click goes to the largest error region (the
largest 4-connected component of the missed pixels and of the false ones together, by area) at the pixel
farthest from that region's border (the maximum of its Euclidean distance transform, the image border counting
as border): a positive click in a missed region, a negative one in a false region. Each answer replaces the
label's mask. NoC is the first click count (0 included) whose Dice reaches the target, ``max_clicks + 1`` when
none does. numpy/scipy only; the "answer" is any callable clicks -> mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from akmamba.errors import ConfigError, ShapeError
from akmamba.prompt.encode import Click

Answer = Callable[[Sequence[Click]], np.ndarray]
"""Clicks so far (in order) -> the label's mask ``(H, W)`` bool after them."""


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice of two boolean masks (1.0 when both are empty)."""
    p, g = np.asarray(pred, bool), np.asarray(gt, bool)
    total = int(p.sum()) + int(g.sum())
    return 1.0 if total == 0 else 2.0 * int((p & g).sum()) / total


def next_click(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, bool] | None:
    """Where the simulated user clicks next, for one label.

    Args:
        gt: ``(H, W)`` bool, the label's truth.
        pred: ``(H, W)`` bool, the label's current mask.

    Returns:
        ``(y, x, positive)``: the interior-most pixel of the largest error region (ties: missed before false,
        then the first region in raster order; within a region the first maximum in raster order), positive
        when that region was missed; None when the mask is perfect.

    Raises:
        ShapeError: masks of different shapes.
    """
    g, p = np.asarray(gt, bool), np.asarray(pred, bool)
    if g.shape != p.shape or g.ndim != 2:
        raise ShapeError(f"next_click needs two (H, W) masks of one shape; got {g.shape} and {p.shape}.",
                         parameter="pred", expected=g.shape, got=p.shape)
    best: tuple[int, np.ndarray, bool] | None = None
    for errors, positive in ((g & ~p, True), (p & ~g, False)):
        comps, n = ndi.label(errors)
        if n == 0:
            continue
        areas = np.bincount(comps.ravel())[1:]
        k = int(np.argmax(areas))
        if best is None or areas[k] > best[0]:
            best = (int(areas[k]), comps == k + 1, positive)
    if best is None:
        return None
    region = np.pad(best[1], 1)
    dist = ndi.distance_transform_edt(region)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(y), int(x), best[2]


@dataclass
class LabelRun:
    """One label of one image under the protocol.

    Attributes:
        dice_after: Dice after 0, 1, ... clicks (stops at the target or the limit).
        clicks: ``(y, x, positive)`` of each click.
        noc: clicks needed to reach the target, ``max_clicks + 1`` if never.
    """

    dice_after: list[float] = field(default_factory=list)
    clicks: list[tuple[int, int, bool]] = field(default_factory=list)
    noc: int = 0


def run_label(answer: Answer, gt: np.ndarray, label: int, *, max_clicks: int = 20, target: float = 0.85) -> LabelRun:
    """Simulate the user on one label of one image.

    Args:
        answer: clicks -> the label's mask (``answer([])`` is the prompt-free segmentation).
        gt: ``(H, W)`` bool, the label's truth.
        label: the class index the clicks are for.
        max_clicks: the click limit.
        target: the Dice to reach.

    Raises:
        ConfigError: ``max_clicks`` < 0 or ``target`` outside (0, 1].
    """
    if max_clicks < 0:
        raise ConfigError(f"max_clicks must be >= 0; got {max_clicks}.", parameter="max_clicks", expected=">= 0",
                          got=max_clicks)
    if not 0 < target <= 1:
        raise ConfigError(f"target must be a Dice in (0, 1]; got {target}.", parameter="target",
                          expected="(0, 1]", got=target)
    g = np.asarray(gt, bool)
    clicks: list[Click] = []
    pred = np.asarray(answer(clicks), bool)
    run = LabelRun([dice(pred, g)])
    while run.dice_after[-1] < target and len(clicks) < max_clicks:
        where = next_click(g, pred)
        if where is None:
            break
        clicks.append(Click(where[0], where[1], label, where[2]))
        run.clicks.append(where)
        pred = np.asarray(answer(list(clicks)), bool)
        run.dice_after.append(dice(pred, g))
    reached = [k for k, d in enumerate(run.dice_after) if d >= target]
    run.noc = reached[0] if reached else max_clicks + 1
    return run


def carried(dice_after: Sequence[float], max_clicks: int) -> list[float]:
    """``dice_after`` extended to ``max_clicks + 1`` entries by repeating its last value (the user stopped)."""
    values = list(dice_after)
    return values + [values[-1]] * (max_clicks + 1 - len(values))


# ----------------------------------------------------------------------------------------- region growing

@dataclass(frozen=True)
class RegionGrow:
    """The classical answer to a click: grow a region on the image from it (like Slicer's "Grow from seeds").

    The region is the 8-connected set of pixels reachable from the click whose smoothed intensity (Gaussian,
    ``smooth`` pixels) is within ``tolerance`` image standard deviations of the click's, limited to a disc of
    ``radius`` pixels around it (so one click cannot flood the whole background). A positive click adds the
    region to the label's mask, a negative one removes it.
    """

    tolerance: float = 0.3
    radius: int = 40
    smooth: float = 1.0

    def feature(self, image: np.ndarray) -> np.ndarray:
        """``(H, W)`` float32: the grey image (colour averaged) smoothed and divided by its standard deviation."""
        img = np.asarray(image, np.float32)
        if img.ndim == 3:
            img = img[..., :3].mean(-1)
        img = ndi.gaussian_filter(img, self.smooth) if self.smooth > 0 else img
        return img / max(float(img.std()), 1e-6)

    def region(self, feature: np.ndarray, y: int, x: int) -> np.ndarray:
        """``(H, W)`` bool: the region grown from ``(y, x)`` on :meth:`feature`'s output."""
        from skimage.segmentation import flood

        h, w = feature.shape
        r = self.radius
        y0, y1, x0, x1 = max(y - r, 0), min(y + r + 1, h), max(x - r, 0), min(x + r + 1, w)
        win = feature[y0:y1, x0:x1]
        yy, xx = np.ogrid[y0:y1, x0:x1]
        disc = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
        grown = flood(np.where(disc, win, np.inf), (y - y0, x - x0), tolerance=self.tolerance, connectivity=2)
        out = np.zeros((h, w), bool)
        out[y0:y1, x0:x1] = grown & disc
        return out

    def answerer(self, image: np.ndarray, initial: np.ndarray) -> Answer:
        """An :data:`Answer` that starts from ``initial`` (the plain model's mask) and applies each new click.

        The clicks passed must extend the previous call's (the protocol only appends).
        """
        feature = self.feature(image)
        done: list[int] = [0]
        masks: list[np.ndarray] = [np.asarray(initial, bool).copy()]

        def answer(clicks: Sequence[Click]) -> np.ndarray:
            if len(clicks) < done[0]:
                done[0], masks[0] = 0, np.asarray(initial, bool).copy()
            for c in clicks[done[0]:]:
                grown = self.region(feature, c.y, c.x)
                masks[0] = (masks[0] | grown) if c.positive else (masks[0] & ~grown)
            done[0] = len(clicks)
            return masks[0].copy()

        return answer
