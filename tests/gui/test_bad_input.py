"""Bad input shows a clear message in the window (banner + status bar) and leaves the session intact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from akmamba.io import Image, write_image

pytestmark = pytest.mark.gui


def _open_failing(qtbot, window, path: Path) -> str:
    with qtbot.waitSignal(window.open_failed, timeout=15000) as blocker:
        window.open_path(path)
    return str(blocker.args[0])


def test_unreadable_and_unsupported_files_keep_the_open_case(window, open_case, grey_png: Path, tmp_path: Path,
                                                            qtbot) -> None:
    open_case(window, grey_png)
    window.session.label_map.paint_disc((5, 5), 2, 1)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    message = _open_failing(qtbot, window, broken)
    assert "broken.png" in message
    assert window.banner.isVisible()
    assert "broken.png" in window.banner.text()
    assert "broken.png" in window.statusBar().currentMessage()
    assert window.session.path == grey_png
    assert window.session.label_map.array[5, 5] == 1
    notes = tmp_path / "notes.xyz"
    notes.write_text("hello", encoding="utf-8")
    message = _open_failing(qtbot, window, notes)
    assert "'.xyz' is not supported" in message
    assert "Supported suffixes" in message
    assert window.banner.text().startswith("Unsupported format")
    missing = _open_failing(qtbot, window, tmp_path / "missing.nii.gz")
    assert "does not exist" in missing
    assert window.session.path == grey_png
    assert window.session.dirty


def test_label_map_of_the_wrong_size_is_refused(window, open_case, grey_png: Path, tmp_path: Path) -> None:
    open_case(window, grey_png)
    wrong = tmp_path / "other_labels.png"
    write_image(Image(np.ones((10, 12), np.uint8), "2d"), wrong)
    window.import_labels(wrong)
    assert "does not match" in window.last_error
    assert "(10, 12)" in window.last_error
    assert window.banner.text().startswith("Label map does not fit the image")
    assert not window.session.label_map.array.any()
    assert window.session.has_case


def test_wrong_size_label_file_next_to_the_image_opens_the_image_alone(window, open_case, grey_png: Path) -> None:
    write_image(Image(np.ones((10, 12), np.uint8), "2d"), grey_png.parent / "case01_labels.png")
    open_case(window, grey_png)
    assert window.session.has_case
    assert not window.session.label_map.array.any()
    assert "case01_labels.png" in window.banner.text()
    assert "were not loaded" in window.banner.text()


def test_model_that_fails_to_load(window, open_case, grey_png: Path, tmp_path: Path, qtbot) -> None:
    open_case(window, grey_png)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    window.model_panel.add_checkpoint(bad)
    with qtbot.waitSignal(window.segmenter.failed, timeout=30000):
        window.model_panel.run_button.click()
    assert "not a readable safetensors checkpoint" in window.last_error
    assert window.banner.text().startswith("Model could not be loaded")
    qtbot.waitUntil(lambda: window.model_panel.run_button.isEnabled())
    assert window.session.has_case
    assert window.session.pending is None


def test_no_model_chosen_and_gpu_without_cuda(window, open_case, grey_png: Path, tiny_checkpoint: Path,
                                             qtbot) -> None:
    open_case(window, grey_png)
    window.segment("", "auto")
    assert "No model is chosen" in window.last_error
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with qtbot.waitSignal(window.segmenter.failed, timeout=30000):
        window.segment(str(tiny_checkpoint), "cuda")
    assert "CUDA is not available" in window.last_error
    assert "--device" not in window.last_error  # no command-line wording in the viewer
