"""The experiment plan behind docs/RESULTS.md: every training run of Tables 1-3 and of the shipped models.

One run = one ``akmamba train`` command plus, when it has a validation fold, ``akmamba predict`` on the
validation images and ``akmamba evaluate`` against the manual labels. ``experiments/run_plan.py`` executes a
plan on one machine (several runs at once on one GPU); ``experiments/summarise.py`` turns the results into the
tables. The recipe is fixed here, before any result was seen, and used unchanged for the shipped models.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

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

    def train_args(self, data_root: str, out_dir: str, time_limit_s: float | None) -> list[str]:
        """Arguments of ``akmamba train`` for this run."""
        d = DATASETS[self.dataset]
        args = ["train", "--dataset", self.dataset, "--data-root", data_root, "--out", out_dir, "--model", self.model,
                "--model-options", _json(self.options), "--epochs", str(d["epochs"]),
                "--samples-per-epoch", str(d["samples_per_epoch"]), "--batch-size", str(RECIPE["batch_size"]),
                "--lr", str(RECIPE["lr"]), "--weight-decay", str(RECIPE["weight_decay"]),
                "--lr-schedule", RECIPE["lr_schedule"], "--patch-size", *map(str, RECIPE["patch_size"]),
                "--seed", str(RECIPE["seed"]),
                "--foreground-fraction", str(d["foreground_fraction"]), "--jsonl"]
        if self.fold is None:
            args += ["--folds", "0"]
        else:
            args += ["--folds", str(d["folds"]), "--fold", str(self.fold), "--val-every", str(d["val_every"])]
        if time_limit_s:
            args += ["--time-limit", str(time_limit_s)]
        return args


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
