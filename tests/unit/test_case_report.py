"""build_case_report: one case's comparison as a Report whose summary Dice equals compare_metrics' Dice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from akmamba.compare import compare_metrics
from akmamba.reports import build_case_report, read_json_report, sha256_file, write_report


def _maps() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (40, 50), dtype=np.uint8)
    ref = np.zeros((40, 50), np.uint8)
    ref[5:20, 5:25] = 1
    ref[25:35, 30:45] = 2
    pred = np.zeros_like(ref)
    pred[8:22, 5:25] = 1
    pred[25:33, 28:45] = 2
    return image, pred, ref


def test_report_fields_and_summary_dice(tmp_path: Path) -> None:
    image, pred, ref = _maps()
    path = tmp_path / "img.png"
    path.write_bytes(b"not really a png")
    info = {"name": "unet", "version": "1.2", "sha256": "ab" * 32}
    report = build_case_report(image, pred, ref, {1: "vessel", 2: "nerve"}, "img", info, path)
    assert report.model == {"name": "unet", "version": "1.2", "checksum": "ab" * 32}
    assert report.data == {str(path): sha256_file(path)}
    assert report.software
    assert list(report.thumbnails) == ["img"]
    expected = {row["label_name"]: row["dice"] for row in compare_metrics(pred, ref, {1: "vessel", 2: "nerve"})}
    assert {r["label_name"]: r["dice"] for r in report.cases} == pytest.approx(expected)
    for name, dice in expected.items():
        assert report.summary[name]["per_image_mean"]["dice"] == pytest.approx(dice)
    mean = report.summary["mean_over_labels"]["per_image_mean"]["dice"]
    assert mean == pytest.approx(np.mean(list(expected.values())))
    write_report(report, tmp_path / "r.json")
    back = read_json_report(tmp_path / "r.json")
    assert back.summary["vessel"]["per_image_mean"]["dice"] == pytest.approx(expected["vessel"])


def test_other_models_add_rows_but_not_to_the_summary() -> None:
    image, pred, ref = _maps()
    report = build_case_report(image, pred, ref, {1: "vessel", 2: "nerve"}, "c", None, None,
                               result_name="Corrected mask", other_results={"m1": ref, "m2": pred})
    assert report.model["name"] == "Corrected mask"
    assert report.data == {}
    assert {r["model"] for r in report.cases} == {"Corrected mask", "m1", "m2"}
    assert len(report.cases) == 6
    assert report.summary["vessel"]["n_cases"] == 1
    m1 = [r for r in report.cases if r["model"] == "m1"]
    assert all(r["dice"] == pytest.approx(1.0) for r in m1)


def test_volume_thumbnail() -> None:
    image = np.zeros((4, 20, 20), np.float32)
    ref = np.zeros((4, 20, 20), np.uint8)
    ref[2, 5:10, 5:10] = 1
    report = build_case_report(image, ref, ref, ["fg"], "vol", None, None)
    assert report.summary["fg"]["per_image_mean"]["dice"] == pytest.approx(1.0)
    assert report.thumbnails["vol"].startswith(b"\x89PNG")
