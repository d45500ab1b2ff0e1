"""``akmamba train`` warns, and records, when a validation image has a near-identical twin in the training set
(akmamba/data/leakage.py): a tiny CPU run on the synthetic disc set with one planted twin across the split."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from akmamba.cli import main
from akmamba.nn import load_checkpoint


def _plant_twin(root: Path, source: str, copy: str, offset: int = 14) -> None:
    """Store image ``source`` again as ``copy`` (another case id), brighter by ``offset``, with its label."""
    img = np.asarray(PILImage.open(root / "Images" / f"{source}.png")).astype(np.int16)
    PILImage.fromarray(np.clip(img + offset, 0, 255).astype(np.uint8)).save(root / "Images" / f"{copy}.png")
    (root / "Labels" / f"{copy}.png").write_bytes((root / "Labels" / f"{source}.png").read_bytes())


def test_a_twin_across_the_split_is_warned_about_and_recorded(disc_dataset, tmp_path, capsys) -> None:
    root, desc = disc_dataset
    _plant_twin(root, "3-IM4", "1-IM9")  # case 3 validates, case 1 trains
    run = tmp_path / "run"
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps({"dataset": str(desc), "data_root": str(root), "out_dir": str(run), "model": "unet",
                               "model_options": {"base_channels": 4, "depth": 2}, "batch_size": 2,
                               "patch_size": [16, 16], "val_cases": ["3"], "epochs": 1, "max_steps": 2,
                               "device": "cpu", "seed": 1}), encoding="utf-8")
    assert main(["train", "--config", str(cfg)]) == 0  # a warning, not a failure
    err = capsys.readouterr().err
    assert "warning: 1 of 2 validation images have a near-identical twin" in err
    assert "training 1 ~ validation 3 (1)" in err
    assert "1-IM9 ~ 3-IM4" in err
    assert "--val-cases 1,3" in err
    # the advice works: with both cases on the validation side nothing is reported
    assert main(["train", "--config", str(cfg), "--val-cases", "1,3", "--out", str(tmp_path / "run2")]) == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads((tmp_path / "run2" / "config.json").read_text(encoding="utf-8"))["val_cases"] == ["1", "3"]
    events = [json.loads(line) for line in (run / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["event"] for e in events][:2] == ["start", "warning"]
    warning = events[1]
    assert warning["code"] == "train_val_twins"
    assert warning["pairs"] == 1
    assert warning["case_pairs"] == [{"train_case": "1", "val_case": "3", "pairs": 1}]
    assert warning["examples"][0]["train"] == "1-IM9"
    assert warning["examples"][0]["val"] == "3-IM4"
    assert warning["examples"][0]["r"] > 0.9999
    assert events[-1]["event"] == "done"
    _, meta = load_checkpoint(run / "best.safetensors")
    assert meta["leakage_check"]["pairs"] == 1
    assert meta["leakage_check"]["checked"] == [5, 2]


def test_no_validation_set_no_check(disc_dataset, tmp_path, capsys) -> None:
    root, desc = disc_dataset
    _plant_twin(root, "3-IM4", "1-IM9")
    run = tmp_path / "all"
    assert main(["train", "--dataset", str(desc), "--data-root", str(root), "--out", str(run), "--model", "unet",
                 "--model-options", '{"base_channels": 4, "depth": 2}', "--batch-size", "2", "--patch-size", "16",
                 "16", "--folds", "0", "--max-steps", "1", "--epochs", "1", "--device", "cpu"]) == 0
    assert "warning" not in capsys.readouterr().err
    _, meta = load_checkpoint(run / "best.safetensors")
    assert meta["leakage_check"] is None
