"""experiments/run_snapshot.py: a copy of a run taken while it trains resumes elsewhere like the run itself."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from tests.train.test_recipe_nnunet import _cfg, _run, _weights

ROOT = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location("run_snapshot", ROOT / "experiments" / "run_snapshot.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_events_are_cut_after_the_saved_epoch() -> None:
    lines = [{"event": "start"}, {"event": "step", "epoch": 0}, {"event": "epoch", "epoch": 0},
             {"event": "validation", "epoch": 0}, {"event": "checkpoint", "path": "x"},
             {"event": "step", "epoch": 1}, {"event": "epoch", "epoch": 1}]
    text = "".join(json.dumps(e) + "\n" for e in lines) + '{"event": "st'  # a line being written
    kept = [json.loads(x) for x in _module()._events_up_to(text, 0).splitlines()]
    assert kept == lines[:5]


def test_a_run_without_a_completed_epoch_is_copied_without_checkpoints(tmp_path) -> None:
    run = tmp_path / "r5-akmamba-f0"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "events.jsonl").write_text('{"event": "start"}\n')
    assert _module().snapshot(run, tmp_path / "snap") is None
    assert sorted(p.name for p in (tmp_path / "snap" / run.name).iterdir()) == ["config.json", "events.jsonl"]


@pytest.mark.slow
def test_a_snapshot_resumes_like_the_uninterrupted_run(disc_dataset, tmp_path) -> None:
    root, desc = disc_dataset
    whole = _run(_cfg(root, desc, tmp_path / "whole", epochs=3))
    _run(_cfg(root, desc, tmp_path / "run", epochs=3), stop_after_epoch=0)
    assert _module().snapshot(tmp_path / "run", tmp_path / "elsewhere") == 0
    moved = tmp_path / "elsewhere" / "run"
    resumed = _run(_cfg(root, desc, moved, epochs=3, resume=True))
    assert [e["epoch"] for e in resumed if e["event"] == "epoch"] == [1, 2]
    assert resumed[-1]["steps"] == whole[-1]["steps"]
    for name in ("last.safetensors", "last_ema.safetensors"):
        a, b = _weights(tmp_path / "whole" / name), _weights(moved / name)
        for key in a:
            torch.testing.assert_close(b[key], a[key], msg=f"{name}: {key}")
