"""The output rule of the command-line tools: never replace an input; replace other files only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from akmamba.errors import ConfigError
from akmamba.io.outputs import check_output, input_replaced_by, same_file


def test_same_file_sees_through_names(tmp_path: Path) -> None:
    a = tmp_path / "a.png"
    a.write_bytes(b"x")
    (tmp_path / "link.png").symlink_to(a)
    (tmp_path / "hard.png").hardlink_to(a)
    (tmp_path / "sub").mkdir()
    assert same_file(a, tmp_path / "sub" / ".." / "a.png")
    assert same_file(a, tmp_path / "link.png")
    assert same_file(a, tmp_path / "hard.png")
    assert not same_file(a, tmp_path / "b.png")
    assert same_file(tmp_path / "new.png", tmp_path / "sub" / ".." / "new.png")  # not written yet, same name


def test_check_output(tmp_path: Path) -> None:
    series = tmp_path / "series"
    series.mkdir()
    (series / "IM0001").write_bytes(b"dicom")
    image = tmp_path / "a.png"
    image.write_bytes(b"png")
    other = tmp_path / "report.json"
    other.write_text("{}")
    for out in (image, tmp_path / "." / "a.png", series / "IM0001"):
        with pytest.raises(ConfigError, match="would replace the input") as info:
            check_output(out, [image, series], overwrite=True)
        assert info.value.path == str(out)
    assert input_replaced_by(series / "new.nii.gz", [series]) is None  # a new file beside a series is no input
    with pytest.raises(ConfigError, match=r"already exists.*--overwrite"):
        check_output(other, [image])
    check_output(other, [image], overwrite=True)
    check_output(tmp_path / "new.json", [image])
    with pytest.raises(ConfigError, match="is a folder"):
        check_output(series, [image], overwrite=True)
