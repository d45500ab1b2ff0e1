"""The display orientation of volumes, checked against an independent reorientation (SimpleITK's DICOMOrient).

For every one of the 48 axis-aligned direction matrices (all permutations and flips: RAS, LPS, flipped axes,
90-degree rotations, coronal and sagittal acquisitions) and an oblique one, a volume is written to disk, read back
through ``read_image`` and turned by :func:`slice_orientation`; the stack of displayed planes must equal what
``sitk.DICOMOrient`` gives for the radiological target of that plane (axial ``LPS``: rows towards P so A is up,
columns towards L so patient right is on the screen's left; coronal ``LIA``; sagittal ``PIR``), read by SimpleITK
itself from the same file.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from akmamba.io import Image, read_image
from akmamba.io.orientation import AS_STORED, SliceOrientation, orientation_from_direction, slice_orientation

#: DICOMOrient target (i, j, k directions) of each displayed plane kind.
TARGET = {"axial": "LPS", "coronal": "LIA", "sagittal": "PIR"}
SHAPE_ZYX = (3, 4, 5)  # every axis a different length, so a missed transpose changes the shape


def signed_permutations() -> dict[str, np.ndarray]:
    """All 48 axis-aligned direction matrices in SimpleITK (x, y, z) order, named by their orientation code."""
    out = {}
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            d = np.zeros((3, 3))
            for col, (row, sign) in enumerate(zip(perm, signs, strict=True)):
                d[row, col] = sign
            out[sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(d.ravel().tolist())] = d
    return out


DIRECTIONS = signed_permutations()


def oblique() -> np.ndarray:
    """18 degrees about L (the ProstateX T2 scan's tilt) after RAS-like flips: still closest to axial."""
    a = np.deg2rad(18.0)
    rot = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(a), -np.sin(a)], [0.0, np.sin(a), np.cos(a)]])
    return rot @ np.diag([-1.0, -1.0, 1.0])


def write_sitk(direction_xyz: np.ndarray, path: Path) -> Path:
    arr = np.arange(np.prod(SHAPE_ZYX), dtype=np.int16).reshape(SHAPE_ZYX)
    img = sitk.GetImageFromArray(arr)
    img.SetDirection(direction_xyz.ravel().tolist())
    img.SetSpacing((0.5, 0.75, 2.0))
    img.SetOrigin((3.0, -4.0, 5.0))
    sitk.WriteImage(img, str(path))
    return path


def displayed_stack(image: Image) -> tuple[SliceOrientation, np.ndarray]:
    """The planes as the viewer shows them, in slider order (towards S, A or R)."""
    orient = slice_orientation(image)
    planes = [orient.to_display(image.array[z]) for z in range(image.array.shape[0])]
    return orient, np.stack(planes[::-1] if orient.flip_slices else planes)


def reference(path: Path, plane: str) -> np.ndarray:
    """SimpleITK's own reading of ``path``, reoriented by DICOMOrient to the plane's radiological target."""
    return sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(path)), TARGET[plane]))


@pytest.mark.parametrize("code", sorted(DIRECTIONS))
def test_every_axis_aligned_direction_matches_dicomorient(tmp_path: Path, code: str) -> None:
    path = write_sitk(DIRECTIONS[code], tmp_path / "v.nrrd")
    orient, shown = displayed_stack(read_image(path))
    np.testing.assert_array_equal(shown, reference(path, orient.plane))


@pytest.mark.parametrize("suffix", [".nii.gz", ".mha", ".nrrd"])
@pytest.mark.parametrize("code", ["LPS", "RAS", "LAI", "PRS", "ARI"])
def test_each_format_is_shown_like_dicomorient(tmp_path: Path, suffix: str, code: str) -> None:
    path = write_sitk(DIRECTIONS[code], tmp_path / f"v{suffix}")
    orient, shown = displayed_stack(read_image(path))
    assert orient.plane == "axial"
    assert orient.letters == ("A", "P", "R", "L")
    np.testing.assert_array_equal(shown, reference(path, "axial"))


def test_oblique_volume_takes_the_nearest_orientation(tmp_path: Path) -> None:
    path = write_sitk(oblique(), tmp_path / "v.mha")
    orient, shown = displayed_stack(read_image(path))
    assert (orient.plane, orient.letters) == ("axial", ("A", "P", "R", "L"))
    np.testing.assert_array_equal(shown, reference(path, "axial"))


@pytest.mark.parametrize("affine_diag", [(1.0, 1.0, 1.0), (-1.0, 1.0, 1.0), (1.0, -1.0, -1.0)])
def test_nifti_written_by_nibabel(tmp_path: Path, affine_diag: tuple[float, float, float]) -> None:
    """NIfTI affines in RAS (nibabel's own writer): read by nibabel for us, by SimpleITK for the reference."""
    data = np.arange(np.prod(SHAPE_ZYX), dtype=np.int16).reshape(SHAPE_ZYX).transpose(2, 1, 0)  # (x, y, z)
    affine = np.diag([*(0.7 * s for s in affine_diag), 1.0])
    path = tmp_path / "v.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    orient, shown = displayed_stack(read_image(path))
    np.testing.assert_array_equal(shown, reference(path, orient.plane))
    assert orient.letters == ("A", "P", "R", "L")


def test_dicom_series_is_shown_like_dicomorient(tmp_path: Path) -> None:
    from tests.io.test_roundtrip import write_dicom_series

    vol = Image(np.arange(60, dtype=np.int16).reshape(SHAPE_ZYX), "volume", spacing=(2.0, 0.75, 0.5),
                direction=DIRECTIONS["PRI"][::-1, ::-1])
    write_dicom_series(vol, tmp_path / "dcm", "1.2.826.0.1.3680043.2.1125.9")
    orient, shown = displayed_stack(read_image(tmp_path / "dcm"))
    ref = sitk.ImageSeriesReader()
    ref.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "dcm")))
    np.testing.assert_array_equal(shown, sitk.GetArrayFromImage(sitk.DICOMOrient(ref.Execute(), "LPS")))
    assert orient.transpose
    assert orient.letters == ("A", "P", "R", "L")


def test_letters_of_coronal_and_sagittal_planes() -> None:
    assert orientation_from_direction(DIRECTIONS["LIA"][::-1, ::-1]).letters == ("S", "I", "R", "L")
    assert orientation_from_direction(DIRECTIONS["PIR"][::-1, ::-1]).letters == ("S", "I", "A", "P")


@pytest.mark.parametrize("code", ["LPS", "RAS", "PRI", "ALS"])
def test_point_and_box_mapping_agree_with_the_displayed_plane(code: str) -> None:
    """Painting maps a display point back to the array pixel shown there; a dirty box maps forward."""
    orient = orientation_from_direction(DIRECTIONS[code][::-1, ::-1])
    plane = np.arange(20).reshape(4, 5)
    shown = orient.to_display(plane)
    for r, c in itertools.product(range(shown.shape[0]), range(shown.shape[1])):
        x, y = orient.to_array(c + 0.5, r + 0.5, plane.shape)
        assert plane[int(y), int(x)] == shown[r, c]
    y0, y1, x0, x1 = orient.box_to_display((1, 3, 2, 5), plane.shape)
    marked = np.zeros_like(plane)
    marked[1:3, 2:5] = 1
    disp = orient.to_display(marked)
    assert disp[y0:y1, x0:x1].all()
    assert disp.sum() == (y1 - y0) * (x1 - x0)
    np.testing.assert_array_equal(orient.from_display(shown), plane)


def test_images_without_geometry_are_shown_as_stored() -> None:
    assert slice_orientation(Image(np.zeros((4, 5)), "2d")) is AS_STORED
    tiff = Image(np.zeros((2, 4, 5)), "volume", direction=-np.eye(3), meta={"format": "tiff"})
    assert slice_orientation(tiff) is AS_STORED


def test_prostatex_is_shown_anterior_up_patient_right_left(shared_data: Path) -> None:
    """The real T2 scan (LAS storage, 18-degree tilt): rows are flipped so anterior is up, as DICOMOrient does."""
    path = shared_data / "ProstateX_sample" / "ProstateX-0000_t2_tse_tra_4.nii.gz"
    image = read_image(path)
    orient, shown = displayed_stack(image)
    assert (orient.plane, orient.transpose, orient.flip_rows, orient.flip_cols) == ("axial", False, True, False)
    assert orient.letters == ("A", "P", "R", "L")
    np.testing.assert_array_equal(shown, reference(path, "axial"))
