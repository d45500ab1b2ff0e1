"""The prompt window (:mod:`akmamba.prompt.window`) on a CUDA GPU, with the shipped Akmamba-Net (the fused Triton
scan on the GPU) made prompt-aware: the windowed answer on the GPU against the same windowed answer on the CPU and
against the GPU's whole-plane reference outside the window. The window is off on a GPU by default (``"auto"``);
these tests switch it on. Skips with a reason where CUDA is missing; run on the GPU machine
(``python3 -m pytest -m cuda tests/prompt/test_window_cuda.py -q``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from akmamba.prompt.encode import Click

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch.cuda.is_available() "
                                                                       "is False")]


@pytest.fixture(scope="module")
def drive_prompt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped ``akmamba-drive`` made prompt-aware with random guidance weights (so a click changes the
    answer)."""
    from akmamba.infer.models import resolve_model
    from akmamba.prompt.model import convert_checkpoint

    out = tmp_path_factory.mktemp("window") / "drive-prompt.safetensors"
    convert_checkpoint(resolve_model("akmamba-drive"), out, guidance_scale=1.0, seed=0)
    return out


def _fundus(h: int = 584, w: int = 565) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:h, :w]
    disc = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) < (0.45 * min(h, w)) ** 2
    img = np.stack([170 * disc, 90 * disc, 40 * disc], -1).astype(np.float32)
    img[np.abs(np.sin(xx / 37.0) * 80 + h / 2 - yy) < 2] *= 0.5
    return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)


def test_window_on_cuda_matches_the_cpu_and_keeps_the_answer_outside(drive_prompt: Path) -> None:
    from akmamba.prompt.predictor import PromptPredictor

    image = _fundus()
    clicks = [Click(300, 280, 1), Click(320, 300, 1, False)]
    answers = {}
    for device in ("cuda", "cpu"):
        fast = PromptPredictor.from_checkpoint(drive_prompt, device=device, window=256)
        assert isinstance(fast, PromptPredictor)
        base = fast.predict(image).probs  # the plane's whole answer, kept
        win = fast.window_for(clicks, image.shape[:2])
        assert win is not None
        assert win[1] - win[0] < image.shape[0]
        got = fast.predict_prompts(image, clicks)
        assert got.device.startswith(device)
        y0, y1, x0, x1 = win
        outside = np.ones(image.shape[:2], bool)
        outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(got.probs[:, outside], base[:, outside])
        assert not np.allclose(got.probs[:, y0:y1, x0:x1], base[:, y0:y1, x0:x1], atol=1e-3)  # the clicks count
        answers[device] = got
    np.testing.assert_allclose(answers["cuda"].probs, answers["cpu"].probs, atol=2e-2)
    assert (answers["cuda"].labels == answers["cpu"].labels).mean() > 0.999


def test_window_none_on_cuda_is_the_whole_plane_every_time(drive_prompt: Path) -> None:
    from akmamba.prompt.predictor import PromptPredictor

    image = _fundus()
    auto = PromptPredictor.from_checkpoint(drive_prompt, device="cuda")
    assert isinstance(auto, PromptPredictor)
    assert auto.window is None
    auto.predict(image)
    assert not auto.keeps(image)
    clicks = [Click(300, 280, 1)]
    a = auto.predict_prompts(image, clicks).probs
    b = PromptPredictor.from_checkpoint(drive_prompt, device="cuda", window=None).predict_prompts(image, clicks).probs
    np.testing.assert_allclose(a, b, atol=1e-5)
