"""Per-case metric rows and their summary over cases (numpy only).

:func:`evaluate_case` turns one predicted label map into one row per foreground label (counts and metrics).
:func:`summarise` turns the rows of many cases into, per label name::

    summary[name] = {
        "label": 1, "n_cases": 20,
        "per_image_mean":  {metric: mean over cases of the per-case value},
        "per_image_std":   {metric: sample standard deviation (ddof=1) over cases; nan with one case},
        "per_image_count": {metric: number of cases with a defined (non-nan) value},
        "pooled":          {metric: computed once from counts summed over all cases},
        "counts":          {"tp", "fp", "fn", "tn": summed counts},
    }

The two are different numbers and both are reported under their own names: the paper's IoU of 71.93 next to a
Dice of 82.57 is only possible as a per-image mean. Pooled clDice uses summed skeleton counts. Pooled AUC is
*not* computed here (it needs every pixel at once): use ``ranking.pooled_roc_auc``; ``pooled`` has no
``"auc"`` key. Undefined per-case values (AUC of a case with one class) are skipped by the means.

With two or more labels ``summary["mean_over_labels"]`` holds the same keys: ``per_image_*`` are statistics
over cases of each case's mean over labels, and ``pooled`` is the mean over labels of each label's pooled
value (macro average), for example the bladder wall and tumour mean.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from akmamba.errors import ConfigError, ShapeError
from akmamba.metrics.cldice import SkeletonCounts, cldice_metrics, skeleton_counts
from akmamba.metrics.overlap import (
    OVERLAP_METRICS,
    Confusion,
    confusion_counts,
    overlap_metrics,
    require_same_shape,
)
from akmamba.metrics.ranking import roc_auc

MEAN_OVER_LABELS = "mean_over_labels"
COUNT_KEYS = ("tp", "fp", "fn", "tn")
SKELETON_KEYS = ("skel_pred", "skel_pred_in_gt", "skel_gt", "skel_gt_in_pred")
METRIC_ORDER = (*OVERLAP_METRICS, "auc", "cldice", "tprec", "tsens")
"""Every metric a row may carry, in report column order."""


def label_table(labels: Mapping[int, str] | Sequence[str]) -> dict[int, str]:
    """Normalise a label description to ``{class index: name}`` for the foreground classes.

    Args:
        labels: ``{index: name}`` (an entry for 0 is ignored: 0 is always background), or a list of the
            names of classes 1..K in order (``["wall", "tumour"]`` means 1 = wall, 2 = tumour).

    Returns:
        ``{index: name}`` with indices > 0, in increasing order.

    Raises:
        ConfigError: when no foreground label is given, names repeat or are empty, or a list starts with a
            background name.
    """
    if isinstance(labels, Mapping):
        table = {int(k): str(v) for k, v in sorted(labels.items()) if int(k) != 0}
        if any(k < 0 for k in table):
            raise ConfigError(
                f"Label indices must be >= 0, got {sorted(table)}.", parameter="labels", got=sorted(table)
            )
    else:
        names = [str(n) for n in labels]
        if names and names[0].strip().lower() in ("background", "bg", "0"):
            raise ConfigError(
                f"A list of label names names classes 1..K; background (class 0) is implicit, got {names!r}. "
                f"Drop {names[0]!r} from the list or pass a dict such as {{1: 'vessel'}}.",
                parameter="labels",
                got=names,
            )
        table = {i + 1: n for i, n in enumerate(names)}
    if not table:
        raise ConfigError(
            "No foreground label given. Pass {1: 'vessel'} or ['vessel'].", parameter="labels", got=labels
        )
    names = list(table.values())
    if len(set(names)) != len(names) or any(not n for n in names) or MEAN_OVER_LABELS in names:
        raise ConfigError(
            f"Label names must be unique, non-empty and not {MEAN_OVER_LABELS!r}, got {names!r}.",
            parameter="labels",
            got=names,
        )
    return table


def _check_label_values(arr: np.ndarray, table: Mapping[int, str], name: str) -> None:
    if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise ShapeError(
            f"{name} dtype is {arr.dtype}, expected integer class indices. Threshold or argmax probabilities "
            f"first, and pass them as probs=.",
            parameter=name,
            expected="integer class indices",
            got=str(arr.dtype),
        )
    if arr.size == 0:
        return
    allowed = np.zeros(max(table) + 1, dtype=bool)
    allowed[0] = True
    allowed[list(table)] = True
    lo, hi = int(arr.min()), int(arr.max())
    if lo >= 0 and hi < allowed.size:
        counts = np.bincount(arr.ravel().astype(np.intp, copy=False), minlength=hi + 1)
        if allowed[np.flatnonzero(counts)].all():
            return
    present = [int(v) for v in np.unique(arr) if not (0 <= v < allowed.size and allowed[v])]
    raise ConfigError(
        f"{name} holds values {present[:10]} that are not class indices {[0, *table]}. "
        f"Convert stored masks first (binary_to_labels for 0/255, remap_values for 0/128/255).",
        parameter=name,
        expected=[0, *table],
        got=present,
    )


def _label_probs(probs: np.ndarray, shape: tuple[int, ...], table: Mapping[int, str]) -> dict[int, np.ndarray]:
    if probs.shape == shape and len(table) == 1:
        return {next(iter(table)): probs}
    if probs.ndim == len(shape) + 1 and probs.shape[1:] == shape and probs.shape[0] > max(table):
        return {k: probs[k] for k in table}
    raise ShapeError(
        f"probs shape {probs.shape} does not fit labels {table} and image shape {shape}. Expected {shape} "
        f"for a single label, or (C, *shape) with one channel per class index (C > {max(table)}).",
        parameter="probs",
        expected=shape,
        got=probs.shape,
    )


def evaluate_case(
    pred: np.ndarray,
    gt: np.ndarray,
    labels: Mapping[int, str] | Sequence[str],
    fov: np.ndarray | None = None,
    probs: np.ndarray | None = None,
    *,
    case_id: str = "case",
    cldice: bool = False,
    skeleton_method: str = "auto",
) -> list[dict[str, Any]]:
    """Metrics of one case, one row per foreground label.

    Args:
        pred: predicted class indices (0 background, 1..K), shape ``S`` = ``(y, x)`` or ``(z, y, x)``.
        gt: true class indices, shape ``S``.
        labels: ``{index: name}`` or the names of classes 1..K (:func:`label_table`).
        fov: optional field of view, shape ``S``; every metric uses only pixels where ``fov != 0``.
        probs: optional scores for AUC: shape ``S`` with a single label, else ``(C, *S)`` with channel ``k``
            the score of class ``k`` (one-vs-rest).
        case_id: the case name written in each row; must be unique among the cases summarised together.
        cldice: also compute clDice, Tprec and Tsens (vessels; 2-D unless scikit-image is installed).
        skeleton_method: ``"auto"``, ``"numpy"`` or ``"skimage"`` (see ``akmamba.metrics.cldice``).

    Returns:
        One dict per label, in label order, with keys ``case``, ``label``, ``label_name``, ``n_pixels``,
        ``tp``, ``fp``, ``fn``, ``tn``, the overlap metrics, then ``auc`` when probs are given, then
        ``cldice``, ``tprec``, ``tsens`` and the skeleton counts when ``cldice`` is true. Metric values are
        fractions in [0, 1] (``auc`` may be nan, see ``akmamba.metrics.ranking``).

    Raises:
        ShapeError: when shapes differ or pred/gt are not integer arrays.
        ConfigError: when labels are invalid or pred/gt hold values that are not listed class indices.
    """
    table = label_table(labels)
    pred, gt = np.asarray(pred), np.asarray(gt)
    require_same_shape(pred, gt, "pred", "gt")
    _check_label_values(pred, table, "pred")
    _check_label_values(gt, table, "gt")
    if fov is not None:
        fov = np.asarray(fov)
        require_same_shape(fov, gt, "fov", "gt")
    label_probs = _label_probs(np.asarray(probs), gt.shape, table) if probs is not None else {}
    rows = []
    for k, name in table.items():
        p, g = pred == k, gt == k
        c = confusion_counts(p, g, fov)
        row: dict[str, Any] = {"case": str(case_id), "label": k, "label_name": name, "n_pixels": c.n}
        row.update({key: getattr(c, key) for key in COUNT_KEYS})
        row.update(overlap_metrics(c))
        if k in label_probs:
            row["auc"] = roc_auc(label_probs[k], g, fov)
        if cldice:
            sc = skeleton_counts(p, g, fov, skeleton_method)
            row.update(cldice_metrics(sc))
            row.update({key: getattr(sc, key) for key in SKELETON_KEYS})
        rows.append(row)
    return rows


def _stats(values: list[float]) -> tuple[float, float, int]:
    """Mean, sample std (ddof=1) and count of the finite values; nan where undefined, without warnings."""
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    mean = float(v.mean()) if v.size else float("nan")
    std = float(v.std(ddof=1)) if v.size > 1 else float("nan")
    return mean, std, int(v.size)


def _group_rows(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    seen: set[tuple[str, str]] = set()
    for i, row in enumerate(rows):
        missing = [k for k in ("case", "label", "label_name", *COUNT_KEYS) if k not in row]
        if missing:
            raise ConfigError(
                f"Row {i} lacks keys {missing}. Rows come from evaluate_case().", parameter="rows", got=missing
            )
        key = (str(row["case"]), str(row["label_name"]))
        if key in seen:
            raise ConfigError(
                f"Case {key[0]!r} appears twice for label {key[1]!r}. Pass a unique case_id to evaluate_case().",
                parameter="case_id",
                got=key[0],
            )
        seen.add(key)
        group = groups.setdefault(key[1], [])
        if group and int(group[0]["label"]) != int(row["label"]):
            raise ConfigError(
                f"Label name {key[1]!r} has indices {group[0]['label']} and {row['label']} in different rows. "
                "Use one label table for all cases.",
                parameter="labels",
                got=[group[0]["label"], row["label"]],
            )
        group.append(row)
    return groups


def _summarise_label(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    metrics = [m for m in METRIC_ORDER if any(m in r for r in rows)]
    per_mean, per_std, per_count = {}, {}, {}
    for m in metrics:
        per_mean[m], per_std[m], per_count[m] = _stats([float(r.get(m, np.nan)) for r in rows])
    total = Confusion(*(sum(int(r[k]) for r in rows) for k in COUNT_KEYS))
    pooled = overlap_metrics(total)
    if all(k in r for r in rows for k in SKELETON_KEYS):
        summed = {k: sum(int(r[k]) for r in rows) for k in SKELETON_KEYS}
        sk = SkeletonCounts(**summed, pred_pixels=total.tp + total.fp, gt_pixels=total.tp + total.fn)
        pooled.update(cldice_metrics(sk))
    return {
        "label": int(rows[0]["label"]),
        "n_cases": len(rows),
        "per_image_mean": per_mean,
        "per_image_std": per_std,
        "per_image_count": per_count,
        "pooled": pooled,
        "counts": {k: getattr(total, k) for k in COUNT_KEYS},
    }


def _mean_over_labels(groups: dict[str, list[Mapping[str, Any]]], summary: dict[str, Any]) -> dict[str, Any]:
    metrics = [m for m in METRIC_ORDER if all(m in summary[name]["per_image_mean"] for name in groups)]
    by_case: dict[str, dict[str, list[float]]] = {}
    for group in groups.values():
        for r in group:
            case = by_case.setdefault(str(r["case"]), {m: [] for m in metrics})
            for m in metrics:
                case[m].append(float(r.get(m, np.nan)))
    per_mean, per_std, per_count, pooled = {}, {}, {}, {}
    for m in metrics:
        case_means = [_stats(case[m])[0] for case in by_case.values()]
        per_mean[m], per_std[m], per_count[m] = _stats(case_means)
        if all(m in summary[name]["pooled"] for name in groups):
            pooled[m] = float(np.mean([summary[name]["pooled"][m] for name in groups]))
    return {
        "labels": list(groups),
        "n_cases": len(by_case),
        "per_image_mean": per_mean,
        "per_image_std": per_std,
        "per_image_count": per_count,
        "pooled": pooled,
    }


def pool_rows(rows: Sequence[Mapping[str, Any]], group_of: Callable[[str], str]) -> list[dict[str, Any]]:
    """Merge the rows of files that belong to one case (the slices of a patient) into one row per (case, label).

    The pixel counts (and skeleton counts, when every row has them) are summed and the overlap metrics (and
    clDice) recomputed from the sums, so a merged row is the case's pooled score; AUC cannot be pooled from rows
    and is left out. Summarising the merged rows with :func:`summarise` gives per-case means over cases.

    Args:
        rows: rows from :func:`evaluate_case`, one per (file, label).
        group_of: maps a row's ``case`` (the file's name) to its case, e.g. ``"12-IM21" -> "12"``.

    Returns:
        One row per (case, label), in order of first appearance, with the keys of :func:`evaluate_case`'s rows
        (``case`` now the case) plus ``n_files``.

    Raises:
        ConfigError: rows lacking keys or repeating a (file, label) (as :func:`summarise`).
    """
    _group_rows(rows)  # the same checks as summarise
    merged: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        merged.setdefault((group_of(str(row["case"])), str(row["label_name"])), []).append(row)
    out: list[dict[str, Any]] = []
    for (case, name), group in merged.items():
        total = Confusion(*(sum(int(r[k]) for r in group) for k in COUNT_KEYS))
        merged_row: dict[str, Any] = {"case": case, "label": int(group[0]["label"]), "label_name": name,
                                      "n_pixels": sum(int(r["n_pixels"]) for r in group), "n_files": len(group)}
        merged_row.update({k: getattr(total, k) for k in COUNT_KEYS})
        merged_row.update(overlap_metrics(total))
        if all(k in r for r in group for k in SKELETON_KEYS):
            summed = {k: sum(int(r[k]) for r in group) for k in SKELETON_KEYS}
            sk = SkeletonCounts(**summed, pred_pixels=total.tp + total.fp, gt_pixels=total.tp + total.fn)
            merged_row.update(cldice_metrics(sk))
            merged_row.update(summed)
        out.append(merged_row)
    return out


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summarise per-case rows into per-image mean, std and pooled metrics per label (module docstring).

    Args:
        rows: rows from :func:`evaluate_case` for any number of cases; each (case, label) at most once.

    Returns:
        ``{label name: {...}}`` plus ``"mean_over_labels"`` when there are two or more labels.

    Raises:
        ConfigError: when rows lack keys, a case repeats for a label, a label name maps to two indices, or
            there are no rows.
    """
    if not rows:
        raise ConfigError("No rows to summarise. Evaluate at least one case.", parameter="rows", got=0)
    groups = _group_rows(rows)
    summary: dict[str, Any] = {name: _summarise_label(group) for name, group in groups.items()}
    if len(groups) >= 2:
        summary[MEAN_OVER_LABELS] = _mean_over_labels(groups, summary)
    return summary
