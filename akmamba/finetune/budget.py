"""How long a fine-tune may run and what it will cost, from step times *measured on this machine*.

Before training, :func:`iter_measure` runs a batch-1 warm-up and one or two optimiser steps of the real model at the
planned patch and batch size (on a copy, so training starts from the exact parent weights; it stops adding steps
after :data:`MEASURE_LIMIT_S` seconds) and one patch-sized forward pass scaled to the whole image, reporting each
piece as it is timed; :func:`plan`
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
import statistics
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
    estimated: bool = False  # the step time is the batch-1 warm-up scaled (the machine was too slow to time more)


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


#: The measurement stops adding timed steps once it has run this long (seconds); it always times at least one.
MEASURE_LIMIT_S = 12.0


def iter_measure(model: nn.Module, in_channels: int, num_classes: int, patch_size: tuple[int, int],
                 batch_size: int, image_shape: tuple[int, int], device: torch.device, amp: bool, steps: int = 2,
                 limit_s: float = MEASURE_LIMIT_S) -> Generator[dict[str, Any], None, Rates]:
    """Measure on a copy of ``model``, yielding a progress dict after each timed piece; returns the :class:`Rates`.

    1. one warm-up optimiser step with batch 1 (allocations, kernel selection; its time is reported, not used
       unless it is all there is);
    2. up to ``steps`` optimiser steps at ``batch_size`` x ``patch_size``, stopping early once ``limit_s`` has
       passed (at least one is timed, unless the warm-up alone took ``limit_s``: then ``step_s`` is the warm-up
       time scaled by the batch size and ``estimated`` says so); ``step_s`` is the median;
    3. one no-grad forward pass of a single patch, scaled by the pixel count to a whole ``image_shape`` image (the
       networks here cost time linear in pixels); a whole-image pass would cost as much as several steps.

    Each yielded dict: ``{"what", "seconds", "elapsed_s", "done", "total", "eta_s"}`` (``eta_s`` is the
    measurement's remaining time at the rate seen so far).
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
    total = steps + 2

    def step(n: int) -> float:
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = net(x[:n])
        loss = loss_fn(logits.float(), y[:n], w[:n])
        loss.backward()
        opt.step()
        _sync(device)
        return time.perf_counter() - t0

    def report(what: str, seconds: float, done: int, per_piece: float) -> dict[str, Any]:
        elapsed = time.perf_counter() - t_start
        return {"what": what, "seconds": seconds, "elapsed_s": elapsed, "done": done, "total": total,
                "eta_s": max(0.0, (total - done) * per_piece)}

    warm = step(1)
    yield report(f"warm-up step (1 x {patch_size[0]}x{patch_size[1]})", warm, 1, warm * batch_size)
    times: list[float] = []
    estimated = time.perf_counter() - t_start >= limit_s
    while not estimated and len(times) < steps:
        times.append(step(batch_size))
        yield report(f"training step {len(times)} ({batch_size} x {patch_size[0]}x{patch_size[1]})", times[-1],
                     1 + len(times), statistics.median(times))
        if time.perf_counter() - t_start >= limit_s:
            break
    step_s = statistics.median(times) if times else warm * batch_size
    net.eval()
    with torch.no_grad():
        patch = torch.randn(1, in_channels, *patch_size, generator=gen).to(device)
        _sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            net(patch)
        _sync(device)
        patch_s = time.perf_counter() - t0
    forward_s = patch_s * (image_shape[0] * image_shape[1]) / float(patch_size[0] * patch_size[1])
    yield report(f"forward pass (scaled to a whole {image_shape[0]}x{image_shape[1]} image)", forward_s, total, 0.0)
    return Rates(step_s, forward_s, time.perf_counter() - t_start, estimated or not times)


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
