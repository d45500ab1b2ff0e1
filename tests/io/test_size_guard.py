"""Hostile image sizes are refused before anything is allocated (issue 22 item 14).

Every file is made in tmp_path and is small: headers that lie about their size, compressed files whose declared
data exceeds a (lowered) cap. No test allocates more than a few MB.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image as PILImage

from akmamba.cli import main
from akmamba.errors import ConfigError, ImageTooLargeError, VolumeReadError
from akmamba.io import Image, read_image, write_image
from akmamba.io.limits import DEFAULT_MAX_IMAGE_BYTES, ENV_MAX_IMAGE_BYTES, max_image_bytes, parse_bytes

HUGE = (30000, 30000, 30000)


@pytest.fixture(autouse=True)
def _default_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_MAX_IMAGE_BYTES, raising=False)


def nifti_header_bytes(shape: tuple[int, ...], dtype: type = np.int16) -> bytes:
    header = nib.Nifti1Header()
    header.set_data_dtype(dtype)
    header.set_data_shape(shape)
    header["vox_offset"] = 352
    return header.binaryblock + b"\x00" * 4


def lying_nifti(path: Path, shape: tuple[int, ...], body: bytes = b"\x00" * 3700) -> Path:
    """A NIfTI file (``.nii`` or ``.nii.gz``) whose header declares ``shape`` but which holds only ``body``."""
    data = nifti_header_bytes(shape) + body
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


def assert_refused(path: Path, *words: str, match_error: type[Exception] = ImageTooLargeError) -> str:
    with pytest.raises(match_error) as info:
        read_image(path)
    err = info.value
    assert isinstance(err, VolumeReadError)
    assert str(path) in err.message
    for word in words:
        assert word in err.message, err.message
    return err.message


def test_four_kb_nii_claiming_30000_cubed_is_refused_as_damaged(tmp_path: Path) -> None:
    path = lying_nifti(tmp_path / "bomb.nii", HUGE)
    assert path.stat().st_size < 4200
    message = assert_refused(path, "30000 x 30000 x 30000", "truncated or its header is damaged", "3.6 KiB")
    assert "Copy or export" in message


def test_tiny_nii_gz_claiming_30000_cubed_cannot_inflate_that_far(tmp_path: Path) -> None:
    assert_refused(lying_nifti(tmp_path / "bomb.nii.gz", HUGE), "1100:1", "damaged")


def test_compressed_nifti_over_the_default_cap_is_refused_before_reading(tmp_path: Path) -> None:
    """2.1 GiB declared in a 2.5 MB .nii.gz (within deflate's ratio): the 2 GiB default cap refuses it."""
    shape = (1200, 1200, 800)  # int16: 2.15 GiB
    body = np.random.default_rng(0).integers(0, 255, 2_500_000, dtype=np.uint8).tobytes()
    path = tmp_path / "big.nii.gz"
    path.write_bytes(gzip.compress(nifti_header_bytes(shape) + body, compresslevel=1))
    message = assert_refused(path, "2.0 GiB allowed", ENV_MAX_IMAGE_BYTES, "Crop or downsample")
    assert "2.1 GiB in memory" in message


def test_real_gzip_bomb_is_refused_by_a_lowered_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A genuine .nii.gz of 4 MiB of zeros (a few KB on disk) is read by default, refused under a 1 MiB cap."""
    path = tmp_path / "zeros.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((128, 128, 128), np.int16), np.eye(4)), str(path))
    assert path.stat().st_size < 50_000
    assert read_image(path).array.shape == (128, 128, 128)
    monkeypatch.setenv(ENV_MAX_IMAGE_BYTES, "1MiB")
    assert_refused(path, "4.0 MiB in memory", "1.0 MiB allowed")


def test_scaled_nifti_counts_float64_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    img = nib.Nifti1Image(np.zeros((64, 64, 32), np.int16), np.eye(4))
    img.header.set_slope_inter(2.0, 0.0)
    path = tmp_path / "scaled.nii"
    nib.save(img, str(path))
    monkeypatch.setenv(ENV_MAX_IMAGE_BYTES, "512KiB")  # 256 KiB as int16, 1 MiB as nibabel's float64
    assert_refused(path, "1.0 MiB in memory")


def nrrd(path: Path, sizes: str, encoding: str, body: bytes) -> Path:
    head = f"NRRD0004\ntype: short\ndimension: 3\nsizes: {sizes}\nencoding: {encoding}\nendian: little\n\n"
    path.write_bytes(head.encode() + body)
    return path


def test_raw_nrrd_claiming_more_than_its_file_is_refused(tmp_path: Path) -> None:
    assert_refused(nrrd(tmp_path / "bomb.nrrd", "30000 30000 30000", "raw", b"\x00" * 100), "damaged")


def test_gzip_nrrd_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = nrrd(tmp_path / "z.nrrd", "128 128 64", "gzip", gzip.compress(b"\x00" * (128 * 128 * 64 * 2)))
    assert read_image(path).array.shape == (64, 128, 128)  # honest: read under the default cap
    monkeypatch.setenv(ENV_MAX_IMAGE_BYTES, "1M")
    assert_refused(path, "2.0 MiB in memory")


def test_mha_raw_and_compressed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    head = ("ObjectType = Image\nNDims = 3\nDimSize = 30000 30000 30000\nElementType = MET_SHORT\n"
            "ElementDataFile = LOCAL\n")
    bomb = tmp_path / "bomb.mha"
    bomb.write_bytes(head.encode() + b"\x00" * 64)
    assert_refused(bomb, "damaged")
    honest = tmp_path / "z.mha"
    sitk.WriteImage(sitk.Image(96, 96, 64, sitk.sitkInt16), str(honest), True)  # compressed
    assert read_image(honest).array.shape == (64, 96, 96)
    monkeypatch.setenv(ENV_MAX_IMAGE_BYTES, "1000000")
    assert_refused(honest, "1.1 MiB in memory")


def test_dicom_series_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.io.test_roundtrip import write_dicom_series

    vol = Image(np.zeros((4, 32, 32), np.int16), "volume")
    write_dicom_series(vol, tmp_path / "dcm", "1.2.826.0.1.3680043.2.1125.77")
    assert read_image(tmp_path / "dcm").array.shape == (4, 32, 32)
    monkeypatch.setenv(ENV_MAX_IMAGE_BYTES, "4000")
    with pytest.raises(ImageTooLargeError, match="32 x 32 x 4 values") as info:
        read_image(tmp_path / "dcm")
    assert str(tmp_path / "dcm") in info.value.message


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A valid 1 x 1 grey PNG whose IHDR is rewritten to declare ``width`` x ``height`` (CRC fixed)."""
    PILImage.fromarray(np.zeros((1, 1), np.uint8)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4:ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17:ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr:ihdr + 17])))
    path.write_bytes(bytes(data))
    return path


def test_png_decompression_bomb_is_a_clear_message(tmp_path: Path) -> None:
    message = assert_refused(png_claiming(tmp_path / "bomb.png", 100_000, 100_000), "decompression bomb",
                             "MAX_IMAGE_PIXELS")
    assert "truncated" not in message


def test_png_over_the_cap_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = png_claiming(tmp_path / "wide.png", 4000, 3000)  # 12 M px: under Pillow's limit
    monkeypatch.setenv(ENV_MAX_IMAGE_BYTES, "10MB")
    assert_refused(path, "3000 x 4000", "11.4 MiB in memory")


def test_multipage_tiff_counts_every_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "stack.tif"
    pages = [PILImage.fromarray(np.zeros((100, 100), np.uint8)) for _ in range(30)]
    pages[0].save(path, save_all=True, append_images=pages[1:])
    monkeypatch.setenv(ENV_MAX_IMAGE_BYTES, "100000")
    assert_refused(path, "30 x 100 x 100")


def test_cap_setting_parses_and_explains_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    assert max_image_bytes() == DEFAULT_MAX_IMAGE_BYTES == 2 * 1024**3
    assert parse_bytes("2GiB") == 2 * 1024**3
    assert parse_bytes("512M") == 512_000_000
    assert parse_bytes("1.5 kib") == 1536
    assert parse_bytes("0") is None
    monkeypatch.setenv(ENV_MAX_IMAGE_BYTES, "lots")
    with pytest.raises(ConfigError, match=ENV_MAX_IMAGE_BYTES):
        max_image_bytes()


def test_honest_volumes_still_read(tmp_path: Path) -> None:
    vol = Image(np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4), "volume")
    for suffix in (".nii", ".nii.gz", ".mha", ".nrrd"):
        np.testing.assert_array_equal(read_image(write_image(vol, tmp_path / f"v{suffix}")).array, vol.array)


def test_cli_names_the_hostile_file_without_a_traceback(tmp_path: Path, capsys) -> None:
    bomb = lying_nifti(tmp_path / "bomb.nii", HUGE)
    assert main(["predict", "--model", "x", "--out", str(tmp_path / "o"), str(bomb)]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "bomb.nii" in err
    assert "truncated or its header is damaged" in err
