"""The bladder data as the training recipe samples it, on the real files in ../shared/data (skipped where
absent): clean 0/128/255 labels, tumour on both sides of every fold, every training slice drawn."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from akmamba.data.dataset import LoadedSample, PatchDataset, class_repeats
from akmamba.data.splits import kfold_by_case
from akmamba.io import builtin_description, load_sample, pair_files

ROOT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "BladderMRI"


@pytest.fixture(scope="module")
def bladder() -> tuple[list, list[np.ndarray]]:
    """Samples and their class-index labels."""
    if not (ROOT / "Labels").is_dir():
        pytest.skip(f"{ROOT} not found")
    desc = builtin_description("bladder")
    samples = pair_files(desc, ROOT)
    return samples, [load_sample(s, desc)[1] for s in samples]


def test_label_files_hold_only_0_128_255(bladder) -> None:
    samples, labels = bladder
    values: set[int] = set()
    for s in samples:
        values |= set(np.unique(np.asarray(PILImage.open(s.label))).tolist())
    assert values == {0, 128, 255}  # no anti-aliased grey levels
    assert sum(bool((lab == 2).any()) for lab in labels) == 229
    assert sum(bool((lab == 1).any()) for lab in labels) == 812


def test_every_fold_has_tumour_in_training_and_validation(bladder) -> None:
    samples, labels = bladder
    has_tumour = [bool((lab == 2).any()) for lab in labels]
    for fold in range(3):
        train, val = kfold_by_case(list(range(len(samples))), [s.case_id for s in samples], 3, fold, seed=0)
        assert sum(has_tumour[i] for i in val) >= 50
        assert sum(has_tumour[i] for i in train) >= 140


def test_the_recipe_draws_every_training_slice_and_oversamples_tumour_slices(bladder) -> None:
    # fold 0 of the round-2 recipe: 544 training slices, 400 patches an epoch (the old sampler never drew 144)
    samples, labels = bladder
    train, _ = kfold_by_case(list(range(len(samples))), [s.case_id for s in samples], 3, 0, seed=0)
    loaded = [LoadedSample(np.zeros((1, 1, 1), np.float32), labels[i], None, samples[i].case_id, str(i))
              for i in train]
    ds = PatchDataset(loaded, None, length=400)
    drawn = collections.Counter()
    for e in range(25):
        ds.set_epoch(e)
        drawn.update(ds.sample_index(i) for i in range(400))
    assert len(drawn) == len(loaded) == 544
    assert max(drawn.values()) - min(drawn.values()) <= 1
    repeats = class_repeats(loaded, 2, 3)
    assert sum(r == 3 for r in repeats) == 177
    ds = PatchDataset(loaded, None, length=400, repeats=repeats)
    assert ds.cycle.size == 544 + 2 * 177
