"""Overlay thumbnails (exact colours on a tiny case, resizing, errors) and the inline SVG bar chart."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from akmamba.errors import ConfigError, ShapeError
from akmamba.reports import LABEL_COLOURS, OVERLAY_COLOURS, bar_chart_svg, make_overlay_thumbnail


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_difference_colours_exact_at_full_opacity() -> None:
    image = np.full((3, 3), 40, dtype=np.uint8)
    gt = np.array([[1, 1, 0], [0, 2, 0], [0, 0, 0]])
    pred = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    out = decode(make_overlay_thumbnail(image, pred, gt, alpha=1.0))
    assert out.shape == (3, 3, 3)
    assert tuple(out[0, 0]) == OVERLAY_COLOURS["agreement"]  # pred 1 == gt 1
    assert tuple(out[0, 1]) == OVERLAY_COLOURS["false_negative"]  # missed
    assert tuple(out[0, 2]) == OVERLAY_COLOURS["false_positive"]  # extra
    assert tuple(out[1, 1]) == OVERLAY_COLOURS["false_positive"]  # wrong class counts as false positive
    assert tuple(out[2, 2]) == (40, 40, 40)  # background untouched


def test_half_blend_and_prediction_only_colours() -> None:
    image = np.zeros((2, 2), dtype=np.uint8)
    pred = np.array([[1, 2], [0, 0]])
    out = decode(make_overlay_thumbnail(image, pred, alpha=0.5))
    expected = np.round(np.asarray(LABEL_COLOURS[0]) * 0.5)
    np.testing.assert_array_equal(out[0, 0], expected)
    np.testing.assert_array_equal(out[0, 1], np.round(np.asarray(LABEL_COLOURS[1]) * 0.5))
    assert tuple(out[1, 1]) == (0, 0, 0)


def test_resize_and_float_image_stretch() -> None:
    rng = np.random.default_rng(0)
    image = rng.normal(size=(100, 50)) * 1000  # float, any range
    png = make_overlay_thumbnail(image, np.zeros((100, 50), dtype=int), max_size=40)
    assert png.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(png)).size == (20, 40)  # (width, height)
    small = make_overlay_thumbnail(np.zeros((10, 8, 3), dtype=np.uint8), np.zeros((10, 8), dtype=int))
    assert Image.open(io.BytesIO(small)).size == (8, 10)  # never enlarged


def test_thumbnail_errors() -> None:
    with pytest.raises(ShapeError, match=r"pred shape \(3, 3\) does not match image \(y, x\) shape \(4, 4\)"):
        make_overlay_thumbnail(np.zeros((4, 4)), np.zeros((3, 3), dtype=int))
    with pytest.raises(ShapeError, match="one 2-D slice"):
        make_overlay_thumbnail(np.zeros((5, 6, 7)), np.zeros((6, 7), dtype=int))
    with pytest.raises(ShapeError, match="gt shape"):
        make_overlay_thumbnail(np.zeros((4, 4)), np.zeros((4, 4), dtype=int), np.zeros((4, 5), dtype=int))
    with pytest.raises(ConfigError, match="max_size"):
        make_overlay_thumbnail(np.zeros((4, 4)), np.zeros((4, 4), dtype=int), max_size=0)


def test_bar_chart_svg() -> None:
    svg = bar_chart_svg([("a", 0.5), ("<b>", 1.0), ("c", math.nan)], "Dice per case: vessel")
    assert svg.startswith("<svg")
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"  # well-formed XML
    assert svg.endswith("</svg>")
    assert svg.count("<rect") == 2  # the nan case has no bar
    assert "n/a" in svg
    assert "&lt;b&gt;" in svg
    assert "<b>" not in svg
    assert "per-image mean 0.7500" in svg  # dashed mean line over the finite values
