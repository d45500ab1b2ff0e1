"""End to end through the CLI on CPU: train 2 steps, save, load, predict, evaluate."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image as PILImage

from akmamba.cli import main
from akmamba.nn import load_checkpoint


def test_train_predict_evaluate(disc_dataset, tmp_path, capsys) -> None:
    root, desc = disc_dataset
    run = tmp_path / "run"
    code = main(["train", "--dataset", str(desc), "--data-root", str(root), "--out", str(run), "--model", "akmamba",
                 "--model-options", '{"base_channels": 4, "depth": 2}', "--batch-size", "2", "--patch-size", "16",
                 "16", "--folds", "3", "--max-steps", "2", "--epochs", "5"])
    assert code == 0
    assert (run / "best.safetensors").is_file()
    _, meta = load_checkpoint(run / "best.safetensors")
    assert meta["scan_backends"] == ["torch"]  # the kernel that trained it: on CPU with gradients, torch
    images = sorted((root / "Images").glob("*.png"))
    pred = tmp_path / "pred"
    code = main(["predict", "--model", str(run / "best.safetensors"), "--out", str(pred), "--device", "cpu",
                 "--probs", *map(str, images)])
    assert code == 0
    for img in images:
        mask = np.asarray(PILImage.open(pred / f"{img.stem}.png"))
        assert mask.shape == (32, 32)
        assert mask.dtype == np.uint8
        assert set(np.unique(mask)) <= {0, 1}
        probs = np.load(pred / f"{img.stem}_probs.npy")
        assert probs.shape == (2, 32, 32)
        np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)
    report = tmp_path / "report.json"
    code = main(["evaluate", "--pred", str(pred), "--gt", str(root), "--dataset", str(desc), "--out", str(report),
                 "--out", str(tmp_path / "report.html")])
    assert code == 0
    data = json.loads(report.read_text(encoding="utf-8"))
    assert len(data["cases"]) == len(images)
    dice = data["summary"]["disc"]["per_image_mean"]["dice"]
    assert 0.0 <= dice <= 1.0
    assert data["model"]["name"] == "akmamba-discs"
    assert "<svg" in (tmp_path / "report.html").read_text(encoding="utf-8")
    capsys.readouterr()
