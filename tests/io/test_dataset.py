"""Dataset descriptions: validation messages, pairing on a synthetic tree, label remapping, built-ins."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from akmamba.errors import ConfigError, GeometryMismatchError, VolumeReadError
from akmamba.io import builtin_description, load_dataset_description, load_sample, pair_files, remap_labels
from akmamba.io.dataset import builtin_names, parse_dataset_description

REPO = Path(__file__).resolve().parents[2]


def drive_dict() -> dict[str, Any]:
    return json.loads((REPO / "akmamba" / "resources" / "datasets" / "drive.json").read_text(encoding="utf-8"))


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(arr).save(path)


def make_drive_like(root: Path, ids: tuple[int, ...] = (21, 3), label_value: int = 255) -> None:
    rng = np.random.default_rng(0)
    for i in ids:
        _save(root / "images" / f"{i}_training.tif", rng.integers(0, 256, (6, 5, 3), dtype=np.uint8))
        _save(
            root / "1st_manual" / f"{i}_manual1.gif",
            np.where(rng.random((6, 5)) > 0.5, label_value, 0).astype(np.uint8),
        )
        _save(root / "mask" / f"{i}_training_mask.gif", np.full((6, 5), 255, np.uint8))


def _load(tmp_path: Path, data: dict[str, Any]) -> Any:
    path = tmp_path / "desc.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return load_dataset_description(path)


def test_pairing_synthetic_drive(tmp_path: Path) -> None:
    make_drive_like(tmp_path)
    desc = builtin_description("DRIVE")
    samples = pair_files(desc, tmp_path)
    assert [s.case_id for s in samples] == ["3", "21"]  # natural order
    assert samples[1].label == tmp_path / "1st_manual" / "21_manual1.gif"
    assert samples[1].fov == tmp_path / "mask" / "21_training_mask.gif"
    image, labels, fov = load_sample(samples[1], desc)
    assert image.array.shape == (6, 5, 3)
    assert labels is not None
    assert labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, 1}
    assert fov is not None
    assert fov.dtype == bool
    assert fov.all()


def test_missing_required_label_and_no_images(tmp_path: Path) -> None:
    make_drive_like(tmp_path)
    (tmp_path / "1st_manual" / "3_manual1.gif").unlink()
    with pytest.raises(VolumeReadError, match=r"3_manual1\.gif"):
        pair_files(builtin_description("drive"), tmp_path)
    with pytest.raises(ConfigError, match="No images matching"):
        pair_files(builtin_description("drive"), tmp_path / "elsewhere")


def test_optional_label_absent_is_none(tmp_path: Path) -> None:
    make_drive_like(tmp_path, ids=(7,))
    (tmp_path / "1st_manual" / "7_manual1.gif").unlink()
    data = drive_dict()
    data["labels"]["required"] = False
    assert pair_files(_load(tmp_path, data), tmp_path)[0].label is None


def test_label_size_mismatch(tmp_path: Path) -> None:
    make_drive_like(tmp_path, ids=(7,))
    _save(tmp_path / "1st_manual" / "7_manual1.gif", np.zeros((5, 5), np.uint8))
    desc = builtin_description("drive")
    with pytest.raises(GeometryMismatchError, match=r"7_manual1\.gif"):
        load_sample(pair_files(desc, tmp_path)[0], desc)


def test_unknown_label_values_name_file_and_values(tmp_path: Path) -> None:
    make_drive_like(tmp_path, ids=(7,), label_value=200)
    desc = builtin_description("drive")
    with pytest.raises(ConfigError, match=r"\[200\].*7_manual1\.gif") as info:
        load_sample(pair_files(desc, tmp_path)[0], desc)
    assert info.value.got == [200]
    assert info.value.expected == [0, 255]


def test_remap_bladder_values() -> None:
    table = builtin_description("bladder").label_table
    arr = np.array([[0, 128, 255], [255, 0, 128]], np.uint8)
    np.testing.assert_array_equal(remap_labels(arr, table), [[0, 1, 2], [2, 0, 1]])
    with pytest.raises(ConfigError, match=r"\[7, 9\].*'x\.png'"):
        remap_labels(np.array([0, 7, 9]), table, path="x.png")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("images"), "'images'.*is missing"),
        (lambda d: d["images"].pop("glob"), "'images.glob'.*is missing"),
        (lambda d: d.update(modalty="x"), "'modalty'.*Did you mean 'modality'"),
        (lambda d: d["label_table"][1].update(color=[255, 0]), r"'label_table\[1\]\.color'"),
        (lambda d: d["label_table"][1].update(index=2), "indices must be 0..1"),
        (lambda d: d["label_table"][1].update(value_in_file="255"), r"label_table\[1\]\.value_in_file.*must be int"),
        (lambda d: d["labels"].update(pattern="{case}_manual1.gif"), "'labels.pattern'.*'case'"),
        (lambda d: d["case_id"].update(regex="^\\d+"), "needs a capture group"),
        (lambda d: d["case_id"].update(regex="(unclosed"), "not a valid regular expression"),
        (lambda d: d.update(format_version=2), "format_version"),
    ],
)
def test_description_validation_names_key_and_file(tmp_path: Path, edit: Any, message: str) -> None:
    data = drive_dict()
    edit(data)
    with pytest.raises(ConfigError, match=message) as info:
        _load(tmp_path, data)
    assert info.value.path == str(tmp_path / "desc.json")
    assert "desc.json" in str(info.value)


def test_bad_json(tmp_path: Path) -> None:
    (tmp_path / "d.json").write_text("{ not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_dataset_description(tmp_path / "d.json")


def test_builtins_and_round_trip(tmp_path: Path) -> None:
    assert {"drive", "bladder"} <= set(builtin_names())
    with pytest.raises(ConfigError, match="Did you mean 'drive'"):
        builtin_description("drivee")
    for name in ("drive", "bladder"):
        desc = builtin_description(name)
        assert desc.label_table[0].index == 0
        assert desc.label_table[0].value_in_file == 0
        again = parse_dataset_description(json.loads(json.dumps(desc.to_dict())))
        assert again.label_table == desc.label_table
        assert again.images == desc.images
    bladder = builtin_description("bladder")
    assert [(c.name, c.value_in_file, c.index) for c in bladder.label_table] == [
        ("background", 0, 0),
        ("bladder_wall", 128, 1),
        ("tumor", 255, 2),
    ]


def test_yaml_description(tmp_path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(drive_dict()), encoding="utf-8")
    assert load_dataset_description(tmp_path / "d.yaml").name == "DRIVE"
