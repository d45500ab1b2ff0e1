"""The readers and built-in descriptions on the real files in ../shared/data (skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from akmamba.io import builtin_description, load_sample, pair_files, read_image
from akmamba.io.readers import read_sitk


def test_prostatex_nifti(shared_data: Path) -> None:
    path = shared_data / "ProstateX_sample" / "ProstateX-0000_t2_tse_tra_4.nii.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    vol = read_image(path)
    assert vol.kind == "volume"
    assert vol.array.shape == (19, 384, 384)
    assert vol.array.dtype == np.int16
    np.testing.assert_allclose(vol.spacing, (3.0, 0.5, 0.5), rtol=1e-5)
    itk = read_sitk(path)  # SimpleITK's reading of the same file: same array and geometry
    np.testing.assert_array_equal(itk.array, vol.array)
    np.testing.assert_allclose(itk.spacing, vol.spacing, rtol=1e-5)
    np.testing.assert_allclose(itk.origin, vol.origin, atol=1e-3)
    np.testing.assert_allclose(itk.direction, vol.direction, atol=1e-5)


def test_drive_training(shared_data: Path) -> None:
    root = shared_data / "DRIVE" / "training"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    desc = builtin_description("drive")
    samples = pair_files(desc, root)
    assert len(samples) == 20
    assert all(s.label is not None and s.fov is not None for s in samples)
    assert [s.case_id for s in samples] == [str(i) for i in range(21, 41)]
    image, labels, fov = load_sample(samples[0], desc)
    assert image.array.shape == (584, 565, 3)
    assert image.channels == 3
    assert labels is not None
    assert set(np.unique(labels).tolist()) == {0, 1}
    assert fov is not None
    assert fov.shape == (584, 565)
    assert 0.5 < fov.mean() < 0.9


def test_bladder(shared_data: Path) -> None:
    root = shared_data / "BladderMRI"
    if not (root / "Images").is_dir():
        pytest.skip(f"{root} not found")
    desc = builtin_description("bladder")
    samples = pair_files(desc, root)
    assert len(samples) == 870
    assert all(s.label is not None for s in samples)
    assert len({s.case_id for s in samples}) == 14
    with_tumour = next(s for s in samples if s.case_id == "12" and s.image.name == "12-IM10.png")
    image, labels, _ = load_sample(with_tumour, desc)
    assert image.array.shape == (512, 512)
    assert image.array.dtype == np.uint8
    assert labels is not None
    assert set(np.unique(labels).tolist()) <= {0, 1, 2}
