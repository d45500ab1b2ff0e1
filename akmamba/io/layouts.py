"""Recognise a data set folder as distributed, so the viewer opens it as a case list with references and FOVs.

Recognised layouts:

* every built-in description (``akmamba/resources/datasets/*.json``: DRIVE's ``training/`` with ``images/``,
  ``1st_manual/`` and ``mask/``; the bladder ``Images/`` + ``Labels/`` pair): the folder is a data root when the
  description's image folder holds a matching file;
* nnU-Net v2 raw data (``imagesTr/`` + ``labelsTr/``, channel 0 ``<case>_0000<ending>``, labels ``<case><ending>``;
  ``dataset.json``'s ``labels`` and ``file_ending`` when present, label values are class indices).

Companion files (labels, FOV) are optional when viewing: a missing one leaves that image without it. numpy only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from akmamba.errors import AkmambaError
from akmamba.io.dataset import (
    CompanionRule,
    DatasetDescription,
    ImageRule,
    LabelClass,
    Sample,
    builtin_description,
    builtin_names,
    pair_files,
    remap_labels,
)
from akmamba.io.image import Image
from akmamba.io.readers import read_image
from akmamba.io.validate import check_pair

logger = logging.getLogger(__name__)

NNUNET_IMAGES, NNUNET_LABELS = "imagesTr", "labelsTr"


@dataclass(frozen=True)
class DatasetFolder:
    """A recognised data set folder: its description (companions optional), root and paired samples."""

    layout: str
    description: DatasetDescription
    root: Path
    samples: tuple[Sample, ...]

    def sample_for(self, image_path: Path) -> Sample | None:
        """The sample of an image file of this folder, or None."""
        resolved = Path(image_path).resolve()
        return next((s for s in self.samples if s.image.resolve() == resolved), None)


def _optional(desc: DatasetDescription) -> DatasetDescription:
    """The description with its label and FOV files optional (a viewer opens images without them too)."""
    labels = None if desc.labels is None else replace(desc.labels, required=False)
    fov = None if desc.fov is None else replace(desc.fov, required=False)
    return replace(desc, labels=labels, fov=fov)


def nnunet_description(root: Path) -> DatasetDescription | None:
    """A description of an nnU-Net v2 raw folder (``imagesTr``/``labelsTr``), or None when ``root`` is not one.

    The label table comes from ``dataset.json``'s ``labels`` (``{name: value}``; values are class indices, colours
    :func:`akmamba.annotations.colors.default_color`); without it, from the values of the first label file.
    """
    from akmamba.annotations.colors import default_color

    if not ((root / NNUNET_IMAGES).is_dir() and (root / NNUNET_LABELS).is_dir()):
        return None
    meta: dict[str, object] = {}
    if (root / "dataset.json").is_file():
        try:
            loaded = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
            meta = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError) as exc:
            logger.warning("nnU-Net dataset.json of %s unreadable (%s); labels are read from the files", root, exc)
    ending = str(meta.get("file_ending") or "")
    if not ending:
        first = next((p for p in sorted((root / NNUNET_IMAGES).iterdir()) if "_0000." in p.name), None)
        if first is None:
            return None
        ending = first.name[first.name.index("_0000.") + len("_0000"):]
    names = meta.get("labels")
    values: dict[str, int] = {}
    if isinstance(names, dict):
        values = {str(k): int(v) for k, v in names.items() if isinstance(v, int) and not isinstance(v, bool)}
    if not values:
        label_files = sorted((root / NNUNET_LABELS).glob(f"*{ending}"))
        found = np.unique(read_image(label_files[0]).array) if label_files else np.array([0, 1])
        values = {"background" if v == 0 else f"label {v}": int(v) for v in sorted({0, *found.tolist()})}
    if 0 not in values.values():
        values = {"background": 0, **values}
    ordered = sorted(values.items(), key=lambda kv: kv[1])
    if [v for _, v in ordered] != list(range(len(ordered))):
        return None  # region-based or sparse labels: not a plain index table
    table = tuple(LabelClass(name, v, v, (0, 0, 0) if v == 0 else default_color(v)) for name, v in ordered)
    return DatasetDescription(
        name=str(meta.get("name") or root.name), modality=str(meta.get("channel_names") or "nnU-Net raw data"),
        images=ImageRule(NNUNET_IMAGES, f"*_0000{ending}", r"^(?P<id>.+)_0000$"),
        labels=CompanionRule(NNUNET_LABELS, "{id}" + ending, False), label_table=table,
        description="nnU-Net v2 raw data set (channel 0 shown).", source=root / "dataset.json")


def detect_dataset_folder(folder: str | Path) -> DatasetFolder | None:
    """The layout of ``folder`` (module docstring), with every image paired; None when it is none of them."""
    root = Path(folder)
    if not root.is_dir():
        return None
    candidates: list[tuple[str, DatasetDescription]] = []
    for name in builtin_names():
        desc = builtin_description(name)
        if (root / desc.images.folder).is_dir():
            candidates.append((name, _optional(desc)))
    nnunet = nnunet_description(root)
    if nnunet is not None:
        candidates.append(("nnunet", nnunet))
    for layout, desc in candidates:
        try:
            samples = pair_files(desc, root)
        except AkmambaError as exc:  # no matching image, or stems that do not fit this layout
            logger.debug("%s is not a %s folder: %s", root, layout, exc)
            continue
        return DatasetFolder(layout, desc, root, tuple(samples))
    return None


def read_reference(sample: Sample, desc: DatasetDescription, image: Image, *, with_labels: bool = True
                   ) -> tuple[np.ndarray | None, np.ndarray | None, list[str]]:
    """A sample's label file as class indices (unless ``with_labels`` is False) and its FOV mask, each checked
    against ``image``.

    Returns:
        ``(labels (H, W) uint8 or None, fov (H, W) bool or None, warnings)``: a companion that cannot be read or
        does not fit is left out with a warning naming the file, never raised.
    """
    labels = fov = None
    notes: list[str] = []
    if with_labels and sample.label is not None:
        try:
            label_image = read_image(sample.label)
            check_pair(image, label_image)
            labels = remap_labels(label_image.array, desc.label_table, path=sample.label)
        except (AkmambaError, OSError, ValueError) as exc:
            notes.append(f"Labels {sample.label.name!r} were not loaded: {exc}")
    if sample.fov is not None:
        try:
            fov_image = read_image(sample.fov)
            check_pair(image, fov_image)
            arr = np.asarray(fov_image.array)
            fov = np.asarray(arr.any(axis=-1) if arr.ndim == 3 and not fov_image.is_volume else arr) > 0
        except (AkmambaError, OSError, ValueError) as exc:
            notes.append(f"FOV mask {sample.fov.name!r} was not loaded: {exc}")
    return labels, fov, notes
