"""``akmamba evaluate``: compare a folder of predicted label maps with ground truth and write reports.

Pairing:

* by default a prediction ``x.png`` pairs with the ground truth ``x.*`` in ``--gt`` (any readable suffix), a
  FOV mask ``x.*`` or ``x_mask.*`` in ``--fov``, and probabilities ``x_probs.npy`` in ``--probs-dir`` (default:
  the prediction folder, when the file is there);
* with ``--dataset`` (a description file or a shipped name such as ``drive``) ``--gt`` is the data root and the
  description maps each image to its label and FOV files; the prediction of image ``21_training.tif`` is
  ``21_training.*`` in ``--pred``, as ``akmamba predict`` writes it.

Label values are class indices; a binary 0/255 mask counts as 0/1. With a description the ground truth is
remapped through its label table; without one, through the model's label table in the prediction folder's
``model.json`` when it records file values (:func:`akmamba.io.labels.to_class_indices`: class indices or the
table's file values such as the bladder data's 0/128/255; other values are refused, naming them).
Predictions written with ``akmamba predict --label-values file`` (the model's
training file values, recorded as ``label_values`` in the folder's ``model.json``) are mapped back to indices
through the label table in that ``model.json``. Label names come from the description, else from ``model.json`` in the
prediction folder, else ``foreground`` (binary) or ``label_<k>``.

Reports (``--out``) that exist are refused unless ``--overwrite``; one that is a file the evaluation reads (a
prediction, ground truth, FOV mask, probabilities, ``model.json`` or the description) is refused even then.

Predictions without ground truth and ground truth without prediction are listed on stderr and under
``"unpaired"`` in the JSON report. Exit status: 0 when every pair was evaluated, 2 when a pair failed (for
example unreadable, or of another size) or nothing could be evaluated. This module needs no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from akmamba.errors import AkmambaError, ConfigError, ShapeError, user_error

MODEL_JSON = "model.json"
PROBS_SUFFIX = "_probs.npy"
EXIT_OK, EXIT_FAILED = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``evaluate`` flags to ``parser``."""
    parser.add_argument("--pred", required=True, type=Path, help="folder of predicted label maps")
    parser.add_argument("--gt", required=True, type=Path, help="folder of ground truth (the data root with --dataset)")
    parser.add_argument("--fov", type=Path, default=None, help="folder of field-of-view masks")
    parser.add_argument("--dataset", default=None, help="dataset description file or shipped name (drive, bladder)")
    parser.add_argument("--cldice", action="store_true", help="also compute clDice, Tprec and Tsens (vessels)")
    parser.add_argument("--probs-dir", type=Path, default=None, help="folder of <stem>_probs.npy (default: --pred)")
    parser.add_argument("--out", required=True, action="append", type=Path,
                        help="report file, .json, .csv or .html; repeat for several")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing report files (never an input: a prediction, ground truth, FOV, "
                             "probabilities, model.json or dataset description)")
    parser.add_argument("--title", default=None, help="report title")
    parser.add_argument("--max-thumbnails", type=int, default=50, help="overlay thumbnails in the HTML (default 50)")


@dataclass
class Pair:
    """One prediction with its ground truth (and optional FOV, probabilities and source image)."""

    case: str
    pred: Path
    gt: Path
    fov: Path | None = None
    probs: Path | None = None
    image: Path | None = None


@dataclass
class Pairing:
    """The pairs found, and the files left without a partner."""

    pairs: list[Pair] = field(default_factory=list)
    pred_only: list[Path] = field(default_factory=list)
    gt_only: list[Path] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)


def _by_stem(folder: Path, what: str) -> tuple[dict[str, Path], list[str]]:
    """``{stem: file}`` of the readable files in ``folder``; stems held by two files are returned apart."""
    from akmamba.io.readers import file_suffix, supported_suffixes

    if not folder.is_dir():
        raise ConfigError(f"The {what} folder {str(folder)!r} does not exist. Check the path.", path=str(folder),
                          parameter=what, expected="an existing folder", got=str(folder))
    suffixes = set(supported_suffixes())
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        suffix = file_suffix(path)
        if path.is_file() and suffix in suffixes and not path.name.startswith("."):
            found.setdefault(path.name[: len(path.name) - len(suffix)], []).append(path)
    single = {stem: paths[0] for stem, paths in found.items() if len(paths) == 1}
    ambiguous = [f"{what} {stem!r} is held by {[p.name for p in paths]}" for stem, paths in found.items()
                 if len(paths) > 1]
    return single, ambiguous


def find_pairs(
    pred_dir: Path,
    gt_dir: Path,
    *,
    fov_dir: Path | None = None,
    probs_dir: Path | None = None,
    desc: Any = None,
) -> Pairing:
    """Pair predictions with ground truth by stem, or through a dataset description.

    Args:
        pred_dir: folder of predictions ``<stem>.<suffix>``.
        gt_dir: folder of ground truth, or the data root when ``desc`` is given.
        fov_dir: folder of FOV masks ``<stem>.*`` or ``<stem>_mask.*`` (overrides the description's).
        probs_dir: folder of ``<stem>_probs.npy`` (default ``pred_dir``).
        desc: an ``akmamba.io.DatasetDescription``, or None.

    Returns:
        The pairs in ground-truth order and the files without a partner.

    Raises:
        ConfigError: a folder is missing, or the description finds no images under ``gt_dir``.
        VolumeReadError: required label/FOV files named by the description are missing.
    """
    from akmamba.io import pair_files

    preds, ambiguous = _by_stem(pred_dir, "prediction")
    fovs, amb_fov = _by_stem(fov_dir, "FOV") if fov_dir is not None else ({}, [])
    probs_dir = probs_dir or pred_dir
    result = Pairing(ambiguous=ambiguous + amb_fov)
    targets: list[tuple[str, Path | None, Path | None, Path | None]]
    if desc is not None:
        targets = [(_stem(s.image), s.label, s.fov, s.image) for s in pair_files(desc, gt_dir)]
    else:
        gts, amb_gt = _by_stem(gt_dir, "ground truth")
        result.ambiguous += amb_gt
        targets = [(stem, path, None, None) for stem, path in gts.items()]
    used: set[str] = set()
    for stem, gt, fov, image in targets:
        pred = preds.get(stem)
        if gt is None:
            continue
        if pred is None:
            result.gt_only.append(gt)
            continue
        used.add(stem)
        if fov_dir is not None:
            fov = fovs.get(stem) or fovs.get(f"{stem}_mask")
        probs = probs_dir / f"{stem}{PROBS_SUFFIX}"
        result.pairs.append(Pair(stem, pred, gt, fov, probs if probs.is_file() else None, image))
    result.pred_only = [p for stem, p in preds.items() if stem not in used]
    return result


def to_indices(array: np.ndarray, path: Path | str) -> np.ndarray:
    """Class indices from a stored mask: bool -> 0/1, binary 0/255 -> 0/1, grey-as-RGB -> one channel.

    Args:
        array: ``(y, x)``, ``(y, x, 3)`` with equal channels, or ``(z, y, x)``.
        path: the file, for messages.

    Raises:
        ShapeError: a colour mask whose channels differ, or a non-integer mask.
    """
    from akmamba.metrics import binary_to_labels

    arr = np.asarray(array)
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ShapeError(f"Label map {str(path)!r} has dtype {arr.dtype}; expected integer class indices.",
                         path=str(path), expected="integer dtype", got=str(arr.dtype))
    values = np.unique(arr)
    if values.size and values.max() == 255 and set(values.tolist()) <= {0, 255}:
        return binary_to_labels(arr)
    return arr


def _stem(path: Path) -> str:
    from akmamba.io.readers import file_suffix

    return path.name[: len(path.name) - len(file_suffix(path))]


def _read_mask(path: Path) -> tuple[Any, np.ndarray]:
    from akmamba.io import read_image

    image = read_image(path)
    arr = np.asarray(image.array)
    if image.kind == "2d" and arr.ndim == 3:
        if not all(np.array_equal(arr[..., 0], arr[..., c]) for c in range(1, arr.shape[2])):
            raise ShapeError(f"Label map {str(path)!r} is a colour image with differing channels, shape "
                             f"{arr.shape}; expected one value per pixel (class indices).", path=str(path),
                             expected="(H, W)", got=arr.shape)
        arr = arr[..., 0]
    return image, arr


def _label_names(desc: Any, pred_dir: Path, pairing: Pairing) -> dict[int, str]:
    if desc is not None:
        return {c.index: c.name for c in desc.label_table if c.index > 0}
    table = _model_json(pred_dir).get("label_table") or []
    names = {int(r["index"]): str(r["name"]) for r in table if int(r.get("index", 0)) > 0 and "name" in r}
    if names:
        return names
    top = 1
    for pair in pairing.pairs:
        for path in (pair.pred, pair.gt):
            try:
                arr = to_indices(_read_mask(path)[1], path)
                top = max(top, int(arr.max()) if arr.size else 0)
            except AkmambaError:
                continue  # reported when the pair itself is evaluated
    return {1: "foreground"} if top <= 1 else {k: f"label_{k}" for k in range(1, top + 1)}


#: Types of the ``model.json`` fields that evaluation uses (``akmamba predict`` writes them).
MODEL_JSON_TYPES: dict[str, Any] = {"label_table": list[dict[str, Any]] | None, "label_values": str}
#: Types of a ``model.json`` label-table row's fields, where present.
MODEL_JSON_ROW_TYPES: dict[str, Any] = {"index": int, "name": str, "value_in_file": int | float}


def _model_json(pred_dir: Path) -> dict[str, Any]:
    """The predictions folder's ``model.json`` ({} when there is none), its used fields type-checked.

    Raises:
        ConfigError: the file is not a JSON object, or ``label_table`` / ``label_values`` have the wrong types (the
            label maps could not be interpreted; the message names the file and the field).
    """
    from akmamba.schema import check_type, read_json_object

    path = pred_dir / MODEL_JSON
    if not os.path.lexists(path):
        return {}
    what = "The predictions' model record"
    data = read_json_object(path, what, ConfigError)
    for key, hint in MODEL_JSON_TYPES.items():
        if key in data:
            check_type(data[key], hint, key=key, source=str(path), what=what)
    for i, row in enumerate(data.get("label_table") or []):
        for key, hint in MODEL_JSON_ROW_TYPES.items():
            if key in row:
                check_type(row[key], hint, key=f"label_table[{i}].{key}", source=str(path), what=what)
    if data.get("label_values", "index") not in ("index", "file"):
        raise ConfigError(f"{what} {str(path)!r}: 'label_values' must be 'index' or 'file'; found "
                          f"{data['label_values']!r}. To fix: correct it, or predict into this folder again.",
                          path=str(path), parameter="label_values", expected=["index", "file"],
                          got=data["label_values"])
    return data


def prediction_file_table(pred_dir: Path) -> list[dict[str, Any]] | None:
    """The label table to map ``pred_dir``'s label maps back to indices with, when ``akmamba predict
    --label-values file`` wrote them (its ``model.json``); None when they hold class indices."""
    info = _model_json(pred_dir)
    if info.get("label_values", "index") != "file":
        return None
    table = info.get("label_table")
    return table if isinstance(table, list) else []


def ground_truth_table(pred_dir: Path) -> list[dict[str, Any]] | None:
    """The label table of the model that made ``pred_dir`` (its ``model.json``) when it records the training data's
    file values, so ground truth in that coding (the bladder data's 0/128/255) is mapped to class indices."""
    table = _model_json(pred_dir).get("label_table")
    if not isinstance(table, list) or not all(isinstance(r, dict) and "index" in r for r in table):
        return None
    return table if any("value_in_file" in r for r in table) else None


def evaluate_pair(
    pair: Pair, names: dict[int, str], desc: Any = None, *, cldice: bool = False, thumbnail: bool = False,
    pred_table: list[dict[str, Any]] | None = None, gt_table: list[dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], bytes | None]:
    """Metric rows of one pair (``akmamba.metrics.evaluate_case``) and, if asked, an overlay thumbnail.

    ``pred_table``: the prediction holds file values, mapped to indices through this label table
    (:func:`prediction_file_table`); None: it holds class indices. ``gt_table``: without ``desc``, the ground
    truth's values are mapped through this table (:func:`ground_truth_table`), class indices or file values;
    None: class indices, a 0/255 mask counting as 0/1.

    Raises:
        AkmambaError: unreadable files, sizes that differ, values that are not class indices.
    """
    from akmamba.io import read_image, remap_labels
    from akmamba.metrics import evaluate_case

    _, pred = _read_mask(pair.pred)
    if pred_table is not None:
        from akmamba.infer.label_values import file_values_to_indices

        pred = file_values_to_indices(pred, pred_table, str(pair.pred))
    else:
        pred = to_indices(pred, pair.pred)
    _, gt = _read_mask(pair.gt)
    if desc is not None:
        gt = remap_labels(gt, desc.label_table, path=pair.gt)
    elif gt_table:  # the model's label table (model.json): file values such as 0/128/255, or class indices
        from akmamba.io.labels import to_class_indices

        gt = to_class_indices(gt, gt_table, pair.gt, "auto")
    else:
        gt = to_indices(gt, pair.gt)
    if pred.shape != gt.shape:
        from akmamba.errors import GeometryMismatchError

        raise GeometryMismatchError(
            f"Prediction {str(pair.pred)!r} has shape {pred.shape}, its ground truth {str(pair.gt)!r} "
            f"{gt.shape}. Check that the prediction belongs to this case.",
            path=str(pair.pred), expected=gt.shape, got=pred.shape)
    fov = np.asarray(_read_mask(pair.fov)[1]) > 0 if pair.fov is not None else None
    probs = np.load(pair.probs, allow_pickle=False) if pair.probs is not None else None
    rows = evaluate_case(pred, gt, names, fov=fov, probs=probs, case_id=pair.case, cldice=cldice)
    png = None
    if thumbnail:
        from akmamba.reports import make_overlay_thumbnail

        image = read_image(pair.image).array if pair.image is not None else np.zeros(gt.shape, np.uint8)
        if gt.ndim == 3:  # a volume: show the slice with the most ground-truth foreground
            z = int(np.argmax((gt > 0).reshape(gt.shape[0], -1).sum(1)))
            image = image[z] if image.shape == gt.shape else np.zeros(gt.shape[1:], np.uint8)
            pred, gt = pred[z], gt[z]
        png = make_overlay_thumbnail(image, pred, gt)
    return rows, png


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run the ``evaluate`` command; returns the exit status (0 all pairs evaluated, 2 otherwise)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        _check_outputs(args.out, overwrite=args.overwrite)
        desc = _resolve_dataset(args.dataset) if args.dataset else None
        pairing = find_pairs(args.pred, args.gt, fov_dir=args.fov, probs_dir=args.probs_dir, desc=desc)
        _check_outputs(args.out, _inputs(args, pairing), overwrite=args.overwrite)
        names = _label_names(desc, args.pred, pairing)
        pred_table = prediction_file_table(args.pred)
        gt_table = ground_truth_table(args.pred) if desc is None else None
    except (AkmambaError, OSError) as exc:
        err.write(f"akmamba evaluate: {_message(exc)}\n")
        return EXIT_FAILED
    _report_unpaired(pairing, err)
    rows: list[dict[str, Any]] = []
    thumbs: dict[str, bytes] = {}
    failed: list[str] = []
    for i, pair in enumerate(pairing.pairs, 1):
        err.write(f"\r[{i}/{len(pairing.pairs)}] {pair.case}")
        err.flush()
        try:
            case_rows, png = evaluate_pair(pair, names, desc, cldice=args.cldice,
                                           thumbnail=len(thumbs) < args.max_thumbnails, pred_table=pred_table,
                                           gt_table=gt_table)
        except (AkmambaError, OSError, ValueError) as exc:
            err.write(f"\nakmamba evaluate: {pair.case!r} ({str(pair.pred)!r}): {_message(exc)}\n")
            failed.append(pair.case)
            continue
        rows += case_rows
        if png is not None:
            thumbs[pair.case] = png
    err.write("\n" if pairing.pairs else "")
    if not rows:
        err.write("akmamba evaluate: no pair could be evaluated; no report written.\n")
        return EXIT_FAILED
    report = _build_report(args, desc, pairing, rows, thumbs, failed)
    try:
        _write_reports(report, args.out, pairing, failed)
    except (AkmambaError, OSError) as exc:
        err.write(f"akmamba evaluate: {_message(exc, 'write the report')}\n")
        return EXIT_FAILED
    n_files = len({r["case"] for r in rows})
    if report.per_case:
        n_cases = len({r["case"] for r in report.per_case["cases"]})
        _print_summary(report.summary, names, f"{n_files} files (slices) of {_count(n_cases, 'case')}", out)
        heading = f"{_count(n_cases, 'case')}, each pooled over its slices"
        _print_summary(report.per_case["summary"], names, heading, out, "per-case mean")
    else:
        _print_summary(report.summary, names, _count(n_files, "case"), out)
    return EXIT_FAILED if failed or pairing.ambiguous else EXIT_OK


def _message(exc: BaseException, action: str = "access") -> str:
    error = user_error(exc, action)
    return error.message if error is not None else str(exc)


def _check_outputs(outs: Sequence[Path], inputs: Sequence[Path] = (), *, overwrite: bool = False) -> None:
    """Refuse a report of unknown suffix, one that would replace one of ``inputs`` (even with ``--overwrite``)
    and, without ``--overwrite``, an existing one; before any evaluation, so that nothing is written."""
    from akmamba.io.outputs import check_output
    from akmamba.reports import REPORT_SUFFIXES

    for path in outs:
        if path.suffix.lower() not in REPORT_SUFFIXES:
            raise ConfigError(f"Unknown report suffix {path.suffix!r} for {str(path)!r}; valid: "
                              f"{', '.join(REPORT_SUFFIXES)}.", path=str(path), parameter="out",
                              expected=list(REPORT_SUFFIXES), got=path.suffix)
        check_output(path, inputs, overwrite=overwrite)


def _inputs(args: argparse.Namespace, pairing: Pairing) -> list[Path]:
    """Every file the evaluation reads: the paired files, the predictions' ``model.json`` and the description."""
    files = [f for p in pairing.pairs for f in (p.pred, p.gt, p.fov, p.probs, p.image) if f is not None]
    files.append(args.pred / MODEL_JSON)
    if args.dataset and Path(args.dataset).is_file():
        files.append(Path(args.dataset))
    return files


def _resolve_dataset(spec: str) -> Any:
    from akmamba.io.dataset import resolve_description

    return resolve_description(spec)


def _report_unpaired(pairing: Pairing, err: TextIO) -> None:
    for kind, paths in (("predictions have no ground truth", pairing.pred_only),
                        ("ground-truth files have no prediction", pairing.gt_only)):
        if paths:
            shown = ", ".join(p.name for p in paths[:5]) + (" ..." if len(paths) > 5 else "")
            err.write(f"akmamba evaluate: {len(paths)} {kind} (not evaluated): {shown}\n")
    for text in pairing.ambiguous:
        err.write(f"akmamba evaluate: ambiguous, skipped: {text}\n")


def _build_report(args: argparse.Namespace, desc: Any, pairing: Pairing, rows: list[dict[str, Any]],
                  thumbs: dict[str, bytes], failed: list[str]) -> Any:
    from akmamba.reports import Report, sha256_file

    info = _model_json(args.pred)
    model = {"name": str(info.get("name", "unknown")), "version": str(info.get("version", "unknown")),
             "checksum": str(info.get("sha256", "unknown"))}
    if "tta" in info:  # the test-time augmentation the predictions were made with (akmamba predict --tta)
        model["tta"] = str(info["tta"])
    evaluated = [p for p in pairing.pairs if p.case not in failed]
    files = [f for p in evaluated for f in (p.pred, p.gt, p.fov, p.probs) if f is not None]
    data = {str(f): sha256_file(f) for f in files}
    target = desc.name if desc is not None else str(args.gt)
    title = args.title or f"{model['name']} on {target}"
    if desc is not None and desc.case_id_regex is not None:  # slices of patients: also pool them per case
        from akmamba.io import case_id_of

        return Report.from_rows(title, rows, model, data, thumbs, case_of=lambda stem: case_id_of(desc, stem),
                                case_by=f"{desc.name} case_id.regex {desc.case_id_regex}")
    return Report.from_rows(title, rows, model, data, thumbs)


def _write_reports(report: Any, outs: Sequence[Path], pairing: Pairing, failed: list[str]) -> None:
    from akmamba.reports import atomic_write_bytes, write_report

    for path in outs:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() != ".json":
            write_report(report, path)
            continue
        record = report.to_dict()
        record["unpaired"] = {"pred_without_gt": [str(p) for p in pairing.pred_only],
                              "gt_without_pred": [str(p) for p in pairing.gt_only],
                              "ambiguous": list(pairing.ambiguous), "failed": list(failed)}
        text = json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False)
        atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _print_summary(summary: dict[str, Any], names: dict[int, str], heading: str, out: TextIO,
                   mean_name: str = "per-image mean") -> None:
    out.write(f"{heading}\n")
    for name in names.values():
        s = summary.get(name)
        if not s:
            continue
        mean, pooled = s["per_image_mean"], s["pooled"]
        out.write(f"  {name:<16} Dice {mean_name} {mean['dice']:.4f}  pooled {pooled['dice']:.4f}   "
                  f"IoU {mean_name} {mean['iou']:.4f}  pooled {pooled['iou']:.4f}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m akmamba.infer evaluate ...``: the same as ``akmamba evaluate``."""
    parser = argparse.ArgumentParser(prog="akmamba evaluate", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
