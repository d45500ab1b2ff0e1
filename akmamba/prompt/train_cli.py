"""``akmamba prompt-train``: its options and flags, free of torch (the ``akmamba`` parser is built for every command,
so it must not load torch); the loop is :func:`akmamba.prompt.train.train_prompt`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class PromptTrainConfig:
    """Options of a prompt training run (the CLI flags, one to one)."""

    init: str
    dataset: str
    data_root: str
    out_dir: str
    folds: int = 3
    fold: int = 0
    seed: int = 0
    patch_size: int = 256
    batch_size: int = 4
    lr: float = 1e-4
    max_steps: int = 200
    time_limit_s: float | None = None
    p_no_prompt: float = 0.3
    max_iters: int = 3
    p_box: float = 0.2
    oversample_class: int | None = 2
    oversample_factor: int = 3
    threads: int | None = None
    save_every: int = 25
    guidance_boost: float = 20.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``prompt-train`` flags."""
    d = PromptTrainConfig("", "", "", "")
    parser.add_argument("--init", required=True, help="plain or prompt-aware checkpoint (path or installed name)")
    parser.add_argument("--dataset", required=True, help="dataset description (file or shipped name)")
    parser.add_argument("--data-root", required=True, help="the data set's root folder")
    parser.add_argument("--out", required=True, help="output folder (last.safetensors)")
    for name in ("folds", "fold", "seed", "patch_size", "batch_size", "max_steps", "max_iters", "save_every",
                 "threads"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    for name in ("lr", "time_limit_s", "p_no_prompt", "p_box", "guidance_boost"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(d, name))


def run(args: argparse.Namespace) -> int:
    """``akmamba prompt-train``: JSON lines on stdout; exit 2 with a message on bad input."""
    from akmamba.errors import AkmambaError

    cfg = PromptTrainConfig(init=args.init, dataset=args.dataset, data_root=args.data_root, out_dir=args.out,
                            folds=args.folds, fold=args.fold, seed=args.seed, patch_size=args.patch_size,
                            batch_size=args.batch_size, lr=args.lr, max_steps=args.max_steps,
                            time_limit_s=args.time_limit_s, p_no_prompt=args.p_no_prompt, max_iters=args.max_iters,
                            p_box=args.p_box, threads=args.threads, save_every=args.save_every,
                            guidance_boost=args.guidance_boost)
    from akmamba.prompt.train import train_prompt  # torch and the data stack load only when the command runs

    try:
        for event in train_prompt(cfg):
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()
    except AkmambaError as exc:
        sys.stderr.write(f"akmamba prompt-train: {exc.message}\n")
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m akmamba.prompt.train_cli``."""
    parser = argparse.ArgumentParser(prog="akmamba prompt-train", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
