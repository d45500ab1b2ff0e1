"""Size guard for image readers: refuse, before allocating, an image that cannot be real or does not fit memory.

Every reader calls :func:`check_declared_size` with what the file's header declares (shape, bytes per value) and
what the file can hold, before it reads the pixel data:

* **The file must hold the declared data.** An uncompressed file (``.nii``, a raw ``.mha``/``.nrrd``) must be at
  least as large as its declared data; a compressed one (``.nii.gz``, gzip-encoded NRRD, ...) cannot inflate by
  more than :data:`MAX_COMPRESSION_RATIO` (deflate's limit is about 1032:1). A 4 KB ``.nii`` whose header claims
  30000^3 voxels is refused as damaged.
* **The image must fit the cap.** The voxels as held in memory (after scaling) may take at most
  :func:`max_image_bytes` bytes: 2 GiB unless the environment variable ``AKMAMBA_MAX_IMAGE_BYTES`` says otherwise
  (a number of bytes, or with a unit: ``512M``, ``4G``, ``8GiB``; ``0`` or ``none`` turns the cap off). A
  4 MB ``.nii.gz`` that inflates to 4.1 GB is refused here instead of running for hours.

Both refusals are :class:`~akmamba.errors.ImageTooLargeError` (a ``VolumeReadError``) naming the file, the size
declared and what to do. Pure Python and numpy: no file is read here except its size.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

from akmamba.errors import ConfigError, ImageTooLargeError

#: Environment variable holding the cap on one image's voxels in memory.
ENV_MAX_IMAGE_BYTES = "AKMAMBA_MAX_IMAGE_BYTES"
#: The cap when the environment does not set one: 2 GiB of voxels.
DEFAULT_MAX_IMAGE_BYTES = 2 * 1024**3
#: A compressed file cannot inflate by more than this (deflate's maximum is about 1032:1; bzip2/zstd of the
#: formats read here stay below it for image data).
MAX_COMPRESSION_RATIO = 1100

_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


def parse_bytes(text: str) -> int | None:
    """``"2G"`` -> 2_000_000_000, ``"2GiB"`` -> 2_147_483_648, ``"1024"`` -> 1024, ``"0"``/``"none"`` -> None.

    Raises:
        ConfigError: not a size.
    """
    value = text.strip().lower().replace(" ", "")
    if value in ("0", "none", "off", "unlimited"):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(k|m|g|t|ki|mi|gi|ti)?b?", value)
    if match is None:
        raise ConfigError(
            f"{ENV_MAX_IMAGE_BYTES}={text!r} is not a size. Give a number of bytes or one with a unit, e.g. "
            "'2GiB', '512M' or '8G' ('0' turns the cap off).",
            parameter=ENV_MAX_IMAGE_BYTES,
            expected="a size such as 2GiB",
            got=text,
        )
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])


def max_image_bytes() -> int | None:
    """The cap on one image's voxels in memory, from ``$AKMAMBA_MAX_IMAGE_BYTES`` (None: no cap).

    Raises:
        ConfigError: the variable is set but is not a size.
    """
    text = os.environ.get(ENV_MAX_IMAGE_BYTES)
    return DEFAULT_MAX_IMAGE_BYTES if text is None or not text.strip() else parse_bytes(text)


def human_bytes(n: float) -> str:
    """``3221225472`` -> ``"3.0 GiB"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover - the loop returns


def check_declared_size(
    path: Path | str,
    shape: Sequence[int],
    bytes_per_voxel: float,
    *,
    file_bytes: int | None = None,
    compressed: bool | None = False,
    memory_bytes_per_voxel: float | None = None,
) -> int:
    """Refuse an image whose declared data the file cannot hold or that exceeds the memory cap.

    Args:
        path: the file (for messages; its size is read when ``file_bytes`` is None).
        shape: the declared dimensions (any order; components included).
        bytes_per_voxel: bytes of one value in the file.
        file_bytes: bytes available for the data (the file size, or the data file's); None reads ``path``'s size.
        compressed: ``False``: raw data, the file must hold it all; ``True``: compressed data, it must not inflate
            beyond :data:`MAX_COMPRESSION_RATIO`; ``None``: unknown encoding or data in another file (only the cap
            is checked).
        memory_bytes_per_voxel: bytes of one value once read (e.g. 8 when scaling makes float64); default
            ``bytes_per_voxel``.

    Returns:
        The bytes the image will take in memory.

    Raises:
        ImageTooLargeError: the file is too small for the declared data, or the data exceeds the cap.
        ConfigError: ``$AKMAMBA_MAX_IMAGE_BYTES`` is not a size.
    """
    path = Path(path)
    dims = [int(s) for s in shape]
    voxels = math.prod(dims)
    declared = voxels * bytes_per_voxel
    in_memory = int(voxels * (memory_bytes_per_voxel or bytes_per_voxel))
    shown = [d for d in dims if d != 1] or [1]  # singleton axes (one component, one slice) say nothing
    described = f"{' x '.join(str(d) for d in shown)} values of {bytes_per_voxel:g} bytes ({human_bytes(declared)})"
    size = limit = 0
    if compressed is not None:
        size = path.stat().st_size if file_bytes is None else int(file_bytes)
        limit = size * MAX_COMPRESSION_RATIO if compressed else size
    if compressed is not None and declared > limit:
        how = (f"even at deflate's best ratio ({MAX_COMPRESSION_RATIO}:1) its {human_bytes(size)} cannot hold them"
               if compressed else f"the file holds only {human_bytes(size)} of data")
        raise ImageTooLargeError(
            f"Image file {str(path)!r} declares {described}, but {how}: the file is truncated or its header is "
            "damaged. Copy or export the image again.",
            path=str(path),
            expected=f"at most {human_bytes(limit)} of data",
            got=human_bytes(declared),
            hint="copy or export the image again",
        )
    cap = max_image_bytes()
    if cap is not None and in_memory > cap:
        raise ImageTooLargeError(
            f"Image file {str(path)!r} declares {described}, {human_bytes(in_memory)} in memory, more than the "
            f"{human_bytes(cap)} allowed. Crop or downsample the image, or, if this machine has the memory, raise "
            f"the cap with the environment variable {ENV_MAX_IMAGE_BYTES} (e.g. {ENV_MAX_IMAGE_BYTES}=8GiB).",
            path=str(path),
            parameter=ENV_MAX_IMAGE_BYTES,
            expected=f"at most {human_bytes(cap)}",
            got=human_bytes(in_memory),
            hint=f"crop or downsample the image, or raise {ENV_MAX_IMAGE_BYTES}",
        )
    return in_memory
