"""Execute the experiment plan (experiments/plan.py) on one machine, several runs at once.

    python3 experiments/run_plan.py --dataset drive --data-root DATA/DRIVE/training --out RUNS \
        --parallel 10 --deadline 1500
    python3 experiments/run_plan.py --plan round3 --dataset drive ... --list     # the commands, without running
    python3 experiments/run_plan.py --plan round4 --dataset bladder ... --list   # round 4, bladder
    python3 experiments/run_plan.py --plan round4 --dataset drive ... --list     # round 4, DRIVE

Each run: ``akmamba train`` (JSON events in RUN/events.jsonl), then for a validation fold ``akmamba predict
--probs`` on the fold's validation images and ``akmamba evaluate`` (RUN/eval.json). A run that evaluates another
run's checkpoint (``checkpoint_of``, e.g. the test-time-flip rows of round 3) waits for that run's training, then
only predicts and evaluates. The file evaluated is the run's ``checkpoint``: ``best.safetensors`` (picked on the
validation fold) unless the plan asks for the final weights (round 4 DRIVE: ``last.safetensors``, or
``last_ema.safetensors`` with EMA). Evaluations run beside the trainings (``--eval-parallel`` at a time). The commands
are written to RUN/commands.txt exactly as run (validation image paths abbreviated) and the run's plan entry to
RUN/run.json. ``--deadline`` (seconds from start) gives every training a ``--time-limit`` so that the whole plan
ends in time; a run cut by it says ``stopped_by: time_limit`` in its done event. Progress goes to
OUT/status.json (rewritten atomically) and stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plan import RECIPES_R3, RECIPES_R4, RECIPES_R4_DRIVE, Run, ablation_plan, bladder_plan, plan, round4_drive_plan

PY = [sys.executable, "-m", "akmamba.cli"]


def _write_status(out: Path, status: dict) -> None:
    tmp = out / "status.json.tmp"
    tmp.write_text(json.dumps(status, indent=1), encoding="utf-8")
    os.replace(tmp, out / "status.json")


def val_images(run_dir: Path, dataset: str, data_root: str, checkpoint: str = "best.safetensors") -> list[str]:
    """The validation images of a finished fold run (from the metadata of its checkpoint ``checkpoint``)."""
    from akmamba.io.dataset import pair_files
    from akmamba.nn.checkpoint import read_metadata
    from akmamba.train.engine import resolve_dataset

    meta = read_metadata(run_dir / checkpoint)
    cases = set(meta["val_cases"])
    return [str(s.image) for s in pair_files(resolve_dataset(dataset), Path(data_root)) if s.case_id in cases]


def run_one(run: Run, args: argparse.Namespace, time_limit: float | None) -> subprocess.Popen:
    """Start the training of ``run``; evaluation follows in :func:`evaluate`."""
    run_dir = args.out / run.name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(run.record(), indent=1), encoding="utf-8")
    cmd = PY + run.train_args(args.data_root, str(run_dir), time_limit)
    (run_dir / "commands.txt").write_text(shlex.join(cmd) + "\n", encoding="utf-8")
    log = open(run_dir / "train.log", "w", encoding="utf-8")  # noqa: SIM115 (closed with the process)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def evaluation_commands(run: Run, args: argparse.Namespace, images: list[str]) -> list[list[str]]:
    """``akmamba predict`` (of the run's own checkpoint file ``run.checkpoint``, or of ``checkpoint_of``'s) and
    ``akmamba evaluate``."""
    run_dir = args.out / run.name
    source = args.out / (run.checkpoint_of or run.name)
    pred = run_dir / "pred"
    return [PY + run.predict_args(str(source / run.checkpoint), str(pred), args.device, images),
            [*PY, "evaluate", "--pred", str(pred), "--gt", args.data_root, "--dataset", run.dataset,
             "--out", str(run_dir / "eval.json"), "--overwrite"]]


def evaluate(run: Run, args: argparse.Namespace) -> int:
    """Predict the validation images with probabilities and evaluate them; returns the exit status."""
    run_dir = args.out / run.name
    run_dir.mkdir(parents=True, exist_ok=True)
    if run.checkpoint_of is not None:
        (run_dir / "run.json").write_text(json.dumps(run.record(), indent=1), encoding="utf-8")
    images = val_images(args.out / (run.checkpoint_of or run.name), run.dataset, args.data_root, run.checkpoint)
    cmds = evaluation_commands(run, args, images)
    with open(run_dir / "commands.txt", "a", encoding="utf-8") as f:
        for c in cmds:
            shown = [*c[: len(c) - len(images)], "<validation images>"] if c[3] == "predict" else c
            f.write(shlex.join(shown) + "\n")
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
    p.add_argument("--eval-parallel", type=int, default=3, help="evaluations (predict + evaluate) at a time")
    p.add_argument("--device", default="auto")
    p.add_argument("--only", default=None, help="comma-separated run names")
    p.add_argument("--plan", default="tables",
                   help="tables: Tables 1-3 and the shipped models (rounds 1-2); round3: the recipe ablations; "
                        "round4: with --dataset bladder the tumour ablations (round4.md), with --dataset drive CLAHE "
                         "input and final-weight evaluation (round4-drive.md); "
                        "several, comma-separated (e.g. round3,round4): their runs together, shared ones once")
    p.add_argument("--models", default="akmamba", help="round3/4: comma-separated models (default akmamba)")
    p.add_argument("--recipes", default=None,
                   help=f"round3/4: comma-separated recipes (default all; round3: {','.join(RECIPES_R3)}; "
                        f"round4 bladder: {','.join(RECIPES_R4)}; round4 DRIVE: {','.join(RECIPES_R4_DRIVE)}); "
                         "each plan takes those it knows")
    p.add_argument("--all-data", default="",
                   help="round4: comma-separated training recipes also trained on all the data (bladder: all 14 "
                        "cases; DRIVE: all 20 images, round-3 recipes too), shipped-model candidates, not evaluated, "
                        "for each of --models")
    p.add_argument("--list", action="store_true", help="print every run and its commands, run nothing")
    args = p.parse_args(argv)
    runs = select_runs(p, args)
    if args.only:
        runs = [r for r in runs if r.name in args.only.split(",")]
    if args.list:
        print_commands(runs, args)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    return execute(runs, args)


def select_runs(p: argparse.ArgumentParser, args: argparse.Namespace) -> list[Run]:
    """The runs of ``--plan`` (one plan or several, comma-separated; a run in two plans, e.g. round 3's ``base``
    that round 4's ``final`` evaluates, is kept once), longer trainings first."""
    models = tuple(args.models.split(","))
    recipes = tuple(args.recipes.split(",")) if args.recipes else None
    round4 = RECIPES_R4 if args.dataset == "bladder" else RECIPES_R4_DRIVE
    known = {"tables": (), "round3": tuple(RECIPES_R3), "round4": tuple(round4)}
    plans = args.plan.split(",")
    if any(name not in known for name in plans):
        p.error(f"--plan: unknown plan in {args.plan!r}; known: {', '.join(known)}")
    stray = [r for r in recipes or () if not any(r in known[name] for name in plans)]
    if stray:
        p.error(f"--recipes: {stray} belong to no plan of --plan {args.plan}")
    runs: dict[str, Run] = {}
    for name in plans:
        mine = None if recipes is None else tuple(r for r in recipes if r in known[name])
        if name == "round3":
            chosen = ablation_plan(args.dataset, models, mine)
        elif name == "round4":
            all_data = tuple(r for r in args.all_data.split(",") if r)
            chosen = (bladder_plan(models, mine, all_data) if args.dataset == "bladder"
                      else round4_drive_plan(models, mine, all_data))
        else:
            chosen = plan(args.dataset)
        for run in chosen:
            runs.setdefault(run.name, run)
    return sorted(runs.values(), key=lambda r: -r.priority)


def print_commands(runs: list[Run], args: argparse.Namespace) -> None:
    """Each run's name, plan entry and exact commands (validation images abbreviated)."""
    images = ["<validation images>"]
    for run in runs:
        print(f"# {run.name}: {json.dumps(run.record())}")
        if run.checkpoint_of is None:
            print(shlex.join(PY + run.train_args(args.data_root, str(args.out / run.name), None)))
        if run.fold is not None:
            for c in evaluation_commands(run, args, images):
                print(shlex.join(c))


def execute(runs: list[Run], args: argparse.Namespace) -> int:
    """Train the runs ``--parallel`` at a time; evaluate each as its training ends (``--eval-parallel`` at a time,
    beside the trainings), and an evaluation-only run as soon as its source's training has ended. Returns 0 when
    every run is done."""
    t0 = time.time()
    trained = {r.name for r in runs if r.checkpoint_of is None}
    missing = sorted({r.checkpoint_of for r in runs if r.checkpoint_of and r.checkpoint_of not in trained
                      and not (args.out / r.checkpoint_of / r.checkpoint).is_file()})
    if missing:
        print(f"evaluation-only runs need {missing}: add them to --only, or train them first", file=sys.stderr)
        return 1
    queue = [r for r in runs if r.checkpoint_of is None]
    waiting = [r for r in runs if r.checkpoint_of is not None]  # evaluate another run's checkpoint
    active: dict[str, tuple[Run, subprocess.Popen]] = {}
    evaluating: dict[str, Future[int]] = {}
    status = {r.name: "queued" for r in runs}
    finished_training = {r.checkpoint_of for r in waiting} - trained  # trained before this plan started (checked)

    def report(name: str) -> None:
        print(f"[{time.time() - t0:7.1f}s] {name}: {status[name]}", flush=True)

    with ThreadPoolExecutor(max_workers=args.eval_parallel) as pool:
        while queue or active or waiting or evaluating:
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
                    finished_training.add(name)
                    status[name] = "evaluating"
                    evaluating[name] = pool.submit(evaluate, run, args)
                report(name)
            for run in list(waiting):
                source = run.checkpoint_of or ""
                if source in finished_training:
                    waiting.remove(run)
                    status[run.name] = "evaluating"
                    evaluating[run.name] = pool.submit(evaluate, run, args)
                elif status.get(source, "").startswith("train failed"):
                    waiting.remove(run)
                    status[run.name] = f"source {status[source]}"
                    report(run.name)
            for name, future in list(evaluating.items()):
                if future.done():
                    del evaluating[name]
                    try:
                        erc = future.result()
                    except Exception as exc:  # noqa: BLE001 - one run's failure must not stop the plan
                        print(f"{name}: evaluation raised {exc!r}", file=sys.stderr, flush=True)
                        erc = -1
                    status[name] = "done" if erc == 0 else f"eval failed rc={erc}"
                    report(name)
            _write_status(args.out, {"elapsed_s": time.time() - t0, "runs": status})
            time.sleep(2)
    print(f"all done in {time.time() - t0:.1f}s", flush=True)
    return 0 if all(s == "done" for s in status.values()) else 1

if __name__ == "__main__":
    raise SystemExit(main())
