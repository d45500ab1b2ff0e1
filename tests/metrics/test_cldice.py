"""clDice and the numpy skeleton: identical -> 1, disjoint -> 0, hand cases, empty conventions, FOV."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from akmamba.errors import BackendUnavailableError, ConfigError, ShapeError
from akmamba.metrics import (
    SkeletonCounts,
    cldice_metrics,
    skeleton_backend,
    skeleton_counts,
    skeletonize,
)

HAS_SKIMAGE = importlib.util.find_spec("skimage") is not None
METHODS = ["numpy", pytest.param("skimage", marks=pytest.mark.skipif(not HAS_SKIMAGE, reason="no skimage"))]


def line(shape: tuple[int, int], row: int, c0: int, c1: int) -> np.ndarray:
    m = np.zeros(shape, dtype=np.uint8)
    m[row, c0:c1] = 1
    return m


def vessel_map(seed: int, size: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    m = np.zeros((size, size), dtype=bool)
    for k in range(6):
        m |= np.abs(np.sin(xx / (12 + 4 * k) + k) * 15 + 18 * k + 10 - yy) < rng.integers(1, 4)
    return m


@pytest.mark.parametrize("method", METHODS)
def test_one_pixel_lines_are_their_own_skeleton(method: str) -> None:
    t = line((5, 7), 2, 1, 6)
    t[0:2, 3] = 1  # a T: a spur up from the middle
    np.testing.assert_array_equal(skeletonize(t, method), t.astype(bool))


def test_numpy_skeleton_properties() -> None:
    m = vessel_map(0)
    s = skeletonize(m, "numpy")
    assert s.dtype == bool
    assert s.shape == m.shape
    assert not (s & ~m).any()  # subset of the mask
    assert 0 < s.sum() < m.sum() / 2
    block = np.zeros((4, 4), dtype=bool)
    block[1:3, 1:3] = True  # plain Zhang-Suen deletes a 2x2 block entirely; we keep one pixel
    assert skeletonize(block, "numpy").sum() == 1
    assert not skeletonize(np.zeros((3, 3)), "numpy").any()


def test_numpy_skeleton_is_thin_and_keeps_components() -> None:
    ndi = pytest.importorskip("scipy.ndimage")
    m = vessel_map(1)
    s = skeletonize(m, "numpy")
    eight = np.ones((3, 3))
    assert ndi.label(s, eight)[1] == ndi.label(m, eight)[1]
    # one pixel wide: no 2x2 block of skeleton pixels
    assert not (s[:-1, :-1] & s[1:, :-1] & s[:-1, 1:] & s[1:, 1:]).any()


@pytest.mark.parametrize("method", METHODS)
def test_identical_is_one_disjoint_is_zero(method: str) -> None:
    m = vessel_map(2)
    assert cldice_metrics(skeleton_counts(m, m, method=method)) == {"cldice": 1.0, "tprec": 1.0, "tsens": 1.0}
    a, b = line((5, 7), 1, 1, 6), line((5, 7), 3, 1, 6)
    assert cldice_metrics(skeleton_counts(a, b, method=method)) == {"cldice": 0.0, "tprec": 0.0, "tsens": 0.0}


@pytest.mark.parametrize("method", METHODS)
def test_hand_worked_partial_line(method: str) -> None:
    gt = line((5, 7), 2, 1, 6)  # 5 px, its own skeleton
    pred = line((5, 7), 2, 1, 4)  # 3 px, its own skeleton
    c = skeleton_counts(pred, gt, method=method)
    assert (c.skel_pred, c.skel_pred_in_gt, c.skel_gt, c.skel_gt_in_pred) == (3, 3, 5, 3)
    m = cldice_metrics(c)
    assert m["tprec"] == 1.0  # 3 / 3
    assert m["tsens"] == pytest.approx(3 / 5)
    assert m["cldice"] == pytest.approx(0.75)  # 2 * 1 * 0.6 / 1.6


@pytest.mark.parametrize("method", METHODS)
def test_hand_worked_missed_branch(method: str) -> None:
    gt = line((5, 7), 2, 1, 6)
    gt[0:2, 3] = 1  # T, 7 px, its own skeleton
    pred = line((5, 7), 2, 1, 6)  # the bar only
    m = cldice_metrics(skeleton_counts(pred, gt, method=method))
    assert m["tprec"] == 1.0  # 5 / 5
    assert m["tsens"] == pytest.approx(5 / 7)
    assert m["cldice"] == pytest.approx(5 / 6)  # (10/7) / (12/7)


def test_empty_conventions() -> None:
    z = np.zeros((5, 7), dtype=np.uint8)
    g = line((5, 7), 2, 1, 6)
    assert cldice_metrics(skeleton_counts(z, z)) == {"cldice": 1.0, "tprec": 1.0, "tsens": 1.0}
    assert cldice_metrics(skeleton_counts(z, g)) == {"cldice": 0.0, "tprec": 0.0, "tsens": 0.0}
    assert cldice_metrics(skeleton_counts(g, z)) == {"cldice": 0.0, "tprec": 0.0, "tsens": 0.0}


def test_fov_cuts_masks_before_skeletons() -> None:
    gt = line((5, 7), 2, 1, 6)
    pred = gt + line((5, 7), 4, 1, 6)  # a false line in row 4
    assert cldice_metrics(skeleton_counts(pred, gt, method="numpy"))["tprec"] == pytest.approx(0.5)  # 5 / 10
    fov = np.zeros((5, 7), dtype=np.uint8)
    fov[:4] = 1
    assert cldice_metrics(skeleton_counts(pred, gt, fov, method="numpy"))["tprec"] == 1.0


def test_counts_add() -> None:
    a, b = SkeletonCounts(1, 2, 3, 4, 5, 6), SkeletonCounts(10, 20, 30, 40, 50, 60)
    assert a + b == SkeletonCounts(11, 22, 33, 44, 55, 66)


def test_errors() -> None:
    with pytest.raises(ConfigError, match=r"Unknown skeleton method 'numpi'.*Did you mean 'numpy'"):
        skeletonize(np.zeros((3, 3)), "numpi")
    with pytest.raises(ShapeError, match=r"2-D only.*\(2, 3, 3\)"):
        skeletonize(np.zeros((2, 3, 3)), "numpy")
    with pytest.raises(ShapeError, match=r"shape \(3,\)"):
        skeletonize(np.zeros(3), "numpy")
    with pytest.raises(ShapeError, match="does not match"):
        skeleton_counts(np.zeros((3, 3)), np.zeros((3, 4)))
    assert skeleton_backend("auto") == ("skimage" if HAS_SKIMAGE else "numpy")


@pytest.mark.skipif(HAS_SKIMAGE, reason="scikit-image is installed")
def test_skimage_requested_but_missing() -> None:
    with pytest.raises(BackendUnavailableError, match="pip install scikit-image"):
        skeletonize(np.zeros((3, 3)), "skimage")


@pytest.mark.skipif(not HAS_SKIMAGE, reason="scikit-image not installed")
def test_numpy_close_to_skimage() -> None:
    gt = vessel_map(3, 200)
    rng = np.random.default_rng(4)
    pred = gt ^ (rng.random(gt.shape) < 0.01)
    a = cldice_metrics(skeleton_counts(pred, gt, method="numpy"))
    b = cldice_metrics(skeleton_counts(pred, gt, method="skimage"))
    for key in a:
        assert a[key] == pytest.approx(b[key], abs=0.01)
