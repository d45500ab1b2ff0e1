"""``akmamba prompt-eval``: the interactive-segmentation protocol (NoC) on a folder of images with truth.

Images in ``--images`` pair with truth in ``--gt`` by file stem; or, with ``--dataset`` and ``--data-root``, images,
truth and field-of-view masks pair by the data set's description (DRIVE: ``images/21_training.tif`` with
``1st_manual/21_manual1.gif`` and ``mask/21_training_mask.gif``), as ``akmamba train`` reads them; with a FOV mask
the Dice is scored and the simulated user clicks inside it. Truth values are mapped to class indices through
``--dataset``'s label table when given, else through the model's label table (``value_in_file``), else read as
indices. See docs/prompt-eval.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from akmamba.errors import AkmambaError, ConfigError
from akmamba.prompt.regions import RULES

EXIT_OK, EXIT_FAILED = 0, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``prompt-eval`` flags to ``parser``."""
    parser.add_argument("--model", required=True, help="checkpoint path or installed model name")
    parser.add_argument("--images", type=Path, default=None, help="folder of 2-D images (or --data-root)")
    parser.add_argument("--gt", type=Path, default=None,
                        help="folder of ground-truth label maps (same stems as the images)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="instead of --images/--gt: the data set's root folder, paired by --dataset's "
                             "description (labels and FOV masks; e.g. DRIVE's training/)")
    parser.add_argument("--dataset", default=None, help="dataset description (file or shipped name, e.g. bladder) "
                        "for the truth's label values and the case ids")
    parser.add_argument("--max-clicks", type=int, default=20, help="click limit per image and label (default 20)")
    parser.add_argument("--target", type=float, default=0.85, help="Dice to reach (default 0.85)")
    parser.add_argument("--baseline", choices=["region-grow"], default=None,
                        help="answer clicks by region growing from the model's prompt-free mask (any model)")
    parser.add_argument("--regions", choices=RULES, default="clicked",
                        help="prompt-aware models: keep only the regions the clicks point at (clicked, the viewer's "
                             "default) or the model's whole answer (model)")
    parser.add_argument("--window", default="auto",
                        help="prompt-aware models: the forward pass after the first runs on a window of at least this "
                             "side around the prompts (auto: 256 on the CPU, the whole image on a GPU; none: the "
                             "whole image every time), as in the viewer")
    parser.add_argument("--tolerance", type=float, default=0.3,
                        help="region growing: intensity tolerance in image standard deviations (default 0.3)")
    parser.add_argument("--radius", type=int, default=40, help="region growing: largest reach in pixels (default 40)")
    parser.add_argument("--cases", default=None, help="comma-separated case ids to keep (needs --dataset)")
    parser.add_argument("--with-label", default=None,
                        help="keep only images whose truth holds this label (a model label name), before --every")
    parser.add_argument("--every", type=int, default=1,
                        help="keep every N-th image (after --cases and --with-label), default 1")
    parser.add_argument("--labels", default=None, help="comma-separated label names to evaluate (default all)")
    parser.add_argument("--device", default="cpu", help="auto, cpu, cuda (default cpu)")
    parser.add_argument("--out", required=True, type=Path, help="report file (.json)")


def check_sources(args: argparse.Namespace) -> None:
    """Exactly one way to the data: ``--images`` with ``--gt``, or ``--data-root`` with ``--dataset``.

    Raises:
        ConfigError: naming the missing or extra option.
    """
    folders = args.images is not None or args.gt is not None
    if args.data_root is not None:
        if folders:
            raise ConfigError("Give either --images and --gt, or --data-root (with --dataset), not both.",
                              parameter="data_root", expected="one source of images", got=str(args.data_root))
        if args.dataset is None:
            raise ConfigError("--data-root needs --dataset (its description says where the images, labels and FOV "
                              "masks are under the root).", parameter="dataset", expected="--dataset NAME",
                              got=None)
    elif args.images is None or args.gt is None:
        raise ConfigError("Give --images and --gt (folders whose files pair by stem), or --data-root with --dataset.",
                          parameter="images" if args.images is None else "gt", expected="a folder", got=None)


def _sources(args: argparse.Namespace, desc: Any) -> list[tuple[str, str, Path, Path, Path | None]]:
    """``(name, case, image, truth, fov)`` of every pair, in file-name order."""
    from akmamba.infer.evaluate_cli import find_pairs
    from akmamba.io.dataset import case_id_of, pair_files

    if args.data_root is not None:
        samples = [s for s in pair_files(desc, args.data_root) if s.label is not None]
        if not samples:
            raise ConfigError(f"No image under {str(args.data_root)!r} has a label file by dataset "
                              f"{desc.name!r}'s description.", path=str(args.data_root),
                              expected="images with labels", got=0)
        return [(s.image.stem, s.case_id, s.image, s.label, s.fov) for s in samples]  # type: ignore[misc]
    pairing = find_pairs(args.images, args.gt)
    if not pairing.pairs:
        raise ConfigError(f"No image in {str(args.images)!r} has a truth file of the same stem in {str(args.gt)!r}.",
                          path=str(args.images), expected="pairs by file stem", got=0)
    return [(p.case, case_id_of(desc, p.case, str(p.pred)) if desc is not None else p.case, p.pred, p.gt, None)
            for p in pairing.pairs]


def _items(args: argparse.Namespace, table: list[dict[str, Any]], names: dict[int, str]) -> Iterator[Any]:
    from akmamba.infer.evaluate_cli import _read_mask, to_indices
    from akmamba.infer.label_values import file_values_to_indices
    from akmamba.io import read_image
    from akmamba.io.dataset import remap_labels
    from akmamba.prompt.evaluate import EvalImage
    from akmamba.train.engine import resolve_dataset

    desc = resolve_dataset(args.dataset) if args.dataset else None
    wanted = None if args.cases is None else {c.strip() for c in args.cases.split(",") if c.strip()}
    if wanted is not None and desc is None:
        raise ConfigError("--cases needs --dataset (it says how a file name gives the case id).",
                          parameter="cases", expected="--dataset NAME", got=args.cases)
    if args.every < 1:
        raise ConfigError(f"--every must be >= 1; got {args.every}.", parameter="every", expected=">= 1",
                          got=args.every)
    pairs = _sources(args, desc)
    if wanted is not None:
        missing = sorted(wanted - {p[1] for p in pairs})
        if missing:
            raise ConfigError(f"--cases {missing} have no image in {str(args.data_root or args.images)!r}.",
                              parameter="cases", expected=sorted({p[1] for p in pairs}), got=missing)
        pairs = [p for p in pairs if p[1] in wanted]
    present = None
    if args.with_label is not None:
        index = {v: k for k, v in names.items()}
        if args.with_label not in index:
            raise ConfigError(f"--with-label {args.with_label!r} is not a label of the model "
                              f"({', '.join(names.values())}).", parameter="with_label",
                              expected=list(names.values()), got=args.with_label)
        present = index[args.with_label]
    kept = 0
    for name, case, image_path, gt_path, fov_path in pairs:
        _, raw = _read_mask(gt_path)
        if desc is not None:
            gt = remap_labels(raw, desc.label_table, path=gt_path)
        elif table:
            gt = file_values_to_indices(raw, table, str(gt_path))
        else:
            gt = to_indices(raw, gt_path)
        if present is not None and not (gt == present).any():
            continue
        kept += 1
        if (kept - 1) % args.every:
            continue
        image = np.asarray(read_image(image_path).array)
        fov = None if fov_path is None else np.asarray(_read_mask(fov_path)[1]) > 0
        for what, path, shape in (("Truth", gt_path, gt.shape), ("FOV mask", fov_path, None if fov is None
                                                                  else fov.shape)):
            if shape is not None and shape != image.shape[:2]:
                raise ConfigError(f"{what} {str(path)!r} is {shape}, its image {str(image_path)!r} "
                                  f"{image.shape[:2]}.", path=str(path), expected=image.shape[:2], got=shape)
        yield EvalImage(name, case, image, gt, fov)


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Run ``prompt-eval``; exit status 0, or 2 with a one-paragraph message on bad input."""
    from akmamba.infer.predictor import Predictor
    from akmamba.io.atomic import atomic_write_text
    from akmamba.prompt.evaluate import prompt_eval
    from akmamba.prompt.predictor import PromptPredictor, is_prompt_aware
    from akmamba.prompt.protocol import RegionGrow

    out, err = stdout or sys.stdout, stderr or sys.stderr
    try:
        check_sources(args)
        if args.out.suffix.lower() != ".json":
            raise ConfigError(f"--out {str(args.out)!r} must be a .json file.", parameter="out",
                              expected=".json", got=str(args.out))
        for folder in (args.images, args.gt, args.data_root):
            if folder is not None and args.out.resolve().is_relative_to(folder.resolve()):
                raise ConfigError(f"--out {str(args.out)!r} is inside the input folder {str(folder)!r}; write the "
                                  "report elsewhere.", parameter="out", expected="a file outside the inputs",
                                  got=str(args.out))
        from akmamba.infer.models import resolve_model
        from akmamba.nn import read_metadata

        meta = read_metadata(resolve_model(args.model))
        cls = PromptPredictor if is_prompt_aware(meta) else Predictor
        if args.baseline is None and cls is Predictor:
            raise ConfigError(f"Model {args.model!r} is not prompt-aware; evaluate it with --baseline region-grow.",
                              parameter="model", expected="a prompt-aware model or --baseline", got=args.model)
        options = {"window": args.window} if cls is PromptPredictor else {}
        predictor = cls.from_checkpoint(args.model, device=args.device, **options)
        names = all_names = {k: v for k, v in predictor.label_names.items() if k != 0}
        if args.labels:
            wanted = [n.strip() for n in args.labels.split(",")]
            unknown = [n for n in wanted if n not in names.values()]
            if unknown:
                raise ConfigError(f"--labels {unknown} are not labels of the model ({', '.join(names.values())}).",
                                  parameter="labels", expected=list(names.values()), got=unknown)
            names = {k: v for k, v in names.items() if v in wanted}
        report = prompt_eval(
            predictor, _items(args, list(meta.get("label_table") or []), all_names),
            mode="region-grow" if args.baseline else "prompt", max_clicks=args.max_clicks, target=args.target,
            labels=names, region_grow=RegionGrow(args.tolerance, args.radius), regions=args.regions,
            progress=lambda line: print(line, file=err, flush=True),
        )
    except AkmambaError as exc:
        print(f"akmamba prompt-eval: {exc.message}", file=err)
        return EXIT_FAILED
    folders = {k: None if getattr(args, k) is None else str(getattr(args, k)) for k in ("images", "gt", "data_root")}
    report["command"] = {"model": str(args.model), **folders, "dataset": args.dataset, "cases": args.cases,
                         "every": args.every, "with_label": args.with_label}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    for name, s in report["summary"].items():
        if s["n"]:
            da = s["dice_after"]
            print(f"{name:<16} n={s['n']:<4} NoC@{args.target:.0%} {s['noc']:.2f}  Dice after 0/1/3/5 clicks: "
                  + "/".join(f"{100 * da[k]:.1f}" for k in (0, 1, 3, 5) if k < len(da)), file=out)
        else:
            print(f"{name:<16} n=0 (absent from every truth)", file=out)
    print(f"report: {args.out}", file=out)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m akmamba.prompt.eval_cli``."""
    parser = argparse.ArgumentParser(prog="akmamba prompt-eval", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))
