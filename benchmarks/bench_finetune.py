"""Fine-tuning on simulated corrections of DRIVE: time to a promoted version and Dice before / after.

Simulation: the model's own predictions on ``--corrected`` DRIVE training images are the masks "before"
correction; the manual labels are the "corrected" masks; the correction mask (pixels the user would have edited) is
where they differ. Those images form a fine-tuning folder (docs/finetune.md); ``akmamba finetune`` runs on it in a
child process, exactly as the viewer runs it, once per ``--edit-weight`` value, each into a fresh registry. The
other DRIVE images are never seen and are evaluated before and after (inside the FOV).

Reported per edit weight: wall time from launching the trainer to the promoted (or kept) version, the measured
estimate shown before starting, steps, and mean Dice of the parent and of the new version on (a) the corrected
images it trained on, (b) the corrected images held out by the frozen split (the gate), (c) the untouched images.

    python benchmarks/bench_finetune.py --model akmamba-drive                    # shipped model, CPU budget
    python benchmarks/bench_finetune.py --model unet-drive --device cuda --time-budget 10
    python benchmarks/bench_finetune.py --model runs/x/best.safetensors --edit-weight 1 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "DRIVE" / "training"


def build_folder(model: str, samples: list[Any], desc: Any, out: Path, device: str) -> Path:
    """Predict the corrected images with the model ("before") and write the fine-tuning folder."""
    import numpy as np

    from akmamba.finetune.data import correction_from_labels, write_finetune_folder
    from akmamba.infer import Predictor
    from akmamba.io import load_sample

    predictor = Predictor.from_checkpoint(model, device)
    cases = []
    for s in samples:
        image, label, fov = load_sample(s, desc)
        before = predictor.predict(np.asarray(image.array)).labels
        if fov is not None:
            before = np.where(fov, before, 0).astype(np.uint8)
        mask = correction_from_labels(before, np.asarray(label, np.uint8))
        cases.append((image, np.asarray(label, np.uint8), s.case_id, mask))
    table = [{"name": c.name, "index": c.index, "color": list(c.color)} for c in desc.label_table]
    return write_finetune_folder(cases, out, table, name="DRIVE simulated corrections", modality=desc.modality)


def run_finetune(args: argparse.Namespace, model: str, folder: Path, registry: Path, weight: float) -> dict[str, Any]:
    """Run ``akmamba finetune`` as a child; returns its key events and the wall time to the final event."""
    cmd = [sys.executable, "-m", "akmamba", "finetune", "--model", model, "--data", str(folder), "--registry",
           str(registry), "--device", args.device, "--edit-weight", str(weight), "--jsonl",
           "--time-budget", str(args.time_budget), "--line", "bench"]
    for flag, value in (("--threads", args.threads), ("--max-steps", args.max_steps)):
        if value:
            cmd += [flag, str(value)]
    if args.patch_size:
        cmd += ["--patch-size", *map(str, args.patch_size)]
    if args.force_promote:
        cmd.append("--force-promote")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    events: dict[str, Any] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            e = json.loads(line)
            e["wall_s"] = time.perf_counter() - t0
            events[e["event"]] = e
            if e["event"] in ("plan", "promoted", "kept", "error"):
                print(f"  [{e['wall_s']:6.1f} s] {e['event']}", file=sys.stderr)
    proc.wait()
    if "error" in events or proc.returncode:
        raise SystemExit(f"finetune failed: {events.get('error', {}).get('message', proc.returncode)}")
    return events


def evaluate(path: str, samples: list[Any], desc: Any, device: str) -> float:
    """Mean Dice of a checkpoint on samples (inside their FOV when the description has one)."""
    from akmamba.finetune.evaluate import evaluate_checkpoint
    from akmamba.train.engine import resolve_device

    return float(evaluate_checkpoint(path, samples, desc, resolve_device(device))["mean_dice"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="installed model name or checkpoint path (the parent)")
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--corrected", type=int, default=5, help="images treated as corrected")
    parser.add_argument("--edit-weight", type=float, nargs="+", default=[5.0, 1.0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--time-budget", type=float, default=10.0, help="minutes per fine-tune")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--patch-size", type=int, nargs=2, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--force-promote", action="store_true")
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args(argv)

    from akmamba.finetune.data import split_cases
    from akmamba.infer.models import resolve_model
    from akmamba.io import builtin_description, pair_files

    if not args.data_root.is_dir():
        raise SystemExit(f"DRIVE training data not found at {args.data_root}; pass --data-root.")
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_finetune_"))
    work.mkdir(parents=True, exist_ok=True)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)  # the parent predicts and evaluates too
    model = str(resolve_model(args.model))
    desc = builtin_description("drive")
    samples = pair_files(desc, args.data_root)
    corrected, others = samples[: args.corrected], samples[args.corrected:]
    print(f"corrected: {[s.case_id for s in corrected]}; untouched: {len(others)} images; work {work}",
          file=sys.stderr)
    t0 = time.perf_counter()
    folder = build_folder(model, corrected, desc, work / "corrected", args.device)
    print(f"  folder written in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    train_ids, held_ids = split_cases([s.case_id for s in corrected], 0.2)
    train_s = [s for s in corrected if s.case_id in train_ids]
    held_s = [s for s in corrected if s.case_id in held_ids]
    before = {"train": evaluate(model, train_s, desc, args.device), "held": evaluate(model, held_s, desc, args.device),
              "other": evaluate(model, others, desc, args.device)}
    rows = []
    for weight in args.edit_weight:
        events = run_finetune(args, model, folder, work / f"registry-w{weight:g}", weight)
        fin = events["finished"]
        new = fin.get("active_path") if fin.get("promoted") else None
        version_path = work / f"registry-w{weight:g}" / "bench" / "versions" / fin["version"] / "model.safetensors"
        after = {"train": evaluate(str(version_path), train_s, desc, args.device),
                 "held": evaluate(str(version_path), held_s, desc, args.device),
                 "other": evaluate(str(version_path), others, desc, args.device)}
        plan, done = events["plan"], events.get("done", {})
        rows.append({"weight": weight, "promoted": bool(new), "wall_s": fin["wall_s"], "estimate_s": plan["estimate_s"],
                     "steps": done.get("steps"), "stopped_by": done.get("stopped_by"), "device": plan["device"],
                     "step_s": plan["step_s"], "after": after})
    from akmamba.nn.checkpoint import read_metadata

    meta = read_metadata(model)
    print(f"\nModel `{Path(model).name}` ({(meta.get('model') or {}).get('name')}), device {rows[0]['device']}, "
          f"{len(train_s)} corrected images trained on ({', '.join(train_ids)}), {len(held_s)} held out "
          f"({', '.join(held_ids)}), {len(others)} untouched; time budget {args.time_budget:g} min.\n")
    print("| edit weight | promoted | time to version (s) | estimate shown (s) | steps (stopped by) | s/step | "
          "Dice corrected-train before -> after | Dice corrected-held-out before -> after | "
          "Dice untouched before -> after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a = r["after"]
        print(f"| {r['weight']:g} | {'yes' if r['promoted'] else 'no'} | {r['wall_s']:.0f} | {r['estimate_s']:.0f} | "
              f"{r['steps']} ({r['stopped_by']}) | {r['step_s']:.2f} | {before['train']:.4f} -> {a['train']:.4f} | "
              f"{before['held']:.4f} -> {a['held']:.4f} | {before['other']:.4f} -> {a['other']:.4f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
