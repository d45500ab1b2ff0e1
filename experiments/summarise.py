"""Turn experiment results into the tables of docs/RESULTS.md.

    python3 experiments/summarise.py --collect RUNS_DIR [RUNS_DIR ...]   # compact JSON per run -> experiments/results
    python3 experiments/summarise.py > docs/RESULTS_tables.md           # tables from experiments/results

A later RUNS_DIR wins over an earlier one for the same run name (round 2 reran some runs of round 1). Only
completed evaluations are kept; every number comes from an ``akmamba evaluate`` report. Round-3 runs (their
RUN/run.json names a recipe, experiments/plan.py ``RECIPES_R3``) go into separate ablation tables with a recipe
column; their steps, EMA decay and test-time augmentation are read from what ran (the done event, config.json
and the evaluate report), not from the plan, and each row's Dice is compared with the ``base`` row fold by fold.
Round-4 runs (names ``r4-``, ``RECIPES_R4``) get their own bladder tables the same way, with the loss,
oversampling, patch size and checkpoint-selection metric as run (from config.json), and per-case tables: each
record keeps the evaluate report's pixel counts summed per case (``per_case``), from which the Dice of every
bladder case in its validation fold is shown, recipe by recipe.
Round-4 DRIVE runs (names ``r4-drive-``, ``RECIPES_R4_DRIVE``) get their own tables beside round 3's ``base`` and
``ema-long`` rows, with the input normalisation (config.json) and the checkpoint file evaluated (the ``predict``
command in commands.txt) as run, each row compared with its reference recipe and with ``base`` fold by fold.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # akmamba, when run from a checkout

from plan import RECIPES_R3, RECIPES_R4, RECIPES_R4_DRIVE

HERE = Path(__file__).resolve().parent / "results"
PAPER = {  # Tables 1-2 of the paper (Precision / Dice / IoU, %), from ../shared/docs/paper.md
    "drive": {"unet": (95.61, 82.22, 71.23), "attention_unet": (95.32, 80.94, 71.15), "unetpp": (95.64, 81.92, 70.95),
              "unet3plus": (97.03, 80.32, 71.04), "transunet": (97.16, 82.32, 70.97), "akmamba": (97.21, 82.57, 71.93)},
    "bladder": {"unet": (81.12, 85.67, 74.93), "attention_unet": (80.60, 89.23, 80.52), "unetpp": (87.14, 80.12, 67.83),
                "unet3plus": (85.65, 87.65, 78.12), "transunet": (86.32, 86.43, 75.65),
                "akmamba": (89.64, 89.98, 81.65), "unet_akconv": (87.34, 87.32, 77.24),
                "unet_mambaout": (88.72, 88.02, 79.01)},
}
NAMES = {"unet": "U-Net", "attention_unet": "Attention U-Net", "unetpp": "UNet++", "unet3plus": "UNet 3+",
         "transunet": "TransUNet", "unet_akconv": "U-Net + AKConv", "unet_mambaout": "U-Net + Mamba-out",
         "akmamba": "Akmamba-Net (AKConv + Mamba-out)"}
METRICS = ["precision", "recall", "specificity", "accuracy", "dice", "iou", "auc"]


def collect(dirs: list[Path], into: Path = HERE) -> None:
    """Write one compact JSON record per run folder ``DIR/<dataset>/<run>`` of each of ``dirs`` into ``into``."""
    into.mkdir(exist_ok=True)
    for d in dirs:
        runs = sorted({p.parent for p in (*d.glob("*/*/events.jsonl"), *d.glob("*/*/run.json"))})
        for run in runs:
            rec = record(run)
            if rec is not None:
                (into / f"{run.name}.json").write_text(json.dumps(rec, indent=1), encoding="utf-8")


def record(run: Path) -> dict[str, Any] | None:
    """The record of one run folder; an evaluation-only run (run.json ``checkpoint_of``) takes the training facts
    (done and start events, config) of the run whose checkpoint it evaluated. None when nothing was trained."""
    plan = json.loads((run / "run.json").read_text(encoding="utf-8")) if (run / "run.json").is_file() else None
    trained = run.parent / plan["checkpoint_of"] if plan and plan.get("checkpoint_of") else run
    if not (trained / "events.jsonl").is_file() or not (trained / "config.json").is_file():
        return None
    lines = (trained / "events.jsonl").read_text(encoding="utf-8").splitlines()
    done = [json.loads(line) for line in lines if '"done"' in line]
    start = [json.loads(line) for line in lines if '"start"' in line]
    rec: dict[str, Any] = {"run": run.name, "source": str(run), "done": done[-1] if done else None,
                           "start": start[-1] if start else None,
                           "commands": (run / "commands.txt").read_text(encoding="utf-8").splitlines()
                           if (run / "commands.txt").is_file() else [],
                           "config": json.loads((trained / "config.json").read_text(encoding="utf-8"))}
    if plan is not None:
        rec["plan"] = plan
    if trained != run:
        rec["trained_by"] = trained.name
    if (run / "eval.json").is_file():
        ev = json.loads((run / "eval.json").read_text(encoding="utf-8"))
        rec["summary"], rec["cases"] = ev["summary"], [c.get("case") for c in ev.get("cases", [])]
        rec["tta"] = ev.get("model", {}).get("tta", "none")  # absent before akmamba predict had --tta
        rec["per_case"] = per_case_counts(ev.get("cases", []))
    return rec


def case_id(name: str) -> str:
    """The case an evaluated file belongs to: a bladder slice ``12-IM21`` -> ``12``; a name without ``-`` (a
    DRIVE image) is its own case."""
    return name.split("-", 1)[0]


def per_case_counts(cases: list[dict]) -> dict[str, dict[str, list[int]]]:
    """Pixel counts summed over each case's files, per label: {label name: {case: [tp, fp, fn]}}, from the per-file
    rows of an ``akmamba evaluate`` report (pooled by ``akmamba.metrics.pool_rows``; rows without counts are left
    out)."""
    from akmamba.metrics import pool_rows

    keys = ("case", "label", "label_name", "n_pixels", "tp", "fp", "fn", "tn")
    out: dict[str, dict[str, list[int]]] = {}
    for r in pool_rows([c for c in cases if all(k in c for k in keys)], case_id):
        out.setdefault(r["label_name"], {})[r["case"]] = [r["tp"], r["fp"], r["fn"]]
    return out


def load(where: Path = HERE) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(where.glob("*.json"))}


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.mean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def _fmt_delta(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{100 * values[0]:+.2f} (1 fold)"
    return f"{100 * statistics.mean(values):+.2f} ± {100 * statistics.stdev(values):.2f} ({len(values)} folds)"


def _metric_cells(folds: list[dict], label: str, kind: str) -> list[str]:
    cells = []
    for m in METRICS:
        vals = [r["summary"][label][kind].get(m) for r in folds]
        cells.append(_fmt([v for v in vals if v is not None]))
    return cells


def _head(first: str) -> str:
    return f"| {first} | " + " | ".join(m.capitalize() if m != "recall" else "Sensitivity" for m in METRICS)


def table(dataset: str, label: str, runs: dict[str, dict], kind: str, models: list[str]) -> str:
    head = _head("Model | folds | steps") + " | paper P / Dice / IoU |"
    lines = [head, "|" + "---|" * (len(METRICS) + 4)]
    for model in models:
        folds = [r for n, r in runs.items() if n.startswith(f"{dataset}-{model}-f") and "summary" in r]
        if not folds:
            continue
        steps = sorted({r["done"]["steps"] for r in folds})
        cells = _metric_cells(folds, label, kind)
        paper = PAPER[dataset].get(model)
        lines.append(f"| {NAMES[model]} | {len(folds)} | {'/'.join(map(str, steps))} | " + " | ".join(cells)
                     + f" | {' / '.join(map(str, paper)) if paper else '-'} |")
    return "\n".join(lines)


def _as_run_r3(recs: list[dict]) -> list[str]:
    """EMA decay and test-time augmentation of round-3 runs, as run."""
    return ["/".join(sorted({str(r["config"].get("ema_decay") or "-") for r in recs})),
            "/".join(sorted({r.get("tta", "none") for r in recs}))]


def _as_run_r4(recs: list[dict]) -> list[str]:
    """Loss, oversampling, patch size, checkpoint selection, EMA decay, the checkpoint evaluated and test-time
    augmentation of round-4 runs, as run."""
    def cell(fn) -> str:
        return "/".join(sorted({fn(r["config"]) for r in recs}))

    return [cell(lambda c: c.get("loss", "dice_ce")),
            cell(lambda c: f"class {c['oversample_class']} x{c['oversample_factor']}"
                 if c.get("oversample_class") is not None and c.get("oversample_factor", 1) > 1 else "-"),
            cell(lambda c: "x".join(map(str, c["patch_size"])) if c.get("patch_size") else "whole"),
            cell(lambda c: c.get("val_metric", "per_image")),
            *_as_run_r3(recs)[:1],
            "/".join(sorted({_CHECKPOINT_CELL.get(evaluated_file(r), evaluated_file(r)) for r in recs})),
            *_as_run_r3(recs)[1:]]


#: Per round: recipe table, the "as run" columns and the function that fills them.
ROUNDS: dict[int, tuple[dict, str, Any]] = {
    3: (RECIPES_R3, "EMA | TTA", _as_run_r3),
    4: (RECIPES_R4, "loss | oversample | patch | selection | EMA | checkpoint | TTA", _as_run_r4),
}


def _round_runs(runs: dict[str, dict], dataset: str, round_: int) -> list[dict]:
    """The evaluated, finished runs of a recipe round (names ``r<round>-``) on ``dataset``."""
    return [r for r in runs.values() if (r.get("plan") or {}).get("recipe") and r["plan"]["dataset"] == dataset
            and str(r["plan"].get("name", "")).startswith(f"r{round_}-") and "summary" in r and r.get("done")]


def ablation_table(dataset: str, label: str, runs: dict[str, dict], kind: str, round_: int = 3) -> str:
    """Round-3 (or round-4) rows (one per model and recipe) in the format of :func:`table`, with the recipe, what
    it ran with (round 3: EMA decay and test-time augmentation; round 4: loss, oversampling, patch, selection), and
    the Dice difference to the ``base`` recipe paired by fold (round 4: first to the row's ``reference`` recipe)."""
    recipes, columns, as_run = ROUNDS[round_]
    with_ref = round_ == 4  # round 4's rows name the row they change (R4Recipe.reference)
    head = (_head(f"Model | recipe | folds | steps | {columns}")
            + (" | Dice - reference (paired by fold)" if with_ref else "") + " | Dice - base (paired by fold) |")
    lines = [head, "|" + "---|" * (len(METRICS) + 6 + with_ref + columns.count("|"))]
    r3 = _round_runs(runs, dataset, round_)
    models = sorted({r["plan"]["model"] for r in r3}, key=lambda m: list(NAMES).index(m) if m in NAMES else 99)
    for model in models:
        by_recipe: dict[str, dict[int, dict]] = {}
        for r in r3:
            if r["plan"]["model"] == model:
                by_recipe.setdefault(r["plan"]["recipe"], {})[r["plan"]["fold"]] = r
        base = by_recipe.get("base", {})
        for recipe in [*recipes, *sorted(set(by_recipe) - set(recipes))]:
            folds = by_recipe.get(recipe)
            if not folds:
                continue
            recs = [folds[f] for f in sorted(folds)]
            steps = "/".join(map(str, sorted({r["done"]["steps"] for r in recs})))
            deltas = _paired(folds, base, label, kind) if recipe != "base" else []
            text = recipes[recipe][0] if recipe in recipes else recipe
            ref_cell = ""
            if with_ref:
                ref = recipes[recipe].reference if recipe in recipes else "base"
                ref_cell = (f" | {ref}: {_fmt_delta(_paired(folds, by_recipe.get(ref, {}), label, kind))}"
                            if recipe != "base" else " | -")
            lines.append(f"| {NAMES.get(model, model)} | {recipe}: {text} | {len(recs)} | {steps} | "
                         + " | ".join(as_run(recs)) + " | " + " | ".join(_metric_cells(recs, label, kind))
                         + f"{ref_cell} | {_fmt_delta(deltas) if recipe != 'base' else '-'} |")
    return "\n".join(lines)


def _has(runs: dict[str, dict], dataset: str, round_: int) -> bool:
    return any((r.get("plan") or {}).get("dataset") == dataset and "summary" in r
               and str(r["plan"].get("name", "")).startswith(f"r{round_}-") for r in runs.values())


def ablation_sections(runs: dict[str, dict]) -> list[str]:
    """The round-3 and round-4 tables (none for a round of which no run has been collected)."""
    out: list[str] = []
    intro = "mean ± sd over folds; the last column: this row's Dice minus base's, fold by fold"
    intro4 = ("mean ± sd over folds; the last two columns: this row's Dice minus its reference's and base's, fold "
              "by fold")
    if _has(runs, "drive", 3):
        out += ["", f"## Round 3 recipe ablations, DRIVE vessels inside the FOV, per-image mean ({intro})",
                ablation_table("drive", "vessel", runs, "per_image_mean"),
                "", "## Round 3 recipe ablations, DRIVE, pooled over each fold's validation pixels",
                ablation_table("drive", "vessel", runs, "pooled")]
    out += round4_drive_sections(runs)
    for round_ in (3, 4):
        if _has(runs, "bladder", round_):
            for label in ("mean_over_labels", "bladder_wall", "tumor"):
                out += ["", f"## Round {round_} recipe ablations, Bladder MRI, {label}: pooled over each fold's "
                        f"validation slices ({intro4 if round_ == 4 else intro})",
                        ablation_table("bladder", label, runs, "pooled", round_)]
            if round_ == 4:  # per slice, for comparison with a paper that may have scored that way
                out += ["", "## Round 4 recipe ablations, Bladder MRI, mean_over_labels: per-slice mean (a slice "
                        f"with neither truth nor prediction counts 1; {intro4})",
                        ablation_table("bladder", "mean_over_labels", runs, "per_image_mean", round_)]
            pair = model_pair_table(_round_runs(runs, "bladder", round_), list(ROUNDS[round_][0]),
                                    ("mean_over_labels", "bladder_wall", "tumor"), "pooled")
            if pair:
                out += ["", f"## Round {round_}, Bladder MRI: Akmamba-Net minus U-Net, same recipe, paired by fold "
                        "(pooled Dice)", pair]
            if round_ == 4:
                r4 = _round_runs(runs, "bladder", 4)
                for recipe in BLADDER_MODELS_RECIPES:
                    out += _recipe_models_sections(r4, recipe)
                for model in ("akmamba", "unet"):
                    for label in ("tumor", "bladder_wall"):
                        cases = per_case_table(r4, model, label, list(RECIPES_R4))
                        if cases:
                            out += ["", f"## Round 4, Bladder MRI, {NAMES[model]}, {label}: Dice per case, pooled "
                                    "over the case's slices in its validation fold (largest truth first)", cases]
    return out


def _per_case_grid(recs: list[dict], label: str, column_of: Any, columns: list[str]) -> str:
    """Cases (rows, largest truth first) x ``columns``: the Dice of ``label`` pooled over each case's validation
    slices, from each fold record's ``per_case`` counts; ``column_of(record)`` names a record's column. Columns no
    record fills are left out; empty when none is filled."""
    cells: dict[str, dict[str, str]] = {}
    truth: dict[str, int] = {}
    fold_of: dict[str, int] = {}
    for r in recs:
        column = column_of(r)
        if column not in columns or r["plan"].get("fold") is None or label not in r.get("per_case", {}):
            continue
        for case, (tp, fp, fn) in r["per_case"][label].items():
            truth[case], fold_of[case] = tp + fn, r["plan"]["fold"]
            cells.setdefault(case, {})[column] = (f"{200 * tp / (2 * tp + fp + fn):.1f}" if tp + fp + fn
                                                  else "- (none)")
    shown = [c for c in columns if any(c in row for row in cells.values())]
    if not shown:
        return ""
    lines = ["| case | fold | truth pixels | " + " | ".join(shown) + " |", "|" + "---|" * (3 + len(shown))]
    for case in sorted(truth, key=lambda c: (-truth[c], c)):
        lines.append(f"| {case} | {fold_of[case]} | {truth[case]} | "
                     + " | ".join(cells[case].get(c, "-") for c in shown) + " |")
    return "\n".join(lines)


def per_case_table(runs: list[dict], model: str, label: str, recipes: list[str]) -> str:
    """Per case of the bladder folds: its fold, its truth pixels of ``label`` and, for each recipe of ``recipes``
    that ``model`` ran, the Dice pooled over the case's validation slices (from each record's ``per_case`` counts).
    Cases in order of truth pixels, largest first; empty when no record has counts."""
    mine = [r for r in runs if r["plan"]["model"] == model]
    return _per_case_grid(mine, label, lambda r: r["plan"]["recipe"], recipes)


def per_case_models_table(runs: list[dict], recipe: str, label: str) -> str:
    """As :func:`per_case_table`, with one column per model (in :data:`NAMES` order) that ran ``recipe``."""
    mine = [r for r in runs if r["plan"].get("recipe") == recipe]
    return _per_case_grid(mine, label, lambda r: NAMES.get(r["plan"]["model"], r["plan"]["model"]),
                          list(NAMES.values()))


def model_pair_table(recs: list[dict], recipes: list[str], labels: tuple[str, ...], kind: str,
                     models: tuple[str, str] = ("akmamba", "unet")) -> str:
    """For each recipe (in ``recipes``' order) that both ``models`` ran among ``recs``: the first model's Dice minus
    the second's, paired by fold (mean ± sd over folds, and in how many folds the first is higher), per label.
    Empty when no recipe has both."""
    by: dict[tuple[str, str], dict[int, dict]] = {}
    for r in recs:
        if r["plan"].get("fold") is not None:
            by.setdefault((r["plan"]["model"], r["plan"]["recipe"]), {})[r["plan"]["fold"]] = r
    a, b = models
    both = [rc for rc in recipes if (a, rc) in by and (b, rc) in by]
    if not both:
        return ""
    lines = [f"| recipe | label | {NAMES.get(a, a)} - {NAMES.get(b, b)} | folds where higher |",
             "|---|---|---|---|"]
    for recipe in both:
        for label in labels:
            d = _paired(by[(a, recipe)], by[(b, recipe)], label, kind)
            lines.append(f"| {recipe} | {label} | {_fmt_delta(d)} | {sum(v > 0 for v in d)} of {len(d)} |")
    return "\n".join(lines)


#: The recipes of the every-model tables: ``combo`` (all eight models), then the better recipe (and its final
#: weights) that Table 3's four models ran again; tables of a recipe no model ran are left out.
BLADDER_MODELS_RECIPES = ("combo", "combo-ema-long", "combo-ema-long-final")
BLADDER_LABELS = ("bladder_wall", "tumor", "mean_over_labels")


def _fold_runs_by_model(recs: list[dict], recipe: str) -> dict[str, dict[int, dict]]:
    """The fold runs (all-data runs left out) of ``recipe`` among ``recs``: {model: {fold: record}}."""
    by: dict[str, dict[int, dict]] = {}
    for r in recs:
        if r["plan"].get("recipe") == recipe and r["plan"].get("fold") is not None:
            by.setdefault(r["plan"]["model"], {})[r["plan"]["fold"]] = r
    return by


def recipe_models_table(recs: list[dict], recipe: str, labels: tuple[str, ...] = BLADDER_LABELS,
                        kind: str = "pooled", against: str = "akmamba", dataset: str = "bladder") -> str:
    """Every model that ran ``recipe`` among ``recs`` (fold runs only), in the paper's format: precision / Dice /
    IoU per label (mean ± sd over folds), the paper's figures for the model, and ``against``'s mean Dice minus the
    model's, paired by fold, on the last label (with in how many folds ``against`` is higher). Models in
    :data:`NAMES` order; empty when no model ran it."""
    by = _fold_runs_by_model(recs, recipe)
    if not by:
        return ""
    last = labels[-1]
    head = ("| Model | folds | steps | " + " | ".join(f"{lb}: P / Dice / IoU" for lb in labels)
            + f" | paper P / Dice / IoU | {NAMES.get(against, against)} - model, {last} Dice (paired by fold) |")
    lines = [head, "|" + "---|" * (len(labels) + 5)]
    for model in sorted(by, key=lambda m: list(NAMES).index(m) if m in NAMES else 99):
        folds = by[model]
        recs_m = [folds[f] for f in sorted(folds)]
        steps = "/".join(map(str, sorted({r["done"]["steps"] for r in recs_m})))
        cells = []
        for label in labels:
            vals = {m: [r["summary"][label][kind][m] for r in recs_m] for m in ("precision", "dice", "iou")}
            cells.append(" / ".join(_fmt(vals[m]) for m in ("precision", "dice", "iou")))
        paper = PAPER[dataset].get(model)
        delta = "-"
        if model != against and against in by:
            d = _paired(by[against], folds, last, kind)
            delta = f"{_fmt_delta(d)}, higher in {sum(v > 0 for v in d)} of {len(d)}"
        lines.append(f"| {NAMES.get(model, model)} | {len(recs_m)} | {steps} | " + " | ".join(cells)
                     + f" | {' / '.join(map(str, paper)) if paper else '-'} | {delta} |")
    return "\n".join(lines)


#: Table 3's steps (the paper's ablation): each pair is (model, the model it adds one part to).
ABLATION_STEPS = (("unet_akconv", "unet"), ("unet_mambaout", "unet"), ("akmamba", "unet_akconv"),
                  ("akmamba", "unet_mambaout"))


def ablation_steps_table(recs: list[dict], recipe: str, labels: tuple[str, ...] = BLADDER_LABELS,
                         kind: str = "pooled", steps: tuple[tuple[str, str], ...] = ABLATION_STEPS) -> str:
    """Table 3 as differences: for each (model, reference) of ``steps`` that both ran ``recipe``, the model's Dice
    minus the reference's per label, paired by fold, with in how many folds the model is higher. Empty when no
    pair ran it."""
    by = _fold_runs_by_model(recs, recipe)
    lines = ["| comparison | label | Dice difference (paired by fold) | folds where higher |", "|---|---|---|---|"]
    for model, ref in steps:
        if model in by and ref in by:
            for label in labels:
                d = _paired(by[model], by[ref], label, kind)
                lines.append(f"| {NAMES.get(model, model)} - {NAMES.get(ref, ref)} | {label} | {_fmt_delta(d)} | "
                             f"{sum(v > 0 for v in d)} of {len(d)} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def _recipe_models_sections(r4: list[dict], recipe: str) -> list[str]:
    """The round-4 bladder sections of one recipe: every model that ran it (the paper's format), Table 3 as paired
    differences, and per-case Dice of each model (tumour, wall); a table with nothing to show is left out."""
    out: list[str] = []
    every = recipe_models_table(r4, recipe)
    if every:
        title = ("Tables 2-3 on the fixed code: every model with the" if recipe == BLADDER_MODELS_RECIPES[0]
                 else "Table 3 models with the")
        out += ["", f"## Round 4, Bladder MRI, {title} `{recipe}` recipe, pooled over each fold's validation slices "
                "(mean ± sd over folds)", every]
    steps_ = ablation_steps_table(r4, recipe)
    if steps_:
        out += ["", f"## Round 4, Bladder MRI, Table 3 as paired differences (`{recipe}` recipe, pooled Dice)", steps_]
    for label in ("tumor", "bladder_wall"):
        cases = per_case_models_table(r4, recipe, label)
        if cases:
            out += ["", f"## Round 4, Bladder MRI, every model with `{recipe}`, {label}: Dice per case, pooled over "
                    "the case's slices in its validation fold (largest truth first)", cases]
    return out


def evaluated_file(rec: dict) -> str:
    """The checkpoint file a run's evaluation predicted with, from its ``predict`` command (``best.safetensors``
    when the record has none)."""
    for line in rec.get("commands", []):
        words = line.split()
        if "predict" in words and "--model" in words[:-1]:
            return Path(words[words.index("--model") + 1]).name
    return "best.safetensors"


_CHECKPOINT_CELL = {"best.safetensors": "best", "last.safetensors": "final", "last_ema.safetensors": "final (EMA)"}


def _paired(folds: dict[int, dict], ref: dict[int, dict], label: str, kind: str) -> list[float]:
    return [folds[f]["summary"][label][kind]["dice"] - ref[f]["summary"][label][kind]["dice"]
            for f in sorted(folds) if f in ref]


#: Round 3's DRIVE rows shown in the round-4 tables, each with the recipe it is compared with: ``base`` and
#: ``ema-long`` (the references of round 4's rows) and ``ema-long-tta`` (ema-long's checkpoints with test-time flips).
R4_DRIVE_R3_ROWS: dict[str, str | None] = {"base": None, "ema-long": "base", "ema-long-tta": "ema-long"}
#: Round-4 DRIVE rows in table order: round 3's rows above, then round 4's.
R4_DRIVE_ORDER = [*R4_DRIVE_R3_ROWS, *RECIPES_R4_DRIVE]


def _round4_drive_runs(runs: dict[str, dict]) -> list[dict]:
    """The evaluated, finished round-4 DRIVE runs and round 3's runs of :data:`R4_DRIVE_R3_ROWS`."""
    return [r for r in runs.values() if (r.get("plan") or {}).get("dataset") == "drive" and "summary" in r
            and r.get("done") and (str(r["plan"].get("name", "")).startswith("r4-drive-")
                                   or (str(r["plan"].get("name", "")).startswith("r3-drive-")
                                       and r["plan"].get("recipe") in R4_DRIVE_R3_ROWS))]


def round4_drive_table(label: str, runs: dict[str, dict], kind: str) -> str:
    """Round-4 DRIVE rows with round 3's rows (:data:`R4_DRIVE_R3_ROWS`) above them: EMA, input normalisation,
    checkpoint and test-time augmentation as run, and the Dice difference to the row's reference recipe and to
    ``base``, paired by fold."""
    head = (_head("Model | recipe | folds | steps | EMA | input | checkpoint | TTA")
            + " | Dice - reference (paired by fold) | Dice - base (paired by fold) |")
    lines = [head, "|" + "---|" * (len(METRICS) + 10)]
    chosen = _round4_drive_runs(runs)
    models = sorted({r["plan"]["model"] for r in chosen}, key=lambda m: list(NAMES).index(m) if m in NAMES else 99)
    for model in models:
        by_recipe: dict[str, dict[int, dict]] = {}
        for r in chosen:
            if r["plan"]["model"] == model:
                by_recipe.setdefault(r["plan"]["recipe"], {})[r["plan"]["fold"]] = r
        for recipe in R4_DRIVE_ORDER:
            folds = by_recipe.get(recipe)
            if not folds:
                continue
            recs = [folds[f] for f in sorted(folds)]
            steps = "/".join(map(str, sorted({r["done"]["steps"] for r in recs})))
            ema = "/".join(sorted({str(r["config"].get("ema_decay") or "-") for r in recs}))
            norm = "/".join(sorted({str(r["config"].get("normalisation", "zscore")) for r in recs}))
            ckpt = "/".join(sorted({_CHECKPOINT_CELL.get(evaluated_file(r), evaluated_file(r)) for r in recs}))
            tta = "/".join(sorted({r.get("tta", "none") for r in recs}))
            ref = RECIPES_R4_DRIVE[recipe][5] if recipe in RECIPES_R4_DRIVE else R4_DRIVE_R3_ROWS[recipe]
            text = RECIPES_R4_DRIVE[recipe][0] if recipe in RECIPES_R4_DRIVE else RECIPES_R3[recipe][0]
            to_ref, to_base = "-", "-"
            if recipe != "base":
                to_ref = f"{ref}: {_fmt_delta(_paired(folds, by_recipe.get(ref, {}), label, kind))}"
                to_base = _fmt_delta(_paired(folds, by_recipe.get("base", {}), label, kind))
            lines.append(f"| {NAMES.get(model, model)} | {recipe}: {text} | {len(recs)} | {steps} | {ema} | {norm} | "
                         f"{ckpt} | {tta} | " + " | ".join(_metric_cells(recs, label, kind))
                         + f" | {to_ref} | {to_base} |")
    return "\n".join(lines)


def round4_drive_sections(runs: dict[str, dict]) -> list[str]:
    """The round-4 DRIVE tables (none when no round-4 DRIVE run has been collected)."""
    if not any(str((r.get("plan") or {}).get("name", "")).startswith("r4-drive-") and "summary" in r
               for r in runs.values()):
        return []
    intro = "mean ± sd over folds; the last two columns: this row's Dice minus its reference's and base's, fold by fold"
    recs = _round4_drive_runs(runs)
    pair = []
    for kind, what in (("per_image_mean", "per-image mean"), ("pooled", "pooled")):
        table_ = model_pair_table(recs, R4_DRIVE_ORDER, ("vessel",), kind)
        if table_:
            pair += ["", f"## Rounds 3-4, DRIVE: Akmamba-Net minus U-Net, same recipe, paired by fold ({what} Dice "
                     "inside the FOV)", table_]
    return ["", f"## Round 4 DRIVE ablations, vessels inside the FOV, per-image mean ({intro})",
            round4_drive_table("vessel", runs, "per_image_mean"),
            "", "## Round 4 DRIVE ablations, pooled over each fold's validation pixels",
            round4_drive_table("vessel", runs, "pooled"), *pair]


def render(runs: dict[str, dict]) -> str:
    """The whole tables document (what ``main`` prints)."""
    models = ["unet", "attention_unet", "unetpp", "unet3plus", "transunet", "unet_akconv", "unet_mambaout", "akmamba"]
    out = ["## DRIVE, vessels inside the FOV, threshold 0.5 (per-image mean over each fold's validation images; "
           "mean ± sd over folds)", table("drive", "vessel", runs, "per_image_mean", models),
           "", "## DRIVE, pooled over each fold's validation pixels", table("drive", "vessel", runs, "pooled", models)]
    for label in ("bladder_wall", "tumor", "mean_over_labels"):
        out += ["", f"## Bladder MRI, {label}: pooled over each fold's validation slices (mean ± sd over folds)",
                table("bladder", label, runs, "pooled", models),
                "", f"## Bladder MRI, {label}: per-slice mean (a slice with neither truth nor prediction counts 1)",
                table("bladder", label, runs, "per_image_mean", models)]
    out += ablation_sections(runs)
    out += ["", "## Runs", "| run | steps | stopped by | training s | validation cases | scan kernels |",
            "|---|---|---|---|---|---|"]
    for name, r in runs.items():
        d = r["done"] or {}
        kernels = (", ".join(d["scan_backends"]) or "none") if "scan_backends" in d else "not recorded"
        out.append(f"| {name} | {d.get('steps')} | {d.get('stopped_by')} | {d.get('elapsed_s', 0):.0f} | "
                   f"{len(r.get('cases', [])) or '-'} | {kernels} |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--collect", nargs="*", type=Path)
    args = p.parse_args()
    if args.collect:
        collect(args.collect)
        return
    print(render(load()))


if __name__ == "__main__":
    main()
