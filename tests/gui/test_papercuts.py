"""Issue 23 item 10: the small things that look careless (device offer, levels on the green channel, Undo/Redo
with no image, the per-dataset brush)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from akmamba.display import AUTO_PRESET, percentile_levels, preset_levels
from akmamba.io import Image, write_image


def test_gpu_not_offered_when_the_startup_check_found_no_cuda(window) -> None:
    panel = window.model_panel
    panel.set_device("cuda")  # e.g. remembered from another machine
    window._on_probed({"backends": [], "auto_device": "cpu", "models": []})
    item = panel.device_combo.model().item(panel.device_combo.findData("cuda"))
    assert not item.isEnabled()
    assert panel.device() == "auto"
    assert window.settings.device() == "auto"
    window._on_probed({"backends": [], "auto_device": "cuda", "models": []})
    assert item.isEnabled()


def test_undo_redo_disabled_with_no_image(window) -> None:
    assert not window.commands["undo"].isEnabled()
    assert not window.commands["redo"].isEnabled()
    assert not window.labels_panel.undo_button.isEnabled()


def test_auto_levels_use_the_green_channel_when_it_is_shown(window, open_case, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = np.zeros((40, 50, 3), np.uint8)
    rgb[..., 0] = rng.integers(150, 255, (40, 50))  # a bright red channel, as in fundus photographs
    rgb[..., 1] = rng.integers(20, 90, (40, 50))
    path = tmp_path / "fundus.png"
    write_image(Image(rgb, "2d"), path)
    open_case(window, path)
    window.set_green(True)
    window.auto_levels()
    assert window.levels == percentile_levels(rgb[..., 1], AUTO_PRESET.low, AUTO_PRESET.high)
    assert window.levels != preset_levels(rgb, AUTO_PRESET)


def test_the_window_fits_a_small_screen() -> None:
    from PySide6 import QtCore

    from app.main_window import PREFERRED_SIZE, initial_size

    class Screen:
        def __init__(self, w: int, h: int) -> None:
            self.area = QtCore.QRect(0, 0, w, h)

        def availableGeometry(self) -> QtCore.QRect:
            return self.area

    assert initial_size(Screen(1280, 770)) == (1280, 770)  # a 1280 x 800 laptop minus its task bar
    assert initial_size(Screen(2560, 1400)) == PREFERRED_SIZE
    assert initial_size(None) == PREFERRED_SIZE
