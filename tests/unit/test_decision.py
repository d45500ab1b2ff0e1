"""The one rule from probabilities to labels (akmamba.decision): argmax over classes, ties to the lower index."""

from __future__ import annotations

import numpy as np
import pytest

from akmamba.decision import labels_from_probs, threshold_applies
from akmamba.errors import ConfigError, ShapeError


def test_three_classes_take_the_argmax_not_one_minus_background() -> None:
    # the pixel: argmax says background; the old viewer rule (1 - p0 >= 0.5) said wall
    probs = np.array([0.45, 0.30, 0.25])[:, None, None]
    assert labels_from_probs(probs).tolist() == [[0]]
    multi = np.array([[0.6, 0.1, 0.3], [0.1, 0.7, 0.3], [0.3, 0.2, 0.4]])[:, None, :]  # (K=3, 1, 3)
    out = labels_from_probs(multi)
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 1, 2]]


def test_ties_go_to_the_lower_index() -> None:
    assert labels_from_probs(np.array([0.5, 0.5])[:, None]).tolist() == [0]
    assert labels_from_probs(np.array([0.2, 0.4, 0.4])[:, None]).tolist() == [1]
    assert labels_from_probs(np.array([0.4, 0.2, 0.4])[:, None]).tolist() == [0]


def test_binary_threshold_is_strict_and_equals_the_argmax_at_one_half() -> None:
    p1 = np.array([[0.2, 0.5, 0.8]])
    probs = np.stack([1 - p1, p1])
    assert labels_from_probs(probs).tolist() == [[0, 0, 1]]
    assert labels_from_probs(probs, 0.5).tolist() == labels_from_probs(probs).tolist()
    assert labels_from_probs(probs, 0.7).tolist() == [[0, 0, 1]]
    assert labels_from_probs(probs, 0.1).tolist() == [[1, 1, 1]]
    rng = np.random.default_rng(0)
    vol = rng.dirichlet([1, 1], size=(2, 3, 4)).transpose(3, 0, 1, 2)
    np.testing.assert_array_equal(labels_from_probs(vol, 0.5), vol.argmax(0))
    assert labels_from_probs(p1[None, 0][None], 0.3).tolist() == [[0, 1, 1]]  # one channel: p1 > t


def test_random_probabilities_match_numpy_argmax_for_every_k() -> None:
    rng = np.random.default_rng(1)
    for k in (2, 3, 5):
        probs = rng.dirichlet(np.ones(k), size=(7, 9)).transpose(2, 0, 1).astype(np.float32)
        np.testing.assert_array_equal(labels_from_probs(probs), probs.argmax(0))


def test_a_threshold_is_refused_for_several_foreground_classes_and_outside_zero_one() -> None:
    assert threshold_applies(2)
    assert threshold_applies(1)
    assert not threshold_applies(3)
    multi = np.full((3, 2, 2), 1 / 3)
    with pytest.raises(ConfigError, match="one foreground class"):
        labels_from_probs(multi, 0.5)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        labels_from_probs(np.full((2, 2, 2), 0.5), 1.5)
    with pytest.raises(ShapeError):
        labels_from_probs(np.zeros(3))
