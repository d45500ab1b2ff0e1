"""The edit-weighted loss equals MONAI's DiceCELoss at weight 1, and weights travel with the labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from akmamba.data.dataset import LoadedSample, PatchDataset
from akmamba.errors import ConfigError, ShapeError
from akmamba.finetune.weights import WeightedDiceCELoss, edit_weight_map

pytestmark = pytest.mark.finetune


@pytest.mark.parametrize("classes", [2, 3])
def test_unit_weights_equal_monai_dice_ce(classes: int) -> None:
    from monai.losses import DiceCELoss

    torch.manual_seed(0)
    logits = torch.randn(3, classes, 9, 11)
    target = torch.randint(0, classes, (3, 9, 11))
    want = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False)(logits, target[:, None])
    got = WeightedDiceCELoss()(logits, target, torch.ones(3, 9, 11))
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(WeightedDiceCELoss()(logits, target), want)


def test_edited_pixels_pull_harder() -> None:
    torch.manual_seed(1)
    target = torch.randint(0, 2, (1, 8, 8))
    weight = torch.ones(1, 8, 8)
    weight[0, :2, :2] = 5.0
    grads = []
    for w in (torch.ones(1, 8, 8), weight):
        logits = torch.zeros(1, 2, 8, 8, requires_grad=True)
        WeightedDiceCELoss()(logits, target, w).backward()
        grads.append(logits.grad.abs().sum(1)[0])
    ratio = (grads[1][:2, :2].mean() / grads[1][4:, 4:].mean()) / (grads[0][:2, :2].mean() / grads[0][4:, 4:].mean())
    assert ratio > 3


def test_weight_map_and_its_errors() -> None:
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = True
    w = edit_weight_map(mask, (4, 5), 5.0)
    assert w.dtype == np.float32
    assert w[1, 2] == 5.0
    assert w.sum() == 19 + 5
    assert edit_weight_map(None, (4, 5), 5.0).sum() == 20
    with pytest.raises(ConfigError, match="edit_weight"):
        edit_weight_map(mask, (4, 5), 0.0)
    with pytest.raises(ShapeError, match="does not match"):
        edit_weight_map(mask, (5, 4), 2.0)
    with pytest.raises(ShapeError, match="WeightedDiceCELoss"):
        WeightedDiceCELoss()(torch.zeros(1, 2, 4, 4), torch.zeros(1, 5, 4, dtype=torch.long))


def test_patch_dataset_crops_weights_with_labels() -> None:
    rng = np.random.default_rng(0)
    label = (rng.random((24, 20)) > 0.7).astype(np.int64)
    image = rng.normal(size=(2, 24, 20)).astype(np.float32)
    weight = np.where(label == 1, 5.0, 1.0).astype(np.float32)  # weight derived from the label: must stay aligned
    plain = PatchDataset([LoadedSample(image, label, None, "c", "n")], (8, 8), length=12, seed=3)
    weighted = PatchDataset([LoadedSample(image, label, None, "c", "n", weight)], (8, 8), length=12, seed=3)
    for i in range(12):
        x0, y0 = plain[i]
        x, y, w = weighted[i]
        torch.testing.assert_close(x, x0)  # same random stream with and without weights
        assert torch.equal(y, y0)
        assert torch.equal(w, torch.where(y == 1, 5.0, 1.0))
