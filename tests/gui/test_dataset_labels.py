"""The viewer reads a dataset's own label file as class indices (bladder 0/128/255 -> 0/1/2), so Compare names
wall and tumour and scores them from indices; unknown values are refused by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from akmamba.infer.predictor import Prediction
from akmamba.io import Image, write_image
from app import compare_actions
from app.compare_actions import CORRECTED, LAST_RESULT

pytestmark = pytest.mark.gui


@pytest.fixture
def bladder_case(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """``data/Images/2-IM7.png`` with ``data/Labels/2-IM7.png`` holding wall (128) and tumour (255)."""
    root = tmp_path / "data"
    image = np.tile(np.arange(80, dtype=np.uint8) * 3, (64, 1))
    label = np.zeros((64, 80), np.uint8)
    label[10:40, 10:60] = 128
    label[20:30, 20:30] = 255
    for folder, arr in (("Images", image), ("Labels", label)):
        (root / folder).mkdir(parents=True)
        write_image(Image(arr, "2d"), root / folder / "2-IM7.png")
    return root / "Images" / "2-IM7.png", label


def test_bladder_labels_open_as_indices_and_compare_scores_wall_and_tumour(window, open_case, bladder_case) -> None:
    image_path, raw = bladder_case
    open_case(window, image_path)
    s = window.session
    truth = np.select([raw == 128, raw == 255], [1, 2], 0).astype(np.uint8)
    np.testing.assert_array_equal(s.label_map.array, truth)  # was 0/128/255
    assert s.label_names() == {1: "bladder_wall", 2: "tumor"}
    missed = np.where(truth == 2, 1, truth).astype(np.uint8)  # the model calls the tumour wall
    s.set_prediction(Prediction(probs=None, labels=missed))
    panel = compare_actions.open_compare(window)
    panel.choose(a=LAST_RESULT, b=CORRECTED)
    by_name = {row["label_name"]: row for row in panel.metrics}
    assert set(by_name) == {"bladder_wall", "tumor"}
    wall = int((truth == 1).sum())
    assert by_name["bladder_wall"]["dice"] == pytest.approx(2 * wall / (wall + int((missed == 1).sum())))
    assert by_name["tumor"]["dice"] == 0.0  # was 1.0 (labels "128"/"255" absent from the result)


def test_import_maps_file_values_and_refuses_unknown_ones(window, open_case, grey_png: Path, tmp_path: Path) -> None:
    open_case(window, grey_png)
    window.choose_label_table("BladderMRI")  # its file values: wall 128, tumour 255
    raw = np.zeros((64, 80), np.uint8)
    raw[0:5, 0:5] = 128
    raw[5:9, 0:5] = 255
    path = tmp_path / "from_dataset.png"
    write_image(Image(raw, "2d"), path)
    window.import_labels(path)
    np.testing.assert_array_equal(window.session.label_map.array, np.select([raw == 128, raw == 255], [1, 2], 0))
    raw[20, 20] = 77
    bad = tmp_path / "bad.png"
    write_image(Image(raw, "2d"), bad)
    before = window.session.label_map.array.copy()
    window.import_labels(bad)
    assert "77" in window.last_error
    assert "bad.png" in window.last_error
    np.testing.assert_array_equal(window.session.label_map.array, before)
