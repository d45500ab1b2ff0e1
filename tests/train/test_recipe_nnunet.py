"""The nnU-Net-level recipe pieces (strong augmentation, deep supervision, SGD + poly, time budget) and exact resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from akmamba.data.augment import StrongAugment
from akmamba.errors import ConfigError
from akmamba.nn import build_model, load_checkpoint
from akmamba.train import engine
from akmamba.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
RECIPE = {"model": "unet", "model_options": {"base_channels": 4, "depth": 2, "deep_supervision": 1},
          "batch_size": 2, "patch_size": [16, 16], "folds": 3, "fold": 0, "seed": 3, "optimizer": "sgd",
          "lr": 0.01, "weight_decay": 3e-5, "lr_schedule": "poly", "augmentation": "strong",
          "oversample_class": 1, "oversample_factor": 2, "ema_decay": 0.9, "loss": "dice_ce_batch"}


def _cfg(root: Path, desc: Path, out: Path, **kw: Any) -> TrainConfig:
    return TrainConfig(dataset=str(desc), data_root=str(root), out_dir=str(out), device="cpu",
                       **{**RECIPE, **kw})


def _run(cfg: TrainConfig, stop_after_epoch: int | None = None) -> list[dict[str, Any]]:
    """Run ``fit``; with ``stop_after_epoch`` the run is dropped (as a kill would) one step into the epoch after
    it, when that epoch's files are written and the next epoch's progress is not."""
    events = []
    gen = engine.fit(cfg)
    for ev in gen:
        events.append(ev)
        if stop_after_epoch is not None and ev["event"] == "step" and ev["epoch"] == stop_after_epoch + 1:
            gen.close()
            break
    return events


def _weights(path: Path) -> dict[str, torch.Tensor]:
    model, _ = load_checkpoint(path)
    return model.state_dict()


@pytest.mark.slow
@pytest.mark.slow
def test_resumed_run_matches_an_uninterrupted_one(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    whole = _run(_cfg(root, desc, tmp_path / "whole", epochs=4))
    assert whole[-1]["stopped_by"] == "epochs"
    _run(_cfg(root, desc, tmp_path / "split", epochs=4), stop_after_epoch=1)
    rec = json.loads((tmp_path / "split" / "last_optim.json").read_text())["record"]
    assert rec["epoch"] == 1
    resumed = _run(_cfg(root, desc, tmp_path / "split", epochs=4, resume=True))
    assert resumed[0]["resumed_at_step"] == rec["step"] > 0
    assert [e["epoch"] for e in resumed if e["event"] == "epoch"] == [2, 3]
    assert resumed[-1]["steps"] == whole[-1]["steps"]
    losses_whole = [e["loss"] for e in whole if e["event"] == "step"][rec["step"]:]
    losses_resumed = [e["loss"] for e in resumed if e["event"] == "step"]
    assert losses_resumed == pytest.approx(losses_whole, rel=1e-5, abs=1e-6)
    for name in ("last.safetensors", "last_ema.safetensors"):
        a, b = _weights(tmp_path / "whole" / name), _weights(tmp_path / "split" / name)
        for key in a:
            torch.testing.assert_close(b[key], a[key], msg=f"{name}: {key}")


def test_a_second_run_into_the_same_folder_is_refused_and_files_kept(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    out = tmp_path / "run"
    _run(_cfg(root, desc, out, epochs=1))
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(ConfigError, match="already holds a run") as info:
        _run(_cfg(root, desc, out, epochs=2))
    assert "--resume" in str(info.value)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    with pytest.raises(ConfigError, match="other settings"):
        _run(_cfg(root, desc, out, epochs=2, resume=True, lr=0.5))


@pytest.mark.slow
@pytest.mark.slow
def test_cli_resume_run_dir_reads_the_runs_config(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    out = tmp_path / "run"
    cfg = _cfg(root, desc, out, epochs=1).to_dict()
    (tmp_path / "run.json").write_text(json.dumps(cfg), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "akmamba.cli", "train"]
    first = subprocess.run([*cli, "--config", str(tmp_path / "run.json"), "--jsonl"], capture_output=True,
                           text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr
    again = subprocess.run([*cli, "--config", str(tmp_path / "run.json")], capture_output=True, text=True, env=env,
                           timeout=600)
    assert again.returncode == 2
    assert "already holds a run" in again.stderr
    assert "Traceback" not in again.stderr
    res = subprocess.run([*cli, "--resume", str(out), "--epochs", "2", "--jsonl"], capture_output=True, text=True,
                         env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    epochs = [json.loads(line)["epoch"] for line in res.stdout.splitlines() if '"event": "epoch"' in line]
    assert epochs == [1]
    bad = subprocess.run([*cli, "--resume", str(tmp_path / "nothing")], capture_output=True, text=True, env=env,
                         timeout=600)
    assert bad.returncode == 2
    assert "config.json" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_time_budget_plan_fits_the_steps_to_the_measured_rate() -> None:
    plan = engine.StepPlan(4, budget_s=100.0)
    assert plan.budgeted
    assert not plan.measured
    w, t = engine.StepPlan.WARMUP, engine.StepPlan.TIMED
    clock = 0.0
    for step in range(1, w + t + 1):
        clock += 5.0 if step <= w else 0.5  # slow warm-up steps are not counted
        plan.observe(step, clock, train_s=clock)
    assert plan.measured
    # 40 steps took 65 s; the remaining 35 s at 0.5 s a step are 70 more steps
    assert plan.planned == w + t + 70
    assert plan.factor("poly", plan.planned) == 0.0
    spent = engine.StepPlan(4, budget_s=3.0)
    spent.observe(1, 0.0, train_s=3.5)  # the budget ran out before the measurement: stop here
    assert spent.planned == 1
    plain = engine.StepPlan(100)
    assert plain.measured
    assert plain.factor("poly", 0) == 1.0
    assert plain.factor("poly", 100) == 0.0
    assert plain.factor("poly", 50) == pytest.approx(0.5**0.9)
    assert plain.factor("cosine", 100) == pytest.approx(0.01)


def test_eta_is_the_remaining_budget_until_the_step_time_is_measured() -> None:
    plan = engine.StepPlan(4, budget_s=100.0)
    assert plan.eta_s(step=3, train_s=20.0) == 80.0  # not the 2**40 planned steps of an unmeasured plan
    assert plan.eta_s(step=3, train_s=120.0) == 0.0
    plan.planned, plan.measured = 50, True
    assert plan.eta_s(step=40, train_s=80.0) == pytest.approx(20.0)  # 2 s a step, 10 steps left
    assert engine.StepPlan(10).eta_s(step=10, train_s=5.0) == 0.0


def test_time_budget_run_stops_at_its_plan(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    events = _run(_cfg(root, desc, tmp_path / "b", epochs=1, time_budget_s=0.5, samples_per_epoch=4,
                       folds=0, ema_decay=None))
    done = events[-1]
    assert done["stopped_by"] == "time_budget"
    assert done["steps"] == done["planned_steps"]
    assert 0.2 <= done["train_s"] <= 10.0  # the plan fitted after step 40 aims at the budget, it does not bound it
    assert (tmp_path / "b" / "best.safetensors").is_file()


def test_deep_supervision_heads_in_training_only() -> None:
    model = build_model("unet", 1, 3, base_channels=4, depth=3, deep_supervision=2)
    x = torch.randn(2, 1, 37, 45)
    model.train()
    out = model(x)
    assert isinstance(out, tuple)
    assert [tuple(t.shape) for t in out] == [(2, 3, 37, 45), (2, 3, 19, 23), (2, 3, 10, 12)]
    model.eval()
    with torch.no_grad():
        full = model(x)
    assert tuple(full.shape) == (2, 3, 37, 45)
    with pytest.raises(ConfigError, match="deep_supervision"):
        build_model("unet", 1, 3, base_channels=4, depth=2, deep_supervision=2)


def test_deep_supervision_loss_weighs_heads_half_each_level() -> None:
    loss_fn = engine.make_loss("dice_ce")
    torch.manual_seed(0)
    y = torch.randint(0, 3, (2, 8, 8))
    full, half = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 4, 4)
    y_half = y[:, 1::2, 1::2]  # nearest-exact resizing by 1/2 samples pixel centres 2i + 1
    want = (loss_fn(full, y[:, None]) + 0.5 * loss_fn(half, y_half[:, None])) / 1.5
    torch.testing.assert_close(engine.training_loss(loss_fn, (full, half), y), want)
    torch.testing.assert_close(engine.training_loss(loss_fn, full, y), loss_fn(full, y[:, None]))


def test_strong_augmentation_is_reproducible_and_keeps_labels_and_weights() -> None:
    aug = StrongAugment((32, 32))
    rng = np.random.default_rng(0)
    image = rng.normal(size=(1, 50, 60)).astype(np.float32)
    label = np.zeros((50, 60), np.int64)
    label[10:30, 20:40] = 1
    label[15:20, 25:30] = 2
    weight = np.where(label > 0, 5.0, 1.0).astype(np.float32)
    seen_fg = 0
    for k in range(30):
        img, lab, w = aug(image, label, weight, np.random.default_rng([1, 0, k]), 1.0)
        assert img.shape == (1, 32, 32)
        assert lab.shape == w.shape == (32, 32)
        assert set(np.unique(lab)) <= {0, 1, 2}
        assert set(np.unique(w)) <= {1.0, 5.0}
        assert np.isfinite(img).all()
        seen_fg += int((lab > 0).any())
        again = aug(image, label, weight, np.random.default_rng([1, 0, k]), 1.0)
        np.testing.assert_array_equal(again[0], img)
        np.testing.assert_array_equal(again[1], lab)
    assert seen_fg == 30  # every patch was centred on a labelled pixel (foreground fraction 1)
