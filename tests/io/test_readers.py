"""2-D readers (Pillow), the suffix registry and DICOM series selection, on tiny files built in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from akmamba.errors import UnsupportedFormatError
from akmamba.io import Image, is_volume, read_image, supported_suffixes
from akmamba.io.readers import file_suffix

RNG = np.random.default_rng(0)
GREY = RNG.integers(0, 256, (6, 9), dtype=np.uint8)
RGB = RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".gif"])
def test_grey_lossless_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"g{suffix}"
    PILImage.fromarray(GREY).save(path)
    img = read_image(path)
    assert (img.kind, img.channels, img.spatial_shape, img.array.dtype) == ("2d", 1, (6, 9), np.uint8)
    np.testing.assert_array_equal(img.array, GREY)
    assert img.spacing == (1.0, 1.0)
    assert img.origin == (0.0, 0.0)
    np.testing.assert_array_equal(img.direction, np.eye(2))
    assert not is_volume(img)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".TIFF"])
def test_rgb_lossless_formats(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"c{suffix}"
    PILImage.fromarray(RGB).save(path)
    img = read_image(path)
    assert (img.kind, img.channels, img.array.shape) == ("2d", 3, (6, 9, 3))
    np.testing.assert_array_equal(img.array, RGB)


def test_jpeg_grey_and_rgb(tmp_path: Path) -> None:
    PILImage.fromarray(RGB).save(tmp_path / "c.jpg")
    PILImage.fromarray(GREY).save(tmp_path / "g.jpeg")
    assert read_image(tmp_path / "c.jpg").array.shape == (6, 9, 3)
    assert read_image(tmp_path / "g.jpeg").array.shape == (6, 9)


def test_pillow_modes(tmp_path: Path) -> None:
    PILImage.fromarray(GREY.astype(np.uint16) * 200).save(tmp_path / "16.png")
    assert read_image(tmp_path / "16.png").array.dtype == np.uint16
    rgba = np.dstack([RGB, np.full((6, 9), 255, np.uint8)])
    PILImage.fromarray(rgba).save(tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").array, RGB)
    PILImage.fromarray(RGB).quantize(8).save(tmp_path / "p.gif")  # colour palette -> RGB
    assert read_image(tmp_path / "p.gif").array.shape == (6, 9, 3)
    labels = np.where(GREY > 128, 255, 0).astype(np.uint8)
    PILImage.fromarray(labels).convert("1").save(tmp_path / "bits.png")
    np.testing.assert_array_equal(read_image(tmp_path / "bits.png").array, labels)


def test_multipage_tiff_is_a_volume(tmp_path: Path) -> None:
    pages = [PILImage.fromarray(GREY + i) for i in range(4)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    vol = read_image(tmp_path / "stack.tif")
    assert vol.kind == "volume"
    assert vol.array.shape == (4, 6, 9)
    np.testing.assert_array_equal(vol.array[3], GREY + 3)


def test_suffix_lookup() -> None:
    assert file_suffix("a/b/Scan.NII.GZ") == ".nii.gz"
    assert file_suffix("x.tar.gz") == ".gz"
    assert {".nii.gz", ".nii", ".mha", ".nrrd", ".dcm", ".png", ".tif", ".gif"} <= set(supported_suffixes())


def test_unknown_suffix_lists_supported(tmp_path: Path) -> None:
    path = tmp_path / "scan.niigz"
    path.write_bytes(b"x")
    with pytest.raises(UnsupportedFormatError, match=r"\.nii\.gz") as info:
        read_image(path)
    assert info.value.path == str(path)
    assert ".png" in info.value.expected


def test_image_invariants() -> None:
    img = Image(array=RGB, kind="2d")
    with pytest.raises(ValueError, match="read-only"):
        img.array[0, 0, 0] = 1
    vol = Image(array=np.zeros((3, 4, 5)), kind="volume", spacing=(3, 2, 1))
    assert vol.is_volume
    assert vol.channels == 1
    assert vol.spatial_shape == (3, 4, 5)
    np.testing.assert_allclose(vol.index_to_physical((1, 1, 1)), (3, 2, 1))
    with pytest.raises(ValueError, match=r"\(Z, Y, X\)"):
        Image(array=np.zeros((3, 4)), kind="volume")
    with pytest.raises(ValueError, match="spacing"):
        Image(array=np.zeros((3, 4)), kind="2d", spacing=(1.0, 0.0))
    with pytest.raises(ValueError, match="orthonormal"):
        Image(array=np.zeros((3, 4)), kind="2d", direction=[[1, 0], [1, 1]])
    with pytest.raises(ValueError, match="spatial shape"):
        vol.with_array(np.zeros((3, 4)))
