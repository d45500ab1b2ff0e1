"""The training loop: ``fit(cfg)`` yields one JSON-ready event dict per step, validation and checkpoint.

It prints nothing; the CLI (``akmamba.train.runner``) renders the events as a progress bar or JSON lines, and
the GUI reads the JSON lines from a child process. Under ``torchrun`` it trains with DistributedDataParallel
(NCCL on CUDA, gloo on CPU); rank 0 validates and writes files.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Subset

from akmamba import __version__
from akmamba.data.dataset import LoadedSample, PatchDataset, class_repeats, load_samples
from akmamba.data.leakage import LeakageReport, check_split
from akmamba.data.splits import kfold_by_case
from akmamba.decision import labels_from_probs
from akmamba.errors import ConfigError
from akmamba.io.atomic import atomic_write_text
from akmamba.io.dataset import (
    DatasetDescription,
    Sample,
    pair_files,
    resolve_description,
)
from akmamba.io.readers import read_image
from akmamba.metrics import evaluate_case, summarise
from akmamba.nn import build_model, load_checkpoint, model_config, save_checkpoint
from akmamba.ops.selective_scan import reset_scan_usage, scan_usage
from akmamba.reports.report import sha256_file
from akmamba.train.config import LOSSES, TrainConfig
from akmamba.train.ema import WeightEMA
from akmamba.train.state import check_run_folder, load_optimizer, save_optimizer

if TYPE_CHECKING:
    from torch.nn.modules.loss import _Loss

log = logging.getLogger(__name__)
Event = dict[str, Any]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; an unavailable explicit CUDA raises ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"Device {name!r} was requested but CUDA is not available on this machine (no NVIDIA GPU "
                          "and driver, or a CPU-only torch build). Run on the CPU: device cpu or auto.",
                          parameter="device", expected="cpu or auto", got=name)
    if not (name == "cpu" or name.startswith("cuda")):
        raise ConfigError(f"Unknown device {name!r}; use auto, cpu, cuda or cuda:N.", parameter="device",
                          expected=["auto", "cpu", "cuda"], got=name)
    return torch.device(name)


def resolve_dataset(spec: str) -> DatasetDescription:
    """A shipped description name (``drive``, ``bladder``) or a JSON path (``io.dataset.resolve_description``)."""
    return resolve_description(spec)


def _dist_setup(device: torch.device) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank()
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return rank, world, device


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002  (seeds third-party code that still uses the global generator)
    torch.manual_seed(seed)


def split_samples(cfg: TrainConfig, samples: list[Sample]) -> tuple[list[Sample], list[Sample]]:
    """Patient-level split of one fold (or everything for training when ``folds == 0``); explicit
    ``cfg.val_cases`` take precedence.

    Raises:
        ConfigError: ``val_cases`` names a case that is not in the data, or leaves nothing to train on.
    """
    if cfg.val_cases is not None:
        wanted = {str(c) for c in cfg.val_cases}
        known = {s.case_id for s in samples}
        unknown = sorted(wanted - known)
        if unknown:
            raise ConfigError(f"val_cases {unknown} are not cases of the data set (cases: {sorted(known)}).",
                              parameter="val_cases", expected=sorted(known), got=unknown)
        train = [s for s in samples if s.case_id not in wanted]
        if not train:
            raise ConfigError("val_cases holds every case, leaving nothing to train on.", parameter="val_cases",
                              expected="fewer cases", got=sorted(wanted))
        return train, [s for s in samples if s.case_id in wanted]
    if cfg.folds == 0:
        return samples, []
    return kfold_by_case(samples, [s.case_id for s in samples], cfg.folds, cfg.fold, cfg.seed)


def data_checksums(samples: list[Sample], root: Path) -> dict[str, str]:
    """SHA-256 of every image, label and FOV file used, keyed by path relative to the data root."""
    out = {}
    for s in samples:
        for p in (s.image, s.label, s.fov):
            if p is not None:
                key = os.path.relpath(p, root)
                out[key] = sha256_file(p)
    return out


@torch.no_grad()
def validate(model: nn.Module, samples: list[LoadedSample], label_names: dict[int, str], device: torch.device,
             amp: bool, metric: str = "per_image") -> dict[str, Any]:
    """Whole-image prediction on each validation case; returns ``{"rows", "summary", "dice", "dice_per_image",
    "dice_pooled"}``.

    ``dice_per_image`` is the mean Dice over cases (a case where a label is absent from truth and prediction
    scores 1), ``dice_pooled`` the Dice of the counts summed over cases; each is averaged over the foreground labels
    (inside the FOV if given). ``dice`` is the one named by ``metric`` (``per_image`` or ``pooled``).
    """
    model.eval()
    rows = []
    for s in samples:
        x = torch.from_numpy(s.image)[None].to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            logits = model(x)
        pred = labels_from_probs(logits.float().softmax(1)[0].cpu().numpy()).astype(np.int64)  # akmamba.decision
        rows += evaluate_case(pred, s.label, label_names, fov=s.fov, case_id=s.name)
    summary = summarise(rows)
    per_image = float(np.mean([summary[n]["per_image_mean"]["dice"] for n in label_names.values()]))
    pooled = float(np.mean([summary[n]["pooled"]["dice"] for n in label_names.values()]))
    model.train()
    return {"rows": rows, "summary": summary, "dice": pooled if metric == "pooled" else per_image,
            "dice_per_image": per_image, "dice_pooled": pooled}


def make_loss(name: str) -> nn.Module:
    """The training loss for ``(B, C, H, W)`` logits and ``(B, 1, H, W)`` class targets (MONAI DiceCELoss, softmax,
    background excluded from the Dice term).

    ``dice_ce``: Dice per image, averaged over images and classes. A patch without a class adds a near-constant 1
    for that class (``1 - s / (sum p + s)``, s = 1e-5, with no useful gradient), so false positives of a rare
    class in the many patches where it is absent are left to the cross-entropy alone. ``dice_ce_batch``: each
    class's Dice over the whole batch (``batch=True``), so those false positives count against the class.

    Raises:
        ConfigError: unknown name.
    """
    from monai.losses import DiceCELoss

    if name not in LOSSES:
        raise ConfigError(f"Unknown loss {name!r}; valid: {', '.join(LOSSES)}.", parameter="loss",
                          expected=list(LOSSES), got=name)
    return DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=name == "dice_ce_batch")


def twin_check(train: list[LoadedSample], val: list[LoadedSample]) -> LeakageReport:
    """Validation images with a near-identical twin among the training images (:mod:`akmamba.data.leakage`), from
    the loaded arrays: cases that hold one scan under two ids would inflate validation scores."""
    return check_split([s.image for s in train], [s.image for s in val], [s.case_id for s in train],
                       [s.case_id for s in val], [s.name for s in train], [s.name for s in val])


def _attach_edit_weights(cfg: TrainConfig, root: Path, data: list[LoadedSample]
                         ) -> tuple[list[LoadedSample], dict[str, str]]:
    """Give each training sample the loss weight of its correction mask ``edit_masks/<stem>.png`` (if any).

    Returns the samples and the SHA-256 of every mask used (keyed like :func:`data_checksums`).
    """
    from dataclasses import replace

    from akmamba.finetune.data import read_correction_mask
    from akmamba.finetune.weights import edit_weight_map

    folder = root / cfg.edit_masks if cfg.edit_masks else root
    if not folder.is_dir():
        raise ConfigError(f"edit_masks folder {str(folder)!r} does not exist. Give a folder of <image stem>.png "
                          "correction masks, or leave edit_masks unset.", path=str(folder), parameter="edit_masks",
                          expected="an existing folder", got=str(folder))
    out, sums = [], {}
    for s in data:
        path = folder / f"{s.name}.png"
        mask = read_correction_mask(path, s.label.shape) if path.is_file() else None
        if mask is not None:
            inside = path.resolve().is_relative_to(root.resolve())
            sums[os.path.relpath(path, root) if inside else f"edit_masks/{path.name}"] = sha256_file(path)
        out.append(replace(s, weight=edit_weight_map(mask, s.label.shape, cfg.edit_weight)))
    return out, sums


def _build(cfg: TrainConfig, in_channels: int, num_classes: int) -> tuple[nn.Module, dict[str, Any] | None]:
    if cfg.init_from:
        model, meta = load_checkpoint(cfg.init_from, **{k: v for k, v in cfg.model_options.items()
                                                        if k == "scan_backend"})
        got = (model_config(model)["in_channels"], model_config(model)["num_classes"])
        if got != (in_channels, num_classes):
            raise ConfigError(f"Checkpoint {cfg.init_from!r} has (in_channels, num_classes) = {got}; the data needs "
                              f"{(in_channels, num_classes)}.", path=cfg.init_from,
                              expected=(in_channels, num_classes), got=got)
        return model, meta
    return build_model(cfg.model, in_channels, num_classes, **cfg.model_options), None


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """``adam`` (the paper: Adam with L2 weight decay) or ``sgd`` (nnU-Net: SGD, Nesterov momentum 0.99)."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.99, nesterov=True,
                               weight_decay=cfg.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


class StepPlan:
    """The number of optimiser steps the schedule runs over; a time budget sets it after measuring the step time.

    Attributes:
        planned: planned steps (the schedule ends there; training stops there when ``budgeted``).
        budgeted: the plan comes from a time budget (``TrainConfig.time_budget_s``).
        measured: the plan is final (always, without a budget; with one, once the step time was measured, which
            happens once per run and is kept across resumes).
    """

    #: steps whose time is not counted (start-up, kernel autotuning), then the steps timed
    WARMUP, TIMED = 10, 30

    def __init__(self, planned: int, budget_s: float | None = None) -> None:
        self.budget_s = budget_s
        self.budgeted = budget_s is not None
        self.planned = 1 << 40 if self.budgeted else max(1, planned)
        self.measured = not self.budgeted
        self._first: int | None = None
        self._t_warm = 0.0

    def factor(self, kind: str, step: int) -> float:
        """The learning-rate multiplier after ``step`` steps for schedule ``kind``."""
        t = min(step, self.planned) / self.planned
        if kind == "cosine":
            return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * t))
        if kind == "poly":
            return (1.0 - t) ** 0.9
        return 1.0

    def eta_s(self, step: int, train_s: float) -> float:
        """Seconds of training left after ``step`` steps and ``train_s`` training seconds: the remaining budget
        while a budgeted run's step time is not measured yet, else the mean step time times the steps left."""
        if not self.measured and self.budget_s is not None:
            return max(0.0, self.budget_s - train_s)
        return train_s / max(step, 1) * max(0, self.planned - step)

    def observe(self, step: int, now: float, train_s: float) -> None:
        """After each step of a budgeted run not yet measured: time steps ``WARMUP`` .. ``WARMUP + TIMED`` of this
        session and fit ``planned`` so that the remaining steps fill the budget (``train_s``: training seconds
        spent so far). A budget spent before the measurement ends the run at this step."""
        if self.measured or self.budget_s is None:
            return
        if self._first is None:
            self._first = step
        k = step - self._first + 1
        if k == self.WARMUP:
            self._t_warm = now
        elif k == self.WARMUP + self.TIMED:
            rate = (now - self._t_warm) / self.TIMED
            self.planned = max(step, step + int((self.budget_s - train_s) / max(rate, 1e-9)))
            self.measured = True
        if train_s >= self.budget_s:
            self.planned = step
            self.measured = True


def make_scheduler(optimizer: torch.optim.Optimizer, kind: str, plan: StepPlan) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step LR schedule over ``plan.planned`` steps: ``constant``, ``cosine`` (down to 1 %) or ``poly``
    (``(1 - t) ** 0.9``, nnU-Net's). It reads ``plan`` at every step, so a budget fitted later moves its end."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: plan.factor(kind, s))


#: Settings a resumed run must keep (``_check_out_dir``).
RESUME_FIXED = ("dataset", "model", "model_options", "batch_size", "patch_size", "folds", "fold", "seed", "optimizer",
                "lr", "lr_schedule", "samples_per_epoch", "augmentation", "val_cases", "loss")


def _check_out_dir(cfg: TrainConfig, out: Path) -> None:
    """Refuse a run folder that already holds a run, unless resuming it with the same settings (user data is never
    replaced; :func:`akmamba.train.state.check_run_folder`)."""
    check_run_folder(out, cfg.resume, cfg.to_dict(), RESUME_FIXED, f"`akmamba train --resume {out}`",
                     "the run's own config (`akmamba train --resume RUN_DIR` reads it)")


def fast_forward_schedule(scheduler: torch.optim.lr_scheduler.LRScheduler, steps: int) -> None:
    """Advance a freshly made schedule by ``steps`` steps (a resumed run: the optimiser was restored, no optimiser
    step belongs to these, so torch's order warning is silenced)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()`"), UserWarning)
        for _ in range(steps):
            scheduler.step()


def training_loss(loss_fn: nn.Module, logits: torch.Tensor | tuple[torch.Tensor, ...], y: torch.Tensor
                  ) -> torch.Tensor:
    """Loss of ``(B, K, H, W)`` logits (or a deep-supervision tuple: full resolution first, then heads at 1/2,
    1/4, ...) against ``(B, H, W)`` class targets. Deep supervision weighs the heads 1, 1/2, 1/4, ... (normalised
    to sum 1, as nnU-Net) through MONAI's ``DeepSupervisionLoss``, which resizes the target (nearest)."""
    if isinstance(logits, tuple):
        from monai.losses import DeepSupervisionLoss

        weights = [0.5**i for i in range(len(logits))]
        total = sum(weights)
        # MONAI annotates the wrapped loss as torch's _Loss but only calls it; ours may be any loss module
        # (the fine-tune's WeightedDiceCELoss is a plain nn.Module).
        ds = DeepSupervisionLoss(cast("_Loss", loss_fn), weights=[w / total for w in weights])
        return ds([t.float() for t in logits], y[:, None].float())
    return loss_fn(logits.float(), y[:, None])


@dataclass
class _Progress:
    """Where a run stands; saved at every epoch end and read back by ``resume``."""

    epoch: int = 0  # the next epoch to train
    step: int = 0
    best: float = -math.inf
    since_best: int = 0
    train_s: float = 0.0  # training seconds so far (all sessions of a resumed run)


@dataclass
class _Run:
    """Everything :func:`fit` sets up before its first step."""

    cfg: TrainConfig
    device: torch.device
    rank: int
    world: int
    out: Path
    model: nn.Module
    net: nn.Module
    train_data: list[LoadedSample]
    val_data: list[LoadedSample]
    label_names: dict[int, str]
    dataset: PatchDataset
    loader: DataLoader
    loader_seed: torch.Generator
    loss_fn: nn.Module
    weighted_loss: nn.Module | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    plan: StepPlan
    ema: WeightEMA | None
    amp: bool
    steps_per_epoch: int
    base_meta: dict[str, Any]
    start_fields: dict[str, Any]
    leakage: LeakageReport | None


def _emit(kind: str, **fields: Any) -> Event:
    return {"event": kind, "time": time.time(), **fields}


def _setup(cfg: TrainConfig) -> _Run:
    """Data, split, model, loader, loss, optimiser, schedule and metadata of one run (no training yet)."""
    device = resolve_device(cfg.device)
    rank, world, device = _dist_setup(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    _seed_everything(cfg.seed)
    out = Path(cfg.out_dir)
    if rank == 0:
        _check_out_dir(cfg, out)
    desc = resolve_dataset(cfg.dataset)
    root = Path(cfg.data_root)
    all_samples = pair_files(desc, root)
    train_s, val_s = split_samples(cfg, all_samples)
    in_channels = 3 if read_image(train_s[0].image).channels >= 3 else 1
    num_classes = max(c.index for c in desc.label_table) + 1
    label_names = {c.index: c.name for c in desc.label_table if c.index > 0}
    model, parent_meta = _build(cfg, in_channels, num_classes)
    model.to(device)
    train_data = load_samples(train_s, desc, in_channels, cfg.normalisation)
    edit_checksums: dict[str, str] = {}
    if cfg.edit_masks:
        train_data, edit_checksums = _attach_edit_weights(cfg, root, train_data)
    val_data = load_samples(val_s, desc, in_channels, cfg.normalisation) if rank == 0 else []
    leakage = twin_check(train_data, val_data) if rank == 0 and val_data else None
    repeats = None
    if cfg.oversample_class is not None and cfg.oversample_factor > 1:
        if cfg.oversample_class >= num_classes:
            raise ConfigError(f"oversample_class {cfg.oversample_class} is not a foreground class of {desc.name} "
                              f"(1..{num_classes - 1}: {label_names}).", parameter="oversample_class",
                              expected=sorted(label_names), got=cfg.oversample_class)
        repeats = class_repeats(train_data, cfg.oversample_class, cfg.oversample_factor)
    dataset = PatchDataset(train_data, cfg.patch_size, cfg.samples_per_epoch, cfg.seed, cfg.augment,
                           cfg.foreground_fraction, repeats, cfg.augmentation)
    shard = Subset(dataset, range(rank, len(dataset), world))
    # the shuffle order of epoch e is drawn from a generator re-seeded with (seed, rank, e) at every epoch, so a
    # resumed run draws exactly what an uninterrupted one would
    loader_seed = torch.Generator()
    loader = DataLoader(shard, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers,
                        drop_last=len(shard) > cfg.batch_size, generator=loader_seed,
                        pin_memory=device.type == "cuda")
    weighted_loss = None
    if cfg.edit_masks:
        from akmamba.finetune.weights import WeightedDiceCELoss

        weighted_loss = WeightedDiceCELoss()
    optimizer = make_optimizer(model, cfg)
    steps_per_epoch = max(1, len(loader))
    planned = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        planned = min(planned, cfg.max_steps)
    plan = StepPlan(planned, cfg.time_budget_s)
    scheduler = make_scheduler(optimizer, cfg.lr_schedule, plan)
    # the average is a copy of the bare model, made before DDP wraps it; only rank 0 validates and saves
    ema = WeightEMA(model, cfg.ema_decay) if cfg.ema_decay is not None and rank == 0 else None
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    checksums = {**data_checksums(train_s + val_s, root), **edit_checksums} if rank == 0 else {}
    base_meta = {
        "name": f"{cfg.model}-{desc.name.lower()}",
        "label_table": [{"name": c.name, "index": c.index, "value_in_file": c.value_in_file, "color": list(c.color)}
                        for c in desc.label_table],
        "dataset": desc.name,
        "modality": desc.modality,
        "normalisation": cfg.normalisation,
        "train_config": cfg.to_dict(),
        "data_sha256": checksums,
        "train_cases": sorted({s.case_id for s in train_s}),
        "val_cases": sorted({s.case_id for s in val_s}),
        "version": cfg.version,
        "parent_version": cfg.parent_version or (parent_meta or {}).get("version"),
        "world_size": world,
        "weights": "raw",
        "ema": None,
        "leakage_check": None if leakage is None else leakage.to_dict(),
    }
    start_fields = {"train_images": len(train_s), "in_channels": in_channels, "num_classes": num_classes,
                    "oversampled_images": 0 if repeats is None else sum(r > 1 for r in repeats)}
    return _Run(cfg, device, rank, world, out, model, net, train_data, val_data, label_names, dataset, loader,
                loader_seed, make_loss(cfg.loss), weighted_loss, optimizer, scheduler, plan, ema,
                cfg.amp and device.type == "cuda", steps_per_epoch, base_meta, start_fields, leakage)


def _restore(run: _Run) -> _Progress:
    """Load ``last.safetensors``, the optimiser, the weight average and the progress record of a resumed run (a
    fresh :class:`_Progress` when there is nothing to resume)."""
    cfg, out = run.cfg, run.out
    if not (cfg.resume and (out / "last.safetensors").is_file()):
        return _Progress()
    if cfg.ema_decay is not None and not (out / "last_ema.safetensors").is_file():
        raise ConfigError(f"Cannot resume {str(out)!r} with ema_decay={cfg.ema_decay}: it has no last_ema.safetensors "
                          "(the run was started without weight averaging). Resume without --ema-decay, or start a "
                          "new run.", path=str(out), parameter="ema_decay", expected=None, got=cfg.ema_decay)
    resumed, _ = load_checkpoint(out / "last.safetensors")
    run.model.load_state_dict(resumed.state_dict())
    rec = load_optimizer(run.optimizer, out / "last_optim.safetensors")
    if run.plan.budgeted and rec.get("planned_steps"):  # the budget fitted before the interruption
        run.plan.planned = int(rec["planned_steps"])
        run.plan.measured = True
    fast_forward_schedule(run.scheduler, rec["step"])
    if run.ema is not None:
        run.ema.load(out / "last_ema.safetensors")
    return _Progress(rec["epoch"] + 1, rec["step"], rec["best"], rec["since_best"], float(rec.get("train_s", 0.0)))


def _train_epoch(run: _Run, prog: _Progress, epoch: int) -> Iterator[Event]:
    """One epoch of optimiser steps; yields ``step`` events (rank 0) and updates ``prog`` (steps, seconds).

    Stops early at the planned steps of a budgeted run or at ``max_steps``.
    """
    cfg = run.cfg
    run.dataset.set_epoch(epoch)
    run.loader_seed.manual_seed(cfg.seed * 1_000_003 + epoch * 1009 + run.rank)
    epoch_loss, n = 0.0, 0
    t_epoch = time.perf_counter()
    for batch in run.loader:
        x, y = batch[0].to(run.device, non_blocking=True), batch[1].to(run.device, non_blocking=True)
        run.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.amp):
            logits = run.net(x)
        if run.weighted_loss is not None:
            main = logits[0] if isinstance(logits, tuple) else logits
            loss = run.weighted_loss(main.float(), y, batch[2].to(run.device, non_blocking=True))
        else:
            loss = training_loss(run.loss_fn, logits, y)
        loss.backward()
        if cfg.optimizer == "sgd":
            nn.utils.clip_grad_norm_(run.model.parameters(), 12.0)  # nnU-Net's clipping for its SGD
        run.optimizer.step()
        run.scheduler.step()
        if run.ema is not None:
            run.ema.update(run.model)
        prog.step += 1
        n += 1
        if n == 1 and "scan_backends" not in run.base_meta:
            run.base_meta["scan_backends"] = sorted(scan_usage())  # [] for a model without a selective scan
        loss_value = loss.item()  # also waits for the GPU, so the clock below measures the step
        epoch_loss += loss_value
        now = time.perf_counter()
        seconds = prog.train_s + now - t_epoch
        run.plan.observe(prog.step, now, seconds)
        if run.rank == 0:
            yield _emit("step", epoch=epoch, step=prog.step, loss=loss_value, images=x.shape[0] * run.world,
                        eta_s=run.plan.eta_s(prog.step, seconds), planned_steps=run.plan.planned)
        if prog.step >= run.plan.planned and (run.plan.budgeted or cfg.max_steps):
            break
    prog.train_s += time.perf_counter() - t_epoch
    if run.rank == 0:
        yield _emit("epoch", epoch=epoch, step=prog.step, loss=epoch_loss / max(n, 1), elapsed_s=prog.train_s)


def _finish_epoch(run: _Run, prog: _Progress, epoch: int, last: bool) -> Iterator[Event]:
    """Rank 0 at an epoch's end: validate (every ``val_every`` epochs and at the last), save ``best`` if improved,
    then ``last`` with the optimiser and progress record (what ``resume`` reads)."""
    cfg, out, ema = run.cfg, run.out, run.ema
    evaluated = ema.module if ema is not None else run.model  # the weights validated and saved as best
    improved = False
    metrics: dict[str, Any] = {}
    if run.val_data and ((epoch + 1) % cfg.val_every == 0 or last):
        res = validate(evaluated, run.val_data, run.label_names, run.device, run.amp, cfg.val_metric)
        metrics = {"val_dice": res["dice"], "val_metric": cfg.val_metric, "val_summary": res["summary"]}
        improved = res["dice"] > prog.best
        prog.since_best = 0 if improved else prog.since_best + 1
        prog.best = max(prog.best, res["dice"])
        yield _emit("validation", epoch=epoch, step=prog.step, dice=res["dice"], best_dice=prog.best,
                    metric=cfg.val_metric, dice_per_image=res["dice_per_image"], dice_pooled=res["dice_pooled"],
                    summary=res["summary"], weights="raw" if ema is None else "ema")
    elif not run.val_data and last:
        improved = True
    meta = {**run.base_meta, "epoch": epoch, "step": prog.step, "metrics": metrics}
    if improved:
        if ema is not None:
            ema.save(out / "best.safetensors", meta)
        else:
            save_checkpoint(run.model, out / "best.safetensors", metadata=meta)
        yield _emit("checkpoint", path=str(out / "best.safetensors"), epoch=epoch, which="best",
                    val_dice=metrics.get("val_dice"), weights="raw" if ema is None else "ema")
    save_checkpoint(run.model, out / "last.safetensors", metadata=meta)
    if ema is not None:
        ema.save(out / "last_ema.safetensors", meta)
    save_optimizer(run.optimizer, out / "last_optim.safetensors",
                   {"epoch": epoch, "step": prog.step, "best": prog.best, "since_best": prog.since_best,
                    "ema": None if ema is None else ema.info(), "planned_steps": run.plan.planned,
                    "train_s": prog.train_s})


def fit(cfg: TrainConfig) -> Iterator[Event]:
    """Train one model; yields events (``start``, ``step``, ``epoch``, ``validation``, ``checkpoint``, ``done``, and
    ``warning``).

    Every event has ``event`` and ``time``; step events carry ``epoch``, ``step``, ``loss``, ``eta_s``.
    The best checkpoint (by validation Dice; the last epoch when there is no validation) is
    ``out_dir/best.safetensors``; ``out_dir/last.safetensors`` plus ``last_optim.*`` allow ``resume``, which
    continues exactly where the last completed epoch ended (weights, optimiser, schedule, sampler, weight average,
    the fitted time budget). With ``cfg.ema_decay`` an exponential moving average of the weights
    (:class:`~akmamba.train.ema.WeightEMA`, on rank 0) is validated and saved as the best checkpoint, and kept in
    ``out_dir/last_ema.safetensors``. A run folder that already holds a run is refused unless ``cfg.resume``.

    With a validation set, rank 0 checks the split for validation images that have a near-identical twin among
    the training images (:func:`twin_check`, on the arrays already loaded). What it finds goes into the checkpoint
    metadata (``leakage_check``); when it finds pairs, a ``warning`` event (``code: "train_val_twins"``, a
    ``message``, the counts, case pairs and examples) follows ``start``. Training goes on either way.
    """
    run = _setup(cfg)
    prog = _restore(run)
    if run.rank == 0:
        run.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.out / "config.json", json.dumps(cfg.to_dict(), indent=2))
        yield _emit("start", device=str(run.device), world_size=run.world, model=cfg.model,
                    train_cases=len(run.base_meta["train_cases"]), val_cases=len(run.base_meta["val_cases"]),
                    steps_per_epoch=run.steps_per_epoch, epochs=cfg.epochs,
                    parameters=sum(p.numel() for p in run.model.parameters()), ema_decay=cfg.ema_decay,
                    ema_updates=None if run.ema is None else run.ema.updates, cycle_length=int(run.dataset.cycle.size),
                    resumed_at_step=prog.step, planned_steps=run.plan.planned, time_budget_s=cfg.time_budget_s,
                    **run.start_fields)
        if run.leakage is not None and run.leakage.found:
            yield _emit("warning", code="train_val_twins", message=run.leakage.message(), **run.leakage.to_dict())
    run.model.train()
    reset_scan_usage()  # which scan kernels train this model: stored after the first step
    stopped_by = "epochs"
    session_t0, session_steps, session_images = time.perf_counter(), prog.step, 0
    epoch = prog.epoch
    last_epoch_limit = 1_000_000 if run.plan.budgeted else cfg.epochs
    while epoch < last_epoch_limit and prog.step < run.plan.planned:
        before = prog.step
        yield from _train_epoch(run, prog, epoch)
        session_images += (prog.step - before) * cfg.batch_size * run.world
        stop = prog.step >= run.plan.planned or epoch == last_epoch_limit - 1
        if stop:
            stopped_by = "time_budget" if run.plan.budgeted else ("max_steps" if cfg.max_steps and
                                                                   prog.step >= cfg.max_steps else "epochs")
        if cfg.time_limit_s is not None and prog.train_s >= cfg.time_limit_s and not stop:
            stop, stopped_by = True, "time_limit"
        if run.rank == 0:
            yield from _finish_epoch(run, prog, epoch, stop)
            if cfg.early_stopping is not None and prog.since_best >= cfg.early_stopping and not stop:
                stop, stopped_by = True, "early_stopping"
                yield _emit("early_stop", epoch=epoch, best_dice=prog.best)
        if run.world > 1:
            flag = torch.tensor([int(stop)], device=run.device)
            dist.broadcast(flag, 0)
            stop = bool(flag.item())
        epoch += 1
        if stop:
            break
    if run.rank == 0:
        elapsed = time.perf_counter() - session_t0
        yield _emit("done", best_dice=None if prog.best == -math.inf else prog.best, steps=prog.step,
                    elapsed_s=elapsed, train_s=prog.train_s, planned_steps=run.plan.planned, stopped_by=stopped_by,
                    images_per_s=session_images / max(elapsed, 1e-9), scan_backends=sorted(scan_usage()),
                    checkpoint=str(run.out / "best.safetensors"), version=__version__,
                    resumed_steps=session_steps)
    if run.world > 1:
        dist.barrier()
        dist.destroy_process_group()
