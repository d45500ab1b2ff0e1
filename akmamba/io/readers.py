"""Readers for 2-D images and volumes, chosen by file suffix; every reader returns an :class:`Image`.

=========================================  ===========================  ==========================
suffixes                                   library                      result
=========================================  ===========================  ==========================
``.nii`` ``.nii.gz``                       nibabel (RAS -> LPS)         volume ``(Z, Y, X)``
``.mha`` ``.mhd`` ``.nrrd`` ``.nhdr``      SimpleITK                    volume or 2-D
``.dcm`` (one file), a folder              SimpleITK (see ``dicom``)    volume
``.png`` ``.jpg`` ``.jpeg`` ``.gif``       Pillow                       2-D ``(H, W)``/``(H, W, 3)``
``.bmp`` ``.tif`` ``.tiff``                Pillow (multi-page TIFF      2-D, or volume for a
                                           of grey pages -> volume)     multi-page grey TIFF
=========================================  ===========================  ==========================

Pixel modes read by Pillow become: ``L``/``I;16``/``I``/``F`` grey (uint8/uint16/int32/float32); ``1`` grey
uint8 {0, 255}; ``P`` (palette) grey when every palette colour used is grey (its grey level is the value), RGB
otherwise, except a label PNG written by :func:`akmamba.io.writers.write_labels` (its ``akmamba`` text chunk is
``label-indices``), whose palette indices are the labels (uint8, as ``numpy.array(PIL.Image.open(f))`` reads
them); ``LA`` grey and ``RGBA`` RGB (alpha dropped; logged when not opaque); other colour modes RGB. Formats
without geometry get spacing 1, origin 0, identity direction (see ``akmamba.io.image`` for the convention).

Every reader checks the size the file's header declares before it allocates (:mod:`akmamba.io.limits`): the file
must be able to hold the data, and the voxels must fit ``$AKMAMBA_MAX_IMAGE_BYTES`` (2 GiB by default).

SimpleITK and nibabel are imported inside the functions that use them, so importing this module is cheap.
"""

from __future__ import annotations

import logging
import re
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from akmamba.errors import ImageTooLargeError, UnsupportedFormatError, VolumeReadError
from akmamba.io.image import Image, geometry_from_itk, geometry_from_ras_affine
from akmamba.io.limits import check_declared_size
from akmamba.registry import Registry, suggest

if TYPE_CHECKING:
    import SimpleITK

logger = logging.getLogger(__name__)

ReaderFn = Callable[[Path], Image]

#: Suffix (lower case, with the dot; ``.nii.gz`` is one suffix) -> reader function.
READERS: Registry[ReaderFn] = Registry("image file suffix")

_DOUBLE_SUFFIXES = (".nii.gz",)
_PIL_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".bmp": "bmp"}


def file_suffix(path: Path | str) -> str:
    """Lower-case suffix used for reader/writer lookup (``"scan.NII.GZ"`` -> ``".nii.gz"``)."""
    name = Path(path).name.lower()
    for double in _DOUBLE_SUFFIXES:
        if name.endswith(double):
            return double
    return Path(name).suffix


def supported_suffixes() -> list[str]:
    """The suffixes :func:`read_image` accepts, sorted."""
    return sorted(READERS.names())


def read_image(path: Path | str, *, validate: bool = True) -> Image:
    """Read a 2-D image, a volume, or a DICOM series folder.

    Args:
        path: a file whose suffix is in :func:`supported_suffixes`, or a folder holding one DICOM series.
        validate: run :func:`akmamba.io.validate.check_image` (NaN/inf, one-pixel images) on the result.

    Returns:
        The image; ``array`` is ``(Z, Y, X)`` for volumes, ``(H, W)`` or ``(H, W, 3)`` for 2-D.

    Raises:
        VolumeReadError: missing, empty, truncated or otherwise unreadable file; NaN in a float image.
        ImageTooLargeError: (a VolumeReadError) the header declares more data than the file holds or than
            ``$AKMAMBA_MAX_IMAGE_BYTES`` allows (see :mod:`akmamba.io.limits`); nothing was allocated.
        ConfigError: ``$AKMAMBA_MAX_IMAGE_BYTES`` is not a size.
        UnsupportedFormatError: unknown suffix, or a 4-D / vector-valued volume.
        ShapeError: a one-pixel-wide image.
    """
    path = Path(path)
    if path.is_dir():
        from akmamba.io.dicom import read_dicom_series

        image = read_dicom_series(path)
    else:
        reader = _reader_for(path)
        _check_file(path)
        image = reader(path)
    if validate:
        from akmamba.io.validate import check_image

        check_image(image)
    logger.debug("read %s: %s %s %s", path, image.kind, image.array.shape, image.array.dtype)
    return image


def _reader_for(path: Path) -> ReaderFn:
    suffix = file_suffix(path)
    if suffix in READERS:
        return READERS.get(suffix)
    names = supported_suffixes()
    raise UnsupportedFormatError(
        f"Cannot read {str(path)!r}: suffix {suffix or '(none)'!r} is not supported.{suggest(suffix, names)} "
        f"Supported suffixes: {', '.join(names)} (or a DICOM series folder). Convert the file to one of them.",
        path=str(path),
        expected=names,
        got=suffix,
        hint="convert the file to a supported format",
    )


def _check_file(path: Path) -> None:
    from akmamba.io.validate import check_input_file

    check_input_file(path, "Image file", VolumeReadError)


def _unreadable(path: Path, library: str, exc: BaseException) -> VolumeReadError:
    return VolumeReadError(
        f"Cannot read {str(path)!r} with {library}: {exc}. The file may be truncated or not what its suffix "
        "says; copy or export it again.",
        path=str(path),
        expected=f"a file {library} can read",
        got=f"{type(exc).__name__}: {exc}",
        hint="copy or export the file again",
    )


def _four_d(path: Path, shape: tuple[int, ...], order: str) -> UnsupportedFormatError:
    return UnsupportedFormatError(
        f"{str(path)!r} holds a {len(shape)}-D or multi-component image of shape {shape} ({order}); only 2-D "
        "images and 3-D scalar volumes are supported. Extract one 3-D volume (one time point or channel) first.",
        path=str(path),
        expected="3-D scalar volume",
        got=shape,
        hint="extract one 3-D volume first",
    )


# ---------------------------------------------------------------------------------------------------- NIfTI


def read_nifti(path: Path) -> Image:
    """Read ``.nii``/``.nii.gz`` with nibabel and convert its RAS affine to the LPS ``(z, y, x)`` geometry.

    The nibabel array ``(X, Y, Z)`` is transposed to ``(Z, Y, X)``; scaling (``scl_slope``) is applied as
    nibabel does. Trailing singleton dimensions beyond the third are dropped; 2-D files become ``(1, Y, X)``.

    Raises:
        VolumeReadError: unreadable or truncated file.
        ImageTooLargeError: the header declares more data than the file holds or the cap allows.
        UnsupportedFormatError: 4-D (or more) data.
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError

    errors = (OSError, EOFError, zlib.error, ImageFileError, HeaderDataError, ValueError)
    try:
        img = nib.load(str(path))
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise ImageFileError(f"not a NIfTI file but {type(img).__name__}")
        affine = np.asarray(img.affine, dtype=np.float64)
        header = img.header
        file_dtype = str(header.get_data_dtype())
        codes = (int(header["qform_code"]), int(header["sform_code"]))
    except errors as exc:
        raise _unreadable(path, "nibabel", exc) from exc
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 3:
        raise _four_d(path, tuple(int(s) for s in img.shape), "x, y, z, ...")
    _check_nifti_size(path, img)
    try:
        data = np.asarray(img.dataobj).reshape(shape + (1,) * (3 - len(shape)))
    except errors as exc:
        raise _unreadable(path, "nibabel", exc) from exc
    if data.dtype.fields is not None:
        raise _four_d(path, (*shape, len(data.dtype.fields)), "x, y, z, components")
    spacing, origin, direction = geometry_from_ras_affine(affine)
    return Image(
        array=np.ascontiguousarray(data.transpose(2, 1, 0)),
        kind="volume",
        spacing=spacing,
        origin=origin,
        direction=direction,
        path=path,
        meta={"format": "nifti", "dtype": file_dtype, "nifti_affine": affine, "qform_sform_codes": codes},
    )


def _check_nifti_size(path: Path, img: Any) -> None:
    """Refuse a NIfTI whose header declares more data than the file holds or than the cap (before reading)."""
    header = img.header
    itemsize = header.get_data_dtype().itemsize
    slope, inter = getattr(img.dataobj, "slope", 1.0), getattr(img.dataobj, "inter", 0.0)
    scaled = (slope, inter) != (1.0, 0.0)  # nibabel scales to float64
    offset = max(int(header["vox_offset"]), 352)  # a single-file NIfTI's data starts at byte 352 or later
    compressed = file_suffix(path) != ".nii"
    size = path.stat().st_size
    check_declared_size(path, img.shape, itemsize, file_bytes=size if compressed else max(size - offset, 0),
                        compressed=compressed, memory_bytes_per_voxel=8 if scaled else itemsize)


# ------------------------------------------------------------------------------------------------ SimpleITK


def image_from_sitk(img: SimpleITK.Image, path: Path | None, fmt: str, **meta: Any) -> Image:
    """Convert a SimpleITK image to an :class:`Image` (geometry reversed to ``(z, y, x)`` order).

    Args:
        img: 2-D scalar or vector (RGB) image, 3-D scalar image, or 4-D image with a last size of 1.
        path: source file or folder, for messages.
        fmt: value for ``meta["format"]``.
        **meta: extra ``meta`` entries.

    Raises:
        UnsupportedFormatError: 4-D data or a vector-valued volume.
    """
    import SimpleITK as sitk

    size = tuple(img.GetSize())
    where = path if path is not None else Path("<memory>")
    if img.GetDimension() == 4 and size[3] == 1:
        img = img[:, :, :, 0]
        size = size[:3]
    if img.GetDimension() > 3 or (img.GetDimension() == 3 and img.GetNumberOfComponentsPerPixel() > 1):
        raise _four_d(where, (*size, img.GetNumberOfComponentsPerPixel()), "x, y, z, ..., components")
    spacing, origin, direction = geometry_from_itk(img.GetSpacing(), img.GetOrigin(), img.GetDirection())
    return Image(
        array=sitk.GetArrayFromImage(img),
        kind="volume" if img.GetDimension() == 3 else "2d",
        spacing=spacing,
        origin=origin,
        direction=direction,
        path=path,
        meta={"format": fmt, "dtype": img.GetPixelIDTypeAsString(), **meta},
    )


def read_sitk(path: Path) -> Image:
    """Read MetaImage (``.mha``/``.mhd``), NRRD or a single DICOM file with SimpleITK.

    Raises:
        VolumeReadError: unreadable, truncated, or (``.mhd``) missing its data file.
        UnsupportedFormatError: 4-D or vector-valued volume.
    """
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
        check_sitk_size(path, reader, compressed=_sitk_compression(path))
        img = reader.Execute()
    except RuntimeError as exc:
        raise _unreadable(path, "SimpleITK", exc) from exc
    return image_from_sitk(img, path, file_suffix(path).lstrip("."))


def sitk_value_bytes(pixel_id: int) -> int:
    """Bytes of one component of a SimpleITK pixel type (``sitkInt16`` -> 2; complex types count both parts)."""
    import SimpleITK as sitk

    text = sitk.GetPixelIDValueAsString(pixel_id)
    match = re.search(r"(\d+)-bit", text)
    bits = int(match.group(1)) if match else 64  # an unknown type: assume the widest
    return bits // 8 * (2 if text.startswith("complex") else 1)


def check_sitk_size(path: Path, reader: Any, *, n_slices: int = 1, compressed: bool | None = None) -> None:
    """Check the size a SimpleITK reader's header information declares (after ``ReadImageInformation``).

    Args:
        path: the file or DICOM folder, for messages.
        reader: an ``sitk.ImageFileReader`` that has read the information.
        n_slices: files of a series that each hold one such image (DICOM).
        compressed: ``False`` raw data in ``path`` itself, ``True`` compressed data in it, ``None`` unknown or in
            another file (only the memory cap is checked).

    Raises:
        ImageTooLargeError: see :func:`akmamba.io.limits.check_declared_size`.
    """
    shape = [*reader.GetSize(), n_slices, reader.GetNumberOfComponents()]
    value_bytes = sitk_value_bytes(reader.GetPixelID())
    check_declared_size(path, shape, value_bytes, compressed=compressed)


def _sitk_compression(path: Path) -> bool | None:
    """Whether a MetaImage/NRRD file holds its own data compressed (True) or raw (False); None when the data is
    in another file, is text, or the format does not say (DICOM)."""
    suffix = file_suffix(path)
    if suffix not in (".mha", ".nrrd"):
        return None
    with open(path, "rb") as f:
        head = f.read(65536).decode("latin-1")
    if suffix == ".mha":
        fields = dict(re.findall(r"^\s*(\w+)\s*=\s*(.*?)\s*$", head.split("ElementDataFile")[0], re.MULTILINE))
        local = re.search(r"^\s*ElementDataFile\s*=\s*LOCAL\s*$", head, re.MULTILINE | re.IGNORECASE)
        return None if local is None else fields.get("CompressedData", "False").lower() == "true"
    fields = dict(re.findall(r"^([^:#\n]+):=?\s*(.*?)\s*$", head.split("\n\n")[0], re.MULTILINE))
    fields = {k.strip().lower(): v.lower() for k, v in fields.items()}
    if "data file" in fields or "datafile" in fields:
        return None
    encoding = fields.get("encoding", "raw")
    if encoding == "raw":
        return False
    return True if encoding in ("gzip", "gz", "bzip2", "bz2") else None


# --------------------------------------------------------------------------------------------------- Pillow

#: PNG text chunk that marks a palette label map (indices = labels), written by ``write_labels``.
LABEL_PNG_KEY, LABEL_PNG_VALUE = "akmamba", "label-indices"


def _pil_to_array(im: Any) -> np.ndarray:
    """One Pillow frame -> ``(H, W)`` or ``(H, W, 3)`` numpy array (mode rules in the module docstring)."""
    mode = im.mode
    if mode in ("L", "I", "F") or mode.startswith("I;16"):
        return np.array(im)
    if mode == "1":
        return np.array(im.convert("L"))
    if mode == "P" and im.info.get(LABEL_PNG_KEY) == LABEL_PNG_VALUE:
        return np.array(im)  # a palette label map: the indices are the labels, the palette only colours them
    if mode in ("P", "PA"):
        rgb = np.array(im.convert("RGB"))
        grey = np.all(rgb[..., 0] == rgb[..., 1]) and np.all(rgb[..., 1] == rgb[..., 2])
        return np.ascontiguousarray(rgb[..., 0]) if grey else rgb
    if mode == "LA":
        return np.array(im.getchannel("L"))
    if mode == "RGBA":
        alpha = np.array(im.getchannel("A"))
        if np.any(alpha != 255):
            logger.info("dropping a non-opaque alpha channel from %s", getattr(im, "filename", "an image"))
        return np.array(im.convert("RGB"))
    return np.array(im.convert("RGB"))


#: Bytes per pixel of a Pillow mode once read as a numpy array (palette images may become RGB).
_PIL_MEMORY_BYTES = {"1": 1, "L": 1, "P": 3, "PA": 3, "LA": 2, "I": 4, "F": 4, "RGB": 3, "RGBA": 4}


def _check_pillow_size(path: Path, im: Any, n_frames: int) -> None:
    """Refuse an image whose declared size exceeds the cap (Pillow has only read the header so far)."""
    mode = str(im.mode)
    per_pixel = 2 if mode.startswith("I;16") else _PIL_MEMORY_BYTES.get(mode, 4)
    width, height = im.size
    check_declared_size(path, (n_frames, height, width), per_pixel, compressed=None)


def read_pillow(path: Path) -> Image:
    """Read PNG, JPEG, GIF, BMP or TIFF with Pillow (first frame; all frames for a grey multi-page TIFF).

    Returns:
        2-D image ``(H, W)`` or ``(H, W, 3)``; or a ``(Z, Y, X)`` volume for a multi-page grey TIFF.

    Raises:
        VolumeReadError: truncated or unreadable file.
        UnsupportedFormatError: a multi-page TIFF whose pages differ in size or are not grey.
    """
    from PIL import Image as PILImage

    frames: list[np.ndarray] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PILImage.DecompressionBombWarning)  # the size is checked below
            with PILImage.open(path) as im:
                fmt = (im.format or file_suffix(path).lstrip(".")).lower()
                mode = im.mode
                n_frames = int(getattr(im, "n_frames", 1)) if fmt == "tiff" else 1
                _check_pillow_size(path, im, n_frames)
                for index in range(n_frames):
                    im.seek(index)
                    frames.append(_pil_to_array(im))
    except PILImage.DecompressionBombError as exc:
        raise ImageTooLargeError(
            f"Image file {str(path)!r} is refused by Pillow as a possible decompression bomb ({exc}). Crop or "
            "downsample the image (Pillow's limit is PIL.Image.MAX_IMAGE_PIXELS).",
            path=str(path),
            expected=f"at most {PILImage.MAX_IMAGE_PIXELS} pixels" if PILImage.MAX_IMAGE_PIXELS else None,
            got=str(exc),
            hint="crop or downsample the image",
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        if isinstance(exc, ImageTooLargeError):
            raise
        raise _unreadable(path, "Pillow", exc) from exc
    meta = {"format": fmt, "dtype": str(frames[0].dtype), "mode": mode}
    if len(frames) == 1:
        return Image(array=frames[0], kind="2d", path=path, meta=meta)
    shapes = {f.shape for f in frames}
    if len(shapes) != 1 or frames[0].ndim != 2:
        raise UnsupportedFormatError(
            f"Multi-page TIFF {str(path)!r} has pages of shapes {sorted(shapes)}; a volume needs grey pages of "
            "one size. Save the volume as .nii.gz or .mha instead.",
            path=str(path),
            expected="grey pages of one size",
            got=sorted(shapes),
        )
    return Image(array=np.stack(frames), kind="volume", path=path, meta={**meta, "pages": len(frames)})


def _register_builtin_readers() -> None:
    for suffix in (".nii", ".nii.gz"):
        READERS.add(suffix, read_nifti)
    for suffix in (".mha", ".mhd", ".nrrd", ".nhdr", ".dcm"):
        READERS.add(suffix, read_sitk)
    for suffix in (*_PIL_FORMATS, ".tif", ".tiff"):
        READERS.add(suffix, read_pillow)


_register_builtin_readers()
