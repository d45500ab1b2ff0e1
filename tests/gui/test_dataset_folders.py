"""Issue 23 item 9: the built-in data sets open as distributed (case list, reference labels, FOV, brush)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.io.test_layouts import make_nnunet

DRIVE = Path("/work/shared/data/DRIVE/training")
BLADDER = Path("/work/shared/data/BladderMRI")


def _everywhere_vessel(shape: tuple[int, int]) -> SimpleNamespace:
    probs = np.zeros((2, *shape), np.float32)
    probs[1] = 1.0
    return SimpleNamespace(probs=probs, labels=np.ones(shape, np.uint8), model_info={"name": "test"}, device="cpu")


@pytest.mark.skipif(not DRIVE.is_dir(), reason="DRIVE is not in /work/shared/data")
def test_drive_training_folder_opens_with_reference_fov_and_thin_brush(window, open_case, tmp_path: Path) -> None:
    drive = tmp_path / "training"  # a copy: editing writes the case status into the folder
    shutil.copytree(DRIVE, drive)
    open_case(window, drive)
    cases = window.cases.cases
    assert cases is not None
    assert len(cases) == 20
    assert window.cases_panel.list.count() == 20
    s = window.session
    assert s.path == drive / "images" / "21_training.tif"
    assert s.label_names() == {1: "vessel"}
    assert 0.05 < (s.label_map.array == 1).mean() < 0.2  # 1st_manual's vessels, as indices
    assert s.fov is not None
    assert s.fov.shape == s.image.spatial_shape
    assert window.controller.radius == 2  # DRIVE's brush: thinner than most vessels
    s.set_prediction(_everywhere_vessel(s.image.spatial_shape))
    shown = s.overlay_plane()
    assert shown[s.fov].all()
    assert not shown[~s.fov].any()  # no vessel shown outside the FOV
    s.accept_prediction()
    assert not s.label_map.array[~s.fov].any()  # nor kept


@pytest.mark.skipif(not BLADDER.is_dir(), reason="BladderMRI is not in /work/shared/data")
def test_bladder_folder_opens_with_its_labels(window, open_case) -> None:
    open_case(window, BLADDER)  # opened without edits: nothing is written into the shared folder
    s = window.session
    assert len(window.cases.cases) > 100
    assert s.fov is None
    assert set(np.unique(s.label_map.array).tolist()) <= {0, 1, 2}
    assert s.label_names() == {1: "bladder_wall", 2: "tumor"}
    assert window.controller.radius == 6


def test_nnunet_raw_folder_opens_as_cases(window, open_case, tmp_path: Path) -> None:
    root = make_nnunet(tmp_path / "Dataset001_Tiny")
    open_case(window, root)
    assert window.cases.cases is not None
    assert [p.name for p in window.cases.cases.paths] == ["case_0_0000.png", "case_1_0000.png", "case_2_0000.png"]
    s = window.session
    assert s.label_names() == {1: "wall", 2: "tumour"}
    assert set(np.unique(s.label_map.array).tolist()) == {0, 1, 2}
