"""Execute the experiment plan (experiments/plan.py) on one machine, several runs at once.

    python3 experiments/run_plan.py --dataset drive --data-root DATA/DRIVE/training --out RUNS \
        --parallel 10 --deadline 1500

Each run: ``akmamba train`` (JSON events in RUN/events.jsonl), then for a validation fold ``akmamba predict
--probs`` on the fold's validation images and ``akmamba evaluate`` (RUN/eval.json). The commands are written to
RUN/commands.txt exactly as run. ``--deadline`` (seconds from start) gives every training a ``--time-limit`` so
that the whole plan ends in time; a run cut by it says ``stopped_by: time_limit`` in its done event.
Progress goes to OUT/status.json (rewritten atomically) and stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plan import Run, plan  # noqa: E402

PY = [sys.executable, "-m", "akmamba.cli"]


def _write_status(out: Path, status: dict) -> None:
    tmp = out / "status.json.tmp"
    tmp.write_text(json.dumps(status, indent=1), encoding="utf-8")
    os.replace(tmp, out / "status.json")


def val_images(run_dir: Path, dataset: str, data_root: str) -> list[str]:
    """The validation images of a finished fold run (from its checkpoint's metadata)."""
    from akmamba.io.dataset import pair_files
    from akmamba.nn.checkpoint import read_metadata
    from akmamba.train.engine import resolve_dataset

    meta = read_metadata(run_dir / "best.safetensors")
    cases = set(meta["val_cases"])
    return [str(s.image) for s in pair_files(resolve_dataset(dataset), Path(data_root)) if s.case_id in cases]


def run_one(run: Run, args: argparse.Namespace, time_limit: float | None) -> subprocess.Popen:
    """Start the training of ``run``; evaluation follows in :func:`evaluate`."""
    run_dir = args.out / run.name
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = PY + run.train_args(args.data_root, str(run_dir), time_limit)
    (run_dir / "commands.txt").write_text(shlex.join(cmd) + "\n", encoding="utf-8")
    log = open(run_dir / "train.log", "w", encoding="utf-8")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def evaluate(run: Run, args: argparse.Namespace) -> int:
    """Predict the validation images with probabilities and evaluate them; returns the exit status."""
    run_dir = args.out / run.name
    images = val_images(run_dir, run.dataset, args.data_root)
    pred = run_dir / "pred"
    cmds = [PY + ["predict", "--model", str(run_dir / "best.safetensors"), "--out", str(pred), "--device",
                  args.device, "--probs", "--overwrite", "--roi-size", "1024", *images],
            PY + ["evaluate", "--pred", str(pred), "--gt", args.data_root, "--dataset", run.dataset,
                  "--out", str(run_dir / "eval.json")]]
    with open(run_dir / "commands.txt", "a", encoding="utf-8") as f:
        for c in cmds:
            f.write(shlex.join(c[:9] + ["<validation images>"] if c[3] == "predict" else c) + "\n")
    with open(run_dir / "eval.log", "w", encoding="utf-8") as log:
        for c in cmds:
            rc = subprocess.call(c, stdout=log, stderr=subprocess.STDOUT)
            if rc not in (0,):
                return rc
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=["drive", "bladder"])
    p.add_argument("--data-root", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--parallel", type=int, default=8)
    p.add_argument("--deadline", type=float, default=None, help="seconds from now by which training must end")
    p.add_argument("--eval-reserve", type=float, default=90.0, help="seconds kept for evaluation after training")
    p.add_argument("--device", default="auto")
    p.add_argument("--only", default=None, help="comma-separated run names")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = plan(args.dataset)
    if args.only:
        runs = [r for r in runs if r.name in args.only.split(",")]
    t0 = time.time()
    queue, active, status = list(runs), {}, {r.name: "queued" for r in runs}
    while queue or active:
        while queue and len(active) < args.parallel:
            run = queue.pop(0)
            limit = None
            if args.deadline is not None:
                limit = max(30.0, args.deadline - args.eval_reserve - (time.time() - t0))
            active[run.name] = (run, run_one(run, args, limit))
            status[run.name] = "training"
        for name, (run, proc) in list(active.items()):
            rc = proc.poll()
            if rc is None:
                continue
            del active[name]
            if rc != 0:
                status[name] = f"train failed rc={rc}"
            elif run.fold is None:
                status[name] = "done"
            else:
                status[name] = "evaluating"
                _write_status(args.out, {"elapsed_s": time.time() - t0, "runs": status})
                erc = evaluate(run, args)
                status[name] = "done" if erc == 0 else f"eval failed rc={erc}"
            print(f"[{time.time() - t0:7.1f}s] {name}: {status[name]}", flush=True)
        _write_status(args.out, {"elapsed_s": time.time() - t0, "runs": status})
        time.sleep(2)
    print(f"all done in {time.time() - t0:.1f}s", flush=True)
    return 0 if all(s == "done" for s in status.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
