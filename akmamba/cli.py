"""The ``akmamba`` command line: ``models``, ``backends``, ``train``, ``predict``, ``evaluate``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from akmamba import __version__


def _cmd_models(args: argparse.Namespace) -> int:
    from akmamba.nn import list_models, model_options

    rows = [{"name": n, "options": model_options(n)} for n in list_models()]
    if args.json:
        print(json.dumps(rows, indent=2, default=list))
        return 0
    print("Architectures (akmamba.nn.build_model):")
    for row in rows:
        opts = ", ".join(f"{k}={v!r}" for k, v in row["options"].items())
        print(f"  {row['name']:<16} {opts}")
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
    p.set_defaults(func=_cmd_models)
    p = sub.add_parser("backends", help="list selective-scan backends and why any is unavailable")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_backends)
    p = sub.add_parser("train", help="train a model (see `akmamba train --help`)")
    from akmamba.train.runner import add_arguments

    add_arguments(p)
    p.set_defaults(func=_cmd_train)
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from akmamba.train.runner import run

    return run(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``akmamba`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
