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
    trained = [r for r, v in plan.RECIPES_R4.items() if v.source is None]
    # every row's reference is a row above it (the tables pair it with that row)
    order = list(plan.RECIPES_R4)
    assert all(order.index(v.reference) < order.index(r) for r, v in plan.RECIPES_R4.items() if r != "base")
    cfg = {recipe: _train_config(runs[f"r4-bladder-unet-{recipe}-f1"].train_args("D", "O", None)).to_dict()
           for recipe in trained}
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
    assert changed("combo-ema-long") == {**changed("combo"), "epochs": 50, "ema_decay": plan.EMA_DECAY_R3}
    assert changed("combo-ema-4x") == {**changed("combo-ema-long"), "epochs": 100}
    assert runs["r4-bladder-unet-combo-ema-4x-final-f2"].checkpoint_of == "r4-bladder-unet-combo-ema-4x-f2"
    assert runs["r4-bladder-unet-whole-f0"].record()["patch_size"] == [512, 512]
    # the evaluation-only rows evaluate combo-ema-long's trainings: the best checkpoint with flips, the final average
    tta, final = runs["r4-bladder-unet-combo-ema-long-tta-f1"], runs["r4-bladder-unet-combo-ema-long-final-f1"]
    for run in (tta, final):
        assert run.checkpoint_of == "r4-bladder-unet-combo-ema-long-f1"
        with pytest.raises(ValueError, match="trains nothing"):
            run.train_args("D", "O", None)
    assert (tta.tta, tta.checkpoint) == ("flips", "best.safetensors")
    assert (final.tta, final.checkpoint) == ("none", "last_ema.safetensors")
    # asking for an evaluation row adds its training; longer trainings start first
    only = plan.bladder_plan(recipes=("combo-ema-long-final", "base"))
    assert {r.name for r in only if r.checkpoint_of is None and r.recipe != "base"} == {
        f"r4-bladder-akmamba-combo-ema-long-f{k}" for k in range(3)}
    assert [r.recipe for r in only][-3:] == ["base"] * 3
    assert len(only) == 9
    with pytest.raises(ValueError, match="unknown round-4 recipe"):
        plan.bladder_plan(recipes=("focal",))
    with pytest.raises(ValueError, match="evaluation-only"):
        plan.bladder_plan(all_data=("combo-ema-long-tta",))
    whole = plan.bladder_plan(all_data=("combo-ema-long",), recipes=())
    assert whole[0].name == "r4-bladder-akmamba-combo-ema-long-all"


def test_run_plan_lists_round4_per_dataset(modules, capsys) -> None:
    _, run_plan, _ = modules
    assert run_plan.main(["--plan", "round4", "--dataset", "bladder", "--data-root", "/data/B", "--out", "/runs",
                          "--recipes", "base,combo", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    trains = [x for x in lines if " train " in x]
    assert len(trains) == 6
    combo = next(x for x in trains if "r4-bladder-akmamba-combo-f2" in x)
    assert "--val-metric pooled --oversample-class 2 --oversample-factor 3 --loss dice_ce_batch" in combo
    # the same plan name on DRIVE is the DRIVE round 4; bladder recipe names are refused there
    assert run_plan.main(["--plan", "round4", "--dataset", "drive", "--data-root", "D", "--out", "R",
                          "--recipes", "clahe", "--list"]) == 0
    assert "r4-drive-akmamba-clahe-f0" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        run_plan.main(["--plan", "round4", "--dataset", "drive", "--data-root", "D", "--out", "R",
                       "--recipes", "combo", "--list"])


def _write_r4_run(folder, run, dice: float) -> None:
    """A finished round-4 bladder run folder as run_plan.py leaves it, every Dice ``dice``."""
    d = folder / "runs" / "bladder" / run.name
    d.mkdir(parents=True)
    (d / "run.json").write_text(json.dumps(run.record()), encoding="utf-8")
    over = {"oversample_class": 2, "oversample_factor": 3} if run.recipe == "oversample" else {}
    (d / "config.json").write_text(json.dumps({"patch_size": [256, 256], "loss": "dice_ce", **over}),
                                   encoding="utf-8")
    (d / "events.jsonl").write_text(json.dumps({"event": "done", "steps": 1250, "stopped_by": "epochs",
                                                "elapsed_s": 10.0}) + "\n", encoding="utf-8")
    _write_bladder_eval(d, dice)


def _write_bladder_eval(d, dice: float, tta: str = "none") -> None:
    """An ``akmamba evaluate`` report of a bladder run in folder ``d``, every Dice ``dice``."""
    metrics = {m: 0.5 for m in ("precision", "recall", "specificity", "accuracy", "iou", "auc")}
    summary = {label: {k: {**metrics, "dice": dice} for k in ("per_image_mean", "pooled")}
               for label in ("bladder_wall", "tumor", "mean_over_labels")}
    (d / "eval.json").write_text(json.dumps({"summary": summary, "cases": [{"case": "5"}], "model": {"tta": tta}}),
                                 encoding="utf-8")


def _table_rows(summarise, tmp_path, heading: str) -> dict[str, str]:
    """Collect the fake runs under ``tmp_path / "runs"`` and return the Akmamba-Net rows of the table under
    ``heading``, by recipe."""
    summarise.collect([tmp_path / "runs"], into=tmp_path / "results")
    text = summarise.render(summarise.load(tmp_path / "results"))
    section = text.split(heading)[1].split("\n\n")[0]
    return {line.split(" | ")[1].split(":")[0]: line for line in section.splitlines() if line.startswith("| Akm")}


def test_round4_table_reads_what_ran_and_leaves_round3_alone(modules, tmp_path) -> None:
    plan, _, summarise = modules
    runs = {r.name: r for r in plan.bladder_plan(("akmamba", "unet"), recipes=("base", "oversample"))}
    for recipe, dices in {"base": (0.40, 0.50), "oversample": (0.55, 0.60)}.items():
        for fold, dice in enumerate(dices):
            _write_r4_run(tmp_path, runs[f"r4-bladder-akmamba-{recipe}-f{fold}"], dice)
    for fold, dice in enumerate((0.30, 0.55)):  # U-Net: base only
        _write_r4_run(tmp_path, runs[f"r4-bladder-unet-base-f{fold}"], dice)
    summarise.collect([tmp_path / "runs"], into=tmp_path / "results")
    text = summarise.render(summarise.load(tmp_path / "results"))
    assert "Round 3 recipe ablations" not in text
    pair = text.split("Akmamba-Net minus U-Net, same recipe, paired by fold")[1].split("\n\n")[0]
    assert "| base | tumor | +2.50 ± 10.61 (2 folds) | 1 of 2 |" in pair
    assert "oversample" not in pair  # U-Net did not run it
    section = text.split("## Round 4 recipe ablations, Bladder MRI, tumor: pooled")[1].split("\n\n")[0]
    rows = [line for line in section.splitlines() if line.startswith("| Akmamba")]
    assert [r.split(" | ")[1].split(":")[0] for r in rows] == ["base", "oversample"]
    assert "| 2 | 1250 | dice_ce | - | 256x256 | per_image |" in rows[0]
    assert "| 2 | 1250 | dice_ce | class 2 x3 | 256x256 | per_image |" in rows[1]
    assert rows[1].endswith("| +12.50 ± 3.54 (2 folds) |")


def test_round4_bladder_table_shows_ema_checkpoint_and_flips_as_run(modules, tmp_path) -> None:
    plan, _, summarise = modules
    runs = {r.name: r for r in plan.bladder_plan(recipes=("base", "combo-ema-long-tta", "combo-ema-long-final"))}
    dices = {"base": 0.40, "combo-ema-long": 0.50, "combo-ema-long-tta": 0.52, "combo-ema-long-final": 0.47}
    for recipe, dice in dices.items():
        run = runs[f"r4-bladder-akmamba-{recipe}-f0"]
        if run.checkpoint_of is None:
            _write_r4_run(tmp_path, run, dice)
            if recipe != "base":
                d = tmp_path / "runs" / "bladder" / run.name
                (d / "config.json").write_text(json.dumps({"patch_size": [256, 256], "loss": "dice_ce_batch",
                                                           "ema_decay": 0.995, "val_metric": "pooled"}),
                                               encoding="utf-8")
            continue
        d = tmp_path / "runs" / "bladder" / run.name
        d.mkdir(parents=True)
        (d / "run.json").write_text(json.dumps(run.record()), encoding="utf-8")
        source = tmp_path / "runs" / "bladder" / run.checkpoint_of / run.checkpoint
        (d / "commands.txt").write_text(f"python3 -m akmamba.cli predict --model {source} --out {d / 'pred'}\n",
                                        encoding="utf-8")
        _write_bladder_eval(d, dice, run.tta)
    rows = _table_rows(summarise, tmp_path, "## Round 4 recipe ablations, Bladder MRI, tumor: pooled")
    assert list(rows) == ["base", "combo-ema-long", "combo-ema-long-tta", "combo-ema-long-final"]
    assert "| pooled | 0.995 | best | none |" in rows["combo-ema-long"]
    assert "| pooled | 0.995 | best | flips |" in rows["combo-ema-long-tta"]  # training facts from its source
    assert "| pooled | 0.995 | final (EMA) | none |" in rows["combo-ema-long-final"]
    assert "| per_image | - | best | none |" in rows["base"]
    # each row is compared with the row it changes, then with base
    assert rows["combo-ema-long-tta"].endswith("| combo-ema-long: +2.00 (1 fold) | +12.00 (1 fold) |")
    assert rows["combo-ema-long-final"].endswith("| combo-ema-long: -3.00 (1 fold) | +7.00 (1 fold) |")
    assert rows["combo-ema-long"].endswith("| combo: - | +10.00 (1 fold) |")  # combo was not run here
    assert rows["base"].endswith("| - | - |")


def test_a_row_can_evaluate_the_final_weights(modules, tmp_path) -> None:
    plan, run_plan, _ = modules
    args = argparse.Namespace(out=tmp_path, data_root="D", device="cpu")
    own = plan.Run("x-f0", "drive", "unet", 0, checkpoint="last.safetensors")
    other = plan.Run("y-f0", "drive", "unet", 0, checkpoint_of="x-f0", checkpoint="last_ema.safetensors")
    assert run_plan.evaluation_commands(own, args, ["a.tif"])[0][5] == str(tmp_path / "x-f0" / "last.safetensors")
    assert run_plan.evaluation_commands(other, args, ["a.tif"])[0][5] == str(tmp_path / "x-f0" / "last_ema.safetensors")
    assert other.record()["checkpoint"] == "last_ema.safetensors"
    assert plan.final_checkpoint(("--ema-decay", "0.995")) == "last_ema.safetensors"
    assert plan.final_checkpoint(()) == "last.safetensors"
    # every existing row still evaluates the best checkpoint, with the same commands as before
    assert {r.checkpoint for r in [*plan.plan("drive"), *plan.ablation_plan("drive"), *plan.ablation_plan("bladder")]
            } == {"best.safetensors"}
    base = plan.ablation_plan("drive", recipes=("base",))[0]
    assert run_plan.evaluation_commands(base, args, ["a.tif"])[0][5].endswith(f"{base.name}/best.safetensors")


def test_per_case_table_pools_each_cases_slices(modules, tmp_path) -> None:
    plan, _, summarise = modules
    def row(case: str, label: int, name: str, tp: int, fp: int, fn: int) -> dict:
        return {"case": case, "label": label, "label_name": name, "n_pixels": 1000, "tp": tp, "fp": fp, "fn": fn,
                "tn": 1000 - tp - fp - fn}

    rows = [  # two slices of case 24 (fold 0) and one of case 5 (fold 1), as akmamba evaluate writes them
        row("24-IM1", 2, "tumor", 10, 0, 30), row("24-IM2", 2, "tumor", 0, 5, 60),
        row("24-IM1", 1, "bladder_wall", 7, 1, 1), row("5-IM9", 2, "tumor", 0, 0, 0),
        {"case": "21_training"},  # a row without counts is left out
    ]
    counts = summarise.per_case_counts(rows)
    assert counts == {"tumor": {"24": [10, 5, 90], "5": [0, 0, 0]}, "bladder_wall": {"24": [7, 1, 1]}}
    assert summarise.case_id("21_training") == "21_training"
    runs = {r.name: r for r in plan.bladder_plan(recipes=("base", "combo"))}
    for name, c in (("r4-bladder-akmamba-combo-f0", counts), ("r4-bladder-akmamba-base-f1",
                                                              {"tumor": {"12": [3, 1, 0]}})):
        _write_r4_run(tmp_path, runs[name], 0.5)
        report = tmp_path / "runs" / "bladder" / name / "eval.json"
        ev = json.loads(report.read_text(encoding="utf-8"))
        ev["cases"] = [row(f"{case}-IM1", 2 if label == "tumor" else 1, label, tp, fp, fn)
                       for label, per in c.items() for case, (tp, fp, fn) in per.items()]
        report.write_text(json.dumps(ev), encoding="utf-8")
    summarise.collect([tmp_path / "runs"], into=tmp_path / "results")
    text = summarise.render(summarise.load(tmp_path / "results"))
    section = text.split("## Round 4, Bladder MRI, Akmamba-Net (AKConv + Mamba-out), tumor: Dice per case")[1]
    lines = section.split("\n\n")[0].splitlines()[1:]
    assert lines[0] == "| case | fold | truth pixels | base | combo |"
    # largest truth first; Dice = 2 tp / (2 tp + fp + fn) over the case's slices; a recipe that did not see the
    # case shows "-"; a case with no truth and no prediction says so
    assert lines[2:] == ["| 24 | 0 | 100 | - | 17.4 |", "| 12 | 1 | 3 | 85.7 | - |", "| 5 | 0 | 0 | - | - (none) |"]
    assert "U-Net, tumor: Dice per case" not in text  # U-Net ran nothing here


# ----------------------------------------------------------------------------------------------- round 4, DRIVE


def test_round4_drive_rows_change_one_thing_each(modules) -> None:
    plan, _, _ = modules
    runs = {r.name: r for r in plan.round4_drive_plan()}
    assert len(runs) == (6 + 2) * 5  # six round-4 rows and the round-3 trainings base and ema-long, every fold
    r3 = {r.name: r for r in plan.ablation_plan("drive")}
    for name in ("r3-drive-akmamba-base-f2", "r3-drive-akmamba-ema-long-f2"):
        assert runs[name] == r3[name]  # the very round-3 runs: same name, same commands
    base = _train_config(runs["r3-drive-akmamba-base-f2"].train_args("D", "O", None))
    clahe = _train_config(runs["r4-drive-akmamba-clahe-f2"].train_args("D", "O", None))
    assert (base.normalisation, clahe.normalisation) == ("zscore", "clahe")
    assert clahe.to_dict() | {"normalisation": "zscore", "out_dir": "O"} == base.to_dict()
    ema_long = _train_config(runs["r3-drive-akmamba-ema-long-f2"].train_args("D", "O", None))
    both = _train_config(runs["r4-drive-akmamba-ema-long-clahe-f2"].train_args("D", "O", None))
    assert both.to_dict() | {"normalisation": "zscore"} == ema_long.to_dict()
    assert (both.epochs, both.ema_decay) == (150, plan.EMA_DECAY_R3)
    evaluated = {recipe: (runs[f"r4-drive-akmamba-{recipe}-f2"].checkpoint_of,
                          runs[f"r4-drive-akmamba-{recipe}-f2"].checkpoint)
                 for recipe in ("final", "clahe-final", "ema-long-final", "ema-long-clahe-final")}
    assert evaluated == {
        "final": ("r3-drive-akmamba-base-f2", "last.safetensors"),
        "clahe-final": ("r4-drive-akmamba-clahe-f2", "last.safetensors"),
        "ema-long-final": ("r3-drive-akmamba-ema-long-f2", "last_ema.safetensors"),  # the average, not the raw weights
        "ema-long-clahe-final": ("r4-drive-akmamba-ema-long-clahe-f2", "last_ema.safetensors"),
    }
    with pytest.raises(ValueError, match="trains nothing"):
        runs["r4-drive-akmamba-final-f2"].train_args("D", "O", None)
    assert runs["r4-drive-akmamba-final-f2"].record()["checkpoint"] == "last.safetensors"
    # every earlier row still evaluates the best checkpoint
    assert {r.checkpoint for r in [*plan.plan("drive"), *plan.ablation_plan("bladder"), *r3.values()]} == {
        "best.safetensors"}
    only_final = plan.round4_drive_plan(recipes=("final",))  # asking for an evaluation row adds its training
    assert sorted({r.recipe for r in only_final}) == ["base", "final"]
    assert len(only_final) == 10
    assert len(plan.round4_drive_plan(("akmamba", "unet"))) == 80
    with pytest.raises(ValueError, match="unknown round-4 DRIVE recipe"):
        plan.round4_drive_plan(recipes=("clahe-green",))


def test_run_plan_round4_drive_lists_exact_commands(modules, capsys) -> None:
    _, run_plan, _ = modules
    assert run_plan.main(["--plan", "round4", "--dataset", "drive", "--data-root", "/data/D", "--out", "/runs",
                          "--device", "cuda", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()

    def after(name: str) -> list[str]:
        i = lines.index(next(x for x in lines if x.startswith(f"# {name}:")))
        return lines[i + 1: next((j for j in range(i + 1, len(lines)) if lines[j].startswith("#")), len(lines))]

    final = after("r4-drive-akmamba-final-f1")
    assert len(final) == 2  # predict and evaluate, no training
    assert "predict --model /runs/r3-drive-akmamba-base-f1/last.safetensors " in final[0]
    assert "--out /runs/r4-drive-akmamba-final-f1/pred" in final[0]
    assert final[1].endswith("evaluate --pred /runs/r4-drive-akmamba-final-f1/pred --gt /data/D --dataset drive "
                             "--out /runs/r4-drive-akmamba-final-f1/eval.json --overwrite")
    combo = after("r4-drive-akmamba-ema-long-clahe-final-f3")
    assert "predict --model /runs/r4-drive-akmamba-ema-long-clahe-f3/last_ema.safetensors " in combo[0]
    clahe = after("r4-drive-akmamba-clahe-f0")
    assert " train --dataset drive --data-root /data/D --out /runs/r4-drive-akmamba-clahe-f0 " in clahe[0]
    assert "--normalisation clahe --jsonl --folds 5 --fold 0" in clahe[0]
    assert "predict --model /runs/r4-drive-akmamba-clahe-f0/best.safetensors " in clahe[1]
    assert sum(" train " in x for x in lines) == 4 * 5  # base, ema-long, clahe, ema-long-clahe
    with pytest.raises(SystemExit):  # DRIVE recipes are not round-4 bladder recipes
        run_plan.main(["--plan", "round4", "--dataset", "bladder", "--data-root", "B", "--out", "O",
                       "--recipes", "clahe", "--list"])
    assert "belong to no plan" in capsys.readouterr().err


def test_run_plan_joins_plans_and_trains_shared_runs_once(modules, capsys) -> None:
    _, run_plan, _ = modules
    assert run_plan.main(["--plan", "round3,round4", "--recipes", "tta,final", "--dataset", "drive", "--data-root",
                          "D", "--out", "/runs", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [x.split(":")[0][2:] for x in lines if x.startswith("# ")]
    assert len(names) == len(set(names)) == 15  # base (round 3), tta (round 3) and final (round 4), 5 folds each
    assert sum(" train " in x for x in lines) == 5
    assert sum("predict --model /runs/r3-drive-akmamba-base-f0/" in x for x in lines) == 3  # best x2, last x1
    for bad in (["--plan", "round5"], ["--plan", "round3", "--recipes", "clahe"]):
        with pytest.raises(SystemExit):
            run_plan.main([*bad, "--dataset", "drive", "--data-root", "D", "--out", "O", "--list"])
    err = capsys.readouterr().err
    assert "unknown plan in 'round5'" in err
    assert "['clahe'] belong to no plan of --plan round3" in err


def test_run_plan_needs_the_final_checkpoint_file(modules, tmp_path, capsys) -> None:
    plan, run_plan, _ = modules
    final = next(r for r in plan.round4_drive_plan(recipes=("final",)) if r.name == "r4-drive-akmamba-final-f0")
    args = argparse.Namespace(out=tmp_path, data_root="D", device="cpu", eval_parallel=1, parallel=1, deadline=None,
                              eval_reserve=0)
    assert run_plan.evaluation_commands(final, args, ["a.tif"])[0][5] == str(
        tmp_path / "r3-drive-akmamba-base-f0" / "last.safetensors")
    (tmp_path / "r3-drive-akmamba-base-f0").mkdir()
    (tmp_path / "r3-drive-akmamba-base-f0" / "best.safetensors").write_bytes(b"")  # best alone is not enough
    assert run_plan.execute([final], args) == 1
    assert "need ['r3-drive-akmamba-base-f0']" in capsys.readouterr().err


def test_round4_drive_table_shows_input_and_checkpoint_as_run(modules, tmp_path) -> None:
    plan, _, summarise = modules
    runs = {r.name: r for r in plan.round4_drive_plan(recipes=("final", "clahe"))}
    values = {"base": (0.80, 0.82), "final": (0.805, 0.81), "clahe": (0.83, None)}
    for recipe, dices in values.items():
        for fold, dice in enumerate(dices):
            name = (f"r3-drive-akmamba-{recipe}-f{fold}" if recipe == "base"
                    else f"r4-drive-akmamba-{recipe}-f{fold}")
            run = runs[name]
            _fake_run(tmp_path / "runs", name, run.record(), dice, trained=recipe != "final")
            folder = tmp_path / "runs" / "drive" / name
            if recipe != "final":
                config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
                config["normalisation"] = "clahe" if recipe == "clahe" else "zscore"
                (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
            source = tmp_path / "runs" / "drive" / (run.checkpoint_of or name)
            (folder / "commands.txt").write_text(
                f"python3 -m akmamba.cli predict --model {source / run.checkpoint} --out {folder / 'pred'} "
                "--device cuda --probs '<validation images>'\n", encoding="utf-8")
    summarise.collect([tmp_path / "runs"], into=tmp_path / "results")
    records = summarise.load(tmp_path / "results")
    assert summarise.evaluated_file(records["r4-drive-akmamba-final-f0"]) == "last.safetensors"
    text = summarise.render(records)
    section = text.split("## Round 4 DRIVE ablations, vessels inside the FOV, per-image mean")[1]
    rows = {line.split(" | ")[1].split(":")[0]: line for line in section.split("\n\n")[0].splitlines()
            if line.startswith("| Akmamba")}
    assert list(rows) == ["base", "clahe", "final"]
    assert "| 2 | 1500 | - | zscore | best | none |" in rows["base"]
    assert "| 1 | 1500 | - | clahe | best | none |" in rows["clahe"]
    assert "| 2 | 1500 | - | zscore | final | none |" in rows["final"]  # training facts from base's run
    assert rows["final"].endswith("| base: -0.25 ± 1.06 (2 folds) | -0.25 ± 1.06 (2 folds) |")
    assert rows["clahe"].endswith("| base: +3.00 (1 fold) | +3.00 (1 fold) |")
    round3 = text.split("## Round 3 recipe ablations, DRIVE vessels inside the FOV, per-image mean")[1].split("##")[0]
    assert "clahe" not in round3
    assert "final" not in round3


def test_round4_drive_table_compares_round3_flips_with_ema_long(modules, tmp_path) -> None:
    plan, _, summarise = modules
    runs = {r.name: r for r in plan.ablation_plan("drive", recipes=("base", "ema-long-tta"))}
    runs.update({r.name: r for r in plan.round4_drive_plan(recipes=("ema-long-final",))})
    values = {"r3-drive-akmamba-base": 0.80, "r3-drive-akmamba-ema-long": 0.81,
              "r3-drive-akmamba-ema-long-tta": 0.814, "r4-drive-akmamba-ema-long-final": 0.805}
    for stem, dice in values.items():
        run = runs[f"{stem}-f0"]
        trained = not stem.endswith(("tta", "final"))
        _fake_run(tmp_path / "runs", run.name, run.record(), dice, trained=trained,
                  ema=0.995 if "ema" in stem else None, tta=run.tta, steps=3000 if "ema" in stem else 1500)
    rows = _table_rows(summarise, tmp_path, "## Round 4 DRIVE ablations, vessels inside the FOV, per-image mean")
    assert list(rows) == ["base", "ema-long", "ema-long-tta", "ema-long-final"]
    assert "| 3000 | 0.995 | zscore | best | flips |" in rows["ema-long-tta"]
    assert rows["ema-long-tta"].endswith("| ema-long: +0.40 (1 fold) | +1.40 (1 fold) |")
    assert rows["ema-long"].endswith("| base: +1.00 (1 fold) | +1.00 (1 fold) |")


def test_model_pair_table_pairs_folds_in_the_given_recipe_order(modules) -> None:
    _, _, summarise = modules

    def rec(model: str, recipe: str, fold: int, dice: float) -> dict:
        return {"plan": {"model": model, "recipe": recipe, "fold": fold},
                "summary": {"vessel": {"per_image_mean": {"dice": dice}}}}

    recs = [rec("akmamba", "clahe", 0, 0.82), rec("unet", "clahe", 0, 0.80), rec("akmamba", "clahe", 1, 0.79),
            rec("unet", "clahe", 1, 0.80), rec("akmamba", "base", 0, 0.81), rec("unet", "base", 0, 0.80),
            rec("unet", "base", 1, 0.80), rec("akmamba", "final", 0, 0.9), {"plan": {"model": "unet", "recipe":
            "base", "fold": None}, "summary": {}}]  # an all-data run has no fold: left out
    text = summarise.model_pair_table(recs, ["base", "ema-long", "clahe", "final"], ("vessel",), "per_image_mean")
    rows = text.splitlines()[2:]
    assert rows == ["| base | vessel | +1.00 (1 fold) | 1 of 1 |",  # U-Net's fold 1 has no Akmamba-Net partner
                    "| clahe | vessel | +0.50 ± 2.12 (2 folds) | 1 of 2 |"]  # final: U-Net did not run it
    assert summarise.model_pair_table(recs, ["ema-long"], ("vessel",), "per_image_mean") == ""


def test_round4_all_data_rows_train_the_recipe_on_every_case(modules) -> None:
    plan, _, _ = modules
    runs = {r.name: r for r in plan.bladder_plan(("akmamba", "unet"), ("base", "combo"), all_data=("combo",))}
    assert len(runs) == 2 * (2 * 3 + 1)
    whole = runs["r4-bladder-akmamba-combo-all"]
    assert whole.fold is None
    assert whole.recipe == "combo"
    cfg = _train_config(whole.train_args("D", "O", None)).to_dict()
    fold = _train_config(runs["r4-bladder-akmamba-combo-f0"].train_args("D", "O", None)).to_dict()
    assert cfg["folds"] == 0
    assert fold["folds"] == 3
    assert {k: v for k, v in cfg.items() if fold[k] != v and k not in ("folds", "out_dir", "val_every")} == {}
    with pytest.raises(ValueError, match="all-data"):
        plan.bladder_plan(all_data=("focal",))


def _fold_record(path: Path, wall: float, tumour: float) -> None:
    summary = {"bladder_wall": {"pooled": {"dice": wall}}, "tumor": {"pooled": {"dice": tumour}},
               "mean_over_labels": {"pooled": {"dice": 0.999}}}  # must not enter the per-label mean
    path.write_text(json.dumps({"summary": summary}), encoding="utf-8")


def test_ship_model_card_figures_come_from_the_fold_reports(tmp_path) -> None:
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import ship_model
    finally:
        sys.path.remove(str(EXPERIMENTS))
    _fold_record(tmp_path / "r4-x-combo-f0.json", 0.7, 0.2)
    _fold_record(tmp_path / "r4-x-combo-f1.json", 0.8, 0.4)
    _fold_record(tmp_path / "r4-x-combo-all.json", 0.0, 0.0)  # the all-data run: not a fold
    _fold_record(tmp_path / "r4-x-combo-ema-long-final-f0.json", 0.0, 0.0)  # another recipe with a longer name
    v = ship_model.fold_validation("r4-x-combo", tmp_path)
    assert v["bladder_wall"]["dice_mean"] == pytest.approx(0.75)
    assert v["bladder_wall"]["dice_sd"] == pytest.approx(0.0707107, abs=1e-6)
    assert v["tumor"]["dice_mean"] == pytest.approx(0.3)
    assert v["mean_over_labels"]["dice_mean"] == pytest.approx(0.525)
    assert v["mean_over_labels"]["folds"] == 2
    assert v["tumor"]["runs"] == ["r4-x-combo-f0", "r4-x-combo-f1"]
    assert ship_model.fold_validation("r4-x-combo-ema-long-final", tmp_path)["tumor"]["folds"] == 1
    with pytest.raises(FileNotFoundError, match="no fold records"):
        ship_model.fold_validation("r4-y", tmp_path)
    (tmp_path / "r4-z-f0.json").write_text(json.dumps({"run": "r4-z-f0"}), encoding="utf-8")
    with pytest.raises(FileNotFoundError, match="no evaluation summary"):
        ship_model.fold_validation("r4-z", tmp_path)
    # the card names the training run whether the file is RUN/best.safetensors or collect's RUN.safetensors
    assert ship_model.training_run(Path("out/r4-x-combo-all/best.safetensors")) == "r4-x-combo-all"
    assert ship_model.training_run(Path("/work/.device/5/r4-x-combo-all.safetensors")) == "r4-x-combo-all"
    # DRIVE: one label, the per-image mean (its convention); no mean over labels
    for fold, (pooled, per_image) in enumerate(((0.81, 0.80), (0.79, 0.76))):
        summary = {"vessel": {"pooled": {"dice": pooled}, "per_image_mean": {"dice": per_image}}}
        (tmp_path / f"r4-drive-u-ema-long-final-f{fold}.json").write_text(json.dumps({"summary": summary}),
                                                                         encoding="utf-8")
    drive = ship_model.fold_validation("r4-drive-u-ema-long-final", tmp_path, kind="per_image_mean")
    assert list(drive) == ["vessel"]
    assert (drive["vessel"]["dice_mean"], drive["vessel"]["kind"]) == (pytest.approx(0.78), "per_image_mean")
    pooled = ship_model.fold_validation("r4-drive-u-ema-long-final", tmp_path)
    assert pooled["vessel"]["dice_mean"] == pytest.approx(0.8)


def test_recipe_models_table_and_ablation_steps_pair_folds(modules) -> None:
    _, _, summarise = modules

    def rec(model: str, fold: int | None, dice: float, recipe: str = "combo", steps: int = 1250) -> dict:
        cell = {"precision": 0.5, "dice": dice, "iou": 0.25}
        return {"plan": {"model": model, "recipe": recipe, "fold": fold}, "done": {"steps": steps},
                "summary": {label: {"pooled": cell} for label in summarise.BLADDER_LABELS}}

    recs = [rec("akmamba", 0, 0.60), rec("akmamba", 1, 0.50), rec("unet", 0, 0.40), rec("unet", 1, 0.55),
            rec("unet_akconv", 0, 0.70, steps=1150), rec("unet_akconv", 1, 0.45),
            rec("unetpp", 0, 0.1, recipe="base"),  # another recipe: left out
            rec("akmamba", None, 0.9)]  # an all-data run: left out
    rows = summarise.recipe_models_table(recs, "combo").splitlines()
    assert [r.split(" | ")[0] for r in rows[2:]] == ["| U-Net", "| U-Net + AKConv",
                                                      "| Akmamba-Net (AKConv + Mamba-out)"]
    assert rows[2] == ("| U-Net | 2 | 1250 | " + " | ".join(["50.00 ± 0.00 / 47.50 ± 10.61 / 25.00 ± 0.00"] * 3)
                       + " | 81.12 / 85.67 / 74.93 | +7.50 ± 17.68 (2 folds), higher in 1 of 2 |")
    assert "| U-Net + AKConv | 2 | 1150/1250 |" in rows[3]
    assert rows[3].endswith("| -2.50 ± 10.61 (2 folds), higher in 1 of 2 |")
    assert rows[4].endswith("| 89.64 / 89.98 / 81.65 | - |")
    assert summarise.recipe_models_table(recs, "whole") == ""

    steps = summarise.ablation_steps_table(recs, "combo").splitlines()[2:]
    assert steps[0] == "| U-Net + AKConv - U-Net | bladder_wall | +10.00 ± 28.28 (2 folds) | 1 of 2 |"
    assert steps[-1] == ("| Akmamba-Net (AKConv + Mamba-out) - U-Net + AKConv | mean_over_labels | "
                         "-2.50 ± 10.61 (2 folds) | 1 of 2 |")
    assert len(steps) == 6  # U-Net + Mamba-out did not run: its two steps are left out
    assert summarise.ablation_steps_table(recs, "base") == ""


def test_round4_drive_all_data_rows_train_the_recipe_on_every_image(modules) -> None:
    plan, _, _ = modules
    runs = {r.name: r for r in plan.round4_drive_plan(("akmamba", "unet"), ("ema-long-final",),
                                                       all_data=("ema-long", "clahe"))}
    assert len(runs) == 2 * (2 * 5 + 2)  # the row and its trainings per fold, two all-data runs, per model
    whole = runs["r4-drive-akmamba-ema-long-all"]
    assert (whole.fold, whole.recipe, whole.checkpoint_of) == (None, "ema-long", None)
    cfg = _train_config(whole.train_args("D", "O", None)).to_dict()
    fold = _train_config(runs["r3-drive-akmamba-ema-long-f0"].train_args("D", "O", None)).to_dict()
    assert (cfg["folds"], fold["folds"], cfg["ema_decay"]) == (0, 5, 0.995)
    assert {k: v for k, v in cfg.items() if fold[k] != v and k not in ("folds", "fold", "out_dir", "val_every")} == {}
    assert runs["r4-drive-unet-clahe-all"].train_extra == ("--normalisation", "clahe")
    with pytest.raises(ValueError, match="all-data"):
        plan.round4_drive_plan(all_data=("ema-long-final",))


def test_per_case_models_table_has_a_column_per_model(modules) -> None:
    _, _, summarise = modules

    def rec(model: str, recipe: str, fold: int | None, counts: dict[str, list[int]]) -> dict:
        return {"plan": {"model": model, "recipe": recipe, "fold": fold}, "per_case": {"tumor": counts}}

    recs = [rec("akmamba", "combo", 0, {"5": [1, 1, 1], "7": [0, 0, 4]}),
            rec("unet", "combo", 0, {"5": [0, 0, 2], "7": [2, 0, 2]}),
            rec("unetpp", "base", 0, {"5": [2, 0, 0]}),  # another recipe: left out
            rec("unet", "combo", None, {"5": [9, 0, 0]})]  # an all-data run: left out
    rows = summarise.per_case_models_table(recs, "combo", "tumor").splitlines()
    assert rows[0] == "| case | fold | truth pixels | U-Net | Akmamba-Net (AKConv + Mamba-out) |"
    assert rows[2:] == ["| 7 | 0 | 4 | 66.7 | 0.0 |", "| 5 | 0 | 2 | 0.0 | 50.0 |"]  # largest truth first
    assert summarise.per_case_models_table(recs, "whole", "tumor") == ""


def test_recipe_models_sections_title_each_recipe_and_skip_empty_ones(modules) -> None:
    _, _, summarise = modules

    def rec(model: str, recipe: str, fold: int, dice: float) -> dict:
        cell = {"precision": 0.5, "dice": dice, "iou": 0.25}
        return {"plan": {"model": model, "recipe": recipe, "fold": fold}, "done": {"steps": 2500},
                "summary": {label: {"pooled": cell} for label in summarise.BLADDER_LABELS},
                "per_case": {"tumor": {"5": [1, 1, 1]}, "bladder_wall": {"5": [2, 0, 0]}}}

    recs = [rec(m, "combo-ema-long", f, d) for m, d in (("akmamba", 0.6), ("unet_akconv", 0.5)) for f in (0, 1)]
    out = summarise._recipe_models_sections(recs, "combo-ema-long")
    titles = [s for s in out if s.startswith("## ")]
    assert titles[0].startswith("## Round 4, Bladder MRI, Table 3 models with the `combo-ema-long` recipe")
    assert titles[1] == "## Round 4, Bladder MRI, Table 3 as paired differences (`combo-ema-long` recipe, pooled Dice)"
    assert len(titles) == 4  # the two per-case tables (tumour, wall) follow
    assert "+10.00 ± 0.00 (2 folds), higher in 2 of 2" in out[2]  # Akmamba-Net minus U-Net + AKConv
    first = summarise._recipe_models_sections([rec("unet", "combo", 0, 0.4)], summarise.BLADDER_MODELS_RECIPES[0])
    assert first[1].startswith("## Round 4, Bladder MRI, Tables 2-3 on the fixed code: every model with the `combo`")
    assert summarise._recipe_models_sections(recs, "combo") == []
