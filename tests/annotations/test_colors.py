"""Overlay LUT and label outline."""

from __future__ import annotations

import numpy as np
import pytest

from akmamba.annotations import LabelInfo, LabelTable, default_color, label_outline, make_lut
from akmamba.errors import ConfigError


def test_lut_alpha_visibility_and_opacity() -> None:
    table = LabelTable(
        {
            1: LabelInfo(1, "vessel", (255, 0, 0)),
            2: LabelInfo(2, "tumor", (0, 255, 0), opacity=0.5),
            3: LabelInfo(3, "hidden", (0, 0, 255), visible=False),
        },
        opacity=0.8,
    )
    lut = make_lut(table)
    assert lut.shape == (256, 4)
    assert lut.dtype == np.uint8
    assert lut[0, 3] == 0  # background transparent
    np.testing.assert_array_equal(lut[1], [255, 0, 0, 204])
    np.testing.assert_array_equal(lut[2], [0, 255, 0, 102])
    assert lut[3, 3] == 0
    np.testing.assert_array_equal(lut[7, :3], default_color(7))  # unlisted labels still show
    assert lut[7, 3] == 204
    assert make_lut(table, opacity=0.0)[:, 3].max() == 0
    assert make_lut(table, 65536).shape == (65536, 4)


def test_label_table_round_trip_and_validation() -> None:
    table = LabelTable().with_label(1, name="vessel", color=(1, 2, 3)).with_label(2, name="wall")
    again = LabelTable.from_dict(table.to_dict())
    assert again == table
    assert [i.value for i in again] == [1, 2]
    with pytest.raises(ConfigError):
        LabelInfo(1, color=(0, 0, 300))
    with pytest.raises(ConfigError):
        LabelInfo(1, opacity=1.5)
    with pytest.raises(ConfigError):
        make_lut(table, opacity=2.0)


def test_label_outline() -> None:
    a = np.zeros((6, 6), np.uint8)
    a[1:5, 1:5] = 1
    a[2:4, 2:4] = 2
    out = label_outline(a)
    ring1 = np.zeros((6, 6), bool)
    ring1[1:5, 1:5] = True
    ring1[2:4, 2:4] = False
    # The outer ring of 1 touches background, the inner 2x2 of 2 touches 1: every foreground pixel is a boundary.
    np.testing.assert_array_equal(out, a > 0)
    b = np.zeros((7, 7), np.uint8)
    b[1:6, 1:6] = 1
    inner = label_outline(b)
    expected = b > 0
    expected[2:5, 2:5] = False
    np.testing.assert_array_equal(inner, expected)
    assert not label_outline(np.ones((4, 4), np.uint8)).any()
    assert label_outline(np.ones((4, 4), np.uint8), image_border=True).sum() == 12
    # 8-connectivity also marks pixels whose only different neighbour is diagonal.
    c = np.ones((3, 3), np.uint8)
    c[0, 0] = 0
    assert not label_outline(c)[1, 1]
    assert label_outline(c, connectivity=8)[1, 1]
