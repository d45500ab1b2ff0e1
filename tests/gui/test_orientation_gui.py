"""The viewer shows volumes in the radiological convention and edits land on the voxel shown under the mouse.

A volume is stored turned 90 degrees in-plane with its slices running towards the feet (SimpleITK code ``PRI``:
columns towards P, rows towards R, slices towards I), so showing the array as stored is wrong on every axis. The
reference for what must be on screen is SimpleITK's own reading of the file reoriented by ``DICOMOrient`` to
``LPS`` (rows towards P: anterior up; columns towards L: patient right on the screen's left); voxels are matched
through physical points, never through akmamba's orientation code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PySide6 import QtCore

from akmamba.io import Image, write_image
from app import compare_actions
from app.views.edit_controller import Tool

pytestmark = pytest.mark.gui

PRI_XYZ = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
PRI_XYZ[1, 0], PRI_XYZ[0, 1] = 1.0, -1.0  # i -> P, j -> R, k -> I


@pytest.fixture
def turned_volume(tmp_path: Path) -> Path:
    """A (5, 12, 16) int16 NIfTI volume with unique voxel values, stored as PRI."""
    arr = np.arange(5 * 12 * 16, dtype=np.int16).reshape(5, 12, 16)
    path = tmp_path / "turned.nii.gz"
    write_image(Image(arr, "volume", spacing=(3.0, 0.8, 0.6), origin=(4.0, -2.0, 7.0),
                      direction=PRI_XYZ[::-1, ::-1]), path)
    return path


def radiological(path: Path) -> tuple[sitk.Image, sitk.Image, np.ndarray]:
    """(SimpleITK's image, its DICOMOrient LPS version, that version's (k, j, i) array)."""
    src = sitk.ReadImage(str(path))
    ref = sitk.DICOMOrient(src, "LPS")
    return src, ref, sitk.GetArrayFromImage(ref)


def ref_slice_of(src: sitk.Image, ref: sitk.Image, z: int) -> int:
    """The slice of the reoriented image that holds array slice ``z`` (by physical position)."""
    point = src.TransformIndexToPhysicalPoint((0, 0, z))
    return int(ref.TransformPhysicalPointToIndex(point)[2])


def test_volume_is_shown_anterior_up_right_on_the_left_with_letters(window, open_case, turned_volume: Path) -> None:
    open_case(window, turned_volume)
    view, s = window.view, window.session
    src, ref, ref_arr = radiological(turned_volume)
    k = ref_slice_of(src, ref, s.z)
    shown = ref_arr[k]
    assert view.display_shape() == shown.shape == (16, 12)
    item = view.image_item
    plane = s.image.array[s.z]
    for r in range(shown.shape[0]):
        for c in range(shown.shape[1]):  # Qt's own mapping of the display pixel centre into the image item
            p = item.mapFromView(QtCore.QPointF(c + 0.5, r + 0.5))
            assert plane[int(p.y()), int(p.x())] == shown[r, c], (r, c)
    letters = {edge: label.text() for edge, label in view.letters.items() if label.isVisible()}
    assert letters == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert window.slice_slider.invertedAppearance()  # slices run towards the feet: the slider's right is S
    before = src.TransformIndexToPhysicalPoint((0, 0, s.z))[2]
    window.commands["slice_next"].trigger()
    assert src.TransformIndexToPhysicalPoint((0, 0, s.z))[2] > before  # next slice is more superior


def test_paint_lands_on_the_shown_voxel_and_the_export_keeps_the_geometry(window, open_case, turned_volume: Path,
                                                                          tmp_path: Path) -> None:
    from app.export_actions import export_labels

    open_case(window, turned_volume)
    s, c = window.session, window.controller
    src, ref, _ = radiological(turned_volume)
    c.set_tool(Tool.BRUSH)
    c.set_radius(0)
    r, col = 2, 9  # display row 2 (near the anterior edge), column 9 (patient left half)
    window.view.click_at(col + 0.5, r + 0.5)
    assert int(s.label_map.array.sum()) == 1
    c.set_tool(Tool.POLYGON)
    for x, y in ((1, 10), (4, 10), (4, 13), (1, 13)):  # a display square of rows 10-12, columns 1-3
        window.view.click_at(x, y)
    window.commands["polygon_apply"].trigger()
    out = export_labels(window, tmp_path / "out.nii.gz")
    assert out is not None, window.last_error
    exported = sitk.ReadImage(str(out))
    assert exported.GetDirection() == pytest.approx(src.GetDirection(), abs=1e-6)
    assert exported.GetOrigin() == pytest.approx(src.GetOrigin(), abs=1e-4)
    shown = sitk.GetArrayFromImage(sitk.DICOMOrient(exported, "LPS"))[ref_slice_of(src, ref, s.z)]
    expected = np.zeros_like(shown)
    expected[r, col] = 1
    expected[10:13, 1:4] = 1
    np.testing.assert_array_equal(shown, expected)
    np.testing.assert_array_equal(window.view.overlay.pixels(), s.label_map.array[s.z])  # overlay in array order


def test_compare_views_use_the_same_orientation(window, open_case, turned_volume: Path) -> None:
    open_case(window, turned_volume)
    panel = compare_actions.open_compare(window)
    assert panel is not None
    for view in (panel.view_a, panel.view_b):
        assert view.orientation == window.view.orientation
        assert view.display_shape() == window.view.display_shape() == (16, 12)
        assert view.letters["top"].text() == "A"


def test_images_without_geometry_have_no_letters(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    assert not any(label.isVisible() for label in window.view.letters.values())
    assert window.view.display_shape() == (64, 80)
