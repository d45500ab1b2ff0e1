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


@pytest.mark.slow
def test_gpu_queue_collect_and_restore_carry_a_run_to_the_next_machine(disc_dataset, tmp_path) -> None:
    """`gpu_r5.sh collect` on one machine, `restore` on the next (the files carried between): the run resumes
    where the last completed epoch ended and ends like an uninterrupted one; finished steps' results come too."""
    import os
    import shutil
    import subprocess

    root, desc = disc_dataset
    whole = _run(_cfg(root, desc, tmp_path / "whole", epochs=3))
    runs, out = tmp_path / "runs1", tmp_path / "out"
    _run(_cfg(root, desc, runs / "drive-r5-akmamba-f0", epochs=3), stop_after_epoch=0)
    (runs / "drive-nnunet-f0").mkdir()
    (runs / "drive-nnunet-f0" / "eval-final.json").write_text("{}")
    out.mkdir()
    env = {**os.environ, "DATASET": "drive", "RUNS": str(runs), "XFER": str(tmp_path / "x1"), "REPO": str(ROOT),
           "OUT": str(out)}
    script = str(ROOT / "experiments" / "gpu_r5.sh")
    res = subprocess.run(["bash", script, "collect"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["results.tgz", "resume-drive-r5-akmamba-f0.tgz.part00"]
    xfer = tmp_path / "x2"  # the next machine: .xfer/back copied in by `recv back`
    shutil.copytree(out, xfer)
    runs2 = tmp_path / "runs2"
    env.update(RUNS=str(runs2), XFER=str(xfer))
    res = subprocess.run(["bash", script, "restore"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (runs2 / "drive-nnunet-f0" / "eval-final.json").is_file()
    moved = runs2 / "drive-r5-akmamba-f0"
    resumed = _run(_cfg(root, desc, moved, epochs=3, resume=True))
    assert [e["epoch"] for e in resumed if e["event"] == "epoch"] == [1, 2]
    a, b = _weights(tmp_path / "whole" / "last_ema.safetensors"), _weights(moved / "last_ema.safetensors")
    for key in a:
        torch.testing.assert_close(b[key], a[key], msg=key)
    assert resumed[-1]["steps"] == whole[-1]["steps"]


def test_restore_puts_a_finished_runs_averaged_weights_back_for_the_prompt_step(tmp_path) -> None:
    """A finished bladder run's weights come back as `r5-akmamba-f0.safetensors` (collect); on the next machine
    `restore` puts them back as the run's last_ema.safetensors, which the prompt step starts from."""
    import os
    import shutil
    import subprocess

    runs, out = tmp_path / "runs1", tmp_path / "out"
    run = runs / "r5-akmamba-f0"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    (run / "events.jsonl").write_text('{"event": "done"}\n')
    (run / "eval-final.json").write_text("{}")
    (run / "last_ema.safetensors").write_bytes(b"averaged weights")
    out.mkdir()
    env = {**os.environ, "DATASET": "bladder", "RUNS": str(runs), "XFER": str(tmp_path / "x1"), "REPO": str(ROOT),
           "OUT": str(out)}
    script = str(ROOT / "experiments" / "gpu_r5.sh")
    res = subprocess.run(["bash", script, "collect"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["r5-akmamba-f0.safetensors", "results.tgz"]
    xfer, runs2 = tmp_path / "x2", tmp_path / "runs2"
    shutil.copytree(out, xfer)
    env.update(RUNS=str(runs2), XFER=str(xfer))
    res = subprocess.run(["bash", script, "restore"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (runs2 / "r5-akmamba-f0" / "last_ema.safetensors").read_bytes() == b"averaged weights"
    assert (runs2 / "r5-akmamba-f0" / "eval-final.json").is_file()
    assert "restored r5-akmamba-f0/last_ema.safetensors" in res.stdout
    # the weights carried alone (no results.tgz: it did not fit beside the data): the folder is made for them
    xfer3, runs3 = tmp_path / "x3", tmp_path / "runs3"
    xfer3.mkdir()
    shutil.copy(out / "r5-akmamba-f0.safetensors", xfer3)
    env.update(RUNS=str(runs3), XFER=str(xfer3))
    res = subprocess.run(["bash", script, "restore"], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (runs3 / "r5-akmamba-f0" / "last_ema.safetensors").read_bytes() == b"averaged weights"
    res = subprocess.run(["bash", script, "restore"], env=env, capture_output=True, text=True)  # kept, not again
    assert "restored" not in res.stdout
