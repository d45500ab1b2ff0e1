"""The Fine-tune dialog (plan, run in a child process, live curves, outcome) and the Versions panel (list,
compare, roll back, activate), with a tiny U-Net on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtWidgets

from akmamba.finetune.registry import ModelRegistry
from akmamba.io import Image, write_image, write_labels

pytestmark = [pytest.mark.gui, pytest.mark.finetune]

TINY = ["--patch-size", "16", "16", "--batch-size", "2", "--max-steps", "8", "--no-baseline", "--threads", "1",
        "--lr", "5e-3", "--force-promote"]


def _tiny_parent(path: Path) -> Path:
    import torch

    from akmamba.nn import build_model, save_checkpoint

    torch.manual_seed(0)
    table = [{"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
             {"name": "disc", "index": 1, "value_in_file": 1, "color": [255, 0, 0]}]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(build_model("unet", 1, 2, base_channels=4, depth=2), path,
                    metadata={"label_table": table, "normalisation": "zscore", "name": "tiny-discs"})
    return path


def _workspace(folder: Path, n: int = 4) -> list[Path]:
    """``n`` grey disc images with saved labels, all marked corrected, and a stored edit mask for each."""
    from akmamba.finetune.data import update_edit_mask

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    paths = []
    for i in range(n):
        cy, cx = rng.integers(10, 22, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 36
        image = Image((60 + 120 * disc + rng.normal(0, 8, disc.shape)).clip(0, 255).astype(np.uint8), "2d")
        path = folder / f"case{i + 1}.png"
        write_image(image, path)
        write_labels(disc.astype(np.uint8), like=image, path=folder / f"case{i + 1}_labels.png")
        update_edit_mask(path, image, disc & (yy > cy))
        paths.append(path)
    status = {"status": {p.name: "corrected" for p in paths}}
    (folder / "akmamba_cases.json").write_text(json.dumps(status), encoding="utf-8")
    return paths


@pytest.mark.slow
def test_finetune_from_the_viewer_then_roll_back(window, qtbot, tmp_path) -> None:
    from app import finetune_actions

    paths = _workspace(tmp_path / "cases")
    parent = _tiny_parent(tmp_path / "models" / "tiny-discs.safetensors")
    window.model_registry = ModelRegistry(tmp_path / "reg")
    window.model_panel.add_checkpoint(parent)
    window.model_panel.set_device("cpu")
    with qtbot.waitSignal(window.case_opened, timeout=15000):
        window.open_path(paths[0].parent)
    assert (tmp_path / "cases" / "akmamba_edits" / "case1.png").stat().st_size != 0
    dialog = finetune_actions.open_finetune(window, extra_args=TINY)
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.state in ("ready", "failed"), timeout=120000)
    assert dialog.state == "ready", dialog.outcome.text()
    text = dialog.summary.text()
    for words in ("Held out", "Training", "Estimate", "measured here", "cpu", "disc"):
        assert words in text
    assert dialog.plan_event["cases"] == 4
    assert all(n > 0 for n in dialog.plan_event["edited_pixels"].values())  # the viewer's edit masks arrived
    dialog.budget.setValue(2)  # re-planned from the measured rates, without a child process
    assert "Estimate" in dialog.summary.text()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.state != "running", timeout=180000)
    assert dialog.run_result is not None, (dialog.outcome.text(), [e["event"] for e in dialog.events][-8:],
                                       dialog.process.stderr_tail[-1500:])
    result = dialog.run_result
    assert result["promoted"]
    assert result["version"] == "v2"
    assert len(dialog._loss[0]) >= 1
    assert len(dialog._dice[0]) >= 1
    assert "v2 is active" in dialog.outcome.text()
    outcome = dialog.outcome.text()
    assert f"Fixed held-out set: {len(dialog.plan_event['heldout_cases'])} case(s)" in outcome  # size, and
    assert "Dice before" in outcome  # the before/after Dice of the decision
    assert "after" in outcome
    assert any(e["event"] == "measuring" for e in dialog.events[:dialog.events.index(dialog.plan_event)])
    assert not any(e["event"] == "measuring" for e in dialog.events[dialog.events.index(dialog.plan_event) + 1:])
    assert window.model_panel.model_path() == result["active_path"]  # the viewer now segments with it
    panel = finetune_actions.show_versions(window)
    assert panel.line() == "tiny-discs"
    assert panel.table.rowCount() == 2
    assert panel.table.item(0, 1).text() == "v2"
    assert panel.table.item(0, 0).text() == "●"
    panel.select("v1", "v2")
    assert "held-out image" in panel.details.text() or "no held-out metrics" in panel.details.text()
    panel.rollback()
    assert window.model_registry.active("tiny-discs").id == "v1"
    assert panel.table.item(1, 0).text() == "●"
    assert window.model_panel.model_path().endswith("v1/model.safetensors")
    panel.select("v2")
    panel.activate_selected()
    assert window.model_registry.active("tiny-discs").id == "v2"
    dialog.close()


def test_dialog_stop_and_child_failure(qtbot, tmp_path) -> None:
    from app.finetune_dialog import FinetuneDialog

    dialog = FinetuneDialog(str(tmp_path / "missing.safetensors"), "auto", tmp_path / "reg", ["--threads", "1"],
                            cuda_available=False)
    qtbot.addWidget(dialog)
    assert dialog.budget.value() == 10  # Auto without CUDA: the documented CPU default, not the GPU's 20 minutes
    (tmp_path / "data").mkdir()
    dialog.set_data(tmp_path / "data", ["a", "b"])
    qtbot.waitUntil(lambda: dialog.state == "failed", timeout=60000)
    assert "dataset.json" in dialog.outcome.text()  # the child's own error message, not a crash of the viewer
    assert not dialog.start_button.isEnabled() or dialog.state == "failed"
    dialog.set_failed("no corrected cases")
    assert "no corrected cases" in dialog.outcome.text()
    assert isinstance(dialog, QtWidgets.QDialog)
