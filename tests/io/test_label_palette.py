"""Label PNGs are palette images: visible in any viewer (label colours in the palette), indices read back by
PIL, akmamba.io, the dataset loader (evaluate / fine-tune) and the viewer's case loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from akmamba.io import Image, read_image, write_labels
from akmamba.io.dataset import load_dataset_description, load_sample, pair_files

VESSEL, TUMOUR = (0, 220, 255), (220, 20, 60)


def _labels() -> np.ndarray:
    arr = np.zeros((24, 32), np.uint8)
    arr[4:10, 4:12] = 1
    arr[14:20, 10:30] = 2
    return arr


def test_label_png_is_a_palette_image_with_the_label_colours(tmp_path: Path) -> None:
    labels = _labels()
    path = write_labels(labels, Image(np.zeros((24, 32), np.uint8), "2d"), tmp_path / "m.png",
                        colors={1: VESSEL, 2: TUMOUR})
    with PILImage.open(path) as im:
        assert im.mode == "P"
        palette = np.array(im.getpalette()[:9]).reshape(3, 3)
        assert np.array_equal(np.array(im), labels)  # PIL reads the indices
        rgb = np.array(im.convert("RGB"))  # what an image viewer shows
    assert palette.tolist() == [[0, 0, 0], list(VESSEL), list(TUMOUR)]
    assert tuple(rgb[5, 5]) == VESSEL
    assert tuple(rgb[15, 15]) == TUMOUR
    back = read_image(path)
    assert back.array.dtype == np.uint8
    assert np.array_equal(back.array, labels)


def test_labels_without_colours_still_get_visible_default_colours(tmp_path: Path) -> None:
    path = write_labels(_labels(), Image(np.zeros((24, 32), np.uint8), "2d"), tmp_path / "m.png")
    with PILImage.open(path) as im:
        rgb = np.array(im.convert("RGB"))
    assert rgb[5, 5].max() > 100
    assert rgb[0, 0].max() == 0


def test_dataset_loader_reads_palette_labels_as_indices(tmp_path: Path) -> None:
    """The path of evaluate and fine-tune data: pair_files + load_sample over an exported folder."""
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    PILImage.fromarray(np.full((24, 32), 90, np.uint8)).save(tmp_path / "images" / "a.png")
    write_labels(_labels(), Image(np.zeros((24, 32), np.uint8), "2d"), tmp_path / "labels" / "a.png",
                 colors={1: VESSEL, 2: TUMOUR})
    (tmp_path / "dataset.json").write_text(json.dumps({
        "name": "t", "modality": "grey", "images": {"folder": "images", "glob": "*.png"},
        "labels": {"folder": "labels", "pattern": "{stem}.png", "required": True},
        "label_table": [{"name": "bg", "value_in_file": 0, "index": 0, "color": [0, 0, 0]},
                        {"name": "a", "value_in_file": 1, "index": 1, "color": list(VESSEL)},
                        {"name": "b", "value_in_file": 2, "index": 2, "color": list(TUMOUR)}]}))
    desc = load_dataset_description(tmp_path / "dataset.json")
    _, labels, _ = load_sample(pair_files(desc, tmp_path)[0], desc)
    assert labels is not None
    assert np.array_equal(labels, _labels())


def test_grey_palette_gif_still_reads_as_grey(tmp_path: Path) -> None:
    """Other palette files (DRIVE's GIF masks) keep the old rule: a grey palette gives the grey levels."""
    arr = np.where(_labels() > 0, 255, 0).astype(np.uint8)
    PILImage.fromarray(arr).convert("P").save(tmp_path / "m.gif")
    assert np.array_equal(read_image(tmp_path / "m.gif").array, arr)
