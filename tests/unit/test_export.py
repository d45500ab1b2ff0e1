"""akmamba.export: colour tables in the exact ITK-SNAP / 3D Slicer formats, and training folders that akmamba.io
(and nnU-Net's file conventions) read back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from akmamba.annotations import LabelInfo, LabelTable
from akmamba.export import (
    export_training_folder,
    read_itksnap_labels,
    read_slicer_color_table,
    write_itksnap_labels,
    write_slicer_color_table,
)
from akmamba.io import Image, LabelClass, load_dataset_description, load_sample, pair_files, read_image

TABLE = [{"name": "background", "index": 0, "color": [0, 0, 0]},
         {"name": "bladder wall", "index": 1, "color": [255, 0, 0]},
         {"name": "tumor", "index": 2, "color": [0, 255, 128]}]


def test_itksnap_format_exactly(tmp_path: Path) -> None:
    path = write_itksnap_labels(TABLE, tmp_path / "labels.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# ITK-SnAP Label Description File"
    rows = [ln.split(maxsplit=7) for ln in lines if not ln.startswith("#")]
    assert rows == [["0", "0", "0", "0", "0.00", "0", "0", '"background"'],
                    ["1", "255", "0", "0", "1.00", "1", "1", '"bladder wall"'],
                    ["2", "0", "255", "128", "1.00", "1", "1", '"tumor"']]
    assert read_itksnap_labels(path)[1] == (1, "bladder wall", (255, 0, 0), 1.0, 1, 1)
    with pytest.raises(FileExistsError):
        write_itksnap_labels(TABLE, path)
    write_itksnap_labels(TABLE[1:], path, overwrite=True)  # background is added when missing
    assert read_itksnap_labels(path)[0][:3] == (0, "background", (0, 0, 0))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_slicer_format_exactly(tmp_path: Path) -> None:
    path = write_slicer_color_table(TABLE, tmp_path / "labels.ctbl")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# Color table file"
    assert [ln for ln in lines if not ln.startswith("#")] == [
        "0 background 0 0 0 0", "1 bladder_wall 255 0 0 255", "2 tumor 0 255 128 255"]
    assert read_slicer_color_table(path)[1] == (1, "bladder_wall", (255, 0, 0), 255)


def test_other_table_types(tmp_path: Path) -> None:
    classes = [LabelClass("background", 0, 0, (0, 0, 0)), LabelClass("vessel", 255, 1, (0, 220, 255))]
    assert read_slicer_color_table(write_slicer_color_table(classes, tmp_path / "a.txt"))[1] == \
        (1, "vessel", (0, 220, 255), 255)
    table = LabelTable({1: LabelInfo(1, "vessel", (0, 220, 255))})
    assert read_itksnap_labels(write_itksnap_labels(table, tmp_path / "b.txt"))[1][:3] == (1, "vessel", (0, 220, 255))
    with pytest.raises(ValueError, match=r"0\.\.255"):
        write_slicer_color_table([{"name": "x", "index": 1, "color": [300, 0, 0]}], tmp_path / "c.txt")


def _cases_2d() -> list[tuple[Image, np.ndarray, str]]:
    rng = np.random.default_rng(0)
    cases = []
    for i in range(3):
        img = Image(rng.integers(0, 255, (24, 30), dtype=np.uint8), "2d")
        lab = np.zeros((24, 30), np.uint8)
        lab[2 + i:8, 3:9] = 1
        lab[12:16, 10 + i:20] = 2
        cases.append((img, lab, f"case{i + 1}"))
    return cases


def _cases_3d() -> list[tuple[Image, np.ndarray, str]]:
    rng = np.random.default_rng(1)
    img = Image(rng.integers(-100, 900, (5, 16, 20)).astype(np.int16), "volume", spacing=(3.0, 0.7, 0.7),
                origin=(10.0, -5.0, 2.0))
    lab = np.zeros((5, 16, 20), np.uint8)
    lab[1:3, 4:8, 5:9] = 2
    return [(img, lab, "vol 1")]


def test_akmamba_layout_round_trip(tmp_path: Path) -> None:
    cases = _cases_2d()
    out = tmp_path / "export"
    written = export_training_folder(cases, out, TABLE)
    assert written == out / "dataset.json"
    assert sorted(p.name for p in (out / "images").iterdir()) == ["case1.png", "case2.png", "case3.png"]
    desc = load_dataset_description(written)
    assert [(c.name, c.index, c.value_in_file) for c in desc.label_table] == \
        [("background", 0, 0), ("bladder wall", 1, 1), ("tumor", 2, 2)]
    samples = pair_files(desc, out)
    assert [s.case_id for s in samples] == ["case1", "case2", "case3"]
    for sample, (img, lab, _) in zip(samples, cases, strict=True):
        got_img, got_lab, _ = load_sample(sample, desc)
        np.testing.assert_array_equal(got_img.array, img.array)
        np.testing.assert_array_equal(got_lab, lab)
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no temporary folder left


def test_akmamba_layout_volumes_keep_geometry(tmp_path: Path) -> None:
    cases = _cases_3d()
    export_training_folder(cases, tmp_path / "out", TABLE)
    desc = load_dataset_description(tmp_path / "out" / "dataset.json")
    (sample,) = pair_files(desc, tmp_path / "out")
    assert sample.image.name == "vol_1.nii.gz"
    img, lab, _ = load_sample(sample, desc)
    np.testing.assert_allclose(img.spacing, (3.0, 0.7, 0.7))
    np.testing.assert_array_equal(lab, cases[0][1])


@pytest.mark.parametrize(("cases_fn", "ext"), [(_cases_2d, ".png"), (_cases_3d, ".nii.gz")])
def test_nnunet_layout_round_trip(tmp_path: Path, cases_fn, ext: str) -> None:
    cases = cases_fn()
    out = tmp_path / "Dataset001_Test"
    out.mkdir()  # an empty folder is fine
    export_training_folder(cases, out, TABLE, layout="nnunet", channel_names={"0": "MRI"})
    data = json.loads((out / "dataset.json").read_text(encoding="utf-8"))
    assert data["labels"] == {"background": 0, "bladder wall": 1, "tumor": 2}
    assert data["numTraining"] == len(cases)
    assert data["file_ending"] == ext
    assert data["channel_names"] == {"0": "MRI"}
    for img, lab, cid in cases:
        cid = cid.replace(" ", "_")
        got = read_image(out / "imagesTr" / f"{cid}_0000{ext}")
        np.testing.assert_array_equal(got.array, img.array)
        np.testing.assert_allclose(got.spacing, img.spacing)
        np.testing.assert_array_equal(read_image(out / "labelsTr" / f"{cid}{ext}").array, lab)


def test_training_folder_refusals(tmp_path: Path) -> None:
    cases = _cases_2d()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        export_training_folder(cases, busy, TABLE)
    assert [p.name for p in busy.iterdir()] == ["keep.txt"]
    with pytest.raises(ValueError, match="not in the label table"):
        export_training_folder([(cases[0][0], cases[0][1] * 3, "x")], tmp_path / "a", TABLE)
    with pytest.raises(ValueError, match="consecutive"):
        export_training_folder(cases, tmp_path / "b", [TABLE[0], TABLE[2]])
    with pytest.raises(ValueError, match="unique"):
        export_training_folder([cases[0], (*cases[1][:2], "case1")], tmp_path / "c", TABLE)
    with pytest.raises(ValueError, match="layout"):
        export_training_folder(cases, tmp_path / "d", TABLE, layout="coco")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
