"""The "clicked" region rule (akmamba.prompt.regions): which of a model's regions survive which prompts."""

from __future__ import annotations

import numpy as np
import pytest

from akmamba.errors import ConfigError
from akmamba.prompt.encode import Box, Click, Scribble
from akmamba.prompt.regions import apply_rule, keep_clicked


def _three_blobs() -> np.ndarray:
    m = np.zeros((40, 40), bool)
    m[2:8, 2:8] = True      # A
    m[15:22, 15:22] = True  # B
    m[30:36, 30:36] = True  # C
    return m


def test_no_prompt_for_the_label_keeps_everything() -> None:
    m = _three_blobs()
    out = keep_clicked(m, [Click(5, 5, label=2)], label=1)
    assert np.array_equal(out, m)
    assert out is not m


def test_positive_click_keeps_only_its_region() -> None:
    m = _three_blobs()
    out = keep_clicked(m, [Click(18, 18, 1)], 1)
    assert out[18, 18]
    assert out.sum() == 49
    assert not out[5, 5]
    assert not out[33, 33]


def test_click_near_a_region_within_reach_touches_it() -> None:
    m = _three_blobs()
    assert keep_clicked(m, [Click(9, 5, 1)], 1, reach=2)[5, 5]  # 2 px below A's last row (7)
    assert not keep_clicked(m, [Click(10, 5, 1)], 1, reach=2).any()  # 3 px: nothing is touched


def test_negative_click_drops_its_region_only() -> None:
    m = _three_blobs()
    out = keep_clicked(m, [Click(33, 33, 1, positive=False)], 1)
    assert not out[33, 33]
    assert out[5, 5]
    assert out[18, 18]


def test_negative_click_does_not_drop_a_region_a_positive_one_touches() -> None:
    m = _three_blobs()
    out = keep_clicked(m, [Click(16, 16, 1), Click(20, 20, 1, positive=False), Click(5, 5, 1, positive=False)], 1)
    assert np.array_equal(out, m & (np.arange(40)[:, None] >= 15) & (np.arange(40)[:, None] < 22))


def test_box_and_scribble_count_as_positive() -> None:
    m = _three_blobs()
    out = keep_clicked(m, [Box(1, 28, 28, 39, 39), Scribble(1, ((3, 3), (3, 6)))], 1)
    assert out[33, 33]
    assert out[5, 5]
    assert not out[18, 18]
    neg = keep_clicked(m, [Scribble(1, ((18, 10), (18, 16)), positive=False)], 1)
    assert not neg[18, 18]
    assert neg[5, 5]


def test_diagonal_neighbours_are_one_region() -> None:
    m = np.zeros((10, 10), bool)
    m[2, 2] = m[3, 3] = True
    assert keep_clicked(m, [Click(2, 2, 1)], 1, reach=0).sum() == 2


def test_apply_rule_label_by_label() -> None:
    labels = np.zeros((40, 40), np.uint8)
    labels[_three_blobs()] = 2
    labels[0:2, 30:40] = 1
    out = apply_rule(labels, [Click(18, 18, 2)])
    assert out.dtype == np.uint8
    assert (out == 2).sum() == 49
    assert (out == 1).sum() == 20
    assert np.array_equal(apply_rule(labels, [Click(18, 18, 2)], "model"), labels)
    with pytest.raises(ConfigError, match="region rule"):
        apply_rule(labels, [], "largest")
