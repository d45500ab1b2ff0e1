"""Export: label colour tables (ITK-SNAP, 3D Slicer) and training folders (akmamba, nnU-Net v2). No Qt.

Every file is written atomically (a temporary file, then a rename) and read back and compared before a function
returns, so a reported success means the bytes on disk say what was meant.

* ITK-SNAP label description file: header ``# ITK-SnAP Label Description File``; rows
  ``IDX R G B A VIS MSH "LABEL"`` with R/G/B 0..255 and A 0.00..1.00 (``itksnap -l FILE``).
* 3D Slicer colour table (``.txt``/``.ctbl``): header ``# Color table file``; rows ``index name R G B A``, all
  0..255, spaces in names replaced by ``_``.
* Training folders: ``layout="akmamba"`` writes ``images/``, ``labels/`` and ``dataset.json`` (a dataset
  description, see :mod:`akmamba.io.dataset`); ``layout="nnunet"`` writes ``imagesTr/<case>_0000.<ext>``,
  ``labelsTr/<case>.<ext>`` and an nnU-Net v2 ``dataset.json``.

Label tables may be given as :class:`akmamba.io.LabelClass` rows, label-table dicts
(``{"name", "index", "color"}``, as in dataset descriptions and the viewer's sidecars), or an
:class:`akmamba.annotations.LabelTable` / its ``LabelInfo`` items. Background (0) is added when missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from akmamba.io.atomic import atomic_write_text, make_temp_dir
from akmamba.io.dataset import (
    CompanionRule,
    DatasetDescription,
    ImageRule,
    LabelClass,
    load_dataset_description,
    load_sample,
    pair_files,
)
from akmamba.io.image import Image
from akmamba.io.readers import read_image
from akmamba.io.writers import write_image, write_labels

ITKSNAP_HEADER = "# ITK-SnAP Label Description File"
SLICER_HEADER = "# Color table file"
LAYOUTS = ("akmamba", "nnunet")


@dataclass(frozen=True)
class ColorRow:
    """One label as written to a colour table."""

    index: int
    name: str
    color: tuple[int, int, int]
    alpha: float = 1.0  # 0..1
    visible: bool = True


# ---------------------------------------------------------------------------------------------- label tables


def label_rows(label_table: Any) -> list[ColorRow]:
    """Normalise a label table (see the module docstring) to rows sorted by index, background included.

    Raises:
        ValueError: a row has no index, a colour component is outside 0..255, or an index repeats.
    """
    items: Iterable[Any] = label_table.labels.values() if hasattr(label_table, "labels") else label_table
    rows: dict[int, ColorRow] = {}
    for item in items:
        if isinstance(item, dict):
            index = item.get("index", item.get("value"))
            name, color = item.get("name", ""), item.get("color", (0, 0, 0))
            raw_alpha = item.get("opacity", item.get("alpha"))
            alpha = 1.0 if raw_alpha is None else float(raw_alpha)
            visible = bool(item.get("visible", True))
        elif isinstance(item, LabelClass):
            index, name, color, alpha, visible = item.index, item.name, item.color, 1.0, True
        else:  # LabelInfo-like
            index = getattr(item, "value", getattr(item, "index", None))
            name, color = getattr(item, "name", ""), getattr(item, "color", (0, 0, 0))
            alpha, visible = float(getattr(item, "opacity", 1.0)), bool(getattr(item, "visible", True))
        if index is None:
            raise ValueError(f"Label table row {item!r} has no 'index'.")
        index = int(index)
        rgb = tuple(int(c) for c in list(color)[:3])
        if len(rgb) != 3 or any(not 0 <= c <= 255 for c in rgb):
            raise ValueError(f"Label {index} colour {list(color)} must be three values 0..255.")
        if index in rows:
            raise ValueError(f"Label index {index} appears twice in the label table.")
        name = str(name) or ("background" if index == 0 else f"label {index}")
        if index == 0:
            alpha, visible = 0.0, False
        rows[index] = ColorRow(index, name, rgb, min(max(alpha, 0.0), 1.0), visible)  # type: ignore[arg-type]
    rows.setdefault(0, ColorRow(0, "background", (0, 0, 0), 0.0, False))
    return [rows[k] for k in sorted(rows)]


def _write_text_atomic(path: Path, text: str, overwrite: bool) -> None:
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"The folder {str(path.parent)!r} does not exist.")
    atomic_write_text(path, text)


def _itksnap_name(name: str) -> str:
    return name.replace('"', "'").replace("\n", " ")


def format_itksnap_labels(label_table: Any) -> str:
    """The ITK-SNAP label description file text for ``label_table``."""
    lines = [ITKSNAP_HEADER, "# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL"]
    for row in label_rows(label_table):
        r, g, b = row.color
        vis = int(row.visible and row.index != 0)
        lines.append(f"{row.index:5d} {r:5d} {g:4d} {b:4d} {row.alpha:8.2f} {vis:2d} {vis:2d}    "
                     f'"{_itksnap_name(row.name)}"')
    return "\n".join(lines) + "\n"


_ITK_ROW = re.compile(r'^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9.]+)\s+([01])\s+([01])\s+"(.*)"\s*$')


def read_itksnap_labels(path: Path | str) -> list[tuple[int, str, tuple[int, int, int], float, int, int]]:
    """Parse an ITK-SNAP label description file: ``[(idx, name, (r, g, b), alpha, vis, msh), ...]``."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _ITK_ROW.match(line)
        if m is None:
            raise ValueError(f"Line {n} of {str(path)!r} is not an ITK-SNAP label row: {line!r}")
        idx, r, g, b = (int(m.group(i)) for i in range(1, 5))
        out.append((idx, m.group(8), (r, g, b), float(m.group(5)), int(m.group(6)), int(m.group(7))))
    return out


def write_itksnap_labels(label_table: Any, path: Path | str, *, overwrite: bool = False) -> Path:
    """Write an ITK-SNAP label description file (atomic; read back and compared).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: a bad label table, or the read-back differs.
    """
    path = Path(path)
    rows = label_rows(label_table)
    _write_text_atomic(path, format_itksnap_labels(rows), overwrite)
    got = read_itksnap_labels(path)
    want = [(r.index, _itksnap_name(r.name), r.color, round(r.alpha, 2), int(r.visible and r.index != 0),
             int(r.visible and r.index != 0)) for r in rows]
    if got != want:
        raise ValueError(f"Read-back of {str(path)!r} differs from the label table: {got} != {want}")
    return path


def _slicer_name(name: str) -> str:
    return re.sub(r"\s+", "_", name.strip()) or "unnamed"


def format_slicer_color_table(label_table: Any) -> str:
    """The 3D Slicer colour table text for ``label_table``."""
    rows = label_rows(label_table)
    lines = [SLICER_HEADER, f"# {len(rows)} values"]
    for row in rows:
        r, g, b = row.color
        lines.append(f"{row.index} {_slicer_name(row.name)} {r} {g} {b} {round(row.alpha * 255)}")
    return "\n".join(lines) + "\n"


def read_slicer_color_table(path: Path | str) -> list[tuple[int, str, tuple[int, int, int], int]]:
    """Parse a 3D Slicer colour table: ``[(index, name, (r, g, b), a), ...]`` (a in 0..255)."""
    out = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 6:
            raise ValueError(f"Line {n} of {str(path)!r} is not 'index name R G B A': {line!r}")
        idx, r, g, b, a = (int(parts[i]) for i in (0, 2, 3, 4, 5))
        out.append((idx, parts[1], (r, g, b), a))
    return out


def write_slicer_color_table(label_table: Any, path: Path | str, *, overwrite: bool = False) -> Path:
    """Write a 3D Slicer colour table (``.txt``/``.ctbl``; atomic; read back and compared).

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.
        ValueError: a bad label table, or the read-back differs.
    """
    path = Path(path)
    rows = label_rows(label_table)
    _write_text_atomic(path, format_slicer_color_table(rows), overwrite)
    got = read_slicer_color_table(path)
    want = [(r.index, _slicer_name(r.name), r.color, round(r.alpha * 255)) for r in rows]
    if got != want:
        raise ValueError(f"Read-back of {str(path)!r} differs from the label table: {got} != {want}")
    return path


# ---------------------------------------------------------------------------------------------- training folders

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_id(case_id: str) -> str:
    safe = _SAFE.sub("_", str(case_id)).strip("._")
    if not safe:
        raise ValueError(f"Case id {case_id!r} gives an empty file name.")
    return safe


def _check_cases(cases: Sequence[tuple[Image, np.ndarray, str]], rows: list[ColorRow]) -> tuple[list[str], bool]:
    if not cases:
        raise ValueError("No cases to export.")
    indices = [r.index for r in rows]
    if indices != list(range(len(rows))):
        raise ValueError(f"Label indices must be consecutive 0..n-1 for a training folder; got {indices}.")
    volumes = {image.is_volume for image, _, _ in cases}
    if len(volumes) != 1:
        raise ValueError("A training folder holds either 2-D images or volumes, not both.")
    ids = [_safe_id(cid) for _, _, cid in cases]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"Case ids must be unique; repeated: {dupes}.")
    channels = {image.channels for image, _, _ in cases}
    if len(channels) != 1:
        raise ValueError(f"All images of a training folder need the same channel count; got {sorted(channels)}.")
    for (image, labels, cid) in cases:
        arr = np.asarray(labels)
        if arr.shape != image.spatial_shape:
            raise ValueError(f"Case {cid!r}: labels {arr.shape} do not match the image {image.spatial_shape}.")
        if arr.size:
            unknown = sorted(set(np.unique(arr).tolist()) - set(indices))
            if unknown:
                raise ValueError(f"Case {cid!r} has label values {unknown[:10]} that are not in the label table "
                                 f"(indices {indices}).")
    return ids, volumes.pop()


def _prepare_out_dir(out_dir: Path) -> Path:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise FileExistsError(f"{str(out_dir)!r} exists and is not a folder.")
        if any(out_dir.iterdir()):
            raise FileExistsError(f"The folder {str(out_dir)!r} is not empty; choose a new or empty folder.")
    if not out_dir.parent.is_dir():
        raise FileNotFoundError(f"The folder {str(out_dir.parent)!r} does not exist.")
    return make_temp_dir(out_dir.parent, prefix=f".{out_dir.name}.", suffix=".partial")


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.array_equal(a, b))


def export_training_folder(
    cases: Sequence[tuple[Image, np.ndarray, str]],
    out_dir: Path | str,
    label_table: Any,
    *,
    layout: str = "akmamba",
    name: str = "akmamba_export",
    modality: str = "",
    channel_names: dict[str, str] | None = None,
    case_id_regex: str | None = None,
) -> Path:
    """Write images and labels as a training folder and verify every file by reading it back.

    Args:
        cases: ``(image, labels, case_id)``; labels are class indices of ``image.spatial_shape``. The third
            item names the files (unique; unsafe characters become ``_``).
        out_dir: a new or empty folder (never overwritten); it is filled in a sibling temporary folder and
            renamed into place when complete.
        label_table: see the module docstring; indices must be 0..n-1.
        layout: ``"akmamba"`` (``images/``, ``labels/``, ``dataset.json`` dataset description; train with
            ``akmamba train --dataset OUT/dataset.json --data-root OUT``) or ``"nnunet"`` (``imagesTr``,
            ``labelsTr``, nnU-Net v2 ``dataset.json``).
        name, modality: dataset name and modality recorded in ``dataset.json``.
        channel_names: nnU-Net ``channel_names`` (default ``{"0": "R", "1": "G", "2": "B"}`` for RGB, else
            ``{"0": modality or "image"}``).
        case_id_regex: layout ``"akmamba"``: the ``case_id.regex`` recorded in ``dataset.json``, which groups the
            files (by their names) into cases (patients) for by-case splits; None: each file is its own case.

    Returns:
        The ``dataset.json`` path.

    Raises:
        FileExistsError: ``out_dir`` exists and is not empty.
        ValueError: bad layout, label table, case ids or labels, or a read-back that differs.
        akmamba.errors exceptions from writing the images and labels.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}; got {layout!r}.")
    out_dir = Path(out_dir)
    rows = label_rows(label_table)
    ids, volumes = _check_cases(cases, rows)
    ext = ".nii.gz" if volumes else ".png"
    tmp = _prepare_out_dir(out_dir)
    try:
        if layout == "akmamba":
            data = _write_akmamba(cases, ids, tmp, rows, ext, name, modality, case_id_regex)
        else:
            data = _write_nnunet(cases, ids, tmp, rows, ext, name, modality, channel_names)
        (tmp / "dataset.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        if out_dir.exists():
            out_dir.rmdir()  # empty (checked above)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _verify_folder(cases, ids, out_dir, layout, ext, data)
    return out_dir / "dataset.json"


def _write_akmamba(cases: Sequence[tuple[Image, np.ndarray, str]], ids: list[str], root: Path,
                   rows: list[ColorRow], ext: str, name: str, modality: str,
                   case_id_regex: str | None = None) -> dict[str, Any]:
    (root / "images").mkdir()
    (root / "labels").mkdir()
    for (image, labels, _), cid in zip(cases, ids, strict=True):
        write_image(image, root / "images" / f"{cid}{ext}")
        write_labels(np.asarray(labels), like=image, path=root / "labels" / f"{cid}{ext}",
                     colors={r.index: r.color for r in rows})
    desc = DatasetDescription(
        name=name,
        modality=modality or ("volume" if ext == ".nii.gz" else "2-D image"),
        images=ImageRule("images", f"*{ext}"),
        label_table=tuple(LabelClass(r.name, r.index, r.index, r.color) for r in rows),
        labels=CompanionRule("labels", f"{{stem}}{ext}", True),
        case_id_regex=case_id_regex,
        description="Exported by the Akmamba viewer; label files hold class indices.",
    )
    return desc.to_dict()


def _write_nnunet(cases: Sequence[tuple[Image, np.ndarray, str]], ids: list[str], root: Path,
                  rows: list[ColorRow], ext: str, name: str, modality: str,
                  channel_names: dict[str, str] | None) -> dict[str, Any]:
    (root / "imagesTr").mkdir()
    (root / "labelsTr").mkdir()
    for (image, labels, _), cid in zip(cases, ids, strict=True):
        write_image(image, root / "imagesTr" / f"{cid}_0000{ext}")
        write_labels(np.asarray(labels), like=image, path=root / "labelsTr" / f"{cid}{ext}",
                     colors={r.index: r.color for r in rows})
    if channel_names is None:
        rgb = cases[0][0].channels == 3 and not cases[0][0].is_volume
        channel_names = {"0": "R", "1": "G", "2": "B"} if rgb else {"0": modality or "image"}
    names: dict[str, int] = {}
    for r in rows:
        key = "background" if r.index == 0 else r.name
        if key in names:
            raise ValueError(f"Label name {key!r} appears twice; nnU-Net needs unique label names.")
        names[key] = r.index
    return {"name": name, "channel_names": channel_names, "labels": names, "numTraining": len(ids),
            "file_ending": ext}


def _verify_folder(cases: Sequence[tuple[Image, np.ndarray, str]], ids: list[str], root: Path, layout: str,
                   ext: str, data: dict[str, Any]) -> None:
    if json.loads((root / "dataset.json").read_text(encoding="utf-8")) != data:
        raise ValueError(f"Read-back of {str(root / 'dataset.json')!r} differs from what was written.")
    if layout == "akmamba":
        desc = load_dataset_description(root / "dataset.json")
        samples = pair_files(desc, root)
        by_id = {s.image.name[: -len(ext)]: s for s in samples}
        if sorted(by_id) != sorted(ids):
            raise ValueError(f"Read-back of {str(root)!r} pairs {sorted(by_id)}, expected {sorted(ids)}.")
        for (image, labels, _), cid in zip(cases, ids, strict=True):
            got_image, got_labels, _ = load_sample(by_id[cid], desc)
            if not _same(got_image.array, np.asarray(image.array)) or got_labels is None \
                    or not _same(got_labels, np.asarray(labels)):
                raise ValueError(f"Read-back of case {cid!r} in {str(root)!r} differs from what was written.")
        return
    for (image, labels, _), cid in zip(cases, ids, strict=True):
        got_image = read_image(root / "imagesTr" / f"{cid}_0000{ext}")
        got_label_image = read_image(root / "labelsTr" / f"{cid}{ext}")
        if not _same(got_image.array, np.asarray(image.array)) \
                or not _same(got_label_image.array, np.asarray(labels)):
            raise ValueError(f"Read-back of case {cid!r} in {str(root)!r} differs from what was written.")
