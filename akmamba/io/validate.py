"""Checks on images and image/label pairs. Each failure names the file, what was got and expected, and what to do.

============================================  =============================================================
problem                                       raised
============================================  =============================================================
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

import logging
import warnings

import numpy as np

from akmamba.errors import GeometryMismatchError, GeometryWarning, ShapeError, VolumeReadError
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


def _name(image: Image) -> str:
    return repr(str(image.path)) if image.path is not None else "an in-memory image"


def check_image(image: Image) -> None:
    """Reject images that cannot be used: fewer than 2 pixels along y or x, or NaN/inf values.

    Args:
        image: any image; float arrays are scanned for non-finite values.

    Raises:
        ShapeError: ``y`` or ``x`` size is below 2.
        VolumeReadError: the array holds NaN or infinity.
    """
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
