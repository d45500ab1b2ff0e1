"""The evaluation report: one dataclass, three writers (JSON, CSV, HTML), one reader (JSON). No Qt, no torch.

Every write is atomic: the text goes to a temporary file in the target folder, is flushed to disk, and then
replaces the target with ``os.replace``, so a reader never sees half a report.

JSON layout (``to_json``)::

    {"title": str, "created": ISO 8601 UTC,
     "model": {"name", "version", "checksum"}, "data": {file: sha256}, "software": {package: version},
     "summary": akmamba.metrics.summarise(...), "cases": [row, ...], "thumbnails": {case: base64 PNG},
     "per_case": {"by": str, "summary": summarise(merged rows), "cases": [merged row, ...]}}   (optional)

``per_case`` is there when the evaluated files are slices of fewer cases (patients), as the dataset description's
``case_id.regex`` tells: each merged row pools one case's slices (``akmamba.metrics.pool_rows``).

JSON has no NaN: undefined values (for example AUC of a case with one class, or a std over one case) are
written as ``null`` and read back as ``nan`` inside ``summary`` and ``cases``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import math
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from akmamba import __version__
from akmamba.errors import ConfigError, UnsupportedFormatError
from akmamba.io.atomic import atomic_write_bytes
from akmamba.metrics.aggregate import COUNT_KEYS, METRIC_ORDER, SKELETON_KEYS, pool_rows, summarise
from akmamba.metrics.cldice import skeleton_backend
from akmamba.registry import suggest
from akmamba.reports.html import render_html

MODEL_KEYS = ("name", "version", "checksum")
REPORT_SUFFIXES = (".csv", ".html", ".json")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ROW_HEAD = ("case", "label", "label_name", "n_pixels", *COUNT_KEYS)


def software_versions() -> dict[str, str]:
    """Versions that produced the numbers: akmamba, Python, numpy and the clDice skeleton backend."""
    return {
        "akmamba": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "skeleton": skeleton_backend(),
    }


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sha256_file(path: str | os.PathLike[str], chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (for model and data checksums)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _to_jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars to Python, non-finite floats to None, tuples to lists."""
    if isinstance(obj, Mapping):
        return {str(k): _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _none_to_nan(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _none_to_nan(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_none_to_nan(v) for v in obj]
    return float("nan") if obj is None else obj


@dataclass
class Report:
    """Everything needed to reproduce and read one evaluation.

    Attributes:
        title: shown as the report heading.
        model: ``{"name", "version", "checksum"}`` (checksum: SHA-256 of the checkpoint, :func:`sha256_file`).
        data: ``{file: sha256}`` of the evaluated images and labels.
        software: ``{package: version}``; defaults to :func:`software_versions`.
        created: ISO 8601 UTC time; defaults to now.
        cases: rows from ``akmamba.metrics.evaluate_case``, one per case and label.
        summary: ``akmamba.metrics.summarise(cases)``.
        thumbnails: ``{case: PNG bytes}`` from ``make_overlay_thumbnail``; optional.
        per_case: files pooled per case (module docstring), or empty when each file is its own case.

    Raises:
        ConfigError: when ``model`` lacks a key or a thumbnail is not PNG data.
    """

    title: str
    model: dict[str, str]
    data: dict[str, str] = field(default_factory=dict)
    software: dict[str, str] = field(default_factory=software_versions)
    created: str = field(default_factory=_now)
    cases: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    thumbnails: dict[str, bytes] = field(default_factory=dict)
    per_case: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [k for k in MODEL_KEYS if k not in self.model]
        if missing:
            raise ConfigError(
                f"Report model info lacks {missing}; expected keys {list(MODEL_KEYS)}, got {sorted(self.model)}. "
                "Pass the checkpoint's name, version and sha256.",
                parameter="model",
                expected=list(MODEL_KEYS),
                got=sorted(self.model),
            )
        bad = [case for case, png in self.thumbnails.items() if not bytes(png).startswith(PNG_SIGNATURE)]
        if bad:
            raise ConfigError(
                f"Thumbnails for cases {bad[:5]} are not PNG data. Build them with make_overlay_thumbnail().",
                parameter="thumbnails",
                got=bad,
            )

    @classmethod
    def from_rows(
        cls,
        title: str,
        rows: Sequence[Mapping[str, Any]],
        model: Mapping[str, str],
        data: Mapping[str, str] | None = None,
        thumbnails: Mapping[str, bytes] | None = None,
        case_of: Callable[[str], str] | None = None,
        case_by: str = "",
    ) -> Report:
        """Build a report from per-file rows, computing the summary with ``akmamba.metrics.summarise``.

        ``case_of`` maps a file's name to its case (``case_by`` says how, for the reader); where some case has
        several files, ``per_case`` holds their pooled rows and those rows' summary."""
        per_case: dict[str, Any] = {}
        if case_of is not None:
            merged = pool_rows(rows, case_of)
            if any(r["n_files"] > 1 for r in merged):
                per_case = {"by": case_by, "summary": summarise(merged), "cases": merged}
        return cls(
            title=title,
            model=dict(model),
            data=dict(data or {}),
            cases=[dict(r) for r in rows],
            summary=summarise(rows),
            thumbnails=dict(thumbnails or {}),
            per_case=per_case,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout of the module docstring (thumbnails as base64 text, nan as None)."""
        return _to_jsonable(
            {
                "title": self.title,
                "created": self.created,
                "model": self.model,
                "data": self.data,
                "software": self.software,
                "summary": self.summary,
                "cases": self.cases,
                "thumbnails": {k: base64.b64encode(v).decode("ascii") for k, v in self.thumbnails.items()},
                **({"per_case": self.per_case} if self.per_case else {}),
            }
        )

    def csv_columns(self) -> list[str]:
        """CSV header: identity and counts, then metrics in ``METRIC_ORDER``, skeleton counts, other keys."""
        keys = {k for row in self.cases for k in row}
        ordered = [k for k in (*_ROW_HEAD, *METRIC_ORDER, *SKELETON_KEYS) if k in keys]
        return ordered + sorted(keys - set(ordered))

    def to_json(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON layout (UTF-8, indented) atomically."""
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)
        atomic_write_bytes(path, (text + "\n").encode("utf-8"))

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write one row per case and label, with a header of column names, atomically."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.csv_columns(), restval="", lineterminator="\n")
        writer.writeheader()
        for row in self.cases:
            writer.writerow({k: repr(float(v)) if isinstance(v, float) else v for k, v in row.items()})
        atomic_write_bytes(path, buf.getvalue().encode("utf-8"))

    def to_html(self, path: str | os.PathLike[str]) -> None:
        """Write a self-contained HTML page (inline SVG chart, base64 PNG thumbnails) atomically."""
        atomic_write_bytes(path, render_html(self).encode("utf-8"))


def _suffix(path: str | os.PathLike[str]) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in REPORT_SUFFIXES:
        raise ConfigError(
            f"Unknown report suffix {suffix!r} for {str(path)!r}.{suggest(suffix, list(REPORT_SUFFIXES))} "
            f"Valid suffixes: {', '.join(REPORT_SUFFIXES)}.",
            path=str(path),
            parameter="path",
            expected=list(REPORT_SUFFIXES),
            got=suffix,
        )
    return suffix


def write_report(report: Report, path: str | os.PathLike[str]) -> None:
    """Write ``report`` in the format its suffix names (``.json``, ``.csv`` or ``.html``).

    Raises:
        ConfigError: for any other suffix; the message lists the valid ones.
    """
    writers = {".json": report.to_json, ".csv": report.to_csv, ".html": report.to_html}
    writers[_suffix(path)](path)


def read_json_report(path: str | os.PathLike[str]) -> Report:
    """Read a report written by :meth:`Report.to_json`.

    Raises:
        UnsupportedFormatError: when the file is not JSON or lacks the report keys.
        FileNotFoundError: when the file does not exist.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UnsupportedFormatError(
            f"{str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno}). Write reports with to_json().",
            path=str(path),
        ) from exc
    required = ("title", "model", "summary", "cases")
    missing = [k for k in required if k not in raw] if isinstance(raw, dict) else list(required)
    if missing:
        raise UnsupportedFormatError(
            f"{str(path)!r} is not an akmamba report: keys {missing} are missing. Write reports with to_json().",
            path=str(path),
            expected=list(required),
            got=missing,
        )
    return Report(
        title=raw["title"],
        model=raw["model"],
        data=raw.get("data", {}),
        software=raw.get("software", {}),
        created=raw.get("created", ""),
        cases=_none_to_nan(raw["cases"]),
        summary=_none_to_nan(raw["summary"]),
        thumbnails={k: base64.b64decode(v) for k, v in raw.get("thumbnails", {}).items()},
        per_case=_none_to_nan(raw.get("per_case", {})),
    )
