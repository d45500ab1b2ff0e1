"""nnU-Net v2 as the anchor beside our bladder runs (issue 21): data in, splits, predictions out.

nnU-Net is run on the GPU machine only (shared/gpu/nnunet/README.md); this script holds the glue that must match our
own runs exactly, so that both are scored by `akmamba evaluate` on the same patients:

    python3 experiments/nnunet_anchor.py raw --data BLADDER --out RAW/Dataset501_BladderCrop
    python3 experiments/nnunet_anchor.py splits --raw RAW/Dataset501_BladderCrop --pre PRE/Dataset501_BladderCrop \
        --folds 3 --seed 0
    python3 experiments/nnunet_anchor.py paste --pred FOLD/validation --data BLADDER --out PRED

* ``raw``: the 512 x 512 slices cropped to rows 80:400, columns 96:416 (every label of all 19 cases lies inside,
  README of shared/gpu/nnunet), images ``<case>_<n>_0000.png``, labels ``<case>_<n>.png`` as 0/1/2.
* ``splits``: ``splits_final.json`` with nnU-Net's folds = our patient-level folds (``kfold_by_case``, the same
  seed), so nnU-Net's fold k validates on exactly the cases our fold k does.
* ``paste``: nnU-Net's cropped predictions back into 512 x 512 index maps named like the source slices
  (``<case>-IM<n>.png``, background outside the crop) plus ``model.json``, ready for ``akmamba evaluate``.
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


def main(argv: list[str] | None = None) -> int:
    """Command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("raw")
    r.add_argument("--data", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("splits")
    s.add_argument("--raw", type=Path, required=True)
    s.add_argument("--pre", type=Path, required=True)
    s.add_argument("--folds", type=int, default=3)
    s.add_argument("--seed", type=int, default=0)
    q = sub.add_parser("paste")
    q.add_argument("--pred", type=Path, required=True)
    q.add_argument("--data", type=Path, required=True)
    q.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    if a.cmd == "raw":
        print(f"{make_raw(a.data, a.out)} slices")
    elif a.cmd == "splits":
        for k, sp in enumerate(make_splits(a.raw, a.pre, a.folds, a.seed)):
            print(f"fold {k}: {len(sp['train'])} train, {len(sp['val'])} val slices, val cases "
                  f"{sorted({v.split('_')[0] for v in sp['val']}, key=int)}")
    else:
        print(f"{paste(a.pred, a.data, a.out)} predictions")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
