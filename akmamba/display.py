"""Display maths for the viewer (numpy only): window/level, percentile auto-levels, presets, green channel,
label outlines of a dirty rectangle, and brush-size steps.

The GUI (``app/``) holds no maths: every computation on pixel values that is more than indexing or a dtype cast
lives here, is typed, and is tested without Qt (``tests/unit/test_display.py``). Turning probabilities into
labels is :mod:`akmamba.decision`'s job (one rule for the viewer, ``predict`` and training).

Levels are ``(low, high)`` display limits in the image's own units: values at or below ``low`` show black, at or
above ``high`` white. A window is the same thing as ``(center, width)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from akmamba.annotations.colors import label_outline
from akmamba.errors import ConfigError, ShapeError

Levels = tuple[float, float]
Box = tuple[int, int, int, int]

#: At most this many values are sampled (evenly strided) for percentiles: the result is stable to well under one
#: grey level and stays fast (~20 ms) on a 2048 x 2048 RGB image or a 512 x 512 x 200 volume.
MAX_PERCENTILE_SAMPLES = 1_000_000

#: Brush sizes (radius in pixels) step by 20 % per key press, as Slicer's -/+ do, and by at least one pixel.
BRUSH_STEP = 0.2
BRUSH_MIN, BRUSH_MAX = 0, 256


@dataclass(frozen=True)
class LevelPreset:
    """A named window/level setting.

    Attributes:
        name: shown in the preset menu.
        mode: ``"percentile"`` (``low``/``high`` are percentiles of the image's values), ``"absolute"``
            (``low``/``high`` are values) or ``"range"`` (min-max; ``low``/``high`` unused).
        low: lower percentile or value.
        high: upper percentile or value.
    """

    name: str
    mode: Literal["percentile", "absolute", "range"]
    low: float = 0.0
    high: float = 100.0


AUTO_PRESET = LevelPreset("Auto (2-98 %)", "percentile", 2.0, 98.0)
_COMMON = (
    AUTO_PRESET,
    LevelPreset("Wide (0.5-99.5 %)", "percentile", 0.5, 99.5),
    LevelPreset("Full range (min-max)", "range"),
)
#: Presets for 8-bit colour or grey photographs (fundus): the whole 0-255 scale, and a brighter one for dark
#: fundus images whose useful range is the lower half.
PHOTO_PRESETS = (*_COMMON, LevelPreset("8-bit (0-255)", "absolute", 0, 255), LevelPreset("Dark fundus (0-128)",
                                                                                         "absolute", 0, 128))
#: Presets for MRI (arbitrary units): percentile windows, since MRI has no fixed scale (invesalius#745).
MRI_PRESETS = (
    *_COMMON,
    LevelPreset("T2 soft tissue (5-99.5 %)", "percentile", 5.0, 99.5),
    LevelPreset("Bright fluid (20-99.9 %)", "percentile", 20.0, 99.9),
)


def presets_for(array: np.ndarray, is_volume: bool) -> tuple[LevelPreset, ...]:
    """The presets that suit an image: photographic for 8-bit 2-D images, MRI-style for volumes and others.

    Args:
        array: the image array (its dtype decides).
        is_volume: whether it is a ``(Z, Y, X)`` volume.
    """
    if not is_volume and np.asarray(array).dtype == np.uint8:
        return PHOTO_PRESETS
    return MRI_PRESETS


def initial_preset(presets: tuple[LevelPreset, ...]) -> int:
    """Index of the preset to open with: the unaltered 8-bit scale for photographs, else automatic 2-98 %."""
    for i, preset in enumerate(presets):
        if preset.mode == "absolute" and (preset.low, preset.high) == (0, 255):
            return i
    return presets.index(AUTO_PRESET) if AUTO_PRESET in presets else 0


def _sample(array: np.ndarray, max_samples: int) -> np.ndarray:
    flat = np.asarray(array).reshape(-1)
    step = max(1, flat.size // max_samples)
    return flat[::step]


def _widen(lo: float, hi: float) -> Levels:
    """Make ``high > low`` (a constant image gets a one-unit window so it still displays)."""
    if not np.isfinite(lo) or not np.isfinite(hi):
        return 0.0, 1.0
    if hi <= lo:
        return float(lo), float(lo) + 1.0
    return float(lo), float(hi)


def percentile_levels(
    array: np.ndarray, low: float = 2.0, high: float = 98.0, *, max_samples: int = MAX_PERCENTILE_SAMPLES
) -> Levels:
    """Display limits at the ``low`` and ``high`` percentiles of the values (the automatic 2-98 % setting).

    Args:
        array: any shape (colour channels are pooled); NaN is ignored.
        low: lower percentile in [0, 100).
        high: upper percentile in (low, 100].
        max_samples: values sampled at an even stride on large arrays.

    Returns:
        ``(low_value, high_value)`` with ``high_value > low_value``.

    Raises:
        ConfigError: percentiles outside 0-100 or not increasing.
    """
    if not 0.0 <= low < high <= 100.0:
        raise ConfigError(
            f"Percentiles must satisfy 0 <= low < high <= 100, got low={low}, high={high}.",
            parameter="percentiles", expected="0 <= low < high <= 100", got=(low, high),
        )
    values = _sample(array, max_samples)
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.nanpercentile(values.astype(np.float64, copy=False), [low, high])
    return _widen(float(lo), float(hi))


def data_range(array: np.ndarray) -> Levels:
    """``(min, max)`` of the finite values (widened by one unit for a constant image)."""
    arr = np.asarray(array)
    if arr.size == 0:
        return 0.0, 1.0
    return _widen(float(np.nanmin(arr)), float(np.nanmax(arr)))


def preset_levels(array: np.ndarray, preset: LevelPreset) -> Levels:
    """The levels a preset gives for ``array``."""
    if preset.mode == "percentile":
        return percentile_levels(array, preset.low, preset.high)
    if preset.mode == "range":
        return data_range(array)
    return _widen(preset.low, preset.high)


def window_from_levels(levels: Levels) -> tuple[float, float]:
    """``(low, high)`` -> ``(center, width)``."""
    lo, hi = levels
    return (lo + hi) / 2.0, hi - lo


def levels_from_window(center: float, width: float) -> Levels:
    """``(center, width)`` -> ``(low, high)``; the width is kept positive."""
    width = max(float(width), 1e-6)
    return center - width / 2.0, center + width / 2.0


def drag_levels(levels: Levels, dx: float, dy: float, span: float, *, pixels_per_span: float = 400.0) -> Levels:
    """Window/level after a mouse drag (ITK-SNAP / radiology convention).

    Dragging right widens the window (less contrast), left narrows it; dragging up raises the level (darker
    image), down lowers it. A drag of ``pixels_per_span`` screen pixels changes width or level by ``span``.

    Args:
        levels: the current ``(low, high)``.
        dx: horizontal mouse movement in screen pixels (right positive).
        dy: vertical mouse movement in screen pixels (down positive).
        span: the image's value range (e.g. ``max - min``); sets the sensitivity.
        pixels_per_span: screen pixels for a change of one ``span``.

    Returns:
        The new ``(low, high)``; the width never drops below ``span / 1000``.
    """
    center, width = window_from_levels(levels)
    scale = max(float(span), 1e-6) / pixels_per_span
    width = max(width + dx * scale, max(float(span), 1e-6) / 1000.0)
    center = center - dy * scale
    return levels_from_window(center, width)


def green_channel(rgb: np.ndarray) -> np.ndarray:
    """The green channel of an ``(H, W, 3)`` image (the channel with the best vessel contrast in fundus photos).

    Returns:
        ``(H, W)`` view of the green values (grey images are returned unchanged).

    Raises:
        ShapeError: not ``(H, W)`` or ``(H, W, C>=2)``.
    """
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        return arr
    if arr.ndim != 3 or arr.shape[-1] < 2:
        raise ShapeError(f"green_channel needs (H, W, 3), got shape {arr.shape}.", expected="(H, W, 3)",
                         got=arr.shape)
    return arr[..., 1]


def outline_labels(plane: np.ndarray, box: Box | None = None) -> tuple[Box, np.ndarray]:
    """Outline-mode overlay of a rectangle: labels kept only on their boundary pixels.

    A changed pixel can change the outline status of its neighbours, so the box is grown by one pixel (clipped to
    the plane) and the outline is judged with one more pixel of context around that.

    Args:
        plane: ``(H, W)`` integer labels.
        box: ``(y0, y1, x0, x1)`` half-open rectangle that changed; ``None`` means the whole plane.

    Returns:
        ``(grown_box, patch)``: the rectangle to repaint and its outline labels (0 off the boundary).
    """
    h, w = plane.shape
    y0, y1, x0, x1 = (0, h, 0, w) if box is None else box
    y0, y1, x0, x1 = max(y0 - 1, 0), min(y1 + 1, h), max(x0 - 1, 0), min(x1 + 1, w)
    cy0, cy1, cx0, cx1 = max(y0 - 1, 0), min(y1 + 1, h), max(x0 - 1, 0), min(x1 + 1, w)
    context = plane[cy0:cy1, cx0:cx1]
    edge = label_outline(context, connectivity=4, image_border=True)
    inner = (slice(y0 - cy0, y1 - cy0), slice(x0 - cx0, x1 - cx0))
    patch = np.where(edge[inner], context[inner], 0).astype(plane.dtype, copy=False)
    return (y0, y1, x0, x1), patch


def lut_to_argb32(lut: np.ndarray) -> list[int]:
    """A ``(N, 4)`` uint8 RGBA table as 256 unsigned 32-bit ``0xAARRGGBB`` values (a Qt colour table), padded
    with transparent entries."""
    rgba = np.asarray(lut, dtype=np.uint32)[:256]
    argb = (rgba[:, 3] << 24) | (rgba[:, 0] << 16) | (rgba[:, 1] << 8) | rgba[:, 2]
    return [int(v) for v in argb] + [0] * (256 - len(argb))


def step_brush_size(size: int, steps: int) -> int:
    """Brush radius after ``steps`` presses of the size keys (+ positive): 20 % per step, at least 1 pixel."""
    value = int(size)
    for _ in range(abs(int(steps))):
        delta = max(1, round(value * BRUSH_STEP))
        value = value + delta if steps > 0 else value - delta
    return int(min(max(value, BRUSH_MIN), BRUSH_MAX))
