"""``--normalisation clahe`` from training to prediction: the method travels in the checkpoint and ``akmamba
predict``, the Predictor and the viewer's inference job all apply it; bad names are one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from akmamba.cli import main
from akmamba.data.normalize import normalise, to_channels_first
from akmamba.errors import ConfigError
from akmamba.infer import Predictor
from akmamba.nn import build_model, load_checkpoint, save_checkpoint

TINY = ["--model", "unet", "--model-options", '{"base_channels": 4, "depth": 2}', "--batch-size", "2",
        "--patch-size", "16", "16", "--folds", "3", "--max-steps", "2", "--epochs", "1"]


def _direct_probs(checkpoint: Path, image: np.ndarray, method: str) -> np.ndarray:
    """Softmax of the checkpoint's network on ``image`` normalised by hand with ``method``."""
    model, _ = load_checkpoint(checkpoint, device="cpu")
    x = torch.from_numpy(normalise(to_channels_first(image, 1), method))[None]
    with torch.no_grad():
        return torch.softmax(model.eval()(x), 1)[0].numpy()


def test_clahe_travels_from_train_to_predict_and_viewer(disc_dataset, tmp_path, capsys) -> None:
    root, desc = disc_dataset
    run = tmp_path / "run"
    assert main(["train", "--dataset", str(desc), "--data-root", str(root), "--out", str(run), *TINY,
                 "--normalisation", "clahe"]) == 0
    _, meta = load_checkpoint(run / "best.safetensors")
    assert meta["normalisation"] == "clahe"
    assert meta["train_config"]["normalisation"] == "clahe"
    image_path = sorted((root / "Images").glob("*.png"))[0]
    image = np.asarray(PILImage.open(image_path))
    expected = _direct_probs(run / "best.safetensors", image, "clahe")
    assert not np.allclose(expected, _direct_probs(run / "best.safetensors", image, "zscore"), atol=1e-4)

    predictor = Predictor.from_checkpoint(run / "best.safetensors", "cpu")
    assert predictor.normalisation == "clahe"
    np.testing.assert_allclose(predictor.predict(image).probs, expected, atol=1e-5)

    pred = tmp_path / "pred"
    assert main(["predict", "--model", str(run / "best.safetensors"), "--out", str(pred), "--device", "cpu",
                 "--probs", str(image_path)]) == 0
    np.testing.assert_allclose(np.load(pred / f"{image_path.stem}_probs.npy"), expected, atol=1e-5)
    assert json.loads((pred / "model.json").read_text(encoding="utf-8"))["normalisation"] == "clahe"

    pytest.importorskip("PySide6")
    from app.segmentation import segment_job  # the viewer's inference job (no widget needed)

    job = segment_job(str(run / "best.safetensors"), "cpu", image, False, {})
    try:
        while True:
            next(job)
    except StopIteration as stop:
        result = stop.value
    np.testing.assert_allclose(result.prediction.probs, expected, atol=1e-5)
    capsys.readouterr()


def test_unknown_normalisation_is_a_one_line_error(disc_dataset, tmp_path, capsys) -> None:
    root, desc = disc_dataset
    assert main(["train", "--dataset", str(desc), "--data-root", str(root), "--out", str(tmp_path / "r"), *TINY,
                 "--normalisation", "histeq"]) == 2
    err = capsys.readouterr().err
    assert "normalisation" in err
    assert "'zscore' or 'clahe'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "r").exists()

    path = tmp_path / "future.safetensors"  # a checkpoint from a version with a method this one lacks
    save_checkpoint(build_model("unet", 1, 2, base_channels=4, depth=2), path,
                    metadata={"normalisation": "histeq", "label_table": []})
    with pytest.raises(ConfigError, match=r"Unknown normalisation 'histeq' \(from .*future\.safetensors'\)"):
        Predictor.from_checkpoint(path, "cpu")
    image = tmp_path / "a.png"
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(image)
    assert main(["predict", "--model", str(path), "--out", str(tmp_path / "p"), "--device", "cpu", str(image)]) != 0
    err = capsys.readouterr().err
    assert "Unknown normalisation 'histeq'" in err
    assert "Traceback" not in err
