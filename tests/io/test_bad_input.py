"""Bad input gives typed errors naming the file; pairs are checked; writes never clobber and are verified."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage

from akmamba.errors import (
    ConfigError,
    GeometryMismatchError,
    GeometryWarning,
    ShapeError,
    UnsupportedFormatError,
    VolumeReadError,
)
from akmamba.io import Image, check_pair, read_image, write_image, write_labels
from akmamba.io import writers as writers_module


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _nifti(path: Path, data: np.ndarray) -> Path:
    nib.save(nib.Nifti1Image(data, np.eye(4), dtype=data.dtype), str(path))
    return path


def test_truncated_png(tmp_path: Path) -> None:
    data = _png_bytes(np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8))
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(VolumeReadError, match=r"cut\.png") as info:
        read_image(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("name", ["empty.png", "empty.nii.gz", "empty.mha"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"")
    with pytest.raises(VolumeReadError, match=r"empty \(0 bytes\)"):
        read_image(tmp_path / name)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VolumeReadError, match="does not exist"):
        read_image(tmp_path / "nope.nii.gz")


def test_truncated_nifti_and_garbage(tmp_path: Path) -> None:
    full = _nifti(tmp_path / "full.nii.gz", np.arange(4000, dtype=np.int16).reshape(10, 20, 20)).read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(full[: len(full) // 2])
    with pytest.raises(VolumeReadError, match=r"cut\.nii\.gz"):
        read_image(tmp_path / "cut.nii.gz")
    (tmp_path / "junk.nii.gz").write_bytes(gzip.compress(b"not a nifti header at all"))
    with pytest.raises(VolumeReadError, match="nibabel"):
        read_image(tmp_path / "junk.nii.gz")
    (tmp_path / "junk.mha").write_text("ObjectType = Image\nNDims = 3\n", encoding="utf-8")
    with pytest.raises(VolumeReadError, match="SimpleITK"):
        read_image(tmp_path / "junk.mha")


def test_four_d_nifti(tmp_path: Path) -> None:
    path = _nifti(tmp_path / "4d.nii.gz", np.zeros((4, 5, 6, 2), np.int16))
    with pytest.raises(UnsupportedFormatError, match="3-D volume") as info:
        read_image(path)
    assert info.value.got == (4, 5, 6, 2)
    squeezable = read_image(_nifti(tmp_path / "4d1.nii.gz", np.zeros((4, 5, 6, 1), np.int16)))
    assert squeezable.array.shape == (6, 5, 4)


def test_one_pixel_image(tmp_path: Path) -> None:
    PILImage.fromarray(np.zeros((1, 1), np.uint8)).save(tmp_path / "dot.png")
    with pytest.raises(ShapeError, match=r"dot\.png.*1x1"):
        read_image(tmp_path / "dot.png")
    assert read_image(tmp_path / "dot.png", validate=False).array.shape == (1, 1)


def test_nan_nifti(tmp_path: Path) -> None:
    data = np.ones((3, 4, 5), np.float32)
    data[1, 2, 3] = np.nan
    with pytest.raises(VolumeReadError, match=r"1 NaN or infinite.*nan\.nii\.gz|nan\.nii\.gz.*1 NaN"):
        read_image(_nifti(tmp_path / "nan.nii.gz", data))


# ------------------------------------------------------------------------------------------ check_pair


def _vol(shape: tuple[int, ...] = (3, 4, 5), **geometry: object) -> Image:
    return Image(array=np.zeros(shape, np.uint8), kind="volume", spacing=(2.0, 1.0, 1.0), **geometry)  # type: ignore[arg-type]


def test_check_pair_accepts_and_rejects() -> None:
    check_pair(_vol(), _vol())
    with pytest.raises(GeometryMismatchError, match=r"shape \(3, 4, 6\) does not match image shape \(3, 4, 5\)"):
        check_pair(_vol(), _vol((3, 4, 6)))
    with pytest.raises(GeometryMismatchError, match="spacing"):
        check_pair(_vol(), Image(array=np.zeros((3, 4, 5)), kind="volume", spacing=(3.0, 1.0, 1.0)))
    with pytest.raises(GeometryMismatchError, match="origin"):
        check_pair(_vol(), _vol(origin=(0.0, 0.0, 5.0)))
    rot = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)
    with pytest.raises(GeometryMismatchError, match="direction"):
        check_pair(_vol(), _vol(direction=rot))
    with pytest.raises(GeometryMismatchError, match="kind"):
        check_pair(Image(array=np.zeros((4, 5)), kind="2d"), _vol())
    with pytest.raises(ShapeError, match="3 channels"):
        check_pair(Image(array=np.zeros((4, 5, 3)), kind="2d"), Image(array=np.zeros((4, 5, 3)), kind="2d"))


def test_check_pair_warns_on_small_differences() -> None:
    with pytest.warns(GeometryWarning, match="origin"):
        check_pair(_vol(), _vol(origin=(0.0, 0.01, 0.0)))
    c, s = np.cos(1e-3), np.sin(1e-3)
    with pytest.warns(GeometryWarning, match="direction"):
        check_pair(_vol(), _vol(direction=[[1, 0, 0], [0, c, -s], [0, s, c]]))


# ------------------------------------------------------------------------------------------------ writes


def test_never_overwrites_without_permission(tmp_path: Path) -> None:
    img = Image(array=np.arange(12, dtype=np.uint8).reshape(3, 4), kind="2d")
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    with pytest.raises(ConfigError, match="already exists") as info:
        write_labels(img.array, img, target)
    assert info.value.parameter == "overwrite"
    assert target.read_bytes() == b"precious"
    write_labels(img.array, img, target, overwrite=True)
    np.testing.assert_array_equal(read_image(target).array, img.array)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_write_rejections(tmp_path: Path) -> None:
    img2d = Image(array=np.zeros((3, 4), np.uint8), kind="2d")
    vol = _vol()
    with pytest.raises(GeometryMismatchError, match=r"\(4, 3\)"):
        write_labels(np.zeros((4, 3), np.uint8), img2d, tmp_path / "a.png")
    with pytest.raises(ShapeError, match="float"):
        write_labels(np.zeros((3, 4), np.float32), img2d, tmp_path / "a.png")
    with pytest.raises(UnsupportedFormatError, match="uint8 PNG"):
        write_labels(np.full((3, 4), 300), img2d, tmp_path / "a.png")
    with pytest.raises(UnsupportedFormatError, match="volumes only"):
        write_image(img2d, tmp_path / "a.nii.gz")
    with pytest.raises(UnsupportedFormatError, match="2-D"):
        write_image(vol, tmp_path / "a.png")
    with pytest.raises(UnsupportedFormatError, match=r"\.mha"):
        write_image(vol, tmp_path / "a.jpg")
    with pytest.raises(ConfigError, match="does not exist"):
        write_image(vol, tmp_path / "no" / "a.mha")
    with pytest.warns(GeometryWarning, match="loses the image geometry"):
        write_image(Image(array=np.zeros((3, 4), np.uint8), kind="2d", spacing=(0.5, 0.5)), tmp_path / "g.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]


def test_2d_geometry_round_trip_through_mha(tmp_path: Path) -> None:
    img = Image(
        array=np.arange(36, dtype=np.uint8).reshape(3, 4, 3),
        kind="2d",
        spacing=(0.5, 0.25),
        origin=(2.0, -3.0),
        direction=[[0, 1], [1, 0]],
    )
    back = read_image(write_image(img, tmp_path / "c.mha"))
    assert back.kind == "2d"
    assert back.channels == 3
    np.testing.assert_array_equal(back.array, img.array)
    assert back.spacing == img.spacing
    assert back.origin == img.origin
    np.testing.assert_array_equal(back.direction, img.direction)


def test_read_back_mismatch_is_an_error_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vol = _vol()

    def corrupt(path: Path, validate: bool = True) -> Image:
        got = read_image(path, validate=validate)
        return got.with_array(got.array + 1)

    monkeypatch.setattr(writers_module, "read_image", corrupt)
    with pytest.raises(VolumeReadError, match="Read-back"):
        write_image(vol, tmp_path / "v.mha")

    def shifted(path: Path, validate: bool = True) -> Image:
        got = read_image(path, validate=validate)
        return Image(array=got.array, kind="volume", spacing=got.spacing, origin=(0.0, 0.0, 1.0))

    monkeypatch.setattr(writers_module, "read_image", shifted)
    with pytest.raises(GeometryMismatchError, match="origin"):
        write_labels(vol.array, vol, tmp_path / "v.nii.gz")
    assert list(tmp_path.iterdir()) == []
