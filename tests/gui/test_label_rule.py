"""The viewer turns a pending model result into labels by akmamba.decision's rule (argmax), as predict does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from akmamba.infer.predictor import Prediction
from app import compare_actions

pytestmark = pytest.mark.gui


def _three_class(shape: tuple[int, int]) -> Prediction:
    probs = np.empty((3, *shape), np.float32)
    probs[:] = np.array([0.45, 0.30, 0.25], np.float32)[:, None, None]
    probs[:, :4, :4] = np.array([0.2, 0.3, 0.5], np.float32)[:, None, None]  # tumour corner
    return Prediction(probs=probs, labels=probs.argmax(0).astype(np.uint8))


def test_three_class_preview_accept_and_compare_use_the_argmax(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    prediction = _three_class((64, 80))
    window.session.set_prediction(prediction)
    expected = prediction.labels
    assert expected[10, 10] == 0
    assert expected[0, 0] == 2
    np.testing.assert_array_equal(window.view.overlay.pixels(), expected)  # was class 1 (wall) by 1 - p0 >= 0.5
    panel = window.model_panel
    assert panel.accept_button.isEnabled()
    assert not panel.threshold_slider.isEnabled()  # no second rule for a 3-class model
    assert "argmax" in panel.threshold_slider.toolTip()
    compare = compare_actions.open_compare(window)
    np.testing.assert_array_equal(compare.sources[compare_actions.LAST_RESULT], expected)
    panel.threshold_slider.setValue(20)  # even if moved (it is disabled), the rule stays the argmax
    panel.accept_button.click()
    np.testing.assert_array_equal(window.session.label_map.array, expected)
    assert window.session.model_info["threshold"] == "argmax"


def test_binary_preview_keeps_its_threshold(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    p1 = np.linspace(0, 1, 64 * 80, dtype=np.float32).reshape(64, 80)
    probs = np.stack([1 - p1, p1])
    window.session.set_prediction(Prediction(probs=probs, labels=(p1 > 0.5).astype(np.uint8)))
    panel = window.model_panel
    assert panel.threshold_slider.isEnabled()
    panel.threshold_slider.setValue(50)
    np.testing.assert_array_equal(window.view.overlay.pixels(), (p1 > 0.5).astype(np.uint8))  # = argmax
    panel.threshold_slider.setValue(80)
    np.testing.assert_array_equal(window.view.overlay.pixels(), (p1 > 0.8).astype(np.uint8))
