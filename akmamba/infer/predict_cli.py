"""``akmamba predict``: segment image and volume files with a checkpoint or a shipped model.

Every input is read (validated) before the model is loaded. A bad input, or one whose output already exists,
is reported on stderr in one line naming the file, skipped, and makes the exit status 2; the good ones are
written. Outputs in ``--out``:

* 2-D input ``x.tif`` -> ``x.png``: uint8 class indices (0 background, 1.. labels), same height and width (a
  PNG holds no geometry; spacing of a 2-D ``.mha`` input is not kept). ``--label-values file`` writes the values
  of the model's training label files instead (its label table, e.g. 0 / 128 / 255 for the bladder data), so the
  output has the same coding as the user's own labels (:mod:`akmamba.infer.label_values`);
* volume input -> ``x.nii.gz`` (``x.mha`` / ``x.nrrd`` for those inputs) with the input's geometry;
* ``--probs``: ``x_probs.npy``, float32 softmax ``(K, H, W)`` or ``(K, Z, Y, X)``;
* ``model.json``: the model's name, version, SHA-256, checkpoint path, the inference settings (tile side,
  overlap, test-time augmentation ``tta`` and its number of passes), which values the label maps hold
  (``label_values``) and the date, for ``akmamba evaluate``.

``--tta flips`` (4 passes) or ``--tta d4`` (8 passes) averages the softmax probabilities over flipped / rotated
copies of each image (:mod:`akmamba.infer.tta`); one output folder never mixes two models, two TTA modes or two
label-value modes.

Existing outputs are never replaced unless ``--overwrite`` is given, and an output never replaces an input (an
``--out`` equal to the inputs' folder would turn ``x.png`` into its own label map): such an input is skipped with
a message naming the file, even with ``--overwrite`` (:mod:`akmamba.io.outputs`). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from akmamba.annotations.colors import colors_by_value
from akmamba.errors import AkmambaError, user_error

if TYPE_CHECKING:
    import numpy as np

    from akmamba.infer.predictor import Predictor
    from akmamba.io import Image

_VOLUME_OWN_FORMAT = (".mha", ".nrrd")
MODEL_JSON = "model.json"

EXIT_OK, EXIT_FATAL, EXIT_SOME_FAILED = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``predict`` flags to ``parser``."""
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image or volume files (or DICOM folders)")
    parser.add_argument("--model", required=True, help="checkpoint path or installed model name (`akmamba models`)")
    parser.add_argument("--out", required=True, type=Path, help="output folder (created if missing)")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--probs", action="store_true", help="also write <stem>_probs.npy (float32, K x ...)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--roi-size", type=int, default=512, help="tile side in pixels for large images")
    parser.add_argument("--overlap", type=float, default=0.25, help="tile overlap fraction in [0, 1)")
    parser.add_argument("--tta", default="none", metavar="{none,flips,d4}",
                        help="test-time augmentation: none (default), flips (4 passes) or d4 (flips and 90-degree "
                             "rotations, 8 passes); the softmax probabilities are averaged")
    parser.add_argument("--models-dir", type=Path, default=None, help="extra folder searched for model names")
    parser.add_argument("--label-values", default="index", metavar="{index,file}",
                        help="what the label maps hold: index (class indices 0, 1, 2, ...; default) or file (the "
                             "values of the model's training label files, e.g. 0/128/255 for the bladder models)")


@dataclass
class _Job:
    source: Path
    stem: str
    is_volume: bool
    outputs: list[Path]


def output_stem(path: Path) -> str:
    """The name an input's outputs share: file name without its (possibly double) suffix; a folder's name."""
    from akmamba.io.readers import file_suffix

    if path.is_dir():
        return path.name
    return path.name[: len(path.name) - len(file_suffix(path))]


def label_path(path: Path, is_volume: bool, out: Path) -> Path:
    """Where the label map of input ``path`` goes in ``out``."""
    from akmamba.io.readers import file_suffix

    stem = output_stem(path)
    if not is_volume:
        return out / f"{stem}.png"
    suffix = file_suffix(path) if not path.is_dir() else ""
    return out / f"{stem}{suffix if suffix in _VOLUME_OWN_FORMAT else '.nii.gz'}"


def run(args: argparse.Namespace, stderr: TextIO | None = None) -> int:
    """Run the ``predict`` command; returns the exit status (0 all written, 1 nothing done, 2 some failed)."""
    err = stderr or sys.stderr
    try:
        from akmamba.infer.label_values import check_label_values
        from akmamba.infer.tta import check_tta

        check_tta(args.tta)  # before reading every input
        check_label_values(args.label_values)
    except AkmambaError as exc:
        err.write(f"akmamba predict: {_message(exc)}\n")
        return EXIT_FATAL
    jobs, failed = _validate_inputs([Path(p) for p in args.inputs], args, err)
    if not jobs:
        err.write(f"akmamba predict: no input can be predicted ({failed} failed).\n")
        return EXIT_SOME_FAILED
    try:
        from akmamba.infer.predictor import Predictor

        predictor = Predictor.from_checkpoint(args.model, args.device, models_dir=args.models_dir,
                                              roi_size=args.roi_size, overlap=args.overlap, tta=args.tta)
        lut = None  # index -> file value, for --label-values file
        if args.label_values == "file":
            from akmamba.infer.label_values import index_to_file_values

            lut = index_to_file_values(predictor.metadata.get("label_table") or [], predictor.num_classes,
                                            f"Model {str(args.model)!r}")
        args.out.mkdir(parents=True, exist_ok=True)
        _write_model_json(predictor, args.out, args.overwrite, args.label_values)
    except (AkmambaError, OSError) as exc:
        err.write(f"akmamba predict: {_message(exc)}\n")
        return EXIT_FATAL
    info = predictor.model_info
    tta = "" if predictor.tta == "none" else f", test-time augmentation {predictor.tta}"
    err.write(f"model {info['name']} (version {info['version']}, {predictor.architecture}) on {predictor.device}"
              f"{tta}\n")
    written = 0
    for i, job in enumerate(jobs, 1):
        try:
            _predict_one(predictor, job, args, err, f"[{i}/{len(jobs)}] {job.source.name}", lut)
            written += 1
        except (AkmambaError, OSError) as exc:
            err.write(f"\nakmamba predict: {str(job.source)!r}: {_message(exc)}\n")
            failed += 1
    err.write(f"wrote {written} of {len(args.inputs)} inputs to {str(args.out)!r}"
              + (f"; {failed} failed\n" if failed else "\n"))
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _message(exc: BaseException) -> str:
    error = user_error(exc)
    return error.message if error is not None else str(exc)


def _validate_inputs(paths: Sequence[Path], args: argparse.Namespace, err: TextIO) -> tuple[list[_Job], int]:
    from akmamba.io import read_image

    jobs: list[_Job] = []
    taken: dict[Path, Path] = {}
    failed = 0
    sources = [*paths, *([Path(args.model)] if Path(args.model).is_file() else [])]  # what no output may replace
    for path in paths:
        try:
            image = read_image(path)
        except (AkmambaError, OSError) as exc:
            err.write(f"akmamba predict: skipping {str(path)!r}: {_message(exc)}\n")
            failed += 1
            continue
        outputs = [label_path(path, image.is_volume, args.out)]
        if args.probs:
            outputs.append(args.out / f"{output_stem(path)}_probs.npy")
        problem = _output_problem(outputs, taken, args.overwrite, sources)
        if problem:
            err.write(f"akmamba predict: skipping {str(path)!r}: {problem}\n")
            failed += 1
            continue
        taken.update({o: path for o in outputs})
        jobs.append(_Job(path, output_stem(path), image.is_volume, outputs))
    return jobs, failed


def _output_problem(outputs: list[Path], taken: dict[Path, Path], overwrite: bool,
                    sources: Sequence[Path] = ()) -> str | None:
    """Why an input's ``outputs`` cannot be written (None if they can): one is another input's output, one of
    the ``sources`` (inputs, checkpoint; never replaced, even with --overwrite), or exists without --overwrite."""
    from akmamba.io.outputs import check_output

    for out in outputs:
        if out in taken:
            return f"its output {str(out)!r} would also be written for {str(taken[out])!r}; rename one input."
        try:
            check_output(out, sources, overwrite=overwrite)
        except AkmambaError as exc:
            return exc.message
    return None


def _predict_one(predictor: Predictor, job: _Job, args: argparse.Namespace, err: TextIO, title: str,
                 lut: np.ndarray | None = None) -> None:
    """Segment one input and write its outputs; ``lut`` maps class indices to the values written (None: indices)."""
    from akmamba.infer.suitability import input_mismatch
    from akmamba.io import read_image, write_labels

    image = read_image(job.source)
    note = input_mismatch(predictor.model_info["name"], {"in_channels": predictor.in_channels,
                                                         "modality": predictor.metadata.get("modality")},
                          image.channels)
    if note:
        err.write(f"{title}: warning: {note}\n")

    def progress(fraction: float) -> None:
        err.write(f"\r{title}: {100 * fraction:5.1f} %")
        err.flush()

    if job.is_volume:
        result = predictor.predict_volume(image.array, progress, return_probs=args.probs)
        like = image
    else:
        result = predictor.predict(image.array, progress)
        like = _without_geometry(image)
    err.write("\n")
    labels = result.labels if lut is None else lut[result.labels]
    colors = colors_by_value(predictor.metadata.get("label_table") or [], lut)
    write_labels(labels, like=like, path=job.outputs[0], overwrite=args.overwrite, colors=colors)
    if args.probs and result.probs is not None:
        _save_npy(result.probs, job.outputs[1], args.overwrite)


def _without_geometry(image: Image) -> Image:
    """The image with default geometry: a PNG output holds none, and dropping it is intended (no warning)."""
    from akmamba.io import Image

    return Image(array=image.array, kind="2d", path=image.path)


def _save_npy(array: np.ndarray, path: Path, overwrite: bool) -> None:
    import numpy as np

    from akmamba.io.atomic import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array.astype(np.float32, copy=False))

    # overwrite=False publishes with os.link: fails if the file appeared meanwhile, never replaces silently
    atomic_write(path, write, overwrite=overwrite)


def _write_model_json(predictor: Predictor, out: Path, overwrite: bool, label_values: str = "index") -> None:
    """Record the model in ``out/model.json``; refuse to mix two models' (or TTA modes', or label-value modes')
    predictions in one folder."""
    from akmamba import __version__
    from akmamba.errors import ConfigError
    from akmamba.infer.tta import tta_transforms
    from akmamba.reports.report import atomic_write_bytes

    path = out / MODEL_JSON
    info = predictor.model_info
    if path.exists() and not overwrite:
        from akmamba.schema import read_json_object

        old: dict[str, Any] = read_json_object(  # a damaged record is reported, not silently replaced
            path, "Model record of the output folder (--overwrite replaces it)",
            ConfigError, parameter="out")
        if old.get("sha256") not in (None, info["sha256"]):
            raise ConfigError(
                f"{str(out)!r} holds predictions of another model ({old.get('name')!r}, sha256 "
                f"{str(old.get('sha256'))[:12]}...); got {info['name']!r} ({info['sha256'][:12]}...). Choose another "
                "--out, or pass --overwrite.",
                path=str(path), expected=old.get("sha256"), got=info["sha256"],
            )
        old_tta = old.get("tta", "none") if old else predictor.tta  # folders from before TTA existed used none
        if old_tta != predictor.tta:
            raise ConfigError(
                f"{str(out)!r} holds predictions made with test-time augmentation {old_tta!r}; this run uses "
                f"{predictor.tta!r}. Choose another --out, or pass --overwrite.",
                path=str(path), parameter="tta", expected=old_tta, got=predictor.tta,
            )
        old_values = old.get("label_values", "index") if old else label_values
        if old_values != label_values:
            raise ConfigError(
                f"{str(out)!r} holds label maps of --label-values {old_values!r}; this run writes {label_values!r}. "
                "Choose another --out, or pass --overwrite.",
                path=str(path), parameter="label_values", expected=old_values, got=label_values,
            )
    record = {
        **info,
        "architecture": predictor.architecture,
        "checkpoint": str(predictor.checkpoint.resolve()) if predictor.checkpoint else None,
        "weights_sha256": predictor.metadata.get("weights_sha256"),
        "label_table": predictor.metadata.get("label_table") or [],
        "normalisation": predictor.normalisation,
        "roi_size": predictor.roi_size,
        "overlap": predictor.overlap,
        "tta": predictor.tta,
        "tta_passes": len(tta_transforms(predictor.tta)),
        "label_values": label_values,
        "device": str(predictor.device),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "akmamba_version": __version__,
    }
    atomic_write_bytes(path, (json.dumps(record, indent=2) + "\n").encode("utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m akmamba.infer predict ...``: the same as ``akmamba predict``."""
    parser = argparse.ArgumentParser(prog="akmamba predict", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
