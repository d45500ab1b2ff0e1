"""Input normalisation (akmamba/data/normalize.py): ``zscore`` and ``clahe`` on small arrays."""

from __future__ import annotations

import numpy as np
import pytest

import akmamba.data.normalize as norm
from akmamba.data.normalize import NORMALISATIONS, check_normalisation, clahe, dark_border, normalise
from akmamba.errors import ConfigError, ShapeError


def fundus(size: int = 48, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fundus-like ``(3, size, size)`` 0..255 image: a textured bright disc on a noisy black surround (0..15),
    and the disc as ``(size, size)`` bool."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    disc = (yy - size / 2 + 0.5) ** 2 + (xx - size / 2 + 0.5) ** 2 < (0.45 * size) ** 2
    texture = 60 + 195 * rng.random((3, size, size))
    image = np.where(disc, texture, rng.integers(0, 16, (3, size, size))).astype(np.float32)
    image[:, disc] = np.rint(image[:, disc])
    image[0, size // 2, size // 2] = 255  # the disc spans 60..255 exactly in channel 0
    image[0, size // 2, size // 2 + 1] = 60
    return image, disc


def test_zscore_is_unchanged() -> None:
    x = np.random.default_rng(0).random((3, 7, 9)).astype(np.float32) * 100
    y = normalise(x, "zscore")
    expected = (x - x.mean(axis=(1, 2), keepdims=True)) / x.std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert normalise(np.full((1, 4, 4), 3.0), "zscore").tolist() == np.zeros((1, 4, 4)).tolist()


def test_names_are_checked_with_a_suggestion() -> None:
    assert NORMALISATIONS == ("zscore", "clahe")
    assert check_normalisation("clahe") == "clahe"
    with pytest.raises(ConfigError, match="Did you mean 'clahe'") as info:
        normalise(np.zeros((1, 4, 4)), "clahee")
    assert info.value.parameter == "normalisation"
    assert info.value.expected == ["zscore", "clahe"]
    with pytest.raises(ConfigError, match=r"from 'm\.safetensors'.*Valid: zscore, clahe"):
        check_normalisation("histeq", path="m.safetensors")


def test_dark_border_is_the_surround_of_the_disc() -> None:
    image, disc = fundus()
    np.testing.assert_array_equal(dark_border(image), ~disc)
    enclosed = image.copy()
    enclosed[:, 20:24, 20:24] = 0  # a dark spot inside the disc is not border
    np.testing.assert_array_equal(dark_border(enclosed), ~disc)
    assert not dark_border(np.full((3, 8, 8), 7.0)).any()  # nothing bright: no border
    noise = np.random.default_rng(4).integers(0, 256, (3, 64, 64)).astype(np.float32)
    assert not dark_border(noise).any()  # a few dark pixels on the edge of a textured image are not border
    assert not dark_border(np.zeros((1, 8, 8))).any()


def test_clahe_shape_dtype_range_and_determinism() -> None:
    image, disc = fundus()
    y = clahe(image)
    assert y.shape == image.shape
    assert y.dtype == np.float32
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y[:, disc].mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(y[:, disc].std(axis=1), 1, atol=1e-4)
    for c in range(3):  # the border is one value per channel, no higher than any inside value
        assert np.unique(y[c, ~disc]).size == 1
        assert y[c, ~disc][0] <= y[c, disc].min()
    np.testing.assert_array_equal(clahe(image), y)
    np.testing.assert_array_equal(normalise(image, "clahe"), y)


def test_clahe_ignores_what_the_border_holds_and_the_thread_count() -> None:
    import SimpleITK as sitk

    image, disc = fundus()
    other = image.copy()
    other[:, ~disc] = np.random.default_rng(5).integers(0, 16, (3, int((~disc).sum())))
    y = clahe(image)
    np.testing.assert_array_equal(clahe(other), y)
    threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    try:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        one = clahe(image)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    np.testing.assert_array_equal(one, y)


def test_clahe_same_for_8_bit_float_and_any_gain() -> None:
    image, _ = fundus()
    y = clahe(image.astype(np.uint8).astype(np.float32))
    np.testing.assert_allclose(clahe(image / 255.0), y, atol=1e-5)
    np.testing.assert_allclose(clahe(image * 16.0 + 1000.0), y, atol=1e-5)
    grey = normalise(norm.to_channels_first(image[1].astype(np.uint8), 3), "clahe")  # grey to 3 channels
    np.testing.assert_allclose(grey[0], grey[2])


def _rank(values: np.ndarray) -> np.ndarray:
    """Adaptive histogram equalisation with a window over the whole image: (below - above) / 2N + 1/2."""
    flat = values.ravel()
    below = (flat[:, None] > flat[None, :]).sum(1)
    above = (flat[:, None] < flat[None, :]).sum(1)
    return ((below - above) / (2 * flat.size) + 0.5).reshape(values.shape)


def test_clahe_maps_alpha_and_beta_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window over the whole image (radius >= side): alpha = beta = 0 is the global rank, alpha = beta = 1 the
    quantised input; either is then z-scored."""
    x = np.random.default_rng(2).integers(0, 256, (1, 6, 7)).astype(np.float32)
    x[0, 0, 0], x[0, 0, 1] = 0, 255  # 0..255: the 256 levels are the values themselves
    x[0, 3, 3] = x[0, 3, 4]  # a tie
    monkeypatch.setattr(norm, "CLAHE_RADIUS_FRACTION", 2.0)
    monkeypatch.setattr(norm, "BORDER_LEVEL", -1.0)  # no border
    monkeypatch.setattr(norm, "CLAHE_ALPHA", 0.0)
    monkeypatch.setattr(norm, "CLAHE_BETA", 0.0)
    np.testing.assert_allclose(clahe(x), normalise(_rank(x), "zscore"), atol=1e-5)
    monkeypatch.setattr(norm, "CLAHE_ALPHA", 1.0)
    monkeypatch.setattr(norm, "CLAHE_BETA", 1.0)
    np.testing.assert_allclose(clahe(x), normalise(x, "zscore"), atol=1e-5)


def test_clahe_is_monotonic_over_one_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the shipped alpha and beta and one window over the whole image, a brighter pixel never comes out
    darker and equal pixels come out equal."""
    monkeypatch.setattr(norm, "CLAHE_RADIUS_FRACTION", 2.0)
    monkeypatch.setattr(norm, "BORDER_LEVEL", -1.0)  # no border
    x = np.random.default_rng(3).integers(40, 256, (1, 9, 11)).astype(np.float32)
    y = clahe(x)
    order = np.argsort(x.ravel(), kind="stable")
    assert (np.diff(y.ravel()[order]) >= -1e-6).all()
    for v in np.unique(x):
        assert np.ptp(y[x == v]) < 1e-6
    # and the local window really is local: a ramp is flattened in the middle (adaptive, not global)
    monkeypatch.setattr(norm, "CLAHE_RADIUS_FRACTION", 1 / 16)
    ramp = np.tile(np.arange(40, 240, dtype=np.float32), (1, 8, 1))
    out = clahe(ramp)[0, 4]
    assert (np.diff(out) >= -1e-6).all()
    assert np.ptp(out[50:150]) < 0.5 * np.ptp(out)


def test_clahe_degenerate_inputs() -> None:
    assert not clahe(np.full((3, 5, 6), 9.0)).any()
    assert not clahe(np.zeros((1, 5, 6))).any()
    image, disc = fundus(seed=1)
    image[2, disc] = 100.0  # a constant channel inside becomes zeros
    y = clahe(image)
    assert not y[2].any()
    assert y[0, disc].std() > 0.9
    assert clahe(np.arange(4, dtype=np.float32).reshape(1, 1, 4)).shape == (1, 1, 4)  # radius at least 1
    with pytest.raises(ShapeError, match=r"\(C, H, W\)"):
        clahe(np.zeros((5, 6)))
