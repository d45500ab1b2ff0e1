"""Issue 21: per-fold paired table of the bladder models against the nnU-Net anchor, from the collected records.

    python3 experiments/anchor_table.py

Per fold of the 3-fold split by case: the per-case mean Dice of the wall and the tumour (each case pooled over its
validation slices, the unit of docs/RESULTS.md "At a glance"), their mean, and each row's difference from
nnU-Net's in the same fold. Rows:

* nnU-Net v2 2d at 240 s on one H100 (experiments/results/r5/nnunet-f*.json, final weights);
* Akmamba-Net, round-5 recipe, 240 s on one H100 (experiments/results/r5/r5-akmamba-f*-240s.json, final averaged
  weights; fold 0's first run);
* the shipped recipe `combo-ema-long` (2500 steps, 700-780 s of an H100 shared by 8 runs), Akmamba-Net
  and U-Net, final averaged weights (experiments/results/r4-bladder-*-combo-ema-long-final-f*.json): the recipe of
  the shipped `akmamba-bladder` and `unet-bladder`, **not** at equal GPU time with the anchor.

Nothing is typed in: every figure is computed from the reports' per-case counts or Dice.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
LABELS = ("bladder_wall", "tumor")
ROWS: tuple[tuple[str, str], ...] = (
    ("nnU-Net v2 2d, 240 s", "r5/nnunet-f{k}.json"),
    ("Akmamba-Net, round-5 recipe, 240 s", "r5/r5-akmamba-f{k}-240s.json"),
    ("Akmamba-Net, shipped recipe (combo-ema-long)", "r4-bladder-akmamba-combo-ema-long-final-f{k}.json"),
    ("U-Net, shipped recipe (combo-ema-long)", "r4-bladder-unet-combo-ema-long-final-f{k}.json"),
)


def per_case_dice(report: dict[str, Any]) -> dict[str, dict[str, float]]:
    """``{label name: {case: Dice in %}}`` of a round-5 record (its ``final`` evaluation) or a round-4 report
    (``per_case`` counts ``[tp, fp, fn]``)."""
    if "evaluations" in report:
        out: dict[str, dict[str, float]] = {name: {} for name in LABELS}
        for row in report["evaluations"]["final"]["per_case"]:
            if row["label_name"] in out:
                out[row["label_name"]][str(row["case"])] = 100 * float(row["dice"])
        return out
    counts = report["per_case"]
    return {name: {case: 100 * 2 * tp / max(2 * tp + fp + fn, 1) for case, (tp, fp, fn) in counts[name].items()}
            for name in LABELS}


def fold_row(path: Path) -> tuple[float, float, float] | None:
    """``(wall, tumour, mean)`` per-case means of one report, None when it does not exist."""
    if not path.is_file():
        return None
    dice = per_case_dice(json.loads(path.read_text(encoding="utf-8")))
    wall, tumour = (statistics.fmean(dice[name].values()) for name in LABELS)
    return wall, tumour, (wall + tumour) / 2


def paired(pattern: str, results: Path | None = None) -> dict[str, Any]:
    """A model card's record of the fold runs ``pattern`` (a ``ROWS`` pattern) against nnU-Net, fold by fold.

    Returns:
        ``{"anchor", "this", "unit", "folds": [{"fold", "nnunet", "this", "difference"}], "mean_difference",
        "equal_gpu_time", "records"}``; ``nnunet`` and ``this`` are ``[wall, tumour, mean]`` per-case mean Dice in
        %, ``difference`` this row's mean minus nnU-Net's (folds where both records exist).

    Raises:
        KeyError: ``pattern`` is not a row of ``ROWS``. FileNotFoundError: no fold has both records.
    """
    root = RESULTS if results is None else results
    names = {pat: name for name, pat in ROWS}
    if pattern not in names or pattern == ROWS[0][1]:
        raise KeyError(f"{pattern!r} is not one of the table's rows: {[pat for _, pat in ROWS[1:]]}")
    folds, records = [], []
    for k in range(3):
        mine, anchor = root / pattern.format(k=k), root / ROWS[0][1].format(k=k)
        a, m = fold_row(anchor), fold_row(mine)
        if a is None or m is None:
            continue
        folds.append({"fold": k, "nnunet": [round(v, 2) for v in a], "this": [round(v, 2) for v in m],
                      "difference": round(m[2] - a[2], 2)})
        records += [str(anchor.relative_to(root)), str(mine.relative_to(root))]
    if not folds:
        raise FileNotFoundError(f"no fold has both {ROWS[0][1]} and {pattern} in {root}")
    return {"anchor": ROWS[0][0] + " on one H100, default plan, the same folds by case",
            "this": names[pattern], "unit": "per-case mean Dice in % (wall, tumour, their mean)", "folds": folds,
            "mean_difference": round(statistics.fmean(f["difference"] for f in folds), 2),
            "equal_gpu_time": pattern.startswith("r5/"), "records": records}


def table() -> str:
    """The markdown table (one line per row and fold, then each row's mean over folds and its paired differences)."""
    lines = ["| model | fold 0: wall / tumour (mean) | fold 1 | fold 2 | mean over folds | minus nnU-Net, fold by "
             "fold | minus nnU-Net, mean |", "|---|---|---|---|---|---|---|"]
    anchor = [fold_row(RESULTS / ROWS[0][1].format(k=k)) for k in range(3)]
    for name, pattern in ROWS:
        folds = [fold_row(RESULTS / pattern.format(k=k)) for k in range(3)]
        cells = [f"{f[0]:.1f} / {f[1]:.1f} ({f[2]:.1f})" if f else "-" for f in folds]
        done = [f for f in folds if f]
        mean = f"{statistics.fmean(f[2] for f in done):.1f}" if done else "-"
        diffs = [f[2] - a[2] for f, a in zip(folds, anchor, strict=True) if f and a]
        diff_cells = ", ".join(f"{d:+.1f}" for d in diffs) if diffs and pattern != ROWS[0][1] else "-"
        diff_mean = f"{statistics.fmean(diffs):+.1f}" if diffs and pattern != ROWS[0][1] else "-"
        lines.append(f"| {name} | {' | '.join(cells)} | {mean} | {diff_cells} | {diff_mean} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
