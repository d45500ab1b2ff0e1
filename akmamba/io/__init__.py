"""Image and volume I/O (numpy, nibabel, SimpleITK, Pillow; no torch, no Qt).

Axis convention: volumes are ``(Z, Y, X)``; 2-D images are ``(H, W)`` grey or ``(H, W, 3)`` RGB. Spacing, origin
and direction are listed in array-axis order in the LPS frame (details in :mod:`akmamba.io.image`).

Public API:

- :class:`Image`, :func:`is_volume`;
- :func:`read_image` (by suffix, ``.nii.gz`` included, or a DICOM folder), :func:`read_dicom_series`,
  :func:`supported_suffixes`;
- :func:`write_image`, :func:`write_labels` (atomic, no overwrite by default, verified by reading back);
- :func:`atomic_write`, :func:`atomic_write_bytes`, :func:`atomic_write_text` (any file: temporary file, fsync,
  rename; the permissions of a plainly written file, see :mod:`akmamba.io.atomic`);
- :func:`check_image`, :func:`check_pair`;
- dataset descriptions: :func:`load_dataset_description`, :func:`builtin_description`, :func:`pair_files`,
  :func:`remap_labels`, :func:`load_sample`;
- an image's label file and table, file values to class indices: :mod:`akmamba.io.labels` (imported from there).
"""

from akmamba.io.atomic import atomic_write, atomic_write_bytes, atomic_write_text
from akmamba.io.dataset import (
    DatasetDescription,
    LabelClass,
    Sample,
    builtin_description,
    case_id_of,
    load_dataset_description,
    load_sample,
    pair_files,
    remap_labels,
)
from akmamba.io.dicom import list_dicom_series, read_dicom_series
from akmamba.io.image import Image, is_volume
from akmamba.io.readers import READERS, read_image, supported_suffixes
from akmamba.io.validate import check_image, check_pair
from akmamba.io.writers import writable_suffixes, write_image, write_labels

__all__ = [
    "READERS",
    "DatasetDescription",
    "Image",
    "LabelClass",
    "Sample",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "builtin_description",
    "case_id_of",
    "check_image",
    "check_pair",
    "is_volume",
    "list_dicom_series",
    "load_dataset_description",
    "load_sample",
    "pair_files",
    "read_dicom_series",
    "read_image",
    "remap_labels",
    "supported_suffixes",
    "writable_suffixes",
    "write_image",
    "write_labels",
]
