"""An image's label file and label table: where they are, and how their values become class indices (no Qt).

One owner for "the labels of this image", used by the viewer (open, import, export, fine-tune folder), and by
``akmamba finetune``'s workspace cases; ``akmamba evaluate`` and ``predict`` share the value mapping
(:func:`to_class_indices`, :func:`akmamba.io.dataset.remap_labels`).

Where an image's labels are (:func:`find_label_file`), first match wins:

1. ``<stem>_labels.<suffix>`` next to the image (what the viewer saves; :data:`LABEL_SUFFIX`), with its label
   table in ``<stem>_labels.json`` when present. Its values are class indices; files written by other tools (or
   by older viewers that kept raw values) may hold the table's file values instead, which are mapped too
   (``values="auto"``).
2. The image's own dataset label file: the image lies in the ``images`` folder of a dataset whose description is
   ``dataset.json`` in the folder above, or one of the shipped descriptions (``bladder``: ``Images/x.png`` ->
   ``Labels/x.png``; ``drive``: ``images/21_training.tif`` -> ``1st_manual/21_manual1.gif``). Its values are the
   description's ``value_in_file`` (bladder 0/128/255, DRIVE 0/255), mapped to class indices; any other value is
   refused with a message naming it.

Label-table rows are plain dicts ``{"name", "index", "color", "value_in_file"}`` (the JSON sidecar's and the
checkpoint's form); :func:`rows_of` converts a description's :class:`LabelClass` table.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from akmamba.errors import AkmambaError, ConfigError
from akmamba.io.dataset import (
    DatasetDescription,
    LabelClass,
    builtin_description,
    builtin_names,
    load_dataset_description,
    remap_labels,
)
from akmamba.io.image import Image
from akmamba.io.readers import read_image
from akmamba.io.validate import check_pair

#: File-name suffix of a label map next to its image (``case.png`` -> ``case_labels.png``).
LABEL_SUFFIX = "_labels"
#: Suffixes tried for ``<stem>_labels.*``, in order.
LABEL_FILE_SUFFIXES = (".png", ".nii.gz", ".nii", ".mha", ".nrrd", ".tif", ".tiff")
#: A dataset folder's own description (the fine-tuning and training folder layout).
DATASET_JSON = "dataset.json"

ValueMode = Literal["index", "file", "auto"]


def split_name(path: Path | str) -> tuple[str, str]:
    """``("case", ".nii.gz")`` for ``case.nii.gz``; a folder (DICOM series) or a bare name has suffix ``""``."""
    p = Path(path)
    name = p.name
    if name.lower().endswith(".nii.gz"):
        return name[:-7], name[-7:]
    return (p.stem, p.suffix) if p.suffix else (name, "")


def saved_label_path(image_path: Path | str, image: Image) -> Path:
    """Where the viewer saves labels: next to the image as ``<stem>_labels`` + an index PNG for 2-D images, the
    source's own volume format for NIfTI/MHA/NRRD, ``.nii.gz`` otherwise (DICOM)."""
    image_path = Path(image_path)
    stem, suffix = split_name(image_path)
    if not image.is_volume:
        suffix = ".png"
    elif suffix.lower() not in (".nii.gz", ".nii", ".mha", ".nrrd"):
        suffix = ".nii.gz"
    return image_path.parent / f"{stem}{LABEL_SUFFIX}{suffix}"


def table_path(image_path: Path | str) -> Path:
    """The label-table sidecar of an image's saved labels: ``<stem>_labels.json`` next to the image."""
    image_path = Path(image_path)
    return image_path.parent / f"{split_name(image_path)[0]}{LABEL_SUFFIX}.json"


def rows_of(table: Sequence[LabelClass]) -> list[dict[str, Any]]:
    """A description's label table as plain rows ``{"name", "index", "color", "value_in_file"}``."""
    return [{"name": c.name, "index": c.index, "color": list(c.color), "value_in_file": c.value_in_file}
            for c in table]


#: Labels of the generic table (ITK-SNAP's default "Label 1".."Label 6", in its default colours).
GENERIC_COLORS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255))
#: Key of the generic table among :func:`label_table_choices`.
GENERIC_TABLE = "generic"
#: In words, where the table of an image with no dataset, label file or label table comes from.
GENERIC_SOURCE = "generic (no dataset or label table found)"


def default_label_rows() -> list[dict[str, Any]]:
    """The neutral label table of an image that nothing describes (no saved label table, no dataset): background
    and ``label 1`` .. ``label 6`` (class indices, stored as they are), as ITK-SNAP and Slicer start. Nothing about
    the pixels (grey, colour, a volume) picks a dataset's table: a grey pelvic volume is not bladder data."""
    rows: list[dict[str, Any]] = [{"name": "background", "index": 0, "color": [0, 0, 0], "value_in_file": 0}]
    rows += [{"name": f"label {i}", "index": i, "color": list(c), "value_in_file": i}
             for i, c in enumerate(GENERIC_COLORS, start=1)]
    return rows


def label_table_choices() -> dict[str, list[dict[str, Any]]]:
    """The label tables a user can pick for an image: ``{key: rows}``, the generic table (:data:`GENERIC_TABLE`)
    first, then each shipped dataset's (keyed by the dataset's name, e.g. ``BladderMRI``, ``DRIVE``)."""
    out = {GENERIC_TABLE: default_label_rows()}
    for name in builtin_names():
        desc = builtin_description(name)
        out[desc.name] = rows_of(desc.label_table)
    return out


@dataclass(frozen=True)
class LabelFile:
    """An image's label file, what its values are, and the label table they refer to.

    Attributes:
        path: the label file.
        values: ``"index"`` (class indices), ``"file"`` (the table's ``value_in_file``) or ``"auto"`` (either,
            see :func:`to_class_indices`).
        rows: the label table (None: the caller's default).
        origin: in words, for messages (``"saved next to the image"``, ``"dataset BladderMRI"``).
    """

    path: Path
    values: ValueMode
    rows: list[dict[str, Any]] | None = None
    origin: str = ""


def read_label_table(path: Path | str) -> list[dict[str, Any]]:
    """The ``label_table`` rows of a JSON sidecar (``<stem>_labels.json``, ``model.json``).

    Raises:
        ConfigError: unreadable file, invalid JSON, or no list of rows with an integer ``index``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Label table {str(path)!r} cannot be read ({exc}). Fix or delete the file.",
                          path=str(path), parameter="label_table", got=str(exc)) from exc
    rows = data.get("label_table") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and _is_int(r.get("index")) for r in rows):
        raise ConfigError(f"Label table {str(path)!r} holds no list 'label_table' of rows with an integer 'index'. "
                          "Fix or delete the file.", path=str(path), parameter="label_table",
                          expected="[{'name', 'index', 'color', 'value_in_file'}, ...]", got=type(rows).__name__)
    return rows


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def dataset_of(image_path: Path | str) -> tuple[DatasetDescription, Path] | None:
    """The dataset an image belongs to and its data root, when its label file is there: ``dataset.json`` in the
    folder above the image's folder, else the first shipped description whose image folder, glob and stem rule
    match and whose label file exists. None when no description pairs the image with a label file."""
    image_path = Path(image_path)
    root = image_path.parent.parent
    candidates: list[DatasetDescription] = []
    own = root / DATASET_JSON
    if own.is_file():
        with contextlib.suppress(AkmambaError):  # a broken description pairs nothing here; training reports it
            candidates.append(load_dataset_description(own))
    for name in builtin_names():
        candidates.append(builtin_description(name))
    for desc in candidates:
        label = _dataset_label_path(desc, root, image_path)
        if label is not None and label.is_file():
            return desc, root
    return None


def _dataset_label_path(desc: DatasetDescription, root: Path, image_path: Path) -> Path | None:
    if desc.labels is None or Path(desc.images.folder) != Path(image_path.parent.name):
        return None
    if not fnmatch.fnmatchcase(image_path.name, desc.images.glob):
        return None
    stem = split_name(image_path)[0]
    fields = {"stem": stem}
    if desc.images.stem_regex is not None:
        match = re.match(desc.images.stem_regex, stem)
        if match is None:
            return None
        fields.update({k: v for k, v in match.groupdict().items() if v is not None})
    try:
        return root / desc.labels.folder / desc.labels.pattern.format(**fields)
    except (KeyError, IndexError, ValueError):
        return None


def find_label_file(image_path: Path | str) -> LabelFile | None:
    """The image's label file (module docstring: saved ``<stem>_labels.*`` first, then the dataset's), or None."""
    image_path = Path(image_path)
    stem, _ = split_name(image_path)
    for suffix in LABEL_FILE_SUFFIXES:
        candidate = image_path.parent / f"{stem}{LABEL_SUFFIX}{suffix}"
        if candidate.is_file():
            sidecar = table_path(image_path)
            rows = read_label_table(sidecar) if sidecar.is_file() else None
            return LabelFile(candidate, "auto", rows, "saved next to the image")
    found = dataset_of(image_path)
    if found is None:
        return None
    desc, root = found
    label = _dataset_label_path(desc, root, image_path)
    assert label is not None  # dataset_of checked it
    return LabelFile(label, "file", rows_of(desc.label_table), f"dataset {desc.name}")


def to_class_indices(array: np.ndarray, rows: Sequence[Mapping[str, Any]], path: Path | str | None = None,
                     values: ValueMode = "auto") -> np.ndarray:
    """Class indices of a stored label map, through a label table.

    Args:
        array: the stored values, any shape (``(H, W)``, ``(Z, Y, X)``); bool and integral floats are accepted.
        rows: label-table rows with ``index`` and (for file values) ``value_in_file``.
        path: the file, named in messages.
        values: ``"index"``: the values must be the table's indices; ``"file"``: its ``value_in_file`` (mapped
            like a dataset's label files, :func:`akmamba.io.dataset.remap_labels`); ``"auto"``: indices when
            every value is one, else file values when every value is one (a value that is both with different
            meanings is refused as ambiguous).

    Returns:
        A new, writable uint8 array of class indices (uint16 when an index exceeds 255), the shape of ``array``.

    Raises:
        ConfigError: values the table does not hold (the message names them and the known values), non-integer
            values, or an ambiguous file.
    """
    where = repr(str(path)) if path is not None else "the label map"
    arr = np.asarray(array)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.array_equal(arr, np.round(arr)):
            raise ConfigError(f"Labels in {where} are {arr.dtype} with non-integer values; expected integer class "
                              "indices or label-file values. Save the labels as integers.",
                              path=None if path is None else str(path), parameter="labels",
                              expected="integer values", got=str(arr.dtype))
        arr = arr.astype(np.int64)
    found = [int(v) for v in np.unique(arr)]
    indices = {int(r["index"]) for r in rows}
    file_map = {int(r["value_in_file"]): int(r["index"]) for r in rows if _is_int(r.get("value_in_file"))}
    as_index = set(found) <= indices
    as_file = set(found) <= set(file_map)
    if values == "file" or (values == "auto" and as_file and not as_index):
        if not as_file:
            _refuse(found, set(file_map), where, path, "file values", sorted(file_map))
        names = {int(r["index"]): str(r.get("name", "")) for r in rows}
        classes = [LabelClass(names.get(k, ""), v, k, (0, 0, 0)) for v, k in file_map.items()]
        return remap_labels(arr, classes, path=path)
    if values == "auto" and as_index and as_file and any(file_map[v] != v for v in found):
        raise ConfigError(
            f"Labels in {where} hold {found}, which are both class indices and label-file values of the table, "
            f"with different meanings ({ {v: file_map[v] for v in found} }). Save the labels as class indices "
            "with a label table that says so.", path=None if path is None else str(path), parameter="label_table",
            expected=sorted(indices), got=found)
    if not as_index:
        known = sorted(indices | set(file_map)) if values == "auto" else sorted(indices)
        _refuse(found, indices | (set(file_map) if values == "auto" else set()), where, path,
                "class indices or file values" if values == "auto" else "class indices", known)
    top = max(found, default=0)
    return np.array(arr, dtype=np.uint8 if top <= 255 else np.uint16, copy=True)  # writable: label maps edit it


def _refuse(found: list[int], allowed: set[int], where: str, path: Path | str | None, what: str,
            known: list[int]) -> None:
    unknown = [v for v in found if v not in allowed]
    shown = unknown[:20]
    raise ConfigError(
        f"Label values {shown}{' ...' if len(unknown) > 20 else ''} in {where} are not in the label table "
        f"(its {what}: {known}; found {found[:20]}). Check that this is a label file of this image's dataset "
        "and model, or add the values to the label table.",
        path=None if path is None else str(path), parameter="label_table", expected=known, got=shown,
        hint="check the label file or add the values to the label table")


def read_label_file(image: Image, label: LabelFile, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Read ``label`` (checked against ``image``) as class indices of ``label.rows`` (else ``rows``).

    Returns:
        uint8 (uint16) class indices of ``image.spatial_shape``.

    Raises:
        VolumeReadError, UnsupportedFormatError: unreadable file. GeometryMismatchError: it does not line up
        with the image. ConfigError: values the table does not hold (:func:`to_class_indices`).
    """
    label_image = read_image(label.path)
    check_pair(image, label_image)
    arr = np.asarray(label_image.array)
    if not label_image.is_volume and arr.ndim == 3:  # grey stored as RGB(A): one channel when they agree
        if not all(np.array_equal(arr[..., 0], arr[..., c]) for c in range(1, min(arr.shape[2], 3))):
            raise ConfigError(f"Label file {str(label.path)!r} is a colour image with differing channels; expected "
                              "one value per pixel.", path=str(label.path), parameter="labels",
                              expected="(H, W)", got=arr.shape)
        arr = arr[..., 0]
    return to_class_indices(arr, label.rows if label.rows is not None else rows, label.path, label.values)


@dataclass
class ImageLabels:
    """What :func:`labels_for_image` found: class indices (None without a label file), the label table, the file,
    warnings for the user (an unreadable label file or table: the image still opens), and where the table comes
    from, in words (``"dataset BladderMRI"``, ``"saved next to the image"``, :data:`GENERIC_SOURCE`)."""

    labels: np.ndarray | None
    rows: list[dict[str, Any]]
    file: LabelFile | None = None
    warnings: list[str] = field(default_factory=list)
    source: str = GENERIC_SOURCE


def labels_for_image(image_path: Path | str, image: Image) -> ImageLabels:
    """An image's labels as class indices and its label table (module docstring), for opening a case.

    A label file that cannot be used (unreadable, another size, values outside the table) is reported in
    ``warnings`` with the reason and left out, so the image still opens. Without a label table (no sidecar, no
    dataset) the table is the generic one (:func:`default_label_rows`), whatever the pixels look like;
    ``source`` says which it is.
    """
    default = default_label_rows()
    try:
        label = find_label_file(image_path)
    except ConfigError as exc:  # an unreadable <stem>_labels.json
        return ImageLabels(None, default, None, [f"{exc} The generic label table is used."], GENERIC_SOURCE)
    if label is None:
        return ImageLabels(None, default, source=GENERIC_SOURCE)
    rows = list(label.rows) if label.rows is not None else default
    source = label.origin if label.rows is not None else f"{GENERIC_SOURCE} (labels {label.origin})"
    try:
        return ImageLabels(read_label_file(image, label, rows), rows, label, source=source)
    except (AkmambaError, OSError, ValueError) as exc:
        return ImageLabels(None, rows, label, [f"Labels {label.path.name!r} ({label.origin}) were not loaded: {exc}"],
                           source)
