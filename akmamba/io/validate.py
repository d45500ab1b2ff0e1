"""Checks on images and image/label pairs. Each failure names the file, what was got and expected, and what to do.

============================================  =============================================================
problem                                       raised
============================================  =============================================================
an input path that is missing, a folder, a    the caller's error class (``VolumeReadError`` for images),
FIFO, a device, a dangling symbolic link or   from :func:`check_input_file`; the message says which
a symbolic link loop                          (a FIFO would block a read for ever)
complex-valued pixels                         ``UnsupportedFormatError``
a spatial in-plane axis (y or x) shorter       ``ShapeError`` (a one-pixel or one-line image cannot be
than 2 pixels                                  segmented)
NaN or infinity in a float image              ``VolumeReadError``
label with a colour axis                      ``ShapeError``
image/label kind, shape or spacing differ     ``GeometryMismatchError``
origin or direction differ by a lot           ``GeometryMismatchError``
origin or direction differ slightly           ``GeometryWarning`` (the pair is still usable)
============================================  =============================================================

Thresholds are the module constants below (mm for origins, unitless for spacing ratios and direction entries).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import warnings
from pathlib import Path

import numpy as np

from akmamba.errors import (
    AkmambaError,
    GeometryMismatchError,
    GeometryWarning,
    ShapeError,
    UnsupportedFormatError,
    VolumeReadError,
)
from akmamba.io.image import Image

logger = logging.getLogger(__name__)

#: Relative spacing difference above which a pair is rejected.
SPACING_RTOL = 1e-4
#: Origin difference (mm) ignored silently (float32 storage in NIfTI loses about this much).
ORIGIN_ATOL_MM = 1e-3
#: Origin difference, as a fraction of the smallest voxel size, above which a pair is rejected.
ORIGIN_ERROR_VOXELS = 0.5
#: Largest direction-matrix entry difference ignored silently.
DIRECTION_ATOL = 1e-4
#: Direction-matrix entry difference above which a pair is rejected (about 3 degrees).
DIRECTION_ERROR = 0.05


def path_problem(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a regular file, in words (None when it can be opened as one).

    Tells apart a missing path, a dangling symbolic link, a symbolic link loop, a folder, a FIFO (named pipe: a
    read would wait for a writer for ever), a socket or a device, and a path that cannot be examined.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link loop (it points, through other links, back to itself)"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            if os.path.islink(path):
                return f"is a symbolic link to {os.readlink(path)!r}, which does not exist"
            return "does not exist"
        return f"cannot be examined ({exc.strerror})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is a device, not a regular file"


def check_input_file(
    path: str | os.PathLike[str],
    what: str,
    error: type[AkmambaError] = VolumeReadError,
    *,
    allow_empty: bool = False,
    parameter: str | None = None,
) -> Path:
    """Check that ``path`` is a regular, non-empty file before anything opens it.

    Args:
        path: the file.
        what: how to call it in the message, e.g. ``"Image file"``, ``"Training config"``.
        error: the error class to raise.
        allow_empty: accept a file of 0 bytes.
        parameter: the option that named the file, if any (stored on the error).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        error: the path is missing, not a regular file (folder, FIFO, device, symbolic link loop or dangling
            link), or empty.
    """
    p = Path(path)
    problem = path_problem(p)
    if problem is None and not allow_empty and p.stat().st_size == 0:
        problem = "is empty (0 bytes)"
    if problem is None:
        return p
    hint = ("copy or export it again" if "empty" in problem else
            "check the path" if "exist" in problem else "give the path of a regular file")
    raise error(f"{what} {str(p)!r} {problem}. To fix: {hint}.", path=str(p), parameter=parameter,
                expected="a regular, non-empty file", got=problem, hint=hint)


def _name(image: Image) -> str:
    return repr(str(image.path)) if image.path is not None else "an in-memory image"


def check_image(image: Image) -> None:
    """Reject images that cannot be used: fewer than 2 pixels along y or x, or NaN/inf values.

    Args:
        image: any image; float arrays are scanned for non-finite values.

    Raises:
        UnsupportedFormatError: complex-valued pixels.
        ShapeError: ``y`` or ``x`` size is below 2.
        VolumeReadError: the array holds NaN or infinity.
    """
    if np.iscomplexobj(image.array):
        raise UnsupportedFormatError(
            f"Image {_name(image)} has complex-valued pixels (dtype {image.array.dtype}); real intensities are "
            "needed. Save the magnitude (or the real part) as the image.",
            path=None if image.path is None else str(image.path),
            expected="real-valued pixels",
            got=str(image.array.dtype),
            hint="save the magnitude as the image",
        )
    plane = image.spatial_shape[-2:]
    if min(plane) < 2:
        raise ShapeError(
            f"Image {_name(image)} is {plane[0]}x{plane[1]} pixels in (y, x); at least 2x2 is needed. "
            "Check that the file is the image you meant (not a thumbnail or a placeholder).",
            path=None if image.path is None else str(image.path),
            expected="y, x >= 2",
            got=image.array.shape,
        )
    if np.issubdtype(image.array.dtype, np.inexact):
        bad = int(np.count_nonzero(~np.isfinite(image.array)))
        if bad:
            raise VolumeReadError(
                f"Image {_name(image)} holds {bad} NaN or infinite values out of {image.array.size}; finite "
                "values are needed. Fix or re-export the file (for example replace NaN by 0).",
                path=None if image.path is None else str(image.path),
                expected="finite values",
                got=f"{bad} non-finite",
                hint="replace NaN/inf and save again",
            )


def _mismatch(image: Image, label: Image, what: str, got: object, expected: object) -> GeometryMismatchError:
    return GeometryMismatchError(
        f"Label {what} {got} does not match image {what} {expected} for {_name(label)} (image {_name(image)}). "
        "Check that the label file belongs to this image.",
        path=None if label.path is None else str(label.path),
        parameter=what,
        expected=expected,
        got=got,
        hint="check that the label belongs to the image",
    )


def check_pair(image: Image, label: Image) -> None:
    """Check that ``label`` can be overlaid on ``image`` voxel for voxel.

    Args:
        image: the image (may have a colour axis).
        label: a single-channel label map of the same kind.

    Raises:
        ShapeError: the label has a colour axis.
        GeometryMismatchError: kind, spatial shape or spacing differ, or origin/direction differ beyond
            ``ORIGIN_ERROR_VOXELS`` / ``DIRECTION_ERROR``.

    Warns:
        GeometryWarning: origin or direction differ slightly (above ``ORIGIN_ATOL_MM`` / ``DIRECTION_ATOL``).
    """
    if label.channels != 1:
        raise ShapeError(
            f"Label {_name(label)} has {label.channels} channels (shape {label.array.shape}); a label map has one. "
            "Save the label as a single-channel index image.",
            path=None if label.path is None else str(label.path),
            expected="1 channel",
            got=label.channels,
        )
    if image.kind != label.kind:
        raise _mismatch(image, label, "kind", label.kind, image.kind)
    if image.spatial_shape != label.spatial_shape:
        raise _mismatch(image, label, "shape", label.spatial_shape, image.spatial_shape)
    if not np.allclose(label.spacing, image.spacing, rtol=SPACING_RTOL, atol=0):
        raise _mismatch(image, label, "spacing", label.spacing, image.spacing)
    origin_diff = float(np.max(np.abs(np.subtract(label.origin, image.origin))))
    direction_diff = float(np.max(np.abs(label.direction - image.direction)))
    if origin_diff > ORIGIN_ERROR_VOXELS * min(image.spacing):
        raise _mismatch(image, label, "origin", label.origin, image.origin)
    if direction_diff > DIRECTION_ERROR:
        raise _mismatch(image, label, "direction", label.direction.tolist(), image.direction.tolist())
    if origin_diff > ORIGIN_ATOL_MM or direction_diff > DIRECTION_ATOL:
        warnings.warn(
            f"Label {_name(label)} and image {_name(image)} differ slightly in origin (max {origin_diff:.3g} mm) "
            f"or direction (max entry difference {direction_diff:.3g}); the image geometry is used.",
            GeometryWarning,
            stacklevel=2,
        )
