"""Every registered model: odd sizes, 1 and 3 channels, option validation, save/load."""

from __future__ import annotations

import pytest
import torch

from akmamba.errors import CheckpointError, ConfigError, ShapeError
from akmamba.nn import build_model, list_models, load_checkpoint, read_metadata, save_checkpoint

EXPECTED = {"akmamba", "unet_akconv", "unet_mambaout", "unet", "attention_unet", "unetpp", "unet3plus", "transunet"}
SMALL = {"base_channels": 8}


def _small(name: str, in_channels: int = 3, num_classes: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(name, in_channels, num_classes, **SMALL).eval()


def test_all_paper_models_are_registered() -> None:
    assert set(list_models()) >= EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("in_channels", [1, 3])
@torch.no_grad()
def test_odd_size_logits(name: str, in_channels: int) -> None:
    model = _small(name, in_channels, 3)
    y = model(torch.randn(1, in_channels, 97, 131))
    assert y.shape == (1, 3, 97, 131)
    assert torch.isfinite(y).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
@torch.no_grad()
def test_drive_size_default_width(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 1, 2).eval()
    y = model(torch.randn(1, 1, 584, 565))
    assert y.shape == (1, 2, 584, 565)
    assert torch.isfinite(y).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["akmamba", "unet", "unet_akconv", "unet_mambaout"])
def test_one_step_reduces_loss(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 1, 2, base_channels=4, depth=2)
    x = torch.randn(2, 1, 24, 20)
    target = (x[:, 0] > 0).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_save_load_identical_logits(name: str, tmp_path) -> None:
    model = _small(name)
    x = torch.randn(1, 3, 40, 36)
    with torch.no_grad():
        before = model(x)
    path = tmp_path / f"{name}.safetensors"
    save_checkpoint(model, path, metadata={"labels": [{"name": "vessel", "value": 1}]})
    loaded, meta = load_checkpoint(path)
    assert meta["model"]["name"] == name
    assert meta["labels"][0]["name"] == "vessel"
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), before, atol=0, rtol=0)


def test_half_checkpoint_is_smaller_and_close(tmp_path) -> None:
    model = _small("unet")
    full, half = tmp_path / "f.safetensors", tmp_path / "h.safetensors"
    save_checkpoint(model, full)
    save_checkpoint(model, half, half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(load_checkpoint(half)[0](x), model(x), atol=5e-2, rtol=5e-2)


def test_corrupt_and_foreign_checkpoints_are_refused(tmp_path) -> None:
    model = _small("unet")
    path = tmp_path / "m.safetensors"
    save_checkpoint(model, path)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # flip bits in the last weight bytes
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_checkpoint(bad)
    truncated = tmp_path / "trunc.safetensors"
    truncated.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=r"trunc\.safetensors"):
        read_metadata(truncated)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.safetensors")


def test_unknown_names_and_options_are_explained() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'akmamba'"):
        build_model("akmambaa", 3, 2)
    with pytest.raises(ConfigError, match="Did you mean 'num_points'"):
        build_model("akmamba", 3, 2, num_point=5)
    with pytest.raises(ConfigError, match="in_channels"):
        build_model("unet", 2, 2)
    with pytest.raises(ConfigError, match="mambaout_levels"):
        build_model("akmamba", 3, 2, mambaout_levels=(7,))
    with pytest.raises(ConfigError, match="base_channels"):
        build_model("unet", 3, 2, base_channels=0)


def test_bad_input_tensor() -> None:
    model = _small("akmamba")
    with pytest.raises(ShapeError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(1, 1, 32, 32))
    with pytest.raises(ShapeError, match="floating"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def test_config_records_every_option() -> None:
    model = build_model("akmamba", 1, 3, base_channels=8, mambaout_levels=[1, 2])
    cfg = model.akmamba_config
    assert cfg["options"]["mambaout_levels"] == [1, 2]
    assert cfg["options"]["num_points"] == 5
