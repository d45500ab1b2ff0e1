"""Prompts (clicks, boxes, scribbles) and their encoding into guidance channels.

Clicks and scribbles go through MONAI DeepEdit's :class:`~monai.apps.deepedit.transforms.AddGuidanceSignalDeepEditd`
unchanged: it puts a 1 at every point, smooths with a Gaussian of ``sigma`` pixels and scales the channel to
[0, 1] (on a ``(1, H, W)`` image it works in 2-D). We call it once with one guidance key per non-empty
``(label, positive|negative)`` channel, so a label's positive and negative clicks get channels of their own
(DeepEdit itself has one channel per label, background included, and no negative channel: a "negative" there
is a click for another label). A scribble is the list of pixels along its stroke, so it is "many clicks" to
the encoder. Boxes have no DeepEdit transform (DeepEdit takes clicks only): a box channel is 1 inside the
label's boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from akmamba.errors import ConfigError
from akmamba.prompt.layout import GuidanceLayout


@dataclass(frozen=True)
class Click:
    """One click at row ``y``, column ``x`` (pixels): ``positive`` says "this is ``label``", else "this is not"."""

    y: int
    x: int
    label: int
    positive: bool = True


@dataclass(frozen=True)
class Box:
    """A 2-D box around ``label``: rows ``y0..y1`` and columns ``x0..x1``, both ends included (any order)."""

    label: int
    y0: int
    x0: int
    y1: int
    x1: int


@dataclass(frozen=True)
class Scribble:
    """A stroke through ``points`` (``(y, x)`` pixel pairs, joined by straight lines) for ``label``."""

    label: int
    points: tuple[tuple[int, int], ...]
    positive: bool = True


Prompt = Click | Box | Scribble


def stroke_pixels(points: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Every pixel on the polyline through ``points`` (``(y, x)``), without repeats, in drawing order."""
    from skimage.draw import line

    pts = [(round(y), round(x)) for y, x in points]
    out: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    for (ya, xa), (yb, xb) in zip(pts, pts[1:] or pts, strict=False):
        rr, cc = line(ya, xa, yb, xb)
        for p in zip(rr.tolist(), cc.tolist(), strict=True):
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def encode_guidance(prompts: Sequence[Prompt], layout: GuidanceLayout, shape: tuple[int, int]) -> np.ndarray:
    """The guidance channels of ``prompts`` on an image of ``shape``.

    Args:
        prompts: clicks, boxes and scribbles; points outside the image are clamped to its border (as DeepEdit
            does), boxes clipped to it.
        layout: the model's guidance layout.
        shape: ``(H, W)``.

    Returns:
        ``(G, H, W)`` float32 in [0, 1], ``G = layout.num_channels``; all zeros for no prompt.

    Raises:
        ConfigError: a prompt for a label the layout has no channels for, or an unknown prompt type.
    """
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((layout.num_channels, h, w), dtype=np.float32)
    points: dict[int, list[list[int]]] = {}
    for p in prompts:
        if isinstance(p, Click):
            points.setdefault(layout.channel(p.label, "positive" if p.positive else "negative"), []).append(
                [int(p.y), int(p.x)])
        elif isinstance(p, Scribble):
            ch = layout.channel(p.label, "positive" if p.positive else "negative")
            points.setdefault(ch, []).extend([y, x] for y, x in stroke_pixels(p.points))
        elif isinstance(p, Box):
            ch = layout.channel(p.label, "box")
            y0, y1 = sorted((int(p.y0), int(p.y1)))
            x0, x1 = sorted((int(p.x0), int(p.x1)))
            out[ch, max(y0, 0):min(y1 + 1, h), max(x0, 0):min(x1 + 1, w)] = 1.0
        else:
            raise ConfigError(f"Unknown prompt {p!r}; expected Click, Box or Scribble.", parameter="prompts",
                              expected="Click | Box | Scribble", got=type(p).__name__)
    for ch, pts in points.items():
        out[ch] = click_signal(pts, (h, w), layout.sigma)
    return out


def click_signal(points: Sequence[Sequence[int]], shape: tuple[int, int], sigma: float) -> np.ndarray:
    """One click channel, ``(H, W)`` float32: DeepEdit's signal of ``points`` (``[y, x]`` pairs), fast.

    DeepEdit puts a 1 at every point, smooths with MONAI's ``GaussianFilter`` (truncated at ``4 sigma``, zero
    padding) and scales the channel to [0, 1]. The filter is linear, so the smoothed image is the sum, over the
    distinct points, of one point's filtered image (the *stamp*, :func:`_stamp`, computed by MONAI's filter once per
    sigma) placed at each point and clipped at the image border; then the same scaling. That is the result of
    :func:`click_signal_reference` (MONAI's transform itself) up to float32 rounding in the sums (the test checks
    it), without a convolution over the points' bounding box: a 60-pixel scribble or clicks far apart cost a few
    small additions instead of a Gaussian over most of the slice (prompt training encodes 16 images a step).
    """
    h, w = int(shape[0]), int(shape[1])
    out = np.zeros((h, w), dtype=np.float32)
    pts = np.clip(np.asarray(points, dtype=np.int64).reshape(-1, 2), 0, [h - 1, w - 1])
    if not len(pts):
        return out
    stamp = _stamp(float(sigma))
    r = stamp.shape[0] // 2
    for y, x in np.unique(pts, axis=0).tolist():  # a point set twice is a 1 once, as in DeepEdit
        y0, y1, x0, x1 = max(y - r, 0), min(y + r + 1, h), max(x - r, 0), min(x + r + 1, w)
        out[y0:y1, x0:x1] += stamp[y0 - y + r:y1 - y + r, x0 - x + r:x1 - x + r]
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / (hi - lo) if hi > lo else out


@lru_cache(maxsize=8)
def _stamp(sigma: float) -> np.ndarray:
    """MONAI's ``GaussianFilter`` (2-D, ``sigma``, truncated at 4 sigma) of one point: ``(2r + 1, 2r + 1)``
    float32, the point at the centre, ``r`` the filter's reach; read-only (shared by every call)."""
    import torch  # here, not at the top: the CLI's parser imports this module and must not import torch
    from monai.networks.layers import GaussianFilter

    r = int(max(sigma * 4.0, 0.5) + 0.5)
    one = torch.zeros((1, 1, 2 * r + 1, 2 * r + 1), dtype=torch.float32)
    one[0, 0, r, r] = 1.0
    with torch.no_grad():
        stamp = GaussianFilter(2, sigma=sigma)(one)[0, 0].numpy().astype(np.float32)
    stamp.setflags(write=False)
    return stamp


def click_signal_reference(points: Sequence[Sequence[int]], shape: tuple[int, int], sigma: float) -> np.ndarray:
    """:func:`click_signal` by MONAI DeepEdit's ``AddGuidanceSignalDeepEditd`` itself (the plain reference).

    The Gaussian is truncated at ``4 sigma`` and zero-padded, so the signal is 0 farther than that from every
    point: the transform runs on the points' bounding box grown by that reach (clipped to the image) and is pasted
    back, which gives the full-image result exactly (the test checks it).
    """
    from monai.apps.deepedit.transforms import AddGuidanceSignalDeepEditd

    h, w = shape
    out = np.zeros((h, w), dtype=np.float32)
    pts = np.clip(np.asarray(points, dtype=np.int64).reshape(-1, 2), 0, [h - 1, w - 1])
    if not len(pts):
        return out
    reach = int(max(sigma * 4.0, 0.5) + 0.5) + 2
    y0, x0 = np.maximum(pts.min(0) - reach, 0)
    y1, x1 = np.minimum(pts.max(0) + reach + 1, [h, w])
    signal = AddGuidanceSignalDeepEditd(keys="image", guidance="guidance", sigma=sigma,  # type: ignore[arg-type]
                                        number_intensity_ch=1)
    data: dict[str, Any] = {"image": np.zeros((1, y1 - y0, x1 - x0), dtype=np.float32),
                            "guidance": {"g": (pts - [y0, x0]).tolist()}}
    crop = signal(data)["image"][1]  # type: ignore[arg-type]  # MONAI annotates every value as an array
    out[y0:y1, x0:x1] = np.asarray(crop, dtype=np.float32)
    return out
