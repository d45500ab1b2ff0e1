"""Where a prompt-eval report's clicks stop (docs/prompt.md, "Where the clicks stop"): NoC at several Dice targets
read from the same runs, and each slice's best Dice against the size of its structure.

The simulated user stops at the report's target (0.85) or after its click limit, so every Dice curve holds the
first click at which any lower target was reached: NoC@80 is read from the NoC@85 runs without running them again.

    python experiments/noc_ceiling.py REPORT.json [REPORT.json ...] [--targets 0.8 0.85] [--labels DIR]

With ``--labels`` (the dataset's label PNGs), each label's slices are also split at the median structure size
(pixels of that label in the truth), and for each half the mean NoC and the share of slices whose best Dice over
all clicks stays below the target.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def noc_at(dice_after: list[float], target: float, limit: int) -> int:
    """Clicks until ``dice_after[k] >= target`` (``k`` clicks), ``limit + 1`` when never reached."""
    return next((k for k, d in enumerate(dice_after) if d >= target), limit + 1)


def ceiling_rows(report: dict[str, Any], targets: list[float],
                 sizes: dict[tuple[str, str], int] | None = None) -> list[dict[str, Any]]:
    """Per label: mean NoC at each target, the mean best Dice, and (with ``sizes``: ``(image, label) -> pixels``) the
    same for the smaller and larger half of the slices.

    Raises:
        ValueError: a target above the report's own (its runs stopped there; a higher one cannot be read).
    """
    protocol = report["protocol"]
    limit, own = int(protocol["max_clicks"]), float(protocol["target"])
    if any(t > own for t in targets):
        raise ValueError(f"targets above the report's {own} cannot be read from its runs (they stopped at {own})")
    per_label: dict[str, list[tuple[str, list[float]]]] = {}
    for row in report["images"]:
        for label, res in row["labels"].items():
            per_label.setdefault(label, []).append((row["image"], [float(d) for d in res["dice_after"]]))
    out = []
    for label, runs in per_label.items():
        groups: dict[str, list[tuple[str, list[float]]]] = {"all": runs}
        if sizes is not None:
            ranked = sorted(runs, key=lambda r: sizes[(r[0], label)])
            half = len(ranked) // 2
            groups |= {"smaller half": ranked[:half], "larger half": ranked[half:]}
        for group, chosen in groups.items():
            if not chosen:
                continue
            row_out: dict[str, Any] = {"label": label, "slices": group, "n": len(chosen)}
            for t in targets:
                row_out[f"noc@{round(100 * t)}"] = statistics.fmean(noc_at(d, t, limit) for _, d in chosen)
            row_out["best_dice"] = statistics.fmean(max(d) for _, d in chosen)
            row_out["never_reached"] = sum(max(d) < own for _, d in chosen) / len(chosen)
            if sizes is not None:
                row_out["median_px"] = statistics.median(sizes[(name, label)] for name, _ in chosen)
            out.append(row_out)
    return out


def label_sizes(report: dict[str, Any], labels_dir: Path, dataset: str = "bladder") -> dict[tuple[str, str], int]:
    """``(image, label) -> pixels of that label`` in the truth PNGs, read through the dataset description's label
    table (akmamba.io.dataset.remap_labels: file values to class indices)."""
    import numpy as np
    from PIL import Image

    from akmamba.io.dataset import remap_labels
    from akmamba.train.engine import resolve_dataset

    table = resolve_dataset(dataset).label_table
    index = {c.name: c.index for c in table}
    sizes = {}
    for row in report["images"]:
        path = labels_dir / f"{row['image']}.png"
        truth = remap_labels(np.asarray(Image.open(path)), table, path=path)
        for label in row["labels"]:
            sizes[(row["image"], label)] = int((truth == index[label]).sum())
    return sizes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reports", nargs="+", type=Path)
    p.add_argument("--targets", nargs="+", type=float, default=[0.8, 0.85])
    p.add_argument("--labels", type=Path, help="label PNGs (BladderMRI/Labels) for the split by structure size")
    p.add_argument("--dataset", default="bladder", help="the dataset description whose label table reads them")
    args = p.parse_args(argv)
    heads = [f"NoC@{round(100 * t)}" for t in args.targets]
    print("| report | label | slices | n | " + " | ".join(heads) + " | best Dice | best < target | median px |")
    print("|---|---|---|---|" + "---|" * len(heads) + "---|---|---|")
    for path in args.reports:
        report = json.loads(path.read_text(encoding="utf-8"))
        sizes = label_sizes(report, args.labels, args.dataset) if args.labels else None
        for r in ceiling_rows(report, args.targets, sizes):
            nocs = " | ".join(f"{r[f'noc@{round(100 * t)}']:.2f}" for t in args.targets)
            px = f"{r['median_px']:.0f}" if "median_px" in r else "-"
            print(f"| {path.stem} | {r['label']} | {r['slices']} | {r['n']} | {nocs} | {100 * r['best_dice']:.1f} | "
                  f"{100 * r['never_reached']:.0f} % | {px} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
