"""akmamba.display: window/level, percentiles, presets, green channel, thresholds, outlines, brush steps."""

from __future__ import annotations

import numpy as np
import pytest

from akmamba import display
from akmamba.errors import ConfigError, ShapeError


def test_percentile_levels_match_numpy_on_small_arrays() -> None:
    a = np.arange(101, dtype=np.float32)
    assert display.percentile_levels(a) == pytest.approx((2.0, 98.0))
    assert display.percentile_levels(a, 0, 100) == pytest.approx((0.0, 100.0))


def test_percentile_levels_sample_large_arrays_stably() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(100.0, 10.0, (2048, 2048)).astype(np.float32)
    lo, hi = display.percentile_levels(a)
    exact = np.percentile(a, [2, 98])
    assert lo == pytest.approx(exact[0], abs=0.2)
    assert hi == pytest.approx(exact[1], abs=0.2)


def test_constant_image_gets_a_non_empty_window() -> None:
    a = np.full((4, 4), 7, dtype=np.uint8)
    assert display.percentile_levels(a) == (7.0, 8.0)
    assert display.data_range(a) == (7.0, 8.0)


@pytest.mark.parametrize(("low", "high"), [(-1, 50), (50, 50), (10, 101)])
def test_bad_percentiles_raise(low: float, high: float) -> None:
    with pytest.raises(ConfigError, match="Percentiles"):
        display.percentile_levels(np.zeros(4), low, high)


def test_presets_fit_the_image_kind() -> None:
    photo = display.presets_for(np.zeros((4, 4, 3), np.uint8), is_volume=False)
    mri = display.presets_for(np.zeros((2, 4, 4), np.int16), is_volume=True)
    assert display.AUTO_PRESET in photo
    assert display.AUTO_PRESET in mri
    assert any(p.name.startswith("8-bit") for p in photo)
    assert not any(p.name.startswith("8-bit") for p in mri)
    a = np.arange(256, dtype=np.uint8)
    for preset in photo:
        lo, hi = display.preset_levels(a, preset)
        assert hi > lo
    assert display.preset_levels(a, display.LevelPreset("x", "absolute", 0, 255)) == (0.0, 255.0)


def test_window_round_trip_and_drag_direction() -> None:
    levels = (100.0, 300.0)
    assert display.window_from_levels(levels) == (200.0, 200.0)
    assert display.levels_from_window(200.0, 200.0) == levels
    wider = display.drag_levels(levels, dx=40, dy=0, span=1000)
    assert wider[1] - wider[0] > 200.0
    assert sum(wider) / 2 == pytest.approx(200.0)
    up = display.drag_levels(levels, dx=0, dy=-40, span=1000)
    assert sum(up) / 2 > 200.0
    narrow = display.drag_levels(levels, dx=-10_000, dy=0, span=1000)
    assert narrow[1] - narrow[0] == pytest.approx(1.0)


def test_green_channel() -> None:
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 1] = 9
    assert display.green_channel(rgb).shape == (3, 4)
    assert (display.green_channel(rgb) == 9).all()
    grey = np.ones((3, 4))
    assert display.green_channel(grey) is grey
    with pytest.raises(ShapeError):
        display.green_channel(np.zeros((2, 2, 2, 2)))


def test_outline_of_a_box_matches_the_whole_plane() -> None:
    plane = np.zeros((20, 20), np.uint8)
    plane[5:15, 5:15] = 2
    plane[8:11, 8:11] = 1
    (y0, y1, x0, x1), whole = display.outline_labels(plane)
    assert (y0, y1, x0, x1) == (0, 20, 0, 20)
    assert (whole[5, 7] == 2 and whole[10, 10] == 2) or whole[10, 10] == 1
    assert whole[12, 12] == 0  # interior of label 2
    box, patch = display.outline_labels(plane, (6, 12, 6, 12))
    assert box == (5, 13, 5, 13)
    np.testing.assert_array_equal(patch, whole[5:13, 5:13])
    edge_box, edge_patch = display.outline_labels(plane, (0, 2, 0, 2))
    assert edge_box == (0, 3, 0, 3)
    np.testing.assert_array_equal(edge_patch, whole[0:3, 0:3])


def test_brush_steps() -> None:
    assert display.step_brush_size(10, 1) == 12
    assert display.step_brush_size(10, -1) == 8
    assert display.step_brush_size(1, -5) == 0
    assert display.step_brush_size(0, 1) == 1
    assert display.step_brush_size(250, 3) == display.BRUSH_MAX


def test_initial_preset_keeps_photos_unaltered_and_autos_mri() -> None:
    photo = display.presets_for(np.zeros((4, 4, 3), np.uint8), is_volume=False)
    assert photo[display.initial_preset(photo)].name.startswith("8-bit")
    mri = display.presets_for(np.zeros((2, 4, 4), np.int16), is_volume=True)
    assert mri[display.initial_preset(mri)] is display.AUTO_PRESET


def test_lut_to_argb32_packs_qt_colours() -> None:
    lut = np.zeros((3, 4), np.uint8)
    lut[1] = [255, 0, 0, 128]
    colours = display.lut_to_argb32(lut)
    assert len(colours) == 256
    assert colours[1] == 0x80FF0000
    assert colours[0] == 0
    assert colours[255] == 0
