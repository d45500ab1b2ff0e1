"""``akmamba versions``: list, show, compare, activate, roll back and check the versions of the model registry."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from akmamba.errors import AkmambaError
from akmamba.finetune.registry import ModelRegistry, Version, heldout_score


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sub-commands of ``akmamba versions``."""
    parser.add_argument("--registry", default=None, help="registry folder (default: registry/ in the user "
                        "data folder: $AKMAMBA_HOME, else ~/.local/share/akmamba on Linux, ~/Library/Application "
                        "Support/akmamba on macOS, %%LOCALAPPDATA%%\\akmamba on Windows)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="lines, or the versions of one line with their held-out Dice")
    p.add_argument("line", nargs="?")
    p = sub.add_parser("show", help="one version's record (version.json)")
    p.add_argument("line")
    p.add_argument("version")
    p = sub.add_parser("activate", help="make a version the active one")
    p.add_argument("line")
    p.add_argument("version")
    p = sub.add_parser("rollback", help="re-activate the version that was active before")
    p.add_argument("line")
    p = sub.add_parser("path", help="print the checkpoint path of the active (or a given) version")
    p.add_argument("line")
    p.add_argument("version", nargs="?")
    p = sub.add_parser("check", help="verify the registry (complete versions, checksums, active pointer)")
    p.add_argument("line", nargs="?")
    p = sub.add_parser("gc", help="remove staging folders left by killed runs")
    p.add_argument("line")


def version_row(v: Version, active_id: str | None, versions: Sequence[Version] = ()) -> dict[str, Any]:
    """A table row for one version; with the line's ``versions``, a version scored only by a later fine-tune (an
    imported base model) gets that held-out Dice too (:func:`akmamba.finetune.registry.heldout_score`), and
    ``heldout_measured_in`` names the version whose run measured it (None: never measured)."""
    r = v.record
    gate = r.get("gate") or {}
    score = heldout_score(versions or [v], v.id)
    return {"version": v.id, "active": v.id == active_id, "parent": r.get("parent"), "origin": r.get("origin"),
            "created": r.get("created"), "heldout_dice": score.mean_dice if score else None,
            "heldout_measured_in": score.measured_in if score else None, "active_dice_then": gate.get("active_dice"),
            "gain": gate.get("gain"), "gate": None if not gate else ("passed" if gate.get("promote") else "failed"),
            "heldout_cases": len((r.get("data") or {}).get("heldout_cases") or []), "path": str(v.model_path)}


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def _fmt_dice(row: dict[str, Any]) -> str:
    """The held-out Dice cell: the score (``"0.8123 (v2)"`` when measured by v2's fine-tune), or "not measured"."""
    if row["heldout_dice"] is None:
        return "not measured"
    by = row["heldout_measured_in"]
    return _fmt(row["heldout_dice"]) + (f" ({by})" if by != row["version"] else "")


def run(args: argparse.Namespace) -> int:
    """Run one ``akmamba versions`` action; returns the exit code."""
    reg = ModelRegistry(args.registry)
    try:
        return _run(reg, args)
    except AkmambaError as exc:
        print(f"akmamba versions: {exc}")
        return 2


def _run(reg: ModelRegistry, args: argparse.Namespace) -> int:
    if args.action == "list" and not args.line:
        rows = [{"line": name, "versions": len(reg.versions(name)),
                 "active": (reg.active_record(name) or {}).get("version")} for name in reg.lines()]
        if args.json:
            print(json.dumps(rows, indent=1))
        elif not rows:
            print(f"No model versions in {reg.root} yet (akmamba finetune creates them).")
        else:
            for row in rows:
                print(f"{row['line']:<28} {row['versions']} version(s), active {row['active']}")
        return 0
    if args.action == "list":
        active = reg.active_record(args.line).get("version")
        versions = reg.versions(args.line)
        rows = [version_row(v, active, versions) for v in versions]
        if args.json:
            print(json.dumps(rows, indent=1))
            return 0
        print(f"{'':2}{'version':<8} {'parent':<7} {'origin':<9} {'created':<26} {'held-out Dice':>13} "
              f"{'gain':>8} gate")
        for r in rows:
            print(f"{'*' if r['active'] else ' ':2}{r['version']:<8} {_fmt(r['parent']):<7} {_fmt(r['origin']):<9} "
                  f"{_fmt(r['created']):<26} {_fmt_dice(r):>13} {_fmt(r['gain']):>8} {_fmt(r['gate'])}")
        if any(r["heldout_measured_in"] not in (None, r["version"]) for r in rows):
            print("held-out Dice (vN): measured during the fine-tune that made vN (the model it started from)")
        return 0
    if args.action == "show":
        print(json.dumps(reg.version(args.line, args.version).record, indent=1, default=str))
        return 0
    if args.action == "activate":
        v = reg.activate(args.line, args.version, reason="activated by hand")
        print(f"{args.line}: {v.id} is active ({v.model_path})")
        return 0
    if args.action == "rollback":
        v = reg.rollback(args.line)
        print(f"{args.line}: rolled back; {v.id} is active ({v.model_path})")
        return 0
    if args.action == "path":
        chosen = reg.version(args.line, args.version) if args.version else reg.active(args.line)
        if chosen is None:
            print(f"akmamba versions: line {args.line!r} has no active version.")
            return 2
        print(chosen.model_path)
        return 0
    if args.action == "check":
        problems = reg.check(args.line)
        for p in problems:
            print(p)
        if not problems:
            print(f"registry {reg.root}: consistent")
        return 1 if problems else 0
    if args.action == "gc":
        removed = reg.gc(args.line)
        print(f"removed {len(removed)} staging folder(s)")
        return 0
    raise AssertionError(args.action)  # argparse restricts the choices
