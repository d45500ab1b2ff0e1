"""``akmamba finetune``: warm-start from the active model, train on corrected cases with edited pixels weighted,
judge the result on held-out corrected cases, register it as a new version, promote it only if it is better.

:func:`finetune` is a generator of JSON-ready events (the viewer reads them as JSON lines from a child process):

``stage`` (what the run is doing now, from its first second) -> ``line`` (registry line, parent and active version)
-> ``measuring`` (each timed piece of the speed measurement: what, seconds, the measurement's ETA)
-> ``plan`` (cases, the fixed held-out split, device, measured rates, estimate)
-> the trainer's events (``start``, ``step`` with ``eta_total_s`` added, ``epoch``, ``validation``, ``checkpoint``,
``early_stop``, ``done``) -> ``evaluation`` (held-out Dice of candidate, active and baseline) -> ``registered``
-> ``promoted`` or ``kept`` -> ``finished``. ``cancelled`` ends a run stopped on request (nothing registered);
``error`` a failed one (exit code 2).

Stopping: ``--stop-file PATH`` (the run stops at the next event once the file exists) or, with
``--stop-on-stdin``, a line ``stop`` on standard input. Killing the process is safe too (see
:mod:`akmamba.finetune.registry`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from akmamba.errors import AkmambaError, CheckpointError, ConfigError, user_error
from akmamba.finetune.data import fixed_split, load_finetune_folder, materialise_corrections, regroup_split
from akmamba.finetune.promote import PromotionRule, decide
from akmamba.finetune.registry import ModelRegistry, Version, sha256_of
from akmamba.io.atomic import atomic_write_text

Event = dict[str, Any]


@dataclass(frozen=True)
class FinetuneOptions:
    """Every option of a fine-tune (the CLI flags, one to one)."""

    model: str
    data: str
    description: str | None = None
    registry: str | None = None
    line: str | None = None
    device: str = "auto"
    edit_weight: float = 5.0
    holdout: float = 0.2
    time_budget_s: float | None = None
    max_steps: int | None = None
    patch_size: tuple[int, int] | None = None
    batch_size: int | None = None
    lr: float = 1e-4
    early_stopping: int = 4
    min_gain: float = 0.0
    force_promote: bool = False
    no_promote: bool = False
    baseline: str | None = "auto"
    plan_only: bool = False
    seed: int = 0
    amp: bool = True
    augment: bool = True
    threads: int | None = None
    measured: tuple[float, float] | None = None  # (step_s, forward_s) of an earlier --plan-only: not re-measured
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = [
            ("edit_weight", self.edit_weight > 0, "> 0"),
            ("holdout", 0 < self.holdout < 1, "in (0, 1)"),
            ("time_budget_s", self.time_budget_s is None or self.time_budget_s > 0, "> 0"),
            ("max_steps", self.max_steps is None or self.max_steps >= 1, ">= 1"),
            ("batch_size", self.batch_size is None or self.batch_size >= 1, ">= 1"),
            ("lr", self.lr > 0, "> 0"),
            ("early_stopping", self.early_stopping >= 1, ">= 1"),
            ("threads", self.threads is None or self.threads >= 1, ">= 1"),
            ("measured", self.measured is None or (len(self.measured) == 2 and min(self.measured) > 0),
             "two seconds > 0 (step, forward)"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"Fine-tuning option {name} must be {expected}; got {getattr(self, name)!r}.",
                                  parameter=name, expected=expected, got=getattr(self, name))
        PromotionRule(self.min_gain, self.force_promote, self.no_promote)  # validates the combination


def _emit(kind: str, **fields: Any) -> Event:
    return {"event": kind, "time": time.time(), **fields}


def _line_name(path: Path, meta: dict[str, Any]) -> str:
    stem = path.name[: -len(".safetensors")] if path.name.endswith(".safetensors") else path.stem
    return stem if stem != "model" else str(meta.get("name") or "model")


def resolve_parent(reg: ModelRegistry, model: str, line: str | None) -> tuple[str, Version, list[Event]]:
    """The line and the version to warm-start from, importing the checkpoint into the registry when it is new.

    ``model`` is a registry line (its active version), a checkpoint inside the registry, an installed model name
    or a checkpoint path. Returns ``(line, parent, events)``.
    """
    from akmamba.infer.models import resolve_model
    from akmamba.nn.checkpoint import read_metadata

    events: list[Event] = []
    if line is None and os.sep not in model and "/" not in model and model in reg.lines():
        active = reg.active(model)
        if active is not None:
            return model, active, events
    inside = reg.locate(model) if Path(model).is_file() else None
    if inside is not None:
        return inside.line, inside, events
    path = resolve_model(model)
    meta = read_metadata(path)
    line = line or _line_name(path, meta)
    digest = sha256_of(path)
    known = reg.find_by_sha256(line, digest)
    if known is not None:
        return line, known, events
    first = not reg.versions(line)
    version = reg.add_version(line, path, {"parent": None, "origin": "imported", "source": str(path),
                                           "metadata": {k: meta.get(k) for k in ("name", "version", "dataset",
                                                                                 "created", "weights_sha256")}})
    events.append(_emit("imported", line=line, version=version.id, source=str(path)))
    if first:
        reg.activate(line, version.id, reason="first version of the line (imported)")
    return line, version, events


def find_baseline(spec: str | None, parent_meta: dict[str, Any], parent_path: Path) -> Path | None:
    """The U-Net baseline to report beside the models: ``spec`` (name or path), or with ``"auto"`` an installed
    model of architecture ``unet`` trained on the same dataset; None when there is none or ``spec`` is None."""
    from akmamba.infer.models import list_shipped_models, resolve_model

    if spec is None:
        return None
    if spec != "auto":
        return resolve_model(spec)
    dataset = parent_meta.get("dataset")
    for entry in list_shipped_models():
        s = entry.summary or {}
        if entry.error is None and s.get("architecture") == "unet" and dataset and s.get("dataset") == dataset \
                and entry.path.resolve() != parent_path.resolve():
            return entry.path
    return None


def finetune(opts: FinetuneOptions, should_stop: Callable[[], bool] = lambda: False) -> Iterator[Event]:
    """Run a fine-tune; yields events (module docstring). ``should_stop`` is polled between events."""
    import torch

    from akmamba.finetune import budget
    from akmamba.finetune.evaluate import evaluate_checkpoint
    from akmamba.io.readers import read_image
    from akmamba.nn.build import model_config
    from akmamba.nn.checkpoint import load_checkpoint, read_metadata
    from akmamba.train.config import TrainConfig
    from akmamba.train.engine import fit, resolve_device

    t_start = time.perf_counter()
    if opts.threads:
        torch.set_num_threads(opts.threads)
    reg = ModelRegistry(opts.registry)
    yield _emit("stage", stage="reading the corrected cases", elapsed_s=time.perf_counter() - t_start)
    data = load_finetune_folder(opts.data, opts.description)
    line, parent, events = resolve_parent(reg, opts.model, opts.line)
    yield from events
    active = reg.active(line)
    parent_meta = read_metadata(parent.model_path)
    yield _emit("line", line=line, registry=str(reg.root), parent=parent.id,
                active=active.id if active else None, parent_path=str(parent.model_path))
    # a line recorded per image (before case-id patterns) is regrouped into this data's cases first
    regrouped = regroup_split(reg.split_record(line), data.description, data.case_ids)
    previous_split = regrouped.record
    train_ids, held_ids = fixed_split(data.case_ids, previous_split, opts.holdout)
    held_carried = [c for c in held_ids if c in previous_split["heldout"]]
    split_notes = regrouped.notes(data.case_ids)
    device = resolve_device(opts.device)
    defaults = budget.defaults_for(device)
    patch = opts.patch_size or defaults.patch_size
    batch = opts.batch_size or defaults.batch_size
    max_steps = opts.max_steps or defaults.max_steps
    time_budget = opts.time_budget_s or defaults.time_budget_s
    run_dir = reg.new_run_dir(line)
    edit_counts = materialise_corrections(data, run_dir / "edits")
    held_samples = [c.sample for c in data.cases if c.case_id in held_ids]
    baseline = find_baseline(opts.baseline, parent_meta, parent.model_path)
    model, _ = load_checkpoint(parent.model_path)
    in_ch, n_cls = model_config(model)["in_channels"], model_config(model)["num_classes"]
    data_classes = max(c.index for c in data.description.label_table) + 1
    if data_classes != n_cls:
        names = [c.name for c in data.description.label_table]
        raise ConfigError(f"The model {line} {parent.id} predicts {n_cls} classes, but the corrected cases' label "
                          f"table has {data_classes} ({', '.join(names)}). Fine-tune a model made for these labels, "
                          "or correct the cases with the model's label table.", path=str(data.description_path),
                          parameter="label_table", expected=n_cls, got=data_classes)
    first_image = read_image(held_samples[0].image)
    if opts.measured is not None:
        rates = budget.Rates(opts.measured[0], opts.measured[1], 0.0)
    else:
        yield _emit("stage", stage=f"measuring the training speed on {device}: timing one training step of {batch} x "
                    f"{patch[0]}x{patch[1]} patches, then three small forward passes",
                    elapsed_s=time.perf_counter() - t_start)
        image_h, image_w = first_image.spatial_shape[:2]
        rates = yield from _measuring(budget.iter_measure(model, in_ch, n_cls, patch, batch, (image_h, image_w),
                                                          device, opts.amp))
    del model
    evaluations = 2 + (baseline is not None) if active is not None else 1 + (baseline is not None)
    the_plan = budget.plan(rates, batch_size=batch, max_steps=max_steps, time_budget_s=time_budget,
                           heldout_images=len(held_samples), final_evaluations=evaluations)
    labels = [c.name for c in data.description.label_table if c.index > 0]
    yield _emit("plan", line=line, parent=parent.id, active=active.id if active else None, device=str(device),
                amp=opts.amp and device.type == "cuda", cases=len(data.case_ids), images=len(data.cases),
                train_cases=train_ids, heldout_cases=held_ids, heldout_carried=held_carried,
                split_rule=data.description.case_id_regex, split_notes=split_notes,
                split_regrouped=regrouped.to_record() if regrouped.changed else None,
                labels=labels, edit_weight=opts.edit_weight,
                edited_pixels=edit_counts, patch_size=list(patch), batch_size=batch, baseline=str(baseline or ""),
                heldout_images=len(held_samples), evaluations=evaluations, max_steps=max_steps,
                measured=asdict(rates), run_dir=str(run_dir), **the_plan.to_dict())
    if opts.plan_only:
        yield _emit("finished", plan_only=True, elapsed_s=time.perf_counter() - t_start)
        return
    cfg = TrainConfig(
        dataset=str(data.description_path), data_root=str(data.root), out_dir=str(run_dir / "train"),
        model=str(parent_meta.get("model", {}).get("name", "akmamba")), epochs=the_plan.epochs, batch_size=batch,
        lr=opts.lr, patch_size=patch, samples_per_epoch=the_plan.samples_per_epoch, folds=0, val_every=1,
        early_stopping=opts.early_stopping, seed=opts.seed, device=str(device), amp=opts.amp,
        normalisation=str(parent_meta.get("normalisation", "zscore")), augment=opts.augment,
        init_from=str(parent.model_path), max_steps=the_plan.steps, lr_schedule="cosine",
        time_limit_s=max(60.0, 1.5 * the_plan.train_s + the_plan.eval_s), version=f"{line}-candidate",
        parent_version=parent.id, edit_masks=str(run_dir / "edits"), edit_weight=opts.edit_weight,
        val_cases=held_ids)
    final_eval_s = evaluations * len(held_samples) * rates.forward_s * 1.2
    done_event: Event = {}
    yield _emit("stage", stage="starting the trainer (reading the images, building the model)",
                elapsed_s=time.perf_counter() - t_start)
    for event in fit(cfg):
        if event["event"] == "step":
            event["eta_total_s"] = event["eta_s"] + final_eval_s
        if event["event"] == "done":
            done_event = event
        yield event
        if should_stop():
            yield _emit("cancelled", where=event["event"], elapsed_s=time.perf_counter() - t_start,
                        note="nothing was registered; the active model is unchanged")
            return
    candidate_path = run_dir / "train" / "best.safetensors"
    if not candidate_path.is_file():
        raise CheckpointError(f"Training finished without a checkpoint at {str(candidate_path)!r}.",
                              path=str(candidate_path))
    results: dict[str, Any] = {"candidate": evaluate_checkpoint(candidate_path, held_samples, data.description,
                                                                device, opts.amp)}
    if should_stop():
        yield _emit("cancelled", where="evaluation", elapsed_s=time.perf_counter() - t_start,
                    note="nothing was registered; the active model is unchanged")
        return
    if active is not None:
        results["active"] = {**evaluate_checkpoint(active.model_path, held_samples, data.description, device,
                                                   opts.amp), "version": active.id}
    if parent.id != (active.id if active else None):
        results["parent"] = {**evaluate_checkpoint(parent.model_path, held_samples, data.description, device,
                                                   opts.amp), "version": parent.id}
    if baseline is not None:
        try:
            results["baseline"] = evaluate_checkpoint(baseline, held_samples, data.description, device, opts.amp)
        except AkmambaError as exc:
            results["baseline"] = {"path": str(baseline), "error": exc.message}
    yield _emit("evaluation", heldout_cases=held_ids, heldout_images=len(held_samples),
                **{k: _brief(v) for k, v in results.items()})
    if should_stop():
        yield _emit("cancelled", where="evaluation", elapsed_s=time.perf_counter() - t_start,
                    note="nothing was registered; the active model is unchanged")
        return
    rule = PromotionRule(opts.min_gain, opts.force_promote, opts.no_promote)
    decision = decide(results["candidate"]["mean_dice"], results.get("active", {}).get("mean_dice"), rule)
    cand_meta = read_metadata(candidate_path)
    atomic_write_text(run_dir / "evaluation.json", json.dumps(results, indent=1, default=str))
    record = {
        "parent": parent.id, "origin": "finetune", "active_at_start": active.id if active else None,
        "config": {"finetune": {k: v for k, v in asdict(opts).items() if k != "extra"}, "train": cfg.to_dict()},
        "data": {"folder": str(data.root), "sha256": cand_meta.get("data_sha256", {}), "train_cases": train_ids,
                 "heldout_cases": held_ids, "edited_pixels": edit_counts,
                 "split_regrouped": regrouped.to_record() if regrouped.changed else None, "split_notes": split_notes},
        "metrics": results, "gate": decision.to_dict(),
        "heldout": {"cases": held_ids, "images": len(held_samples), "carried_from_earlier_versions": held_carried,
                    "dice_before": decision.active_dice, "dice_after": decision.candidate_dice,
                    "before_version": active.id if active else None},
        "training": {k: done_event.get(k) for k in ("steps", "elapsed_s", "stopped_by", "best_dice",
                                                     "images_per_s", "planned_steps")},
        "plan": {**the_plan.to_dict(), "device": str(device)},
        "elapsed_s": time.perf_counter() - t_start,
    }
    version = reg.add_version(line, candidate_path, record, extra_files={
        "events.jsonl": run_dir / "events.jsonl", "evaluation.json": run_dir / "evaluation.json"})
    # these cases keep their side for every later version (with the regrouped cases of a per-image record)
    reg.add_to_split(line, sorted({*held_ids, *previous_split["heldout"]}),
                     sorted({*train_ids, *previous_split["train"]}),
                     regrouped.to_record() if regrouped.changed else None)
    yield _emit("registered", line=line, version=version.id, path=str(version.model_path), gate=decision.to_dict())
    if decision.promote:
        reg.activate(line, version.id, reason=decision.reason)
        yield _emit("promoted", line=line, version=version.id, previous=active.id if active else None,
                    reason=decision.reason, path=str(version.model_path))
    else:
        yield _emit("kept", line=line, version=version.id, active=active.id if active else None,
                    reason=decision.reason)
    now_active = reg.active(line)
    yield _emit("finished", line=line, version=version.id, promoted=decision.promote,
                active=now_active.id if now_active else None,
                active_path=str(now_active.model_path) if now_active else None,
                elapsed_s=time.perf_counter() - t_start, candidate_dice=decision.candidate_dice,
                active_dice=decision.active_dice, gain=decision.gain, heldout_cases=len(held_ids),
                heldout_images=len(held_samples))


def _measuring(run: Iterator[dict[str, Any]]) -> Generator[Event, None, Any]:
    """Yield a ``measuring`` event per timed piece of :func:`akmamba.finetune.budget.iter_measure`; return its
    Rates."""
    while True:
        try:
            piece = next(run)
        except StopIteration as done:
            return done.value
        yield _emit("measuring", **piece)


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k in ("mean_dice", "per_image", "version", "path", "error", "seconds")}


# ---------------------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``akmamba finetune``."""
    parser.add_argument("--model", required=True, help="registry line, installed model name or checkpoint path")
    parser.add_argument("--data", required=True, help="fine-tuning folder (docs/finetune.md: images/, labels/, "
                        "dataset.json, optional edits/, journals/, before/)")
    parser.add_argument("--description", default=None, help="dataset description (default DATA/dataset.json)")
    parser.add_argument("--registry", default=None, help="registry folder (default: registry/ in the user "
                        "data folder: $AKMAMBA_HOME, else ~/.local/share/akmamba on Linux, ~/Library/Application "
                        "Support/akmamba on macOS, %%LOCALAPPDATA%%\\akmamba on Windows)")
    parser.add_argument("--line", default=None, help="registry line name (default: the model's name)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--edit-weight", type=float, default=5.0, help="loss weight of edited pixels (others 1)")
    parser.add_argument("--holdout", type=float, default=0.2, help="share of cases held out (frozen by case id)")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="minutes for the whole run (default 10 on CPU, 20 on GPU)")
    parser.add_argument("--max-steps", type=int, default=None, help="upper bound on optimiser steps")
    parser.add_argument("--patch-size", type=int, nargs=2, metavar=("H", "W"), default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate (cosine decay)")
    parser.add_argument("--early-stopping", type=int, default=4, help="patience in validations")
    parser.add_argument("--min-gain", type=float, default=0.0,
                        help="promote only if held-out Dice rises by more than this")
    parser.add_argument("--force-promote", action="store_true", help="activate the new version whatever its Dice")
    parser.add_argument("--no-promote", action="store_true", help="register the new version, never activate it")
    parser.add_argument("--baseline", default="auto", help="U-Net baseline to report (name or path; default: an "
                        "installed unet of the same dataset)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_const", const=None)
    parser.add_argument("--plan-only", action="store_true", help="measure and print the plan, do not train")
    parser.add_argument("--measured", type=float, nargs=2, metavar=("STEP_S", "FORWARD_S"), default=None,
                        help="seconds per step and per whole image from an earlier --plan-only (skips measuring)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-amp", dest="amp", action="store_false", default=True)
    parser.add_argument("--no-augment", dest="augment", action="store_false", default=True)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: torch's choice; 1 can be much faster on a busy machine)")
    parser.add_argument("--jsonl", action="store_true", help="one JSON event per line on stdout")
    parser.add_argument("--stop-file", default=None, help="stop (nothing registered) once this file exists")
    parser.add_argument("--stop-on-stdin", action="store_true", help="stop when a line 'stop' arrives on stdin")


def options_from_args(args: argparse.Namespace) -> FinetuneOptions:
    """Parsed flags -> options."""
    return FinetuneOptions(
        model=args.model, data=args.data, description=args.description, registry=args.registry, line=args.line,
        device=args.device, edit_weight=args.edit_weight, holdout=args.holdout,
        time_budget_s=None if args.time_budget is None else args.time_budget * 60.0, max_steps=args.max_steps,
        patch_size=tuple(args.patch_size) if args.patch_size else None, batch_size=args.batch_size, lr=args.lr,
        early_stopping=args.early_stopping, min_gain=args.min_gain, force_promote=args.force_promote,
        no_promote=args.no_promote, baseline=args.baseline, plan_only=args.plan_only, seed=args.seed, amp=args.amp,
        augment=args.augment, threads=args.threads,
        measured=tuple(args.measured) if args.measured else None)


class _StopFlag:
    """Set by a stop file or a ``stop`` line on stdin (read in a daemon thread)."""

    def __init__(self, stop_file: str | None, stdin: bool) -> None:
        self.stop_file = Path(stop_file) if stop_file else None
        self._event = threading.Event()
        if stdin:
            threading.Thread(target=self._watch_stdin, daemon=True).start()

    def _watch_stdin(self) -> None:
        for line in sys.stdin:
            if line.strip().lower() == "stop":
                self._event.set()
                return

    def __call__(self) -> bool:
        if self.stop_file is not None and self.stop_file.exists():
            self._event.set()
        return self._event.is_set()


def _split_words(rule: str | None) -> str:
    return f"cases by the pattern '{rule}'" if rule else "split per image: no case-id pattern in the description"


def _progress(event: Event, stream: Any) -> None:
    kind = event["event"]
    if kind == "stage":
        stream.write(f"{event['stage']}...\n")
    elif kind == "measuring":
        stream.write(f"  {event['what']}: {event['seconds']:.2f} s (measuring {event['done']}/{event['total']}, "
                     f"about {event['eta_s']:.0f} s left)\n")
    elif kind == "plan":
        stream.write(f"fine-tuning {event['line']} from {event['parent']} on {event['device']}: "
                     f"{len(event['train_cases'])} training / {len(event['heldout_cases'])} held-out cases "
                     f"({len(event['heldout_carried'])} fixed by earlier versions; "
                     f"{_split_words(event.get('split_rule'))}); "
                     f"{event['steps']} steps of {event['batch_size']}x{event['patch_size']} "
                     f"({event['step_s']:.2f} s/step measured); estimate {event['estimate_s'] / 60:.1f} min\n")
        for note in event.get("split_notes") or []:
            stream.write(f"  split: {note}\n")
    elif kind == "step":
        eta = event["eta_total_s"]
        stream.write(f"\rstep {event['step']} loss {event['loss']:.4f} ETA {int(eta // 60)}m{int(eta % 60):02d}s   ")
    elif kind == "validation":
        stream.write(f"\nheld-out Dice {event['dice']:.4f} (best {event['best_dice']:.4f})\n")
    elif kind == "evaluation":
        parts = [f"{k} {v['mean_dice']:.4f}" for k, v in event.items() if isinstance(v, dict) and "mean_dice" in v]
        stream.write("held-out mean Dice: " + ", ".join(parts) + "\n")
    elif kind in ("promoted", "kept"):
        stream.write(f"{event['line']} {event['version']} {kind}: {event['reason']}\n")
    elif kind == "cancelled":
        stream.write(f"\ncancelled; {event['note']}\n")
    elif kind == "finished" and not event.get("plan_only"):
        stream.write(f"done in {event['elapsed_s']:.1f} s; active: {event['line']} {event['active']}\n")
    stream.flush()


def run(args: argparse.Namespace) -> int:
    """``akmamba finetune`` with parsed arguments; returns the exit code (0 ok, 1 cancelled, 2 error)."""
    out_file = None
    code = 0
    try:
        opts = options_from_args(args)
        stop = _StopFlag(args.stop_file, args.stop_on_stdin)
        for event in finetune(opts, stop):
            line = json.dumps(event, default=str)
            if event["event"] == "plan":
                out_file = (Path(event["run_dir"]) / "events.jsonl").open("a", encoding="utf-8")
            if out_file is not None:
                out_file.write(line + "\n")
                out_file.flush()
            if event["event"] == "cancelled":
                code = 1
            if args.jsonl:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            else:
                _progress(event, sys.stderr)
    except Exception as exc:  # user-caused errors become a message; bugs keep their traceback
        error = user_error(exc)
        if error is None:
            raise
        if args.jsonl:
            sys.stdout.write(json.dumps({"event": "error", "message": error.message, "type": type(error).__name__,
                                         "time": time.time()}) + "\n")
            sys.stdout.flush()
        sys.stderr.write(f"akmamba finetune: {error.message}\n")
        return 2
    finally:
        if out_file is not None:
            out_file.close()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m akmamba.finetune``."""
    parser = argparse.ArgumentParser(prog="akmamba finetune", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))
