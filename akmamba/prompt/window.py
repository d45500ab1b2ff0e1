"""The window a prompt's forward pass runs on: the part of the plane around the prompts.

A prompt changes the model's answer near the prompt; far from it the answer is the one the model gave before.
So after one whole-plane answer, later prompts can run the network on a window around every prompt given so far
and paste that window's answer into the last whole-plane one (the way interactive tools such as nnInteractive
predict a patch around the interaction). On the CPU this cuts the forward pass to the window's share of the
plane: a 256 x 256 window is a quarter of a 512 x 512 slice. The window is a fast path: ``window=None`` (the whole
plane every time) is its reference, and docs/prompt.md gives what it changes in the NoC protocol.

The window's side is at least ``side``, holds every prompt's extent grown by ``margin`` pixels on each side, is a
multiple of ``multiple`` (the network's total downsampling, so no padding is needed) and lies inside the plane.
When it would cover most of the plane (``max_fraction``) the whole plane is used.
"""

from __future__ import annotations

from collections.abc import Sequence

from akmamba.errors import ConfigError
from akmamba.prompt.encode import Box, Click, Prompt, Scribble

DEFAULT_SIDE = 256
"""The smallest window side in pixels (``window="auto"`` on the CPU)."""
DEFAULT_MARGIN = 64
"""Pixels kept around the prompts' extent on every side."""
DEFAULT_MULTIPLE = 32
"""Window sides are multiples of this (Akmamba-Net's and U-Net's total downsampling: 16; 32 leaves room)."""
MAX_FRACTION = 0.75
"""Above this share of the plane's area the whole plane runs instead."""

Window = tuple[int, int, int, int]
"""``(y0, y1, x0, x1)``: rows ``y0:y1`` and columns ``x0:x1`` of the plane."""


def prompt_extent(prompts: Sequence[Prompt]) -> Window | None:
    """``(y0, y1, x0, x1)``, the half-open bounding box of every click, scribble point and box corner, or None
    when there is no prompt."""
    ys: list[int] = []
    xs: list[int] = []
    for p in prompts:
        if isinstance(p, Click):
            ys.append(p.y)
            xs.append(p.x)
        elif isinstance(p, Scribble):
            ys.extend(int(y) for y, _ in p.points)
            xs.extend(int(x) for _, x in p.points)
        elif isinstance(p, Box):
            ys.extend((p.y0, p.y1))
            xs.extend((p.x0, p.x1))
    if not ys:
        return None
    return min(ys), max(ys) + 1, min(xs), max(xs) + 1


def _span(lo: int, hi: int, size: int, side: int, margin: int, multiple: int) -> tuple[int, int]:
    """One axis: ``[lo, hi)`` grown by ``margin``, at least ``side`` long, rounded up to ``multiple``, shifted
    inside ``[0, size)`` (the whole axis when it does not fit)."""
    lo, hi = max(lo, 0) - margin, min(hi, size) + margin
    length = max(hi - lo, side)
    length = -(-length // multiple) * multiple
    if length >= size:
        return 0, size
    centre = (lo + hi) // 2
    start = min(max(centre - length // 2, 0), size - length)
    return start, start + length


def prompt_window(prompts: Sequence[Prompt], shape: tuple[int, int], *, side: int = DEFAULT_SIDE,
                  margin: int = DEFAULT_MARGIN, multiple: int = DEFAULT_MULTIPLE,
                  max_fraction: float = MAX_FRACTION) -> Window | None:
    """The window the prompts' forward pass runs on, or None for the whole plane.

    Args:
        prompts: the prompts given on the plane (their coordinates are clamped to it).
        shape: the plane's ``(H, W)``.
        side: the smallest window side in pixels.
        margin: pixels kept around the prompts' extent on every side.
        multiple: window sides are multiples of it (unless a side is the plane's whole side).
        max_fraction: the whole plane is used when the window would cover more than this share of its area.

    Returns:
        ``(y0, y1, x0, x1)`` with ``0 <= y0 < y1 <= H`` and ``0 <= x0 < x1 <= W``; None when there is no prompt or
        the window would cover more than ``max_fraction`` of the plane.

    Raises:
        ConfigError: ``side``, ``multiple`` below 1, ``margin`` below 0 or ``max_fraction`` outside (0, 1].
    """
    check_window_options(side, margin, multiple, max_fraction)
    extent = prompt_extent(prompts)
    if extent is None:
        return None
    h, w = shape
    y0, y1 = _span(extent[0], extent[1], h, side, margin, multiple)
    x0, x1 = _span(extent[2], extent[3], w, side, margin, multiple)
    if (y1 - y0) * (x1 - x0) > max_fraction * h * w:
        return None
    return y0, y1, x0, x1


def check_window_options(side: int, margin: int = DEFAULT_MARGIN, multiple: int = DEFAULT_MULTIPLE,
                         max_fraction: float = MAX_FRACTION) -> None:
    """Raise :class:`ConfigError` naming the bad window option."""
    for name, value, least in (("window", side, 1), ("multiple", multiple, 1), ("margin", margin, 0)):
        if int(value) != value or value < least:
            raise ConfigError(f"The prompt window's {name} must be a whole number >= {least}, got {value!r}.",
                              parameter=name, expected=f"an integer >= {least}", got=value)
    if not 0 < max_fraction <= 1:
        raise ConfigError(f"The prompt window's max_fraction must be in (0, 1], got {max_fraction!r}.",
                          parameter="max_fraction", expected="(0, 1]", got=max_fraction)


def resolve_window(window: int | str | None, device_type: str) -> int | None:
    """The window side a predictor uses: ``"auto"`` is :data:`DEFAULT_SIDE` on the CPU and None (the whole
    plane) elsewhere; ``None``/``"none"``/``0`` the whole plane; an integer that side.

    Raises:
        ConfigError: anything else (names the parameter ``window``).
    """
    if window is None or window == "none" or window == 0:
        return None
    if window == "auto":
        return DEFAULT_SIDE if device_type == "cpu" else None
    try:
        side = int(window)
    except (TypeError, ValueError):
        side = -1
    if side < 1 or str(side) != str(window).strip():
        raise ConfigError(f"Unknown prompt window {window!r}; use auto, none or a side in pixels (e.g. 256).",
                          parameter="window", expected="auto, none or an integer >= 1", got=window)
    return side
