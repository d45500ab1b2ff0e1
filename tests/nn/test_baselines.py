"""Baselines of the paper's Tables 1-2: Attention U-Net, UNet++, UNet 3+, TransUNet."""

from __future__ import annotations

import io

import pytest
import torch

from akmamba.errors import ConfigError, ShapeError
from akmamba.nn import build_model, list_models

BASELINES = ["attention_unet", "unetpp", "unet3plus", "transunet"]
# Narrow variants keep the gradient and checkpoint tests fast; shapes are tested at the default widths.
SMALL: dict[str, dict[str, int]] = {
    "attention_unet": {"base_channels": 8},
    "unetpp": {"base_channels": 8},
    "unet3plus": {"base_channels": 8, "cat_channels": 8},
    "transunet": {"base_channels": 8, "hidden_size": 64, "num_heads": 4, "mlp_dim": 128, "num_layers": 2},
}


def _build(
    name: str, in_channels: int = 3, num_classes: int = 2, seed: int = 0, small: bool = False
) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(name, in_channels, num_classes, **(SMALL[name] if small else {}))


@pytest.mark.parametrize("name", BASELINES)
def test_registered(name: str) -> None:
    assert name in list_models()


@pytest.mark.parametrize("name", BASELINES)
@pytest.mark.parametrize(("in_channels", "num_classes"), [(3, 2), (1, 3)])
def test_odd_size_gives_logits_of_input_size(name: str, in_channels: int, num_classes: int) -> None:
    model = _build(name, in_channels, num_classes).eval()
    x = torch.randn(1, in_channels, 97, 131)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, num_classes, 97, 131)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", BASELINES)
def test_drive_size(name: str) -> None:
    model = _build(name, 1, 2).eval()
    with torch.no_grad():
        y = model(torch.randn(1, 1, 584, 565))
    assert y.shape == (1, 2, 584, 565)
    assert torch.isfinite(y).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", BASELINES)
def test_gradients_reach_every_parameter(name: str) -> None:
    model = _build(name, small=True).train()
    torch.manual_seed(1)
    x = torch.randn(2, 3, 40, 56)
    target = torch.randint(0, 2, (2, 40, 56))
    torch.nn.functional.cross_entropy(model(x), target).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
        # Biases right before a BatchNorm legitimately get ~0 gradient; weights must all learn.
        if p.dim() > 1:
            assert p.grad.abs().sum() > 0, f"{pname} has an all-zero gradient"


@pytest.mark.slow
@pytest.mark.parametrize("name", BASELINES)
def test_state_dict_round_trip_gives_identical_logits(name: str) -> None:
    model = _build(name, seed=0, small=True)
    with torch.no_grad():  # move the BatchNorm running statistics away from their initial values
        model.train()(torch.randn(2, 3, 32, 48))
    model.eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = _build(name, seed=123, small=True).eval()
    x = torch.randn(1, 3, 37, 53)
    with torch.no_grad():
        assert not torch.equal(fresh(x), model(x))
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        assert torch.equal(fresh(x), model(x))


@pytest.mark.parametrize(
    ("name", "typo", "right"),
    [
        ("attention_unet", "base_channel", "base_channels"),
        ("unetpp", "dropuot", "dropout"),
        ("unet3plus", "cat_channel", "cat_channels"),
        ("transunet", "num_head", "num_heads"),
    ],
)
def test_unknown_option_suggests_the_near_miss(name: str, typo: str, right: str) -> None:
    with pytest.raises(ConfigError, match="Did you mean") as info:
        build_model(name, 3, 2, **{typo: 16})
    assert repr(right) in str(info.value)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("attention_unet", {"base_channels": 1}),
        ("attention_unet", {"dropout": 1.0}),
        ("unetpp", {"base_channels": 0}),
        ("unetpp", {"dropout": -0.1}),
        ("unet3plus", {"cat_channels": 0}),
        ("unet3plus", {"base_channels": 2.5}),
        ("transunet", {"hidden_size": 100, "num_heads": 6}),
        ("transunet", {"num_layers": 0}),
        ("transunet", {"dropout": True}),
    ],
)
def test_out_of_range_option_raises_config_error(name: str, options: dict[str, object]) -> None:
    key = next(iter(options))
    with pytest.raises(ConfigError, match=key) as info:
        build_model(name, 3, 2, **options)
    assert info.value.parameter == key


@pytest.mark.parametrize("name", BASELINES)
def test_wrong_channel_count_raises_shape_error(name: str) -> None:
    model = _build(name, 3, 2).eval()
    with pytest.raises(ShapeError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(1, 1, 32, 32))


def test_transunet_positional_embedding_follows_the_token_grid() -> None:
    model = _build("transunet").eval()
    bottleneck = model.net.bottleneck
    assert tuple(bottleneck.pos.shape[-2:]) == (32, 32)
    with torch.no_grad():  # a 5 x 9 token grid (80 x 144 pixels): neither square nor the stored 32 x 32
        assert bottleneck(torch.randn(1, 512, 5, 9)).shape == (1, 384, 5, 9)
