"""Test-time augmentation in the viewer: the Segment panel's choice reaches the model run, is shown with the
result, is remembered across windows, and gives the same probabilities as ``akmamba predict --tta``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from akmamba.infer import Predictor
from akmamba.io import read_image

pytestmark = pytest.mark.gui


def test_flips_reach_the_run_and_are_remembered(window, open_case, grey_png: Path, tiny_checkpoint: Path, qtbot,
                                                window_factory) -> None:
    open_case(window, grey_png)
    panel = window.model_panel
    assert panel.tta() == "none"  # off unless chosen
    panel.add_checkpoint(tiny_checkpoint)
    panel.tta_combo.setCurrentIndex(panel.tta_combo.findData("flips"))
    assert "used at the next run" in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.segmenter.done, timeout=60000):
        panel.run_button.click()
    qtbot.waitUntil(lambda: panel.run_button.isEnabled())
    pending = window.session.pending
    assert pending.tta == "flips"
    assert "test-time flips" in panel.info_label.text()
    image = read_image(grey_png).array
    want = Predictor.from_checkpoint(tiny_checkpoint, "cpu", tta="flips").predict(image)
    np.testing.assert_allclose(pending.probs, want.probs, atol=1e-6)
    plain = Predictor.from_checkpoint(tiny_checkpoint, "cpu").predict(image)
    assert not np.allclose(pending.probs, plain.probs, atol=1e-6)  # the flips changed the average

    # off again: the next run is one pass (a new predictor, not the cached one with flips)
    panel.tta_combo.setCurrentIndex(panel.tta_combo.findData("none"))
    with qtbot.waitSignal(window.segmenter.done, timeout=60000):
        panel.run_button.click()
    qtbot.waitUntil(lambda: panel.run_button.isEnabled())
    assert window.session.pending.tta == "none"
    np.testing.assert_allclose(window.session.pending.probs, plain.probs, atol=1e-6)
    assert "test-time" not in panel.info_label.text()

    panel.tta_combo.setCurrentIndex(panel.tta_combo.findData("d4"))
    again = window_factory()
    assert again.model_panel.tta() == "d4"  # remembered in the settings


def test_tta_choices_explain_themselves(qtbot) -> None:
    from app.panels.model_panel import TTA_CHOICES, ModelPanel

    panel = ModelPanel()
    qtbot.addWidget(panel)
    assert [panel.tta_combo.itemData(i) for i in range(panel.tta_combo.count())] == ["none", "flips", "d4"]
    assert [v for _, v, _ in TTA_CHOICES] == ["none", "flips", "d4"]
    assert "4x" in panel.tta_combo.itemData(1, 3)  # Qt.ToolTipRole: the cost and the measured effect
    with qtbot.assertNotEmitted(panel.tta_changed):
        panel.set_tta("flips")
    assert panel.tta() == "flips"
    panel.set_tta("unknown")  # an old or edited settings file: back to off
    assert panel.tta() == "none"
