"""How long a fine-tune may run and what it will cost, from step times *measured on this machine*.

Before training, :func:`iter_measure` times one or two optimiser steps of the real model at the planned patch and
batch size (on a copy, so training starts from the exact parent weights; a second step only within
:data:`MEASURE_LIMIT_S` seconds) and three small forward passes extrapolated to a whole image, reporting each piece
as it is timed; :func:`plan`
turns those rates into a step count that fits the time budget, and an estimate of the whole run (training,
periodic validation on the held-out cases, the final evaluations). The estimate is therefore measured, not guessed;
the trainer's live ETA then replaces it.

Defaults: CUDA - 256x256 patches, batch 8, bfloat16 autocast, up to 1500 steps in 20 minutes; CPU - 128x128
patches, batch 2, up to 300 steps in 10 minutes.

torch is imported only by :func:`iter_measure`, so the viewer can re-plan from measured rates without loading it.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Generator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(frozen=True)
class Defaults:
    """Per-device defaults of a fine-tune."""

    patch_size: tuple[int, int]
    batch_size: int
    max_steps: int
    time_budget_s: float


GPU_DEFAULTS = Defaults((256, 256), 8, 1500, 20 * 60.0)
CPU_DEFAULTS = Defaults((128, 128), 2, 300, 10 * 60.0)


def defaults_for(device: torch.device | str) -> Defaults:
    """The defaults of a device (type)."""
    return GPU_DEFAULTS if str(getattr(device, "type", device)).startswith("cuda") else CPU_DEFAULTS


@dataclass(frozen=True)
class Rates:
    """Measured seconds per optimiser step and per whole-image forward pass."""

    step_s: float
    forward_s: float
    measure_s: float


@dataclass(frozen=True)
class Plan:
    """What the run will do and how long it should take.

    Attributes:
        steps: optimiser steps.
        samples_per_epoch: patches per epoch (one epoch = the stretch between two validations).
        epochs: epochs (``steps`` rounded up to whole epochs).
        validations: held-out validations during training.
        estimate_s: training + validations + the final evaluations, from the measured rates.
        budget_limited: True when the time budget, not ``max_steps``, set ``steps``.
    """

    steps: int
    samples_per_epoch: int
    epochs: int
    validations: int
    step_s: float
    forward_s: float
    estimate_s: float
    train_s: float
    eval_s: float
    time_budget_s: float
    budget_limited: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


#: A second training step is timed only while the measurement has run less than this (seconds).
MEASURE_LIMIT_S = 8.0


def iter_measure(model: nn.Module, in_channels: int, num_classes: int, patch_size: tuple[int, int],
                 batch_size: int, image_shape: tuple[int, int], device: torch.device, amp: bool, steps: int = 2,
                 limit_s: float = MEASURE_LIMIT_S) -> Generator[dict[str, Any], None, Rates]:
    """Measure on a copy of ``model``, yielding a progress dict after each timed piece; returns the :class:`Rates`.

    1. optimiser steps at ``batch_size`` x ``patch_size``: the first always, more (up to ``steps``) only while the
       measurement has run less than ``limit_s``; ``step_s`` is the fastest (the first one also pays one-off
       costs: allocations, kernel selection), so the estimate errs on the slow side only when a single step was
       timed;
    2. no-grad forward passes: a small one to warm up (kernel compilation or cache loading, e.g. Numba's), then one
       patch and one of twice its side; ``forward_s`` extrapolates them linearly in pixels to a whole
       ``image_shape`` image (their time is a fixed cost plus a per-pixel cost). A whole-image pass would cost as
       much as several steps.

    On the 2-core CPU machine of docs/finetune.md a DRIVE Akmamba-Net step (2 x 128x128) costs about 20 CPU
    seconds, the three forwards about 5.

    Each yielded dict: ``{"what", "seconds", "elapsed_s", "done", "total", "eta_s"}`` (``eta_s``: the rest of the
    measurement at the rates seen so far).
    """
    import torch

    from akmamba.finetune.weights import WeightedDiceCELoss

    t_start = time.perf_counter()
    net = copy.deepcopy(model).to(device).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-6)
    loss_fn = WeightedDiceCELoss()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, in_channels, *patch_size, generator=gen).to(device)
    y = torch.randint(0, num_classes, (batch_size, *patch_size), generator=gen).to(device)
    w = torch.ones(batch_size, *patch_size).to(device)
    use_amp = amp and device.type == "cuda"
    ph, pw = patch_size
    sizes = [(max(8, ph // 4), max(8, pw // 4)), (ph, pw), (2 * ph, 2 * pw)]
    total = 1 + len(sizes)

    def timed(fn: Any) -> float:
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        return time.perf_counter() - t0

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = net(x)
        loss_fn(logits.float(), y, w).backward()
        opt.step()

    def report(what: str, seconds: float, done: int, rest_s: float) -> dict[str, Any]:
        return {"what": what, "seconds": seconds, "elapsed_s": time.perf_counter() - t_start, "done": done,
                "total": total, "eta_s": max(0.0, rest_s)}

    times: list[float] = []
    while len(times) < max(1, steps):
        times.append(timed(train_step))
        more = len(times) < steps and time.perf_counter() - t_start < limit_s
        total = len(times) + more + len(sizes)
        yield report(f"training step {len(times)} ({batch_size} x {ph}x{pw})", times[-1], len(times),
                     (min(times) if more else 0.0) + 0.3 * min(times))
        if not more:
            break
    step_s = min(times)
    net.eval()
    forwards: list[float] = []
    with torch.no_grad():
        for i, (h, w_) in enumerate(sizes):
            img = torch.randn(1, in_channels, h, w_, generator=gen).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                forwards.append(timed(lambda img=img: net(img)))
            label = "warm-up forward" if i == 0 else "forward"
            yield report(f"{label} ({h}x{w_})", forwards[-1], len(times) + i + 1, 0.1 * step_s * (2 - i))
    (_, t1, t2), (px1, px2) = forwards, (ph * pw, 4 * ph * pw)
    per_px = max(0.0, (t2 - t1) / (px2 - px1))
    forward_s = max(t1, t1 + per_px * (image_shape[0] * image_shape[1] - px1))
    return Rates(step_s, forward_s, time.perf_counter() - t_start)


def measure(model: nn.Module, in_channels: int, num_classes: int, patch_size: tuple[int, int], batch_size: int,
            image_shape: tuple[int, int], device: torch.device, amp: bool, steps: int = 2) -> Rates:
    """:func:`iter_measure` without the progress."""
    run = iter_measure(model, in_channels, num_classes, patch_size, batch_size, image_shape, device, amp, steps)
    while True:
        try:
            next(run)
        except StopIteration as done:
            return done.value


def plan(rates: Rates, *, batch_size: int, max_steps: int, time_budget_s: float, heldout_images: int,
         final_evaluations: int, validations: int = 10) -> Plan:
    """Fit the run into ``time_budget_s``.

    Args:
        rates: measured rates.
        batch_size: patches per step.
        max_steps: upper bound on steps.
        time_budget_s: wall-clock budget of the whole run (training + validations + final evaluations).
        heldout_images: images of the held-out cases (each validation predicts them all).
        final_evaluations: models evaluated at the end (candidate, active, maybe a baseline).
        validations: wanted validations during training (fewer when they would eat the budget).
    """
    val_s = heldout_images * rates.forward_s * 1.2  # + metric computation
    final_s = final_evaluations * val_s + 2 * rates.forward_s  # + model loading, roughly one forward each
    validations = max(1, min(validations, int(0.25 * time_budget_s / max(val_s, 1e-6)) or 1))
    train_budget = max(time_budget_s - final_s - validations * val_s, rates.step_s)
    by_budget = max(1, int(train_budget / max(rates.step_s, 1e-9)))
    steps = max(1, min(max_steps, by_budget))
    validations = min(validations, steps)
    steps_per_epoch = math.ceil(steps / validations)
    epochs = math.ceil(steps / steps_per_epoch)
    train_s = steps * rates.step_s
    eval_s = epochs * val_s + final_s
    return Plan(steps, steps_per_epoch * batch_size, epochs, epochs, rates.step_s, rates.forward_s,
                train_s + eval_s, train_s, eval_s, time_budget_s, by_budget < max_steps)
