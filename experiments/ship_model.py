"""Make a shipped model (akmamba/resources/models/NAME.safetensors) from an all-data training checkpoint.

    python3 experiments/ship_model.py --checkpoint RUNS/r4-bladder-akmamba-combo-ema-long-all.safetensors \
        --name akmamba-bladder --folds r4-bladder-akmamba-combo-ema-long-final --status "EXPERIMENTAL: ..." \
        --recipe "..." --out akmamba/resources/models/akmamba-bladder.safetensors

The validation figures of the model card are not typed in: they are the Dice of every fold run ``<--folds>-f<k>`` in
experiments/results (the ``akmamba evaluate`` reports collected by summarise.py), pooled over the fold's validation
images or, with ``--kind per_image_mean``, their per-image mean (DRIVE's convention), mean and sample sd over the
folds, per label and, with several labels, their mean. With ``--anchor``, the card also holds the fold runs' paired
per-case Dice against nnU-Net's on the same folds (experiments/anchor_table.py ``paired``). The weights, the
training config, the data hashes and the label table are taken over from the checkpoint unchanged; the name, the
model card and the validation figures are added (a shipped file given as the checkpoint keeps its card's
``trained_as``). The file is written atomically (akmamba.nn.save_checkpoint) and read back: the weights' SHA-256
must match.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akmamba.nn.checkpoint import load_checkpoint, read_metadata, save_checkpoint, weights_sha256

RESULTS = Path(__file__).resolve().parent / "results"


KINDS = ("pooled", "per_image_mean")


def fold_validation(prefix: str, results: Path = RESULTS, kind: str = "pooled") -> dict[str, Any]:
    """Dice per label (``kind``: pooled or per-image mean) over the fold runs ``<prefix>-f<k>``:
    {label: {dice_mean, dice_sd, folds, kind, runs}}; with several labels also ``mean_over_labels``.

    Raises:
        FileNotFoundError: no fold record with that prefix, or a fold without an evaluation summary.
    """
    files = sorted(results.glob(f"{prefix}-f[0-9]*.json"))
    if not files:
        raise FileNotFoundError(f"no fold records {prefix}-f*.json in {results}; run summarise.py --collect first")
    per_label: dict[str, list[float]] = {}
    for f in files:
        summary = json.loads(f.read_text(encoding="utf-8")).get("summary")
        if not summary:
            raise FileNotFoundError(f"{f} has no evaluation summary (the fold's evaluation did not finish)")
        dices = {label: s[kind]["dice"] for label, s in summary.items()
                 if label != "mean_over_labels" and isinstance(s, dict) and kind in s}
        for label, d in dices.items():
            per_label.setdefault(label, []).append(d)
        if len(dices) > 1:
            per_label.setdefault("mean_over_labels", []).append(statistics.fmean(dices.values()))
    return {label: {"dice_mean": statistics.fmean(v), "dice_sd": statistics.stdev(v) if len(v) > 1 else 0.0,
                    "folds": len(v), "kind": kind, "runs": [f.stem for f in files]}
            for label, v in per_label.items()}


def training_run(checkpoint: Path) -> str:
    """The training run a checkpoint came from: its folder's name (``RUN/best.safetensors``), or the file's stem where
    ``experiments/device.sh collect`` renamed it to ``RUN.safetensors``."""
    return checkpoint.parent.name if checkpoint.stem in ("best", "last", "last_ema") else checkpoint.stem


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, type=Path, help="all-data training checkpoint")
    p.add_argument("--name", required=True, help="shipped name, e.g. akmamba-bladder")
    p.add_argument("--folds", required=True, help="run-name prefix of the fold runs of the same recipe")
    p.add_argument("--data", required=True, help="model card: the training data")
    p.add_argument("--recipe", required=True, help="model card: the recipe, in words")
    p.add_argument("--status", required=True, help="model card: limits (what it must not be used for)")
    p.add_argument("--kind", choices=KINDS, default="pooled",
                   help="the card's Dice: pooled over each fold's validation images (default; the bladder's) or "
                        "their per-image mean (DRIVE's)")
    p.add_argument("--anchor", help="the card's nnU-Net comparison: the fold runs' pattern in experiments/"
                                    "anchor_table.py ROWS, e.g. 'r4-bladder-akmamba-combo-ema-long-final-f{k}.json'")
    p.add_argument("--anchor-dataset", choices=("bladder", "drive"), default="bladder",
                   help="which table of experiments/anchor_table.py --anchor names a row of")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    if args.out.resolve() == args.checkpoint.resolve():
        p.error(f"--out {args.out} is the --checkpoint: write elsewhere, read it, then replace the file")

    model, meta = load_checkpoint(args.checkpoint)
    if meta.get("val_cases"):
        p.error(f"{args.checkpoint} was validated on cases {meta['val_cases']}: ship a model trained on all data")
    card = {"data": args.data, "recipe": args.recipe, "limits": args.status,
            "intended_use": "research and annotation assistance; every mask must be reviewed by a qualified reader",
            "docs": "docs/RESULTS.md, docs/models.md",
            "validation": {"how": "same recipe, k-fold by case on the development data (docs/RESULTS.md); "
                                  "not a test set", **fold_validation(args.folds, kind=args.kind)},
            "trained_as": (meta.get("model_card") or {}).get("trained_as") or training_run(args.checkpoint)}
    if args.anchor:  # computed from the records (experiments/anchor_table.py), not typed in
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from anchor_table import paired

        try:
            card["anchor"] = paired(args.anchor, dataset=args.anchor_dataset)
        except (KeyError, FileNotFoundError) as exc:
            p.error(f"--anchor {args.anchor}: {exc}")
    keep = {k: v for k, v in meta.items() if k not in ("model", "weights_sha256", "format_version", "akmamba_version")}
    save_checkpoint(model, args.out, metadata={**keep, "name": args.name, "model_card": card})
    _back, back_meta = load_checkpoint(args.out)
    if back_meta["weights_sha256"] != weights_sha256(model.state_dict()) or back_meta["name"] != args.name:
        raise SystemExit(f"{args.out}: read-back mismatch")
    print(json.dumps({"out": str(args.out), "bytes": args.out.stat().st_size, "name": read_metadata(args.out)["name"],
                      "validation": {k: v for k, v in card["validation"].items() if k != "how"}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
