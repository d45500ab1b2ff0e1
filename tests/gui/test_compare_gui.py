"""Compare panel: linked views, Difference toggle, metrics table, and "Compare all models" ranking."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from akmamba.compare import compare_metrics, difference_map
from akmamba.infer.predictor import Prediction
from app import compare_actions
from app.compare_actions import CORRECTED, LAST_RESULT

pytestmark = pytest.mark.gui


def _set_labels(window, labels: np.ndarray) -> None:
    window.session.label_map.set_region(np.ones(labels.shape, dtype=bool), labels, source="import")


def test_compare_views_linked_difference_and_metrics(window, open_case, grey_png: Path, qtbot) -> None:
    open_case(window, grey_png)
    corrected = np.zeros((64, 80), np.uint8)
    corrected[20:40, 30:50] = 1
    _set_labels(window, corrected)
    result = np.zeros_like(corrected)
    result[25:45, 30:55] = 1
    result[0:3, 0:3] = 2  # a label the reference lacks
    window.session.set_prediction(Prediction(probs=None, labels=result))  # a fake model result
    panel = compare_actions.open_compare(window)
    assert panel is not None
    assert window.compare_dock.isVisible()
    panel.choose(a=LAST_RESULT, b=CORRECTED)
    np.testing.assert_array_equal(panel.view_a.overlay.pixels(), result)
    np.testing.assert_array_equal(panel.view_b.overlay.pixels(), corrected)

    def centre(view) -> tuple[float, float]:
        (x0, x1), (y0, y1) = view.viewbox.viewRange()
        return (x0 + x1) / 2, (y0 + y1) / 2

    before = panel.view_b.viewbox.viewRange()
    panel.view_a.viewbox.setRange(xRange=(10, 30), yRange=(5, 25), padding=0)
    qtbot.wait(10)
    assert panel.view_b.viewbox.viewRange() != before
    assert centre(panel.view_b) == pytest.approx((20, 15), abs=1)  # lockAspect may widen one axis
    panel.view_b.viewbox.setRange(xRange=(40, 60), yRange=(30, 50), padding=0)
    qtbot.wait(10)
    assert centre(panel.view_a) == pytest.approx((50, 40), abs=1)

    panel.diff_check.setChecked(True)
    expected = difference_map(result, corrected)
    assert set(np.unique(expected)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(panel.view_a.overlay.pixels(), expected)
    np.testing.assert_array_equal(panel.view_b.overlay.pixels(), expected)
    panel.diff_where.setCurrentIndex(1)  # left view only
    np.testing.assert_array_equal(panel.view_b.overlay.pixels(), corrected)
    panel.diff_check.setChecked(False)
    np.testing.assert_array_equal(panel.view_a.overlay.pixels(), result)

    rows = compare_metrics(result, corrected, window.session.label_names())
    table = panel.metrics_table
    assert table.rowCount() == len(rows) == 2
    dice_col = [table.horizontalHeaderItem(j).text() for j in range(table.columnCount())].index("Dice")
    assert table.item(0, dice_col).text() == f"{rows[0]['dice']:.4f}"
    assert table.item(0, dice_col).data(0x0100) == pytest.approx(rows[0]["dice"])


def test_compare_all_models_ranks_explicit_checkpoints(window, open_case, grey_png: Path, tiny_checkpoint: Path,
                                                       tmp_path: Path, qtbot, monkeypatch) -> None:
    open_case(window, grey_png)
    corrected = np.zeros((64, 80), np.uint8)
    corrected[10:50, 10:70] = 1
    _set_labels(window, corrected)
    other = tmp_path / "other" / "tiny-copy.safetensors"
    other.parent.mkdir()
    shutil.copy(tiny_checkpoint, other)
    worker = compare_actions.compare_all_models(window, [tiny_checkpoint, other], include_installed=False)
    assert worker is not None
    panel = window.compare_panel
    assert panel.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: window.compare_state.worker is None, timeout=60000)
    assert panel.ranking_table.rowCount() == 2
    names = {panel.ranking_table.item(i, 1).text() for i in range(2)}
    assert names == {"tiny-vessels", "tiny-copy"}
    scores = [panel.ranking_table.item(i, 2).data(0x0100) for i in range(2)]
    assert scores[0] >= scores[1] or np.isnan(scores[1])
    results = window.compare_state.model_results
    expected = compare_metrics(results["tiny-vessels"], corrected, window.session.label_names())
    assert np.isclose(dict(zip(names, scores, strict=True)).get("tiny-vessels", scores[0]),
                      np.nanmean([r["dice"] for r in expected]), equal_nan=True)
    assert "Model: tiny-vessels" in [panel.combo_a.itemText(i) for i in range(panel.combo_a.count())]
    assert "Ranked 2 model(s)" in panel.status_label.text()

    monkeypatch.setattr("akmamba.infer.list_shipped_models", lambda *a, **k: [])
    window.compare_state.checkpoints = []
    assert compare_actions.compare_all_models(window) is None
    assert "No models are installed" in window.statusBar().currentMessage()
