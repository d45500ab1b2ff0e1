"""Simulated prompts from the model's errors (DeepEdit style) and the prompt training loop, tiny and on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from akmamba.nn import build_model, load_checkpoint
from akmamba.prompt.layout import GuidanceLayout, layout_of
from akmamba.prompt.simulate import PosNegGuidance, simulate_guidance

LAYOUT = GuidanceLayout.for_labels({1: "wall", 2: "tumor"})


def test_clicks_fall_in_the_errors_with_the_right_sign() -> None:
    label = np.zeros((40, 40), np.int64)
    label[5:20, 5:20] = 1
    pred = np.zeros_like(label)
    pred[25:35, 25:35] = 2            # tumour predicted where there is none; wall missed
    sampler = PosNegGuidance(LAYOUT, seed=0)
    for _ in range(5):
        clicks = {c.label: c for c in sampler.clicks(label, pred)}
        wall, tumour = clicks[1], clicks[2]
        assert wall.positive
        assert label[wall.y, wall.x] == 1
        assert not tumour.positive
        assert pred[tumour.y, tumour.x] == 2


def test_robot_clicks_are_the_protocols_next_click_per_label() -> None:
    """click_mode="robot": each label's click is the evaluation protocol's (interior-most pixel of the largest error
    region, positive when missed), the same on every draw and in a child sampler; a perfect label gets none."""
    from akmamba.prompt.encode import Click
    from akmamba.prompt.protocol import next_click

    label = np.zeros((40, 40), np.int64)
    label[5:20, 5:20] = 1
    label[30:36, 30:36] = 2
    pred = label.copy()
    pred[5:20, 5:12] = 0             # wall partly missed
    pred[22:28, 2:10] = 1            # a smaller false wall region
    sampler = PosNegGuidance(LAYOUT, seed=0, click_mode="robot")
    y, x, positive = next_click(label == 1, pred == 1)
    assert positive
    expected = [Click(y, x, 1, True)]  # the tumour is perfect: no click
    assert sampler.clicks(label, pred) == expected
    assert sampler.clicks(label, pred) == expected
    assert sampler.child(7).clicks(label, pred) == expected
    assert sampler.child(7).click_mode == "robot"


def test_an_unknown_click_mode_is_refused() -> None:
    from akmamba.errors import ConfigError
    from akmamba.prompt.train_cli import PromptTrainConfig

    with pytest.raises(ConfigError) as info:
        PosNegGuidance(LAYOUT, click_mode="random")
    assert info.value.parameter == "click_mode"
    with pytest.raises(ConfigError, match="click_mode"):
        PromptTrainConfig("m", "bladder", "d", "o", click_mode="random")


def test_seed_clicks_fall_inside_each_label_present_and_are_positive() -> None:
    label = np.zeros((40, 40), np.int64)
    label[5:20, 5:20] = 1
    label[25:35, 28:36] = 2
    sampler = PosNegGuidance(LAYOUT, seed=0)
    for _ in range(10):
        seeds = sampler.seeds(label)
        assert sorted(c.label for c in seeds) == [1, 2]
        assert all(c.positive and label[c.y, c.x] == c.label for c in seeds)
    label[label == 2] = 0
    assert [c.label for c in sampler.seeds(label)] == [1]  # an absent label gets no seed


def test_seeded_first_round_clicks_a_region_the_model_already_segments() -> None:
    """With p_seed=1 and one round, every prompted image gets a positive click in each label, even where the model
    (here: an oracle-like model whose errors are nowhere) leaves no error to click; without seeds it gets none."""

    class Oracle(torch.nn.Module):
        def __init__(self, y: torch.Tensor) -> None:
            super().__init__()
            self.y = y

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.one_hot(self.y, 3).permute(0, 3, 1, 2).float()

    y = torch.zeros(4, 32, 32, dtype=torch.long)
    y[:, 4:14, 4:14] = 1
    y[:, 20:28, 20:28] = 2
    x = torch.randn(4, 1, 32, 32)
    none = simulate_guidance(Oracle(y), x, y, PosNegGuidance(LAYOUT, seed=0), p_no_prompt=0.0, max_iters=1,
                             p_box=0.0)
    assert not none.any()  # no errors, no clicks
    seeded = simulate_guidance(Oracle(y), x, y, PosNegGuidance(LAYOUT, seed=0), p_no_prompt=0.0, max_iters=1,
                               p_box=0.0, p_seed=1.0)
    positive = seeded[:, [0, 3]]  # the positive channels of wall and tumour
    assert all(bool(p.any()) for img in positive for p in img)
    assert not seeded[:, [1, 2, 4, 5]].any()
    assert positive[:, 0, 4:14, 4:14].amax() == 1  # the peaks lie inside the labels
    assert positive[:, 1, 20:28, 20:28].amax() == 1


def test_simulated_guidance_respects_no_prompt_probability() -> None:
    torch.manual_seed(0)
    model = build_model("unet", 1, 3, base_channels=4, depth=2, guidance=LAYOUT.to_dict())
    x = torch.randn(6, 1, 32, 32)
    y = torch.zeros(6, 32, 32, dtype=torch.long)
    y[:, 4:14, 4:14] = 1
    y[:, 20:28, 20:28] = 2
    sampler = PosNegGuidance(LAYOUT, seed=0)
    never = simulate_guidance(model, x, y, sampler, p_no_prompt=1.0)
    assert never.shape == (6, 6, 32, 32)
    assert not never.any()
    always = simulate_guidance(model, x, y, sampler, p_no_prompt=0.0, max_iters=2, p_box=0.0)
    assert all(bool(g[[0, 1, 3, 4]].any()) for g in always)   # every image got clicks
    assert not always[:, [2, 5]].any()                           # and no box
    assert model.training                                        # the rounds put it back in train mode


def test_threaded_simulation_gives_the_sequential_result() -> None:
    """The images' CPU work on 4 threads (the GPU machine's path) against one after the other (the reference): the
    same guidance, bit for bit, and the sampler's state moves the same way, over several batches with seeds,
    boxes and 1-3 rounds of a model that makes errors."""
    torch.manual_seed(0)
    model = build_model("unet", 1, 3, base_channels=4, depth=2, guidance=LAYOUT.to_dict())
    x = torch.randn(8, 1, 48, 48)
    y = torch.zeros(8, 48, 48, dtype=torch.long)
    y[:, 6:20, 6:24] = 1
    y[::2, 28:40, 26:44] = 2
    plain, threaded = PosNegGuidance(LAYOUT, seed=3), PosNegGuidance(LAYOUT, seed=3)
    options = {"p_no_prompt": 0.2, "max_iters": 3, "p_box": 0.5, "p_seed": 0.5}
    for _ in range(3):
        reference = simulate_guidance(model, x, y, plain, workers=0, **options)
        fast = simulate_guidance(model, x, y, threaded, workers=4, **options)
        assert torch.equal(reference, fast)
        assert int(reference.count_nonzero()) > 0
    assert plain.R.randint(1 << 30) == threaded.R.randint(1 << 30)


def test_guidance_weight_ratio_is_zero_when_widened_and_near_one_for_random_weights() -> None:
    from akmamba.prompt.model import from_plain
    from akmamba.prompt.train import guidance_inputs, guidance_weight_ratio

    torch.manual_seed(0)
    plain = build_model("unet", 1, 3, base_channels=4, depth=2).eval()
    meta = {"label_table": [{"index": 1, "name": "wall"}, {"index": 2, "name": "tumor"}]}
    zero = from_plain(plain, meta)
    assert guidance_weight_ratio(guidance_inputs(zero), 1) == 0.0
    noisy = from_plain(plain, meta, guidance_scale=1.0, seed=0)
    assert 0.5 < guidance_weight_ratio(guidance_inputs(noisy), 1) < 1.5  # |N(0, s)| ~ the image weights' spread
    with torch.no_grad():
        next(iter(guidance_inputs(zero)))[:, 1:] = next(iter(guidance_inputs(zero)))[:, :1].abs().mean() * 0.25
    assert guidance_weight_ratio(guidance_inputs(zero), 1) == pytest.approx(0.25, rel=1e-3)


def test_sim_threads_default_by_device_and_refusal() -> None:
    from akmamba.errors import ConfigError
    from akmamba.prompt.train import sim_threads
    from akmamba.prompt.train_cli import PromptTrainConfig

    assert sim_threads(None, torch.device("cpu")) == 0
    assert 1 <= sim_threads(None, torch.device("cuda")) <= 8
    assert sim_threads(3, torch.device("cpu")) == 3
    with pytest.raises(ConfigError, match="sim_threads"):
        PromptTrainConfig("m", "bladder", "d", "o", sim_threads=-1)


@pytest.mark.slow
def test_prompt_train_widens_a_plain_checkpoint_and_trains(tmp_path: Path, plain_ckpt: Path, tiny_data: Path) -> None:
    from akmamba.prompt.train import PromptTrainConfig, train_prompt

    cfg = PromptTrainConfig(init=str(plain_ckpt), dataset="bladder", data_root=str(tiny_data),
                            out_dir=str(tmp_path / "run"), patch_size=32, batch_size=2, max_steps=2, threads=1,
                            p_no_prompt=0.0)
    events = list(train_prompt(cfg))
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start"
    assert kinds.count("step") == 2
    assert kinds[-1] == "done"
    assert sum(e["prompted"] for e in events if e["event"] == "step") == 4
    model, meta = load_checkpoint(tmp_path / "run" / "last.safetensors")
    assert layout_of(meta) == LAYOUT
    assert meta["name"] == "tiny-prompt"
    assert meta["prompt_train"]["folds"] == 3
    assert len(meta["val_cases"]) == 1
    # the guidance weights moved off zero: the model now listens to clicks
    first = next(p for n, p in model.named_parameters() if p.dim() == 4)
    assert first[:, 1:].abs().sum() > 0


def test_boost_scales_only_the_guidance_columns() -> None:
    from akmamba.prompt.train import boost_guidance_update, guidance_inputs

    torch.manual_seed(0)
    model = build_model("unet", 1, 3, base_channels=4, depth=2, guidance=LAYOUT.to_dict())
    params = guidance_inputs(model)
    assert [tuple(p.shape[:2]) for p in params] == [(4, 7)]
    before = [p.detach().clone() for p in params]
    with torch.no_grad():
        params[0].add_(0.01)
    boost_guidance_update(params, before, 1, 5.0)
    delta = params[0] - before[0]
    assert torch.allclose(delta[:, :1], torch.full_like(delta[:, :1], 0.01))
    assert torch.allclose(delta[:, 1:], torch.full_like(delta[:, 1:], 0.05))
