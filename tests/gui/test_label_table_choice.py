"""Which label table an image gets, and choosing another: an image that nothing describes (no dataset, no saved
label table) gets the generic table, not the bladder one; the active table is shown and can be changed; bladder
and DRIVE images keep their datasets' tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from akmamba.io import Image, write_image

pytestmark = pytest.mark.gui

PROSTATE = Path("/work/shared/data/ProstateX_sample/ProstateX-0000_t2_tse_tra_4.nii.gz")


def test_an_undescribed_volume_gets_the_generic_table_and_says_so(window, open_case, tiny_nifti: Path) -> None:
    open_case(window, tiny_nifti)
    s, panel = window.session, window.labels_panel
    assert s.label_names() == {i: f"label {i}" for i in range(1, 7)}  # was {1: bladder_wall, 2: tumor}
    assert s.label_source.startswith("generic")
    assert panel.source() == s.label_source  # the user sees which table is active
    assert [panel.list.item(i).text() for i in range(2)] == ["1  label 1", "2  label 2"]


def test_choosing_a_table_in_the_panel_changes_it_and_is_saved(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    panel = window.labels_panel
    index = next(i for i in range(panel.table_combo.count()) if panel.table_combo.itemData(i) == "BladderMRI")
    panel.table_combo.activated.emit(index)  # as a user's pick does
    assert window.session.label_names() == {1: "bladder_wall", 2: "tumor"}
    assert "BladderMRI" in panel.source()
    assert panel.list.item(0).text() == "1  bladder_wall"
    window.session.label_map.paint_disc((10, 10), 3, 2)
    saved = window.session.save()
    sidecar = json.loads(saved.with_name(saved.name.replace(".png", ".json")).read_text(encoding="utf-8"))
    assert [r["name"] for r in sidecar["label_table"]] == ["background", "bladder_wall", "tumor"]


def test_a_table_without_the_painted_labels_is_refused(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    window.session.label_map.paint_disc((10, 10), 3, 5)  # generic "label 5"
    window.choose_label_table("DRIVE")  # vessel only: label 5 would lose its meaning
    assert window.session.label_source.startswith("generic")
    assert "[5]" in window.banner.text()
    assert "DRIVE" in window.banner.text()


def test_dataset_images_keep_their_tables(window, open_case, tmp_path: Path) -> None:
    for folder, arr in (("Images", np.zeros((32, 40), np.uint8)), ("Labels", np.zeros((32, 40), np.uint8))):
        (tmp_path / "b" / folder).mkdir(parents=True)
        write_image(Image(arr, "2d"), tmp_path / "b" / folder / "3-IM2.png")
    open_case(window, tmp_path / "b" / "Images" / "3-IM2.png")
    assert window.session.label_names() == {1: "bladder_wall", 2: "tumor"}
    assert window.session.label_source == "dataset BladderMRI"


@pytest.mark.skipif(not PROSTATE.is_file(), reason="no shared data")
def test_the_real_prostatex_volume_is_not_called_bladder(window, open_case) -> None:
    open_case(window, PROSTATE)
    assert "bladder_wall" not in window.session.label_names().values()
