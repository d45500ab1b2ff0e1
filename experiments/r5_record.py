"""Round 5 (issue 21): keep a compact record of a GPU run and print its per-case table for docs/RESULTS.md.

    python3 experiments/r5_record.py RESULTS_DIR/r5-akmamba-f0 --out experiments/results/r5/r5-akmamba-f0.json
    python3 experiments/r5_record.py --table experiments/results/r5/*.json

RESULTS_DIR is what `experiments/gpu_r5.sh collect` brings back (results.tgz, unpacked): the run's config.json,
events.jsonl and the `akmamba evaluate` reports eval-final.json (final averaged weights) and eval-best.json.
For DRIVE (each image its own case) the per-case columns are the validation images.
The record keeps the config, the start and done events, the validation curve and each report's per-case rows
(no thumbnails).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any


def nnunet_record(run: Path) -> dict[str, Any]:
    """The compact record of an nnU-Net run folder (``gpu_r5.sh``'s nnunet-f0: training_log_*.txt, eval-*.json).

    Training seconds are the sum of nnU-Net's "Epoch time" lines; steps are epochs x 250 iterations (its default
    ``num_iterations_per_epoch``); the budget line gives the fitted epoch count.
    """
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(run.glob("training_log_*.txt")))
    epoch_s = [float(m) for m in re.findall(r"Epoch time: ([0-9.]+) s", text)]
    dice = [m for m in re.findall(r"Pseudo dice \[([^\]]*)\]", text)]
    budget = re.findall(r"BUDGET: ([0-9.]+) s/epoch -> num_epochs (\d+)", text)
    out: dict[str, Any] = {
        "run": run.name,
        "config": {"tool": "nnU-Net v2 2d, default plan, nnUNetTrainer_Budget", "budget_line": budget[-1:]},
        "start": {},
        "done": {"train_s": sum(epoch_s), "epochs": len(epoch_s), "steps": 250 * len(epoch_s)},
        "validation": [{"epoch": i, "pseudo_dice": d} for i, d in enumerate(dice)],
        "evaluations": {},
    }
    _add_evaluations(out, run)
    return out


def _add_evaluations(out: dict[str, Any], run: Path) -> None:
    for report in sorted(run.glob("eval-*.json")):
        data = json.loads(report.read_text(encoding="utf-8"))
        # bladder: slices pooled per case ("per_case"); DRIVE: each image is its own case (only "cases")
        rows = (data.get("per_case") or {}).get("cases") or data["cases"]
        out["evaluations"][report.stem[len("eval-"):]] = {"per_case": rows, "model": data.get("model")}


def checkpoint_record(run: Path) -> dict[str, Any]:
    """The record of a run of ours whose folder was lost with its machine but whose final averaged weights came
    back (``collect``'s RUN.safetensors, put in ``run`` as last_ema.safetensors beside the eval-*.json of its
    predictions, made elsewhere): config and step count from the checkpoint's metadata; no training time, no
    validation curve (they were in the lost events.jsonl)."""
    from akmamba.nn.checkpoint import read_metadata

    meta = read_metadata(run / "last_ema.safetensors")
    out: dict[str, Any] = {
        "run": run.name,
        "config": meta["train_config"],
        "start": {},
        "done": {"train_s": None, "steps": meta["step"], "epoch": meta["epoch"],
                 "source": "checkpoint metadata (the run folder was lost with the machine)",
                 "weights_sha256": meta["weights_sha256"]},
        "validation": [],
        "evaluations": {},
    }
    _add_evaluations(out, run)
    return out


def record(run: Path) -> dict[str, Any]:
    """The compact record of one run folder (ours: config.json + events.jsonl, or only its final weights, see
    :func:`checkpoint_record`; else nnU-Net's, see above)."""
    if not (run / "events.jsonl").is_file():
        return checkpoint_record(run) if (run / "last_ema.safetensors").is_file() else nnunet_record(run)
    events = [json.loads(line) for line in (run / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    out: dict[str, Any] = {
        "run": run.name,
        "config": json.loads((run / "config.json").read_text(encoding="utf-8")),
        "start": next(e for e in events if e["event"] == "start"),
        "done": next(e for e in events if e["event"] == "done"),
        "validation": [{k: e[k] for k in ("epoch", "step", "dice_pooled", "dice_per_image")}
                       for e in events if e["event"] == "validation"],
        "evaluations": {},
    }
    _add_evaluations(out, run)
    return out


def table(records: list[dict[str, Any]], which: str = "final") -> str:
    """Markdown: Dice per case (pooled over the case's slices) and the per-case mean, per label, per run."""
    lines = ["| run | weights | training s | steps | label | " + " | ".join(
        f"case {c}" for c in _cases(records, which)) + " | per-case mean |", ""]
    lines[1] = "|" + "---|" * (lines[0].count("|") - 1)
    for rec in records:
        rows = rec["evaluations"].get(which, {}).get("per_case", [])
        for label in sorted({r["label_name"] for r in rows}):
            dice = {r["case"]: 100 * r["dice"] for r in rows if r["label_name"] == label}
            cells = [f"{dice[c]:.1f}" if c in dice else "" for c in _cases(records, which)]
            mean = sum(dice.values()) / len(dice)
            done = rec["done"]
            train_s = "-" if done["train_s"] is None else f"{done['train_s']:.0f}"
            lines.append(f"| {rec['run']} | {which} | {train_s} | {done['steps']} | {label} | "
                         + " | ".join(cells) + f" | {mean:.1f} |")
    return "\n".join(lines)


def _cases(records: list[dict[str, Any]], which: str) -> list[str]:
    cases = {r["case"] for rec in records for r in rec["evaluations"].get(which, {}).get("per_case", [])}
    return sorted(cases, key=lambda c: (len(c), c))


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--table", action="store_true")
    a = p.parse_args(argv)
    if a.table:
        print(table([json.loads(x.read_text(encoding="utf-8")) for x in a.paths]))
        return 0
    rec = record(a.paths[0])
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(rec, indent=1), encoding="utf-8")
    print(table([rec]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
