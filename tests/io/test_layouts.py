"""Data set folders as distributed are recognised (akmamba.io.layouts): DRIVE, the bladder pair, nnU-Net raw."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from akmamba.io import Image, read_image, write_image, write_labels
from akmamba.io.layouts import detect_dataset_folder, read_reference

DATA = Path("/work/shared/data")


def make_nnunet(root: Path, n: int = 3, with_json: bool = True) -> Path:
    """A tiny nnU-Net v2 raw folder: ``imagesTr/case_i_0000.png`` grey, ``labelsTr/case_i.png`` 0/1/2."""
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for i in range(n):
        image = Image(np.full((16, 20), 40 * i, np.uint8), "2d")
        labels = np.zeros((16, 20), np.uint8)
        labels[2:6, 3:9] = 1
        labels[9:12, 10:15] = 2
        write_image(image, root / "imagesTr" / f"case_{i}_0000.png")
        write_labels(labels, image, root / "labelsTr" / f"case_{i}.png")
    if with_json:
        (root / "dataset.json").write_text(json.dumps({
            "channel_names": {"0": "T2"}, "labels": {"background": 0, "wall": 1, "tumour": 2},
            "numTraining": n, "file_ending": ".png", "name": "Dataset001_Tiny"}))
    return root


def test_nnunet_raw_folder_pairs_images_and_labels(tmp_path: Path) -> None:
    found = detect_dataset_folder(make_nnunet(tmp_path / "Dataset001_Tiny"))
    assert found is not None
    assert found.layout == "nnunet"
    assert [s.image.name for s in found.samples] == ["case_0_0000.png", "case_1_0000.png", "case_2_0000.png"]
    assert [s.label.name for s in found.samples if s.label] == ["case_0.png", "case_1.png", "case_2.png"]
    assert [c.name for c in found.description.label_table] == ["background", "wall", "tumour"]
    sample = found.samples[1]
    labels, fov, notes = read_reference(sample, found.description, read_image(sample.image))
    assert notes == []
    assert fov is None
    assert labels is not None
    assert set(np.unique(labels).tolist()) == {0, 1, 2}


def test_nnunet_without_dataset_json_reads_the_label_values(tmp_path: Path) -> None:
    found = detect_dataset_folder(make_nnunet(tmp_path / "raw", with_json=False))
    assert found is not None
    assert [c.index for c in found.description.label_table] == [0, 1, 2]


def test_a_plain_folder_is_no_data_set(tmp_path: Path) -> None:
    write_image(Image(np.zeros((8, 8), np.uint8), "2d"), tmp_path / "a.png")
    assert detect_dataset_folder(tmp_path) is None


@pytest.mark.skipif(not (DATA / "DRIVE" / "training").is_dir(), reason="DRIVE is not in /work/shared/data")
def test_drive_training_folder_pairs_label_and_fov() -> None:
    found = detect_dataset_folder(DATA / "DRIVE" / "training")
    assert found is not None
    assert found.layout == "drive"
    assert len(found.samples) == 20
    sample = found.samples[0]
    assert sample.label is not None
    assert sample.fov is not None
    image = read_image(sample.image)
    labels, fov, notes = read_reference(sample, found.description, image)
    assert notes == []
    assert labels is not None
    assert fov is not None
    assert set(np.unique(labels).tolist()) == {0, 1}
    assert 0.5 < fov.mean() < 0.9
    assert labels[fov].mean() > 20 * labels[~fov].mean()  # vessels lie inside the FOV
    assert found.description.brush_radius == 2


@pytest.mark.skipif(not (DATA / "BladderMRI").is_dir(), reason="BladderMRI is not in /work/shared/data")
def test_bladder_images_labels_pair() -> None:
    found = detect_dataset_folder(DATA / "BladderMRI")
    assert found is not None
    assert found.layout == "bladder"
    assert all(s.label is not None for s in found.samples[:20])
    assert len({s.case_id for s in found.samples}) > 1
