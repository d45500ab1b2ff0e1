"""Issue 21: per-fold paired tables of the shipped recipes against the nnU-Net anchor, from the collected records.

    python3 experiments/anchor_table.py [--dataset bladder|drive]

Per fold of the 3-fold split by case: the per-case mean Dice of the wall and the tumour (each case pooled over its
validation slices, the unit of docs/RESULTS.md "At a glance"), their mean, and each row's difference from
nnU-Net's in the same fold. Rows:

* nnU-Net v2 2d at 240 s on one H100 (experiments/results/r5/nnunet-f*.json, final weights);
* Akmamba-Net, round-5 recipe, 240 s on one H100 (experiments/results/r5/r5-akmamba-f*-240s.json, final averaged
  weights; fold 0's first run);
* the shipped recipe `combo-ema-long` (2500 steps, 700-780 s of an H100 shared by 8 runs), Akmamba-Net
  and U-Net, final averaged weights (experiments/results/r4-bladder-*-combo-ema-long-final-f*.json): the recipe of
  the shipped `akmamba-bladder` and `unet-bladder`, **not** at equal GPU time with the anchor.

DRIVE (``--dataset drive``): per fold of the 5-fold split by image, the per-image mean vessel Dice inside the FOV
(DRIVE's figure), and each row's difference from nnU-Net's in the same fold. Rows: nnU-Net v2 2d at 110 s on one
H100 (experiments/results/r5/drive-nnunet-f*.json, folds 0-1 only); the shipped recipe `ema-long` fitted to 240 s
of one H100 alone (experiments/results/r5/drive-el-r5-akmamba-f*-240s.json, seventh lease, fold 0; nnU-Net's 240 s
run of that lease did not finish); and the shipped recipe's round-4 fold runs (3000 steps, about 980 s of an H100
shared by several runs), Akmamba-Net and U-Net, final averaged weights
(experiments/results/r4-drive-*-ema-long-final-f*.json). None of the DRIVE rows is at equal GPU time.

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
DRIVE_ROWS: tuple[tuple[str, str], ...] = (
    ("nnU-Net v2 2d, 110 s", "r5/drive-nnunet-f{k}.json"),
    ("Akmamba-Net, shipped recipe (ema-long), 240 s", "r5/drive-el-r5-akmamba-f{k}-240s.json"),
    ("Akmamba-Net, shipped recipe (ema-long)", "r4-drive-akmamba-ema-long-final-f{k}.json"),
    ("U-Net, shipped recipe (ema-long)", "r4-drive-unet-ema-long-final-f{k}.json"),
)
EQUAL_TIME = {"r5/r5-akmamba-f{k}-240s.json"}  # the rows trained for the anchor's own budget on the same machine
DATASETS: dict[str, dict[str, Any]] = {  # rows, folds, the card's wording
    "bladder": {"rows": ROWS, "folds": 3, "split": "the same folds by case",
                "unit": "per-case mean Dice in % (wall, tumour, their mean)",
                "what": "mean of wall and tumour per-case Dice"},
    "drive": {"rows": DRIVE_ROWS, "folds": 5, "split": "the same folds by image",
              "unit": "per-image mean vessel Dice in % inside the FOV", "what": "per-image vessel Dice"},
}


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


def drive_fold_row(path: Path) -> tuple[float] | None:
    """``(vessel,)``: the per-image mean vessel Dice in % of one DRIVE report (a round-5 record's ``final``
    evaluation or a round-4 report's summary), None when it does not exist."""
    if not path.is_file():
        return None
    report = json.loads(path.read_text(encoding="utf-8"))
    if "evaluations" in report:
        return (100 * statistics.fmean(float(r["dice"]) for r in report["evaluations"]["final"]["per_case"]
                                       if r["label_name"] == "vessel"),)
    return (100 * float(report["summary"]["vessel"]["per_image_mean"]["dice"]),)


def _row(path: Path, dataset: str) -> tuple[float, ...] | None:
    """The fold's figures, the last of them the one compared (bladder: wall, tumour, mean; DRIVE: vessel)."""
    return fold_row(path) if dataset == "bladder" else drive_fold_row(path)


def paired(pattern: str, results: Path | None = None, dataset: str = "bladder") -> dict[str, Any]:
    """A model card's record of the fold runs ``pattern`` (a row of ``DATASETS[dataset]``) against nnU-Net, fold by
    fold.

    Returns:
        ``{"anchor", "this", "unit", "what", "folds": [{"fold", "nnunet", "this", "difference"}], "mean_difference",
        "equal_gpu_time", "records"}``; ``nnunet`` and ``this`` are the fold's figures in % (bladder: ``[wall,
        tumour, mean]`` per-case mean Dice; DRIVE: ``[vessel]`` per-image mean Dice), ``difference`` this row's last
        figure minus nnU-Net's (folds where both records exist).

    Raises:
        KeyError: ``pattern`` is not a row of the dataset's table. FileNotFoundError: no fold has both records.
    """
    root = RESULTS if results is None else results
    spec = DATASETS[dataset]
    rows = spec["rows"]
    names = {pat: name for name, pat in rows}
    if pattern not in names or pattern == rows[0][1]:
        raise KeyError(f"{pattern!r} is not one of the {dataset} table's rows: {[pat for _, pat in rows[1:]]}")
    folds, records, diffs = [], [], []
    for k in range(spec["folds"]):
        mine, anchor = root / pattern.format(k=k), root / rows[0][1].format(k=k)
        a, m = _row(anchor, dataset), _row(mine, dataset)
        if a is None or m is None:
            continue
        folds.append({"fold": k, "nnunet": [round(v, 2) for v in a], "this": [round(v, 2) for v in m],
                      "difference": round(m[-1] - a[-1], 3)})
        diffs.append((m[-1], a[-1]))
        records += [str(anchor.relative_to(root)), str(mine.relative_to(root))]
    if not folds:
        raise FileNotFoundError(f"no fold has both {rows[0][1]} and {pattern} in {root}")
    return {"anchor": f"{rows[0][0]} on one H100, default plan, {spec['split']}",
            "this": names[pattern], "unit": spec["unit"], "what": spec["what"], "folds": folds,
            "mean_difference": round(statistics.fmean(mine_v - anchor_v for mine_v, anchor_v in diffs), 3),
            "equal_gpu_time": pattern in EQUAL_TIME, "records": records}


def table(dataset: str = "bladder") -> str:
    """The markdown table (one line per row and fold, then each row's mean over folds and its paired differences)."""
    spec = DATASETS[dataset]
    rows, n = spec["rows"], spec["folds"]
    first = "fold 0: wall / tumour (mean)" if dataset == "bladder" else "fold 0: vessel"
    lines = [f"| model | {first} | " + " | ".join(f"fold {k}" for k in range(1, n))
             + " | mean over folds | minus nnU-Net, fold by fold | minus nnU-Net, mean |",
             "|---|" + "---|" * (n + 3)]
    anchor = [_row(RESULTS / rows[0][1].format(k=k), dataset) for k in range(n)]
    for name, pattern in rows:
        folds = [_row(RESULTS / pattern.format(k=k), dataset) for k in range(n)]
        cells = [("-" if f is None else f"{f[0]:.1f} / {f[1]:.1f} ({f[2]:.1f})" if len(f) == 3 else f"{f[0]:.1f}")
                 for f in folds]
        done = [f for f in folds if f]
        mean = f"{statistics.fmean(f[-1] for f in done):.1f}" if done else "-"
        diffs = [f[-1] - a[-1] for f, a in zip(folds, anchor, strict=True) if f and a]
        diff_cells = ", ".join(f"{d:+.1f}" for d in diffs) if diffs and pattern != rows[0][1] else "-"
        diff_mean = f"{statistics.fmean(diffs):+.1f}" if diffs and pattern != rows[0][1] else "-"
        lines.append(f"| {name} | {' | '.join(cells)} | {mean} | {diff_cells} | {diff_mean} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="bladder")
    print(table(parser.parse_args().dataset))
