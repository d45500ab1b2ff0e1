"""The round-3 experiment plan (experiments/plan.py, run_plan.py) and its ablation tables (summarise.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="module")
def modules():
    """The three experiment scripts, imported as modules (they are not a package)."""
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import plan
        import run_plan
        import summarise
    finally:
        sys.path.remove(str(EXPERIMENTS))
    if plan.DATASETS["drive"]["epochs"] != 75:
        pytest.skip("AKMAMBA_PLAN_SMOKE is set: the plan's step budget is the smoke one")
    return plan, run_plan, summarise


def _train_config(args: list[str]):
    from akmamba.train.runner import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(args[1:]))  # args[0] is the "train" command


def test_round3_rows_change_one_thing_each(modules) -> None:
    plan, _, _ = modules
    runs = {r.name: r for r in plan.ablation_plan("drive")}
    assert len(runs) == 6 * 5
    base = _train_config(runs["r3-drive-akmamba-base-f2"].train_args("D", "O", None))
    assert (base.epochs, base.samples_per_epoch, base.ema_decay, base.fold) == (75, 160, None, 2)
    ema = _train_config(runs["r3-drive-akmamba-ema-f2"].train_args("D", "O", None))
    assert ema.ema_decay == plan.EMA_DECAY_R3
    assert ema.to_dict() | {"ema_decay": None} == base.to_dict()  # nothing else differs
    long = _train_config(runs["r3-drive-akmamba-long-f2"].train_args("D", "O", None))
    assert long.to_dict() | {"epochs": 75} == base.to_dict()
    assert long.epochs == 150
    both = _train_config(runs["r3-drive-akmamba-ema-long-f2"].train_args("D", "O", None))
    assert both.to_dict() | {"epochs": 75, "ema_decay": None} == base.to_dict()
    tta = runs["r3-drive-akmamba-tta-f2"]
    assert tta.checkpoint_of == "r3-drive-akmamba-base-f2"
    assert runs["r3-drive-akmamba-ema-long-tta-f2"].checkpoint_of == "r3-drive-akmamba-ema-long-f2"
    with pytest.raises(ValueError, match="trains nothing"):
        tta.train_args("D", "O", None)
    assert tta.predict_args("c.safetensors", "p", "cuda", ["a.tif"])[-3:] == ["--tta", "flips", "a.tif"]
    assert "--tta" not in runs["r3-drive-akmamba-base-f2"].predict_args("c", "p", "cuda", ["a.tif"])
    bladder = plan.ablation_plan("bladder", recipes=("tta",))  # asking for an evaluation row adds its source
    assert sorted({r.recipe for r in bladder}) == ["base", "tta"]
    assert len(bladder) == 2 * 3
    assert _train_config(plan.ablation_plan("bladder", recipes=("long",))[0].train_args("D", "O", None)).epochs == 50
    with pytest.raises(ValueError, match="unknown round-3 recipe"):
        plan.ablation_plan("drive", recipes=("longer",))


def test_run_plan_lists_exact_commands(modules, capsys) -> None:
    _, run_plan, _ = modules
    assert run_plan.main(["--plan", "round3", "--dataset", "bladder", "--data-root", "/data/B", "--out", "/runs",
                          "--recipes", "tta", "--device", "cuda", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    tta = lines[lines.index(next(x for x in lines if x.startswith("# r3-bladder-akmamba-tta-f1"))) + 1]
    assert "predict --model /runs/r3-bladder-akmamba-base-f1/best.safetensors" in tta
    assert "--tta flips" in tta
    assert "--device cuda" in tta
    assert sum(" train " in x for x in lines) == 3  # the three base folds train; the TTA rows only predict


def _fake_run(root: Path, name: str, plan_entry: dict, dice: float | None, *, trained: bool = True,
              ema: float | None = None, tta: str = "none", steps: int = 1500) -> None:
    run = root / "drive" / name
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps(plan_entry), encoding="utf-8")
    if trained:
        (run / "config.json").write_text(json.dumps({"ema_decay": ema, "epochs": 75}), encoding="utf-8")
        (run / "events.jsonl").write_text(json.dumps({"event": "done", "steps": steps, "stopped_by": "epochs",
                                                      "elapsed_s": 10.0}) + "\n", encoding="utf-8")
    if dice is not None:
        metrics = {m: 0.5 for m in ("precision", "recall", "specificity", "accuracy", "iou", "auc")}
        summary = {"vessel": {k: {**metrics, "dice": dice} for k in ("per_image_mean", "pooled")}}
        (run / "eval.json").write_text(json.dumps({"summary": summary, "cases": [{"case": "21"}],
                                                   "model": {"name": "m", "tta": tta}}), encoding="utf-8")


def test_ablation_table_reads_what_ran_and_pairs_folds(modules, tmp_path) -> None:
    plan, _, summarise = modules
    runs = {r.name: r for r in plan.ablation_plan("drive", recipes=("tta", "ema"))}
    values = {"base": (0.80, 0.82), "ema": (0.81, 0.85), "tta": (0.805, None)}
    for recipe, dices in values.items():
        for fold, dice in enumerate(dices):
            run = runs[f"r3-drive-akmamba-{recipe}-f{fold}"]
            _fake_run(tmp_path / "runs", run.name, run.record(), dice, trained=recipe != "tta",
                      ema=0.995 if recipe == "ema" else None, tta=run.tta)
    _fake_run(tmp_path / "runs", "drive-akmamba-f0", {"name": "x"}, 0.7)  # a round-1 record: not an ablation row
    summarise.collect([tmp_path / "runs"], into=tmp_path / "results")
    records = summarise.load(tmp_path / "results")
    assert records["r3-drive-akmamba-tta-f0"]["trained_by"] == "r3-drive-akmamba-base-f0"
    assert records["r3-drive-akmamba-tta-f0"]["done"]["steps"] == 1500  # from the run whose checkpoint it used
    assert "summary" not in records["r3-drive-akmamba-tta-f1"]  # never evaluated: in the runs list, not the tables
    text = summarise.render(records)
    section = text.split("## Round 3 recipe ablations, DRIVE vessels inside the FOV, per-image mean")[1]
    rows = {line.split(" | ")[1].split(":")[0]: line for line in section.split("\n\n")[0].splitlines()
            if line.startswith("| Akmamba")}
    assert list(rows) == ["base", "tta", "ema"]
    assert "| 2 | 1500 | - | none |" in rows["base"]
    assert "| 81.00 ± 1.41 |" in rows["base"]
    assert rows["ema"].endswith("| +2.00 ± 1.41 (2 folds) |")
    assert "| 2 | 1500 | 0.995 | none |" in rows["ema"]
    assert "| 1 | 1500 | - | flips |" in rows["tta"]
    assert rows["tta"].endswith("| +0.50 (1 fold) |")
    main_table = text.split("## DRIVE, pooled")[0]
    assert "r3-" not in main_table
    assert "| Akmamba-Net (AKConv + Mamba-out) | 1 | 1500 |" in main_table  # the round-1 record only


def test_round4_rows_change_one_named_thing_each(modules) -> None:
    plan, _, _ = modules
    runs = {r.name: r for r in plan.bladder_plan(("akmamba", "unet"))}
    assert len(runs) == len(plan.RECIPES_R4) * 3 * 2
    cfg = {recipe: _train_config(runs[f"r4-bladder-unet-{recipe}-f1"].train_args("D", "O", None)).to_dict()
           for recipe in plan.RECIPES_R4}
    base = cfg["base"]
    assert (base["epochs"], base["samples_per_epoch"], base["patch_size"], base["fold"]) == (25, 400, [256, 256], 1)
    assert (base["loss"], base["oversample_class"], base["val_metric"]) == ("dice_ce", None, "per_image")

    def changed(recipe: str) -> dict:
        return {k: v for k, v in cfg[recipe].items() if base[k] != v}

    assert changed("pooled") == {"val_metric": "pooled"}
    assert changed("oversample") == {"oversample_class": 2, "oversample_factor": plan.OVERSAMPLE_R4}
    assert changed("batch-dice") == {"loss": "dice_ce_batch"}
    assert changed("whole") == {"patch_size": [512, 512]}
    assert changed("combo") == {**changed("pooled"), **changed("oversample"), **changed("batch-dice")}
    assert changed("combo-whole") == {**changed("combo"), **changed("whole")}
    assert runs["r4-bladder-unet-whole-f0"].record()["patch_size"] == [512, 512]
    with pytest.raises(ValueError, match="unknown round-4 recipe"):
        plan.bladder_plan(recipes=("focal",))


def test_run_plan_lists_round4_and_refuses_drive(modules, capsys) -> None:
    _, run_plan, _ = modules
    assert run_plan.main(["--plan", "round4", "--dataset", "bladder", "--data-root", "/data/B", "--out", "/runs",
                          "--recipes", "base,combo", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    trains = [x for x in lines if " train " in x]
    assert len(trains) == 6
    combo = next(x for x in trains if "r4-bladder-akmamba-combo-f2" in x)
    assert "--val-metric pooled --oversample-class 2 --oversample-factor 3 --loss dice_ce_batch" in combo
    with pytest.raises(SystemExit):
        run_plan.main(["--plan", "round4", "--dataset", "drive", "--data-root", "D", "--out", "R", "--list"])


def test_round4_table_reads_what_ran_and_leaves_round3_alone(modules, tmp_path) -> None:
    plan, _, summarise = modules
    runs = {r.name: r for r in plan.bladder_plan(recipes=("base", "oversample"))}
    for recipe, dices in {"base": (0.40, 0.50), "oversample": (0.55, 0.60)}.items():
        for fold, dice in enumerate(dices):
            run = runs[f"r4-bladder-akmamba-{recipe}-f{fold}"]
            d = tmp_path / "runs" / "bladder" / run.name
            d.mkdir(parents=True)
            (d / "run.json").write_text(json.dumps(run.record()), encoding="utf-8")
            over = {"oversample_class": 2, "oversample_factor": 3} if recipe == "oversample" else {}
            (d / "config.json").write_text(json.dumps({"patch_size": [256, 256], "loss": "dice_ce", **over}),
                                           encoding="utf-8")
            (d / "events.jsonl").write_text(json.dumps({"event": "done", "steps": 1250, "stopped_by": "epochs",
                                                        "elapsed_s": 10.0}) + "\n", encoding="utf-8")
            metrics = {m: 0.5 for m in ("precision", "recall", "specificity", "accuracy", "iou", "auc")}
            summary = {label: {k: {**metrics, "dice": dice} for k in ("per_image_mean", "pooled")}
                       for label in ("bladder_wall", "tumor", "mean_over_labels")}
            (d / "eval.json").write_text(json.dumps({"summary": summary, "cases": [{"case": "5"}], "model": {}}),
                                         encoding="utf-8")
    summarise.collect([tmp_path / "runs"], into=tmp_path / "results")
    text = summarise.render(summarise.load(tmp_path / "results"))
    assert "Round 3 recipe ablations" not in text
    section = text.split("## Round 4 recipe ablations, Bladder MRI, tumor: pooled")[1].split("\n\n")[0]
    rows = [line for line in section.splitlines() if line.startswith("| Akmamba")]
    assert [r.split(" | ")[1].split(":")[0] for r in rows] == ["base", "oversample"]
    assert "| 2 | 1250 | dice_ce | - | 256x256 | per_image |" in rows[0]
    assert "| 2 | 1250 | dice_ce | class 2 x3 | 256x256 | per_image |" in rows[1]
    assert rows[1].endswith("| +12.50 ± 3.54 (2 folds) |")
