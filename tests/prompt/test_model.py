"""Prompt-aware models: layout, guidance encoding (MONAI DeepEdit), zero-initialised widening of plain weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.apps.deepedit.transforms import AddGuidanceSignalDeepEditd

from akmamba.errors import CheckpointError, ConfigError, ShapeError
from akmamba.nn import build_model, load_checkpoint, read_metadata
from akmamba.prompt import Box, Click, GuidanceLayout, Scribble, encode_guidance, layout_of
from akmamba.prompt.encode import click_signal, click_signal_reference
from akmamba.prompt.model import convert_checkpoint, from_plain

LAYOUT = GuidanceLayout.for_labels({0: "background", 1: "wall", 2: "tumor"})


def test_layout_channels_and_roundtrip() -> None:
    assert LAYOUT.num_channels == 6
    assert LAYOUT.channel(2, "negative") == 4
    assert LAYOUT.channels[3] == (2, "tumor", "positive")
    assert GuidanceLayout.from_dict(LAYOUT.to_dict()) == LAYOUT
    with pytest.raises(ConfigError, match="no guidance channels"):
        LAYOUT.channel(3, "positive")


POINT_SETS = [([[10, 20], [3, 500]], (512, 512)), ([[0, 0]], (40, 30)), ([[5, 5], [30, 2]], (40, 40)),
              ([[100, 100]], (256, 300)), ([[7, 7], [7, 7], [8, 7]], (20, 20)), ([[-4, 3], [50, 99]], (45, 60)),
              ([[60, x] for x in range(10, 70)], (128, 128))]  # a repeated point, points outside, a scribble


@pytest.mark.parametrize(("points", "shape"), POINT_SETS)
def test_click_signal_reference_equals_monai_on_the_whole_image(points: list[list[int]],
                                                                shape: tuple[int, int]) -> None:
    clamped = np.clip(np.asarray(points), 0, [shape[0] - 1, shape[1] - 1]).tolist()  # DeepEdit clamps, too
    full = AddGuidanceSignalDeepEditd(keys="image", sigma=3.0)(
        {"image": np.zeros((1, *shape), np.float32), "guidance": {"g": clamped}})["image"][1]
    assert np.array_equal(click_signal_reference(points, shape, 3.0), np.asarray(full))


@pytest.mark.parametrize(("points", "shape"), POINT_SETS)
@pytest.mark.parametrize("sigma", [1.0, 3.0, 5.5])
def test_click_signal_equals_the_monai_reference(points: list[list[int]], shape: tuple[int, int],
                                                 sigma: float) -> None:
    fast, ref = click_signal(points, shape, sigma), click_signal_reference(points, shape, sigma)
    assert fast.dtype == ref.dtype == np.float32
    assert fast.max() == 1.0
    np.testing.assert_allclose(fast, ref, rtol=0, atol=2e-6)
    assert np.array_equal(fast > 0, ref > 0)  # the same reach: exactly zero where MONAI's is


def test_click_signal_of_random_clicks_equals_the_reference() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        shape = (int(rng.integers(8, 200)), int(rng.integers(8, 200)))
        pts = rng.integers(-5, max(shape) + 5, size=(int(rng.integers(1, 12)), 2)).tolist()
        np.testing.assert_allclose(click_signal(pts, shape, 3.0), click_signal_reference(pts, shape, 3.0),
                                   rtol=0, atol=2e-6)
    assert not click_signal([], (8, 8), 3.0).any()


def test_encode_puts_each_prompt_in_its_channel() -> None:
    g = encode_guidance([Click(10, 20, 1), Click(30, 40, 2, positive=False), Box(2, 5, 6, 15, 16),
                         Scribble(1, ((50, 10), (50, 30)), positive=False)], LAYOUT, (64, 64))
    assert g.shape == (6, 64, 64)
    assert g.dtype == np.float32
    assert np.unravel_index(g[0].argmax(), (64, 64)) == (10, 20)
    assert g[0].max() == 1.0
    assert np.unravel_index(g[4].argmax(), (64, 64)) == (30, 40)
    assert g[5].sum() == 11 * 11
    assert g[5, 5, 6] == 1
    assert g[5, 16, 17] == 0
    assert g[1, 50, 15:26].min() > 0.9
    assert g[1, 50, [10, 30]].min() > 0.5
    assert g[2].max() == g[3].max() == 0
    assert not encode_guidance([], LAYOUT, (8, 8)).any()


@pytest.mark.parametrize(("name", "options"), [("unet", {"base_channels": 4, "depth": 2}),
                                          pytest.param("akmamba", {"base_channels": 4, "depth": 2, "d_state": 4},
                                                       marks=pytest.mark.slow)])
def test_from_plain_segments_exactly_like_the_plain_model(name: str, options: dict) -> None:
    torch.manual_seed(0)
    plain = build_model(name, 1, 3, **options).eval()
    meta = {"label_table": [{"index": 1, "name": "wall"}, {"index": 2, "name": "tumor"}]}
    guided = from_plain(plain, meta)
    assert guided.akmamba_config["guidance"]["channels"][0] == {"index": 1, "name": "wall", "kind": "positive"}
    x = torch.randn(2, 1, 36, 44)
    with torch.no_grad():
        want = plain(x)
        assert torch.equal(guided(x), want)
        assert torch.equal(guided(torch.cat([x, torch.zeros(2, 6, 36, 44)], 1)), want)
        with pytest.raises(ShapeError, match="guidance channels"):
            guided(torch.zeros(1, 3, 8, 8))
    # random guidance weights (a scale of the image weights' spread): still the plain model's answer without a
    # prompt, a different one with a click, and the same weights for the same seed
    noisy = from_plain(plain, meta, guidance_scale=1.0, seed=0)
    inputs = [p for p in noisy.parameters() if p.dim() == 4 and p.shape[1] == 7]  # the input convolutions
    for p in inputs:  # zero-initialised image weights (AKConv's offsets) get zero guidance weights
        assert float(p[:, 1:].std()) == pytest.approx(float(p[:, :1].std()), rel=0.8, abs=1e-12)
    assert any(float(p[:, 1:].std()) > 0 for p in inputs)
    again = [p for p in from_plain(plain, meta, guidance_scale=1.0, seed=0).parameters()
             if p.dim() == 4 and p.shape[1] == 7]
    assert all(torch.equal(a, b) for a, b in zip(inputs, again, strict=True))
    click = torch.zeros(2, 6, 36, 44)
    click[:, 0, 10:14, 10:14] = 1.0
    with torch.no_grad():
        assert torch.equal(noisy(torch.cat([x, torch.zeros(2, 6, 36, 44)], 1)), want)
        assert not torch.equal(noisy(torch.cat([x, click], 1)), want)


def test_convert_checkpoint_records_layout_and_origin(plain_ckpt: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.safetensors"
    convert_checkpoint(plain_ckpt, out)
    meta = read_metadata(out)
    assert layout_of(meta) == GuidanceLayout.for_labels({1: "wall", 2: "tumor"})
    assert meta["model"]["in_channels"] == 1
    assert meta["name"] == "tiny-prompt"
    assert meta["prompt_init"]["from"] == "tiny"
    assert len(meta["prompt_init"]["sha256"]) == 64
    model, _ = load_checkpoint(out)
    assert model.akmamba_config["guidance"] == meta["model"]["guidance"]
    with pytest.raises(CheckpointError, match="already prompt-aware"):
        convert_checkpoint(out, tmp_path / "q.safetensors")
    with pytest.raises(ConfigError, match="is the input"):
        convert_checkpoint(plain_ckpt, plain_ckpt)


def test_prompt_predictor_answers_prompts_and_plain_predictor_still_works(prompt_ckpt: Path,
                                                                          plain_ckpt: Path) -> None:
    from akmamba.infer import Predictor
    from akmamba.prompt.predictor import PromptPredictor

    img = np.random.default_rng(0).random((40, 52)).astype(np.float32)
    pp = PromptPredictor.from_checkpoint(prompt_ckpt, device="cpu")
    plain = Predictor.from_checkpoint(plain_ckpt, device="cpu").predict(img)
    assert np.array_equal(Predictor.from_checkpoint(prompt_ckpt, device="cpu").predict(img).labels, plain.labels)
    # zero-initialised guidance weights: a click changes nothing until the model is trained with prompts
    ans = pp.predict_prompts(img, [Click(5, 5, 1), Box(2, 0, 0, 10, 10)])
    assert ans.labels.shape == (40, 52)
    assert np.allclose(ans.probs, plain.probs, atol=1e-6)
    with pytest.raises(ConfigError, match="not prompt-aware"):
        PromptPredictor.from_checkpoint(plain_ckpt, device="cpu")
