"""build_case_report: one case's comparison as a Report whose summary Dice equals compare_metrics' Dice."""

from __future__ import annotations

import math
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


def _chart_means(page: str) -> dict[str, float]:
    """``{chart title: the value of its dashed mean line}`` from the HTML's inline SVG charts."""
    import re

    out = {}
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        title = re.search(r'aria-label="([^"]*)"', svg).group(1)
        mean = re.search(r"<title>per-image mean ([0-9.]+)</title>", svg)
        if mean:
            out[title] = float(mean.group(1))
    return out


def test_html_report_aggregates_per_model_over_its_cases_never_over_models() -> None:
    image, pred, ref = _maps()
    worse = np.zeros_like(ref)  # m2 misses everything: Dice 0 for both labels
    report = build_case_report(image, pred, ref, {1: "vessel", 2: "nerve"}, "c", None, None,
                               result_name="A", other_results={"m1": ref, "m2": worse})
    from akmamba.reports.html import render_html, summaries_by_model

    per_model = summaries_by_model(report)
    assert set(per_model) == {"A", "m1", "m2"}
    assert per_model["m1"]["vessel"]["per_image_mean"]["dice"] == pytest.approx(1.0)
    assert per_model["m2"]["vessel"]["per_image_mean"]["dice"] == pytest.approx(0.0)
    assert per_model["m2"]["vessel"]["n_cases"] == 1
    page = render_html(report)
    assert "<h2>Per model</h2>" in page
    means = _chart_means(page)
    # one chart per label and model; the old single chart per label drew the mean over A, m1 and m2 as if cases
    assert means["Dice per case: vessel, model m1"] == pytest.approx(1.0)
    assert means["Dice per case: vessel, model m2"] == pytest.approx(0.0)
    assert "Dice per case: vessel" not in means


def test_a_label_absent_from_both_maps_is_na_and_out_of_the_means() -> None:
    image, pred, ref = _maps()
    report = build_case_report(image, pred, ref, {1: "vessel", 2: "nerve", 3: "tumour"}, "c", None, None)
    tumour = next(r for r in report.cases if r["label_name"] == "tumour")
    assert not tumour["applicable"]
    assert math.isnan(tumour["dice"])  # was 1.0
    assert math.isnan(report.summary["tumour"]["per_image_mean"]["dice"])
    assert math.isnan(report.summary["tumour"]["pooled"]["dice"])
    expected = [r["dice"] for r in compare_metrics(pred, ref, {1: "vessel", 2: "nerve"})]
    mean = report.summary["mean_over_labels"]["per_image_mean"]["dice"]
    assert mean == pytest.approx(np.mean(expected))  # the n/a label does not lift the mean
