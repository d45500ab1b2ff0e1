"""Training engine: config validation, patient-level splits, a CPU smoke run, resume and JSON-line events."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from akmamba.data.splits import kfold_by_case
from akmamba.errors import ConfigError
from akmamba.nn import load_checkpoint
from akmamba.train.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--model", "unet", "--model-options", '{"base_channels": 4, "depth": 2}', "--batch-size", "2",
        "--patch-size", "16", "16", "--folds", "3", "--fold", "0", "--seed", "1"]


def _cli(args: list[str], **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "akmamba.cli", *args], capture_output=True, text=True,
                          env=env, timeout=600, **kw)


def test_kfold_never_splits_a_case() -> None:
    items = [f"{c}-{i}" for c in "abcdefg" for i in range(3)]
    cases = [s.split("-")[0] for s in items]
    seen = []
    for fold in range(3):
        train, val = kfold_by_case(items, cases, 3, fold, seed=5)
        assert {s[0] for s in train}.isdisjoint({s[0] for s in val})
        assert len(train) + len(val) == len(items)
        seen += val
    assert sorted(seen) == sorted(items)  # every item is validated exactly once


def test_config_rejects_unknown_and_out_of_range() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        TrainConfig.from_dict({"dataset": "d", "data_root": ".", "out_dir": ".", "epoch": 3})
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(dataset="d", data_root=".", out_dir=".", epochs=1001)
    with pytest.raises(ConfigError, match="lacks required"):
        TrainConfig.from_dict({"dataset": "d"})
    cfg = TrainConfig(dataset="d", data_root=".", out_dir=".", patch_size=[64, 48])
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.slow
def test_train_jsonl_events_checkpoint_and_resume(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    out = tmp_path / "run"
    args = ["train", "--dataset", str(desc), "--data-root", str(root), "--out", str(out), "--epochs", "2",
            *TINY, "--jsonl"]
    res = _cli(args)
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start"
    assert kinds[-1] == "done"
    assert kinds.count("validation") == 2
    assert all(e["loss"] > 0 for e in events if e["event"] == "step")
    start = events[0]
    assert start["train_cases"] == 2
    assert start["val_cases"] == 1
    _, meta = load_checkpoint(out / "best.safetensors")
    assert meta["label_table"][1]["name"] == "disc"
    assert meta["normalisation"] == "zscore"
    assert set(meta["val_cases"]).isdisjoint(meta["train_cases"])
    assert len(meta["data_sha256"]) == 12  # 6 images + 6 labels
    assert 0.0 <= meta["metrics"]["val_dice"] <= 1.0
    assert "warning" not in kinds  # no twin images across the split
    assert meta["leakage_check"]["pairs"] == 0
    assert meta["leakage_check"]["checked"] == [4, 2]
    assert meta["scan_backends"] == [] == events[-1]["scan_backends"]  # a U-Net runs no selective scan
    # resume continues at epoch 3 and stops after epoch 4
    res = _cli(["train", "--dataset", str(desc), "--data-root", str(root), "--out", str(out), "--epochs", "4",
                *TINY, "--jsonl", "--resume"])
    assert res.returncode == 0, res.stderr
    epochs = [json.loads(line)["epoch"] for line in res.stdout.splitlines() if '"event": "epoch"' in line]
    assert epochs == [2, 3]


def test_bad_config_gives_message_not_traceback(tmp_path) -> None:
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"dataset": "drive", "data_root": str(tmp_path), "out_dir": str(tmp_path / "o"),
                               "batchsize": 4}), encoding="utf-8")
    res = _cli(["train", "--config", str(cfg)])
    assert res.returncode == 2
    assert "Did you mean 'batch_size'" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_torchrun_two_cpu_processes_gloo_with_ema(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # --standalone: torchrun binds its own free local port (no pick-release-reuse race with other processes)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "akmamba.train",
           "--dataset", str(desc), "--data-root", str(root),
           "--out", str(out), "--epochs", "2", "--device", "cpu", *TINY, "--ema-decay", "0.9", "--jsonl"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert events[0]["world_size"] == 2
    assert events[-1]["event"] == "done"
    _, meta = load_checkpoint(out / "best.safetensors")
    assert meta["world_size"] == 2
    assert meta["weights"] == "ema"  # the average is kept on rank 0 and validated there
    assert meta["ema"]["updates"] == meta["step"]
