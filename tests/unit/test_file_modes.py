"""Files the product writes are readable like any plainly written file (``0o666 & ~umask``), not ``0600``.

One test per atomic-write call site (they all go through :func:`akmamba.io.atomic.atomic_write`).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")

TABLE = [{"name": "background", "index": 0, "color": [0, 0, 0]}, {"name": "lesion", "index": 1, "color": [255, 0, 0]}]


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_checkpoint_and_resume_state(tmp_path: Path) -> None:
    import torch

    from akmamba.nn import build_model, save_checkpoint
    from akmamba.train.state import save_optimizer

    model = build_model("unet", in_channels=1, num_classes=2)
    save_checkpoint(model, tmp_path / "model.safetensors")
    assert mode(tmp_path / "model.safetensors") == 0o644
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.zeros(2, 1, 32, 32)).sum().backward()
    opt.step()
    save_optimizer(opt, tmp_path / "optimizer.safetensors", {"epoch": 1})
    assert mode(tmp_path / "optimizer.safetensors") == mode(tmp_path / "optimizer.json") == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "optimizer.json",
                                                          "optimizer.safetensors"]


def test_predicted_probabilities(tmp_path: Path) -> None:
    from akmamba.infer.predict_cli import _save_npy

    probs = np.random.default_rng(0).random((2, 4, 5)).astype(np.float32)
    _save_npy(probs, tmp_path / "x_probs.npy", overwrite=False)
    assert mode(tmp_path / "x_probs.npy") == 0o644
    np.testing.assert_array_equal(np.load(tmp_path / "x_probs.npy"), probs)
    with pytest.raises(FileExistsError):
        _save_npy(probs, tmp_path / "x_probs.npy", overwrite=False)


def test_reports(tmp_path: Path) -> None:
    from akmamba.reports import Report

    report = Report(title="t", model={"name": "m", "version": "1", "checksum": "0" * 64})
    for suffix in (".json", ".csv", ".html"):
        path = tmp_path / f"report{suffix}"
        report.to_json(path) if suffix == ".json" else report.to_csv(path) if suffix == ".csv" else report.to_html(path)
        assert mode(path) == 0o644, suffix


def test_exported_colour_tables_and_training_folder(tmp_path: Path) -> None:
    from akmamba.export import export_training_folder, write_itksnap_labels, write_slicer_color_table
    from akmamba.io import Image

    assert mode(write_itksnap_labels(TABLE, tmp_path / "labels.txt")) == 0o644
    assert mode(write_slicer_color_table(TABLE, tmp_path / "labels.ctbl")) == 0o644
    labels = np.zeros((8, 8), np.uint8)
    labels[2:5, 2:5] = 1
    out = tmp_path / "export"
    export_training_folder([(Image(np.zeros((8, 8), np.uint8), "2d"), labels, "c1")], out, TABLE)
    assert mode(out) == 0o755  # was 0700 (tempfile.mkdtemp): nobody else could open the exported masks
    for path in out.rglob("*"):
        assert mode(path) == (0o755 if path.is_dir() else 0o644), path


def test_registry_pointer(tmp_path: Path) -> None:
    from akmamba.finetune.registry import atomic_write_json

    atomic_write_json(tmp_path / "active.json", {"version": "v1"})
    assert mode(tmp_path / "active.json") == 0o644
