"""Recipe options for rare classes: the batch-Dice loss, slice-level oversampling and the validation metric that
picks the best checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from akmamba.data.dataset import LoadedSample
from akmamba.errors import ConfigError
from akmamba.nn import load_checkpoint
from akmamba.train import engine
from akmamba.train.config import TrainConfig


def test_make_loss_is_monai_dice_ce_per_image_or_over_the_batch() -> None:
    from monai.losses import DiceCELoss

    torch.manual_seed(0)
    logits, target = torch.randn(4, 3, 8, 8), torch.randint(0, 3, (4, 1, 8, 8))
    for name, batch in (("dice_ce", False), ("dice_ce_batch", True)):
        want = DiceCELoss(to_onehot_y=True, softmax=True, include_background=False, batch=batch)(logits, target)
        torch.testing.assert_close(engine.make_loss(name)(logits, target), want)
    with pytest.raises(ConfigError, match="Unknown loss"):
        engine.make_loss("focal")


def test_batch_dice_penalises_a_rare_class_predicted_where_it_is_absent() -> None:
    # Two patches: the first holds a small class-2 region, the second none. The per-image Dice of class 2 on the
    # second patch is ~1 whatever is predicted there (1 - s / (sum p + s)), so it gives the class-2 logits of
    # that patch almost no gradient; over the batch, class-2 probability there is a false positive.
    target = torch.zeros(2, 1, 16, 16, dtype=torch.long)
    target[0, 0, 4:8, 4:8] = 2
    grads = {}
    for name in ("dice_ce", "dice_ce_batch"):
        logits = torch.zeros(2, 3, 16, 16, requires_grad=True)
        dice_term = engine.make_loss(name)(logits, target) - torch.nn.functional.cross_entropy(logits, target[:, 0])
        dice_term.backward()
        grads[name] = logits.grad[1, 2].abs().sum().item()  # class-2 logits of the empty patch
    assert grads["dice_ce"] < 1e-6
    assert grads["dice_ce_batch"] > 1e-3


def test_config_checks_the_new_options() -> None:
    base = {"dataset": "d", "data_root": ".", "out_dir": "."}
    cfg = TrainConfig(**base)
    assert (cfg.loss, cfg.oversample_class, cfg.oversample_factor, cfg.val_metric) == ("dice_ce", None, 1,
                                                                                       "per_image")
    for bad in ({"oversample_factor": 0}, {"oversample_factor": 101}, {"oversample_class": 0},
                {"val_metric": "mean"}, {"loss": "focal"}, {"loss": "dice_ce_batch", "edit_masks": "m"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            TrainConfig(**base, **bad)
    cfg = TrainConfig(**base, loss="dice_ce_batch", oversample_class=2, oversample_factor=3, val_metric="pooled")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


class _Fixed(nn.Module):
    """A 'model' that predicts class 1 everywhere the image is > 0 and never class 2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fg = (x[:, :1] > 0).float()
        return torch.cat([1 - fg, fg, torch.full_like(fg, -1.0)], 1)


def test_validate_reports_both_metrics_and_the_pooled_one_does_not_reward_missing_a_rare_class() -> None:
    samples = []
    for k in range(4):
        label = np.zeros((8, 8), np.int64)
        label[2:6, 2:6] = 1
        if k == 0:
            label[3, 3] = 2  # class 2 in one image of four
        image = np.where(label > 0, 1.0, -1.0).astype(np.float32)[None]
        samples.append(LoadedSample(image, label, None, str(k), f"s{k}"))
    names = {1: "wall", 2: "tumour"}
    res = engine.validate(_Fixed(), samples, names, torch.device("cpu"), amp=False)
    # class 2: per-image Dice 0 on the image that has it, 1 on the three that do not -> 0.75; pooled 0
    # class 1: the first image's 16 predicted pixels hold 15 true ones, the others are exact
    wall_pooled = 2 * 63 / (2 * 63 + 1)
    assert res["dice_pooled"] == pytest.approx((wall_pooled + 0.0) / 2)
    assert res["dice_per_image"] == pytest.approx((np.mean([30 / 31, 1, 1, 1]) + 0.75) / 2)
    assert res["dice"] == res["dice_per_image"]
    pooled = engine.validate(_Fixed(), samples, names, torch.device("cpu"), amp=False, metric="pooled")
    assert pooled["dice"] == pooled["dice_pooled"] == res["dice_pooled"]


def _fit(root: Path, desc: Path, out: Path, **kw: Any) -> list[dict[str, Any]]:
    cfg = TrainConfig(dataset=str(desc), data_root=str(root), out_dir=str(out), model="unet",
                      model_options={"base_channels": 4, "depth": 2}, batch_size=2, patch_size=(16, 16), folds=3,
                      fold=0, seed=1, device="cpu", epochs=1, **kw)
    return list(engine.fit(cfg))


def test_fit_with_oversampling_batch_dice_and_pooled_selection(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    out = tmp_path / "run"
    events = _fit(root, desc, out, oversample_class=1, oversample_factor=2, loss="dice_ce_batch",
                  val_metric="pooled")
    start = events[0]
    assert start["oversampled_images"] == start["train_images"] == 4  # every disc image holds class 1
    assert start["cycle_length"] == 8
    (val,) = [e for e in events if e["event"] == "validation"]
    assert val["metric"] == "pooled"
    assert val["dice"] == val["dice_pooled"]
    assert 0.0 <= val["dice_per_image"] <= 1.0
    _, meta = load_checkpoint(out / "best.safetensors")
    assert meta["metrics"]["val_metric"] == "pooled"
    assert meta["train_config"]["loss"] == "dice_ce_batch"
    assert meta["train_config"]["oversample_factor"] == 2
    plain = _fit(root, desc, tmp_path / "plain")
    assert (plain[0]["oversampled_images"], plain[0]["cycle_length"]) == (0, 4)


def test_fit_rejects_an_oversample_class_the_data_does_not_have(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    with pytest.raises(ConfigError, match="oversample_class 2 is not a foreground class"):
        _fit(root, desc, tmp_path / "run", oversample_class=2, oversample_factor=2)
