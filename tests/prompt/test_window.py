"""The prompt window (akmamba.prompt.window) and the predictor's windowed answers against the whole-plane reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from akmamba.errors import ConfigError
from akmamba.prompt.encode import Box, Click, Scribble, encode_guidance
from akmamba.prompt.window import prompt_extent, prompt_window, resolve_window


def test_extent_covers_clicks_scribbles_and_boxes() -> None:
    assert prompt_extent([]) is None
    prompts = [Click(10, 20, 1), Scribble(2, ((5, 30), (40, 31))), Box(1, 50, 3, 60, 8)]
    assert prompt_extent(prompts) == (5, 61, 3, 32)


@pytest.mark.parametrize("prompts", [
    [Click(100, 200, 1)],
    [Click(3, 4, 2, False)],  # at a corner: the window is moved inside the plane
    [Click(500, 10, 1), Click(480, 60, 1)],
    [Box(2, 200, 220, 300, 330)],
    [Scribble(1, ((250, 250), (330, 280)))],
])
def test_window_holds_every_prompt_with_its_margin_inside_the_plane(prompts: list) -> None:
    h, w = 512, 480
    win = prompt_window(prompts, (h, w), side=128, margin=32, multiple=32)
    assert win is not None
    y0, y1, x0, x1 = win
    assert 0 <= y0 < y1 <= h
    assert 0 <= x0 < x1 <= w
    for side in (y1 - y0, x1 - x0):
        assert side >= 128
        assert side % 32 == 0
    e = prompt_extent(prompts)
    assert e is not None
    assert y0 <= max(e[0] - 32, 0)
    assert y1 >= min(e[1] + 32, h)
    assert x0 <= max(e[2] - 32, 0)
    assert x1 >= min(e[3] + 32, w)


def test_whole_plane_when_no_prompt_or_the_window_would_cover_most_of_it() -> None:
    assert prompt_window([], (512, 512)) is None
    assert prompt_window([Click(10, 10, 1), Click(500, 500, 1)], (512, 512)) is None
    assert prompt_window([Click(100, 100, 1)], (280, 280), side=256) is None  # 256 x 256 is 84 % of it
    assert prompt_window([Click(100, 100, 1)], (300, 300), side=256) == (0, 256, 0, 256)  # 73 %
    assert prompt_window([Click(100, 100, 1)], (512, 512), side=256) == (0, 256, 0, 256)


def test_resolve_window_and_its_errors() -> None:
    assert resolve_window("auto", "cpu") == 256
    assert resolve_window("auto", "cuda") is None
    assert resolve_window(None, "cpu") is None
    assert resolve_window("none", "cpu") is None
    assert resolve_window(0, "cpu") is None
    assert resolve_window("192", "cpu") == 192
    assert resolve_window(320, "cuda") == 320
    for bad in ("big", -5, "1.5", 2.5):
        with pytest.raises(ConfigError) as info:
            resolve_window(bad, "cpu")
        assert info.value.parameter == "window"
    with pytest.raises(ConfigError) as info:
        prompt_window([Click(1, 1, 1)], (64, 64), side=0)
    assert info.value.parameter == "window"


def _predictors(prompt_ckpt: Path, window: int | str | None) -> tuple:
    """A windowed and a whole-plane predictor of one tiny prompt-aware U-Net whose guidance weights are not zero
    (so prompts change the answer)."""
    from akmamba.nn import load_checkpoint
    from akmamba.prompt.predictor import PromptPredictor

    model, meta = load_checkpoint(prompt_ckpt)
    torch.manual_seed(3)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return (PromptPredictor(model, meta, "cpu", window=window),
            PromptPredictor(model, meta, "cpu", window=None))


def _image(h: int = 320, w: int = 384) -> np.ndarray:
    rng = np.random.default_rng(0)
    img = rng.normal(100, 20, (h, w)).astype(np.float32)
    img[40:90, 60:120] += 80
    return img


def test_windowed_answer_is_the_kept_answer_outside_and_the_window_forward_inside(prompt_ckpt: Path) -> None:
    fast, ref = _predictors(prompt_ckpt, 64)
    img = _image()
    prompts = [Click(60, 80, 2), Click(70, 100, 1, False)]
    base = fast.predict(img).probs
    win = fast.window_for(prompts, img.shape)
    assert win is not None
    y0, y1, x0, x1 = win
    got = fast.predict_prompts(img, prompts)
    outside = np.ones(img.shape, bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(got.probs[:, outside], base[:, outside])
    # inside: the network on the normalised image's window with the prompts encoded in the window's coordinates
    x = ref._prepare(img)[:, y0:y1, x0:x1]
    shifted = [Click(c.y - y0, c.x - x0, c.label, c.positive) for c in prompts]
    g = encode_guidance(shifted, ref.layout, (y1 - y0, x1 - x0))
    with torch.no_grad():
        expect = torch.softmax(ref.model(torch.from_numpy(np.concatenate([x, g]))[None])[0], 0).numpy()
    np.testing.assert_allclose(got.probs[:, y0:y1, x0:x1], expect, atol=1e-5)
    np.testing.assert_array_equal(got.labels, np.argmax(got.probs, 0))
    # the prompts changed the answer in the window (how close it is to the whole-plane answer on real data is
    # measured by the NoC protocol, docs/prompt.md)
    assert not np.array_equal(got.probs[:, y0:y1, x0:x1], base[:, y0:y1, x0:x1])


def test_first_prompt_on_a_new_plane_runs_whole_and_is_kept(prompt_ckpt: Path) -> None:
    fast, ref = _predictors(prompt_ckpt, 64)
    img = _image()
    first = [Click(60, 80, 2)]
    a = fast.predict_prompts(img, first)  # nothing kept for this plane: the whole plane, as the reference
    np.testing.assert_array_equal(a.probs, ref.predict_prompts(img, first).probs)
    a.probs[:] = 0  # the caller's copy; the kept answer is the predictor's own
    second = [*first, Click(65, 90, 2)]
    b = fast.predict_prompts(img, second)
    win = fast.window_for(second, img.shape)
    assert win is not None
    np.testing.assert_array_equal(b.probs[:, win[1]:, :], ref.predict_prompts(img, first).probs[:, win[1]:, :])
    other = _image()[::-1].copy()  # another plane: whole again
    np.testing.assert_array_equal(fast.predict_prompts(other, first).probs, ref.predict_prompts(other, first).probs)


def test_window_none_and_a_window_over_most_of_the_plane_are_the_reference(prompt_ckpt: Path) -> None:
    fast, ref = _predictors(prompt_ckpt, 320)
    img = _image()
    fast.predict(img)
    prompts = [Click(60, 80, 2), Click(120, 150, 1)]
    assert fast.window_for(prompts, img.shape) is None  # 320 x 320 of 320 x 384
    np.testing.assert_array_equal(fast.predict_prompts(img, prompts).probs, ref.predict_prompts(img, prompts).probs)
    assert ref.window is None
    assert ref.window_for(prompts, img.shape) is None


def test_only_the_last_planes_are_kept(prompt_ckpt: Path, monkeypatch) -> None:
    from akmamba.prompt import predictor as module

    fast, _ = _predictors(prompt_ckpt, 64)
    for k in range(module._KEPT_PLANES + 2):
        fast.predict(_image() + k)
    assert len(fast._planes) == module._KEPT_PLANES
    one = next(iter(fast._planes.values())).nbytes
    monkeypatch.setattr(module, "_KEPT_BYTES", 2 * one)  # room for two planes' answers
    fast.predict(_image() + 100)
    assert len(fast._planes) == 2
    monkeypatch.setattr(module, "_KEPT_BYTES", 1)  # none fits: the newest is kept all the same
    fast.predict(_image() + 101)
    assert fast.keeps(_image() + 101)
    assert len(fast._planes) == 1


def test_prompt_eval_cli_records_the_window(prompt_ckpt: Path, tmp_path: Path) -> None:
    import json

    from PIL import Image

    from akmamba.prompt.eval_cli import main

    (tmp_path / "img").mkdir()
    (tmp_path / "gt").mkdir()
    img = _image(96, 96).clip(0, 255).astype(np.uint8)
    gt = np.zeros((96, 96), np.uint8)
    gt[40:60, 60:80] = 255
    Image.fromarray(img).save(tmp_path / "img" / "a.png")
    Image.fromarray(gt).save(tmp_path / "gt" / "a.png")
    args = ["--model", str(prompt_ckpt), "--images", str(tmp_path / "img"), "--gt", str(tmp_path / "gt"),
            "--max-clicks", "2", "--out"]
    assert main([*args, str(tmp_path / "w.json"), "--window", "32"]) == 0
    assert json.loads((tmp_path / "w.json").read_text())["window"] == 32
    assert main([*args, str(tmp_path / "n.json"), "--window", "none"]) == 0
    assert json.loads((tmp_path / "n.json").read_text())["window"] is None
    assert main([*args, str(tmp_path / "bad.json"), "--window", "wide"]) == 2
    assert not (tmp_path / "bad.json").exists()
