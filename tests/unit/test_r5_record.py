"""experiments/r5_record.py: the record of a run whose folder was lost but whose final weights came back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def r5_record(import_experiment):
    return import_experiment("r5_record")


def test_a_run_known_only_by_its_weights_and_evaluation(tmp_path: Path, r5_record) -> None:
    from akmamba.nn import build_model
    from akmamba.nn.checkpoint import save_checkpoint

    run = tmp_path / "r5-akmamba-f1"
    run.mkdir()
    model = build_model("unet", 1, 3, base_channels=4, depth=2)
    written = save_checkpoint(model, run / "last_ema.safetensors",
                              metadata={"train_config": {"fold": 1, "batch_size": 16}, "step": 1627, "epoch": 16})
    rows = [{"case": "2", "label_name": "tumor", "dice": 0.278}, {"case": "14", "label_name": "tumor", "dice": 0.229},
            {"case": "2", "label_name": "bladder_wall", "dice": 0.8}]
    (run / "eval-final.json").write_text(json.dumps({"per_case": {"cases": rows}, "model": {"name": "m"}}))

    rec = r5_record.record(run)

    assert rec["config"] == {"fold": 1, "batch_size": 16}
    assert rec["done"]["steps"] == 1627
    assert rec["done"]["train_s"] is None
    assert rec["done"]["weights_sha256"] == written["weights_sha256"]
    assert rec["evaluations"]["final"]["per_case"] == rows
    table = r5_record.table([rec])
    assert "| r5-akmamba-f1 | final | - | 1627 | tumor | 27.8 | 22.9 | 25.4 |" in table  # case 2, then 14
    assert "| r5-akmamba-f1 | final | - | 1627 | bladder_wall | 80.0 |  | 80.0 |" in table
