"""experiments/zoom_in.py: the focus crop around the clicked object (the experiment's one piece of geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from akmamba.prompt.encode import Click


@pytest.fixture(scope="module")
def zoom_in(import_experiment):
    return import_experiment("zoom_in")


def test_focus_crop_holds_the_clicked_part_grown_and_stays_inside(zoom_in) -> None:
    labels = np.zeros((100, 120), np.uint8)
    labels[40:50, 60:80] = 2  # the clicked object: rows 40-49, columns 60-79
    labels[5:10, 5:10] = 2  # another part of the label, not clicked: left out
    crop = zoom_in.focus_crop(labels, [Click(45, 70, 2), Click(47, 62, 2, False)], expand=0.5, min_side=8)
    assert crop == (35, 55, 50, 90)  # 10 x 20 grown by half its size on each side
    small = zoom_in.focus_crop(labels, [Click(45, 70, 2)], expand=0.0, min_side=48)
    assert small[1] - small[0] >= 48
    assert small[3] - small[2] >= 48
    edge = zoom_in.focus_crop(labels, [Click(1, 1, 2, False), Click(45, 70, 2)], expand=1.0, min_side=8)
    assert edge[0] == 0  # a negative click far away widens the crop; clipped to the plane
    assert edge[3] <= 120
