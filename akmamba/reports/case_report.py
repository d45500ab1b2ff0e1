"""One case's comparison (result A against reference B, plus optional other models) as a :class:`Report`;
numpy only, no Qt."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from akmamba.compare import mark_not_applicable, names_with_present, same_shape_pair, summary_not_applicable
from akmamba.metrics import evaluate_case, summarise
from akmamba.reports.html import make_overlay_thumbnail
from akmamba.reports.report import Report, sha256_file


def report_model_info(model_info: Mapping[str, Any] | None, fallback_name: str = "") -> dict[str, str]:
    """``{"name", "version", "checksum"}`` from a predictor's ``model_info`` (``sha256`` becomes ``checksum``)."""
    info = dict(model_info or {})
    return {"name": str(info.get("name") or fallback_name), "version": str(info.get("version", "")),
            "checksum": str(info.get("checksum", info.get("sha256", "")))}


def _thumbnail_plane(image: np.ndarray, pred: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, ...]:
    """For a volume, the plane with the most foreground in either map; 2-D input unchanged."""
    if pred.ndim != 3:
        return image, pred, reference
    fg = ((pred != 0) | (reference != 0)).reshape(pred.shape[0], -1).sum(axis=1)
    z = int(np.argmax(fg))
    return image[min(z, image.shape[0] - 1)], pred[z], reference[z]


def build_case_report(
    image: np.ndarray,
    pred: np.ndarray,
    reference: np.ndarray,
    label_names: Mapping[int, str] | Sequence[str],
    case_id: str,
    model_info: Mapping[str, Any] | None,
    image_path: str | os.PathLike[str] | None,
    *,
    result_name: str = "A",
    reference_name: str = "reference",
    other_results: Mapping[str, np.ndarray] | None = None,
) -> Report:
    """Metrics of ``pred`` (result A) against ``reference`` for one case as a report.

    Args:
        image: the case's image (2-D grey/colour or a ``(Z, Y, X)`` volume) for the overlay thumbnail.
        pred: result A's label map; same shape as ``reference``.
        reference: reference B's label map.
        label_names: ``{value: name}`` or names of labels 1..K (unnamed present values are added).
        case_id: the case name in the rows and thumbnail.
        model_info: ``{"name", "version", "sha256"|"checksum"}`` of A when it is a model result, else None.
        image_path: the image file, whose SHA-256 goes into ``data`` (skipped when None or missing).
        result_name / reference_name: shown in the title and rows.
        other_results: ``{model name: label map}``, e.g. "compare all models"; each adds one row per label
            (case ``"<case_id> [<model>]"``, key ``"model"``). The summary covers result A only; the HTML gives
            each model's own summary over its cases (:func:`akmamba.reports.html.summaries_by_model`). A label
            absent from both maps is not applicable: nan ("n/a"), out of the means (:func:`akmamba.compare.
            mark_not_applicable`).

    Raises:
        ShapeError: when a label map's shape differs from the reference's or the image's.
    """
    p, r = same_shape_pair(pred, reference)
    others = {name: same_shape_pair(arr, r)[0] for name, arr in (other_results or {}).items()}
    table = names_with_present(label_names, p, r, *others.values())
    rows = [{**row, "model": result_name} for row in mark_not_applicable(evaluate_case(p, r, table, case_id=case_id))]
    model_rows: list[dict[str, Any]] = []
    for name, arr in others.items():
        model_rows += [{**row, "model": name}
                       for row in mark_not_applicable(evaluate_case(arr, r, table, case_id=f"{case_id} [{name}]"))]
    data: dict[str, str] = {}
    if image_path is not None and Path(image_path).is_file():
        data[str(image_path)] = sha256_file(image_path)
    img, tp, tr = _thumbnail_plane(np.asarray(image), p, r)
    thumbnail = make_overlay_thumbnail(img, tp, tr)
    return Report(
        title=f"{case_id}: {result_name} against {reference_name}",
        model=report_model_info(model_info, result_name),
        data=data,
        cases=rows + model_rows,
        summary=summary_not_applicable(summarise(rows)) if rows else {},
        thumbnails={case_id: thumbnail},
    )
