"""An image's label file and table (akmamba.io.labels): pairing with a dataset's label file, file values mapped to
class indices, unknown values refused by name, the viewer's saved labels first."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from akmamba.errors import ConfigError
from akmamba.io import Image, read_image, write_image
from akmamba.io.labels import (
    find_label_file,
    labels_for_image,
    read_label_file,
    saved_label_path,
    split_name,
    to_class_indices,
)

BLADDER_ROWS = [{"name": "background", "index": 0, "value_in_file": 0},
                {"name": "bladder_wall", "index": 1, "value_in_file": 128},
                {"name": "tumor", "index": 2, "value_in_file": 255}]


def _bladder_case(root: Path, values: tuple[int, ...] = (0, 128, 255)) -> tuple[Path, np.ndarray]:
    """``root/Images/2-IM7.png`` and ``root/Labels/2-IM7.png`` (file values), as the BladderMRI folder holds."""
    image = np.tile(np.arange(40, dtype=np.uint8), (32, 1))
    label = np.zeros((32, 40), np.uint8)
    label[4:12, 4:30] = values[1]
    if len(values) > 2:
        label[14:20, 10:20] = values[2]
    for folder, arr in (("Images", image), ("Labels", label)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        write_image(Image(arr, "2d"), root / folder / "2-IM7.png")
    return root / "Images" / "2-IM7.png", label


def test_bladder_label_file_is_paired_and_mapped_to_class_indices(tmp_path: Path) -> None:
    image_path, raw = _bladder_case(tmp_path)
    found = find_label_file(image_path)
    assert found is not None
    assert found.path == tmp_path / "Labels" / "2-IM7.png"
    assert found.values == "file"
    assert "BladderMRI" in found.origin
    result = labels_for_image(image_path, read_image(image_path))
    assert result.warnings == []
    assert result.labels is not None
    assert sorted(np.unique(result.labels).tolist()) == [0, 1, 2]  # not 0/128/255
    np.testing.assert_array_equal(result.labels == 1, raw == 128)
    np.testing.assert_array_equal(result.labels == 2, raw == 255)
    assert [r["name"] for r in result.rows] == ["background", "bladder_wall", "tumor"]


def test_drive_manual_gif_is_paired_and_mapped(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "1st_manual").mkdir()
    rgb = np.zeros((24, 30, 3), np.uint8)
    rgb[..., 1] = 90
    PILImage.fromarray(rgb).save(tmp_path / "images" / "21_training.tif")
    vessel = np.zeros((24, 30), np.uint8)
    vessel[10:12, :] = 255
    PILImage.fromarray(vessel).save(tmp_path / "1st_manual" / "21_manual1.gif")
    image_path = tmp_path / "images" / "21_training.tif"
    result = labels_for_image(image_path, read_image(image_path))
    assert result.labels is not None, result.warnings
    np.testing.assert_array_equal(result.labels, (vessel > 0).astype(np.uint8))
    assert [r["name"] for r in result.rows] == ["background", "vessel"]


def test_values_outside_the_table_are_refused_by_name(tmp_path: Path) -> None:
    image_path, _ = _bladder_case(tmp_path, values=(0, 128, 77))
    with pytest.raises(ConfigError, match=r"\[77\]") as info:
        read_label_file(read_image(image_path), find_label_file(image_path), [])
    assert "2-IM7.png" in str(info.value)
    assert info.value.got == [77]
    result = labels_for_image(image_path, read_image(image_path))  # the viewer: the image opens, with a warning
    assert result.labels is None
    assert len(result.warnings) == 1
    assert "77" in result.warnings[0]
    assert "2-IM7.png" in result.warnings[0]


def test_saved_viewer_labels_win_over_the_dataset_file(tmp_path: Path) -> None:
    image_path, _ = _bladder_case(tmp_path)
    image = read_image(image_path)
    saved = np.zeros((32, 40), np.uint8)
    saved[0:3, 0:3] = 2
    target = saved_label_path(image_path, image)
    assert target == tmp_path / "Images" / "2-IM7_labels.png"
    write_image(Image(saved, "2d"), target)
    rows = [{**r, "color": [1, 2, 3]} for r in BLADDER_ROWS]
    (tmp_path / "Images" / "2-IM7_labels.json").write_text(json.dumps({"label_table": rows}), encoding="utf-8")
    result = labels_for_image(image_path, image)
    assert result.file is not None
    assert result.file.path == target
    np.testing.assert_array_equal(result.labels, saved)
    assert result.rows == rows


def test_a_folder_dataset_json_pairs_its_own_layout(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    write_image(Image(np.zeros((8, 8), np.uint8), "2d"), tmp_path / "images" / "a.png")
    lab = np.zeros((8, 8), np.uint8)
    lab[2:4, 2:4] = 9
    write_image(Image(lab, "2d"), tmp_path / "labels" / "a.png")
    desc = {"name": "mine", "modality": "grey", "images": {"folder": "images", "glob": "*.png"},
            "labels": {"folder": "labels", "pattern": "{stem}.png"},
            "label_table": [{"name": "bg", "value_in_file": 0, "index": 0, "color": [0, 0, 0]},
                            {"name": "thing", "value_in_file": 9, "index": 1, "color": [9, 9, 9]}]}
    (tmp_path / "dataset.json").write_text(json.dumps(desc), encoding="utf-8")
    result = labels_for_image(tmp_path / "images" / "a.png", read_image(tmp_path / "images" / "a.png"))
    np.testing.assert_array_equal(result.labels, (lab > 0).astype(np.uint8))
    assert result.rows[1]["name"] == "thing"


@pytest.mark.parametrize("channels", [1, 3])
def test_no_label_file_gives_the_generic_table_whatever_the_pixels(tmp_path: Path, channels: int) -> None:
    """A grey (or colour) image that nothing describes is not bladder (or fundus) data: generic labels."""
    shape = (8, 8) if channels == 1 else (8, 8, 3)
    write_image(Image(np.zeros(shape, np.uint8), "2d"), tmp_path / "x.png")
    result = labels_for_image(tmp_path / "x.png", read_image(tmp_path / "x.png"))
    assert result.labels is None
    assert result.file is None
    assert [r["index"] for r in result.rows] == list(range(7))
    assert [r["name"] for r in result.rows][1:3] == ["label 1", "label 2"]  # was bladder_wall, tumor
    assert result.source.startswith("generic")


def test_to_class_indices_modes() -> None:
    idx = np.array([[0, 1, 2]], np.uint8)
    same = to_class_indices(idx, BLADDER_ROWS)  # auto: already indices
    np.testing.assert_array_equal(same, idx)
    assert same.flags.writeable
    assert same is not idx
    np.testing.assert_array_equal(to_class_indices(np.array([[0, 128, 255]]), BLADDER_ROWS), idx)  # file values
    np.testing.assert_array_equal(to_class_indices(np.array([[0.0, 1.0, 2.0]]), BLADDER_ROWS), idx)
    np.testing.assert_array_equal(to_class_indices(np.array([[False, True]]), BLADDER_ROWS), [[0, 1]])
    with pytest.raises(ConfigError, match=r"\[128\]"):
        to_class_indices(np.array([[0, 128]]), BLADDER_ROWS, "x.png", values="index")
    with pytest.raises(ConfigError, match=r"\[1, 2\]"):
        to_class_indices(idx, BLADDER_ROWS, "x.png", values="file")
    with pytest.raises(ConfigError, match=r"\[3, 7\]"):
        to_class_indices(np.array([[0, 3, 7, 128]]), BLADDER_ROWS, "x.png")
    with pytest.raises(ConfigError, match="non-integer"):
        to_class_indices(np.array([[0.5]]), BLADDER_ROWS)
    odd = [{"index": 0, "value_in_file": 0}, {"index": 1, "value_in_file": 2}, {"index": 2, "value_in_file": 1}]
    with pytest.raises(ConfigError, match="both class indices and label-file values"):
        to_class_indices(np.array([[0, 1]]), odd)


def test_split_name() -> None:
    assert split_name(Path("/a/case.nii.gz")) == ("case", ".nii.gz")
    assert split_name(Path("/a/case.png")) == ("case", ".png")
    assert split_name(Path("/a/series")) == ("series", "")


@pytest.mark.skipif(not Path("/work/shared/data/BladderMRI/Labels/12-IM1.png").is_file(), reason="no shared data")
def test_real_bladder_slice_labels_are_class_indices() -> None:
    image_path = Path("/work/shared/data/BladderMRI/Images/12-IM1.png")
    result = labels_for_image(image_path, read_image(image_path))
    assert result.labels is not None, result.warnings
    raw = np.asarray(read_image(Path("/work/shared/data/BladderMRI/Labels/12-IM1.png")).array)
    np.testing.assert_array_equal(result.labels, np.select([raw == 128, raw == 255], [1, 2], 0))
