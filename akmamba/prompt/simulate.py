"""Simulated prompts for training, drawn from the model's own errors (DeepEdit's scheme, in 2-D).

For each image of a batch: with probability ``p_no_prompt`` no prompt at all (so the model keeps segmenting
without one); otherwise 1..``max_iters`` rounds of "predict, find the errors, click": every round runs the
current model on the image with the prompts so far, finds each label's missed and false regions with MONAI's
:class:`~monai.apps.deepedit.transforms.FindDiscrepancyRegionsDeepEditd` (it works on ``(1, H, W)`` arrays as
is) and adds one click per label with errors, at a point drawn by DeepEdit's
:meth:`~monai.apps.deepedit.transforms.AddRandomGuidanceDeepEditd.find_guidance` (probability growing as
``exp(distance to the region's border)``, so clicks fall mostly inside regions, sometimes near their edges).

Why not ``AddRandomGuidanceDeepEditd.__call__`` itself: DeepEdit has no negative click. It turns a false region
of label A into a click *for the label that is there*, and keeps a random number of labels' clicks; our models
take a positive and a negative channel per label (see :mod:`akmamba.prompt.layout`). So
:class:`PosNegGuidance` subclasses it and keeps its sampling (``randomize`` with the interaction probability,
``find_guidance``) while choosing, per label, a positive click in a missed region or a negative click in a false
one with probability proportional to their areas. With probability ``p_box`` an image also gets a box around one
label present in it (its bounding box, jittered by a few pixels), which stays for all rounds.

With ``click_mode="robot"`` the clicks are instead the simulated user's of the evaluation protocol
(:func:`akmamba.prompt.protocol.next_click`: per label, the interior-most pixel of the largest error region,
positive in a missed one, negative in a false one), as RITM trains its later clicks with the same "robot" that
evaluates it; the seed clicks and boxes are drawn as above.

With probability ``p_seed`` a prompted image's first round does not look at the model's errors: it gets one
positive click inside each label present (DeepEdit's initial seed points, as its
:class:`~monai.apps.deepedit.transforms.AddInitialSeedPointMissingLabelsd` draws them: a point of the label with
probability growing as ``exp(distance to its border)``, here by the same ``find_guidance``). On training images the
model's errors are mostly thin slivers along the borders, so error clicks alone rarely show it a click in the
middle of a region it missed; seed clicks do, for every label, whatever the model predicts.

Each image of a batch draws its clicks from a random state of its own (:meth:`PosNegGuidance.child`, seeded from
the sampler's state once per batch), so the images' CPU work (error regions, click sampling, guidance encoding)
can run on ``workers`` threads with the same result as one after the other (``workers=0``, the reference; SciPy's
distance transform and torch's Gaussian release the GIL). On a GPU machine that work, not the network, was most of
a prompt-training step (measured: 234 steps in 180 s on an H100, docs/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from monai.apps.deepedit.transforms import AddRandomGuidanceDeepEditd, FindDiscrepancyRegionsDeepEditd
from torch import nn

from akmamba.errors import ConfigError
from akmamba.prompt.encode import Box, Click, Prompt, encode_guidance
from akmamba.prompt.layout import GuidanceLayout
from akmamba.prompt.protocol import next_click
from akmamba.prompt.train_cli import CLICK_MODES


class PosNegGuidance(AddRandomGuidanceDeepEditd):
    """DeepEdit's click sampler with a positive and a negative click channel per label (see module docstring).

    Args:
        layout: the model's guidance layout (its labels).
        seed: seeds DeepEdit's random state.
        click_mode: ``"deepedit"`` or ``"robot"`` (:data:`CLICK_MODES`, see the module docstring).

    Raises:
        ConfigError: an unknown ``click_mode`` (parameter ``click_mode``).
    """

    def __init__(self, layout: GuidanceLayout, seed: int = 0, click_mode: str = "deepedit") -> None:
        if click_mode not in CLICK_MODES:
            raise ConfigError(f"Unknown click mode {click_mode!r}; valid: {', '.join(CLICK_MODES)}.",
                              parameter="click_mode", expected=list(CLICK_MODES), got=click_mode)
        super().__init__(keys="label")
        self.click_mode = click_mode
        self.layout = layout
        self.set_random_state(seed)
        self.names = {name: index for index, name in layout.labels}
        self.find = FindDiscrepancyRegionsDeepEditd(keys="label")

    def child(self, seed: int) -> PosNegGuidance:
        """A sampler for the same layout with a random state of its own, seeded with ``seed``."""
        return PosNegGuidance(self.layout, seed, self.click_mode)

    def will_interact(self, probability: float) -> bool:
        """DeepEdit's coin: True with ``probability`` (its ``randomize`` on ``{"probability": p}``)."""
        self.randomize({"probability": float(probability)})
        return bool(self._will_interact)

    def clicks(self, label: np.ndarray, pred: np.ndarray) -> list[Click]:
        """One click per label with errors.

        Args:
            label: ``(H, W)`` true class indices.
            pred: ``(H, W)`` predicted class indices.
        """
        if self.click_mode == "robot":
            robot = [(index, next_click(label == index, pred == index)) for index in self.names.values()]
            return [Click(c[0], c[1], index, c[2]) for index, c in robot if c is not None]
        data: dict[str, Any] = {"label": label[None].astype(np.float32), "pred": pred[None].astype(np.float32),
                                "label_names": {"background": 0, **self.names}}
        d = self.find(data)  # type: ignore[arg-type]  # MONAI annotates every value as an array
        out: list[Click] = []
        for name, index in self.names.items():
            missed, false = d["discrepancy"][name]
            a_miss, a_false = float(missed.sum()), float(false.sum())
            if a_miss + a_false == 0:
                continue
            positive = bool(self.R.random_sample() < a_miss / (a_miss + a_false))
            g = self.find_guidance(missed if positive else false)
            if g is not None:
                out.append(Click(int(g[-2]), int(g[-1]), index, positive))
        return out

    def seeds(self, label: np.ndarray) -> list[Click]:
        """One positive click inside each label present in ``label`` ``(H, W)`` (DeepEdit's initial seeds)."""
        out: list[Click] = []
        for _, index in self.names.items():
            region = label == index
            if region.any():
                g = self.find_guidance(region[None].astype(np.float32))  # (1, H, W): it writes the distance to g[0]
                if g is not None:
                    out.append(Click(int(g[-2]), int(g[-1]), index, True))
        return out

    def box(self, label: np.ndarray, jitter: int = 4) -> Box | None:
        """A box around one label present in ``label`` ``(H, W)`` (bounding box, each side moved by up to
        ``jitter`` pixels), or None when no label is present."""
        present = [i for _, i in self.names.items() if (label == i).any()]
        if not present:
            return None
        index = int(self.R.choice(present))
        ys, xs = np.nonzero(label == index)
        j = self.R.randint(-jitter, jitter + 1, size=4)
        return Box(index, int(ys.min() + j[0]), int(xs.min() + j[1]), int(ys.max() + j[2]), int(xs.max() + j[3]))


@torch.no_grad()
def simulate_guidance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, sampler: PosNegGuidance, *,
                      p_no_prompt: float = 0.3, max_iters: int = 3, p_box: float = 0.2,
                      p_seed: float = 0.0, workers: int = 0) -> torch.Tensor:
    """Guidance channels for a training batch, from the model's own errors.

    Args:
        model: the prompt-aware network (put in eval mode for the rounds, restored after).
        x: ``(B, C, H, W)`` images.
        y: ``(B, H, W)`` or ``(B, 1, H, W)`` true class indices.
        sampler: the click sampler (holds the random state).
        p_no_prompt: probability that an image gets no prompt.
        max_iters: the most predict-and-click rounds (each image draws 1..max_iters).
        p_box: probability that a prompted image also gets a box.
        p_seed: probability that a prompted image's first round is seed clicks inside each label present
            (:meth:`PosNegGuidance.seeds`) instead of clicks in the model's errors.
        workers: threads for the images' CPU work in each round (0 or 1: one after the other in this thread);
            the result does not depend on it.

    Returns:
        ``(B, G, H, W)`` guidance of ``x``'s dtype, on ``x``'s device.

    Works with the model and batch on a GPU and under autocast (the rounds' predictions then come in bf16; the
    click sampling and the guidance encoding stay on the CPU in float32).
    """
    labels = y.reshape(y.shape[0], *y.shape[-2:]).cpu().numpy()
    b, _, h, w = x.shape
    layout = sampler.layout
    prompts: list[list[Prompt]] = [[] for _ in range(b)]
    rounds = [sampler.R.randint(1, max_iters + 1) if sampler.will_interact(1 - p_no_prompt) else 0 for _ in range(b)]
    seeded = [bool(rounds[i]) and p_seed > 0 and sampler.R.random_sample() < p_seed for i in range(b)]
    for i in range(b):
        if rounds[i] and sampler.R.random_sample() < p_box:
            box = sampler.box(labels[i])
            if box is not None:
                prompts[i].append(box)
    children = [sampler.child(int(seed)) for seed in sampler.R.randint(0, 2**31 - 1, size=b)]
    g = torch.zeros((b, layout.num_channels, h, w), dtype=x.dtype, device=x.device)

    def click_and_encode(i: int, pred_i: np.ndarray | None) -> np.ndarray:
        """Image ``i``'s next clicks (seeds when ``pred_i`` is None) and its guidance ``(G, H, W)``."""
        more = children[i].seeds(labels[i]) if pred_i is None else children[i].clicks(labels[i], pred_i)
        prompts[i] += more
        with torch.autocast("cpu", enabled=False):  # MONAI's Gaussian smoothing, float32 on the CPU
            return encode_guidance(prompts[i], layout, (h, w))

    was_training = model.training
    model.eval()
    try:
        for r in range(max(rounds, default=0)):
            active = [i for i in range(b) if rounds[i] > r]
            asks = [i for i in active if not (r == 0 and seeded[i])]  # the images whose clicks need a prediction
            # the argmax over classes, ties to the lower index (torch's max returns the first maximum, as argmax
            # does; on the CPU argmax over dim 1 of a (B, K, H, W) batch takes 25 times as long)
            pred = (dict(zip(asks, model(torch.cat([x[asks], g[asks]], 1)).max(1).indices.cpu().numpy(),
                             strict=True)) if asks else {})
            jobs = [(i, pred.get(i)) for i in active]
            if workers > 1 and len(jobs) > 1:
                encoded = list(_pool(workers).map(lambda job: click_and_encode(*job), jobs))
            else:
                encoded = [click_and_encode(*job) for job in jobs]
            for (i, _), guidance in zip(jobs, encoded, strict=True):
                g[i] = torch.from_numpy(guidance).to(g)
    finally:
        model.train(was_training)
    return g


@lru_cache(maxsize=4)
def _pool(workers: int) -> ThreadPoolExecutor:
    """A thread pool of ``workers`` threads, kept for the process (one per worker count)."""
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prompt-sim")


def count_prompts(guidance: torch.Tensor) -> Sequence[int]:
    """How many images of a ``(B, G, H, W)`` guidance batch carry any prompt (for logging)."""
    return [int(bool(t.any())) for t in guidance]
