"""The ``akmamba`` command line: ``models``, ``backends``, ``train``, ``predict``, ``evaluate``, ``finetune``,
``versions``, ``prompt-eval``, ``prompt-train``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from akmamba import __version__


def _cmd_models(args: argparse.Namespace) -> int:
    from akmamba.infer.models import default_model_dirs, list_shipped_models
    from akmamba.nn import list_models, model_options

    if args.models_dir is not None and not args.models_dir.is_dir():
        from akmamba.errors import ConfigError
        from akmamba.io.validate import path_problem

        problem = path_problem(args.models_dir) or "is a file, not a folder"
        raise ConfigError(f"--models-dir {str(args.models_dir)!r} {problem}; a folder of .safetensors files is "
                          "expected. To fix: give the folder that holds the models.", path=str(args.models_dir),
                          parameter="models_dir", expected="a folder", got=problem)

    rows: list[dict[str, Any]] = [
        {"name": n, "kind": "architecture", "options": model_options(n)} for n in list_models()
    ]
    shipped = list_shipped_models(args.models_dir)
    if args.json:
        rows += [{"name": e.name, "kind": "installed", "path": str(e.path), **e.summary,
                  **({"error": e.error} if e.error else {})} for e in shipped]
        print(json.dumps(rows, indent=2, default=list))
        return 0
    print("Architectures (akmamba.nn.build_model):")
    for row in rows:
        opts = ", ".join(f"{k}={v!r}" for k, v in row["options"].items())
        print(f"  {row['name']:<16} {opts}")
    print()
    if not shipped:
        where = ", ".join(str(d) for d in default_model_dirs(args.models_dir))
        print(f"Installed models: none. No trained model is installed yet (searched {where}).")
        print("  Use a checkpoint path with `akmamba predict --model PATH`, or copy a .safetensors file there.")
        return 0
    print("Installed models (use the name with `akmamba predict --model NAME`):")
    for e in shipped:
        if e.error:
            print(f"  {e.name:<24} unreadable: {e.error}")
            continue
        s = e.summary
        labels = ", ".join(str(n) for n in s.get("labels") or []) or "?"
        print(f"  {e.name:<24} {s.get('architecture')}, version {s.get('version') or '?'}, labels: {labels}, "
              f"{s.get('size_mb')} MB  ({e.path})")
        for key in ("validation", "vs_nnunet", "limits"):
            if s.get(key):
                print(f"  {'':<24} {key}: {s[key]}")
    return 0


def _cmd_backends(args: argparse.Namespace) -> int:
    from akmamba.ops import available_backends

    infos = available_backends()
    if args.json:
        print(json.dumps([{"name": b.name, "available": b.available, "reason": b.reason} for b in infos], indent=2))
        return 0
    print("Selective-scan backends (akmamba.ops.selective_scan):")
    for b in infos:
        state = "available" if b.available else "unavailable"
        print(f"  {b.name:<10} {state:<12} {b.reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``akmamba`` command."""
    parser = argparse.ArgumentParser(prog="akmamba", description="Akmamba-Net segmentation, headless.")
    parser.add_argument("--version", action="version", version=f"akmamba {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("models", help="list the registered network architectures and their options")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--models-dir", type=Path, default=None, help="extra folder searched for installed models")
    p.set_defaults(func=_cmd_models)
    p = sub.add_parser("backends", help="list selective-scan backends and why any is unavailable")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_backends)
    p = sub.add_parser("train", help="train a model (see `akmamba train --help`)")
    from akmamba.train.runner import add_arguments

    add_arguments(p)
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("predict", help="segment images/volumes with a checkpoint or installed model")
    from akmamba.infer import predict_cli

    predict_cli.add_arguments(p)
    p.set_defaults(func=_cmd_predict)
    p = sub.add_parser("evaluate", help="compare predicted label maps with ground truth; write reports")
    from akmamba.infer import evaluate_cli

    evaluate_cli.add_arguments(p)
    p.set_defaults(func=_cmd_evaluate)
    p = sub.add_parser("finetune", help="fine-tune on corrected cases into a new registry version (docs/finetune.md)")
    from akmamba.finetune import runner as finetune_runner

    finetune_runner.add_arguments(p)
    p.set_defaults(func=_cmd_finetune)
    p = sub.add_parser("prompt-eval", help="clicks-to-target protocol (NoC) for prompt-aware models and a baseline")
    from akmamba.prompt import eval_cli

    eval_cli.add_arguments(p)
    p.set_defaults(func=_cmd_prompt_eval)
    p = sub.add_parser("prompt-train", help="train a prompt-aware model with simulated clicks (from a plain one)")
    from akmamba.prompt import train_cli as prompt_train

    prompt_train.add_arguments(p)
    p.set_defaults(func=_cmd_prompt_train)
    p = sub.add_parser("versions", help="list, compare, activate or roll back model versions of the registry")
    from akmamba.finetune import versions_cli

    versions_cli.add_arguments(p)
    p.set_defaults(func=_cmd_versions)
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from akmamba.train.runner import run

    return run(args)


def _cmd_predict(args: argparse.Namespace) -> int:
    from akmamba.infer.predict_cli import run

    return run(args)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from akmamba.infer.evaluate_cli import run

    return run(args)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from akmamba.finetune.runner import run

    return run(args)


def _cmd_prompt_eval(args: argparse.Namespace) -> int:
    from akmamba.prompt.eval_cli import run

    return run(args)


def _cmd_prompt_train(args: argparse.Namespace) -> int:
    from akmamba.prompt.train_cli import run

    return run(args)


def _cmd_versions(args: argparse.Namespace) -> int:
    from akmamba.finetune.versions_cli import run

    return run(args)


#: Exit status of a command stopped by a user-caused problem (bad input, unwritable output, ...).
EXIT_USER_ERROR = 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``akmamba`` console script.

    The one place that turns what a user can cause into a message instead of a traceback: an
    :class:`~akmamba.errors.AkmambaError`, an ``OSError`` (permissions, read-only or full disk, a path of the
    wrong kind) or a ``MemoryError`` raised by any command is printed as ``akmamba COMMAND: message`` (naming the
    file, the reason and what to do) and ends the command with exit status 2. Anything else is a bug and keeps its
    traceback.
    """
    from akmamba.errors import user_error

    for stream in (sys.stdout, sys.stderr):  # a file name that is not UTF-8 must not crash a print
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        sys.stderr.write(f"\nakmamba {args.command}: interrupted.\n")
        return 130
    except Exception as exc:  # only user-caused errors become messages
        error = user_error(exc, "access")
        if error is None:
            raise
        sys.stderr.write(f"akmamba {args.command}: {error.message}\n")
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
