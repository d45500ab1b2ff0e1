"""Fine-tuning from the viewer on a folder: case ids follow the dataset's case-id pattern (bladder
``5-IM081.png`` -> case ``5``), so a patient's slices never fall on both sides of the train / held-out split; a
folder no dataset describes gets a per-image split, and the dialog says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from akmamba.finetune.data import load_finetune_folder
from akmamba.finetune.registry import ModelRegistry
from akmamba.io import Image, write_image
from app import finetune_actions
from app.finetune_process import FinetuneProcess

pytestmark = pytest.mark.gui

STEMS = ["5-IM081", "5-IM082", "7-IM1", "7-IM2", "9-IM3", "9-IM4"]


def _folder(root: Path, dataset: bool) -> Path:
    """Six slices of three patients, all marked corrected: a bladder-layout folder (``Images/`` + ``Labels/``) or
    a plain folder with labels saved next to the images."""
    images = root / "Images" if dataset else root
    images.mkdir(parents=True)
    for i, stem in enumerate(STEMS):
        write_image(Image(np.full((16, 16), 20 * i, np.uint8), "2d"), images / f"{stem}.png")
        label = np.zeros((16, 16), np.uint8)
        label[4:8, 4:8] = 128 if dataset else 1
        if dataset:
            (root / "Labels").mkdir(exist_ok=True)
            write_image(Image(label, "2d"), root / "Labels" / f"{stem}.png")
        else:
            write_image(Image(label, "2d"), images / f"{stem}_labels.png")
    status = {"status": {f"{s}.png": "corrected" for s in STEMS}}
    (root / "akmamba_cases.json").write_text(json.dumps(status), encoding="utf-8")
    return root


def _prepared_dialog(window, qtbot, folder: Path, model: Path, tmp_path: Path, monkeypatch):
    started: list[list[str]] = []
    monkeypatch.setattr(FinetuneProcess, "start", lambda self, args, env=None: started.append(list(args)))
    window.model_registry = ModelRegistry(tmp_path / "reg")
    window.model_panel.add_checkpoint(model)
    with qtbot.waitSignal(window.case_opened, timeout=15000):
        window.open_path(folder)
    dialog = finetune_actions.open_finetune(window)
    qtbot.waitUntil(lambda: dialog.data_dir is not None or "Not fine-tuned" in dialog.outcome.text(), timeout=15000)
    assert dialog.data_dir is not None, dialog.outcome.text()
    assert started  # the plan would start now (not run here)
    return dialog


def test_a_bladder_folder_is_split_by_patient(window, qtbot, tmp_path: Path, tiny_checkpoint: Path,
                                              monkeypatch) -> None:
    dialog = _prepared_dialog(window, qtbot, _folder(tmp_path / "bladder", True), tiny_checkpoint, tmp_path,
                              monkeypatch)
    data = load_finetune_folder(dialog.data_dir)
    assert data.case_ids == ["5", "7", "9"]  # was one case per slice
    assert "By case" in dialog.summary.text()
    assert "3 case(s)" in dialog.summary.text()
    dialog.close()


def test_a_plain_folder_says_the_split_is_per_image(window, qtbot, tmp_path: Path, tiny_checkpoint: Path,
                                                    monkeypatch) -> None:
    dialog = _prepared_dialog(window, qtbot, _folder(tmp_path / "plain", False), tiny_checkpoint, tmp_path,
                              monkeypatch)
    assert load_finetune_folder(dialog.data_dir).case_ids == sorted(STEMS)
    assert "per image" in dialog.summary.text()
    assert "per image" in dialog._split_text({"split_rule": None})  # the plan's Split row too
    dialog.close()


def test_the_dialog_says_which_cases_an_earlier_per_image_split_regrouped(qtbot, tmp_path: Path,
                                                                         tiny_checkpoint: Path) -> None:
    """A line split per image by an earlier version, planned by case: the dialog's Split row carries the plan's
    words on case 7 (held out in part, trained on in part: it trains now)."""
    from akmamba.finetune.data import write_finetune_folder
    from akmamba.finetune.runner import FinetuneOptions, finetune
    from app.finetune_dialog import FinetuneDialog

    table = [{"name": "background", "index": 0, "color": [0, 0, 0]}, {"name": "x", "index": 1, "color": [9, 9, 9]}]
    items = [(Image(np.full((16, 16), 20 * i, np.uint8), "2d"), np.eye(16, dtype=np.uint8), s, None)
             for i, s in enumerate(STEMS)]
    folder = write_finetune_folder(items, tmp_path / "ft", table, case_id_regex=r"^(\d+)-")
    reg = ModelRegistry(tmp_path / "reg")
    reg.add_to_split("tiny-vessels", ["5-IM081", "5-IM082", "7-IM1"], ["7-IM2", "9-IM3", "9-IM4"])  # per image
    opts = FinetuneOptions(model=str(tiny_checkpoint), data=str(folder), registry=str(tmp_path / "reg"),
                           device="cpu", baseline=None, plan_only=True, measured=(0.1, 0.1))
    plan = next(e for e in finetune(opts) if e["event"] == "plan")
    assert plan["heldout_cases"] == ["5"]
    assert plan["train_cases"] == ["7", "9"]
    dialog = FinetuneDialog(str(tiny_checkpoint), "cpu", tmp_path / "reg", cuda_available=False)
    qtbot.addWidget(dialog)
    dialog._ev_plan(plan)  # as the child process would send it
    text = dialog.summary.text()
    assert "case 7: earlier versions held out some of its images (7-IM1) and trained on others, so it trains now" \
        in text
    assert "stay held out (every image held out): 5" in text
    dialog.close()
