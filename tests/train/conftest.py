"""A tiny synthetic labelled data set (PNG images with a bright disc as the label) with a description file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage


def make_disc_dataset(root: Path, cases: int = 3, per_case: int = 2, size: int = 32) -> Path:
    """Write ``cases * per_case`` grey PNGs ``<case>-IM<n>.png`` with 0/255 disc labels; returns the JSON path."""
    rng = np.random.default_rng(0)
    (root / "Images").mkdir(parents=True)
    (root / "Labels").mkdir()
    yy, xx = np.mgrid[:size, :size]
    n = 0
    for c in range(cases):
        for _ in range(per_case):
            cy, cx, r = (*rng.integers(8, size - 8, 2).tolist(), int(rng.integers(4, 8)))
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            img = (60 + 120 * disc + rng.normal(0, 10, disc.shape)).clip(0, 255).astype(np.uint8)
            PILImage.fromarray(img).save(root / "Images" / f"{c + 1}-IM{n}.png")
            PILImage.fromarray((disc * 255).astype(np.uint8)).save(root / "Labels" / f"{c + 1}-IM{n}.png")
            n += 1
    desc = {
        "format_version": 1,
        "name": "discs",
        "modality": "synthetic grey",
        "images": {"folder": "Images", "glob": "*.png"},
        "labels": {"folder": "Labels", "pattern": "{stem}.png", "required": True},
        "case_id": {"regex": r"^(\d+)-"},
        "label_table": [
            {"name": "background", "value_in_file": 0, "index": 0, "color": [0, 0, 0]},
            {"name": "disc", "value_in_file": 255, "index": 1, "color": [255, 0, 0]},
        ],
    }
    path = root / "discs.json"
    path.write_text(json.dumps(desc), encoding="utf-8")
    return path


@pytest.fixture
def disc_dataset(tmp_path: Path) -> tuple[Path, Path]:
    """(data root, description JSON) of a 6-image, 3-case synthetic set."""
    root = tmp_path / "data"
    return root, make_disc_dataset(root)
