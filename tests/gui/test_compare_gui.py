"""Compare panel: linked views, Difference toggle, metrics table, and "Compare all models" ranking."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtWidgets

from akmamba.compare import compare_metrics, difference_map, mean_dice
from akmamba.infer.predictor import Prediction
from akmamba.io import Image, write_image
from app import compare_actions
from app.compare_actions import CORRECTED, LAST_RESULT

pytestmark = pytest.mark.gui


def _set_labels(window, labels: np.ndarray) -> None:
    window.session.label_map.set_region(np.ones(labels.shape, dtype=bool), labels, source="import")


def test_compare_views_linked_difference_and_metrics(window, open_case, grey_png: Path, qtbot) -> None:
    open_case(window, grey_png)
    window.choose_label_table("BladderMRI")  # two labels, so two metric rows
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


def test_compare_panel_fits_a_1080_screen_and_closes(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    window.resize(1920, 1000)
    panel = compare_actions.open_compare(window)
    QtWidgets.QApplication.processEvents()
    # 1080 px less a title bar and a task bar: the window must not demand more (it demanded 1148)
    assert window.minimumSizeHint().height() <= 1000
    assert window.height() <= 1000
    assert panel.export_button.isVisible()
    dock = window.compare_dock
    assert dock.features() & QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetClosable
    panel.close_button.click()
    assert not dock.isVisible()
    compare_actions.open_compare(window)
    assert dock.isVisible()


def test_after_a_case_change_a_is_not_b_and_no_dice_is_made_up(window, open_case, grey_png: Path,
                                                                 tmp_path: Path) -> None:
    open_case(window, grey_png)
    corrected = np.zeros((64, 80), np.uint8)
    corrected[20:40, 30:50] = 1
    _set_labels(window, corrected)
    window.session.set_prediction(Prediction(probs=None, labels=np.zeros_like(corrected)))
    panel = compare_actions.open_compare(window)
    panel.choose(a=LAST_RESULT, b=CORRECTED)
    assert panel.metrics  # a real comparison
    other = tmp_path / "case02.png"
    write_image(Image(np.full((64, 80), 7, np.uint8), "2d"), other)
    open_case(window, other)
    assert panel.combo_a.currentText() == panel.combo_b.currentText() == CORRECTED
    assert panel.metrics == []  # was corrected vs corrected: Dice 1.0
    assert panel.metrics_table.rowCount() == 0
    assert "same map" in panel.note_label.text()


def test_a_label_absent_from_both_maps_is_not_applicable(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    window.choose_label_table("BladderMRI")  # a two-label table: one label is absent from both maps
    assert window.session.label_names() == {1: "bladder_wall", 2: "tumor"}
    corrected = np.zeros((64, 80), np.uint8)
    corrected[20:40, 30:50] = 1
    _set_labels(window, corrected)
    result = np.zeros_like(corrected)
    result[20:40, 30:45] = 1
    window.session.set_prediction(Prediction(probs=None, labels=result))
    panel = compare_actions.open_compare(window)
    panel.choose(a=LAST_RESULT, b=CORRECTED)
    by_name = {row["label_name"]: row for row in panel.metrics}
    assert by_name["bladder_wall"]["dice"] == pytest.approx(2 * 300 / (300 + 400))
    assert np.isnan(by_name["tumor"]["dice"])  # was 1.0
    assert not by_name["tumor"]["applicable"]
    dice_col = [panel.metrics_table.horizontalHeaderItem(j).text()
                for j in range(panel.metrics_table.columnCount())].index("Dice")
    assert panel.metrics_table.item(1, dice_col).text() == "n/a"
    assert "tumor" in panel.note_label.text()
    assert mean_dice(panel.metrics) == pytest.approx(by_name["bladder_wall"]["dice"])  # not lifted by a 1.0


def test_compare_all_models_skips_models_made_for_other_images(window, open_case, grey_png: Path,
                                                                tiny_checkpoint: Path, tmp_path: Path,
                                                                qtbot) -> None:
    import torch

    from akmamba.nn import build_model, save_checkpoint

    torch.manual_seed(0)
    fundus = tmp_path / "fundus" / "tiny-fundus.safetensors"
    save_checkpoint(build_model("unet", 3, 2, base_channels=4, depth=2).eval(), fundus,
                    metadata={"normalisation": "zscore", "version": "t", "modality": "colour fundus photograph"})
    open_case(window, grey_png)  # a grey image
    assert compare_actions.compare_all_models(window, [fundus], include_installed=False) is None
    assert "None of the models suits" in window.statusBar().currentMessage()
    assert "tiny-fundus" in window.statusBar().currentMessage()
    worker = compare_actions.compare_all_models(window, [fundus, tiny_checkpoint], include_installed=False)
    assert worker is not None
    qtbot.waitUntil(lambda: window.compare_state.worker is None, timeout=60000)
    assert set(window.compare_state.model_results) == {"tiny-vessels"}  # the fundus model was not run
    assert "not run (made for other images): tiny-fundus" in window.compare_panel.status_label.text()
