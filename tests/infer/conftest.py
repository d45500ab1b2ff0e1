"""Fixtures for inference tests: a tiny random U-Net and a checkpoint of it with a label table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from akmamba.nn import build_model, save_checkpoint

LABEL_TABLE = [
    {"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
    {"name": "vessel", "index": 1, "value_in_file": 255, "color": [255, 0, 0]},
]


@pytest.fixture
def fail_above(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[int]]:
    """``fail_above(model, limit=128)`` makes ``model.forward`` raise CUDA out-of-memory for tiles larger than
    ``limit`` pixels on a side, and returns the list the patched forward appends every tile's larger side to
    (failed tiles included)."""

    def patch(model: nn.Module, limit: int = 128) -> list[int]:
        inner = model.forward
        sizes: list[int] = []

        def forward(x: torch.Tensor) -> torch.Tensor:
            sizes.append(max(x.shape[-2:]))
            if max(x.shape[-2:]) > limit:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
            return inner(x)

        monkeypatch.setattr(model, "forward", forward)
        return sizes

    return patch


@pytest.fixture
def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return build_model("unet", 1, 2, base_channels=4, depth=2).eval()


@pytest.fixture
def tiny_checkpoint(tmp_path: Path, tiny_model: nn.Module) -> Path:
    path = tmp_path / "models" / "tiny-vessels.safetensors"
    save_checkpoint(tiny_model, path, metadata={"label_table": LABEL_TABLE, "normalisation": "zscore",
                                                "version": "0.1-test", "dataset": "synthetic"})
    return path
