"""A file declaring an impossible size is refused in the window with a message; the open case is kept."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import pytest

pytestmark = pytest.mark.gui


def test_lying_nifti_header_shows_a_banner_not_a_traceback(window, open_case, grey_png: Path, tmp_path: Path,
                                                            qtbot) -> None:
    open_case(window, grey_png)
    header = nib.Nifti1Header()
    header.set_data_shape((30000, 30000, 30000))
    header["vox_offset"] = 352
    bomb = tmp_path / "bomb.nii"
    bomb.write_bytes(header.binaryblock + b"\x00" * 3700)
    with qtbot.waitSignal(window.open_failed, timeout=15000) as blocker:
        window.open_path(bomb)
    message = str(blocker.args[0])
    assert "bomb.nii" in message
    assert "truncated or its header is damaged" in message
    assert window.banner.text().startswith("Image too large or damaged")
    assert "Traceback" not in window.banner.text()
    assert window.session.path == grey_png
