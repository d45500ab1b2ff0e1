"""Train a prompt-aware model with simulated prompts (``akmamba prompt-train``).

Its own small loop beside :mod:`akmamba.train.engine` (which it reuses: data set descriptions, the by-case
k-fold split, patch sampling and augmentation, the DiceCE loss, checkpoints): each step draws a batch of
patches, gives each image simulated prompts from the current model's errors
(:func:`akmamba.prompt.simulate.simulate_guidance`: none with probability ``p_no_prompt``) and trains on the
image with its guidance. It starts from a prompt-aware checkpoint or from a plain one, which is widened first
(:func:`akmamba.prompt.model.from_plain`: it then segments exactly like the plain model).

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

import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from akmamba.prompt.train_cli import PromptTrainConfig

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


def train_prompt(cfg: PromptTrainConfig) -> Iterator[Event]:
    """Run the loop; yields ``start``, ``step`` (``loss``, ``prompted`` images of the batch), ``checkpoint`` and
    ``done`` events. Writes ``out_dir/last.safetensors`` every ``save_every`` steps and at the end.

    Raises:
        ConfigError / CheckpointError: a bad data set, split or starting checkpoint.
    """
    from akmamba.data.dataset import PatchDataset, class_repeats, load_samples
    from akmamba.data.splits import kfold_by_case
    from akmamba.infer.models import resolve_model
    from akmamba.io.dataset import pair_files
    from akmamba.nn import load_checkpoint, save_checkpoint
    from akmamba.prompt.layout import layout_of
    from akmamba.prompt.model import from_plain
    from akmamba.prompt.simulate import PosNegGuidance, simulate_guidance
    from akmamba.reports.report import sha256_file
    from akmamba.train.engine import make_loss, resolve_dataset

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    init = resolve_model(cfg.init)
    model, meta = load_checkpoint(init)
    layout = layout_of(meta, str(init))
    if layout is None:
        model = from_plain(model, meta)
        layout = layout_of({"model": model.akmamba_config})
    assert layout is not None  # from_plain always records one (internal invariant)
    desc = resolve_dataset(cfg.dataset)
    samples = pair_files(desc, Path(cfg.data_root))
    train_s, val_s = kfold_by_case(samples, [s.case_id for s in samples], cfg.folds, cfg.fold, cfg.seed)
    in_ch = int(model.akmamba_config["in_channels"])  # type: ignore[index]
    data = load_samples(train_s, desc, in_ch, str(meta.get("normalisation", "zscore")))
    repeats = class_repeats(data, cfg.oversample_class, cfg.oversample_factor) if cfg.oversample_class else None
    dataset = PatchDataset(data, (cfg.patch_size, cfg.patch_size), max(cfg.max_steps, 1) * cfg.batch_size,
                           cfg.seed, True, 0.8, repeats)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, num_workers=0, drop_last=True,
                        generator=torch.Generator().manual_seed(cfg.seed))
    loss_fn = make_loss("dice_ce_batch")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sampler = PosNegGuidance(layout, cfg.seed)
    boosted = guidance_inputs(model)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in meta.items()
            if k not in {"model", "weights_sha256", "format_version", "akmamba_version", "created", "metrics",
                         "train_config", "step", "epoch"}}
    record = {**keep, "name": meta.get("name") if layout_of(meta) else f"{meta.get('name', init.stem)}-prompt",
              "prompt_train": {**asdict(cfg), "init_sha256": sha256_file(init)},
              "train_cases": sorted({s.case_id for s in train_s}), "val_cases": sorted({s.case_id for s in val_s})}
    t0 = time.perf_counter()
    yield {"event": "start", "train_images": len(train_s), "val_cases": record["val_cases"],
           "parameters": sum(p.numel() for p in model.parameters()), "guidance_channels": layout.num_channels}
    model.train()
    step = 0
    stopped_by = "max_steps"
    for x, y in loader:
        g = simulate_guidance(model, x, y, sampler, p_no_prompt=cfg.p_no_prompt, max_iters=cfg.max_iters,
                              p_box=cfg.p_box)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(torch.cat([x, g], 1)), y[:, None])
        loss.backward()
        before = [p.detach().clone() for p in boosted]
        optimizer.step()
        boost_guidance_update(boosted, before, in_ch, cfg.guidance_boost)
        step += 1
        elapsed = time.perf_counter() - t0
        yield {"event": "step", "step": step, "loss": float(loss.item()),
               "prompted": int(sum(bool(t.any()) for t in g)), "elapsed_s": round(elapsed, 1)}
        done = step >= cfg.max_steps
        if cfg.time_limit_s is not None and elapsed >= cfg.time_limit_s and not done:
            done, stopped_by = True, "time_limit"
        if done or step % cfg.save_every == 0:
            save_checkpoint(model, out / "last.safetensors", metadata={**record, "step": step})
            yield {"event": "checkpoint", "path": str(out / "last.safetensors"), "step": step}
        if done:
            break
    yield {"event": "done", "steps": step, "stopped_by": stopped_by, "elapsed_s": time.perf_counter() - t0,
           "checkpoint": str(out / "last.safetensors")}
