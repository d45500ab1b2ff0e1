"""Tiny prompt-aware and plain checkpoints for the prompt tests (built, not trained: CPU in milliseconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from akmamba.nn import build_model, save_checkpoint

LABEL_TABLE = [
    {"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
    {"name": "wall", "index": 1, "value_in_file": 128, "color": [255, 215, 0]},
    {"name": "tumor", "index": 2, "value_in_file": 255, "color": [220, 20, 60]},
]


def tiny_unet_checkpoint(path: Path, seed: int = 0) -> Path:
    """A random 3-class grey U-Net (base 4 channels, depth 2) saved with a label table."""
    torch.manual_seed(seed)
    model = build_model("unet", 1, 3, base_channels=4, depth=2)
    save_checkpoint(model, path, metadata={"name": "tiny", "label_table": LABEL_TABLE, "version": "1",
                                           "normalisation": "zscore"})
    return path


@pytest.fixture
def plain_ckpt(tmp_path: Path) -> Path:
    return tiny_unet_checkpoint(tmp_path / "plain.safetensors")


@pytest.fixture
def prompt_ckpt(tmp_path: Path, plain_ckpt: Path) -> Path:
    from akmamba.prompt.model import convert_checkpoint

    out = tmp_path / "prompt.safetensors"
    convert_checkpoint(plain_ckpt, out)
    return out
