"""The Versions panel shows the base model's held-out Dice measured by a later fine-tune (it showed "-"), and
says "not measured" in words where nothing measured it."""

from __future__ import annotations

from pathlib import Path

import pytest

from akmamba.finetune.registry import ModelRegistry
from app.panels.versions_panel import VersionsPanel

pytestmark = pytest.mark.gui

DICE = 5  # column of the held-out Dice


def _registry(tmp_path: Path, fine_tuned: bool) -> ModelRegistry:
    reg = ModelRegistry(tmp_path / "reg", verify=None)  # stand-in model files: the panel reads records only
    (tmp_path / "a").write_bytes(b"one")
    reg.add_version("unet-bladder", tmp_path / "a", {"parent": None, "origin": "imported"})
    reg.activate("unet-bladder", "v1")
    if fine_tuned:  # the record akmamba finetune wrote for a real run on 4 bladder slices of 2 held-out patients
        (tmp_path / "b").write_bytes(b"two")
        images = {"12-IM1": 0.3799, "12-IM10": 0.9366, "18-IM336": 0.1004, "18-IM337": 0.1422}
        before = {"12-IM1": 0.3452, "12-IM10": 0.9230, "18-IM336": 0.6117, "18-IM337": 0.1230}
        reg.add_version("unet-bladder", tmp_path / "b", {
            "parent": "v1", "origin": "finetune", "active_at_start": "v1",
            "data": {"heldout_cases": ["12", "18"], "train_cases": ["14", "19"]},
            "metrics": {"candidate": {"mean_dice": 0.3898, "per_image": images},
                        "active": {"mean_dice": 0.5007, "per_image": before, "version": "v1"}},
            "gate": {"promote": False, "candidate_dice": 0.3898, "active_dice": 0.5007, "gain": -0.1109}})
    return reg


def _row(panel: VersionsPanel, vid: str) -> int:
    return next(r for r in range(panel.table.rowCount()) if panel.table.item(r, 1).text() == vid)


def test_v1_shows_the_held_out_dice_measured_by_the_fine_tune(qtbot, tmp_path: Path) -> None:
    panel = VersionsPanel(_registry(tmp_path, fine_tuned=True))
    qtbot.addWidget(panel)
    cell = panel.table.item(_row(panel, "v1"), DICE)
    assert cell.text() == "0.5007 (v2)"  # was "-"
    assert "measured during the fine-tune that made v2" in cell.toolTip()
    assert panel.table.item(_row(panel, "v2"), DICE).text() == "0.3898"
    panel.select("v1", "v2")
    assert "0.6117" in panel.details.text()  # v1's per-image scores in the comparison
    assert "0.5007" in panel.details.text()


def test_an_unmeasured_version_says_so_in_words(qtbot, tmp_path: Path) -> None:
    panel = VersionsPanel(_registry(tmp_path, fine_tuned=False))
    qtbot.addWidget(panel)
    cell = panel.table.item(_row(panel, "v1"), DICE)
    assert cell.text() == "not measured"  # was a bare "-"
    assert "not measured" in cell.toolTip()
    assert "no fine-tune" in cell.toolTip()
