"""experiments/anchor_table.py: per-case Dice from both kinds of record, and the paired table's arithmetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def anchor_table(import_experiment):
    return import_experiment("anchor_table")


def test_per_case_dice_of_a_round5_record_and_of_round4_counts(anchor_table) -> None:
    r5 = {"evaluations": {"final": {"per_case": [
        {"case": "2", "label_name": "tumor", "dice": 0.25}, {"case": 14, "label_name": "tumor", "dice": 0.5},
        {"case": "2", "label_name": "bladder_wall", "dice": 0.8}, {"case": "2", "label_name": "other", "dice": 1}]}}}
    assert anchor_table.per_case_dice(r5) == {"bladder_wall": {"2": 80.0}, "tumor": {"2": 25.0, "14": 50.0}}
    r4 = {"per_case": {"bladder_wall": {"5": [30, 10, 10]}, "tumor": {"5": [0, 0, 7], "6": [1, 0, 0]}}}
    assert anchor_table.per_case_dice(r4) == {"bladder_wall": {"5": 75.0}, "tumor": {"5": 0.0, "6": 100.0}}


def _write(root: Path, name: str, wall: float, tumour: float) -> None:
    """A round-5 record at ``root/name`` with one case's wall and tumour Dice."""
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"case": "1", "label_name": "bladder_wall", "dice": wall},
            {"case": "1", "label_name": "tumor", "dice": tumour}]
    path.write_text(json.dumps({"evaluations": {"final": {"per_case": rows}}}))


def test_table_rows_and_differences(anchor_table, tmp_path: Path, monkeypatch) -> None:
    for k, (w, t) in enumerate([(0.6, 0.2), (0.8, 0.0)]):  # fold 2 not run
        _write(tmp_path, f"r5/nnunet-f{k}.json", w, t)
        _write(tmp_path, f"r5/r5-akmamba-f{k}-240s.json", w + 0.1, t)
    monkeypatch.setattr(anchor_table, "RESULTS", tmp_path)
    lines = anchor_table.table().splitlines()
    assert lines[2].startswith("| nnU-Net v2 2d, 240 s | 60.0 / 20.0 (40.0) | 80.0 / 0.0 (40.0) | - | 40.0 | - | - |")
    assert lines[3] == ("| Akmamba-Net, round-5 recipe, 240 s | 70.0 / 20.0 (45.0) | 90.0 / 0.0 (45.0) | - | 45.0 | "
                        "+5.0, +5.0 | +5.0 |")
    assert lines[4].endswith("| - | - | - | - | - | - |")  # no report: dashes, no differences


def test_paired_is_the_cards_record_of_a_row_against_nnunet(anchor_table, tmp_path: Path) -> None:
    _write(tmp_path, "r5/nnunet-f0.json", 0.6, 0.2)
    _write(tmp_path, "r5/nnunet-f1.json", 0.8, 0.0)
    _write(tmp_path, "r5/r5-akmamba-f0-240s.json", 0.7, 0.2)
    _write(tmp_path, "r5/r5-akmamba-f1-240s.json", 0.8, 0.1)
    _write(tmp_path, "r5/r5-akmamba-f2-240s.json", 0.9, 0.9)  # no nnU-Net fold 2: left out
    rec = anchor_table.paired("r5/r5-akmamba-f{k}-240s.json", tmp_path)
    assert [f["fold"] for f in rec["folds"]] == [0, 1]
    assert rec["folds"][0] == {"fold": 0, "nnunet": [60.0, 20.0, 40.0], "this": [70.0, 20.0, 45.0], "difference": 5.0}
    assert rec["mean_difference"] == 5.0
    assert rec["equal_gpu_time"] is True
    assert rec["this"] == "Akmamba-Net, round-5 recipe, 240 s"
    assert rec["records"][:2] == ["r5/nnunet-f0.json", "r5/r5-akmamba-f0-240s.json"]
    with pytest.raises(KeyError):
        anchor_table.paired("r5/nnunet-f{k}.json", tmp_path)  # the anchor itself is not a row to compare
    with pytest.raises(FileNotFoundError):
        anchor_table.paired("r4-bladder-unet-combo-ema-long-final-f{k}.json", tmp_path)


def test_the_shipped_recipes_records_pair_with_the_anchor(anchor_table) -> None:
    """The committed records: what the shipped bladder models' cards quote."""
    rec = anchor_table.paired("r4-bladder-akmamba-combo-ema-long-final-f{k}.json")
    assert len(rec["folds"]) == 3
    assert rec["equal_gpu_time"] is False
    assert rec["mean_difference"] == pytest.approx(sum(f["difference"] for f in rec["folds"]) / 3, abs=0.01)


def test_drive_rows_pair_per_image_dice_by_fold(anchor_table, tmp_path: Path) -> None:
    nn = {"evaluations": {"final": {"per_case": [{"case": "21_training", "label_name": "vessel", "dice": 0.8},
                                                  {"case": "25_training", "label_name": "vessel", "dice": 0.84}]}}}
    (tmp_path / "r5").mkdir()
    (tmp_path / "r5" / "drive-nnunet-f0.json").write_text(json.dumps(nn))
    ours = {"summary": {"vessel": {"per_image_mean": {"dice": 0.83}, "pooled": {"dice": 0.5}}}}
    (tmp_path / "r4-drive-akmamba-ema-long-final-f0.json").write_text(json.dumps(ours))
    (tmp_path / "r4-drive-akmamba-ema-long-final-f3.json").write_text(json.dumps(ours))  # no nnU-Net fold 3
    rec = anchor_table.paired("r4-drive-akmamba-ema-long-final-f{k}.json", tmp_path, dataset="drive")
    assert rec["folds"] == [{"fold": 0, "nnunet": [82.0], "this": [83.0], "difference": 1.0}]
    assert rec["what"] == "per-image vessel Dice"
    assert "by image" in rec["anchor"]
    with pytest.raises(KeyError):  # a bladder row is not in DRIVE's table
        anchor_table.paired("r5/r5-akmamba-f{k}-240s.json", tmp_path, dataset="drive")
    table = anchor_table.table("drive").splitlines()
    assert table[0].startswith("| model | fold 0: vessel | fold 1 | fold 2 | fold 3 | fold 4 | mean over folds |")
