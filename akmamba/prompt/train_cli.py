"""``akmamba prompt-train``: its options and flags, free of torch (the ``akmamba`` parser is built for every command,
so it must not load torch); the loop is :func:`akmamba.prompt.train.train_prompt`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from akmamba.data.augment import AUGMENTATIONS
from akmamba.errors import ConfigError
from akmamba.train.config import LOSSES, LR_SCHEDULES, OPTIMIZERS, TrainConfig

CLICK_MODES = ("deepedit", "robot")
"""Where error clicks go in training (:class:`akmamba.prompt.simulate.PosNegGuidance`): ``"deepedit"`` (DeepEdit's
random draw) or ``"robot"`` (the evaluation protocol's simulated user)."""

#: Settings a resumed run must keep (the schedule's length, ``max_steps``, too unless the schedule is constant).
RESUME_FIXED = ("init_sha256", "dataset", "folds", "fold", "seed", "patch_size", "batch_size", "lr", "weight_decay",
                "optimizer", "lr_schedule", "loss", "augmentation", "foreground_fraction", "oversample_class",
                "oversample_factor", "p_no_prompt", "max_iters", "p_box", "p_seed", "click_mode", "guidance_boost",
                "guidance_init_scale", "ema_decay")


@dataclass(frozen=True)
class PromptTrainConfig:
    """Options of a prompt training run (the CLI flags, one to one).

    The recipe options mean what they mean for ``akmamba train`` (:class:`akmamba.train.config.TrainConfig`, which
    :meth:`recipe` builds and so validates): ``device``, ``amp`` (bf16 autocast on CUDA), ``augmentation``,
    ``foreground_fraction``, ``num_workers``, ``optimizer``, ``lr_schedule`` (over ``max_steps``), ``loss``,
    ``weight_decay``, ``ema_decay`` (an exponential moving average of the weights, saved as
    ``last_ema.safetensors`` beside ``last.safetensors``; None: none). ``resume`` continues ``out_dir`` from its
    last checkpoint (and starts afresh where it holds none); ``time_limit_s`` stops this session after the step in
    which that many seconds passed, and saves. ``guidance_init_scale``: a plain ``init`` is widened with zero
    guidance weights (0) or random ones of this many times its input weights' spread. ``sim_threads``: threads
    for the simulated prompts' CPU work (None: up to 8 on CUDA, none on the CPU, where the network already uses
    the cores); the weights do not depend on it.
    """

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
    weight_decay: float = 1e-4
    max_steps: int = 200
    time_limit_s: float | None = None
    p_no_prompt: float = 0.3
    max_iters: int = 3
    p_box: float = 0.2
    p_seed: float = 0.0
    click_mode: str = "deepedit"
    oversample_class: int | None = 2
    oversample_factor: int = 3
    threads: int | None = None
    sim_threads: int | None = None
    save_every: int = 25
    guidance_boost: float = 20.0
    guidance_init_scale: float = 0.0
    device: str = "auto"
    amp: bool = True
    augmentation: str = "basic"
    foreground_fraction: float = 0.8
    num_workers: int = 0
    optimizer: str = "adam"
    lr_schedule: str = "constant"
    loss: str = "dice_ce_batch"
    ema_decay: float | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        checks = [
            ("max_steps", self.max_steps >= 1, ">= 1"),
            ("save_every", self.save_every >= 1, ">= 1"),
            ("max_iters", self.max_iters >= 1, ">= 1"),
            ("p_no_prompt", 0 <= self.p_no_prompt <= 1, "0..1"),
            ("p_box", 0 <= self.p_box <= 1, "0..1"),
            ("p_seed", 0 <= self.p_seed <= 1, "0..1"),
            ("click_mode", self.click_mode in CLICK_MODES, " or ".join(CLICK_MODES)),
            ("guidance_boost", self.guidance_boost > 0, "> 0"),
            ("guidance_init_scale", self.guidance_init_scale >= 0, ">= 0"),
            ("threads", self.threads is None or self.threads >= 1, ">= 1 or unset"),
            ("sim_threads", self.sim_threads is None or self.sim_threads >= 0, ">= 0 or unset"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ConfigError(f"prompt-train option {name} must be {expected}; got {getattr(self, name)!r}.",
                                  parameter=name, expected=expected, got=getattr(self, name))

    def recipe(self) -> TrainConfig:
        """The training-recipe part as a :class:`TrainConfig` (validated there: a bad optimiser, schedule, loss,
        augmentation, fraction, fold, ... raises its ConfigError naming the option)."""
        return TrainConfig(dataset=self.dataset, data_root=self.data_root, out_dir=self.out_dir, folds=self.folds,
                           fold=self.fold, seed=self.seed, patch_size=(self.patch_size, self.patch_size),
                           batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay,
                           max_steps=self.max_steps, time_limit_s=self.time_limit_s,
                           oversample_class=self.oversample_class, oversample_factor=self.oversample_factor,
                           device=self.device, amp=self.amp, augmentation=self.augmentation,
                           foreground_fraction=self.foreground_fraction, num_workers=self.num_workers,
                           optimizer=self.optimizer, lr_schedule=self.lr_schedule, loss=self.loss,
                           ema_decay=self.ema_decay)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    def resume_fixed(self) -> tuple[str, ...]:
        """The settings a resume must keep (:data:`RESUME_FIXED`, plus ``max_steps`` under a decaying schedule)."""
        return RESUME_FIXED + (() if self.lr_schedule == "constant" else ("max_steps",))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``prompt-train`` flags."""
    d = PromptTrainConfig("", "", "", "")
    parser.add_argument("--init", required=True, help="plain or prompt-aware checkpoint (path or installed name)")
    parser.add_argument("--dataset", required=True, help="dataset description (file or shipped name)")
    parser.add_argument("--data-root", required=True, help="the data set's root folder")
    parser.add_argument("--out", required=True, help="output folder (last.safetensors, resume state)")
    for name in ("folds", "fold", "seed", "patch_size", "batch_size", "max_steps", "max_iters", "save_every",
                 "threads", "sim_threads", "num_workers", "oversample_class", "oversample_factor"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name))
    for name in ("lr", "weight_decay", "time_limit_s", "p_no_prompt", "p_box", "p_seed", "guidance_boost",
                 "guidance_init_scale",
                 "foreground_fraction", "ema_decay"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(d, name))
    parser.add_argument("--click-mode", choices=CLICK_MODES, default=d.click_mode,
                        help="where error clicks go: deepedit (DeepEdit's random draw, default) or robot (the "
                             "evaluation protocol's user: the interior-most pixel of the largest error region)")
    parser.add_argument("--device", default=d.device, help="auto (CUDA when available), cpu, cuda or cuda:N")
    parser.add_argument("--no-amp", dest="amp", action="store_false", help="no bf16 autocast on CUDA")
    parser.add_argument("--augmentation", choices=AUGMENTATIONS, default=d.augmentation,
                        help="basic (flips, 90-degree turns, intensity jitter) or strong (nnU-Net's, MONAI transforms)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer,
                        help="adam, or sgd (nnU-Net's: Nesterov momentum 0.99; use --lr 0.01 --weight-decay 3e-5)")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                        help="constant, cosine or poly over --max-steps")
    parser.add_argument("--loss", choices=LOSSES, default=d.loss, help="dice_ce or dice_ce_batch (batch Dice)")
    parser.add_argument("--resume", action="store_true",
                        help="continue --out from its last checkpoint (start afresh where it holds none)")


def config_from_args(args: argparse.Namespace) -> PromptTrainConfig:
    """The config of parsed flags (``--out`` is ``out_dir``)."""
    names = {f.name for f in dataclasses.fields(PromptTrainConfig)} - {"out_dir"}
    return PromptTrainConfig(out_dir=args.out, **{n: getattr(args, n) for n in names})


def run(args: argparse.Namespace) -> int:
    """``akmamba prompt-train``: JSON lines on stdout; exit 2 with a message on bad input."""
    from akmamba.errors import AkmambaError

    try:
        cfg = config_from_args(args)
        from akmamba.prompt.train import train_prompt  # torch and the data stack load only when the command runs

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
