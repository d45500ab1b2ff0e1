"""Evaluate a checkpoint on held-out cases: per-image Dice with the same code the trainer validates with."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from akmamba.data.dataset import load_samples
from akmamba.errors import CheckpointError
from akmamba.io.dataset import DatasetDescription, Sample
from akmamba.nn import load_checkpoint, model_config
from akmamba.train.engine import validate


def evaluate_checkpoint(path: str | Path, samples: Sequence[Sample], desc: DatasetDescription,
                        device: torch.device, amp: bool = True) -> dict[str, Any]:
    """Whole-image prediction of ``path`` on ``samples``; Dice per image and its mean.

    Each checkpoint is fed with its own recorded normalisation. ``mean_dice`` is the per-image mean Dice over the
    cases, averaged over foreground labels (inside the FOV when there is one), as :func:`akmamba.train.engine.validate`.

    Returns:
        ``{"path", "mean_dice", "per_image": {image stem: dice}, "seconds"}``.

    Raises:
        CheckpointError: unreadable checkpoint, or one whose channels / classes do not fit the data.
    """
    t0 = time.perf_counter()
    model, meta = load_checkpoint(path, device=device)
    cfg = model_config(model)
    num_classes = max(c.index for c in desc.label_table) + 1
    if cfg["num_classes"] != num_classes:
        raise CheckpointError(f"Checkpoint {str(path)!r} predicts {cfg['num_classes']} classes; the data has "
                              f"{num_classes}.", path=str(path), expected=num_classes, got=cfg["num_classes"])
    data = load_samples(samples, desc, cfg["in_channels"], meta.get("normalisation", "zscore"))
    label_names = {c.index: c.name for c in desc.label_table if c.index > 0}
    res = validate(model, data, label_names, device, amp)
    per: dict[str, list[float]] = {}
    for row in res["rows"]:
        value = float(row.get("dice", float("nan")))
        per.setdefault(str(row["case"]), []).append(value)
    per_image = {k: float(np.nanmean(v)) if any(math.isfinite(x) for x in v) else float("nan")
                 for k, v in per.items()}
    del model
    return {"path": str(path), "mean_dice": float(res["dice"]), "per_image": per_image,
            "seconds": time.perf_counter() - t0}
