"""The round-5 recipe on a CUDA GPU (bf16 autocast, the fused scan, deep supervision, strong augmentation, SGD + poly,
a time budget) and exact resume there. Skips with a reason where CUDA is missing; run on the GPU machine."""

from __future__ import annotations

import json

import pytest
import torch

from akmamba.nn import load_checkpoint
from akmamba.train import engine
from akmamba.train.config import TrainConfig

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch.cuda.is_available() "
                                                                       "is False")]


def test_recipe_trains_on_cuda_with_a_budget_and_resumes(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    cfg = {"dataset": str(desc), "data_root": str(root), "device": "cuda", "model": "akmamba",
           "model_options": {"base_channels": 8, "depth": 2, "deep_supervision": 1}, "batch_size": 4,
           "patch_size": [32, 32], "folds": 3, "fold": 0, "optimizer": "sgd", "lr": 0.01, "lr_schedule": "poly",
           "augmentation": "strong", "loss": "dice_ce_batch", "ema_decay": 0.9, "samples_per_epoch": 40}
    events = list(engine.fit(TrainConfig(out_dir=str(tmp_path / "b"), time_budget_s=6.0, **cfg)))
    done = events[-1]
    assert done["stopped_by"] == "time_budget"
    assert done["steps"] == done["planned_steps"]
    assert events[0]["device"].startswith("cuda")
    assert any("triton" in b or "mamba" in b for b in done["scan_backends"]), done["scan_backends"]
    _, meta = load_checkpoint(tmp_path / "b" / "best.safetensors")
    assert meta["train_config"]["augmentation"] == "strong"
    # resume after epoch 0 continues with the same losses as an uninterrupted run (on the GPU: close, not bitwise)
    whole = [e for e in engine.fit(TrainConfig(out_dir=str(tmp_path / "w"), epochs=2, **cfg))]
    gen = engine.fit(TrainConfig(out_dir=str(tmp_path / "s"), epochs=2, **cfg))
    for ev in gen:
        if ev["event"] == "step" and ev["epoch"] == 1:
            gen.close()
            break
    assert json.loads((tmp_path / "s" / "last_optim.json").read_text())["record"]["epoch"] == 0
    resumed = list(engine.fit(TrainConfig(out_dir=str(tmp_path / "s"), epochs=2, resume=True, **cfg)))
    tail = [e["loss"] for e in whole if e["event"] == "step" and e["epoch"] == 1]
    assert [e["loss"] for e in resumed if e["event"] == "step"] == pytest.approx(tail, rel=2e-2, abs=2e-3)
