"""Report: JSON round trip, CSV rows, HTML content, suffix dispatch, atomic writes, bad inputs."""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from akmamba.errors import ConfigError, UnsupportedFormatError
from akmamba.metrics import evaluate_case
from akmamba.reports import Report, make_overlay_thumbnail, read_json_report, sha256_file, write_report

CHECKSUM = "ab12" * 16
MODEL = {"name": "akmamba_unet", "version": "0.1.0", "checksum": CHECKSUM}


def make_report(multi_label: bool = False) -> Report:
    rng = np.random.default_rng(0)
    rows, thumbs = [], {}
    for i in range(3):
        gt = (rng.random((12, 10)) < 0.3).astype(np.uint8)
        if multi_label:
            gt[gt == 1] = rng.integers(1, 3, int(gt.sum()))
        pred = np.where(rng.random(gt.shape) < 0.8, gt, 0).astype(np.uint8)
        probs = np.stack([np.zeros(gt.shape), *(0.6 * (gt == k) + 0.4 * rng.random(gt.shape) for k in (1, 2))])
        labels = ["wall", "tumour"] if multi_label else ["vessel"]
        rows += evaluate_case(pred, gt, labels, probs=probs if multi_label else probs[1], case_id=f"case{i}")
        thumbs[f"case{i}"] = make_overlay_thumbnail(rng.random(gt.shape), pred, gt)
    return Report.from_rows("DRIVE <fold 1>", rows, MODEL, data={"img/01.tif": "cd34" * 16}, thumbnails=thumbs)


def test_json_round_trip(tmp_path: Path) -> None:
    report = make_report()
    path = tmp_path / "r.json"
    report.to_json(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert {"summary", "cases", "model", "data", "software"} <= set(raw)
    assert raw["model"]["checksum"] == CHECKSUM
    assert len(raw["cases"]) == 3
    assert raw["summary"]["vessel"]["pooled"]["dice"] == report.summary["vessel"]["pooled"]["dice"]
    assert read_json_report(path) == report


def test_per_case_pooling_round_trips_and_is_absent_when_every_file_is_a_case(tmp_path: Path) -> None:
    base = make_report(multi_label=True)
    assert base.per_case == {}
    assert "per_case" not in base.to_dict()
    one_each = Report.from_rows("t", base.cases, MODEL, case_of=lambda name: name, case_by="file")
    assert one_each.per_case == {}  # no case has two files: nothing to pool
    pooled = Report.from_rows("t", base.cases, MODEL, case_of=lambda name: "all", case_by="one patient")
    assert pooled.per_case["by"] == "one patient"
    assert {(r["case"], r["n_files"]) for r in pooled.per_case["cases"]} == {("all", 3)}
    wall = pooled.per_case["summary"]["wall"]
    assert wall["n_cases"] == 1
    assert wall["pooled"]["dice"] == pytest.approx(base.summary["wall"]["pooled"]["dice"])
    path = tmp_path / "r.json"
    pooled.to_json(path)
    assert read_json_report(path).to_dict() == pooled.to_dict()  # to_dict: nan (a std over one case) as None


def test_nan_written_as_null_and_read_back(tmp_path: Path) -> None:
    gt = np.zeros((3, 3), dtype=np.uint8)  # one class: AUC undefined
    rows = evaluate_case(gt, gt, ["vessel"], probs=np.full((3, 3), 0.2))
    report = Report.from_rows("single", rows, MODEL)
    report.to_json(tmp_path / "r.json")
    text = (tmp_path / "r.json").read_text(encoding="utf-8")
    assert "NaN" not in text
    assert '"auc": null' in text
    back = read_json_report(tmp_path / "r.json")
    assert math.isnan(back.cases[0]["auc"])
    assert math.isnan(back.summary["vessel"]["per_image_std"]["dice"])  # one case
    assert back.summary["vessel"]["pooled"]["dice"] == 1.0


def test_csv_one_row_per_case_and_label(tmp_path: Path) -> None:
    report = make_report(multi_label=True)
    path = tmp_path / "r.csv"
    write_report(report, path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 2
    header = list(rows[0])
    assert header[:8] == ["case", "label", "label_name", "n_pixels", "tp", "fp", "fn", "tn"]
    for metric in ("precision", "recall", "specificity", "accuracy", "dice", "iou", "auc"):
        assert metric in header
    assert float(rows[1]["dice"]) == report.cases[1]["dice"]  # repr keeps full precision
    assert [r["label_name"] for r in rows[:2]] == ["wall", "tumour"]


def test_html_is_self_contained(tmp_path: Path) -> None:
    report = make_report(multi_label=True)
    path = tmp_path / "r.html"
    write_report(report, path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<svg" in text
    assert text.count("data:image/png;base64,") == 3
    png = base64.b64decode(text.split("data:image/png;base64,")[1].split('"')[0])
    assert png == report.thumbnails["case0"]
    assert CHECKSUM in text
    assert "cd34" * 16 in text
    assert "akmamba_unet" in text
    assert report.software["akmamba"] in text
    assert report.software["numpy"] in text
    assert "mean over labels" in text
    assert "per-image mean" in text.lower()
    assert "pooled" in text.lower()
    assert "DRIVE &lt;fold 1&gt;" in text
    assert "<fold 1>" not in text
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")  # nothing fetched


def test_unknown_suffix_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'\.htm'.*Did you mean '\.html'.*\.csv, \.html, \.json"):
        write_report(make_report(), tmp_path / "r.htm")
    assert list(tmp_path.iterdir()) == []


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = make_report()
    path = tmp_path / "r.json"
    path.write_text("old", encoding="utf-8")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        report.to_json(path)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # temp file removed
    monkeypatch.undo()
    report.to_json(path)
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert read_json_report(path) == report


def test_read_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match="not valid JSON"):
        read_json_report(bad)
    bad.write_text('{"title": "x"}', encoding="utf-8")
    with pytest.raises(UnsupportedFormatError, match=r"keys \['model', 'summary', 'cases'\] are missing"):
        read_json_report(bad)
    with pytest.raises(FileNotFoundError):
        read_json_report(tmp_path / "missing.json")


def test_report_validation() -> None:
    with pytest.raises(ConfigError, match=r"lacks \['checksum'\]"):
        Report(title="t", model={"name": "m", "version": "1"})
    with pytest.raises(ConfigError, match="not PNG"):
        Report(title="t", model=MODEL, thumbnails={"c": b"GIF89a"})


def test_sha256_file(tmp_path: Path) -> None:
    p = tmp_path / "w.bin"
    p.write_bytes(b"abc" * 1000)
    assert sha256_file(p, chunk_size=7) == hashlib.sha256(b"abc" * 1000).hexdigest()


def test_metrics_and_reports_import_without_torch_or_qt() -> None:
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'PySide6', 'pyqtgraph', 'matplotlib', 'monai'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import akmamba.metrics, akmamba.reports\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
