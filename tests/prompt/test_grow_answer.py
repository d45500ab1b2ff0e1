"""Prompts answered by region growing from a plain model's labels (akmamba/prompt/grow_answer.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from akmamba.prompt.encode import Box, Click, Scribble
from akmamba.prompt.grow_answer import GrowAnswerer
from akmamba.prompt.protocol import RegionGrow


class _Plain:
    """A stand-in plain predictor: label 2 on the left third of the plane; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def predict(self, plane: np.ndarray) -> SimpleNamespace:
        self.calls += 1
        labels = np.zeros(plane.shape[:2], np.uint8)
        labels[:, : plane.shape[1] // 3] = 2
        return SimpleNamespace(labels=labels)


def _plane() -> np.ndarray:
    """Two flat regions: a bright square (rows/cols 20-39) on a dark background, 60 x 60."""
    img = np.full((60, 60), 20, np.uint8)
    img[20:40, 20:40] = 200
    return img


def test_clicks_grow_on_the_image_and_the_plane_is_segmented_once() -> None:
    plain = _Plain()
    answerer = GrowAnswerer(plain, RegionGrow(tolerance=0.3, radius=40, smooth=0))  # type: ignore[arg-type]
    plane = _plane()
    out = answerer.answer(plane, [Click(30, 30, 1, True)])
    square = np.zeros((60, 60), bool)
    square[20:40, 20:40] = True
    assert (out.labels[square] == 1).all()  # the bright square, grown from the click
    assert (out.labels[~square & (np.arange(60)[None, :] < 20)] == 2).all()  # the model's labels elsewhere kept
    # a negative click for label 2 inside the dark left part clears label 2 there, and nothing else
    out2 = answerer.answer(plane, [Click(30, 30, 1, True), Click(5, 5, 2, False)])
    assert (out2.labels[square] == 1).all()
    assert out2.labels[5, 5] == 0
    assert plain.calls == 1  # the same plane: the model ran once
    answerer.answer(plane + 1, [])
    assert plain.calls == 2  # another plane: segmented again


def test_scribbles_grow_from_their_pixels_and_boxes_are_left_out() -> None:
    answerer = GrowAnswerer(_Plain(), RegionGrow(tolerance=0.3, radius=40, smooth=0))  # type: ignore[arg-type]
    plane = _plane()
    out = answerer.answer(plane, [Scribble(1, ((25, 25), (35, 35))), Box(1, 0, 0, 10, 10)])
    assert out.ignored == 1
    assert (out.labels[20:40, 20:40] == 1).all()
    assert out.labels[0, 0] == 2  # the box changed nothing
    negative = answerer.answer(plane, [Scribble(2, ((10, 2), (50, 2)), positive=False)])
    assert (negative.labels[:, :20] == 0).all()  # the whole dark region that held label 2 is cleared


def test_a_start_plane_replaces_the_models_labels() -> None:
    plain = _Plain()
    answerer = GrowAnswerer(plain, RegionGrow(tolerance=0.3, radius=40, smooth=0))  # type: ignore[arg-type]
    start = np.zeros((60, 60), np.uint8)
    start[50:55, 50:55] = 1  # the user's own label 1, far from the click
    out = answerer.answer(_plane(), [Click(30, 30, 1, True)], start=start)
    assert (out.labels[50:55, 50:55] == 1).all()  # kept
    assert (out.labels[20:40, 20:40] == 1).all()  # grown
    assert (out.labels[:, :20] == 0).all()  # the model's label 2 is not brought in
