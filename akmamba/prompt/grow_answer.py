"""Prompts answered without a prompt-aware model: the plain model's labels, corrected by region growing.

The viewer's Prompt tool needs a prompt-aware model for learned answers (docs/prompt.md); until the user has one,
a plain model (every shipped model) still answers, the classical way that ``akmamba prompt-eval --baseline
region-grow`` measures: the model segments the plane once (cached per plane; the viewer starts from the user's
labels instead where the plane already holds the label being corrected), and each click or scribble grows a
region on the image from its pixels (:class:`akmamba.prompt.protocol.RegionGrow`, like 3D Slicer's "Grow from
seeds"; a scribble seeds every ``radius / 10`` pixels along its stroke). A positive prompt sets the grown pixels to
its label; a negative one clears the grown pixels of that label to background. Boxes have no region-growing
meaning and are left out (:attr:`GrowAnswer.ignored` counts them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from akmamba.infer.predictor import Predictor
from akmamba.prompt.encode import Box, Click, Prompt, stroke_pixels
from akmamba.prompt.protocol import RegionGrow


@dataclass
class GrowAnswer:
    """The answer: ``labels`` ``(H, W)`` uint8 class indices, and how many prompts (boxes) were left out."""

    labels: np.ndarray
    ignored: int = 0


@dataclass
class GrowAnswerer:
    """Answers prompts on a plane with ``predictor`` (a plain model) and region growing.

    Args:
        predictor: any :class:`~akmamba.infer.Predictor` (its prompt-free segmentation is the starting point).
        grow: the region-growing settings (default ``RegionGrow()``, as prompt-eval's baseline).
    """

    predictor: Predictor
    grow: RegionGrow = field(default_factory=RegionGrow)
    _plane_key: str | None = field(default=None, init=False, repr=False)  # the cached plane's digest
    _start: np.ndarray | None = field(default=None, init=False, repr=False)  # the model's labels of it
    _feature: np.ndarray | None = field(default=None, init=False, repr=False)  # RegionGrow.feature of it

    def answer(self, plane: np.ndarray, prompts: Sequence[Prompt], start: np.ndarray | None = None) -> GrowAnswer:
        """The labels of ``plane`` ``(H, W)`` or ``(H, W, C)`` with ``prompts`` applied in order.

        Args:
            plane: the image plane.
            prompts: clicks, scribbles (and boxes, left out).
            start: ``(H, W)`` class indices to grow from instead of the model's labels (the viewer passes the
                label map's plane when it already holds the label being corrected, so prompts edit the user's
                labels rather than replace them with the model's).
        """
        key = hashlib.sha1(np.ascontiguousarray(plane).tobytes() + str(plane.shape).encode()).hexdigest()
        if key != self._plane_key:  # a new plane: segment it once, keep it for the next prompts
            self._start = self.predictor.predict(plane).labels.astype(np.uint8)
            self._feature = self.grow.feature(plane)
            self._plane_key = key
        assert self._start is not None  # set above (internal invariant)
        assert self._feature is not None
        labels = (self._start if start is None else np.asarray(start, np.uint8)).copy()
        ignored = 0
        for prompt in prompts:
            if isinstance(prompt, Box):
                ignored += 1
                continue
            if isinstance(prompt, Click):
                points = [(prompt.y, prompt.x)]
            else:  # a seed every radius/10 pixels along the stroke and at its end (neighbours' regions overlap)
                stroke = stroke_pixels(prompt.points)
                points = stroke[:: max(1, self.grow.radius // 10)] + stroke[-1:]
            grown = np.zeros(labels.shape, bool)
            for y, x in points:  # every pixel seeds (its disc may reach beyond what earlier seeds grew)
                if 0 <= y < labels.shape[0] and 0 <= x < labels.shape[1]:
                    grown |= self.grow.region(self._feature, int(y), int(x))
            if prompt.positive:
                labels[grown] = prompt.label
            else:
                labels[grown & (labels == prompt.label)] = 0
        return GrowAnswer(labels, ignored)
