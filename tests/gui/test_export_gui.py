"""File > Export > Labels as...: the file dialog answer is written as an index PNG holding the painted labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtWidgets

from akmamba.io import read_image

pytestmark = pytest.mark.gui


def test_export_labels_writes_the_painted_map(window, open_case, grey_png: Path, tmp_path: Path,
                                              monkeypatch) -> None:
    open_case(window, grey_png)
    labels = np.zeros((64, 80), np.uint8)
    labels[10:20, 5:15] = 1
    labels[30:35, 40:60] = 2
    window.session.label_map.set_region(np.ones(labels.shape, dtype=bool), labels, source="import")
    target = tmp_path / "out" / "exported"
    target.parent.mkdir()
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Index PNG (*.png)"))
    actions = {a.text(): a for a in window.export_menu.actions()}
    assert set(actions) == {"&Labels as...", "Colour table (&ITK-SNAP)...", "Colour table (3D &Slicer)...",
                            "&Training folder..."}
    actions["&Labels as..."].trigger()
    written = tmp_path / "out" / "exported.png"
    assert written.is_file(), window.last_error
    np.testing.assert_array_equal(read_image(written).array, labels)
    assert "Exported labels" in window.statusBar().currentMessage()
