"""Prediction on a CUDA GPU: the Predictor (whole image and tiled), `akmamba predict --device cuda` and the viewer's
segment job, each against the CPU result. Skips with a reason where CUDA is missing; run on the GPU machine.

Before these existed, `Predictor(..., device="cuda")` crashed inside MONAI >= 1.5's sliding window (its weight map on
the GPU, the tiles' logits on the CPU) and no test saw it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from akmamba.infer import Predictor

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch.cuda.is_available() "
                                                                       "is False")]


def _fundus_like(h: int = 584, w: int = 565) -> np.ndarray:
    """A ``(H, W, 3)`` uint8 image with dark vessel-like lines on a reddish disc (deterministic)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    disc = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) < (0.45 * min(h, w)) ** 2
    img = np.zeros((h, w, 3), np.float32)
    img[..., 0], img[..., 1], img[..., 2] = 170 * disc, 90 * disc, 40 * disc
    for k in range(6):
        img[np.abs(np.sin(xx / 37.0 + k) * 80 + h / 2 - yy + k * 11) < 2] *= 0.5
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean())


@pytest.mark.parametrize("roi_size", [512, 256])
def test_predictor_on_cuda_matches_cpu(roi_size: int) -> None:
    image = _fundus_like()
    gpu = Predictor.from_checkpoint("akmamba-drive", device="cuda", roi_size=roi_size).predict(image)
    cpu = Predictor.from_checkpoint("akmamba-drive", device="cpu", roi_size=roi_size).predict(image)
    assert gpu.device.startswith("cuda")
    assert gpu.labels.shape == cpu.labels.shape == image.shape[:2]
    np.testing.assert_allclose(gpu.probs, cpu.probs, atol=2e-2)
    assert _agreement(gpu.labels, cpu.labels) > 0.999


def test_predict_cli_on_cuda(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(_fundus_like()).save(src / "01_test.png")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    outs = {}
    for device in ("cuda", "cpu"):
        out = tmp_path / f"out-{device}"
        res = subprocess.run([sys.executable, "-m", "akmamba.cli", "predict", "--model", "akmamba-drive", "--device",
                              device, "--out", str(out), str(src / "01_test.png")], capture_output=True, text=True,
                             env=env, timeout=600)
        assert res.returncode == 0, res.stderr
        assert "Traceback" not in res.stderr
        outs[device] = np.asarray(Image.open(out / "01_test.png"))
    assert _agreement(outs["cuda"], outs["cpu"]) > 0.999


def test_viewer_segment_job_on_cuda() -> None:
    from akmamba.infer.models import resolve_model
    from app.segment_jobs import segment_job  # the viewer's segment path, Qt-free: runs where Qt is absent

    image = _fundus_like()
    results = {}
    for device in ("cuda", "cpu"):
        job = segment_job(str(resolve_model("akmamba-drive")), device, image, False, {})
        try:
            while True:
                next(job)
        except StopIteration as stop:
            results[device] = stop.value
    assert results["cuda"].device.startswith("cuda")
    assert _agreement(results["cuda"].prediction.labels, results["cpu"].prediction.labels) > 0.999
