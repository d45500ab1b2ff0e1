"""Turn experiment results into the tables of docs/RESULTS.md.

    python3 experiments/summarise.py --collect RUNS_DIR [RUNS_DIR ...]   # compact JSON per run -> experiments/results
    python3 experiments/summarise.py > docs/RESULTS_tables.md           # tables from experiments/results

A later RUNS_DIR wins over an earlier one for the same run name (round 2 reran some runs of round 1). Only
completed evaluations are kept; every number comes from an ``akmamba evaluate`` report.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent / "results"
PAPER = {  # Tables 1-2 of the paper (Precision / Dice / IoU, %), from ../shared/docs/paper.md
    "drive": {"unet": (95.61, 82.22, 71.23), "attention_unet": (95.32, 80.94, 71.15), "unetpp": (95.64, 81.92, 70.95),
              "unet3plus": (97.03, 80.32, 71.04), "transunet": (97.16, 82.32, 70.97), "akmamba": (97.21, 82.57, 71.93)},
    "bladder": {"unet": (81.12, 85.67, 74.93), "attention_unet": (80.60, 89.23, 80.52), "unetpp": (87.14, 80.12, 67.83),
                "unet3plus": (85.65, 87.65, 78.12), "transunet": (86.32, 86.43, 75.65), "akmamba": (89.64, 89.98, 81.65),
                "unet_akconv": (87.34, 87.32, 77.24), "unet_mambaout": (88.72, 88.02, 79.01)},
}
NAMES = {"unet": "U-Net", "attention_unet": "Attention U-Net", "unetpp": "UNet++", "unet3plus": "UNet 3+",
         "transunet": "TransUNet", "unet_akconv": "U-Net + AKConv", "unet_mambaout": "U-Net + Mamba-out",
         "akmamba": "Akmamba-Net (AKConv + Mamba-out)"}
METRICS = ["precision", "recall", "specificity", "accuracy", "dice", "iou", "auc"]


def collect(dirs: list[Path]) -> None:
    HERE.mkdir(exist_ok=True)
    for d in dirs:
        for events in sorted(d.glob("*/*/events.jsonl")):
            run = events.parent
            done = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines() if '"done"' in line]
            start = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines() if '"start"' in line]
            rec = {"run": run.name, "source": str(run), "done": done[-1] if done else None,
                   "start": start[-1] if start else None,
                   "commands": (run / "commands.txt").read_text(encoding="utf-8").splitlines()
                   if (run / "commands.txt").is_file() else [],
                   "config": json.loads((run / "config.json").read_text(encoding="utf-8"))}
            if (run / "eval.json").is_file():
                ev = json.loads((run / "eval.json").read_text(encoding="utf-8"))
                rec["summary"], rec["cases"] = ev["summary"], [c.get("case") for c in ev.get("cases", [])]
            (HERE / f"{run.name}.json").write_text(json.dumps(rec, indent=1), encoding="utf-8")


def load() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(HERE.glob("*.json"))}


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def table(dataset: str, label: str, runs: dict[str, dict], kind: str, models: list[str]) -> str:
    head = "| Model | folds | steps | " + " | ".join(m.capitalize() if m != "recall" else "Sensitivity"
                                                  for m in METRICS) + " | paper P / Dice / IoU |"
    lines = [head, "|" + "---|" * (len(METRICS) + 4)]
    for model in models:
        folds = [r for n, r in runs.items() if n.startswith(f"{dataset}-{model}-f") and "summary" in r]
        if not folds:
            continue
        steps = sorted({r["done"]["steps"] for r in folds})
        cells = []
        for m in METRICS:
            vals = [r["summary"][label][kind].get(m) for r in folds]
            cells.append(_fmt([v for v in vals if v is not None]))
        paper = PAPER[dataset].get(model)
        lines.append(f"| {NAMES[model]} | {len(folds)} | {'/'.join(map(str, steps))} | " + " | ".join(cells)
                     + f" | {' / '.join(map(str, paper)) if paper else '-'} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--collect", nargs="*", type=Path)
    args = p.parse_args()
    if args.collect:
        collect(args.collect)
        return
    runs = load()
    models = ["unet", "attention_unet", "unetpp", "unet3plus", "transunet", "unet_akconv", "unet_mambaout", "akmamba"]
    out = ["## DRIVE, vessels inside the FOV, threshold 0.5 (per-image mean over each fold's validation images; "
           "mean ± sd over folds)", table("drive", "vessel", runs, "per_image_mean", models),
           "", "## DRIVE, pooled over each fold's validation pixels", table("drive", "vessel", runs, "pooled", models)]
    for label in ("bladder_wall", "tumor", "mean_over_labels"):
        out += ["", f"## Bladder MRI, {label}: pooled over each fold's validation slices (mean ± sd over folds)",
                table("bladder", label, runs, "pooled", models),
                "", f"## Bladder MRI, {label}: per-slice mean (a slice with neither truth nor prediction counts 1)",
                table("bladder", label, runs, "per_image_mean", models)]
    out += ["", "## Runs", "| run | steps | stopped by | training s | validation cases |", "|---|---|---|---|---|"]
    for name, r in runs.items():
        d = r["done"] or {}
        out.append(f"| {name} | {d.get('steps')} | {d.get('stopped_by')} | {d.get('elapsed_s', 0):.0f} | "
                   f"{len(r.get('cases', [])) or '-'} |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
