"""Compare two label maps (numpy only): a per-pixel difference map, its colour table, overlap metrics per label,
and a ranking of several results against one reference.

Difference codes of :func:`difference_map` (``pred`` against ``reference``, both integer label maps):

====  ===============  ==========================================================================  ============
code  name             pixels                                                                      colour (RGB)
====  ===============  ==========================================================================  ============
0     background       ``pred == 0`` and ``reference == 0``                                        transparent
1     agreement        ``pred == reference > 0`` (same foreground label)                           (0, 158, 115)
2     false positive   ``pred > 0`` and ``pred != reference`` (incl. a different foreground label)  (213, 94, 0)
3     false negative   ``reference > 0`` and ``pred == 0``                                         (0, 114, 178)
====  ===============  ==========================================================================  ============

A pixel where both are foreground with *different* labels is a false positive of the predicted label and a
false negative of the reference label at once; the map shows it as code 2 (the prediction is wrong there),
while the metrics of :func:`compare_metrics` count it for both labels. The colours are the Okabe-Ito ones of
``akmamba.reports.html.OVERLAY_COLOURS`` (bluish green, vermillion, blue), safe for the common colour-vision
deficiencies; they are repeated here so that this module needs numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from akmamba.errors import ShapeError
from akmamba.metrics import evaluate_case, label_table

BACKGROUND, AGREEMENT, FALSE_POSITIVE, FALSE_NEGATIVE = 0, 1, 2, 3
DIFFERENCE_NAMES: dict[int, str] = {AGREEMENT: "agreement", FALSE_POSITIVE: "false positive",
                                    FALSE_NEGATIVE: "false negative"}
DIFFERENCE_COLOURS: dict[int, tuple[int, int, int]] = {
    AGREEMENT: (0, 158, 115),
    FALSE_POSITIVE: (213, 94, 0),
    FALSE_NEGATIVE: (0, 114, 178),
}
METRIC_KEYS = ("precision", "recall", "dice", "iou")
#: Ratios that have no meaning for a label absent from both maps (TN-based ones such as specificity keep theirs).
_RATIO_KEYS = ("precision", "recall", "dice", "iou", "cldice", "tprec", "tsens")


def same_shape_pair(pred: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both maps as arrays; ShapeError naming both shapes when they differ."""
    p, r = np.asarray(pred), np.asarray(reference)
    if p.shape != r.shape:
        raise ShapeError(f"The two label maps differ in shape: {p.shape} versus {r.shape}. Compare results of the "
                         "same image.")
    return p, r


def difference_map(pred: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-pixel difference codes of ``pred`` against ``reference`` (module docstring).

    Args:
        pred: integer label map (0 background), any shape ``S``.
        reference: integer label map of shape ``S``.

    Returns:
        uint8 array of shape ``S`` with 0 (both background), 1 (agreement), 2 (false positive, including a
        different foreground label) or 3 (false negative: reference foreground where pred is background).

    Raises:
        ShapeError: when the shapes differ.
    """
    p, r = same_shape_pair(pred, reference)
    out = np.zeros(p.shape, dtype=np.uint8)
    p_fg, r_fg = p != 0, r != 0
    out[p_fg & (p == r)] = AGREEMENT
    out[p_fg & (p != r)] = FALSE_POSITIVE
    out[r_fg & ~p_fg] = FALSE_NEGATIVE
    return out


def difference_lut(alpha: int = 200) -> np.ndarray:
    """RGBA colour table (256 x 4, uint8) for :func:`difference_map`: entry 0 transparent, 1-3 the colours of
    the module docstring at opacity ``alpha`` (0..255), the rest transparent."""
    lut = np.zeros((256, 4), dtype=np.uint8)
    for code, rgb in DIFFERENCE_COLOURS.items():
        lut[code] = (*rgb, int(min(max(alpha, 0), 255)))
    return lut


def names_with_present(label_names: Mapping[int, str] | Sequence[str], *arrays: np.ndarray) -> dict[int, str]:
    """The label table plus a ``"label k"`` entry for each value present in the arrays but not named."""
    named: dict[int, str] | list[str] = (
        {int(k): str(v) for k, v in label_names.items() if int(k) != 0} if isinstance(label_names, Mapping)
        else list(label_names))
    table = dict(label_table(named)) if named else {}
    for arr in arrays:
        for value in np.unique(arr):
            v = int(value)
            if v != 0 and v not in table:
                table[v] = f"label {v}"
    return dict(sorted(table.items()))


def compare_metrics(pred: np.ndarray, reference: np.ndarray,
                    label_names: Mapping[int, str] | Sequence[str]) -> list[dict[str, Any]]:
    """Precision, recall, Dice and IoU of ``pred`` against ``reference``, one row per foreground label.

    Args:
        pred: integer label map, shape ``S``.
        reference: integer label map, shape ``S``.
        label_names: ``{value: name}`` or the names of labels 1..K; values present in either map but not named
            are added as ``"label k"``.

    Returns:
        ``[{"label": k, "label_name": name, "precision", "recall", "dice", "iou", "tp", "fp", "fn",
        "applicable"}, ...]`` in label order (fractions in [0, 1]; nan, shown "n/a", for a label absent from both
        maps: :func:`mark_not_applicable`).
        Empty when neither map nor ``label_names`` has a foreground label.

    Raises:
        ShapeError: when the shapes differ.
    """
    p, r = same_shape_pair(pred, reference)
    table = names_with_present(label_names, p, r)
    if not table:
        return []
    rows = mark_not_applicable(evaluate_case(p, r, table, case_id="compare"))
    keys = ("label", "label_name", *METRIC_KEYS, "tp", "fp", "fn", "applicable")
    return [{k: row[k] for k in keys} for row in rows]


def mark_not_applicable(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of :func:`akmamba.metrics.evaluate_case` with ``"applicable"`` added; a label absent from both maps
    (TP + FP + FN = 0) gets nan for every ratio metric, shown as "n/a" and left out of means.

    ``akmamba.metrics`` scores two empty masks 1.0 (they agree). A comparison of two results of one image that
    both lack a class says nothing about that class, and a 1.0 there would lift a mean Dice, so here it is not
    applicable.
    """
    out = []
    for row in rows:
        applicable = int(row["tp"]) + int(row["fp"]) + int(row["fn"]) > 0
        new = {**row, "applicable": applicable}
        if not applicable:
            new.update({k: float("nan") for k in _RATIO_KEYS if k in row})
        out.append(new)
    return out


def summary_not_applicable(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A :func:`akmamba.metrics.summarise` result whose pooled metrics are nan for a label absent from every
    compared map (its pooled counts TP + FP + FN are 0), as :func:`mark_not_applicable` does per row."""
    out: dict[str, Any] = {}
    for name, entry in summary.items():
        counts = entry.get("counts") if isinstance(entry, Mapping) else None
        if counts and int(counts.get("tp", 0)) + int(counts.get("fp", 0)) + int(counts.get("fn", 0)) == 0:
            entry = {**entry, "pooled": {k: (float("nan") if k in _RATIO_KEYS else v)
                                         for k, v in entry["pooled"].items()}}
        out[name] = entry
    return out


def mean_dice(rows: Sequence[Mapping[str, Any]]) -> float:
    """Mean Dice over the rows whose Dice is finite (nan when none is)."""
    values = [float(row["dice"]) for row in rows if np.isfinite(row["dice"])]
    return float(np.mean(values)) if values else float("nan")


def rank_models(results: Mapping[str, np.ndarray], reference: np.ndarray,
                label_names: Mapping[int, str] | Sequence[str]) -> list[tuple[str, float]]:
    """Rank results by mean Dice over labels against ``reference``, best first.

    Args:
        results: ``{name: label map}``, each of the reference's shape.
        reference: the reference label map (for example the corrected mask).
        label_names: as for :func:`compare_metrics`.

    Returns:
        ``[(name, mean Dice), ...]`` sorted by decreasing Dice (ties and nan keep input order; nan last).
    """
    scored = [(name, mean_dice(compare_metrics(pred, reference, label_names))) for name, pred in results.items()]
    return sorted(scored, key=lambda item: (not np.isfinite(item[1]), -item[1] if np.isfinite(item[1]) else 0.0))
