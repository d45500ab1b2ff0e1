"""Fine-tuning fixtures: a tiny corrected-cases folder (grey discs) and a tiny U-Net parent checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from akmamba.io import Image

TABLE = [{"name": "background", "index": 0, "color": [0, 0, 0]},
         {"name": "disc", "index": 1, "color": [255, 0, 0]}]


def make_corrected_folder(root: Path, cases: int = 5, size: int = 32, seed: int = 0, *,
                          ids: Sequence[str] | None = None, case_id_regex: str | None = None) -> Path:
    """A fine-tuning folder of ``cases`` grey images with a bright disc; the "model's mask" missed a strip of each
    disc, and the correction mask marks the pixels the user changed. ``ids`` names the images (default
    ``case01``...), ``case_id_regex`` groups them into cases (default: each image its own case)."""
    from akmamba.finetune.data import write_finetune_folder

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    names = list(ids) if ids is not None else [f"case{c + 1:02d}" for c in range(cases)]
    items = []
    for name in names:
        cy, cx, r = (*rng.integers(9, size - 9, 2).tolist(), int(rng.integers(5, 8)))
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img = (60 + 120 * disc + rng.normal(0, 10, disc.shape)).clip(0, 255).astype(np.uint8)
        before = disc & (yy < cy + r // 2)  # the model missed the bottom of the disc
        items.append((Image(img, "2d"), disc.astype(np.uint8), name, before != disc))
    return write_finetune_folder(items, root, TABLE, name="discs", case_id_regex=case_id_regex)


def make_parent(path: Path, seed: int = 0) -> Path:
    """A random 1-channel, 2-class U-Net (base_channels 4, depth 2) checkpoint at ``path``."""
    import torch

    from akmamba.nn import build_model, save_checkpoint

    torch.manual_seed(seed)
    model = build_model("unet", 1, 2, base_channels=4, depth=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(model, path, metadata={"label_table": [dict(r, value_in_file=r["index"]) for r in TABLE],
                                           "normalisation": "zscore", "version": "0-test", "dataset": "discs",
                                           "name": "tiny-discs"})
    return path


@pytest.fixture
def corrected_folder(tmp_path: Path) -> Path:
    """A 5-case fine-tuning folder."""
    return make_corrected_folder(tmp_path / "corrected")


@pytest.fixture
def parent_ckpt(tmp_path: Path) -> Path:
    """A tiny random parent checkpoint ``tiny-discs.safetensors``."""
    return make_parent(tmp_path / "models" / "tiny-discs.safetensors")


@pytest.fixture
def folder_factory():
    """``folder_factory(root, cases=5, size=32, seed=0, ids=None, case_id_regex=None)`` writes a fine-tuning
    folder."""
    return make_corrected_folder


@pytest.fixture
def parent_factory():
    """``parent_factory(path, seed=0)`` writes a tiny parent checkpoint."""
    return make_parent
