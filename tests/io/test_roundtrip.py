"""Round trips of an asymmetric stamp volume through every volume format, checked against the libraries.

The volume has a different size on each axis, unique voxel values, anisotropic spacing, a nonzero origin and a
non-identity direction, so any flip, transpose or RAS/LPS mix-up changes the array or the geometry.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from akmamba.errors import VolumeReadError
from akmamba.io import Image, list_dicom_series, read_dicom_series, read_image, write_image, write_labels
from akmamba.io.image import itk_geometry

# Directions in SimpleITK (x, y, z) order, row-major; converted to (z, y, x) by reversing rows and columns.
ROT90_Z_XYZ = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
FLIP_X_XYZ = np.diag([-1.0, 1.0, 1.0])
DIRECTIONS = {"rot90": ROT90_Z_XYZ, "flip": FLIP_X_XYZ}
VOLUME_SUFFIXES = [".nii.gz", ".nii", ".mha", ".nrrd"]


def stamp_volume(direction_xyz: np.ndarray = ROT90_Z_XYZ, dtype: type = np.int16) -> Image:
    """(Z, Y, X) = (5, 7, 11); unique values plus an 'L' stamp in slice 1; values exact in float32 geometry."""
    z, y, x = 5, 7, 11
    arr = np.arange(z * y * x, dtype=np.int64).reshape(z, y, x)
    arr[1, 1:6, 2] = 1000  # vertical bar of the L
    arr[1, 5, 2:6] = 1000  # foot of the L, pointing to +x
    return Image(
        array=arr.astype(dtype),
        kind="volume",
        spacing=(2.5, 0.75, 0.5),
        origin=(-12.25, 30.5, 7.75),
        direction=direction_xyz[::-1, ::-1],
    )


def assert_same(a: Image, b: Image) -> None:
    assert a.kind == b.kind
    assert a.array.shape == b.array.shape
    assert a.array.dtype == b.array.dtype
    np.testing.assert_array_equal(a.array, b.array)
    np.testing.assert_allclose(a.spacing, b.spacing, rtol=1e-6)
    np.testing.assert_allclose(a.origin, b.origin, atol=1e-5)
    np.testing.assert_allclose(a.direction, b.direction, atol=1e-6)


@pytest.mark.parametrize("direction", sorted(DIRECTIONS))
@pytest.mark.parametrize("suffix", VOLUME_SUFFIXES)
def test_write_read_round_trip(tmp_path: Path, suffix: str, direction: str) -> None:
    vol = stamp_volume(DIRECTIONS[direction])
    out = write_image(vol, tmp_path / f"vol{suffix}")
    assert_same(read_image(out), vol)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"vol{suffix}"]  # no temp file left


@pytest.mark.parametrize("suffix", VOLUME_SUFFIXES)
def test_write_labels_copies_source_geometry(tmp_path: Path, suffix: str) -> None:
    vol = stamp_volume()
    labels = (vol.array % 3).astype(np.int64)
    back = read_image(write_labels(labels, vol, tmp_path / f"lab{suffix}"))
    assert back.array.dtype == np.uint8
    np.testing.assert_array_equal(back.array, labels)
    assert_same(back, vol.with_array(labels.astype(np.uint8)))


def test_nifti_and_mha_of_one_volume_read_identically(tmp_path: Path) -> None:
    vol = stamp_volume()
    a = read_image(write_image(vol, tmp_path / "v.nii.gz"))
    b = read_image(write_image(vol, tmp_path / "v.mha"))
    assert_same(a, b)


def test_nifti_matches_nibabel_and_simpleitk_independently(tmp_path: Path) -> None:
    vol = stamp_volume()
    path = write_image(vol, tmp_path / "v.nii.gz")
    nii = nib.load(str(path))
    data = np.asarray(nii.dataobj)
    k, j, i = 1, 5, 4  # a voxel on the foot of the L
    assert data[i, j, k] == vol.array[k, j, i] == 1000
    ras = nii.affine @ np.array([i, j, k, 1.0])
    lps_zyx = vol.index_to_physical((k, j, i))
    np.testing.assert_allclose(ras[:3], [-lps_zyx[2], -lps_zyx[1], lps_zyx[0]], atol=1e-5)
    itk = sitk.ReadImage(str(path))  # SimpleITK's own reading of our NIfTI agrees with ours
    np.testing.assert_allclose(itk.TransformIndexToPhysicalPoint((i, j, k)), lps_zyx[::-1], atol=1e-5)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(itk), vol.array)


def test_nifti_write_keeps_the_source_affine(tmp_path: Path) -> None:
    src = write_image(stamp_volume(FLIP_X_XYZ), tmp_path / "src.nii.gz")
    like = read_image(src)
    out = write_labels(np.ones(like.spatial_shape, np.uint8), like, tmp_path / "lab.nii.gz")
    np.testing.assert_array_equal(nib.load(str(out)).affine, nib.load(str(src)).affine)


def write_dicom_series(vol: Image, folder: Path, series_uid: str, description: str = "stamp") -> None:
    """Write ``vol`` as one int16 DICOM slice per z index (the SimpleITK DicomSeriesFromArray recipe)."""
    folder.mkdir(parents=True, exist_ok=True)
    img = sitk.GetImageFromArray(vol.array.astype(np.int16))
    spacing, origin, direction = itk_geometry(vol)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(direction)
    d = direction
    tags = {
        "0008|0060": "MR",
        "0008|0008": "DERIVED\\SECONDARY",
        "0020|000d": "1.2.826.0.1.3680043.2.1125.1",
        "0020|000e": series_uid,
        "0008|103e": description,
        "0020|0037": "\\".join(str(v) for v in (d[0], d[3], d[6], d[1], d[4], d[7])),
        "0018|0050": str(spacing[2]),
    }
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(img.GetDepth()):
        piece = img[:, :, z]
        for key, value in tags.items():
            piece.SetMetaData(key, value)
        piece.SetMetaData("0008|0018", f"{series_uid}.{z + 1}")
        piece.SetMetaData("0020|0013", str(z + 1))
        piece.SetMetaData("0020|0032", "\\".join(str(v) for v in img.TransformIndexToPhysicalPoint((0, 0, z))))
        writer.SetFileName(str(folder / f"slice{(z * 7) % 5}.dcm"))  # file order != slice order
        writer.Execute(piece)


def test_dicom_series_round_trip(tmp_path: Path) -> None:
    vol = stamp_volume(ROT90_Z_XYZ)
    write_dicom_series(vol, tmp_path / "dcm", "1.2.826.0.1.3680043.2.1125.2")
    got = read_dicom_series(tmp_path / "dcm")
    assert got.meta["format"] == "dicom"
    assert got.meta["n_files"] == 5
    assert_same(got, vol)
    assert_same(read_image(tmp_path / "dcm"), vol)
    assert_same(
        read_image(write_labels(got.array > 500, got, tmp_path / "lab.nii.gz")),
        got.with_array((got.array > 500).astype(np.uint8)),
    )


# ------------------------------------------------------------------------------------------------ DICOM


def test_dicom_folder_errors_list_series(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(VolumeReadError, match="No DICOM series"):
        read_dicom_series(tmp_path / "empty")
    uid_a, uid_b = "1.2.826.0.1.3680043.2.1125.11", "1.2.826.0.1.3680043.2.1125.12"
    vol = stamp_volume()
    write_dicom_series(vol, tmp_path / "two", uid_a, "first")
    write_dicom_series(vol.with_array(vol.array[:, :, :] * 0 + 7), tmp_path / "b", uid_b, "second")
    for f in (tmp_path / "b").iterdir():
        f.rename(tmp_path / "two" / f"b_{f.name}")
    assert sorted(s.uid for s in list_dicom_series(tmp_path / "two")) == [uid_a, uid_b]
    with pytest.raises(VolumeReadError, match="2 DICOM series") as info:
        read_dicom_series(tmp_path / "two")
    assert uid_a in str(info.value)
    assert uid_b in str(info.value)
    assert "'second'" in str(info.value)
    assert set(read_dicom_series(tmp_path / "two", series_uid=uid_b).array.ravel()) == {7}
    with pytest.raises(VolumeReadError, match="is not in"):
        read_dicom_series(tmp_path / "two", series_uid="1.2.3")
