"""Writers for images and label maps that keep the source geometry, atomically and verified.

Every write:

1. refuses an existing destination unless ``overwrite=True`` (nothing is touched, ``ConfigError`` on
   ``overwrite``);
2. writes to a hidden temporary file in the destination folder (same suffix, so the libraries pick the format);
3. reads that file back and compares array (exactly) and geometry (to float32 precision) with what was asked;
   a difference raises ``VolumeReadError`` (array, dtype) or ``GeometryMismatchError`` (geometry) and the
   temporary file is removed;
4. publishes it with ``os.link`` (fails if the destination appeared meanwhile) or, with ``overwrite=True``,
   ``os.replace``. A reader never sees a half-written file.

``VolumeReadError`` (an ``OSError``) is also the error for a library failure while writing: ``akmamba.errors``
has no separate write error.

==========================  ==================  =======================================================
suffix                      library             what it can hold
==========================  ==================  =======================================================
``.nii`` ``.nii.gz``        nibabel             volumes; the source NIfTI affine is reused when it still
                                                matches the geometry, otherwise it is rebuilt (RAS)
``.mha`` ``.nrrd``          SimpleITK           volumes and 2-D (grey or RGB), any numeric dtype
``.png``                    Pillow              2-D uint8 grey/RGB, uint16 grey; no geometry. Label maps
                                                are palette (mode ``P``) PNGs: index = label, the palette
                                                holds the label colours, so they are visible in any viewer
``.tif`` ``.tiff``          Pillow              2-D uint8 grey/RGB, uint16 or float32 grey; no geometry
==========================  ==================  =======================================================

Writing an image with non-default geometry to PNG/TIFF warns (``GeometryWarning``): the geometry is lost.
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from akmamba.errors import (
    ConfigError,
    GeometryMismatchError,
    GeometryWarning,
    ShapeError,
    UnsupportedFormatError,
    VolumeReadError,
)
from akmamba.io.image import Image, itk_geometry, ras_affine
from akmamba.io.readers import LABEL_PNG_KEY, LABEL_PNG_VALUE, file_suffix, read_image

logger = logging.getLogger(__name__)

WriterFn = Callable[[Image, Path], None]

_NO_GEOMETRY = (".png", ".tif", ".tiff")
_SPACING_RTOL = 1e-5
_ORIGIN_ATOL, _ORIGIN_RTOL = 1e-4, 1e-6
_DIRECTION_ATOL = 1e-5


def write_image(image: Image, path: Path | str, *, overwrite: bool = False) -> Path:
    """Write ``image`` (array and geometry) to ``path``, atomically, and verify it by reading it back.

    Args:
        image: any image; bool arrays are stored as uint8 0/1.
        path: destination; the suffix picks the format (table in the module docstring).
        overwrite: replace an existing file. Default False: an existing file is never touched.

    Returns:
        ``path`` as a Path.

    Raises:
        ConfigError: ``path`` exists and ``overwrite`` is False, or its folder does not exist.
        UnsupportedFormatError: the suffix cannot hold this kind, channel count or dtype.
        VolumeReadError: writing failed, or the read-back array differs.
        GeometryMismatchError: the read-back geometry differs.
    """
    if image.array.dtype == bool:
        image = image.with_array(image.array.astype(np.uint8))
    return _write_verified(image, Path(path), overwrite)


def label_palette(colors: Mapping[int, Sequence[int]] | None = None) -> np.ndarray:
    """The 256-entry RGB palette of a label PNG: value 0 black, each value of ``colors`` its colour, every other
    value :func:`akmamba.annotations.colors.default_color`.

    Args:
        colors: ``{stored value: (r, g, b)}`` (e.g. a label table's index -> colour).

    Returns:
        ``(256, 3)`` uint8.
    """
    from akmamba.annotations.colors import default_color

    palette = np.array([default_color(v) for v in range(256)], dtype=np.uint8)
    palette[0] = 0
    for value, color in (colors or {}).items():
        if 0 <= int(value) < 256:
            palette[int(value)] = np.clip(np.asarray(color[:3], dtype=int), 0, 255)
    return palette


def write_labels(labels: np.ndarray, like: Image, path: Path | str, *, overwrite: bool = False,
                 colors: Mapping[int, Sequence[int]] | None = None) -> Path:
    """Write a label map with exactly the geometry of ``like`` (the image it was drawn on or predicted from).

    A ``.png`` is a palette image (mode ``P``): its pixel indices are the label values, unchanged, and its palette
    colours them (``colors``, else a default colour per value; 0 is black), so the mask is visible in any image
    viewer; ``PIL.Image.open`` + ``numpy.array`` and :func:`akmamba.io.read_image` both read the indices.

    Args:
        labels: integer or bool index array, shape ``like.spatial_shape``: ``(Z, Y, X)`` or ``(H, W)``.
            Stored as the smallest of uint8, uint16, int16, int32 that holds its values (PNG: uint8 only).
        like: the source image; its geometry (and its NIfTI affine, if any) is copied.
        path: destination (``.nii.gz``, ``.nii``, ``.mha``, ``.nrrd``, ``.png``, ``.tif``).
        overwrite: replace an existing file. Default False.
        colors: ``{stored value: (r, g, b)}`` for a PNG's palette (ignored by the other formats).

    Returns:
        ``path`` as a Path.

    Raises:
        ShapeError: ``labels`` is not an integer/bool array.
        GeometryMismatchError: ``labels`` shape differs from ``like.spatial_shape``.
        ConfigError, UnsupportedFormatError, VolumeReadError: as for :func:`write_image`.
    """
    arr = np.asarray(labels)
    where = repr(str(path))
    if arr.shape != like.spatial_shape:
        raise GeometryMismatchError(
            f"Label array shape {arr.shape} does not match image shape {like.spatial_shape} for {where}. "
            "Pass the image the labels were drawn on as `like`.",
            path=str(path),
            expected=like.spatial_shape,
            got=arr.shape,
        )
    arr = arr.astype(_label_dtype(arr, Path(path)), copy=False)
    if file_suffix(path) == ".png" and arr.dtype != np.uint8:
        raise UnsupportedFormatError(
            f"Label values {int(arr.min())}..{int(arr.max())} do not fit a uint8 PNG index image {where}. "
            "Use .mha or .nrrd (2-D) or .nii.gz (volumes).",
            path=str(path),
            expected="values 0..255",
            got=(int(arr.min()), int(arr.max())),
        )
    label_image = Image(
        array=arr,
        kind=like.kind,
        spacing=like.spacing,
        origin=like.origin,
        direction=like.direction,
        path=like.path,
        meta={k: v for k, v in like.meta.items() if k in ("nifti_affine", "qform_sform_codes")},
    )
    if file_suffix(path) == ".png" and label_image.kind == "2d":
        label_image.meta["label_palette"] = label_palette(colors)
        label_image.meta["label_palette_used"] = max([0, *(int(v) for v in (colors or {}) if 0 <= int(v) < 256)])
    return _write_verified(label_image, Path(path), overwrite)


def _label_dtype(arr: np.ndarray, path: Path) -> np.dtype:
    if arr.dtype == bool:
        return np.dtype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ShapeError(
            f"Labels for {str(path)!r} must be an integer or bool array, got dtype {arr.dtype}. "
            "Convert class scores to indices first (for example argmax, then astype(np.uint8)).",
            path=str(path),
            expected="integer or bool dtype",
            got=str(arr.dtype),
        )
    lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
    for dtype in (np.uint8, np.uint16, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dtype)
    raise ShapeError(
        f"Label values {lo}..{hi} for {str(path)!r} do not fit int32. Renumber the labels.",
        path=str(path),
        expected="values within int32",
        got=(lo, hi),
    )


# ------------------------------------------------------------------------------------------- format writers


def _write_nifti(image: Image, tmp: Path) -> None:
    import nibabel as nib

    if not image.is_volume:
        raise _unsupported(tmp, image, "NIfTI output holds volumes only; use .png, .tif or .mha for 2-D")
    computed = ras_affine(image)
    original = image.meta.get("nifti_affine")
    use_original = original is not None and np.allclose(original, computed, rtol=1e-6, atol=1e-5)
    affine = np.asarray(original, dtype=np.float64) if use_original else computed
    data = np.asarray(image.array).transpose(2, 1, 0)
    nii = nib.Nifti1Image(data, affine, dtype=data.dtype)
    qcode, scode = image.meta.get("qform_sform_codes", (1, 1))
    nii.set_qform(affine, code=int(qcode) or 1)
    nii.set_sform(affine, code=int(scode) or 1)
    nib.save(nii, str(tmp))


def _write_sitk(image: Image, tmp: Path) -> None:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(image.array), isVector=image.channels > 1)
    spacing, origin, direction = itk_geometry(image)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(direction)
    sitk.WriteImage(img, str(tmp), True)


def _write_pillow(image: Image, tmp: Path) -> None:
    from PIL import Image as PILImage

    arr = np.ascontiguousarray(image.array)
    tiff = file_suffix(tmp) in (".tif", ".tiff")
    grey_ok = (np.uint8, np.uint16, np.float32) if tiff else (np.uint8, np.uint16)
    ok = image.kind == "2d" and (
        (image.channels == 1 and arr.dtype.type in grey_ok) or (image.channels == 3 and arr.dtype == np.uint8)
    )
    if not ok:
        allowed = "uint8 grey/RGB, uint16" + (" or float32 grey" if tiff else " grey")
        raise _unsupported(tmp, image, f"this format holds 2-D {allowed}; use .mha or .nrrd instead")
    palette = image.meta.get("label_palette")
    if palette is not None and not tiff and arr.dtype == np.uint8 and image.channels == 1:
        from PIL import PngImagePlugin

        im = PILImage.frombytes("P", (arr.shape[1], arr.shape[0]), arr.tobytes())
        # only the entries up to the highest value stored or coloured: a small mask stays a small file
        used = max(int(arr.max()) if arr.size else 0, int(image.meta.get("label_palette_used", 1))) + 1
        im.putpalette(np.asarray(palette, dtype=np.uint8)[:used].reshape(-1).tolist())
        info = PngImagePlugin.PngInfo()
        info.add_text(LABEL_PNG_KEY, LABEL_PNG_VALUE)
        im.save(tmp, pnginfo=info)
        return
    PILImage.fromarray(arr).save(tmp)


_WRITERS: dict[str, WriterFn] = {
    ".nii": _write_nifti,
    ".nii.gz": _write_nifti,
    ".mha": _write_sitk,
    ".nrrd": _write_sitk,
    ".png": _write_pillow,
    ".tif": _write_pillow,
    ".tiff": _write_pillow,
}


def writable_suffixes() -> list[str]:
    """The suffixes :func:`write_image` and :func:`write_labels` accept, sorted."""
    return sorted(_WRITERS)


def _unsupported(path: Path, image: Image, why: str) -> UnsupportedFormatError:
    got = f"{image.kind} {image.array.shape} {image.array.dtype}"
    return UnsupportedFormatError(
        f"Cannot write {got} to {str(path)!r}: {why}.",
        path=str(path),
        got=got,
        hint=why,
    )


# ------------------------------------------------------------------------------------ atomic, verified write


def _write_verified(image: Image, path: Path, overwrite: bool) -> Path:
    suffix = file_suffix(path)
    writer = _WRITERS.get(suffix)
    if writer is None:
        raise UnsupportedFormatError(
            f"Cannot write {str(path)!r}: suffix {suffix or '(none)'!r} is not writable. "
            f"Use one of {', '.join(writable_suffixes())}.",
            path=str(path),
            expected=writable_suffixes(),
            got=suffix,
        )
    if not path.parent.is_dir():
        raise ConfigError(
            f"Output folder {str(path.parent)!r} does not exist. Create it first.",
            path=str(path),
            parameter="path",
            got=str(path.parent),
        )
    _refuse_existing(path, overwrite)
    tmp = path.with_name(f".{path.name[: -len(suffix)]}.{uuid.uuid4().hex[:12]}.partial{suffix}")
    try:
        try:
            writer(image, tmp)
        except (RuntimeError, OSError, ValueError, zlib.error) as exc:
            if isinstance(exc, UnsupportedFormatError):
                raise
            raise VolumeReadError(
                f"Writing {str(path)!r} failed: {exc}. Check free disk space and permissions.",
                path=str(path),
                got=f"{type(exc).__name__}: {exc}",
                hint="check disk space and permissions",
            ) from exc
        _verify(image, read_image(tmp, validate=False), path, suffix)
        if suffix in _NO_GEOMETRY and not _default_geometry(image):
            warnings.warn(
                f"{suffix} cannot store spacing, origin or direction; {str(path)!r} loses the image geometry. "
                "Use .mha or .nrrd to keep it.",
                GeometryWarning,
                stacklevel=3,
            )
        _publish(tmp, path, overwrite)
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("wrote %s %s %s to %s", image.kind, image.array.shape, image.array.dtype, path)
    return path


def _refuse_existing(path: Path, overwrite: bool) -> None:
    if path.exists() and (not overwrite or path.is_dir()):
        raise ConfigError(
            f"{str(path)!r} already exists; nothing was written. Choose another name or pass overwrite=True.",
            path=str(path),
            parameter="overwrite",
            expected="a new file name, or overwrite=True",
            got="existing file",
        )


def _publish(tmp: Path, path: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic and never clobbers: fails if the destination appeared meanwhile
    except FileExistsError:
        _refuse_existing(path, overwrite)
        raise
    except OSError:  # file system without hard links
        _refuse_existing(path, overwrite)
        os.replace(tmp, path)


def _default_geometry(image: Image) -> bool:
    n = len(image.spacing)
    return (
        np.allclose(image.spacing, 1.0) and np.allclose(image.origin, 0.0) and np.allclose(image.direction, np.eye(n))
    )


def _verify(expected: Image, got: Image, path: Path, suffix: str) -> None:
    """Compare what was written (``got``, read back) with what was asked (``expected``)."""
    exp, arr = expected.array, got.array
    same = (
        got.kind == expected.kind
        and arr.shape == exp.shape
        and arr.dtype == exp.dtype
        and bool(np.array_equal(arr, exp, equal_nan=np.issubdtype(exp.dtype, np.inexact)))
    )
    if not same:
        raise VolumeReadError(
            f"Read-back of {str(path)!r} differs from what was written: got {got.kind} {arr.shape} {arr.dtype}, "
            f"expected {expected.kind} {exp.shape} {exp.dtype} (or values differ). Nothing was written; "
            "try another format (.mha keeps every dtype).",
            path=str(path),
            expected=(expected.kind, exp.shape, str(exp.dtype)),
            got=(got.kind, arr.shape, str(arr.dtype)),
        )
    if suffix in _NO_GEOMETRY:
        return
    checks = (
        ("spacing", np.allclose(got.spacing, expected.spacing, rtol=_SPACING_RTOL, atol=0)),
        ("origin", np.allclose(got.origin, expected.origin, rtol=_ORIGIN_RTOL, atol=_ORIGIN_ATOL)),
        ("direction", np.allclose(got.direction, expected.direction, atol=_DIRECTION_ATOL)),
    )
    for name, ok in checks:
        if not ok:
            raise GeometryMismatchError(
                f"Read-back {name} of {str(path)!r} is {np.asarray(getattr(got, name)).tolist()}, expected "
                f"{np.asarray(getattr(expected, name)).tolist()}. Nothing was written; try .mha or .nrrd.",
                path=str(path),
                parameter=name,
                expected=np.asarray(getattr(expected, name)).tolist(),
                got=np.asarray(getattr(got, name)).tolist(),
            )
