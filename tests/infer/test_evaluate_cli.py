from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from akmamba.cli import main
from akmamba.io import Image, read_image, write_image

RNG = np.random.default_rng(2)


def _predict(checkpoint: Path, out: Path, *inputs: Path) -> None:
    assert main(["predict", "--model", str(checkpoint), "--out", str(out), "--device", "cpu", "--probs",
                 *(str(p) for p in inputs)]) == 0


def _noisy_copy(labels: np.ndarray, flip: float = 0.1) -> np.ndarray:
    out = labels.copy()
    mask = RNG.random(labels.shape) < flip
    out[mask] = 1 - out[mask]
    return out


def test_evaluate_by_stem(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    images, pred, gt = tmp_path / "images", tmp_path / "pred", tmp_path / "gt"
    images.mkdir()
    gt.mkdir()
    PILImage.fromarray(RNG.integers(0, 255, (40, 50), dtype=np.uint8)).save(images / "a.png")
    PILImage.fromarray(RNG.integers(0, 255, (30, 36, 3), dtype=np.uint8)).save(images / "b.png")
    vol = Image(array=RNG.integers(0, 500, (3, 16, 20)).astype(np.int16), kind="volume", spacing=(2.0, 1.0, 1.0))
    write_image(vol, images / "v.nii.gz")
    _predict(tiny_checkpoint, pred, images / "a.png", images / "b.png", images / "v.nii.gz")
    capsys.readouterr()

    a = np.asarray(PILImage.open(pred / "a.png"))
    PILImage.fromarray((_noisy_copy(a) * 255).astype(np.uint8)).save(gt / "a.png")  # binary 0/255 ground truth
    b = np.asarray(PILImage.open(pred / "b.png"))
    PILImage.fromarray(_noisy_copy(b).astype(np.uint8)).save(gt / "b.png")  # class indices 0/1
    v = read_image(pred / "v.nii.gz")
    write_image(v.with_array(_noisy_copy(v.array)), gt / "v.nii.gz")
    PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(gt / "orphan.png")

    reports = [tmp_path / "r" / "report.json", tmp_path / "r" / "report.csv", tmp_path / "r" / "report.html"]
    argv = ["evaluate", "--pred", str(pred), "--gt", str(gt)]
    for r in reports:
        argv += ["--out", str(r)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "orphan.png" in captured.err
    assert "1 ground-truth files have no prediction" in captured.err
    assert "vessel" in captured.out

    report = json.loads(reports[0].read_text(encoding="utf-8"))
    vessel = report["summary"]["vessel"]
    assert {"per_image_mean", "pooled"} <= set(vessel)
    assert 0.0 <= vessel["per_image_mean"]["dice"] <= 1.0
    assert 0.0 <= vessel["pooled"]["dice"] <= 1.0
    assert sorted(c["case"] for c in report["cases"]) == ["a", "b", "v"]
    assert all("auc" in c for c in report["cases"])  # probabilities were found next to the predictions
    assert report["model"]["name"] == "tiny-vessels"
    assert len(report["model"]["checksum"]) == 64
    assert report["unpaired"]["gt_without_pred"] == [str(gt / "orphan.png")]
    assert str(gt / "a.png") in report["data"]
    assert report["software"]["akmamba"]

    csv_lines = reports[1].read_text(encoding="utf-8").splitlines()
    assert "dice" in csv_lines[0].split(",")
    assert len(csv_lines) == 4
    html = reports[2].read_text(encoding="utf-8")
    assert "<svg" in html
    assert "data:image/png;base64," in html
    assert report["model"]["checksum"] in html
    assert "tiny-vessels" in html


def test_evaluate_known_values(tmp_path: Path, capsys) -> None:
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    left, top = np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.uint8)
    left[:, :5], top[:5, :] = 1, 1
    PILImage.fromarray(left).save(pred / "a.png")
    PILImage.fromarray(top * 255).save(gt / "a.png")
    PILImage.fromarray(left).save(pred / "b.png")
    PILImage.fromarray(left).save(gt / "b.png")
    PILImage.fromarray(left).save(pred / "extra.png")
    out = tmp_path / "r.json"
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--cldice", "--out", str(out)]) == 0
    assert "extra.png" in capsys.readouterr().err
    report = json.loads(out.read_text(encoding="utf-8"))
    fg = report["summary"]["foreground"]  # no description, no model.json: one binary label
    assert fg["per_image_mean"]["dice"] == pytest.approx(0.75)  # mean of 0.5 and 1.0
    assert fg["pooled"]["dice"] == pytest.approx(2 * 75 / (2 * 75 + 25 + 25))
    assert "cldice" in fg["per_image_mean"]
    assert report["unpaired"]["pred_without_gt"] == [str(pred / "extra.png")]


def test_evaluate_with_fov_folder(tmp_path: Path) -> None:
    pred, gt, fov = tmp_path / "pred", tmp_path / "gt", tmp_path / "fov"
    for d in (pred, gt, fov):
        d.mkdir()
    left, top, mask = (np.zeros((10, 10), np.uint8) for _ in range(3))
    left[:, :5], top[:5, :], mask[:5, :] = 1, 1, 255
    PILImage.fromarray(left).save(pred / "a.png")
    PILImage.fromarray(top).save(gt / "a.png")
    PILImage.fromarray(mask).save(fov / "a_mask.png")
    out = tmp_path / "r.json"
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--fov", str(fov), "--out", str(out)]) == 0
    case = json.loads(out.read_text(encoding="utf-8"))["cases"][0]
    assert case["n_pixels"] == 50
    assert case["dice"] == pytest.approx(2 * 25 / (2 * 25 + 25))


def test_evaluate_failures_give_exit_2(tmp_path: Path, capsys) -> None:
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    PILImage.fromarray(np.zeros((10, 10), np.uint8)).save(pred / "a.png")
    PILImage.fromarray(np.zeros((12, 10), np.uint8)).save(gt / "a.png")
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(tmp_path / "r.json")]) == 2
    assert "shape" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(tmp_path / "r.txt")]) == 2
    assert "r.txt" in capsys.readouterr().err


def _drive_like(root: Path, ids: tuple[int, ...]) -> None:
    for sub in ("images", "1st_manual", "mask"):
        (root / sub).mkdir(parents=True)
    yy, xx = np.mgrid[:48, :44]
    fov = ((yy - 24) ** 2 + (xx - 22) ** 2 < 20**2).astype(np.uint8) * 255
    for i in ids:
        rgb = RNG.integers(0, 255, (48, 44, 3), dtype=np.uint8)
        PILImage.fromarray(rgb).save(root / "images" / f"{i}_training.tif")
        vessels = ((RNG.random((48, 44)) < 0.2) * 255).astype(np.uint8)
        PILImage.fromarray(vessels).save(root / "1st_manual" / f"{i}_manual1.gif")
        PILImage.fromarray(fov).save(root / "mask" / f"{i}_training_mask.gif")


def test_evaluate_with_drive_description(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    root, pred = tmp_path / "DRIVE" / "training", tmp_path / "pred"
    _drive_like(root, (21, 22, 23))
    _predict(tiny_checkpoint, pred, root / "images" / "21_training.tif", root / "images" / "22_training.tif")
    capsys.readouterr()
    out = tmp_path / "drive.json"
    assert main(["evaluate", "--dataset", "drive", "--gt", str(root), "--pred", str(pred), "--out", str(out)]) == 0
    assert "23_manual1.gif" in capsys.readouterr().err  # ground truth without prediction is reported
    report = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(c["case"] for c in report["cases"]) == ["21_training", "22_training"]
    fov_pixels = int((np.asarray(PILImage.open(root / "mask" / "21_training_mask.gif")) > 0).sum())
    assert report["cases"][0]["n_pixels"] == fov_pixels  # metrics inside the FOV only
    assert set(report["summary"]) >= {"vessel"}
    assert report["unpaired"]["gt_without_pred"] == [str(root / "1st_manual" / "23_manual1.gif")]


@pytest.mark.parametrize("name", ["DRIVE"])
def test_evaluate_on_shared_drive_if_present(shared_data: Path, tmp_path: Path, name: str) -> None:
    root = shared_data / name / "training"
    if not (root / "1st_manual").is_dir():
        pytest.skip(f"{root} has no 1st_manual folder")
    pred = tmp_path / "pred"
    pred.mkdir()
    gt = np.asarray(PILImage.open(root / "1st_manual" / "21_manual1.gif").convert("L"))
    PILImage.fromarray((gt > 0).astype(np.uint8)).save(pred / "21_training.png")  # a perfect prediction
    out = tmp_path / "r.json"
    assert main(["evaluate", "--dataset", "drive", "--gt", str(root), "--pred", str(pred), "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["summary"]["vessel"]["pooled"]["dice"] == pytest.approx(1.0)


def test_evaluate_bladder_slices_are_also_pooled_per_case(tmp_path: Path, capsys) -> None:
    """With the bladder description, slices <case>-IM<n> are also scored per case (patient), pooled over slices."""
    root, pred = tmp_path / "BladderMRI", tmp_path / "pred"
    for d in (root / "Images", root / "Labels", pred):
        d.mkdir(parents=True)
    truth = np.zeros((10, 10), np.uint8)
    truth[:, :5] = 128  # wall: 50 pixels, value in file 128 (index 1)
    found, missed = np.zeros((10, 10), np.uint8), np.zeros((10, 10), np.uint8)
    found[:, :5] = 1  # the wall found exactly (class index 1)
    for name, p in (("7-IM1", found), ("7-IM2", missed), ("9-IM1", found)):
        PILImage.fromarray(truth).save(root / "Images" / f"{name}.png")
        PILImage.fromarray(truth).save(root / "Labels" / f"{name}.png")
        PILImage.fromarray(p).save(pred / f"{name}.png")
    out, html_out = tmp_path / "r.json", tmp_path / "r.html"
    assert main(["evaluate", "--dataset", "bladder", "--gt", str(root), "--pred", str(pred), "--out", str(out),
                 "--out", str(html_out)]) == 0
    printed = capsys.readouterr().out
    assert "3 files (slices) of 2 cases" in printed
    assert "2 cases, each pooled over its slices" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    wall = report["summary"]["bladder_wall"]
    assert wall["per_image_mean"]["dice"] == pytest.approx(2 / 3)  # slices: 1, 0, 1
    per_case = report["per_case"]
    assert "case_id.regex" in per_case["by"]
    rows = {r["case"]: r for r in per_case["cases"] if r["label_name"] == "bladder_wall"}
    assert (rows["7"]["n_files"], rows["7"]["tp"], rows["7"]["fn"]) == (2, 50, 50)
    assert rows["7"]["dice"] == pytest.approx(2 * 50 / (2 * 50 + 50))  # case 7 pooled over its two slices
    assert rows["9"]["dice"] == pytest.approx(1.0)
    assert per_case["summary"]["bladder_wall"]["per_image_mean"]["dice"] == pytest.approx((2 / 3 + 1) / 2)
    assert per_case["summary"]["bladder_wall"]["pooled"]["dice"] == pytest.approx(wall["pooled"]["dice"])
    assert "Per case (BladderMRI case_id.regex" in html_out.read_text(encoding="utf-8")


def test_reports_never_replace_inputs_and_existing_files_only_with_overwrite(tmp_path: Path, capsys) -> None:
    import hashlib
    import shutil

    from akmamba.io.dataset import builtin_description

    root, pred = tmp_path / "DRIVE" / "training", tmp_path / "pred"
    _drive_like(root, (21, 22))
    desc = root / "dataset.json"  # a folder's own description, which fine-tuning on that folder reads
    shutil.copy(builtin_description("drive").source, desc)
    pred.mkdir()
    for i in (21, 22):
        PILImage.fromarray(((RNG.random((48, 44)) < 0.2) * 255).astype(np.uint8)).save(pred / f"{i}_training.png")
    (pred / "model.json").write_text(json.dumps({"name": "hand-made", "label_values": "index"}), encoding="utf-8")

    def digest() -> dict[str, str]:
        files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
        return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    def evaluate(out: Path, *extra: str) -> tuple[int, str]:
        code = main(["evaluate", "--gt", str(root), "--pred", str(pred), "--out", str(out), *extra])
        return code, capsys.readouterr().err

    (tmp_path / "alias.json").hardlink_to(pred / "model.json")  # the same file under another name
    before = digest()
    code, err = evaluate(desc, "--dataset", "drive")  # exists, no --overwrite
    assert code == 2
    assert f"Output {str(desc)!r} already exists" in err
    assert "--overwrite" in err
    for out, extra in ((desc, ("--dataset", str(desc))), (pred / "model.json", ("--dataset", "drive")),
                       (tmp_path / "alias.json", ())):
        code, err = evaluate(out, "--overwrite", *extra)  # an input: refused even with --overwrite
        assert code == 2
        assert f"Output {str(out)!r} would replace the input" in err, err
        assert "Traceback" not in err
    assert digest() == before  # nothing changed, nothing written

    report = tmp_path / "report.json"
    assert evaluate(report, "--dataset", "drive")[0] == 0
    first = report.read_bytes()
    code, err = evaluate(report, "--dataset", "drive")
    assert code == 2
    assert "already exists" in err
    assert report.read_bytes() == first
    assert evaluate(report, "--dataset", "drive", "--title", "again", "--overwrite")[0] == 0
    assert json.loads(report.read_text(encoding="utf-8"))["title"] == "again"


def test_ground_truth_in_the_models_file_values_is_mapped_to_indices(tmp_path: Path, capsys) -> None:
    """Bladder ground truth (0/128/255) against index predictions (0/1/2): mapped through model.json's label
    table, as the viewer maps a dataset's label file (it used to count labels "128" and "255")."""
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir()
    gt.mkdir()
    table = [{"name": "background", "index": 0, "value_in_file": 0}, {"name": "wall", "index": 1, "value_in_file": 128},
             {"name": "tumour", "index": 2, "value_in_file": 255}]
    (pred / "model.json").write_text(json.dumps({"name": "m", "label_table": table}), encoding="utf-8")
    labels = np.zeros((20, 20), np.uint8)
    labels[2:10, 2:10] = 1
    labels[12:16, 12:16] = 2
    PILImage.fromarray(labels).save(pred / "s.png")
    PILImage.fromarray(np.select([labels == 1, labels == 2], [128, 255], 0).astype(np.uint8)).save(gt / "s.png")
    out = tmp_path / "r.json"
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(out)]) == 0
    summary = json.loads(out.read_text(encoding="utf-8"))["summary"]
    assert summary["wall"]["per_image_mean"]["dice"] == pytest.approx(1.0)
    assert summary["tumour"]["per_image_mean"]["dice"] == pytest.approx(1.0)
    bad = np.array(PILImage.open(gt / "s.png"))
    bad[0, 0] = 77
    PILImage.fromarray(bad).save(gt / "s.png")
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--out", str(tmp_path / "r2.json")]) == 2
    err = capsys.readouterr().err
    assert "[77]" in err
    assert "s.png" in err
    assert "Traceback" not in err
