"""File > Export > Labels as...: the file dialog answer is written as an index PNG holding the painted labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtWidgets

from akmamba.compare import compare_metrics
from akmamba.infer.predictor import Prediction
from akmamba.io import read_image
from akmamba.reports import read_json_report
from app import compare_actions

pytestmark = pytest.mark.gui


def _paint_two_labels(window) -> np.ndarray:
    """Put labels 1 and 2 into the open 64 x 80 case's map (one edit); returns the map."""
    labels = np.zeros((64, 80), np.uint8)
    labels[10:20, 5:15] = 1
    labels[30:35, 40:60] = 2
    window.session.label_map.set_region(np.ones(labels.shape, dtype=bool), labels, source="import")
    return labels


def test_export_labels_writes_the_painted_map(window, open_case, grey_png: Path, tmp_path: Path,
                                              monkeypatch) -> None:
    open_case(window, grey_png)
    labels = _paint_two_labels(window)
    target = tmp_path / "out" / "exported"
    target.parent.mkdir()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Index PNG (*.png)"))
    actions = {a.text(): a for a in window.export_menu.actions()}
    assert set(actions) == {"&Labels as...", "Colour table (&ITK-SNAP)...", "Colour table (3D &Slicer)...",
                            "&Training folder...", "&Metric report..."}
    actions["&Labels as..."].trigger()
    written = tmp_path / "out" / "exported.png"
    assert written.is_file(), window.last_error
    np.testing.assert_array_equal(read_image(written).array, labels)
    assert "Exported labels" in window.statusBar().currentMessage()


def test_export_labels_with_the_training_data_values(window, open_case, grey_png: Path, tmp_path: Path,
                                                     monkeypatch) -> None:
    open_case(window, grey_png)
    window.choose_label_table("BladderMRI")  # wall 128, tumour 255 in its label files
    labels = _paint_two_labels(window)
    target = tmp_path / "out" / "values"
    target.parent.mkdir()
    chosen = "PNG with the training data's values (*.png)"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), chosen))
    {a.text(): a for a in window.export_menu.actions()}["&Labels as..."].trigger()
    written = read_image(tmp_path / "out" / "values.png").array
    np.testing.assert_array_equal(written, np.array([0, 128, 255], np.uint8)[labels])
    assert "training data's values" in window.statusBar().currentMessage()
    np.testing.assert_array_equal(window.session.label_map.array, labels)  # the open map keeps its indices

    # a table without file values (an old sidecar, say) is refused with the reason, and nothing is written
    window.session.label_rows = [{"name": r["name"], "index": r["index"], "color": r["color"]}
                                 for r in window.session.label_rows]
    from app.export_actions import export_labels

    assert export_labels(window, tmp_path / "out" / "again.png", file_values=True) is None
    assert "no file value for class(es) [0, 1, 2]" in window.last_error
    assert not (tmp_path / "out" / "again.png").exists()


def test_export_metric_report_json_and_html(window, open_case, grey_png: Path, tmp_path: Path, monkeypatch) -> None:
    open_case(window, grey_png)
    corrected = np.zeros((64, 80), np.uint8)
    corrected[20:40, 30:50] = 1
    window.session.label_map.set_region(np.ones(corrected.shape, dtype=bool), corrected, source="import")
    result = np.zeros_like(corrected)
    result[25:45, 30:55] = 1
    info = {"name": "fake-net", "version": "0.1", "sha256": "cd" * 32}
    window.session.set_prediction(Prediction(probs=None, labels=result, model_info=info))  # a fake model result
    panel = compare_actions.open_compare(window)
    panel.choose(a=compare_actions.LAST_RESULT, b=compare_actions.CORRECTED)
    window.compare_state.model_results = {"other": corrected}  # as after "Compare all models"
    compare_actions.update_sources(window)
    panel.choose(a=compare_actions.LAST_RESULT, b=compare_actions.CORRECTED)
    expected = compare_metrics(result, corrected, window.session.label_names())

    target = tmp_path / "report.json"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    actions = {a.text(): a for a in window.export_menu.actions()}
    actions["&Metric report..."].trigger()
    assert target.is_file(), window.last_error
    report = read_json_report(target)
    assert report.model == {"name": "fake-net", "version": "0.1", "checksum": "cd" * 32}
    name = expected[0]["label_name"]
    assert report.summary[name]["per_image_mean"]["dice"] == pytest.approx(expected[0]["dice"])
    assert {r["model"] for r in report.cases} == {compare_actions.LAST_RESULT, "other"}
    assert "Exported the metric report" in window.statusBar().currentMessage()

    html_target = tmp_path / "report.html"
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(html_target), ""))
    panel.export_button.click()
    assert html_target.is_file(), window.last_error
    text = html_target.read_text(encoding="utf-8")
    assert "<svg" in text or "data:image/png;base64" in text
