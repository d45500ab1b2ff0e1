"""``akmamba predict --label-values file`` writes the training data's file values (e.g. the bladder data's
0/128/255) and ``akmamba evaluate`` maps them back; the look-up helpers refuse tables that cannot do that."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from akmamba.cli import main
from akmamba.errors import ConfigError
from akmamba.infer.label_values import check_label_values, file_values_to_indices, index_to_file_values
from akmamba.io import Image, read_image, write_image
from akmamba.nn import build_model, save_checkpoint

BLADDER = [
    {"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
    {"name": "bladder_wall", "index": 1, "value_in_file": 128, "color": [0, 200, 0]},
    {"name": "tumor", "index": 2, "value_in_file": 255, "color": [220, 0, 0]},
]


@pytest.fixture
def bladder_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = build_model("unet", 1, 3, base_channels=4, depth=2).eval()
    with torch.no_grad():  # no class bias and sharper logits: all three classes appear on noise images
        last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        last.bias.zero_()
        last.weight.mul_(10.0)
    path = tmp_path / "models" / "tiny-bladder.safetensors"
    save_checkpoint(model, path, metadata={"label_table": BLADDER, "normalisation": "zscore", "version": "t"})
    return path


def test_lookup_tables_round_trip() -> None:
    lut = index_to_file_values(BLADDER, 3)
    assert lut.dtype == np.uint8
    assert lut.tolist() == [0, 128, 255]
    idx = np.array([[0, 1], [2, 1]], dtype=np.uint8)
    np.testing.assert_array_equal(file_values_to_indices(lut[idx], BLADDER, "x.png"), idx)
    wide = [dict(BLADDER[0]), {**BLADDER[1], "value_in_file": 300}]
    assert index_to_file_values(wide, 2).dtype == np.uint16


@pytest.mark.parametrize(("table", "k", "match"), [
    ([], 3, "records no label table"),
    (BLADDER[:2], 3, r"no file value for class\(es\) \[2\]"),
    ([BLADDER[0], {**BLADDER[1], "value_in_file": 0}], 2, "same file value"),
    ([{"name": "x", "index": "a", "value_in_file": 1}], 1, "without integer"),
])
def test_lookup_refuses_tables_that_cannot_map(table: list, k: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        index_to_file_values(table, k)


def test_unknown_values_and_modes_are_named() -> None:
    with pytest.raises(ConfigError, match=r"Label values \[7\] in 'p.png' are not in the label table"):
        file_values_to_indices(np.array([0, 7, 128]), BLADDER, "p.png")
    with pytest.raises(ConfigError, match="has no file value for any class"):  # a display-only table
        file_values_to_indices(np.array([0, 1]), [{"name": "background", "index": 0}], "p.png")
    with pytest.raises(ConfigError, match="'indices' is not known"):
        check_label_values("indices")


def test_predict_file_values_and_evaluate_reads_them_back(tmp_path: Path, bladder_checkpoint: Path,
                                                          capsys) -> None:
    rng = np.random.default_rng(5)
    images, gt = tmp_path / "images", tmp_path / "gt"
    images.mkdir()
    gt.mkdir()
    for name in ("a", "b"):
        PILImage.fromarray(rng.integers(0, 255, (40, 48), dtype=np.uint8)).save(images / f"{name}.png")
    vol = Image(array=rng.integers(0, 500, (3, 16, 20)).astype(np.int16), kind="volume", spacing=(2.0, 1.0, 1.0))
    write_image(vol, images / "v.nii.gz")
    inputs = [str(images / n) for n in ("a.png", "b.png", "v.nii.gz")]
    base = ["predict", "--model", str(bladder_checkpoint), "--device", "cpu"]
    assert main([*base, "--out", str(tmp_path / "idx"), *inputs]) == 0
    assert main([*base, "--out", str(tmp_path / "file"), "--label-values", "file", *inputs]) == 0
    lut = np.array([0, 128, 255], dtype=np.uint8)
    for name in ("a.png", "b.png"):
        idx = np.asarray(PILImage.open(tmp_path / "idx" / name))
        values = np.asarray(PILImage.open(tmp_path / "file" / name))
        assert len(np.unique(idx)) >= 2  # several classes, so the mapping is exercised
        np.testing.assert_array_equal(values, lut[idx])
        PILImage.fromarray(np.where(rng.random(idx.shape) < 0.1, (idx + 1) % 3, idx).astype(np.uint8)).save(
            gt / name)  # class-index ground truth with some errors
    v_idx = read_image(tmp_path / "idx" / "v.nii.gz")
    np.testing.assert_array_equal(read_image(tmp_path / "file" / "v.nii.gz").array, lut[v_idx.array])
    write_image(v_idx, gt / "v.nii.gz")
    record = json.loads((tmp_path / "file" / "model.json").read_text(encoding="utf-8"))
    assert record["label_values"] == "file"
    assert json.loads((tmp_path / "idx" / "model.json").read_text(encoding="utf-8"))["label_values"] == "index"

    summaries = {}
    for folder in ("idx", "file"):
        out = tmp_path / f"{folder}.json"
        assert main(["evaluate", "--pred", str(tmp_path / folder), "--gt", str(gt), "--out", str(out)]) == 0
        summaries[folder] = json.loads(out.read_text(encoding="utf-8"))["summary"]
    assert summaries["file"] == summaries["idx"]
    assert summaries["idx"]["mean_over_labels"]["pooled"]["dice"] < 1.0  # the errors were counted, in both

    # one folder never mixes the two codings (a new image, so only the coding is in the way)
    PILImage.fromarray(rng.integers(0, 255, (40, 48), dtype=np.uint8)).save(images / "c.png")
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "idx"), "--label-values", "file", str(images / "c.png")]) == 1
    assert "holds label maps of --label-values 'index'; this run writes 'file'" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "file"), str(images / "c.png")]) == 1
    assert "holds label maps of --label-values 'file'; this run writes 'index'" in capsys.readouterr().err
    assert not (tmp_path / "idx" / "c.png").exists()
    assert not (tmp_path / "file" / "c.png").exists()


def test_bad_mode_fails_before_reading_inputs(tmp_path: Path, capsys) -> None:
    code = main(["predict", "--model", "x", "--out", str(tmp_path / "o"), "--label-values", "values",
                 str(tmp_path / "missing.png")])
    assert code == 1
    err = capsys.readouterr().err
    assert "--label-values 'values' is not known" in err
    assert "missing.png" not in err


def test_model_without_table_is_refused(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    path = tmp_path / "bare.safetensors"
    save_checkpoint(build_model("unet", 1, 2, base_channels=4, depth=2).eval(), path, metadata={"version": "t"})
    PILImage.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "a.png")
    assert main(["predict", "--model", str(path), "--out", str(tmp_path / "o"), "--device", "cpu",
                 "--label-values", "file", str(tmp_path / "a.png")]) == 1
    assert "records no label table" in capsys.readouterr().err
    assert not (tmp_path / "o" / "a.png").exists()
