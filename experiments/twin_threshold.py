"""The correlation threshold of the train/validation twin check (akmamba/data/leakage.py), measured on the bladder
data: for every slice, the best fingerprint correlation with any slice of another case, split into the known twins
(case 29 against case 2) and everything else, also against mirrored and rotated slices; then what the check finds
on a few splits. Then the same best other-case correlation on DRIVE (20 fundus photographs, 20 patients, no twins),
where the black surround makes every image look alike.

    python3 experiments/twin_threshold.py [--data-root ../shared/data/BladderMRI] [--normalisation zscore]
        [--drive-root ../shared/data/DRIVE/training]

Loads the slices as training does (akmamba.data.dataset.load_samples); prints the numbers the module docstring
quotes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akmamba.data.dataset import load_samples
from akmamba.data.leakage import DEFAULT_THRESHOLD, DIHEDRAL, FINGERPRINT_SIZE, check_split, fingerprints
from akmamba.data.splits import kfold_by_case
from akmamba.io import builtin_description, pair_files

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "BladderMRI"
DRIVE_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "DRIVE" / "training"
TWINS = {"2", "29"}


def _stats(name: str, x: np.ndarray) -> None:
    q = np.percentile(x, [0, 1, 50, 99, 100]) if x.size else [np.nan] * 5
    print(f"{name:<36} n={x.size:4d}  min {q[0]:.6f}  p1 {q[1]:.6f}  median {q[2]:.6f}  p99 {q[3]:.6f}  "
          f"max {q[4]:.6f}")


def best_mirrored(fp: np.ndarray, ok: np.ndarray, cases: np.ndarray, exclude: np.ndarray | None = None) -> None:
    """Per non-identity DIHEDRAL transform: each image's best correlation with a transformed image of another case
    (pairs where both sides are in ``exclude`` left out)."""
    size = FINGERPRINT_SIZE
    allowed = (cases[None, :] != cases[:, None]) & ok[:, None] & ok[None, :]
    if exclude is not None:
        allowed &= ~(exclude[:, None] & exclude[None, :])
    for name, transform in DIHEDRAL.items():
        if name == "identity":
            continue
        moved = np.ascontiguousarray(transform(fp.reshape(-1, size, size))).reshape(len(fp), -1)
        _stats(f"  {name}", np.where(allowed, fp @ moved.T, -np.inf).max(1)[ok])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, default=DEFAULT_ROOT)
    p.add_argument("--normalisation", default="zscore")
    p.add_argument("--drive-root", type=Path, default=DRIVE_ROOT)
    args = p.parse_args(argv)
    desc = builtin_description("bladder")
    samples = pair_files(desc, args.data_root)
    t0 = time.perf_counter()
    data = load_samples(samples, desc, 1, args.normalisation)
    print(f"loaded {len(data)} slices of {len({s.case_id for s in data})} cases in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    fp, ok = fingerprints([s.image for s in data])
    print(f"fingerprints in {time.perf_counter() - t0:.2f} s; {int((~ok).sum())} constant slices skipped: "
          f"{sorted({data[i].case_id for i in np.flatnonzero(~ok)})} cases")
    cases = np.array([s.case_id for s in data])
    r = fp @ fp.T
    r[:, ~ok] = -np.inf
    best_other = np.where(cases[None, :] != cases[:, None], r, -np.inf).max(1)
    best_same = np.where((cases[None, :] == cases[:, None]) & ~np.eye(len(data), dtype=bool), r, -np.inf).max(1)
    in_2, in_29 = np.flatnonzero(cases == "2"), np.flatnonzero(cases == "29")
    r_29_2 = r[np.ix_(in_29, in_2)]  # every slice of 29 against every slice of 2
    twin_of_29 = in_2[r_29_2.argmax(1)]  # its twin in case 2
    is_twin = np.zeros(len(data), bool)
    is_twin[in_29] = True
    is_twin[twin_of_29] = True
    print(f"{len(in_29)} slices of case 29, twins in case 2: {len(set(twin_of_29.tolist()))} distinct slices")
    raw_r = [np.corrcoef(np.asarray(data[i].image, np.float64).ravel(), np.asarray(data[j].image, np.float64)
                         .ravel())[0, 1] for i, j in zip(in_29, twin_of_29, strict=True)]
    _stats("twins, full-resolution pixel r", np.array(raw_r))
    _stats("twins (29 -> 2), fingerprint r", r_29_2.max(1))
    other12 = ok & ~np.isin(cases, list(TWINS))
    _stats("the 12 other cases, best other case", best_other[other12])
    _stats("case 2 without a twin, best other", best_other[ok & (cases == "2") & ~is_twin])
    _stats("  ... best in case 29", r[np.ix_(np.flatnonzero((cases == "2") & ~is_twin), in_29)].max(1))
    _stats("all non-twin slices, best other", best_other[ok & ~is_twin])
    _stats("any slice, best same-case other", best_same[ok & np.isfinite(best_same)])
    for thr in (0.99, 0.995, 0.998, DEFAULT_THRESHOLD, 0.9995):
        print(f"threshold {thr}: {int((best_other[ok & ~is_twin] >= thr).sum())} non-twin slices flagged, "
              f"{int((r_29_2.max(1) >= thr).sum())} of {len(in_29)} twins found")
    top = np.argsort(-np.where(ok & ~is_twin, best_other, -np.inf))[:5]
    print("closest non-twin slices:", ", ".join(f"{data[i].name} {best_other[i]:.5f}" for i in top))

    print("mirrored or rotated, best other case (the 2 ~ 29 pairs left out):")
    best_mirrored(fp, ok, cases, np.isin(cases, list(TWINS)))

    def check(name: str, train: list[int], val: list[int]) -> None:
        rep = check_split([data[i].image for i in train], [data[i].image for i in val], cases[train].tolist(),
                          cases[val].tolist(), [data[i].name for i in train], [data[i].name for i in val])
        print(f"{name}: {rep.pairs} pairs, {rep.val_images} validation images, case pairs {rep.case_pairs}, "
              f"{rep.seconds:.2f} s")

    idx = np.arange(len(data))
    check("val ['2'], train the rest", idx[cases != "2"].tolist(), idx[cases == "2"].tolist())
    check("val ['2'], train ['29']", idx[cases == "29"].tolist(), idx[cases == "2"].tolist())
    for fold in range(3):
        tr, va = kfold_by_case(idx.tolist(), cases.tolist(), 3, fold, seed=0)
        check(f"3 folds, seed 0, fold {fold}", tr, va)
    if args.drive_root.is_dir():
        drive = builtin_description("drive")
        d = load_samples(pair_files(drive, args.drive_root), drive, 3, args.normalisation)
        fp, ok = fingerprints([s.image for s in d])
        cases = np.array([s.case_id for s in d])
        r = np.where(cases[None, :] != cases[:, None], fp @ fp.T, -np.inf)
        _stats(f"DRIVE ({len(d)} images), best other case", r.max(1)[ok])
        print("DRIVE, mirrored or rotated, best other case:")
        best_mirrored(fp, ok, cases)


if __name__ == "__main__":
    main()
