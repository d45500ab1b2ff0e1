"""Train/validation leakage check: find validation images that have a near-identical twin in the training set.

Splits are by case id (:func:`akmamba.data.splits.kfold_by_case`), which only protects validation when a case id
is a patient. Two case ids holding the same scan (in the bladder data, cases 2 and 29: 65 slices of case 29 have a
twin in case 2, pixel values correlating at r > 0.9999 after an offset of ~14 grey levels) inflate validation scores
silently when they fall on opposite sides of a split. :func:`check_split` finds such pairs from the images already
in memory (no file is read again) and :class:`LeakageReport` says what it found and what to do.

How: each image becomes a fingerprint (:func:`fingerprints`): the mean over channels, area-averaged to
``32 x 32``, minus its mean, divided by its norm, so that the dot product of two fingerprints is the Pearson
correlation of the two downsampled images (blind to brightness offsets and contrast scaling, and to pixel noise
that the area averaging smooths away). One matrix product of validation against training fingerprints, in chunks
of validation rows, gives every correlation; pairs at or above ``threshold`` are twins. Constant images (all-zero
slices, std 0) have no fingerprint and never match. Mirrored and rotated copies (the eight flips and 90-degree
rotations, :data:`DIHEDRAL`) are found too: area averaging commutes with them (its bins are symmetric under
reversal and transposition), so the fingerprint of a flipped or rotated image is the flipped or rotated
fingerprint grid, and the check costs eight matrix products instead of one, not eight fingerprint passes. Cropped
or resampled copies are not found.

Why the default threshold 0.999, measured on the bladder data (870 slices of 14 cases, 512 x 512 grey PNGs,
loaded and z-score normalised as training loads them, 32 x 32 fingerprints; for each slice, the best correlation
with a slice of another case; ``python3 experiments/twin_threshold.py``):

- twins, each of the 65 slices of case 29 against its twin in case 2: min 0.999999 (full-resolution pixel
  correlation 0.99994 to 0.99997);
- no twin, the 705 slices of the 12 other cases: median 0.724, 99th percentile 0.821, max 0.823;
- no twin, the 35 slices of case 2 outside the shared range: median 0.866, max 0.9965 (2-IM115 and 2-IM181, the
  slices just outside it, against the neighbouring end slice of case 29);
- different slices of one scan, each slice against the closest other slice of its own case: min 0.982, median
  0.9963, max 0.9983.

On DRIVE (20 fundus photographs of 20 patients, 584 x 565 RGB), where the black surround makes every image look
alike, the best correlation with another patient's image is median 0.985, max 0.9893 (0.9912 with ``clahe``).

Mirrored or rotated, the best correlation with another case's image stays far lower: at most 0.796 (bladder,
mirrored left-right; 0.663 up-down, 0.452 transposed) and 0.982 (DRIVE, mirrored left-right, where a left eye
resembles a mirrored right eye). So matching the eight symmetries flags no pair of different images on either
data set.

So 0.999 lies above every pair of different images measured, even neighbouring slices of one scan and fundus
photographs of different eyes, and below every twin: it flags copies of an image, not look-alikes (0.99 would flag a
pair of DRIVE patients under ``clahe`` and the two bladder neighbours above). With ``clahe`` (the script's
``--normalisation clahe``) 62 of the 65 bladder twins stay above 0.999 (min 0.9957), which still names the case
pair; the closest bladder non-twin is then 0.9959. Noise: fresh pixel noise of standard deviation ``s`` (relative to
the image's) lowers a twin's correlation by about ``s**2 / (2 k)``, ``k`` = pixels per fingerprint bin, so at 0.999
a 64 x 64 image (k = 4) tolerates ``s`` up to ~9 % and a 512 x 512 one (k = 256) far more; re-acquired scans (new
noise, new position) are not twins. No bladder slice is constant after loading; constant images are handled anyway
(tests/data/test_leakage.py). Two near-blank images (a small blob on a constant background at the same place) would
match.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Side of the square fingerprint grid (``FINGERPRINT_SIZE ** 2`` values per image).
FINGERPRINT_SIZE = 32
#: Default correlation at or above which a (training, validation) pair is a twin; see the module docstring.
DEFAULT_THRESHOLD = 0.999
_MIN_STD = 1e-6  # relative to the image's own scale: below it a fingerprint counts as constant
#: The eight flips and 90-degree rotations of a ``(..., size, size)`` fingerprint grid, identity first. A pair
#: matched under transform ``f`` is a validation image ``v`` and a training image ``t`` with ``f(v) ~ t``.
DIHEDRAL: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda g: g,
    "mirrored left-right": lambda g: g[..., ::-1],
    "mirrored up-down": lambda g: g[..., ::-1, :],
    "rotated 180": lambda g: g[..., ::-1, ::-1],
    "transposed": lambda g: np.swapaxes(g, -1, -2),
    "rotated 90": lambda g: np.rot90(g, 1, axes=(-2, -1)),
    "rotated 270": lambda g: np.rot90(g, -1, axes=(-2, -1)),
    "anti-transposed": lambda g: np.rot90(g, 1, axes=(-2, -1))[..., ::-1, :],
}


def area_average(image: np.ndarray, size: int = FINGERPRINT_SIZE) -> np.ndarray:
    """Area-average ``(H, W)`` down to ``(size, size)`` float64, bin ``i`` covering rows ``floor(i H / size)`` to
    ``ceil((i + 1) H / size)`` (and likewise columns): ``torch.nn.functional.adaptive_avg_pool2d``'s bins, in
    numpy (single-threaded, so it does not fight the training process's threads). Sizes below ``size`` repeat
    pixels."""
    h, w = image.shape
    if h % size == 0 and w % size == 0:
        return image.reshape(size, h // size, size, w // size).mean(axis=(1, 3), dtype=np.float64)
    out = np.asarray(image, np.float64)
    for axis, n in ((0, h), (1, w)):
        start = (np.arange(size) * n) // size
        stop = -((-(np.arange(size) + 1) * n) // size)
        cs = np.cumsum(out, axis=axis)
        cs = np.concatenate([np.zeros_like(cs.take([0], axis=axis)), cs], axis=axis)
        out = (cs.take(stop, axis=axis) - cs.take(start, axis=axis)) / np.expand_dims(stop - start, 1 - axis)
    return out


def fingerprint(image: np.ndarray, size: int = FINGERPRINT_SIZE) -> np.ndarray | None:
    """The unit-norm, zero-mean fingerprint of one image, or None for a constant (or non-finite) image.

    Args:
        image: ``(C, H, W)`` or ``(H, W)``, any real dtype; ``H`` and ``W`` need not divide by ``size``
            (:func:`area_average`).
        size: fingerprint side.

    Returns:
        ``(size * size,)`` float32 with mean 0 and L2 norm 1, so ``a @ b`` is the Pearson correlation of two
        images' ``size x size`` area averages; None where that average has (almost) no variation.
    """
    x = np.asarray(image)
    if x.ndim == 3:
        x = x.mean(axis=0, dtype=np.float64) if x.shape[0] > 1 else x[0]
    if x.ndim != 2 or x.size == 0:
        raise ValueError(f"fingerprint needs a (C, H, W) or (H, W) image; got shape {np.shape(image)}.")
    small = area_average(x, size).ravel()
    if not np.isfinite(small).all():
        return None
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    scale = float(np.abs(x).max())
    if norm <= _MIN_STD * max(scale, 1e-12) * size:  # constant up to rounding: no correlation is defined
        return None
    return (small / norm).astype(np.float32)


def fingerprints(images: Sequence[np.ndarray], size: int = FINGERPRINT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints of many images (see :func:`fingerprint`).

    Args:
        images: N arrays ``(C, H, W)`` or ``(H, W)``; sizes may differ.
        size: fingerprint side.

    Returns:
        ``(N, size * size)`` float32 fingerprints (rows of constant images are zero) and ``(N,)`` bool, True where
        the image has a fingerprint.
    """
    out = np.zeros((len(images), size * size), np.float32)
    valid = np.zeros(len(images), bool)
    for i, image in enumerate(images):
        fp = fingerprint(image, size)
        if fp is not None:
            out[i], valid[i] = fp, True
    return out, valid


def find_twins(
    train: np.ndarray, val: np.ndarray, threshold: float = DEFAULT_THRESHOLD, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (training, validation) pair of fingerprints whose correlation is at least ``threshold``.

    Args:
        train: ``(N, D)`` fingerprints from :func:`fingerprints` (zero rows never match a positive threshold).
        val: ``(M, D)`` fingerprints.
        threshold: correlation in (0, 1].
        chunk: validation rows per matrix product (memory ``chunk * N * 4`` bytes).

    Returns:
        ``(P,)`` training indices, ``(P,)`` validation indices and ``(P,)`` float32 correlations, ordered by
        validation index, then training index.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1]; got {threshold}.")
    ti, vi, rs = [], [], []
    if len(train) and len(val):
        t = np.ascontiguousarray(train, np.float32)
        for start in range(0, len(val), chunk):
            r = val[start:start + chunk].astype(np.float32, copy=False) @ t.T  # (m, N)
            v, j = np.nonzero(r >= threshold - 1e-6)  # float32 rounding of exact copies (r = 1 +- 1e-7)
            ti.append(j)
            vi.append(v + start)
            rs.append(np.minimum(r[v, j], 1.0))
    if not ti:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    return (np.concatenate(ti).astype(np.int64), np.concatenate(vi).astype(np.int64),
            np.concatenate(rs).astype(np.float32))


@dataclass(frozen=True)
class LeakageReport:
    """What :func:`check_split` found.

    Attributes:
        threshold: correlation threshold used.
        pairs: number of (training image, validation image) twin pairs.
        val_images: validation images with at least one twin in the training set.
        case_pairs: ``(training case, validation case, pairs)``, most pairs first.
        examples: up to ``max_examples`` ``(training image name, validation image name, correlation)``, one per
            case pair first.
        skipped_constant: images without a fingerprint (constant), training and validation together.
        checked: (training images, validation images) compared.
        seconds: time the check took.
        val_cases: the validation case ids, sorted (numeric ids in numeric order).
        transformed: pairs found only as a mirrored or rotated copy (their best match is not the identity).
        example_transforms: the :data:`DIHEDRAL` name of each example's match, parallel to ``examples``.
    """

    threshold: float
    pairs: int
    val_images: int
    case_pairs: list[tuple[str, str, int]]
    examples: list[tuple[str, str, float]]
    skipped_constant: int
    checked: tuple[int, int]
    seconds: float
    val_cases: list[str] = field(default_factory=list)
    transformed: int = 0
    example_transforms: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        """True when any twin pair was found."""
        return self.pairs > 0

    def suggested_val_cases(self) -> list[str]:
        """The validation cases plus every training case with a twin among them: validating on these removes the
        pairs found (the twin cases move to the validation side together)."""
        return _sorted_cases(set(self.val_cases) | {t for t, _, _ in self.case_pairs})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields for events and checkpoint metadata."""
        return {
            "threshold": self.threshold,
            "pairs": self.pairs,
            "val_images": self.val_images,
            "case_pairs": [{"train_case": t, "val_case": v, "pairs": n} for t, v, n in self.case_pairs],
            "examples": [{"train": t, "val": v, "r": round(r, 6), "transform": f}
                         for (t, v, r), f in zip(self.examples, self._transforms(), strict=True)],
            "transformed": self.transformed,
            "skipped_constant": self.skipped_constant,
            "checked": list(self.checked),
            "check_s": round(self.seconds, 3),
            "suggested_val_cases": self.suggested_val_cases() if self.found else None,
        }

    def _transforms(self) -> list[str]:
        return self.example_transforms or ["identity"] * len(self.examples)

    def message(self) -> str:
        """A few lines for the console: the count, the cases, examples and what to do ('' when nothing found)."""
        if not self.found:
            return ""
        cases = ", ".join(f"training {t} ~ validation {v} ({n})" for t, v, n in self.case_pairs[:8])
        if len(self.case_pairs) > 8:
            cases += f", and {len(self.case_pairs) - 8} more case pairs"
        examples = ", ".join(f"{t} ~ {v} (r {r:.5f}{'' if f == 'identity' else ', validation image ' + f})"
                             for (t, v, r), f in zip(self.examples, self._transforms(), strict=True))
        suggested = ",".join(self.suggested_val_cases())
        copies = f", {self.transformed} of them as mirrored or rotated copies" if self.transformed else ""
        return (f"{self.val_images} of {self.checked[1]} validation images have a near-identical twin in the "
                f"training set ({self.pairs} pairs{copies}, correlation >= {self.threshold} of 32x32 fingerprints), "
                f"so validation scores are inflated. Cases: {cases}. Examples: {examples}. If these cases are one "
                f"patient or scan, put them in the same fold: train with --val-cases {suggested} (or \"val_cases\" "
                "in the --config JSON), or give them one case id (file names or the description's case_id rule).")


def _sorted_cases(cases: set[str]) -> list[str]:
    return sorted(cases, key=lambda c: (0, int(c), c) if c.isdigit() else (1, 0, c))


def check_split(
    train_images: Sequence[np.ndarray],
    val_images: Sequence[np.ndarray],
    train_cases: Sequence[str],
    val_cases: Sequence[str],
    train_names: Sequence[str] | None = None,
    val_names: Sequence[str] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    max_examples: int = 3,
    mirrored: bool = True,
) -> LeakageReport:
    """Look for validation images with a twin among the training images (see the module docstring).

    Args:
        train_images: N arrays ``(C, H, W)`` or ``(H, W)`` as loaded for training (e.g. ``LoadedSample.image``).
        val_images: M arrays, likewise.
        train_cases: the N case ids; val_cases: the M case ids.
        train_names, val_names: image names for the examples (default: ``#index``).
        threshold: correlation at or above which a pair is a twin.
        max_examples: example pairs to keep.
        mirrored: also match mirrored and rotated copies (the eight :data:`DIHEDRAL` symmetries); a pair matched
            under several keeps its highest correlation (the identity on ties).
    """
    t0 = time.perf_counter()
    train_names = list(train_names) if train_names is not None else [f"#{i}" for i in range(len(train_images))]
    val_names = list(val_names) if val_names is not None else [f"#{i}" for i in range(len(val_images))]
    ft, ok_t = fingerprints(train_images)
    fv, ok_v = fingerprints(val_images)
    ti, vi, rs, tf = _find_twins_dihedral(ft[ok_t], fv[ok_v], threshold, mirrored)
    ti, vi = np.flatnonzero(ok_t)[ti], np.flatnonzero(ok_v)[vi]
    counts = collections.Counter((train_cases[t], val_cases[v]) for t, v in zip(ti.tolist(), vi.tolist(), strict=True))
    case_pairs = sorted(((t, v, n) for (t, v), n in counts.items()), key=lambda x: (-x[2], x[0], x[1]))
    picked: list[int] = []
    order = np.argsort(-rs, kind="stable").tolist()
    covered: set[tuple[str, str]] = set()
    for k in order:  # the closest pair of each case pair first, then the closest others
        key = (train_cases[ti[k]], val_cases[vi[k]])
        if len(picked) >= max_examples:
            break
        if key not in covered:
            picked.append(k)
            covered.add(key)
    chosen = set(picked)
    picked += [k for k in order if k not in chosen][:max(0, max_examples - len(picked))]
    examples = [(train_names[ti[k]], val_names[vi[k]], float(rs[k])) for k in picked]
    return LeakageReport(
        threshold=threshold, pairs=int(ti.size), val_images=int(np.unique(vi).size), case_pairs=case_pairs,
        examples=examples, skipped_constant=int((~ok_t).sum() + (~ok_v).sum()),
        checked=(len(train_images), len(val_images)), seconds=time.perf_counter() - t0,
        val_cases=_sorted_cases(set(val_cases)), transformed=sum(f != "identity" for f in tf),
        example_transforms=[tf[k] for k in picked])


def _find_twins_dihedral(
    train: np.ndarray, val: np.ndarray, threshold: float, mirrored: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """:func:`find_twins` under each :data:`DIHEDRAL` symmetry of the validation fingerprints (only the identity
    unless ``mirrored``), each pair once with its best correlation: (training indices, validation indices,
    correlations, transform names), ordered by validation index, then training index."""
    best: dict[tuple[int, int], tuple[float, str]] = {}
    size = FINGERPRINT_SIZE
    grids = val.reshape(len(val), size, size)
    for name, transform in DIHEDRAL.items() if mirrored else [("identity", DIHEDRAL["identity"])]:
        moved = np.ascontiguousarray(transform(grids)).reshape(len(val), size * size)
        for t, v, r in zip(*find_twins(train, moved, threshold), strict=True):
            key = (int(t), int(v))
            if key not in best or float(r) > best[key][0] + 1e-6:  # the identity (first) wins ties
                best[key] = (float(r), name)
    keys = sorted(best, key=lambda k: (k[1], k[0]))
    return (np.array([k[0] for k in keys], np.int64), np.array([k[1] for k in keys], np.int64),
            np.array([best[k][0] for k in keys], np.float32), [best[k][1] for k in keys])
