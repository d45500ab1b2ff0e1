"""Train a prompt-aware model with simulated prompts (``akmamba prompt-train``).

Its own small loop beside :mod:`akmamba.train.engine` (which it reuses: data set descriptions, the by-case
k-fold split, patch sampling and the ``basic``/``strong`` augmentation, the device choice and bf16 autocast, the
optimisers, schedules and losses, checkpoints and resume state): each step draws a batch of patches, gives each
image simulated prompts from the current model's errors (:func:`akmamba.prompt.simulate.simulate_guidance`: none
with probability ``p_no_prompt``) and trains on the image with its guidance. It starts from a prompt-aware
checkpoint or from a plain one, which is widened first (:func:`akmamba.prompt.model.from_plain`: it then segments
exactly like the plain model).

Resumable: every ``save_every`` steps, at ``max_steps`` and when ``time_limit_s`` stops the session, it writes
``out_dir/last.safetensors`` (weights), ``last_optim.safetensors`` + ``.json`` (optimiser state and the step; the
schedule is replayed to it) and ``last_rng.safetensors`` + ``.json`` (the click sampler's and torch's random
states); the batches are a seekable stream (:mod:`akmamba.prompt.batches`). ``resume`` continues from there, so
N steps in one run and N/2 + N/2 across two runs give the same weights (on the CPU, bit for bit). With
``ema_decay`` an exponential moving average of the weights (:class:`akmamba.train.ema.WeightEMA`, as
``akmamba train`` keeps it) is updated after every step and saved as ``last_ema.safetensors`` (resumed with the
rest): the weights to evaluate and ship, as for the plain models (``last.safetensors`` holds the raw weights the
click simulation uses).

The guidance weights start at zero and Adam moves a weight by about ``lr`` per step, so after a short run they
stay far smaller than the image weights and the model ignores the prompts (measured: a 46-step CPU run left them
~100x smaller, and clicks changed nothing). ``guidance_boost`` multiplies the optimiser's update of the guidance
input columns (the input weights beyond the image channels) by a factor, i.e. a larger learning rate for the new
inputs only (:func:`boost_guidance_update`).

Fine-tuning on corrections (``akmamba finetune``) needs nothing of this module: a prompt-aware model takes images
without guidance, so the registry flow trains and evaluates it as it does a plain model and the result keeps its
guidance layout (trained there without prompts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from akmamba.data.dataset import PatchDataset
from akmamba.prompt.simulate import PosNegGuidance
from akmamba.prompt.train_cli import PromptTrainConfig
from akmamba.train.config import TrainConfig
from akmamba.train.ema import WeightEMA

Event = dict[str, Any]


def guidance_inputs(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The weights that take the network's input channels (image + guidance): dimension 1 = C + G."""
    c, g = int(model.image_channels), int(model.guidance_channels)  # type: ignore[arg-type]
    return [p for p in model.parameters() if p.dim() >= 2 and p.shape[1] == c + g]


@torch.no_grad()
def boost_guidance_update(params: list[torch.nn.Parameter], before: list[torch.Tensor], image_channels: int,
                          factor: float) -> None:
    """Scale the last optimiser update of the guidance columns (``[:, image_channels:]``) by ``factor``.

    Args:
        params: from :func:`guidance_inputs`.
        before: their values before ``optimizer.step()``.
        image_channels: C.
        factor: 1 leaves the update alone.
    """
    if factor == 1:
        return
    for p, old in zip(params, before, strict=True):
        delta = p[:, image_channels:] - old[:, image_channels:]
        p[:, image_channels:] += (factor - 1) * delta


@dataclass
class _PromptRun:
    """Everything :func:`train_prompt` sets up before its first step."""

    cfg: PromptTrainConfig
    recipe: TrainConfig
    device: torch.device
    amp: bool
    out: Path
    model: nn.Module
    in_channels: int
    dataset: PatchDataset
    sampler: PosNegGuidance
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    loss_fn: nn.Module
    boosted: list[torch.nn.Parameter]
    record: dict[str, Any]
    start: dict[str, Any]
    ema: WeightEMA | None
    sim_threads: int


def _setup(cfg: PromptTrainConfig) -> _PromptRun:
    """Check the options and the run folder; load the model (widened if plain), the data, the recipe's optimiser,
    schedule and loss (no training yet)."""
    from akmamba.data.dataset import class_repeats, load_samples
    from akmamba.data.splits import kfold_by_case
    from akmamba.infer.models import resolve_model
    from akmamba.io.dataset import pair_files
    from akmamba.nn import load_checkpoint
    from akmamba.prompt.layout import layout_of
    from akmamba.prompt.model import from_plain
    from akmamba.reports.report import sha256_file
    from akmamba.train.engine import (
        StepPlan,
        make_loss,
        make_optimizer,
        make_scheduler,
        resolve_dataset,
        resolve_device,
    )
    from akmamba.train.state import check_run_folder

    recipe = cfg.recipe()
    device = resolve_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.seed)
    init = resolve_model(cfg.init)
    config = {**cfg.to_dict(), "init_sha256": sha256_file(init)}
    out = Path(cfg.out_dir)
    check_run_folder(out, cfg.resume, config, cfg.resume_fixed(), "the same command plus --resume",
                     "the options it was started with (its config.json)")
    model, meta = load_checkpoint(init)
    layout = layout_of(meta, str(init))
    if layout is None:
        model = from_plain(model, meta, guidance_scale=cfg.guidance_init_scale, seed=cfg.seed)
        layout = layout_of({"model": model.akmamba_config})
    assert layout is not None  # from_plain always records one (internal invariant)
    model.to(device)
    desc = resolve_dataset(cfg.dataset)
    samples = pair_files(desc, Path(cfg.data_root))
    train_s, val_s = kfold_by_case(samples, [s.case_id for s in samples], cfg.folds, cfg.fold, cfg.seed)
    in_ch = int(model.akmamba_config["in_channels"])  # type: ignore[index]
    data = load_samples(train_s, desc, in_ch, str(meta.get("normalisation", "zscore")))
    repeats = (class_repeats(data, cfg.oversample_class, cfg.oversample_factor)
               if cfg.oversample_class and cfg.oversample_factor > 1 else None)
    cycle = len(data) if repeats is None else sum(repeats)
    dataset = PatchDataset(data, (cfg.patch_size, cfg.patch_size), cycle, cfg.seed, True, cfg.foreground_fraction,
                           repeats, cfg.augmentation)
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, cfg.lr_schedule, StepPlan(cfg.max_steps))
    keep = {k: v for k, v in meta.items()
            if k not in {"model", "weights_sha256", "format_version", "akmamba_version", "created", "metrics",
                         "train_config", "step", "epoch", "weights", "ema", "train_s"}}
    record = {**keep, "weights": "raw",  # trained weights, also when --init was a weight average (last_ema)
              "name": meta.get("name") if layout_of(meta) else f"{meta.get('name', init.stem)}-prompt",
              "prompt_train": config, "train_cases": sorted({s.case_id for s in train_s}),
              "val_cases": sorted({s.case_id for s in val_s})}
    threads = sim_threads(cfg.sim_threads, device)
    start = {"train_images": len(train_s), "val_cases": record["val_cases"], "device": str(device),
             "parameters": sum(p.numel() for p in model.parameters()), "guidance_channels": layout.num_channels,
             "epoch_len": len(dataset), "sim_threads": threads}
    return _PromptRun(cfg, recipe, device, recipe.amp and device.type == "cuda", out, model, in_ch, dataset,
                      PosNegGuidance(layout, cfg.seed, cfg.click_mode), optimizer, scheduler, make_loss(cfg.loss),
                      guidance_inputs(model), record, start,
                      WeightEMA(model, cfg.ema_decay) if cfg.ema_decay is not None else None, threads)


def sim_threads(asked: int | None, device: torch.device) -> int:
    """Threads for the simulated prompts' CPU work: ``asked``, or by default up to 8 (the machine's cores) on
    CUDA and none on the CPU (the network's own threads use the cores there)."""
    import os

    if asked is not None:
        return asked
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0


def _save(run: _PromptRun, step: int, train_s: float) -> Path:
    """Write the resume state, then the weights (the checkpoint last: its step tells which state is whole)."""
    from akmamba.io.atomic import atomic_write_text
    from akmamba.nn import save_checkpoint
    from akmamba.train.state import save_optimizer, save_rng

    out = run.out
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "config.json").is_file():
        atomic_write_text(out / "config.json", json.dumps(run.record["prompt_train"], indent=2))
    record = {"step": step, "train_s": train_s, "epoch_len": len(run.dataset)}
    save_optimizer(run.optimizer, out / "last_optim.safetensors", record)
    save_rng(out / "last_rng.safetensors", {"guidance": run.sampler.R}, record)
    if run.ema is not None:
        run.ema.save(out / "last_ema.safetensors", {**run.record, "step": step, "train_s": train_s})
    save_checkpoint(run.model, out / "last.safetensors", metadata={**run.record, "step": step, "train_s": train_s})
    return out / "last.safetensors"


def _restore(run: _PromptRun) -> tuple[int, float]:
    """``(step, training seconds)`` of a resumed run, its weights, optimiser, schedule and random states loaded;
    ``(0, 0.0)`` when there is nothing to resume.

    Raises:
        CheckpointError: missing or unreadable state files, or files of different steps (a save cut off).
    """
    from akmamba.errors import CheckpointError
    from akmamba.nn import load_checkpoint
    from akmamba.nn.checkpoint import read_metadata
    from akmamba.train.engine import fast_forward_schedule
    from akmamba.train.state import load_optimizer, load_rng

    out = run.out
    if not (run.cfg.resume and (out / "last.safetensors").is_file()):
        return 0, 0.0
    resumed, meta = load_checkpoint(out / "last.safetensors")
    run.model.load_state_dict(resumed.state_dict())
    rec = load_optimizer(run.optimizer, out / "last_optim.safetensors")
    rng = load_rng(out / "last_rng.safetensors", {"guidance": run.sampler.R})
    steps = {"last.safetensors": meta.get("step"), "last_optim": rec.get("step"), "last_rng": rng.get("step")}
    if run.ema is not None:
        ema_path = out / "last_ema.safetensors"
        if not ema_path.is_file():
            raise CheckpointError(f"Cannot resume {str(out)!r} with ema_decay={run.cfg.ema_decay}: it holds no "
                                  "last_ema.safetensors. Start a new run into a new --out folder (--init its "
                                  "last.safetensors to keep the weights).", path=str(out))
        run.ema.load(ema_path)
        steps["last_ema"] = read_metadata(ema_path).get("step")
    if len(set(steps.values())) != 1 or rec.get("epoch_len") != len(run.dataset):
        raise CheckpointError(f"Cannot resume {str(out)!r}: its state files are of different steps {steps} (a save "
                              f"was cut off), or its data draw ({rec.get('epoch_len')} items per epoch) differs "
                              f"from this data's ({len(run.dataset)}). Start a new run into a new --out folder "
                              "(--init its last.safetensors to keep the weights).", path=str(out))
    step = int(rec["step"])
    fast_forward_schedule(run.scheduler, step)
    return step, float(rec.get("train_s", 0.0))


def _train_step(run: _PromptRun, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on a batch: simulated prompts, forward and loss (bf16 autocast on CUDA), backward, the
    optimiser's step with the guidance boost, the schedule's step. Returns the loss and the ``(B, G, H, W)``
    guidance used."""
    from akmamba.prompt.simulate import simulate_guidance
    from akmamba.train.engine import training_loss

    cfg = run.cfg
    with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=run.amp):
        g = simulate_guidance(run.model, x, y, run.sampler, p_no_prompt=cfg.p_no_prompt, max_iters=cfg.max_iters,
                              p_box=cfg.p_box, p_seed=cfg.p_seed, workers=run.sim_threads)
        logits = run.model(torch.cat([x, g], 1))
    loss = training_loss(run.loss_fn, logits, y)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.optimizer == "sgd":
        nn.utils.clip_grad_norm_(run.model.parameters(), 12.0)  # nnU-Net's clipping for its SGD, as the engine
    before = [p.detach().clone() for p in run.boosted]
    run.optimizer.step()
    boost_guidance_update(run.boosted, before, run.in_channels, cfg.guidance_boost)
    run.scheduler.step()
    if run.ema is not None:
        run.ema.update(run.model)
    return loss, g


@torch.no_grad()
def guidance_weight_ratio(inputs: list[torch.nn.Parameter], image_channels: int) -> float:
    """Mean |w| of the input weights' guidance columns over that of their image columns (over every input
    convolution, :func:`guidance_inputs`): 0 for a model just widened with zero guidance weights; a model whose
    ratio stays far below 1 has not learned to use its prompts (an H100 run whose clicks changed nothing ended at
    0.15, a CPU run that answered clicks at 0.43; docs/prompt.md)."""
    guide = sum(float(p[:, image_channels:].abs().sum()) for p in inputs)
    n_guide = sum(p[:, image_channels:].numel() for p in inputs)
    image = sum(float(p[:, :image_channels].abs().sum()) for p in inputs)
    n_image = sum(p[:, :image_channels].numel() for p in inputs)
    return round((guide / max(n_guide, 1)) / max(image / max(n_image, 1), 1e-12), 4)


def train_prompt(cfg: PromptTrainConfig) -> Iterator[Event]:
    """Run the loop; yields ``start``, ``step`` (``loss``, ``prompted`` images of the batch, ``lr``),
    ``checkpoint`` (with :func:`guidance_weight_ratio`, a sign of whether the prompts are being learned) and
    ``done`` events (``stopped_by``: ``max_steps`` or ``time_limit``).

    Writes the checkpoint and resume state every ``save_every`` steps and at the end (see the module docstring);
    with ``cfg.resume`` continues ``out_dir`` from its last one. An ``out_dir`` holding a run is refused without
    ``cfg.resume``, and so is a resume with other settings (:data:`~akmamba.prompt.train_cli.RESUME_FIXED`).

    Raises:
        ConfigError / CheckpointError: a bad option, data set, split, run folder or checkpoint.
    """
    from akmamba.prompt.batches import EpochItems, StepSampler

    run = _setup(cfg)
    step, train_s = _restore(run)
    yield {"event": "start", **run.start, "resumed_at_step": step, "max_steps": cfg.max_steps, "amp": run.amp}
    loader = DataLoader(EpochItems(run.dataset), batch_size=cfg.batch_size, num_workers=cfg.num_workers,
                        sampler=StepSampler(len(run.dataset), cfg.batch_size, cfg.seed, step, cfg.max_steps),
                        pin_memory=run.device.type == "cuda",
                        generator=torch.Generator().manual_seed(cfg.seed))
    run.model.train()
    t0 = time.perf_counter()
    first = step
    stopped_by = "max_steps"
    for x, y in loader:
        loss, g = _train_step(run, x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True))
        step += 1
        loss_value = float(loss.item())  # waits for the GPU, so the clock measures the step
        elapsed = time.perf_counter() - t0
        yield {"event": "step", "step": step, "loss": loss_value, "prompted": int(sum(bool(t.any()) for t in g)),
               "lr": run.optimizer.param_groups[0]["lr"], "elapsed_s": round(elapsed, 1)}
        done = step >= cfg.max_steps
        if cfg.time_limit_s is not None and elapsed >= cfg.time_limit_s and not done:
            done, stopped_by = True, "time_limit"
        if done or step % cfg.save_every == 0:
            path = _save(run, step, train_s + elapsed)
            yield {"event": "checkpoint", "path": str(path), "step": step,
                   "guidance_weight_ratio": guidance_weight_ratio(run.boosted, run.in_channels)}
        if done:
            break
    elapsed = time.perf_counter() - t0
    yield {"event": "done", "steps": step, "session_steps": step - first, "stopped_by": stopped_by,
           "elapsed_s": elapsed, "train_s": train_s + (elapsed if step > first else 0.0),
           "images_per_s": (step - first) * cfg.batch_size / max(elapsed, 1e-9),
           "checkpoint": str(run.out / "last.safetensors"),
           "checkpoint_ema": None if run.ema is None else str(run.out / "last_ema.safetensors")}
