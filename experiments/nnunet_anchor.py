"""nnU-Net v2 as the anchor beside our runs (issue 21): data in, splits, predictions out.

nnU-Net is run on the GPU machine only (shared/gpu/nnunet/README.md); this script holds the glue that must match our
own runs exactly, so that both are scored by `akmamba evaluate` on the same patients (bladder) or images (DRIVE):

    python3 experiments/nnunet_anchor.py raw --data BLADDER --out RAW/Dataset501_BladderCrop
    python3 experiments/nnunet_anchor.py splits --raw RAW/Dataset501_BladderCrop --pre PRE/Dataset501_BladderCrop \
        --folds 3 --seed 0
    python3 experiments/nnunet_anchor.py paste --pred FOLD/validation --data BLADDER --out PRED

    python3 experiments/nnunet_anchor.py raw --dataset drive --data DRIVE/training --out RAW/Dataset502_DRIVE
    python3 experiments/nnunet_anchor.py splits --dataset drive --data DRIVE/training --raw RAW/Dataset502_DRIVE \
        --pre PRE/Dataset502_DRIVE --folds 5 --seed 0
    python3 experiments/nnunet_anchor.py paste --dataset drive --pred FOLD/validation --data DRIVE/training --out PRED
    akmamba evaluate --pred PRED --gt DRIVE/training --dataset drive --out eval.json

Bladder (``--dataset bladder``, the default):

* ``raw``: the 512 x 512 slices cropped to rows 80:400, columns 96:416 (every label of all 19 cases lies inside,
  README of shared/gpu/nnunet), images ``<case>_<n>_0000.png``, labels ``<case>_<n>.png`` as 0/1/2.
* ``splits``: ``splits_final.json`` with nnU-Net's folds = our patient-level folds (``kfold_by_case``, the same
  seed), so nnU-Net's fold k validates on exactly the cases our fold k does.
* ``paste``: nnU-Net's cropped predictions back into 512 x 512 index maps named like the source slices
  (``<case>-IM<n>.png``, background outside the crop) plus ``model.json``, ready for ``akmamba evaluate``.

DRIVE (``--dataset drive``, ``Dataset502_DRIVE``):

* ``raw``: each fundus image as ONE RGB PNG ``<stem>_0000.png`` (``21_training_0000.png``) with ``channel_names``
  R, G, B: nnU-Net v2's documented exception for RGB natural images (documentation/dataset_format.md: "each input
  channel ... in a separate image (with the sole exception being RGB natural images)"; its ``NaturalImage2DIO``
  reads an ``(H, W, 3)`` PNG as 3 channels, as in its own Dataset120_RoadSegmentation). Labels ``<stem>.png`` hold
  0/1 from ``1st_manual`` (through the shipped ``drive`` description's label table). The FOV mask is NOT given to
  nnU-Net (no ignore label): its default recipe trains on the whole image, as ours does; both are scored inside
  the FOV by ``akmamba evaluate``.
* ``splits``: nnU-Net fold k = ``akmamba train --dataset drive --folds 5 --fold k --seed 0``'s split, computed by
  the trainer's own ``akmamba.train.engine.split_samples`` on the same samples (5 folds of 4 images).
* ``paste``: nnU-Net's validation PNGs (``<stem>.png``, 0/1, full size) checked against the images and written
  as ``<stem>.png`` index maps with ``model.json``, so that ``akmamba evaluate --dataset drive`` pairs
  ``21_training.png`` with ``images/21_training.tif`` and scores it inside ``mask/21_training_mask.gif``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akmamba.data.splits import kfold_by_case
from akmamba.errors import AkmambaError, ConfigError
from akmamba.io.atomic import atomic_write, atomic_write_text

ROWS, COLS = slice(80, 400), slice(96, 416)
NAME = re.compile(r"^(\d+)-IM(\d+)\.png$")
VALUES = {0: 0, 128: 1, 255: 2}


def key_of(file_name: str) -> tuple[str, str]:
    """``'5-IM123.png'`` -> ``('5', '5_123')`` (case id, nnU-Net identifier)."""
    m = NAME.match(file_name)
    if m is None:
        raise ValueError(f"unexpected slice name {file_name!r}")
    return m.group(1), f"{m.group(1)}_{m.group(2)}"


def make_raw(data: Path, out: Path) -> int:
    """Write the cropped nnU-Net raw data set; returns the number of slices."""
    (out / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out / "labelsTr").mkdir(exist_ok=True)
    files = sorted((data / "Images").glob("*.png"))
    for f in files:
        _, key = key_of(f.name)
        img = np.asarray(Image.open(f).convert("L"))[ROWS, COLS]
        lab = np.asarray(Image.open(data / "Labels" / f.name))[ROWS, COLS]
        idx = np.zeros(lab.shape, np.uint8)
        for value, index in VALUES.items():
            idx[lab == value] = index
        Image.fromarray(np.ascontiguousarray(img)).save(out / "imagesTr" / f"{key}_0000.png")
        Image.fromarray(idx).save(out / "labelsTr" / f"{key}.png")
    (out / "dataset.json").write_text(json.dumps({
        "channel_names": {"0": "T2"}, "labels": {"background": 0, "wall": 1, "tumour": 2},
        "numTraining": len(files), "file_ending": ".png"}, indent=1), encoding="utf-8")
    return len(files)


def make_splits(raw: Path, pre: Path, folds: int, seed: int) -> list[dict[str, list[str]]]:
    """Write ``pre/splits_final.json``: nnU-Net fold k = our ``kfold_by_case(..., folds, k, seed)``."""
    keys = sorted(p.name[: -len(".png")] for p in (raw / "labelsTr").glob("*.png"))
    cases = [k.split("_")[0] for k in keys]
    splits = []
    for fold in range(folds):
        train, val = kfold_by_case(keys, cases, folds, fold, seed)
        splits.append({"train": train, "val": val})
    pre.mkdir(parents=True, exist_ok=True)
    (pre / "splits_final.json").write_text(json.dumps(splits, indent=1), encoding="utf-8")
    return splits


def paste(pred: Path, data: Path, out: Path) -> int:
    """nnU-Net's cropped 0/1/2 predictions -> full-size index PNGs named as the source slices; returns the count."""
    out.mkdir(parents=True, exist_ok=True)
    names = {key_of(f.name)[1]: f.name for f in (data / "Images").glob("*.png")}
    n = 0
    for f in sorted(pred.glob("*.png")):
        source = names[f.name[: -len(".png")]]
        full = np.zeros((512, 512), np.uint8)
        full[ROWS, COLS] = np.asarray(Image.open(f))
        Image.fromarray(full).save(out / source)
        n += 1
    table = [{"name": "background", "index": 0, "value_in_file": 0}, {"name": "bladder_wall", "index": 1,
             "value_in_file": 128}, {"name": "tumor", "index": 2, "value_in_file": 255}]
    (out / "model.json").write_text(json.dumps({"name": "nnU-Net v2 2d (anchor)", "label_values": "index",
                                                "label_table": table}, indent=1), encoding="utf-8")
    return n


# ----------------------------------------------------------------------------------------------- DRIVE

DRIVE_CHANNELS = {"0": "R", "1": "G", "2": "B"}
DRIVE_LABELS = {"background": 0, "vessel": 1}


def _drive_samples(data: Path) -> list:
    """The DRIVE samples under ``data`` (the ``training`` folder), as ``akmamba train --dataset drive`` finds them."""
    from akmamba.io.dataset import pair_files, resolve_description

    return pair_files(resolve_description("drive"), data)


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


def _save_png(array: np.ndarray, path: Path) -> None:
    atomic_write(path, lambda tmp: Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG"), suffix=".png")


def _refuse_inside(out: Path, data: Path) -> None:
    out_r, data_r = out.resolve(), data.resolve()
    if out_r == data_r or data_r in out_r.parents:
        raise ConfigError(f"--out {str(out)!r} lies inside the data folder {str(data)!r}; the data is an input and is "
                          "never written to. Give a folder outside it.", path=str(out), parameter="out",
                          expected="a folder outside --data", got=str(out))


def make_raw_drive(data: Path, out: Path) -> int:
    """Write ``out/{imagesTr,labelsTr,dataset.json}`` for nnU-Net from the DRIVE ``training`` folder.

    Images: ``<stem>_0000.png``, ``(584, 565, 3)`` uint8 RGB (one file, three channels). Labels: ``<stem>.png``,
    ``(584, 565)`` uint8 0/1. Returns the number of images.

    Raises:
        ConfigError / VolumeReadError: ``data`` is not a DRIVE training folder (missing images, labels or masks),
            an image is not RGB, or ``out`` lies inside ``data``.
    """
    from akmamba.io.dataset import load_sample, resolve_description

    _refuse_inside(out, data)
    desc = resolve_description("drive")
    samples = _drive_samples(data)
    (out / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out / "labelsTr").mkdir(exist_ok=True)
    for s in samples:
        image, labels, _fov = load_sample(s, desc)
        rgb = np.asarray(image.array)
        if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
            raise ConfigError(f"{str(s.image)!r}: expected an RGB image of uint8 (H, W, 3); found {rgb.dtype} "
                              f"{rgb.shape}. Is --data a DRIVE training folder?", path=str(s.image),
                              expected="(H, W, 3) uint8", got=f"{rgb.dtype} {rgb.shape}")
        _save_png(rgb, out / "imagesTr" / f"{_stem(s.image)}_0000.png")
        _save_png(labels.astype(np.uint8), out / "labelsTr" / f"{_stem(s.image)}.png")
    atomic_write_text(out / "dataset.json", json.dumps({
        "channel_names": DRIVE_CHANNELS, "labels": DRIVE_LABELS, "numTraining": len(samples), "file_ending": ".png",
        "name": "DRIVE training (20 images); FOV not given, scored inside it by akmamba evaluate"}, indent=1))
    return len(samples)


def drive_folds(data: Path, folds: int, seed: int) -> list[dict[str, list[str]]]:
    """Our trainer's DRIVE folds: ``[{"train": [stems], "val": [stems]}]``, fold k from
    :func:`akmamba.train.engine.split_samples` with the config of ``akmamba train --dataset drive --folds F
    --fold k --seed S``."""
    from akmamba.train.config import TrainConfig
    from akmamba.train.engine import split_samples

    samples = _drive_samples(data)
    out = []
    for fold in range(folds):
        cfg = TrainConfig(dataset="drive", data_root=str(data), out_dir="unused", folds=folds, fold=fold, seed=seed)
        train, val = split_samples(cfg, samples)
        out.append({"train": [_stem(s.image) for s in train], "val": [_stem(s.image) for s in val]})
    return out


def make_splits_drive(data: Path, raw: Path, pre: Path, folds: int, seed: int) -> list[dict[str, list[str]]]:
    """Write ``pre/splits_final.json`` = :func:`drive_folds`, after checking that ``raw`` holds exactly those
    images (nnU-Net's identifiers are the image stems).

    Raises:
        ConfigError: ``raw/labelsTr`` and the DRIVE folder hold different images.
    """
    splits = drive_folds(data, folds, seed)
    keys = {p.name[: -len(".png")] for p in (raw / "labelsTr").glob("*.png")}
    ours = {k for sp in splits[:1] for k in sp["train"] + sp["val"]}
    if keys != ours:
        raise ConfigError(f"{str(raw / 'labelsTr')!r} and {str(data)!r} hold different images (only in the raw "
                          f"folder: {sorted(keys - ours)}; only in the data: {sorted(ours - keys)}). Write the raw "
                          "folder again with `raw --dataset drive` from the same data.", path=str(raw),
                          expected=sorted(ours), got=sorted(keys))
    pre.mkdir(parents=True, exist_ok=True)
    atomic_write_text(pre / "splits_final.json", json.dumps(splits, indent=1))
    return splits


def paste_drive(pred: Path, data: Path, out: Path) -> int:
    """nnU-Net's DRIVE predictions (``pred/<stem>.png``, 0/1) -> ``out/<stem>.png`` index maps + ``model.json``.

    Each prediction is checked: its stem names a DRIVE image under ``data``, its shape is that image's (H, W)
    and its values are 0/1. Returns the number written.

    Raises:
        ConfigError: no predictions, an unknown name, another shape, other values, or ``out`` is ``pred``.
    """
    if out.resolve() == pred.resolve():
        raise ConfigError(f"--out {str(out)!r} is the --pred folder; nnU-Net's predictions are an input. Give "
                          "another folder.", path=str(out), parameter="out", expected="a folder other than --pred",
                          got=str(out))
    images = {_stem(s.image): s.image for s in _drive_samples(data)}
    files = sorted(pred.glob("*.png"))
    if not files:
        raise ConfigError(f"No .png predictions in {str(pred)!r}. Give nnU-Net's fold_K/validation folder "
                          "(trained with SKIP_FINAL_VAL=0).", path=str(pred), parameter="pred",
                          expected="<stem>.png files", got=0)
    out.mkdir(parents=True, exist_ok=True)
    for f in files:
        stem = f.name[: -len(".png")]
        if stem not in images:
            raise ConfigError(f"{str(f)!r} names no DRIVE image under {str(data)!r} (expected one of "
                              f"{sorted(images)[:3]}... as <stem>.png).", path=str(f), expected="<stem>.png",
                              got=f.name)
        arr = np.asarray(Image.open(f))
        with Image.open(images[stem]) as im:
            shape = (im.height, im.width)
        if arr.shape != shape or not np.isin(arr, (0, 1)).all():
            raise ConfigError(f"{str(f)!r}: expected a {shape} map of 0/1 (the image's size); found {arr.shape} "
                              f"with values {np.unique(arr)[:5].tolist()}.", path=str(f),
                              expected=f"{shape}, 0/1", got=f"{arr.shape}, {np.unique(arr)[:5].tolist()}")
        _save_png(arr.astype(np.uint8), out / f.name)
    table = [{"name": "background", "index": 0, "value_in_file": 0},
             {"name": "vessel", "index": 1, "value_in_file": 255}]
    atomic_write_text(out / "model.json", json.dumps({"name": "nnU-Net v2 2d (anchor)", "label_values": "index",
                                                      "label_table": table}, indent=1))
    return len(files)


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("raw")
    s = sub.add_parser("splits")
    q = sub.add_parser("paste")
    for parser in (r, s, q):
        parser.add_argument("--dataset", choices=("bladder", "drive"), default="bladder")
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    s.add_argument("--data", type=Path, help="DRIVE: the training folder (the folds are computed from it)")
    s.add_argument("--raw", type=Path, required=True)
    s.add_argument("--pre", type=Path, required=True)
    s.add_argument("--folds", type=int, default=None, help="default: 3 (bladder), 5 (DRIVE)")
    s.add_argument("--seed", type=int, default=0)
    q.add_argument("--pred", type=Path, required=True)
    q.add_argument("--data", type=Path, required=True)
    q.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    drive = a.dataset == "drive"
    try:
        if a.cmd == "raw":
            print(f"{make_raw_drive(a.data, a.out) if drive else make_raw(a.data, a.out)} images")
        elif a.cmd == "splits":
            if drive:
                if a.data is None:
                    p.error("splits --dataset drive needs --data (the DRIVE training folder)")
                splits = make_splits_drive(a.data, a.raw, a.pre, a.folds or 5, a.seed)
            else:
                splits = make_splits(a.raw, a.pre, a.folds or 3, a.seed)
            for k, sp in enumerate(splits):
                val = sp["val"] if drive else sorted({v.split("_")[0] for v in sp["val"]}, key=int)
                print(f"fold {k}: {len(sp['train'])} train, {len(sp['val'])} val images, val "
                      f"{'images' if drive else 'cases'} {val}")
        else:
            print(f"{paste_drive(a.pred, a.data, a.out) if drive else paste(a.pred, a.data, a.out)} predictions")
    except AkmambaError as exc:
        print(f"nnunet_anchor {a.cmd}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
