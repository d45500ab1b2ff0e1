"""``akmamba train``: run :func:`akmamba.train.fit` from a JSON config and/or flags.

Output: a progress line on stderr, or with ``--jsonl`` one JSON event per line on stdout (for the GUI). Events are
also appended to ``OUT_DIR/events.jsonl``. Under ``torchrun`` only rank 0 prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from akmamba.errors import ConfigError, user_error
from akmamba.train.config import TrainConfig

_FLAGS: list[tuple[str, str, type, str]] = [
    ("--dataset", "dataset", str, "shipped description (drive, bladder) or a description JSON"),
    ("--data-root", "data_root", str, "folder the description's paths are relative to"),
    ("--out", "out_dir", str, "run folder"),
    ("--model", "model", str, "architecture (see `akmamba models`)"),
    ("--epochs", "epochs", int, "epochs (1..1000)"),
    ("--batch-size", "batch_size", int, "batch size per process"),
    ("--lr", "lr", float, "learning rate"),
    ("--weight-decay", "weight_decay", float, "weight decay"),
    ("--folds", "folds", int, "k of patient-level k-fold (0: train on everything)"),
    ("--fold", "fold", int, "validation fold"),
    ("--val-every", "val_every", int, "validate every N epochs"),
    ("--early-stopping", "early_stopping", int, "patience in validations"),
    ("--samples-per-epoch", "samples_per_epoch", int, "patches per epoch"),
    ("--seed", "seed", int, "random seed"),
    ("--device", "device", str, "auto, cpu, cuda or cuda:N"),
    ("--max-steps", "max_steps", int, "stop after N optimiser steps"),
    ("--init-from", "init_from", str, "checkpoint to warm-start from"),
    ("--num-workers", "num_workers", int, "DataLoader workers"),
    ("--foreground-fraction", "foreground_fraction", float, "share of patches centred on a labelled pixel"),
    ("--lr-schedule", "lr_schedule", str, "constant (default, the paper), cosine or poly (nnU-Net's)"),
    ("--time-limit", "time_limit_s", float, "stop after the epoch in which this many seconds have passed"),
    ("--loss", "loss", str, "dice_ce (default: Dice per image + cross-entropy) or dice_ce_batch (Dice over the "
     "batch)"),
    ("--oversample-class", "oversample_class", int, "draw training images holding this class index (e.g. 2, "
     "bladder tumour) --oversample-factor times as often"),
    ("--oversample-factor", "oversample_factor", int, "how much more often (1..100; default 1: off)"),
    ("--val-metric", "val_metric", str, "validation Dice that picks the best checkpoint: per_image (default) or "
     "pooled (summed counts; use for rare classes)"),
    ("--normalisation", "normalisation", str, "input normalisation: zscore (default) or clahe (adaptive histogram "
     "equalisation inside the field of view, then z-score); stored in the checkpoint, prediction applies it"),
    ("--optimizer", "optimizer", str, "adam (default, the paper) or sgd (nnU-Net's: Nesterov momentum 0.99)"),
    ("--augmentation", "augmentation", str, "basic (default: flips, 90-degree turns, intensity jitter) or strong "
     "(nnU-Net's spatial and intensity augmentation, MONAI transforms)"),
    ("--time-budget", "time_budget_s", float, "fit the number of steps (and the schedule's end) to this many "
     "seconds of training, measured after warm-up; --epochs is then ignored"),
    ("--ema-decay", "ema_decay", float, "average the weights (EMA) with this decay, e.g. 0.995; validation and the "
     "best checkpoint use the average (default: off)"),
]


def _case_list(text: str) -> list[str]:
    """``"2, 29"`` -> ``["2", "29"]``; an empty list is an error."""
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise argparse.ArgumentTypeError(f"expected comma-separated case ids, e.g. 2,29; got {text!r}")
    return ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the training flags to ``parser``."""
    parser.add_argument("--config", type=Path, help="JSON training config; flags override its values")
    for flag, dest, typ, help_ in _FLAGS:
        parser.add_argument(flag, dest=dest, type=typ, default=None, help=help_)
    parser.add_argument("--patch-size", dest="patch_size", type=int, nargs=2, metavar=("H", "W"), default=None)
    parser.add_argument("--model-options", dest="model_options", type=json.loads, default=None,
                        help='JSON object, e.g. \'{"base_channels": 16}\'')
    parser.add_argument("--no-amp", dest="amp", action="store_false", default=None)
    parser.add_argument("--no-augment", dest="augment", action="store_false", default=None)
    parser.add_argument("--val-cases", dest="val_cases", type=_case_list, default=None, metavar="IDS",
                        help="comma-separated validation case ids (instead of --folds/--fold), e.g. 2,29 to keep "
                             "two ids of one patient on the same side")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="RUN_DIR",
                        help="continue a run from its last completed epoch: `--resume RUN_DIR` reads the run's own "
                             "config.json (flags may still change e.g. --device, --num-workers); plain `--resume` "
                             "continues --out")
    parser.add_argument("--jsonl", action="store_true", help="one JSON event per line on stdout")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Merge ``--config`` with the flags given."""
    data: dict[str, Any] = {}
    source = args.config
    resume = getattr(args, "resume", None)
    if isinstance(resume, str):  # --resume RUN_DIR: the run's own settings
        run_config = Path(resume) / "config.json"
        if not run_config.is_file():
            raise ConfigError(f"--resume {resume!r}: {str(run_config)!r} does not exist, so this is not a run folder "
                              "that `akmamba train` wrote. Give the --out folder of an earlier run.",
                              path=str(run_config), parameter="resume", expected="a run folder with config.json",
                              got=resume)
        source = run_config
    if source is not None:
        data = TrainConfig.from_json(source).to_dict()
    names = [d for _, d, _, _ in _FLAGS] + ["patch_size", "model_options", "amp", "augment", "val_cases"]
    data.update({k: getattr(args, k) for k in names if getattr(args, k, None) is not None})
    if resume is not None:
        data["resume"] = True
        if isinstance(resume, str):
            data["out_dir"] = resume
    return TrainConfig.from_dict(data, source=str(source) if source else None)


def _progress(event: dict[str, Any], stream: TextIO) -> None:
    kind = event["event"]
    if kind == "step":
        eta = event["eta_s"]
        stream.write(f"\repoch {event['epoch'] + 1} step {event['step']} loss {event['loss']:.4f} "
                     f"ETA {int(eta // 60)}m{int(eta % 60):02d}s   ")
    elif kind == "validation":
        stream.write(f"\nvalidation after epoch {event['epoch'] + 1}: Dice {event['dice']:.4f} "
                     f"(best {event['best_dice']:.4f})\n")
    elif kind == "start":
        stream.write(f"training {event['model']} on {event['device']} ({event['train_images']} training images, "
                     f"{event['val_cases']} validation cases, {event['parameters'] / 1e6:.2f} M parameters)\n")
    elif kind == "warning":
        stream.write(f"warning: {event['message']}\n")
    elif kind == "done":
        stream.write(f"\ndone in {event['elapsed_s']:.1f} s; best checkpoint {event['checkpoint']}\n")
    stream.flush()


def run(args: argparse.Namespace) -> int:
    """Train with parsed arguments; returns the exit code."""
    from akmamba.train.engine import fit

    events_file = None
    try:
        cfg = config_from_args(args)
        for event in fit(cfg):
            if events_file is None:
                Path(cfg.out_dir).mkdir(parents=True, exist_ok=True)
                events_file = (Path(cfg.out_dir) / "events.jsonl").open("a", encoding="utf-8")
            line = json.dumps(event, default=str)
            events_file.write(line + "\n")
            events_file.flush()
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
            sys.stdout.write(json.dumps({"event": "error", "message": error.message, "type": type(error).__name__})
                             + "\n")
        sys.stderr.write(f"akmamba train: {error.message}\n")
        return 2
    finally:
        if events_file is not None:
            events_file.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m akmamba.train``."""
    parser = argparse.ArgumentParser(prog="akmamba train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))
