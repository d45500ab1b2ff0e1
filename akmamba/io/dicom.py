"""DICOM series discovery and reading (SimpleITK / GDCM, imported inside the functions).

A folder may hold several series; :func:`read_dicom_series` refuses to guess and lists what it found. Slices are
sorted by GDCM along the slice normal, so the volume is ``(Z, Y, X)`` with ``Z`` increasing along the normal
(the cross product of the ImageOrientationPatient row and column cosines); geometry follows
``akmamba.io.image``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from akmamba.errors import VolumeReadError
from akmamba.io.image import Image
from akmamba.io.readers import check_sitk_size, image_from_sitk

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DicomSeries:
    """One series found in a folder.

    Attributes:
        uid: SeriesInstanceUID (0020,000E).
        files: the slice files, sorted by GDCM along the slice normal.
        description: SeriesDescription (0008,103E), empty when absent.
    """

    uid: str
    files: tuple[Path, ...]
    description: str = ""

    def summary(self) -> str:
        """``"<uid> (<n> files, '<description>')"``, used in error messages."""
        return f"{self.uid} ({len(self.files)} files, {self.description!r})"


def _read_error(folder: Path, exc: BaseException) -> VolumeReadError:
    return VolumeReadError(
        f"Cannot read the DICOM series in {str(folder)!r}: {exc}. Check that the files are complete DICOM "
        "slices of one series.",
        path=str(folder),
        got=f"{type(exc).__name__}: {exc}",
        hint="check the DICOM files",
    )


def list_dicom_series(folder: Path | str) -> list[DicomSeries]:
    """List the DICOM series in ``folder`` (not recursive).

    Args:
        folder: a directory.

    Returns:
        One entry per SeriesInstanceUID, in the order GDCM reports them; empty when there is none.

    Raises:
        VolumeReadError: ``folder`` is not a directory, or GDCM fails on it.
    """
    import SimpleITK as sitk

    folder = Path(folder)
    if not folder.is_dir():
        raise VolumeReadError(
            f"DICOM folder {str(folder)!r} does not exist or is not a folder. Pass the folder holding the slices.",
            path=str(folder),
            expected="a folder",
            got="missing" if not folder.exists() else "a file",
        )
    try:
        uids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
        found = []
        for uid in uids:
            files = tuple(Path(f) for f in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), uid))
            found.append(DicomSeries(uid=uid, files=files, description=_description(files[0]) if files else ""))
    except RuntimeError as exc:
        raise _read_error(folder, exc) from exc
    return found


def _description(first_file: Path) -> str:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(first_file))
    reader.ReadImageInformation()
    key = "0008|103e"
    return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""


def read_dicom_series(folder: Path | str, series_uid: str | None = None) -> Image:
    """Read one DICOM series from ``folder`` into a ``(Z, Y, X)`` volume.

    Args:
        folder: directory holding the slice files.
        series_uid: which SeriesInstanceUID to read; needed when the folder holds more than one series.

    Returns:
        Volume with spacing, origin and direction from the DICOM tags; ``meta`` holds ``series_uid``,
        ``n_files`` and ``description``.

    Raises:
        VolumeReadError: no series in the folder, several series and no ``series_uid``, an unknown
            ``series_uid`` (each message lists the series found), or unreadable slices.
        ImageTooLargeError: the series (first slice's size x number of files) exceeds the memory cap.
    """
    import SimpleITK as sitk

    folder = Path(folder)
    series = list_dicom_series(folder)
    listing = "; ".join(s.summary() for s in series)
    if not series:
        raise VolumeReadError(
            f"No DICOM series found in {str(folder)!r}. Pass the folder that directly holds the slice files.",
            path=str(folder),
            expected="one DICOM series",
            got="none",
        )
    if series_uid is None and len(series) > 1:
        raise VolumeReadError(
            f"{str(folder)!r} holds {len(series)} DICOM series: {listing}. Pass series_uid= to choose one.",
            path=str(folder),
            expected="one series or series_uid",
            got=[s.uid for s in series],
            hint="pass series_uid",
        )
    chosen = [s for s in series if series_uid is None or s.uid == series_uid]
    if not chosen:
        raise VolumeReadError(
            f"Series {series_uid!r} is not in {str(folder)!r}; found: {listing}. Pass one of those UIDs.",
            path=str(folder),
            expected=[s.uid for s in series],
            got=series_uid,
        )
    one = chosen[0]
    first = sitk.ImageFileReader()
    first.SetFileName(str(one.files[0]))
    try:
        first.ReadImageInformation()
    except RuntimeError as exc:
        raise _read_error(folder, exc) from exc
    check_sitk_size(folder, first, n_slices=len(one.files))  # before the series is allocated
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in one.files])
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise _read_error(folder, exc) from exc
    if img.GetDimension() == 2:
        img = sitk.JoinSeries(img)
    logger.debug("DICOM series %s: %d files", one.uid, len(one.files))
    return image_from_sitk(
        img, folder, "dicom", series_uid=one.uid, n_files=len(one.files), description=one.description
    )
