"""Kill the fine-tuning process (SIGKILL) at random moments: the registry stays consistent every time, and the
active model is either unchanged or a complete new version that passed (here: was forced through) the gate.

Rounds: ``AKMAMBA_FAULT_ROUNDS`` (default 4; docs/finetune.md reports a 20-round run). Half the kills come at a
random time in the run, half 0-100 ms after a randomly chosen event (so the commit and activation windows, which
follow the ``evaluation`` and ``registered`` events within milliseconds, are hit).
Run with ``-s`` to see one line per round.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from akmamba.finetune.registry import ModelRegistry

pytestmark = [pytest.mark.finetune, pytest.mark.slow,
              pytest.mark.skipif(os.name != "posix", reason="SIGKILL semantics are POSIX")]

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ("line", "plan", "start", "step", "validation", "checkpoint", "done", "evaluation", "registered",
          "promoted")


def _command(model: Path, data: Path, reg: Path) -> list[str]:
    return [sys.executable, "-m", "akmamba", "finetune", "--model", str(model), "--data", str(data), "--registry",
            str(reg), "--jsonl", "--force-promote", "--device", "cpu", "--patch-size", "16", "16", "--batch-size",
            "2", "--max-steps", "16", "--no-baseline", "--threads", "1"]


def _run(cmd: list[str], kill_after_s: float | None = None, kill_on: str | None = None,
         delay_s: float = 0.0) -> tuple[str, list[str]]:
    """Run ``cmd``; kill it after a time or right after an event. Returns (what happened, events seen)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            env=env, text=True)
    seen: list[str] = []
    killed = threading.Event()

    def kill() -> None:
        try:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                killed.set()
        except ProcessLookupError:  # it ended on its own at that very moment
            pass

    timer = threading.Timer(kill_after_s, kill) if kill_after_s is not None else None
    if timer is not None:
        timer.start()
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            kind = line.split('"event": "', 1)[-1].split('"', 1)[0]
            seen.append(kind)
            if kind == kill_on:
                threading.Timer(delay_s, kill).start()
    proc.wait(timeout=300)
    time.sleep(delay_s)  # let a pending delayed kill decide before we look
    if timer is not None:
        timer.cancel()
    return ("killed" if killed.is_set() else f"exit {proc.returncode}"), seen


def test_sigkill_at_random_moments_keeps_registry_consistent(corrected_folder, parent_ckpt, tmp_path) -> None:
    reg_dir = tmp_path / "reg"
    reg = ModelRegistry(reg_dir)
    cmd = _command(parent_ckpt, corrected_folder, reg_dir)
    t0 = time.perf_counter()
    outcome, seen = _run(cmd)  # a complete run: imports the parent as v1, trains, promotes v2
    full_s = time.perf_counter() - t0
    assert outcome == "exit 0", seen
    assert reg.active("tiny-discs").id == "v2"
    rounds = int(os.environ.get("AKMAMBA_FAULT_ROUNDS", "4"))
    rng = random.Random(int(os.environ.get("AKMAMBA_FAULT_SEED", "0")))
    print(f"\nreference run {full_s:.1f} s; {rounds} kill rounds")
    from akmamba.nn import load_checkpoint

    for i in range(rounds):
        before = reg.active("tiny-discs").id
        before_ids = {v.id for v in reg.versions("tiny-discs")}
        if i % 2 == 0:
            moment = rng.uniform(0.2, full_s)
            outcome, seen = _run(cmd, kill_after_s=moment)
            where = f"t={moment:5.2f} s"
        else:
            event, delay = rng.choice(EVENTS), rng.uniform(0.0, 0.1)
            outcome, seen = _run(cmd, kill_on=event, delay_s=delay)
            where = f"{delay * 1000:3.0f} ms after {event!r}"
        problems = reg.check()
        after = reg.active("tiny-discs")
        new_ids = {v.id for v in reg.versions("tiny-discs")} - before_ids
        print(f"round {i + 1:2d}: kill {where:<28} -> {outcome:<7} last event {seen[-1] if seen else '-':<11} "
              f"active {before} -> {after.id}; new versions {sorted(new_ids) or '-'}; problems {len(problems)}")
        assert problems == [], problems
        assert after.id == before or after.id in new_ids, (before, after.id, new_ids)
        if after.id != before:  # a promoted version is complete and its gate record says so
            assert after.record["gate"]["promote"]
        load_checkpoint(after.model_path)  # the active model always loads
        reg.gc("tiny-discs")  # a kill inside add_version leaves a staging folder; gc removes it, never a version
        assert not list((reg_dir / "tiny-discs" / "staging").glob("*"))
        assert new_ids <= {v.id for v in reg.versions("tiny-discs")}


def test_sigkill_inside_a_commit_leaves_no_version(tmp_path) -> None:
    """Kill a process while it copies a large model into the registry: at most a staging folder is left, never a
    partial version, and the active pointer is untouched."""
    reg_dir = tmp_path / "reg"
    reg = ModelRegistry(reg_dir, verify=None)  # stand-in model files: the commit mechanics only
    small = tmp_path / "small.bin"
    small.write_bytes(b"v1")
    reg.activate("m", reg.add_version("m", small, {}).id)
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.write(os.urandom(1 << 20) * 256)  # 256 MiB: the copy and its fsync take a while
    script = ("import sys; from akmamba.finetune.registry import ModelRegistry; "
              "r = ModelRegistry(sys.argv[1], verify=None); "
              "v = r.add_version('m', sys.argv[2], {}); r.activate('m', v.id)")
    rng = random.Random(0)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", script, str(reg_dir), str(big)], cwd=ROOT)
        staging = reg_dir / "m" / "staging"
        t0 = time.perf_counter()
        while not (staging.is_dir() and any(staging.iterdir())) and proc.poll() is None \
                and time.perf_counter() - t0 < 60:
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, 0.05))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        assert reg.check() == []
        versions = [v.id for v in reg.versions("m")]
        active = reg.active("m").id
        assert active == "v1" or (active == versions[-1] and reg.version("m", active).model_path.stat().st_size
                                  == big.stat().st_size)
        torn = [p.name for p in staging.iterdir()] if staging.is_dir() else []
        print(f"commit kill: versions {versions}, active {active}, torn staging folders {len(torn)}")
        reg.gc("m")
