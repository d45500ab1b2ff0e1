"""PatchDataset: which sample each item is cut from (every sample drawn, slice-level oversampling), whole-slice
patches, class-balanced patch centres."""

from __future__ import annotations

import collections

import numpy as np
import pytest

from akmamba.data.dataset import LoadedSample, PatchDataset, class_repeats
from akmamba.data.transforms import random_crop
from akmamba.errors import ConfigError


def _samples(n: int, size: int = 16, with_class2: tuple[int, ...] = ()) -> list[LoadedSample]:
    """``n`` samples; sample ``k`` has image value ``k`` (to identify it) and class 2 where ``k`` is listed."""
    out = []
    for k in range(n):
        label = np.zeros((size, size), np.int64)
        label[4:8, 4:8] = 1
        if k in with_class2:
            label[9:11, 9:11] = 2
        out.append(LoadedSample(np.full((1, size, size), float(k), np.float32), label, None, f"c{k}", f"s{k}"))
    return out


def _drawn(ds: PatchDataset, epochs: int) -> list[int]:
    """The sample of every item over ``epochs`` epochs, read from the (unaugmented) image value."""
    out = []
    for e in range(epochs):
        ds.set_epoch(e)
        out += [int(ds[i][0][0, 0, 0]) for i in range(len(ds))]
    return out


def test_every_sample_is_drawn_when_an_epoch_is_shorter_than_the_data() -> None:
    # Regression: item i used to be sample i % n in every epoch, so with 400 patches per epoch and 544-639
    # bladder training slices, 144-239 slices (whole cases) were never trained on.
    ds = PatchDataset(_samples(10), (8, 8), length=4, augment=False)
    counts = collections.Counter(_drawn(ds, 5))  # 20 draws over 10 samples
    assert counts == {k: 2 for k in range(10)}
    counts = collections.Counter(_drawn(ds, 3))  # 12 draws: every sample once or twice
    assert set(counts) == set(range(10))
    assert set(counts.values()) == {1, 2}


def test_length_a_multiple_of_the_samples_keeps_item_i_on_sample_i_mod_n() -> None:
    ds = PatchDataset(_samples(4), (8, 8), length=12, augment=False)
    for e in range(3):
        ds.set_epoch(e)
        assert [ds.sample_index(i) for i in range(12)] == [i % 4 for i in range(12)]


def test_class_repeats_oversample_slices_holding_the_class() -> None:
    samples = _samples(6, with_class2=(1, 4))
    repeats = class_repeats(samples, 2, 3)
    assert repeats == [1, 3, 1, 1, 3, 1]
    assert class_repeats(samples, 1, 3) == [3] * 6  # every sample holds class 1
    ds = PatchDataset(samples, (8, 8), length=5, augment=False, repeats=repeats)
    assert ds.cycle.size == 10
    counts = collections.Counter(_drawn(ds, 4))  # 20 draws = two whole cycles
    assert counts == {0: 2, 1: 6, 2: 2, 3: 2, 4: 6, 5: 2}


@pytest.mark.parametrize(("cls", "factor"), [(0, 2), (2, 0)])
def test_class_repeats_rejects_background_and_factors_below_one(cls: int, factor: int) -> None:
    with pytest.raises(ConfigError, match="Oversampling"):
        class_repeats(_samples(2), cls, factor)


@pytest.mark.parametrize("repeats", [[1, 1], [1, 0, 1]])
def test_patch_dataset_rejects_bad_repeats(repeats: list[int]) -> None:
    with pytest.raises(ConfigError, match="repeats"):
        PatchDataset(_samples(3), (8, 8), repeats=repeats)


def test_a_patch_as_large_as_the_slice_is_the_whole_slice() -> None:
    # Whole-slice training on 512 x 512 bladder slices is ``--patch-size 512 512``: the crop is the whole slice
    # (foreground centring has no effect), flips and 90-degree rotations still apply.
    rng = np.random.default_rng(0)
    label = rng.integers(0, 3, (16, 16))
    image = rng.normal(size=(1, 16, 16)).astype(np.float32)
    ds = PatchDataset([LoadedSample(image, label, None, "c", "s")], (16, 16), length=8, foreground_fraction=1.0)
    seen = set()
    for i in range(8):
        x, y = ds[i]
        assert x.shape == (1, 16, 16)
        assert y.shape == (16, 16)
        assert np.array_equal(np.bincount(y.numpy().ravel(), minlength=3), np.bincount(label.ravel(), minlength=3))
        seen.add(y.numpy().tobytes())
    assert len(seen) > 1  # augmented: not always the same orientation


def test_foreground_centres_are_class_balanced() -> None:
    # a 2 x 2 rare class beside a large common one is the centre of about half the foreground-centred patches
    label = np.zeros((64, 64), np.int64)
    label[8:40, 8:40] = 1
    label[50:52, 50:52] = 2
    image = np.zeros((1, 64, 64), np.float32)
    hits = sum(
        (random_crop(image, label, (8, 8), np.random.default_rng([1, i]), foreground_fraction=1.0)[1] == 2).any()
        for i in range(400)
    )
    assert 0.4 < hits / 400 < 0.6
