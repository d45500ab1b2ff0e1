"""``TrainConfig``: every training setting in one frozen, validated dataclass (JSON in, JSON out)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from akmamba.data.augment import AUGMENTATIONS
from akmamba.data.normalize import NORMALISATIONS
from akmamba.errors import ConfigError
from akmamba.registry import suggest
from akmamba.schema import check_fields, read_json_object

#: Training losses (:func:`akmamba.train.engine.make_loss`).
LOSSES = ("dice_ce", "dice_ce_batch")
#: Validation Dice used to pick the best checkpoint (see ``TrainConfig.val_metric``).
VAL_METRICS = ("per_image", "pooled")
#: Optimisers (``TrainConfig.optimizer``).
OPTIMIZERS = ("adam", "sgd")
#: Learning-rate schedules over the planned steps (``TrainConfig.lr_schedule``).
LR_SCHEDULES = ("constant", "cosine", "poly")



@dataclass(frozen=True)
class TrainConfig:
    """Training settings; defaults follow the paper (Adam, lr 5e-4, weight decay 1e-4, batch 8).

    Attributes:
        dataset: a shipped description name (``drive``, ``bladder``) or a dataset description JSON path.
        data_root: the folder the description's paths are relative to.
        out_dir: run folder (checkpoints, config, events).
        model: registered architecture name.
        model_options: options for ``build_model``.
        epochs: 1..1000.
        batch_size: patches per step (per process under torchrun).
        lr: initial learning rate.
        weight_decay: weight decay (L2, as in the paper).
        optimizer: ``adam`` (the paper) or ``sgd`` (nnU-Net's: SGD with Nesterov momentum 0.99; use lr 0.01,
            weight decay 3e-5 and the ``poly`` schedule as nnU-Net does).
        patch_size: ``[h, w]`` training patch, or None for whole images.
        samples_per_epoch: patches per epoch (default: one per training image).
        folds: k for patient-level k-fold; 0 trains on every case with no validation.
        fold: validation fold index.
        val_every: validate every N epochs.
        early_stopping: stop after this many validations without improvement (None: never).
        seed: seed of weights, splits, patches and augmentation.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision (bfloat16) on CUDA; ignored on CPU.
        loss: ``dice_ce`` (MONAI DiceCELoss, softmax, background excluded from Dice, Dice per image) or
            ``dice_ce_batch`` (the same with ``batch=True``: each class's Dice over the whole batch, so that false
            positives of a rare class in patches where it is absent are penalised; :func:`make_loss`).
        normalisation: input normalisation, ``zscore`` (default) or ``clahe`` (:mod:`akmamba.data.normalize`);
            stored in the checkpoint, so prediction normalises the same way.
        augment: augment the training patches (see ``augmentation``); False: none.
        augmentation: ``basic`` (flips, 90-degree rotations, intensity jitter) or ``strong`` (nnU-Net's spatial and
            intensity augmentation from MONAI transforms: :mod:`akmamba.data.augment`).
        foreground_fraction: share of patches centred on a labelled pixel.
        oversample_class: with ``oversample_factor`` > 1, training images whose label holds this class index (e.g.
            2, bladder tumour) are drawn ``oversample_factor`` times as often as the others (slice-level
            oversampling, :func:`akmamba.data.dataset.class_repeats`). None: every image equally often.
        oversample_factor: 1..100; used only with ``oversample_class``.
        val_metric: which validation Dice picks the best checkpoint and drives early stopping, averaged over the
            foreground labels: ``per_image`` (mean over validation images; an image where a label is absent from
            both truth and prediction scores 1, so never predicting a rare class scores well) or ``pooled`` (from
            the counts summed over all validation images, as docs/RESULTS.md reports the bladder). Both are in
            every ``validation`` event.
        init_from: checkpoint to warm-start from (fine-tuning).
        resume: continue from ``out_dir/last`` if present (weights, optimiser, schedule, epoch, sampler position,
            weight average, time budget); without it an ``out_dir`` that already holds a run is refused.
        max_steps: stop after this many optimiser steps (smoke tests).
        num_workers: DataLoader workers (0: in-process).
        lr_schedule: ``constant`` (the paper), ``cosine`` (decay to 1 % of ``lr`` over the planned steps) or
            ``poly`` (nnU-Net's ``lr * (1 - step / planned) ** 0.9``).
        time_budget_s: fit the number of steps to this many seconds of training (validation not counted): the
            step time is measured over steps 10-40 and the planned steps (and so the schedule's end) set from it,
            as nnU-Net's time-budgeted runs do; ``epochs`` is then ignored. None: ``epochs`` decides.
        time_limit_s: stop after the epoch in which this many seconds of training have passed (None: no limit);
            the ``done`` event then says ``stopped_by: "time_limit"``.
        version: version string written into the best checkpoint's metadata.
        parent_version: the version this run starts from (fine-tuning), recorded in metadata.
        edit_masks: folder (absolute, or relative to ``data_root``) of correction masks ``<image stem>.png``
            (non-zero = a pixel the user edited); with it the loss weights edited pixels by ``edit_weight``
            (:class:`akmamba.finetune.weights.WeightedDiceCELoss`). An image without a mask file has no edits.
        edit_weight: loss weight of edited pixels (the rest weigh 1); used only with ``edit_masks``.
        ema_decay: keep an exponential moving average of the weights with this decay (e.g. 0.995; None: off,
            the default). When on, validation and ``best.safetensors`` use the averaged weights (metadata
            ``weights: "ema"`` and ``ema: {decay, updates}``); ``last.safetensors`` keeps the trained weights and
            ``last_ema.safetensors`` the average, so ``resume`` continues both (:mod:`akmamba.train.ema`).
        val_cases: explicit validation case ids (overrides ``folds``/``fold``; fine-tuning uses its frozen
            held-out split); ``[]`` trains on everything with no validation.
    """

    dataset: str
    data_root: str
    out_dir: str
    model: str = "akmamba"
    model_options: dict[str, Any] = field(default_factory=dict)
    epochs: int = 100
    batch_size: int = 8
    lr: float = 5e-4
    weight_decay: float = 1e-4
    patch_size: tuple[int, int] | None = None
    samples_per_epoch: int | None = None
    folds: int = 5
    fold: int = 0
    val_every: int = 1
    early_stopping: int | None = None
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    loss: str = "dice_ce"
    normalisation: str = "zscore"
    augment: bool = True
    foreground_fraction: float = 0.5
    init_from: str | None = None
    resume: bool = False
    max_steps: int | None = None
    num_workers: int = 0
    lr_schedule: str = "constant"
    time_limit_s: float | None = None
    time_budget_s: float | None = None
    optimizer: str = "adam"
    augmentation: str = "basic"
    version: str = "1"
    parent_version: str | None = None
    edit_masks: str | None = None
    edit_weight: float = 5.0
    val_cases: list[str] | None = None
    ema_decay: float | None = None
    oversample_class: int | None = None
    oversample_factor: int = 1
    val_metric: str = "per_image"

    def __post_init__(self) -> None:
        if self.patch_size is not None:
            ps = tuple(int(v) for v in self.patch_size)
            if len(ps) != 2 or min(ps) < 8:
                raise ConfigError(f"patch_size must be [height, width], each >= 8; got {self.patch_size!r}.",
                                  parameter="patch_size", expected="[h, w] >= 8", got=self.patch_size)
            object.__setattr__(self, "patch_size", ps)
        checks = [
            ("epochs", 1 <= self.epochs <= 1000, "1..1000"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("folds", self.folds == 0 or self.folds >= 2, "0 or >= 2"),
            ("fold", self.folds == 0 or 0 <= self.fold < self.folds, f"0..{self.folds - 1}"),
            ("val_every", self.val_every >= 1, ">= 1"),
            ("loss", self.loss in LOSSES, " or ".join(map(repr, LOSSES))),
            ("loss", self.edit_masks is None or self.loss == "dice_ce", "'dice_ce' with edit_masks"),
            ("normalisation", self.normalisation in NORMALISATIONS, " or ".join(map(repr, NORMALISATIONS))),
            ("foreground_fraction", 0 <= self.foreground_fraction <= 1, "0..1"),
            ("num_workers", self.num_workers >= 0, ">= 0"),
            ("lr_schedule", self.lr_schedule in LR_SCHEDULES, " or ".join(map(repr, LR_SCHEDULES))),
            ("time_limit_s", self.time_limit_s is None or self.time_limit_s > 0, "> 0 or None"),
            ("time_budget_s", self.time_budget_s is None or self.time_budget_s > 0, "> 0 or None"),
            ("optimizer", self.optimizer in OPTIMIZERS, " or ".join(map(repr, OPTIMIZERS))),
            ("augmentation", self.augmentation in AUGMENTATIONS, " or ".join(map(repr, AUGMENTATIONS))),
            ("edit_weight", self.edit_weight > 0, "> 0"),
            ("val_cases", self.val_cases is None or isinstance(self.val_cases, (list, tuple)), "a list or None"),
            ("ema_decay", self.ema_decay is None or 0 < self.ema_decay < 1, "in (0, 1) or None"),
            ("oversample_class", self.oversample_class is None or self.oversample_class >= 1,
             "a foreground class index >= 1 or None"),
            ("oversample_factor", 1 <= self.oversample_factor <= 100, "1..100"),
            ("val_metric", self.val_metric in VAL_METRICS, " or ".join(map(repr, VAL_METRICS))),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"Training option {name} must be {expected}; got {getattr(self, name)!r}.",
                                  parameter=name, expected=expected, got=getattr(self, name))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        d = dataclasses.asdict(self)
        d["patch_size"] = list(self.patch_size) if self.patch_size else None
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> TrainConfig:
        """Build from a dict; unknown keys raise ConfigError with a did-you-mean guess, and so does a value whose
        JSON type does not fit the field (``"epochs": "ten"``, ``"amp": "no"``; :func:`akmamba.schema.check_fields`)."""
        names = [f.name for f in dataclasses.fields(cls)]
        where = f" in {source!r}" if source else ""
        for key in data:
            if key not in names:
                raise ConfigError(f"Unknown training option {key!r}{where}.{suggest(key, names)} "
                                  f"Valid options: {', '.join(names)}.", path=source, parameter=key,
                                  expected=names, got=key)
        missing = [n for n in ("dataset", "data_root", "out_dir") if n not in data]
        if missing:
            raise ConfigError(f"Training config{where} lacks required option(s) {', '.join(missing)}.",
                              path=source, parameter=missing[0], expected=missing, got=None)
        check_fields(cls, data, source=source, what="Training config")
        return cls(**data)

    @classmethod
    def from_json(cls, path: str | Path) -> TrainConfig:
        """Read a JSON config file."""
        p = Path(path)
        data = read_json_object(p, "Training config", ConfigError, parameter="config")
        return cls.from_dict(data, source=str(p))
