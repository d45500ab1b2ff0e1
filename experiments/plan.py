"""The experiment plan behind docs/RESULTS.md: every training run of Tables 1-3 and of the shipped models, and
the recipe ablations of round 3.

One run = one ``akmamba train`` command plus, when it has a validation fold, ``akmamba predict`` on the
validation images and ``akmamba evaluate`` against the manual labels. A run with ``checkpoint_of`` trains
nothing: it evaluates another run's best checkpoint (with other inference settings, e.g. test-time
augmentation). ``experiments/run_plan.py`` executes a plan on one machine (several runs at once on one GPU);
``experiments/summarise.py`` turns the results into the tables. The recipe is fixed here, before any result was
seen, and used unchanged for the shipped models.

Round 3 (:func:`ablation_plan`, experiments/round3.md) changes one thing of the round-2 recipe per row, for
Akmamba-Net on every fold: a rerun of the recipe as the control, test-time flips, weight averaging, a schedule
twice as long, and the last two together with and without flips.

Round 4 (:func:`bladder_plan`, experiments/round4.md) does the same for the bladder's rare tumour class:
checkpoint selection by pooled Dice, slice-level oversampling of tumour slices, batch Dice, whole-slice
training, and their combination. Every round-3 and round-4 run uses the sampler that draws every training slice
(round 2's drew only the first 400 of 544-639 slices per fold; round4.md).

Round 4 for DRIVE (:func:`round4_drive_plan`, experiments/round4-drive.md) adds CLAHE input normalisation and
evaluation on the final weights instead of the checkpoint picked on the validation fold (``Run.checkpoint``), alone
and on top of round 3's ``ema-long``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Width and placement used for every table row and for the shipped models (docs/model-core.md explains the
#: choice: it is the configuration that meets the CPU speed target). Baselines get the same base width.
BASE = 16
AKMAMBA_OPTIONS: dict[str, Any] = {"base_channels": BASE, "akconv_levels": [1, 2, 3, 4], "mambaout_levels": [1, 2, 3]}
MODEL_OPTIONS: dict[str, dict[str, Any]] = {
    "akmamba": AKMAMBA_OPTIONS,
    "unet": {"base_channels": BASE},
    "unet_akconv": {"base_channels": BASE, "akconv_levels": [1, 2, 3, 4]},
    "unet_mambaout": {"base_channels": BASE, "mambaout_levels": [1, 2, 3]},
    "attention_unet": {"base_channels": BASE},
    "unetpp": {"base_channels": BASE},
    "unet3plus": {"base_channels": BASE},
    "transunet": {"base_channels": BASE},
}
TABLE_MODELS = ["unet", "attention_unet", "unetpp", "unet3plus", "transunet", "unet_akconv", "unet_mambaout",
                "akmamba"]

#: Recipe shared by every run (the paper's optimiser; patches, cosine decay and the step budget are ours).
RECIPE: dict[str, Any] = {"batch_size": 8, "lr": 5e-4, "weight_decay": 1e-4, "lr_schedule": "cosine",
                          "patch_size": [256, 256], "seed": 0}
DATASETS: dict[str, dict[str, Any]] = {
    # 20 images: 75 epochs x 160 patches = 1500 steps of batch 8.
    "drive": {"folds": 5, "epochs": 75, "samples_per_epoch": 160, "val_every": 10, "foreground_fraction": 0.5},
    # 14 cases: 25 epochs x 400 patches = 1250 steps of batch 8; folds split by case. Round 2 (after round 1 never
    # predicted tumour): class-balanced patch centres and 80 % foreground-centred patches.
    "bladder": {"folds": 3, "epochs": 25, "samples_per_epoch": 400, "val_every": 5, "foreground_fraction": 0.8},
}

if os.environ.get("AKMAMBA_PLAN_SMOKE"):  # a two-step pass through the whole pipeline, for checking the scripts
    DATASETS = {k: {**v, "epochs": 1, "samples_per_epoch": 16} for k, v in DATASETS.items()}


@dataclass(frozen=True)
class Run:
    """One training run (and its evaluation when ``fold`` is not None)."""

    name: str
    dataset: str
    model: str
    fold: int | None  # None: train on every case (shipped model)
    options: dict[str, Any] = field(default_factory=dict)
    priority: int = 0  # higher starts first
    recipe: str | None = None  # round-3/4 recipe id (a key of RECIPES_R3 / RECIPES_R4); None: the Tables 1-3 plan
    train_extra: tuple[str, ...] = ()  # extra ``akmamba train`` arguments
    epochs_factor: int = 1  # the dataset's epochs times this (a longer schedule)
    tta: str = "none"  # ``akmamba predict --tta`` for the evaluation
    checkpoint: str = "best.safetensors"  # the file evaluated (the run's own or checkpoint_of's); FINAL_FILES
    checkpoint_of: str | None = None  # evaluate this run's checkpoint instead of training
    patch_size: tuple[int, int] | None = None  # instead of RECIPE's (round 4: whole 512 x 512 bladder slices)

    def train_args(self, data_root: str, out_dir: str, time_limit_s: float | None) -> list[str]:
        """Arguments of ``akmamba train`` for this run."""
        if self.checkpoint_of is not None:
            raise ValueError(f"run {self.name!r} trains nothing: it evaluates the checkpoint of {self.checkpoint_of!r}")
        d = DATASETS[self.dataset]
        args = ["train", "--dataset", self.dataset, "--data-root", data_root, "--out", out_dir, "--model", self.model,
                "--model-options", _json(self.options), "--epochs", str(d["epochs"] * self.epochs_factor),
                "--samples-per-epoch", str(d["samples_per_epoch"]), "--batch-size", str(RECIPE["batch_size"]),
                "--lr", str(RECIPE["lr"]), "--weight-decay", str(RECIPE["weight_decay"]),
                "--lr-schedule", RECIPE["lr_schedule"],
                "--patch-size", *map(str, self.patch_size or RECIPE["patch_size"]),
                "--seed", str(RECIPE["seed"]),
                "--foreground-fraction", str(d["foreground_fraction"]), *self.train_extra, "--jsonl"]
        if self.fold is None:
            args += ["--folds", "0"]
        else:
            args += ["--folds", str(d["folds"]), "--fold", str(self.fold), "--val-every", str(d["val_every"])]
        if time_limit_s:
            args += ["--time-limit", str(time_limit_s)]
        return args

    def predict_args(self, checkpoint: str, pred_dir: str, device: str, images: list[str]) -> list[str]:
        """Arguments of ``akmamba predict`` on the validation images (whole images: tiles of 1024)."""
        tta = ["--tta", self.tta] if self.tta != "none" else []
        return ["predict", "--model", checkpoint, "--out", pred_dir, "--device", device, "--probs", "--overwrite",
                "--roi-size", "1024", *tta, *images]

    def record(self) -> dict[str, Any]:
        """JSON-ready description of the run (written to RUN/run.json; summarise.py reads it)."""
        return {"name": self.name, "dataset": self.dataset, "model": self.model, "fold": self.fold,
                "recipe": self.recipe, "train_extra": list(self.train_extra), "epochs_factor": self.epochs_factor,
                "tta": self.tta, "checkpoint_of": self.checkpoint_of, "checkpoint": self.checkpoint,
                "patch_size": list(self.patch_size or RECIPE["patch_size"])}


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, separators=(",", ":"))


def plan(dataset: str) -> list[Run]:
    """Every run for one dataset: all table models on fold 0, Akmamba-Net and U-Net on every fold, the two
    shipped models on all data."""
    folds = DATASETS[dataset]["folds"]
    runs: list[Run] = []
    heavy = {"akmamba": 3, "unet_mambaout": 2, "unet_akconv": 2, "unet3plus": 1, "unetpp": 1}
    for model in TABLE_MODELS:
        for fold in (range(folds) if model in ("akmamba", "unet") else [0]):
            runs.append(Run(f"{dataset}-{model}-f{fold}", dataset, model, fold, MODEL_OPTIONS[model],
                            heavy.get(model, 0)))
    for model in ("akmamba", "unet"):
        runs.append(Run(f"{dataset}-{model}-all", dataset, model, None, MODEL_OPTIONS[model], heavy.get(model, 0)))
    return sorted(runs, key=lambda r: -r.priority)


# ----------------------------------------------------------------------------------------------- round 3

#: EMA decay of the round-3 rows: averages over roughly the last 1 / (1 - 0.995) = 200 steps, and leaves the
#: early weights a share of 0.995^1250 = 0.2 % at the end of the shortest run (0.999 would leave 29 %).
EMA_DECAY_R3 = 0.995

#: Round-3 recipes, in table order: id -> (description, train arguments added, epochs factor, TTA, evaluate the
#: checkpoint of this recipe instead of training). Each changes the round-2 recipe in one named way.
RECIPES_R3: dict[str, tuple[str, tuple[str, ...], int, str, str | None]] = {
    "base": ("round-2 recipe, rerun (control)", (), 1, "none", None),
    "tta": ("base + test-time flips (same checkpoints as base)", (), 1, "flips", "base"),
    "ema": (f"base + weight EMA {EMA_DECAY_R3}", ("--ema-decay", str(EMA_DECAY_R3)), 1, "none", None),
    "long": ("base + schedule 2x as long", (), 2, "none", None),
    "ema-long": (f"base + EMA {EMA_DECAY_R3} + 2x schedule", ("--ema-decay", str(EMA_DECAY_R3)), 2, "none", None),
    "ema-long-tta": ("base + EMA + 2x schedule + test-time flips (same checkpoints as ema-long)", (), 2, "flips",
                     "ema-long"),
}


def r3_name(dataset: str, model: str, recipe: str, fold: int) -> str:
    """Run name of a round-3 row: ``r3-<dataset>-<model>-<recipe>-f<fold>``."""
    return f"r3-{dataset}-{model}-{recipe}-f{fold}"


def ablation_plan(dataset: str, models: tuple[str, ...] = ("akmamba",),
                  recipes: tuple[str, ...] | None = None) -> list[Run]:
    """Round 3: every recipe of :data:`RECIPES_R3` (or those named) for ``models`` on every fold of ``dataset``.

    Evaluation-only rows (``checkpoint_of``) follow their source recipe; asking for one adds its source. Longer
    trainings start first.
    """
    wanted = list(RECIPES_R3) if recipes is None else list(recipes)
    unknown = [r for r in wanted if r not in RECIPES_R3]
    if unknown:
        raise ValueError(f"unknown round-3 recipe(s) {unknown}; known: {', '.join(RECIPES_R3)}")
    wanted += [src for r in wanted if (src := RECIPES_R3[r][4]) is not None and src not in wanted]
    runs: list[Run] = []
    for model in models:
        for recipe in (r for r in RECIPES_R3 if r in wanted):
            _, extra, factor, tta, source = RECIPES_R3[recipe]
            for fold in range(DATASETS[dataset]["folds"]):
                runs.append(Run(r3_name(dataset, model, recipe, fold), dataset, model, fold, MODEL_OPTIONS[model],
                                priority=factor, recipe=recipe, train_extra=extra, epochs_factor=factor, tta=tta,
                                checkpoint_of=None if source is None else r3_name(dataset, model, source, fold)))
    return sorted(runs, key=lambda r: -r.priority)


# ----------------------------------------------------------------------------------------------- round 4

#: Slice-level oversampling of round 4: bladder slices holding tumour (class 2) are drawn this many times as often
#: as the others. Fold 0 has 177 tumour slices of 544, so the share of tumour slices drawn goes from 33 % to 59 %
#: (531 of a cycle of 898).
OVERSAMPLE_R4 = 3

_R4_OVERSAMPLE = ("--oversample-class", "2", "--oversample-factor", str(OVERSAMPLE_R4))
_R4_BATCH_DICE = ("--loss", "dice_ce_batch")
_R4_POOLED = ("--val-metric", "pooled")
WHOLE_SLICE = (512, 512)  # a patch as large as the bladder slice is the whole slice

class R4Recipe(NamedTuple):
    """A round-4 bladder row. ``source``: the row trains nothing and evaluates that recipe's trainings, with
    ``checkpoint`` ``"best"`` (picked on the validation fold) or ``"final"`` (the last weights: their average with
    EMA) and test-time augmentation ``tta``. ``reference``: the row the tables compare it with, fold by fold."""

    text: str
    extra: tuple[str, ...] = ()
    patch: tuple[int, int] | None = None  # None: RECIPE's patch size
    factor: int = 1  # the dataset's epochs times this
    source: str | None = None
    checkpoint: str = "best"
    tta: str = "none"
    reference: str = "base"


_R4_COMBO = (*_R4_POOLED, *_R4_OVERSAMPLE, *_R4_BATCH_DICE)
_R4_EMA = ("--ema-decay", str(EMA_DECAY_R3))

#: Round-4 recipes (bladder only), in table order. Each row up to ``combo-whole`` changes the round-2 recipe in one
#: named way or combines such changes; the ``combo-ema-long`` rows add what helped on DRIVE (EMA with the schedule
#: twice as long, then test-time flips; docs/RESULTS.md) and the final averaged weights, which nothing selects; the
#: ``combo-ema-4x`` rows double that schedule again.
RECIPES_R4: dict[str, R4Recipe] = {
    "base": R4Recipe("round-2 recipe, rerun with the fixed sampler (control)"),
    "pooled": R4Recipe("base + best checkpoint by pooled validation Dice", _R4_POOLED),
    "oversample": R4Recipe(f"base + tumour slices drawn {OVERSAMPLE_R4}x as often", _R4_OVERSAMPLE),
    "batch-dice": R4Recipe("base + Dice over the batch (DiceCE batch=True)", _R4_BATCH_DICE),
    "whole": R4Recipe("base + whole 512x512 slices instead of 256x256 patches", (), WHOLE_SLICE),
    "combo": R4Recipe("pooled + oversample + batch-dice", _R4_COMBO),
    "combo-whole": R4Recipe("combo + whole slices", _R4_COMBO, WHOLE_SLICE),
    "combo-ema-long": R4Recipe("combo + EMA 0.995 + 2x schedule", (*_R4_COMBO, *_R4_EMA), factor=2,
                               reference="combo"),
    "combo-ema-long-tta": R4Recipe("combo-ema-long + test-time flips (same checkpoints)", factor=2,
                                   source="combo-ema-long", tta="flips", reference="combo-ema-long"),
    "combo-ema-long-final": R4Recipe("combo-ema-long, final averaged weights (same trainings)", factor=2,
                                     source="combo-ema-long", checkpoint="final", reference="combo-ema-long"),
    # combo-ema-long's gain over combo (+4-5 mean Dice, 2500 against 1250 steps) had not levelled off: twice longer
    # again. Flips are left out (no clear gain on the bladder); the final weights are what an all-data run ships.
    "combo-ema-4x": R4Recipe("combo + EMA 0.995 + 4x schedule", (*_R4_COMBO, *_R4_EMA), factor=4,
                             reference="combo-ema-long"),
    "combo-ema-4x-final": R4Recipe("combo-ema-4x, final averaged weights (same trainings)", factor=4,
                                   source="combo-ema-4x", checkpoint="final", reference="combo-ema-long-final"),
}


def r4_name(model: str, recipe: str, fold: int | None) -> str:
    """Run name of a round-4 row: ``r4-bladder-<model>-<recipe>-f<fold>``, or ``-all`` for all 14 cases."""
    return f"r4-bladder-{model}-{recipe}-" + ("all" if fold is None else f"f{fold}")


def _r4_run(model: str, recipe: str, fold: int | None) -> Run:
    """The run of one round-4 bladder recipe on one fold (``None``: all 14 cases)."""
    r = RECIPES_R4[recipe]
    name = r4_name(model, recipe, fold)
    priority = 4 if r.patch is not None else r.factor  # whole slices cost ~4x a patch step; longer runs start first
    if r.source is None:
        return Run(name, "bladder", model, fold, MODEL_OPTIONS[model], priority=priority, recipe=recipe,
                   train_extra=r.extra, epochs_factor=r.factor, patch_size=r.patch)
    trained = _r4_run(model, r.source, fold)
    file = final_checkpoint(trained.train_extra) if r.checkpoint == "final" else "best.safetensors"
    return Run(name, "bladder", model, fold, MODEL_OPTIONS[model], priority=priority, recipe=recipe,
               epochs_factor=r.factor, tta=r.tta, checkpoint=file, checkpoint_of=trained.name,
               patch_size=trained.patch_size)


def bladder_plan(models: tuple[str, ...] = ("akmamba",), recipes: tuple[str, ...] | None = None,
                 all_data: tuple[str, ...] = ()) -> list[Run]:
    """Round 4: every recipe of :data:`RECIPES_R4` (or those named) for ``models`` on every bladder fold, with the
    trainings their evaluation-only rows use (asking for one adds its source), and the training recipes of
    ``all_data`` once more on all 14 cases (candidates for the shipped models: no validation, nothing evaluated;
    the one whose recipe the folds favour is shipped).

    Whole-slice rows cost about four times as much per step and start first, then the longer schedules.
    """
    stray = [r for r in all_data if r not in RECIPES_R4 or RECIPES_R4[r].source is not None]
    if stray:
        raise ValueError(f"unknown or evaluation-only round-4 recipe(s) {stray} for all-data runs; training "
                         f"recipes: {', '.join(r for r, v in RECIPES_R4.items() if v.source is None)}")
    wanted = list(RECIPES_R4) if recipes is None else list(recipes)
    unknown = [r for r in wanted if r not in RECIPES_R4]
    if unknown:
        raise ValueError(f"unknown round-4 recipe(s) {unknown}; known: {', '.join(RECIPES_R4)}")
    runs: dict[str, Run] = {}
    for model in models:
        for recipe in (r for r in RECIPES_R4 if r in wanted):
            for fold in range(DATASETS["bladder"]["folds"]):
                step: str | None = recipe
                while step is not None:  # the row, then the training it evaluates
                    run = _r4_run(model, step, fold)
                    runs.setdefault(run.name, run)
                    step = RECIPES_R4[step].source
        for recipe in all_data:
            run = _r4_run(model, recipe, None)
            runs.setdefault(run.name, run)
    return sorted(runs.values(), key=lambda r: -r.priority)


# ----------------------------------------------------------------------------------------------- round 4, DRIVE

#: The files ``akmamba train`` leaves with the weights of its last step: ``last.safetensors`` (the trained weights)
#: and, with ``--ema-decay``, ``last_ema.safetensors`` (their average, what an EMA recipe means to use). Evaluating
#: them instead of ``best.safetensors`` selects nothing on the validation fold.
FINAL_FILES = ("last.safetensors", "last_ema.safetensors")


def final_checkpoint(train_extra: tuple[str, ...]) -> str:
    """The file holding a run's final weights: ``last_ema.safetensors`` when it trains with ``--ema-decay``."""
    return FINAL_FILES[1] if "--ema-decay" in train_extra else FINAL_FILES[0]


_CLAHE = ("--normalisation", "clahe")
_EMA = ("--ema-decay", str(EMA_DECAY_R3))

#: Round-4 DRIVE recipes, in table order: id -> (description, train arguments added, epochs factor, recipe whose
#: training is evaluated instead of training (a round-3 or round-4 id) or None, checkpoint ``best`` or ``final``,
#: the recipe it is compared with fold by fold besides ``base``).
RECIPES_R4_DRIVE: dict[str, tuple[str, tuple[str, ...], int, str | None, str, str]] = {
    "clahe": ("base + CLAHE input normalisation", _CLAHE, 1, None, "best", "base"),
    "final": ("base, final weights instead of the best on the validation fold (same trainings as base)", (), 1,
              "base", "final", "base"),
    "clahe-final": ("clahe, final weights (same trainings as clahe)", (), 1, "clahe", "final", "clahe"),
    "ema-long-clahe": ("round-3 ema-long + CLAHE input normalisation", (*_EMA, *_CLAHE), 2, None, "best", "ema-long"),
    "ema-long-final": ("ema-long, final averaged weights (same trainings as ema-long)", (), 2, "ema-long", "final",
                       "ema-long"),
    "ema-long-clahe-final": ("ema-long + CLAHE, final averaged weights (same trainings as ema-long-clahe)", (), 2,
                             "ema-long-clahe", "final", "ema-long"),
}


def r4_drive_name(model: str, recipe: str, fold: int | None) -> str:
    """Run name of a round-4 DRIVE row: ``r4-drive-<model>-<recipe>-f<fold>``, or ``-all`` for all 20 images."""
    return f"r4-drive-{model}-{recipe}-" + ("all" if fold is None else f"f{fold}")


def drive_training_recipes() -> list[str]:
    """The DRIVE recipes that train (round 3's and round 4's), i.e. those an all-data run can use."""
    return ([r for r, v in RECIPES_R3.items() if v[4] is None]
            + [r for r, v in RECIPES_R4_DRIVE.items() if v[3] is None])


def _r4_drive_run(model: str, recipe: str, fold: int | None) -> Run:
    """The run of one round-4 recipe (or of a round-3 recipe it needs) on one DRIVE fold; ``fold`` None: the
    training recipe on all 20 images (``r4-drive-<model>-<recipe>-all``, round-3 recipes included)."""
    if fold is None:
        if recipe not in drive_training_recipes():
            raise ValueError(f"unknown or evaluation-only DRIVE recipe {recipe!r} for an all-data run; training "
                             f"recipes: {', '.join(drive_training_recipes())}")
        extra, factor = (RECIPES_R4_DRIVE[recipe][1:3] if recipe in RECIPES_R4_DRIVE else RECIPES_R3[recipe][1:3])
        return Run(r4_drive_name(model, recipe, None), "drive", model, None, MODEL_OPTIONS[model], priority=factor,
                   recipe=recipe, train_extra=extra, epochs_factor=factor)
    if recipe in RECIPES_R4_DRIVE:
        _, extra, factor, source, checkpoint, _ = RECIPES_R4_DRIVE[recipe]
        name = r4_drive_name(model, recipe, fold)
    else:  # a round-3 training that round-4 rows evaluate: the very run of round 3 (same name, same command)
        _, extra, factor, _, source = RECIPES_R3[recipe]
        name, checkpoint = r3_name("drive", model, recipe, fold), "best"
    if source is None:
        file = final_checkpoint(extra) if checkpoint == "final" else "best.safetensors"
        return Run(name, "drive", model, fold, MODEL_OPTIONS[model], priority=factor, recipe=recipe,
                   train_extra=extra, epochs_factor=factor, checkpoint=file)
    trained = _r4_drive_run(model, source, fold)
    file = final_checkpoint(trained.train_extra) if checkpoint == "final" else "best.safetensors"
    return Run(name, "drive", model, fold, MODEL_OPTIONS[model], priority=factor, recipe=recipe,
               epochs_factor=factor, checkpoint_of=trained.name, checkpoint=file)


def round4_drive_plan(models: tuple[str, ...] = ("akmamba",), recipes: tuple[str, ...] | None = None,
                      all_data: tuple[str, ...] = ()) -> list[Run]:
    """Round 4 on DRIVE: every recipe of :data:`RECIPES_R4_DRIVE` (or those named) for ``models`` on every fold,
    plus the trainings their evaluation-only rows use, and the training recipes of ``all_data`` (round 3's or
    round 4's) once more on all 20 images (candidates for the shipped models: nothing evaluated). The fold
    trainings of round-3 recipes (``base``, ``ema-long``) are the round-3 runs themselves (same names and
    commands), so a lease that runs round 3 and round 4 trains them once; drop them with ``run_plan.py --only``
    where they are already in the output folder. Longer trainings start first.
    """
    wanted = list(RECIPES_R4_DRIVE) if recipes is None else list(recipes)
    unknown = [r for r in wanted if r not in RECIPES_R4_DRIVE]
    if unknown:
        raise ValueError(f"unknown round-4 DRIVE recipe(s) {unknown}; known: {', '.join(RECIPES_R4_DRIVE)}")
    runs: dict[str, Run] = {}
    for model in models:
        for recipe in (r for r in RECIPES_R4_DRIVE if r in wanted):
            for fold in range(DATASETS["drive"]["folds"]):
                step: str | None = recipe
                while step is not None:  # the row, then the training it evaluates
                    run = _r4_drive_run(model, step, fold)
                    runs.setdefault(run.name, run)
                    step = RECIPES_R4_DRIVE[step][3] if step in RECIPES_R4_DRIVE else None
        for recipe in all_data:
            run = _r4_drive_run(model, recipe, None)
            runs.setdefault(run.name, run)
    return sorted(runs.values(), key=lambda r: -r.priority)
