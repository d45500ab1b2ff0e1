"""akmamba.demo: the synthetic fundus and pelvic-MRI cases, and the demo folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from akmamba import demo
from akmamba.io import read_image


def test_fundus_demo_is_fundus_like_and_deterministic() -> None:
    case = demo.fundus_demo(size=256, seed=3)
    rgb, labels = case.image.array, case.labels
    assert rgb.shape == (256, 256, 3)
    assert rgb.dtype == np.uint8
    assert labels.shape == (256, 256)
    assert set(np.unique(labels)) == {0, 1}
    assert 0.02 < labels.mean() < 0.2  # a vessel tree, not a blob
    fov = rgb.sum(-1) > 40
    assert rgb[fov, 0].mean() > rgb[fov, 1].mean() > rgb[fov, 2].mean()  # red fundus
    assert not labels[~fov].any()  # vessels stay in the field of view
    assert rgb[labels == 1, 1].mean() < rgb[(labels == 0) & fov, 1].mean()  # vessels dark in green
    bright = np.unravel_index(np.argmax(rgb[..., 1].astype(int)), labels.shape)
    assert bright[1] > 256 * 0.6  # the optic disc is the brightest spot, right of centre
    again = demo.fundus_demo(size=256, seed=3)
    np.testing.assert_array_equal(again.image.array, rgb)
    assert [r["name"] for r in case.label_table] == ["background", "vessel"]


def test_mri_demo_has_bladder_wall_lumen_and_tumour() -> None:
    case = demo.mri_demo(shape=(12, 96, 96), seed=1)
    vol, labels = case.image.array, case.labels
    assert case.image.is_volume
    assert vol.shape == labels.shape == (12, 96, 96)
    assert case.image.spacing == (4.0, 0.8, 0.8)
    assert set(np.unique(labels)) == {0, 1, 2}
    wall, tumour = vol[labels == 1].mean(), vol[labels == 2].mean()
    z, y_centre = 6, round(47.5 - 0.1 * 96)  # the bladder sits 10 % of the field of view above the centre
    lumen_value = np.median(vol[z, y_centre - 2 : y_centre + 3, 46:51])
    assert lumen_value > tumour > wall  # bright urine, intermediate tumour, dark wall
    assert (labels == 2).sum() < (labels == 1).sum()  # a small tumour
    assert [r["name"] for r in case.label_table] == ["background", "bladder_wall", "tumor"]


def test_write_demo_round_trips(tmp_path: Path) -> None:
    paths = demo.write_demo(tmp_path)
    assert [p.name for p in paths] == ["fundus_demo.png", "pelvis_mri_demo.nii.gz"]
    fundus = read_image(paths[0])
    assert fundus.array.shape == (512, 512, 3)
    labels = read_image(tmp_path / "fundus_demo_labels.png").array
    np.testing.assert_array_equal(labels, demo.fundus_demo().labels)
    mri = read_image(paths[1])
    assert mri.spacing == pytest.approx((4.0, 0.8, 0.8))
    mri_labels = read_image(tmp_path / "pelvis_mri_demo_labels.nii.gz")
    assert mri_labels.array.shape == mri.array.shape
    table = json.loads((tmp_path / "pelvis_mri_demo_labels.json").read_text(encoding="utf-8"))
    assert table["label_table"][2]["name"] == "tumor"
    mtime = paths[0].stat().st_mtime_ns
    demo.write_demo(tmp_path)  # existing files are kept
    assert paths[0].stat().st_mtime_ns == mtime
