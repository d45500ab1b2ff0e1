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
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Subset

from akmamba import __version__
from akmamba.data.dataset import LoadedSample, PatchDataset, class_repeats, load_samples
from akmamba.data.leakage import LeakageReport, check_split
from akmamba.data.splits import kfold_by_case
from akmamba.errors import ConfigError
from akmamba.io.dataset import (
    DatasetDescription,
    Sample,
    builtin_description,
    builtin_names,
    load_dataset_description,
    pair_files,
)
from akmamba.io.readers import read_image
from akmamba.metrics import evaluate_case, summarise
from akmamba.nn import build_model, load_checkpoint, save_checkpoint
from akmamba.ops.selective_scan import reset_scan_usage, scan_usage
from akmamba.reports.report import sha256_file
from akmamba.train.config import LOSSES, TrainConfig
from akmamba.train.ema import WeightEMA
from akmamba.train.state import load_optimizer, save_optimizer

log = logging.getLogger(__name__)
Event = dict[str, Any]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; an unavailable explicit CUDA raises ConfigError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"Device {name!r} was requested but CUDA is not available here. Use --device cpu or auto.",
                          parameter="device", expected="cpu or auto", got=name)
    if not (name == "cpu" or name.startswith("cuda")):
        raise ConfigError(f"Unknown device {name!r}; use auto, cpu, cuda or cuda:N.", parameter="device",
                          expected=["auto", "cpu", "cuda"], got=name)
    return torch.device(name)


def resolve_dataset(spec: str) -> DatasetDescription:
    """A shipped description name (``drive``, ``bladder``) or a JSON path."""
    if spec in builtin_names():
        return builtin_description(spec)
    if Path(spec).is_file():
        return load_dataset_description(spec)
    raise ConfigError(f"Dataset {spec!r} is neither a shipped description ({', '.join(builtin_names())}) nor a file.",
                      parameter="dataset", expected=builtin_names(), got=spec)


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
        pred = logits.float().argmax(1)[0].cpu().numpy().astype(np.int64)
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
        got = (model.akmamba_config["in_channels"], model.akmamba_config["num_classes"])
        if got != (in_channels, num_classes):
            raise ConfigError(f"Checkpoint {cfg.init_from!r} has (in_channels, num_classes) = {got}; the data needs "
                              f"{(in_channels, num_classes)}.", path=cfg.init_from,
                              expected=(in_channels, num_classes), got=got)
        return model, meta
    return build_model(cfg.model, in_channels, num_classes, **cfg.model_options), None


def _scheduler(optimizer: torch.optim.Optimizer, kind: str, planned_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step LR schedule: constant, or cosine from ``lr`` down to 1 % of it at ``planned_steps``."""
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=max(1, planned_steps), eta_min=0.01 * optimizer.param_groups[0]["lr"])
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def fit(cfg: TrainConfig) -> Iterator[Event]:
    """Train one model; yields events (``start``, ``step``, ``epoch``, ``validation``, ``checkpoint``, ``done``, and
    ``warning``).

    Every event has ``event`` and ``time``; step events carry ``epoch``, ``step``, ``loss``, ``eta_s``.
    The best checkpoint (by validation Dice; the last epoch when there is no validation) is
    ``out_dir/best.safetensors``; ``out_dir/last.safetensors`` plus ``last_optim.*`` allow ``resume``. With
    ``cfg.ema_decay`` an exponential moving average of the weights (:class:`~akmamba.train.ema.WeightEMA`, on
    rank 0) is validated and saved as the best checkpoint, and kept in ``out_dir/last_ema.safetensors``.

    With a validation set, rank 0 checks the split for validation images that have a near-identical twin among
    the training images (:func:`twin_check`, on the arrays already loaded). What it finds goes into the checkpoint
    metadata (``leakage_check``); when it finds pairs, a ``warning`` event (``code: "train_val_twins"``, a
    ``message``, the counts, case pairs and examples) follows ``start``. Training goes on either way.
    """
    device = resolve_device(cfg.device)
    rank, world, device = _dist_setup(device)
    _seed_everything(cfg.seed)
    out = Path(cfg.out_dir)
    desc = resolve_dataset(cfg.dataset)
    root = Path(cfg.data_root)
    all_samples = pair_files(desc, root)
    train_s, val_s = split_samples(cfg, all_samples)
    in_channels = 3 if read_image(train_s[0].image).channels >= 3 else 1
    num_classes = max(c.index for c in desc.label_table) + 1
    label_names = {c.index: c.name for c in desc.label_table if c.index > 0}
    model, parent_meta = _build(cfg, in_channels, num_classes)
    model.to(device)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2), encoding="utf-8")
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
                           cfg.foreground_fraction, repeats)
    shard = Subset(dataset, range(rank, len(dataset), world))
    loader = DataLoader(shard, batch_size=cfg.batch_size, shuffle=True, num_workers=cfg.num_workers,
                        drop_last=len(shard) > cfg.batch_size, generator=torch.Generator().manual_seed(cfg.seed + rank))
    loss_fn = make_loss(cfg.loss)
    weighted_loss = None
    if cfg.edit_masks:
        from akmamba.finetune.weights import WeightedDiceCELoss

        weighted_loss = WeightedDiceCELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    resuming = cfg.resume and (out / "last.safetensors").is_file()
    if resuming and cfg.ema_decay is not None and not (out / "last_ema.safetensors").is_file():
        raise ConfigError(f"Cannot resume {str(out)!r} with ema_decay={cfg.ema_decay}: it has no last_ema.safetensors "
                          "(the run was started without weight averaging). Resume without --ema-decay, or start a "
                          "new run.", path=str(out), parameter="ema_decay", expected=None, got=cfg.ema_decay)
    # the average is a copy of the bare model, made before DDP wraps it; only rank 0 validates and saves
    ema = WeightEMA(model, cfg.ema_decay) if cfg.ema_decay is not None and rank == 0 else None
    net: nn.Module = model
    if world > 1:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    amp = cfg.amp and device.type == "cuda"
    steps_per_epoch = max(1, len(loader))
    planned_steps = cfg.epochs * steps_per_epoch
    if cfg.max_steps:
        planned_steps = min(planned_steps, cfg.max_steps)
    scheduler = _scheduler(optimizer, cfg.lr_schedule, planned_steps)
    start_epoch, step, best, since_best = 0, 0, -math.inf, 0
    if resuming:
        resumed, _ = load_checkpoint(out / "last.safetensors")
        model.load_state_dict(resumed.state_dict())
        rec = load_optimizer(optimizer, out / "last_optim.safetensors")
        start_epoch, step, best, since_best = rec["epoch"] + 1, rec["step"], rec["best"], rec["since_best"]
        with warnings.catch_warnings():  # fast-forwarding the schedule: no optimiser step belongs to these
            warnings.filterwarnings("ignore", re.escape("Detected call of `lr_scheduler.step()`"), UserWarning)
            for _ in range(step):
                scheduler.step()
        if ema is not None:
            ema.load(out / "last_ema.safetensors")
    evaluated = ema.module if ema is not None else model  # the weights validated and saved as best
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
    total_steps = (cfg.epochs - start_epoch) * steps_per_epoch
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps - step)
    t0 = time.perf_counter()
    done_steps = 0
    done_images = 0

    def emit(kind: str, **fields: Any) -> Event:
        return {"event": kind, "time": time.time(), **fields}

    if rank == 0:
        yield emit("start", device=str(device), world_size=world, model=cfg.model, train_cases=len(base_meta[
            "train_cases"]), val_cases=len(base_meta["val_cases"]), train_images=len(train_s),
            steps_per_epoch=steps_per_epoch, epochs=cfg.epochs, in_channels=in_channels, num_classes=num_classes,
            parameters=sum(p.numel() for p in model.parameters()), ema_decay=cfg.ema_decay,
            ema_updates=None if ema is None else ema.updates,
            oversampled_images=0 if repeats is None else sum(r > 1 for r in repeats),
            cycle_length=int(dataset.cycle.size))
        if leakage is not None and leakage.found:
            yield emit("warning", code="train_val_twins", message=leakage.message(), **leakage.to_dict())
    model.train()
    stop = False
    stopped_by = "epochs"
    reset_scan_usage()  # which scan kernels train this model: stored after the first step
    for epoch in range(start_epoch, cfg.epochs):
        dataset.set_epoch(epoch)
        epoch_loss, n = 0.0, 0
        for batch in loader:
            x, y = batch[0].to(device, non_blocking=True), batch[1].to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = net(x)
            if weighted_loss is not None:
                loss = weighted_loss(logits.float(), y, batch[2].to(device, non_blocking=True))
            else:
                loss = loss_fn(logits.float(), y[:, None])
            loss.backward()
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update(model)
            step += 1
            done_steps += 1
            if done_steps == 1:
                base_meta["scan_backends"] = sorted(scan_usage())  # [] for a model without a selective scan
            done_images += x.shape[0] * world
            epoch_loss += loss.item()
            n += 1
            rate = (time.perf_counter() - t0) / done_steps
            if rank == 0:
                yield emit("step", epoch=epoch, step=step, loss=loss.item(), images=x.shape[0] * world,
                           eta_s=rate * max(0, total_steps - done_steps))
            if cfg.max_steps and step >= cfg.max_steps:
                stop, stopped_by = True, "max_steps"
                break
        if cfg.time_limit_s is not None and time.perf_counter() - t0 >= cfg.time_limit_s and not stop:
            stop, stopped_by = True, "time_limit"
        if rank == 0:
            yield emit("epoch", epoch=epoch, step=step, loss=epoch_loss / max(n, 1),
                       elapsed_s=time.perf_counter() - t0)
        last_epoch = stop or epoch == cfg.epochs - 1
        if rank == 0:
            improved = False
            metrics: dict[str, Any] = {}
            if val_data and ((epoch + 1) % cfg.val_every == 0 or last_epoch):
                res = validate(evaluated, val_data, label_names, device, amp, cfg.val_metric)
                metrics = {"val_dice": res["dice"], "val_metric": cfg.val_metric, "val_summary": res["summary"]}
                improved = res["dice"] > best
                since_best = 0 if improved else since_best + 1
                best = max(best, res["dice"])
                yield emit("validation", epoch=epoch, step=step, dice=res["dice"], best_dice=best,
                           metric=cfg.val_metric, dice_per_image=res["dice_per_image"],
                           dice_pooled=res["dice_pooled"], summary=res["summary"],
                           weights="raw" if ema is None else "ema")
            elif not val_data and last_epoch:
                improved = True
            meta = {**base_meta, "epoch": epoch, "step": step, "metrics": metrics}
            if improved:
                if ema is not None:
                    ema.save(out / "best.safetensors", meta)
                else:
                    save_checkpoint(model, out / "best.safetensors", metadata=meta)
                yield emit("checkpoint", path=str(out / "best.safetensors"), epoch=epoch, which="best",
                           val_dice=metrics.get("val_dice"), weights="raw" if ema is None else "ema")
            save_checkpoint(model, out / "last.safetensors", metadata=meta)
            if ema is not None:
                ema.save(out / "last_ema.safetensors", meta)
            save_optimizer(optimizer, out / "last_optim.safetensors",
                           {"epoch": epoch, "step": step, "best": best, "since_best": since_best,
                            "ema": None if ema is None else ema.info()})
            if cfg.early_stopping is not None and since_best >= cfg.early_stopping:
                stop, stopped_by = True, "early_stopping"
                yield emit("early_stop", epoch=epoch, best_dice=best)
        if world > 1:
            flag = torch.tensor([int(stop)], device=device)
            dist.broadcast(flag, 0)
            stop = bool(flag.item())
        if stop:
            break
    if rank == 0:
        elapsed = time.perf_counter() - t0
        yield emit("done", best_dice=None if best == -math.inf else best, steps=step, elapsed_s=elapsed,
                   planned_steps=planned_steps, stopped_by=stopped_by,
                   images_per_s=done_images / max(elapsed, 1e-9), scan_backends=sorted(scan_usage()),
                   checkpoint=str(out / "best.safetensors"), version=__version__)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
