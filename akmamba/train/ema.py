"""Weight averaging: an exponential moving average (EMA) of a model's weights, kept beside the trained model.

The averaging is PyTorch's own (:class:`torch.optim.swa_utils.AveragedModel` with
:func:`~torch.optim.swa_utils.get_ema_multi_avg_fn`): after optimiser step ``t`` (``t = 1, 2, ...``)

    ema_1 = w_1,    ema_t = decay * ema_{t-1} + (1 - decay) * w_t,

so ``ema_T = decay^(T-1) w_1 + sum_{t=2..T} (1 - decay) decay^(T-t) w_t`` for every parameter and every
floating-point buffer (BatchNorm running means and variances are averaged like the weights, so they match the
averaged weights). Integer buffers (BatchNorm's ``num_batches_tracked``) are copied from the model instead.

The weight of the first steps after ``T`` steps is ``decay^T``: choose ``decay`` so that it is small for the
planned run (0.995 leaves 5e-4 after 1500 steps and averages over roughly the last ``1 / (1 - decay)`` = 200
steps; 0.999 would still carry 22 % of the first weights after 1500 steps).
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from akmamba.errors import CheckpointError, ConfigError


class WeightEMA:
    """An exponential moving average of ``model``'s weights.

    Args:
        model: the network being trained (not a DDP wrapper; its ``.module`` under DDP). A copy is averaged,
            on the model's device.
        decay: the weight of the old average at each update, in (0, 1).

    Raises:
        ConfigError: ``decay`` outside (0, 1).
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1), got {decay!r}; 0.995 suits runs of 1000-5000 steps.",
                              parameter="ema_decay", expected="(0, 1)", got=decay)
        self.decay = float(decay)
        self._averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(self.decay), use_buffers=True)
        self._averaged.eval()

    @property
    def module(self) -> nn.Module:
        """The averaged network: same class and ``akmamba_config`` as the model, ``(B, C, H, W) -> (B, K, H, W)``."""
        module = self._averaged.module
        assert isinstance(module, nn.Module)  # AveragedModel holds a deep copy of the model (internal invariant)
        return module

    @property
    def updates(self) -> int:
        """How many optimiser steps have been averaged (0 before the first :meth:`update`)."""
        return int(self._averaged.n_averaged.item())

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` into the average (call after every optimiser step)."""
        self._averaged.update_parameters(model)
        for averaged, current in zip(self.module.buffers(), model.buffers(), strict=True):
            if not (averaged.is_floating_point() or averaged.is_complex()):
                averaged.copy_(current)

    def info(self) -> dict[str, Any]:
        """JSON-ready ``{"decay", "updates"}`` for checkpoint metadata and resume records."""
        return {"decay": self.decay, "updates": self.updates}

    def save(self, path: str | os.PathLike[str], metadata: dict[str, Any]) -> None:
        """Write the averaged network as a checkpoint with ``metadata`` plus ``weights: "ema"`` and ``ema``."""
        from akmamba.nn import save_checkpoint

        save_checkpoint(self.module, path, metadata={**metadata, "weights": "ema", "ema": self.info()})

    def load(self, path: str | os.PathLike[str]) -> None:
        """Restore the average and its update count from a checkpoint written by :meth:`save` (to resume).

        Raises:
            CheckpointError: unreadable file, or a checkpoint without an EMA record.
        """
        from akmamba.nn import load_checkpoint

        model, meta = load_checkpoint(path)
        record = meta.get("ema")
        if not isinstance(record, dict) or "updates" not in record:
            raise CheckpointError(f"{str(path)!r} holds no EMA state (metadata 'ema' is {record!r}).", path=str(path))
        device = next(self.module.parameters()).device
        self.module.load_state_dict({k: v.to(device) for k, v in model.state_dict().items()})
        self._averaged.n_averaged.fill_(int(record["updates"]))
