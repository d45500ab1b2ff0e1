"""A consistent copy of a training run folder while it trains, so that a run on a machine that is taken back can
continue elsewhere with ``akmamba train --resume`` (issue 21; ``experiments/gpu_r5.sh collect`` calls it).

    python3 experiments/run_snapshot.py RUN_DIR DEST     # -> DEST/<run name>/, prints the epoch it holds

The trainer writes, at every epoch end and in this order, ``best.safetensors`` (if improved), ``last.safetensors``,
``last_ema.safetensors``, ``last_optim.safetensors``, ``last_optim.json`` (each file atomically). The copy reads them
in the reverse order (``last_optim.json`` first, ``last.safetensors`` last) and checks that ``last.safetensors``
holds the epoch that ``last_optim.json`` records: then every file in between is of that epoch too (a save that
began after the first read would have replaced ``last.safetensors`` first). Otherwise it tries again.
``events.jsonl`` is cut after that epoch's events, so that the resumed run's events follow on without repeats.
A run with no completed epoch yet is copied without checkpoints (a resume then starts it afresh).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: Copied in this order (the reverse of the trainer's writes; module docstring).
CHECKPOINTS = ("last_optim.json", "last_optim.safetensors", "best.safetensors", "last_ema.safetensors",
               "last.safetensors")


def _events_up_to(text: str, epoch: int) -> str:
    """The lines of ``events.jsonl`` before the first event of an epoch after ``epoch``."""
    kept = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            break  # a line being written
        if isinstance(event.get("epoch"), int) and event["epoch"] > epoch:
            break
        kept.append(line + "\n")
    return "".join(kept)


def snapshot(run: Path, dest: Path, tries: int = 20, wait_s: float = 0.5) -> int | None:
    """Copy ``run`` into ``dest/run.name``; returns the epoch of the checkpoints copied (None: no epoch completed).

    Raises:
        RuntimeError: no consistent copy after ``tries`` attempts.
    """
    from akmamba.nn.checkpoint import read_metadata

    out = dest / run.name
    for _ in range(tries):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        shutil.copy2(run / "config.json", out / "config.json")
        if not (run / "last_optim.json").is_file():
            if (run / "events.jsonl").is_file():
                shutil.copy2(run / "events.jsonl", out / "events.jsonl")
            return None
        for name in CHECKPOINTS:
            if (run / name).is_file():
                shutil.copy2(run / name, out / name)
        epoch = json.loads((out / "last_optim.json").read_text(encoding="utf-8"))["record"]["epoch"]
        if (out / "last.safetensors").is_file() and read_metadata(out / "last.safetensors").get("epoch") == epoch:
            events = (run / "events.jsonl").read_text(encoding="utf-8") if (run / "events.jsonl").is_file() else ""
            (out / "events.jsonl").write_text(_events_up_to(events, epoch), encoding="utf-8")
            return int(epoch)
        time.sleep(wait_s)
    raise RuntimeError(f"no consistent copy of {run} after {tries} tries (it kept saving while being copied)")


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("dest", type=Path)
    a = p.parse_args(argv)
    epoch = snapshot(a.run, a.dest)
    print(f"{a.run.name}: " + ("no completed epoch" if epoch is None else f"epoch {epoch}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
