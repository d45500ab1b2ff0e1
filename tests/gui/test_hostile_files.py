"""Damaged files beside the images (issue 22 items 12 and 15): the viewer says what is wrong with which file and
goes on, and leaves the file as it was."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

pytestmark = pytest.mark.gui


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("content", ['{"status": 5}', '{"status": ["a.png"]}', "[1, 2]", "{broken",
                                     '{"status": {"case01.png": 7, "case02.png": "corrected"}}'])
def test_folder_with_a_damaged_case_status_file_opens_and_says_so(window, qtbot, grey_png: Path,
                                                                  content: str) -> None:
    folder = grey_png.parent
    (folder / "case02.png").write_bytes(grey_png.read_bytes())
    status = folder / "akmamba_cases.json"
    status.write_text(content, encoding="utf-8")
    before = _sha(status)
    with qtbot.waitSignal(window.case_opened, timeout=15000):
        assert window.open_path(folder)
    assert window.cases.cases is not None
    assert len(window.cases.cases) == 2
    assert window.banner.isVisible()
    assert "akmamba_cases.json" in window.banner.text()
    assert not window.banner.text().startswith("Unexpected error")  # an expected problem, not a bug
    assert _sha(status) == before  # left as it is until the user sets a status
    if "corrected" in content:  # the valid entry is kept
        assert window.cases.cases.status(folder / "case02.png") == "corrected"


def test_float_label_file_is_refused_not_truncated(window, open_case, grey_png: Path) -> None:
    label = grey_png.parent / "case01_labels.tif"
    PILImage.fromarray(np.full((64, 80), 0.6, np.float32)).save(label, format="TIFF")
    open_case(window, grey_png)
    assert "case01_labels.tif" in window.banner.text()
    assert "non-integer" in window.banner.text()
    assert not window.session.label_map.array.any()  # not 0.6 -> 0 silently, and not loaded


def test_damaged_recovery_journal_is_reported_and_kept(window, tmp_path: Path) -> None:
    folder = window.journals.folder
    folder.mkdir(parents=True, exist_ok=True)
    journal = folder / f"{'0' * 20}-{2 ** 22 + 12345}-deadbeef.akjournal"  # a pid that is not running
    journal.write_bytes(b"AKMJRNL1" + os.urandom(64))
    window.cases.check_recovery()
    assert window.banner.isVisible()
    assert journal.name in window.banner.text()
    assert window.banner.text().startswith("Edit journal problem")
    assert "damaged" in window.banner.text()
    assert journal.exists()
    window.banner.hide()
    window.cases.check_recovery()  # said once per session
    assert not window.banner.isVisible()
