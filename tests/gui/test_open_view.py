"""Opening files and folders, window/level, slices, readout, recent files, drag and drop, help."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtGui

from akmamba import display
from akmamba.demo import write_demo
from akmamba.io import read_image

pytestmark = pytest.mark.gui


def test_open_png_with_auto_levels_and_readout(window, open_case, grey_png: Path, qtbot) -> None:
    open_case(window, grey_png)
    arr = read_image(grey_png).array
    np.testing.assert_array_equal(window.view.image_item.image, arr)
    assert window.slice_row.isHidden()
    assert window.display_panel.preset_combo.currentText().startswith("8-bit")
    assert window.levels == (0.0, 255.0)
    window.display_panel.auto_button.click()
    expected = display.percentile_levels(arr, 2, 98)
    assert window.levels == pytest.approx(expected)
    assert window.display_panel.low_spin.value() == pytest.approx(expected[0], abs=0.05)
    qtbot.waitUntil(lambda: window.view.image_item.levels is not None)  # applied once per event-loop pass
    assert tuple(window.view.image_item.levels) == pytest.approx(expected)
    text = window.readout(31.5, 21.5)
    assert "x 31  y 21" in text
    assert "value 250" in text
    assert "label background" in text
    assert window.readout(-3, 5) == ""
    assert str(grey_png.resolve()) in window.settings.recent_files()
    assert window.windowTitle().startswith("case01.png")


def test_open_nifti_volume_with_slices_and_wl_drag(window, open_case, tiny_nifti: Path) -> None:
    open_case(window, tiny_nifti)
    s = window.session
    assert s.image.is_volume
    assert window.slice_row.isVisible()
    assert window.slice_slider.maximum() == 5
    assert s.z == 3
    np.testing.assert_array_equal(window.view.image_item.image, read_image(tiny_nifti).array[3])
    window.commands["slice_next"].trigger()
    assert s.z == 4
    assert window.slice_slider.value() == 4
    assert window.slice_label.text() == "5 / 6"
    window.slice_slider.setValue(0)
    assert s.z == 0
    assert window.view.image_item.image[0, 7] == 7
    window.commands["slice_prev"].trigger()
    assert s.z == 0  # clamped
    assert "slice 1 / 6" in window.readout(7.5, 1.5)  # 1-based, as the slider label
    assert "value 7" in window.readout(7.5, 1.5)
    assert "mm" in window.readout(1, 1)
    assert window.levels == pytest.approx(display.percentile_levels(read_image(tiny_nifti).array))
    window.commands["tool_contrast"].trigger()
    before = window.levels
    window.view.drag_through([(10, 10), (30, 10), (60, 10)])
    assert window.levels[1] - window.levels[0] > before[1] - before[0]  # dragging right widens the window
    window.apply_preset([p.name for p in window.presets].index("Full range (min-max)"))
    assert window.levels == (0.0, 539.0)


def test_green_channel_and_presets_on_demo_fundus(window, open_case, tmp_path: Path) -> None:
    paths = write_demo(tmp_path / "demo")
    open_case(window, paths[0])
    assert window.display_panel.green_check.isEnabled()
    window.commands["toggle_green"].trigger()
    assert window.view.image_item.image.ndim == 2
    np.testing.assert_array_equal(window.view.image_item.image, read_image(paths[0]).array[..., 1])
    assert window.view.overlay.pixels().any()  # the demo's vessel labels are loaded with it
    assert window.session.label_names() == {1: "vessel"}


def test_folder_case_list_next_previous_and_status(window, open_case, tmp_path: Path, qtbot) -> None:
    paths = write_demo(tmp_path / "demo")
    open_case(window, tmp_path / "demo")
    panel = window.cases_panel
    assert panel.list.count() == 2
    assert window.session.path == paths[0]
    with qtbot.waitSignal(window.case_opened, timeout=15000):
        window.commands["next_case"].trigger()
    assert window.session.path == paths[1]
    assert window.session.image.is_volume
    assert panel.list.currentRow() == 1
    assert not panel.next_button.isEnabled()
    window.controller.set_tool(window.controller.tool.BRUSH)
    window.view.click_at(50.5, 50.5)
    assert window.cases.cases.status(paths[1]) == "in progress"
    window.commands["save"].trigger()
    assert window.cases.cases.status(paths[1]) == "in progress"  # saving is not "corrected"
    window.controller.set_tool(window.controller.tool.BRUSH)
    window.view.click_at(40.5, 40.5)  # unsaved again: Mark corrected saves first
    assert window.session.dirty
    window.commands["mark_corrected"].trigger()
    assert not window.session.dirty
    assert window.cases.cases.status(paths[1]) == "corrected"
    assert "corrected" in panel.list.item(1).text()
    assert window.cases.cases.status(paths[0]) == "not started"
    panel.status_combo.setCurrentIndex(3)
    panel.status_combo.activated.emit(3)
    assert window.cases.cases.status(paths[1]) == "flagged"
    assert "flagged" in (tmp_path / "demo" / "akmamba_cases.json").read_text(encoding="utf-8")
    with qtbot.waitSignal(window.case_opened, timeout=15000):
        panel.prev_button.click()
    assert window.session.path == paths[0]


def test_drop_a_file_opens_it(window, grey_png: Path, qtbot) -> None:
    mime = QtCore.QMimeData()
    mime.setUrls([QtCore.QUrl.fromLocalFile(str(grey_png))])
    drop = QtGui.QDropEvent(QtCore.QPointF(50, 50), QtCore.Qt.DropAction.CopyAction, mime,
                            QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.case_opened, timeout=15000):
        window.dropEvent(drop)
    assert window.session.path == grey_png


def test_help_dialog_lists_the_shortcuts(window) -> None:
    window.commands["help"].trigger()
    texts = " | ".join(window.help_dialog.texts())
    for key in ("Ctrl+Z", "Ctrl+Y / Ctrl+Shift+Z", "B / 1", "[ / -", "Q / ,", "W / .", "Space (hold) + drag",
                "Shift+wheel", "Return / Enter", "Backspace", "Esc", "Alt+I", "S", "O", "L"):
        assert key in texts
    window.help_dialog.close()


def test_command_line_parser() -> None:
    from app import build_parser

    args = build_parser().parse_args(["--demo"])
    assert args.demo
    assert args.path is None
    args = build_parser().parse_args(["scan.nii.gz"])
    assert args.path == "scan.nii.gz"
    assert not args.demo


def test_demo_flag_opens_the_demo_cases(qtbot, tmp_path: Path, monkeypatch) -> None:
    import app
    from app import window_commands

    monkeypatch.setattr(window_commands, "demo_dir", lambda: tmp_path / "demo")
    args = app.build_parser().parse_args(["--demo", "--journal-dir", str(tmp_path / "j"),
                                          "--settings", str(tmp_path / "s.ini")])
    win = app.create_window(args)
    qtbot.addWidget(win)
    win.cases.ask_unsaved = lambda _name: "discard"
    qtbot.waitUntil(lambda: win.session.has_case, timeout=20000)
    assert win.session.path.name == "fundus_demo.png"
    assert win.cases_panel.list.count() == 2


def test_recent_files_menu_reopens(window, open_case, grey_png: Path, tiny_nifti: Path, qtbot) -> None:
    open_case(window, grey_png)
    open_case(window, tiny_nifti)
    window._on_recent_menu_about_to_show()
    names = [a.text() for a in window.recent_menu.actions()]
    assert names[:2] == ["vol.nii.gz", "case01.png"]
    with qtbot.waitSignal(window.case_opened, timeout=15000):
        window.recent_menu.actions()[1].trigger()
    assert window.session.path == grey_png


def test_finetune_takes_only_cases_marked_corrected(window, open_case, tmp_path: Path, qtbot) -> None:
    """A saved case is not fine-tuning data; one marked corrected (button or status combo) is."""
    from app.finetune_actions import gather_items

    paths = write_demo(tmp_path / "demo")
    open_case(window, tmp_path / "demo")
    window.controller.set_tool(window.controller.tool.BRUSH)
    window.view.click_at(30.5, 30.5)
    window.commands["save"].trigger()
    assert gather_items(window) == []
    panel = window.cases_panel
    panel.status_combo.setCurrentIndex(2)  # "corrected" in the combo = the Mark corrected path
    panel.status_combo.activated.emit(2)
    assert window.cases.cases.status(paths[0]) == "corrected"
    assert [item[0] for item in gather_items(window)] == [paths[0]]


def test_mark_corrected_needs_a_case_list(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    assert not window.cases.mark_corrected()
    assert "case list" in window.statusBar().currentMessage()
