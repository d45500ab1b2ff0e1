"""Tiny prompt-aware and plain checkpoints for the prompt tests (built, not trained: CPU in milliseconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

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


def tiny_bladder_root(root: Path, cases: int = 3, size: int = 32) -> Path:
    """A bladder-layout data folder (``Images``/``Labels`` PNGs, one slice per case) with a wall and a tumour
    square on noise; returns ``root``."""
    rng = np.random.default_rng(0)
    for folder in ("Images", "Labels"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for case in range(1, cases + 1):
        lab = np.zeros((size, size), np.uint8)
        lab[size // 8:size // 2, size // 8:size // 2] = 128
        lab[size * 9 // 16:size * 13 // 16, size * 9 // 16:size * 13 // 16] = 255
        img = (rng.random((size, size)) * 50 + (lab > 0) * 100).astype(np.uint8)
        Image.fromarray(img).save(root / "Images" / f"{case}-IM1.png")
        Image.fromarray(lab).save(root / "Labels" / f"{case}-IM1.png")
    return root


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    return tiny_bladder_root(tmp_path / "data")
