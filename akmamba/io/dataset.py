"""Dataset description files: where images, labels and FOV masks are, how they pair, and the label table.

A description is JSON (or YAML when PyYAML is installed). Folders are relative to a data root given at call
time, so one description serves every copy of the data. Example (``akmamba/resources/datasets/drive.json``)::

    {
      "format_version": 1,
      "name": "DRIVE",
      "modality": "colour fundus photograph",
      "images": {"folder": "images", "glob": "*_training.tif", "stem_regex": "^(?P<id>\\\\d+)_training$"},
      "labels": {"folder": "1st_manual", "pattern": "{id}_manual1.gif", "required": true},
      "fov":    {"folder": "mask", "pattern": "{stem}_mask.gif"},
      "case_id": {"regex": "^(\\\\d+)_training$"},
      "label_table": [
        {"name": "background", "value_in_file": 0,   "index": 0, "color": [0, 0, 0]},
        {"name": "vessel",     "value_in_file": 255, "index": 1, "color": [0, 220, 255]}
      ]
    }

* ``images.stem_regex`` (optional) is matched against each image's stem (file name without its suffix); its
  named groups, plus ``{stem}``, can be used in ``labels.pattern`` and ``fov.pattern``.
* ``case_id.regex`` (optional) is searched in the stem; its first group (or the group named ``case``) is the
  case (patient) id used for patient-level splits. Without it each image is its own case (id = stem).
* ``label_table``: ``index`` 0 is background; indices are 0..n-1; ``value_in_file`` is the pixel value in the
  label files; ``color`` is a fixed ``[r, g, b]`` used by every view and report.
* ``brush_radius`` (optional): the viewer's default brush radius in pixels for this data (DRIVE: 2, thinner than
  most retinal vessels; without it the viewer's default, 6).

Built-in descriptions live in ``akmamba/resources/datasets/*.json``, inside the package (package data, so a wheel
install carries them); :func:`builtin_description` finds them there.
"""

from __future__ import annotations

import json
import logging
import os
import re
import string
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from akmamba.errors import ConfigError, VolumeReadError
from akmamba.io.image import Image
from akmamba.io.readers import file_suffix, read_image
from akmamba.io.validate import check_pair
from akmamba.paths import resources_dir
from akmamba.registry import look_up_option, suggest

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
_TOP_KEYS: tuple[str, ...] = (
    "format_version",
    "name",
    "modality",
    "description",
    "images",
    "labels",
    "fov",
    "case_id",
    "label_table",
    "brush_radius",
)


@dataclass(frozen=True)
class LabelClass:
    """One row of a label table: file value ``value_in_file`` becomes class ``index``, drawn in ``color``."""

    name: str
    value_in_file: int
    index: int
    color: tuple[int, int, int]


@dataclass(frozen=True)
class ImageRule:
    """Where the images are: ``root / folder`` matching ``glob``; ``stem_regex`` names parts of the stem."""

    folder: str
    glob: str
    stem_regex: str | None = None


@dataclass(frozen=True)
class CompanionRule:
    """Where a label or FOV file is: ``root / folder / pattern.format(stem=..., **stem groups)``."""

    folder: str
    pattern: str
    required: bool = False


@dataclass(frozen=True)
class DatasetDescription:
    """A validated dataset description (see the module docstring for the file format)."""

    name: str
    modality: str
    images: ImageRule
    label_table: tuple[LabelClass, ...]
    labels: CompanionRule | None = None
    fov: CompanionRule | None = None
    case_id_regex: str | None = None
    description: str = ""
    source: Path | None = None
    brush_radius: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The description as a JSON-ready dict in the file format (for checkpoints and run folders)."""
        out: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "modality": self.modality,
            "description": self.description,
            "images": {k: v for k, v in asdict(self.images).items() if v is not None},
            "label_table": [{**asdict(c), "color": list(c.color)} for c in self.label_table],
        }
        for key in ("labels", "fov"):
            rule = getattr(self, key)
            if rule is not None:
                out[key] = asdict(rule)
        if self.case_id_regex is not None:
            out["case_id"] = {"regex": self.case_id_regex}
        if self.brush_radius is not None:
            out["brush_radius"] = self.brush_radius
        return out


@dataclass(frozen=True)
class Sample:
    """One image with its label and FOV files (None when absent) and its case (patient) id."""

    image: Path
    label: Path | None
    fov: Path | None
    case_id: str


# ---------------------------------------------------------------------------------------------- loading


class _Ctx:
    """Carries the file name so every ConfigError names the file and the key."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def error(self, key: str, msg: str, expected: Any = None, got: Any = None) -> ConfigError:
        where = repr(str(self.path)) if self.path else "the dataset description"
        return ConfigError(
            f"Key {key!r} in {where}: {msg}. Fix the dataset description.",
            path=None if self.path is None else str(self.path),
            parameter=key,
            expected=expected,
            got=got,
            hint="fix the dataset description",
        )

    def get(self, d: dict[str, Any], key: str, typ: type | tuple[type, ...], prefix: str, default: Any = ...) -> Any:
        full = f"{prefix}{key}"
        if key not in d:
            if default is ...:
                raise self.error(full, "is missing", expected=_tname(typ), got="nothing")
            return default
        value = d[key]
        if not isinstance(value, typ) or (isinstance(value, bool) and typ in (int, (int,))):
            raise self.error(full, f"must be {_tname(typ)}, got {value!r}", expected=_tname(typ), got=value)
        return value

    def no_unknown(self, d: dict[str, Any], allowed: Sequence[str], prefix: str) -> None:
        for key in d:
            if key not in allowed:
                hint = suggest(key, list(allowed))
                raise self.error(f"{prefix}{key}", f"is not a known key.{hint} Known: {', '.join(allowed)}")


def _tname(typ: type | tuple[type, ...]) -> str:
    types = typ if isinstance(typ, tuple) else (typ,)
    return " or ".join(t.__name__ for t in types)


def _read_mapping(path: Path) -> dict[str, Any]:
    if path.suffix.lower() not in (".yaml", ".yml"):
        from akmamba.schema import read_json_object

        return read_json_object(path, "Dataset description", ConfigError)
    from akmamba.io.validate import check_input_file

    check_input_file(path, "Dataset description", ConfigError)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"Cannot read dataset description {str(path)!r}: {exc}. Check the path.",
            path=str(path),
            got=str(exc),
        ) from exc
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise ConfigError(
                f"{str(path)!r} is YAML but PyYAML is not installed. Install pyyaml or use JSON.",
                path=str(path),
            ) from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{str(path)!r} is not valid YAML: {exc}.", path=str(path)) from exc
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"{str(path)!r} is not valid JSON: {exc}. Fix the syntax at that line.", path=str(path)
            ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{str(path)!r} must hold a mapping at the top level.", path=str(path), got=type(data))
    return data


def resolve_description(spec: str) -> DatasetDescription:
    """A shipped description name (``drive``, ``bladder``) or the path of a description file.

    Anything present at the path (a FIFO, a folder, a symbolic link loop included) is treated as the file the user
    meant, so the message says what is wrong with it rather than "not a file".

    Raises:
        ConfigError: neither a shipped name nor an existing path, or an unusable file (see
            :func:`load_dataset_description`).
    """
    if spec in builtin_names():
        return builtin_description(spec)
    if os.path.lexists(spec):
        return load_dataset_description(spec)
    raise ConfigError(f"Dataset {spec!r} is neither a shipped description ({', '.join(builtin_names())}) nor an "
                      "existing file. To fix: give a shipped name or the path of a description JSON.",
                      parameter="dataset", expected=builtin_names(), got=spec)


def load_dataset_description(path: Path | str) -> DatasetDescription:
    """Load and validate a dataset description file.

    Args:
        path: a ``.json`` file (``.yaml``/``.yml`` when PyYAML is installed).

    Returns:
        The validated description.

    Raises:
        ConfigError: unreadable file, bad syntax, or a missing/ill-typed/unknown key (the message names the key
            and the file).
    """
    path = Path(path)
    return parse_dataset_description(_read_mapping(path), source=path)


def parse_dataset_description(data: dict[str, Any], source: Path | None = None) -> DatasetDescription:
    """Validate a description given as a dict (the file's content). See :func:`load_dataset_description`."""
    ctx = _Ctx(source)
    ctx.no_unknown(data, _TOP_KEYS, "")
    version = ctx.get(data, "format_version", int, "", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise ctx.error("format_version", f"must be {FORMAT_VERSION}, got {version}", FORMAT_VERSION, version)
    images_d = ctx.get(data, "images", dict, "")
    ctx.no_unknown(images_d, ("folder", "glob", "stem_regex"), "images.")
    images = ImageRule(
        folder=ctx.get(images_d, "folder", str, "images."),
        glob=ctx.get(images_d, "glob", str, "images."),
        stem_regex=ctx.get(images_d, "stem_regex", str, "images.", None),
    )
    groups = {"stem"} | set(_compile(ctx, "images.stem_regex", images.stem_regex).groupindex)
    case_d = ctx.get(data, "case_id", dict, "", {})
    ctx.no_unknown(case_d, ("regex",), "case_id.")
    case_regex = ctx.get(case_d, "regex", str, "case_id.", None)
    compiled = _compile(ctx, "case_id.regex", case_regex)
    if case_regex is not None and compiled.groups < 1:
        raise ctx.error("case_id.regex", f"needs a capture group, got {case_regex!r}", "a (group)", case_regex)
    brush = ctx.get(data, "brush_radius", int, "", None)
    if brush is not None and not 0 <= brush <= 256:
        raise ctx.error("brush_radius", f"must be 0..256 pixels, got {brush}", "0..256", brush)
    return DatasetDescription(
        name=ctx.get(data, "name", str, ""),
        modality=ctx.get(data, "modality", str, ""),
        description=ctx.get(data, "description", str, "", ""),
        images=images,
        labels=_companion(ctx, data, "labels", groups),
        fov=_companion(ctx, data, "fov", groups),
        case_id_regex=case_regex,
        label_table=_label_table(ctx, ctx.get(data, "label_table", list, "")),
        source=source,
        brush_radius=brush,
    )


def _compile(ctx: _Ctx, key: str, regex: str | None) -> re.Pattern[str]:
    try:
        return re.compile(regex or "")
    except re.error as exc:
        raise ctx.error(key, f"is not a valid regular expression ({exc})", "a regex", regex) from exc


def _companion(ctx: _Ctx, data: dict[str, Any], key: str, groups: set[str]) -> CompanionRule | None:
    d = ctx.get(data, key, dict, "", None)
    if d is None:
        return None
    ctx.no_unknown(d, ("folder", "pattern", "required"), f"{key}.")
    rule = CompanionRule(
        folder=ctx.get(d, "folder", str, f"{key}."),
        pattern=ctx.get(d, "pattern", str, f"{key}."),
        required=ctx.get(d, "required", bool, f"{key}.", False),
    )
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(rule.pattern) if f is not None}
    except ValueError as exc:
        raise ctx.error(f"{key}.pattern", f"is not a valid pattern ({exc})", got=rule.pattern) from exc
    unknown = sorted(fields - groups)
    if unknown:
        raise ctx.error(
            f"{key}.pattern",
            f"uses {unknown} but only {sorted(groups)} are defined (named groups of images.stem_regex, and stem)",
            sorted(groups),
            unknown,
        )
    return rule


def _label_table(ctx: _Ctx, rows: list[Any]) -> tuple[LabelClass, ...]:
    table = []
    for i, row in enumerate(rows):
        p = f"label_table[{i}]."
        if not isinstance(row, dict):
            raise ctx.error(f"label_table[{i}]", f"must be a mapping, got {row!r}", "mapping", row)
        ctx.no_unknown(row, ("name", "value_in_file", "index", "color"), p)
        color = ctx.get(row, "color", list, p)
        if len(color) != 3 or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in color):
            raise ctx.error(f"{p}color", f"must be [r, g, b] with integers 0..255, got {color!r}", "[r, g, b]", color)
        table.append(
            LabelClass(
                name=ctx.get(row, "name", str, p),
                value_in_file=ctx.get(row, "value_in_file", int, p),
                index=ctx.get(row, "index", int, p),
                color=(color[0], color[1], color[2]),
            )
        )
    indices = sorted(c.index for c in table)
    if indices != list(range(len(table))):
        raise ctx.error(
            "label_table",
            f"indices must be 0..{len(table) - 1} once each (0 = background), got {indices}",
            list(range(len(table))),
            indices,
        )
    for attr in ("name", "value_in_file"):
        values = [getattr(c, attr) for c in table]
        if len(set(values)) != len(values):
            raise ctx.error("label_table", f"repeats a {attr}: {values}", f"unique {attr}", values)
    return tuple(sorted(table, key=lambda c: c.index))


# --------------------------------------------------------------------------------------------- built-ins


def _builtin_dirs() -> list[Path]:
    return [resources_dir() / "datasets"]


def builtin_names() -> list[str]:
    """Names accepted by :func:`builtin_description` (file stems of the shipped JSON files)."""
    return sorted({p.stem for d in _builtin_dirs() if d.is_dir() for p in d.glob("*.json")})


def builtin_description(name: str) -> DatasetDescription:
    """Load a shipped description by name (``"drive"``, ``"bladder"``), case-insensitive.

    Raises:
        ConfigError: unknown name (with a did-you-mean guess and the list of names).
    """
    key = look_up_option(name.lower(), builtin_names(), "built-in dataset")
    for folder in _builtin_dirs():
        if (folder / f"{key}.json").is_file():
            return load_dataset_description(folder / f"{key}.json")
    raise AssertionError("unreachable: builtin_names() listed a missing file")


# --------------------------------------------------------------------------------------------- pairing


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _stem(path: Path) -> str:
    return path.name[: len(path.name) - len(file_suffix(path))]


def pair_files(desc: DatasetDescription, root: Path | str) -> list[Sample]:
    """Find every image under ``root`` and its label and FOV files.

    Args:
        desc: the description.
        root: the data root its folders are relative to (e.g. ``../shared/data/DRIVE/training``).

    Returns:
        Samples in natural file-name order (``2-IM9`` before ``2-IM10``); ``label``/``fov`` are None when the
        file is absent and not required.

    Raises:
        ConfigError: the image folder is missing or holds no match, or a stem does not match
            ``images.stem_regex`` / ``case_id.regex``.
        VolumeReadError: a ``required`` label or FOV file is missing (the message lists them).
    """
    root = Path(root)
    folder = root / desc.images.folder
    images = sorted((p for p in folder.glob(desc.images.glob) if p.is_file()), key=_natural_key)
    if not images:
        raise ConfigError(
            f"No images matching {desc.images.glob!r} in {str(folder)!r} (dataset {desc.name!r}). Pass the data "
            "root that holds the folders named in the description.",
            path=None if desc.source is None else str(desc.source),
            parameter="root",
            expected=f"{desc.images.folder}/{desc.images.glob}",
            got=str(root),
        )
    samples: list[Sample] = []
    missing: list[Path] = []
    for image in images:
        fields = _stem_fields(desc, image)
        label = _companion_path(desc.labels, root, fields, missing)
        fov = _companion_path(desc.fov, root, fields, missing)
        samples.append(Sample(image=image, label=label, fov=fov, case_id=_case_id(desc, image)))
    if missing:
        raise VolumeReadError(
            f"{len(missing)} required label/FOV files are missing for dataset {desc.name!r}, e.g. "
            f"{[str(m) for m in missing[:5]]}. Check the data root and the patterns in the description.",
            path=str(missing[0]),
            expected="every required file present",
            got=[str(m) for m in missing],
        )
    n_labels = sum(s.label is not None for s in samples)
    logger.info("dataset %s: %d images, %d with labels under %s", desc.name, len(samples), n_labels, root)
    return samples


def _stem_fields(desc: DatasetDescription, image: Path) -> dict[str, str]:
    stem = _stem(image)
    if desc.images.stem_regex is None:
        return {"stem": stem}
    match = re.match(desc.images.stem_regex, stem)
    if match is None:
        raise _Ctx(desc.source).error(
            "images.stem_regex", f"does not match the stem {stem!r} of {str(image)!r}", desc.images.stem_regex, stem
        )
    return {"stem": stem, **{k: v for k, v in match.groupdict().items() if v is not None}}


def _companion_path(rule: CompanionRule | None, root: Path, fields: dict[str, str], missing: list[Path]) -> Path | None:
    if rule is None:
        return None
    path = root / rule.folder / rule.pattern.format(**fields)
    if path.is_file():
        return path
    if rule.required:
        missing.append(path)
    return None


def _case_id(desc: DatasetDescription, image: Path) -> str:
    return case_id_of(desc, _stem(image), str(image))


def case_id_of(desc: DatasetDescription, stem: str, where: str | None = None) -> str:
    """The case (patient) a file with this stem belongs to: ``case_id.regex``'s group, or the stem itself when
    the description has no regex. ``where`` (the file) is named in the error.

    Raises:
        ConfigError: the regex does not match the stem.
    """
    if desc.case_id_regex is None:
        return stem
    match = re.search(desc.case_id_regex, stem)
    if match is None:
        raise _Ctx(desc.source).error(
            "case_id.regex", f"does not match the stem {stem!r} of {where or stem!r}", desc.case_id_regex, stem
        )
    return match.group("case") if "case" in match.re.groupindex else match.group(1)


# --------------------------------------------------------------------------------------------- labels


def remap_labels(array: np.ndarray, label_table: Sequence[LabelClass], *, path: Path | str | None = None) -> np.ndarray:
    """Map file values to class indices (``value_in_file`` -> ``index``).

    Args:
        array: label values as stored in the file, any shape (e.g. ``(H, W)`` or ``(Z, Y, X)``).
        label_table: the description's table.
        path: the label file, named in the error message.

    Returns:
        Index array of the same shape, uint8 (uint16 when there are more than 256 classes).

    Raises:
        ConfigError: the array holds values not in the table (the message lists them and the known values).
    """
    arr = np.asarray(array)
    values = np.array(sorted(c.value_in_file for c in label_table))
    index_of = {c.value_in_file: c.index for c in label_table}
    found = np.unique(arr)
    unknown = np.setdiff1d(found, values)
    if unknown.size:
        where = repr(str(path)) if path is not None else "the label array"
        shown = unknown[:20].tolist()
        raise ConfigError(
            f"Label values {shown}{' ...' if unknown.size > 20 else ''} in {where} are not in the label table "
            f"(known file values {values.tolist()}; found {found[:20].tolist()}). Check that this is a label "
            "file of this dataset, or add the values to label_table.",
            path=None if path is None else str(path),
            parameter="label_table",
            expected=values.tolist(),
            got=shown,
            hint="add the values to label_table or check the file",
        )
    out_dtype = np.uint8 if len(label_table) <= 256 else np.uint16
    lut = np.array([index_of[int(v)] for v in values], dtype=out_dtype)
    return lut[np.searchsorted(values, arr)]


def load_sample(sample: Sample, desc: DatasetDescription) -> tuple[Image, np.ndarray | None, np.ndarray | None]:
    """Read a sample's image, its remapped label and its FOV mask, checking that they line up.

    Args:
        sample: from :func:`pair_files`.
        desc: the description (for the label table).

    Returns:
        ``(image, labels, fov)``: labels is an index array of ``image.spatial_shape`` (None without a label file);
        fov is a bool array of that shape, True inside the field of view (None without a FOV file).

    Raises:
        VolumeReadError, UnsupportedFormatError, ShapeError: unreadable files (see ``read_image``).
        GeometryMismatchError: label or FOV does not line up with the image.
        ConfigError: unknown label values.
    """
    image = read_image(sample.image)
    labels = fov = None
    if sample.label is not None:
        label_image = read_image(sample.label)
        check_pair(image, label_image)
        labels = remap_labels(label_image.array, desc.label_table, path=sample.label)
    if sample.fov is not None:
        fov_image = read_image(sample.fov)
        check_pair(image, fov_image)
        fov = np.asarray(fov_image.array) > 0
    return image, labels, fov
