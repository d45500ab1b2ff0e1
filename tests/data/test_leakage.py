"""The train/validation twin check (akmamba/data/leakage.py) on synthetic arrays, and on the real bladder files in
../shared/data (skipped where absent): cases 2 and 29 hold one scan."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from akmamba.data.leakage import (
    DEFAULT_THRESHOLD,
    DIHEDRAL,
    area_average,
    check_split,
    find_twins,
    fingerprint,
    fingerprints,
)

BLADDER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "BladderMRI"


def scan(rng: np.random.Generator, shape: tuple[int, ...] = (1, 64, 64)) -> np.ndarray:
    """An MRI-like 0..255 image: a few random bright and dark blobs on a smooth ramp plus pixel noise."""
    *_, h, w = shape
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    img = 80 + 40 * rng.random() * yy + 40 * rng.random() * xx
    for _ in range(6):
        cy, cx, s = rng.random(), rng.random(), 0.05 + 0.15 * rng.random()
        img = img + rng.uniform(-60, 90) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    img = img + rng.normal(0, 3, (h, w))
    return np.broadcast_to(img, shape).astype(np.float32).copy()


def twin_of(image: np.ndarray, rng: np.random.Generator, offset: float = 14.0, noise: float = 0.5) -> np.ndarray:
    """The same scan stored again: a grey-level offset and fresh pixel noise (rounding-like; the bladder twins
    correlate at r 0.99994 pixel by pixel)."""
    return (image + offset + rng.normal(0, noise, image.shape)).astype(np.float32)


def test_area_average_matches_adaptive_pooling() -> None:
    rng = np.random.default_rng(0)
    for h, w in [(64, 64), (512, 512), (37, 53), (20, 70), (10, 10)]:
        x = rng.normal(size=(h, w)).astype(np.float32)
        expected = F.adaptive_avg_pool2d(torch.from_numpy(x)[None, None], (32, 32))[0, 0].double().numpy()
        np.testing.assert_allclose(area_average(x, 32), expected, atol=1e-6)


def test_fingerprint_is_a_unit_zero_mean_correlation_vector() -> None:
    rng = np.random.default_rng(1)
    a, b = scan(rng), scan(rng)
    fa, fb = fingerprint(a), fingerprint(b)
    assert fa is not None
    assert fb is not None
    assert fa.shape == (1024,)
    assert fa.dtype == np.float32
    assert abs(float(fa.mean())) < 1e-6
    assert abs(float(np.linalg.norm(fa)) - 1) < 1e-5
    expected = np.corrcoef(area_average(a[0]).ravel(), area_average(b[0]).ravel())[0, 1]
    assert float(fa @ fb) == pytest.approx(expected, abs=1e-5)
    # a brightness offset and a contrast change leave it as it is
    np.testing.assert_allclose(fingerprint(3 * a + 50), fa, atol=1e-5)


def test_a_twin_with_offset_and_noise_is_found_and_different_images_are_not() -> None:
    rng = np.random.default_rng(2)
    train = [scan(rng) for _ in range(40)]
    val = [scan(rng) for _ in range(20)] + [twin_of(train[7], rng), twin_of(train[31], rng, offset=-9, noise=1)]
    report = check_split(train, val, ["a"] * 20 + ["b"] * 20, ["v"] * 20 + ["w", "x"],
                         [f"t{i}" for i in range(40)], [f"v{i}" for i in range(22)])
    assert report.found
    assert report.pairs == 2
    assert report.val_images == 2
    assert report.case_pairs == [("a", "w", 1), ("b", "x", 1)]
    assert sorted((t, v) for t, v, _ in report.examples) == [("t31", "v21"), ("t7", "v20")]
    assert all(r >= DEFAULT_THRESHOLD for _, _, r in report.examples)
    assert report.skipped_constant == 0
    assert report.checked == (40, 22)
    assert report.suggested_val_cases() == ["a", "b", "v", "w", "x"]
    # the best correlation of a different image stays far below the threshold
    ft, _ = fingerprints(train)
    fv, _ = fingerprints(val[:20])
    assert float((fv @ ft.T).max()) < 0.99


@pytest.mark.parametrize("shape", [(64, 64), (37, 53)], ids=["divisible", "uneven-non-square"])
def test_fingerprints_commute_with_flips_and_rotations(shape: tuple[int, int]) -> None:
    """Area averaging's bins are symmetric, so transforming the 32x32 grid is transforming the image."""
    img = scan(np.random.default_rng(7), (1, *shape))
    grid = fingerprint(img).reshape(32, 32)
    for name, transform in DIHEDRAL.items():
        moved = np.ascontiguousarray(transform(img))
        np.testing.assert_allclose(fingerprint(moved), transform(grid).ravel(), atol=2e-6, err_msg=name)


def test_mirrored_and_rotated_twins_are_found_and_named() -> None:
    rng = np.random.default_rng(4)
    train = [scan(rng, (1, 40, 56)) for _ in range(10)]
    mirrored = twin_of(np.ascontiguousarray(train[3][..., ::-1]), rng)
    rotated = twin_of(np.ascontiguousarray(np.rot90(train[6], 1, axes=(-2, -1))), rng)  # 56 x 40 now
    val = [scan(rng, (1, 40, 56)), mirrored, rotated, twin_of(train[1], rng)]
    report = check_split(train, val, ["a"] * 10, ["b"] * 4, [f"t{i}" for i in range(10)],
                         [f"v{i}" for i in range(4)], max_examples=4)
    assert report.pairs == 3
    assert report.transformed == 2
    found = {(t, v): f for (t, v, _), f in zip(report.examples, report.example_transforms, strict=True)}
    # the transform that takes the validation image back to its training twin
    assert found == {("t3", "v1"): "mirrored left-right", ("t6", "v2"): "rotated 270", ("t1", "v3"): "identity"}
    text = report.message()
    assert "3 pairs, 2 of them as mirrored or rotated copies" in text
    assert "t3 ~ v1 (r " in text
    assert "validation image mirrored left-right)" in text
    assert json.loads(json.dumps(report.to_dict()))["transformed"] == 2
    plain = check_split(train, val, ["a"] * 10, ["b"] * 4, mirrored=False)
    assert plain.pairs == 1
    assert plain.transformed == 0


def test_the_report_is_json_ready_and_says_what_to_do() -> None:
    rng = np.random.default_rng(3)
    train = [scan(rng) for _ in range(6)]
    val = [twin_of(train[i], rng) for i in (0, 1, 2)] + [scan(rng)]
    report = check_split(train, val, ["29"] * 3 + ["5"] * 3, ["2", "2", "2", "7"],
                         [f"29-IM{i}" for i in range(6)], [f"2-IM{i}" for i in range(4)])
    record = json.loads(json.dumps(report.to_dict()))
    assert record["pairs"] == 3
    assert record["case_pairs"] == [{"train_case": "29", "val_case": "2", "pairs": 3}]
    assert len(record["examples"]) == 3
    assert record["suggested_val_cases"] == ["2", "7", "29"]  # numeric case ids in numeric order
    text = report.message()
    assert "3 of 4 validation images" in text
    assert "training 29 ~ validation 2 (3)" in text
    assert "29-IM0 ~ 2-IM0" in text
    assert "--val-cases 2,7,29" in text
    assert check_split(train[:1], val[3:], ["29"], ["7"]).message() == ""


def test_constant_images_give_no_match_and_no_nan() -> None:
    rng = np.random.default_rng(4)
    zeros, fives = np.zeros((1, 64, 64), np.float32), np.full((1, 64, 64), 5.0, np.float32)
    assert fingerprint(zeros) is None
    assert fingerprint(fives) is None
    assert fingerprint(np.full((3, 33, 47), 0.1, np.float32)) is None  # rounding in the bins is not structure
    fp, ok = fingerprints([zeros, scan(rng), fives])
    assert ok.tolist() == [False, True, False]
    assert np.isfinite(fp).all()
    assert not fp[0].any()
    assert not fp[2].any()
    with np.errstate(all="raise"):  # no 0/0 anywhere
        report = check_split([zeros, fives, scan(rng)], [zeros.copy(), fives.copy(), scan(rng)],
                             ["a", "a", "a"], ["b", "b", "b"])
    assert report.pairs == 0
    assert report.skipped_constant == 4
    nan = scan(rng)
    nan[0, 3, 3] = np.nan
    assert fingerprint(nan) is None


def test_any_size_and_channel_count() -> None:
    rng = np.random.default_rng(5)
    rgb = scan(rng, (3, 50, 70))
    rgb[1] *= 0.5
    grey = scan(rng, (50, 70))
    report = check_split([rgb, grey], [twin_of(rgb, rng), twin_of(grey, rng)[None]], ["a", "a"], ["b", "b"])
    assert report.pairs == 2
    with pytest.raises(ValueError, match="image"):
        fingerprint(np.zeros((2, 3, 4, 5), np.float32))
    with pytest.raises(ValueError, match="threshold"):
        find_twins(np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32), threshold=0.0)


@pytest.mark.slow
def test_thousands_of_images_in_one_vectorised_pass() -> None:
    # 2000 training and 2000 validation images of 64 x 64 (well under a second or two: a loop of cheap
    # reductions and chunked matrix products), with 5 planted twins
    rng = np.random.default_rng(6)
    base = [scan(rng) for _ in range(40)]
    train = [np.roll(base[i % 40], (i // 40, 3 * (i // 40)), axis=(1, 2)) for i in range(2000)]
    train = [t + rng.normal(0, 20, t.shape).astype(np.float32) for t in train]  # roll + heavy noise: all differ
    val = [scan(rng) for _ in range(1995)] + [twin_of(train[i], rng) for i in (0, 399, 1000, 1500, 1999)]
    ft, ok_t = fingerprints(train)
    fv, ok_v = fingerprints(val)
    assert ok_t.all()
    assert ok_v.all()
    ti, vi, r = find_twins(ft, fv, chunk=512)
    assert sorted(zip(ti.tolist(), vi.tolist(), strict=True)) == [(0, 1995), (399, 1996), (1000, 1997),
                                                                 (1500, 1998), (1999, 1999)]
    assert (r >= DEFAULT_THRESHOLD).all()
    assert (r <= 1).all()
    ti2, vi2, _ = find_twins(ft, fv, chunk=4096)  # chunking does not change the answer
    assert sorted(zip(ti2.tolist(), vi2.tolist(), strict=True)) == sorted(zip(ti.tolist(), vi.tolist(),
                                                                              strict=True))


@pytest.fixture(scope="module")
def bladder() -> dict:
    """Every bladder slice as training loads it, by image stem, and the samples."""
    if not (BLADDER / "Images").is_dir():
        pytest.skip(f"{BLADDER} not found")
    from akmamba.data.dataset import load_samples
    from akmamba.io import builtin_description, pair_files

    desc = builtin_description("bladder")
    samples = pair_files(desc, BLADDER)
    return {"samples": samples, "loaded": {s.name: s for s in load_samples(samples, desc, 1)}}


def _check(bladder: dict, **split: object):
    from akmamba.train.config import TrainConfig
    from akmamba.train.engine import split_samples, twin_check

    cfg = TrainConfig(dataset="bladder", data_root=str(BLADDER), out_dir="unused", **split)
    train, val = split_samples(cfg, bladder["samples"])
    return twin_check([bladder["loaded"][s.image.stem] for s in train], [bladder["loaded"][s.image.stem] for s in val])


@pytest.mark.slow
def test_bladder_case_29_is_a_twin_of_case_2(bladder) -> None:
    report = _check(bladder, val_cases=["2"])
    assert report.pairs >= 60
    assert {(t, v) for t, v, _ in report.case_pairs} == {("29", "2")}  # no other case pair
    assert report.suggested_val_cases() == ["2", "29"]


@pytest.mark.slow
def test_bladder_mirrored_twins_are_found(bladder) -> None:
    """Case 29 stored mirrored left-right still names case 2; no other case pair appears (module docstring: a
    mirrored image of another case correlates at most 0.796)."""
    loaded = bladder["loaded"]
    train = [s for s in loaded.values() if s.case_id != "2"]
    val = [s for s in loaded.values() if s.case_id == "2"]
    report = check_split([np.ascontiguousarray(s.image[..., ::-1]) for s in train], [s.image for s in val],
                         [s.case_id for s in train], [s.case_id for s in val])
    assert report.pairs >= 60
    assert {(t, v) for t, v, _ in report.case_pairs} == {("29", "2")}
    assert report.transformed == report.pairs


@pytest.mark.slow
@pytest.mark.parametrize("fold", [0, 1, 2])
def test_bladder_three_folds_seed_0_have_no_twins_across(bladder, fold: int) -> None:
    report = _check(bladder, folds=3, fold=fold, seed=0)
    assert report.pairs == 0, report.message()
