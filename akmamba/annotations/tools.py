"""Rasterisation and region helpers behind the editing tools (numpy and scipy.ndimage only, no state).

Coordinates are ``(y, x)`` in pixels with pixel centres on integers. Shape helpers return ``(region, mask)``: the
clipped bounding box as per-axis ``(start, stop)`` pairs and a boolean mask of that box's shape, or ``None`` when
the shape misses the plane entirely, so callers only ever touch the few pixels a stamp covers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from akmamba.errors import ConfigError

Region2D = tuple[tuple[int, int], tuple[int, int]]
Shape2D = tuple[int, int]

__all__ = [
    "capsule_mask",
    "connectivity_structure",
    "disc_mask",
    "flood_mask",
    "polygon_mask",
    "small_islands_mask",
]

_MIN_RADIUS = 0.5  # a zero-radius brush paints the pixel under the cursor and zero-width lines stay 8-connected


def disc_mask(center: Sequence[float], radius: float, shape: Shape2D) -> tuple[Region2D, np.ndarray] | None:
    """Pixels of a disc, clipped to a plane.

    Args:
        center: ``(y, x)``; rounded to the nearest pixel.
        radius: in pixels; pixel centres at distance ``<= radius`` are inside (values below 0.5 act as 0.5, i.e.
            one pixel).
        shape: ``(H, W)`` of the plane.

    Returns:
        ``(region, mask)`` with ``mask`` of shape ``(y1 - y0, x1 - x0)``, or ``None`` if the disc is off the plane.
    """
    return capsule_mask(center, center, radius, shape)


def capsule_mask(
    p0: Sequence[float], p1: Sequence[float], radius: float, shape: Shape2D
) -> tuple[Region2D, np.ndarray] | None:
    """Pixels within ``radius`` of the segment ``p0``-``p1`` (a brush dragged along it, with no gaps).

    Args:
        p0: ``(y, x)`` start; rounded to the nearest pixel.
        p1: ``(y, x)`` end; rounded to the nearest pixel.
        radius: in pixels (values below 0.5 act as 0.5).
        shape: ``(H, W)`` of the plane.

    Returns:
        ``(region, mask)``, or ``None`` if the capsule is off the plane.

    Raises:
        ConfigError: if ``radius`` is negative or not finite.
    """
    if not math.isfinite(radius) or radius < 0:
        raise ConfigError(f"Brush radius must be a finite number >= 0, got {radius!r}.", parameter="radius", got=radius)
    r = max(float(radius), _MIN_RADIUS)
    ay, ax = (float(round(v)) for v in p0[:2])
    by, bx = (float(round(v)) for v in p1[:2])
    y0, y1 = max(0, math.floor(min(ay, by) - r)), min(shape[0], math.floor(max(ay, by) + r) + 1)
    x0, x1 = max(0, math.floor(min(ax, bx) - r)), min(shape[1], math.floor(max(ax, bx) + r) + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    yy = np.arange(y0, y1, dtype=np.float64)[:, None] - ay
    xx = np.arange(x0, x1, dtype=np.float64)[None, :] - ax
    dy, dx = by - ay, bx - ax
    length2 = dy * dy + dx * dx
    if length2 > 0:
        t = np.clip((yy * dy + xx * dx) / length2, 0.0, 1.0)
        yy = yy - t * dy
        xx = xx - t * dx
    mask = yy * yy + xx * xx <= r * r + 1e-9
    if not mask.any():
        return None
    return ((y0, y1), (x0, x1)), mask


def polygon_mask(points: Sequence[Sequence[float]], shape: Shape2D) -> tuple[Region2D, np.ndarray] | None:
    """Pixels of a closed polygon: centres inside it (even-odd rule, scanline) plus its 1-pixel outline.

    The outline (every pixel within 0.5 of an edge) is included so that the pixels the user clicked as vertices and
    the edges drawn between them are always filled. Work is ``O(rows * edges + area of the bounding box)``.

    Args:
        points: ``N >= 3`` vertices ``(y, x)``, in order; the polygon closes itself.
        shape: ``(H, W)`` of the plane.

    Returns:
        ``(region, mask)`` over the polygon's clipped bounding box, or ``None`` if it is off the plane.

    Raises:
        ConfigError: with fewer than three vertices or non-finite coordinates.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] < 3 or pts.shape[1] != 2 or not np.isfinite(pts).all():
        raise ConfigError(
            f"A polygon needs at least 3 finite (y, x) vertices, got an array of shape {pts.shape}.",
            parameter="points",
            expected="(N >= 3, 2)",
            got=pts.shape,
        )
    y0 = max(0, math.floor(pts[:, 0].min() - 0.5))
    y1 = min(shape[0], math.floor(pts[:, 0].max() + 0.5) + 1)
    x0 = max(0, math.floor(pts[:, 1].min() - 0.5))
    x1 = min(shape[1], math.floor(pts[:, 1].max() + 0.5) + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    ay, ax = pts[:, 0], pts[:, 1]
    by, bx = np.roll(ay, -1), np.roll(ax, -1)
    ys = np.arange(y0, y1, dtype=np.float64)[:, None]
    # Half-open rule per edge (ymin <= y < ymax) so that a scanline through a vertex counts it once.
    crosses = ((ay <= ys) & (ys < by)) | ((by <= ys) & (ys < ay))
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = ax + (ys - ay) * (bx - ax) / (by - ay)
    x_at = np.sort(np.where(crosses, x_at, np.inf), axis=1)
    xs = np.arange(x0, x1, dtype=np.float64)[None, :]
    mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    for k in range(0, int(crosses.sum(axis=1).max(initial=0)), 2):
        left, right = x_at[:, k : k + 1], x_at[:, k + 1 : k + 2]
        mask |= (xs >= left) & (xs <= right)
    for a, b in zip(pts, np.roll(pts, -1, axis=0), strict=True):
        hit = _unrounded_capsule(a, b, 0.5, (y0, y1, x0, x1))
        if hit is not None:
            (sy0, sy1), (sx0, sx1) = hit[0]
            mask[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] |= hit[1]
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    mask = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return ((y0 + int(rows[0]), y0 + int(rows[-1]) + 1), (x0 + int(cols[0]), x0 + int(cols[-1]) + 1)), mask


def _unrounded_capsule(
    a: np.ndarray, b: np.ndarray, r: float, bounds: tuple[int, int, int, int]
) -> tuple[Region2D, np.ndarray] | None:
    """Like :func:`capsule_mask` but with sub-pixel end points, clipped to ``bounds = (y0, y1, x0, x1)``."""
    y0 = max(bounds[0], math.floor(min(a[0], b[0]) - r))
    y1 = min(bounds[1], math.floor(max(a[0], b[0]) + r) + 1)
    x0 = max(bounds[2], math.floor(min(a[1], b[1]) - r))
    x1 = min(bounds[3], math.floor(max(a[1], b[1]) + r) + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    yy = np.arange(y0, y1, dtype=np.float64)[:, None] - a[0]
    xx = np.arange(x0, x1, dtype=np.float64)[None, :] - a[1]
    dy, dx = b[0] - a[0], b[1] - a[1]
    length2 = dy * dy + dx * dx
    if length2 > 0:
        t = np.clip((yy * dy + xx * dx) / length2, 0.0, 1.0)
        yy, xx = yy - t * dy, xx - t * dx
    return ((y0, y1), (x0, x1)), yy * yy + xx * xx <= r * r + 1e-9


def connectivity_structure(ndim: int, connectivity: int) -> np.ndarray:
    """Neighbourhood for ``scipy.ndimage.label``.

    Args:
        ndim: 2 or 3.
        connectivity: 4 (2-D) or 6 (3-D) for face neighbours only; 8 (2-D) or 26 (3-D) for all neighbours. In
            3-D, 4 and 8 are accepted as the face-only and all-neighbour choices too.

    Returns:
        Boolean structuring element of shape ``(3,) * ndim``.

    Raises:
        ConfigError: for any other value.
    """
    if connectivity in (4, 6):
        return ndimage.generate_binary_structure(ndim, 1)
    if connectivity in (8, 26):
        return ndimage.generate_binary_structure(ndim, ndim)
    raise ConfigError(
        f"connectivity must be 4 or 8 (6 or 26 in 3-D), got {connectivity!r}.",
        parameter="connectivity",
        expected=(4, 8),
        got=connectivity,
    )


def flood_mask(plane: np.ndarray, seed: Sequence[int], *, connectivity: int = 4, contiguous: bool = True) -> np.ndarray:
    """Pixels a bucket fill at ``seed`` reaches: those of the seed's value, connected to it if ``contiguous``.

    Args:
        plane: ``(H, W)`` label plane.
        seed: ``(y, x)`` inside the plane.
        connectivity: 4 or 8.
        contiguous: fill only the connected region of the seed (True) or every pixel of its value (False).

    Returns:
        ``(H, W)`` boolean mask.
    """
    target = plane == plane[int(seed[0]), int(seed[1])]
    if not contiguous:
        return target
    labelled, _ = ndimage.label(target, structure=connectivity_structure(2, connectivity))
    return labelled == labelled[int(seed[0]), int(seed[1])]


def small_islands_mask(array: np.ndarray, label: int, min_size: int, *, connectivity: int = 8) -> np.ndarray:
    """Connected components of ``label`` with fewer than ``min_size`` pixels (voxels in 3-D).

    Args:
        array: ``(H, W)`` or ``(Z, Y, X)`` label array.
        label: the label whose islands are measured.
        min_size: components smaller than this are returned.
        connectivity: see :func:`connectivity_structure`.

    Returns:
        Boolean mask of ``array``'s shape.
    """
    labelled, n = ndimage.label(array == label, structure=connectivity_structure(array.ndim, connectivity))
    if n == 0:
        return np.zeros(array.shape, dtype=bool)
    small = np.bincount(labelled.ravel()) < int(min_size)
    small[0] = False
    return small[labelled]
