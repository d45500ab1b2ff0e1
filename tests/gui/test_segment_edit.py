"""Segment with a model, threshold live, accept, paint with the mouse, undo/redo, save and re-open; edit tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from akmamba.decision import labels_from_probs
from akmamba.io import read_image
from app.views.edit_controller import Tool

pytestmark = pytest.mark.gui


def test_segment_threshold_accept_paint_undo_save_reopen(window, open_case, grey_png: Path, tiny_checkpoint: Path,
                                                         qtbot, window_factory) -> None:
    open_case(window, grey_png)
    panel = window.model_panel
    panel.add_checkpoint(tiny_checkpoint)
    with qtbot.waitSignal(window.segmenter.done, timeout=60000):
        panel.run_button.click()
    qtbot.waitUntil(lambda: panel.run_button.isEnabled())
    info = window.session.pending.model_info
    assert info["name"] == "tiny-vessels"
    assert info["version"] == "0.1-test"
    assert len(info["sha256"]) == 64
    assert "tiny-vessels" in panel.info_label.text()
    assert info["sha256"][:12] in panel.info_label.text()
    assert panel.progress.value() == 1000
    probs = window.session.pending.probs
    counts = {}
    for value in (5, 50, 95):
        panel.threshold_slider.setValue(value)
        shown = window.view.overlay.pixels()
        np.testing.assert_array_equal(shown, labels_from_probs(probs, value / 100))
        counts[value] = int((shown > 0).sum())
    assert counts[5] > counts[95]
    assert counts[5] >= counts[50] >= counts[95]
    assert not window.session.label_map.array.any()  # nothing applied before Accept
    panel.threshold_slider.setValue(47)  # the random model's probabilities lie around 0.43-0.48
    panel.accept_button.click()
    accepted = labels_from_probs(probs, 0.47)
    assert 0 < accepted.sum() < accepted.size
    np.testing.assert_array_equal(window.session.label_map.array, accepted)
    assert window.session.model_info["threshold"] == "0.47"
    assert not panel.accept_button.isEnabled()
    window.commands["undo"].trigger()
    assert not window.session.label_map.array.any()
    window.commands["redo"].trigger()
    np.testing.assert_array_equal(window.session.label_map.array, accepted)

    window.commands["tool_brush"].trigger()
    window.controller.step_label(0)
    window.commands["brush_smaller"].trigger()
    radius = window.controller.radius
    window.view.drag_through([(5.5, 55.5), (25.5, 55.5), (60.5, 58.5)])
    painted = window.session.label_map.array.copy()
    assert painted[55, 5] == 1
    assert painted[55, 25] == 1
    assert painted[58, 60] == 1
    assert painted[55 - radius - 1, 25] == accepted[55 - radius - 1, 25]
    np.testing.assert_array_equal(window.view.overlay.pixels(), painted)  # the dirty rect reached the overlay
    window.commands["undo"].trigger()
    np.testing.assert_array_equal(window.session.label_map.array, accepted)
    np.testing.assert_array_equal(window.view.overlay.pixels(), accepted)
    window.commands["redo"].trigger()
    np.testing.assert_array_equal(window.session.label_map.array, painted)
    assert window.windowTitle().startswith("case01.png *")

    window.commands["save"].trigger()
    saved = grey_png.parent / "case01_labels.png"
    np.testing.assert_array_equal(read_image(saved).array, painted)
    assert not window.session.dirty
    assert "Saved" in window.statusBar().currentMessage()
    assert (grey_png.parent / "case01_labels.json").is_file()
    again = window_factory()
    with qtbot.waitSignal(again.case_opened, timeout=15000):
        again.open_path(grey_png)
    np.testing.assert_array_equal(again.session.label_map.array, painted)
    np.testing.assert_array_equal(again.view.overlay.pixels(), painted)


def test_edit_tools_and_overlay_keys(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    s, c, a = window.session, window.controller, window.commands
    lm = s.label_map
    a["tool_fill"].trigger()
    window.view.click_at(10.5, 10.5)
    assert (lm.array == 1).all()  # the empty plane filled with label 1
    a["undo"].trigger()
    a["tool_polygon"].trigger()
    for point in ((10, 10), (30, 10), (30, 30), (50, 50)):
        window.view.click_at(*point)
    a["polygon_delete"].trigger()  # Backspace drops the last point
    assert len(c.polygon) == 3
    a["escape"].trigger()  # Esc cancels
    assert c.polygon == []
    assert not lm.array.any()
    for point in ((10, 10), (30, 10), (30, 30), (10, 30)):
        window.view.click_at(*point)
    a["polygon_apply"].trigger()  # Enter fills
    assert lm.array[12:28, 12:28].all()
    assert lm.array.sum() < 30 * 30
    a["label_next"].trigger()
    assert c.label == 2  # the generic table of an undescribed image: label 1, label 2, ...
    a["protect"].trigger()
    assert c.protect
    assert "protect" in window.tool_label.text()
    a["tool_brush"].trigger()
    window.view.drag_through([(5.5, 20.5), (40.5, 20.5)])
    assert (lm.array[20, 12:28] == 1).all()
    assert lm.array[20, 5] == 2
    a["tool_eraser"].trigger()
    window.view.drag_through([(5.5, 20.5), (40.5, 20.5)])
    assert lm.array[20, 5] == 0
    assert (lm.array[20, 12:28] == 1).all()
    a["protect"].trigger()
    a["label_prev"].trigger()
    assert c.label == 1
    lm.paint_disc((50, 70), 0, 1)  # a one-pixel island
    window.labels_panel.islands_spin.setValue(5)
    window.labels_panel.islands_button.click()
    assert lm.array[50, 70] == 0
    assert lm.array[20, 20] == 1
    r = c.radius
    a["brush_larger"].trigger()
    assert c.radius > r
    assert window.labels_panel.radius_spin.value() == c.radius
    opacity = s.table.opacity
    a["opacity_down"].trigger()
    assert s.table.opacity == pytest.approx(opacity - 0.1)
    a["toggle_overlay"].trigger()
    assert not window.view.overlay.isVisible()
    a["toggle_overlay"].trigger()
    filled = window.view.overlay.pixels()
    a["toggle_outline"].trigger()
    outline = window.view.overlay.pixels()
    assert 0 < (outline > 0).sum() < (filled > 0).sum()
    assert outline[20, 20] == 0
    window.labels_panel.list.item(0).setCheckState(window.labels_panel.list.item(0).checkState().Unchecked)
    assert not s.table.labels[1].visible
    assert s.lut()[1, 3] == 0


def test_two_hundred_strokes_undo_and_redo(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    lm, c = window.session.label_map, window.controller
    c.set_tool(Tool.BRUSH)
    c.set_radius(0)
    after_ten = None
    for k in range(210):
        y, x = divmod(k, 80)
        with lm.stroke():
            lm.paint_disc((y, x), 0, 1 + k % 2)
        if k == 9:
            after_ten = lm.array.copy()
    final = lm.array.copy()
    for _ in range(200):
        window.commands["undo"].trigger()
    np.testing.assert_array_equal(lm.array, after_ten)
    np.testing.assert_array_equal(window.view.overlay.pixels(), after_ten)
    for _ in range(200):
        window.commands["redo"].trigger()
    np.testing.assert_array_equal(lm.array, final)


def test_space_pans_instead_of_painting(window, open_case, grey_png: Path) -> None:
    open_case(window, grey_png)
    window.commands["tool_brush"].trigger()
    window.set_space_pan(True)
    before = window.view.viewbox.viewRange()
    window.view.drag_through([(20, 20), (40, 30), (60, 40)])
    assert not window.session.label_map.array.any()
    assert window.view.viewbox.viewRange() != before
    window.set_space_pan(False)


def test_close_with_unsaved_changes_asks_first(window_factory, open_case, grey_png: Path) -> None:
    win = window_factory()
    open_case(win, grey_png)
    win.session.label_map.paint_disc((10, 10), 3, 1)
    asked = []
    win.cases.ask_unsaved = lambda name: asked.append(name) or "cancel"
    win.close()
    assert asked == ["case01.png"]
    assert win.isVisible()
    assert win.session.has_case
    win.cases.ask_unsaved = lambda name: "save"
    win.close()
    assert not win.isVisible()
    assert read_image(grey_png.parent / "case01_labels.png").array[10, 10] == 1


def test_segment_a_volume_previews_the_slice_and_accepts_the_volume(window, open_case, tiny_nifti: Path,
                                                                     tiny_checkpoint: Path, qtbot) -> None:
    open_case(window, tiny_nifti)
    window.model_panel.add_checkpoint(tiny_checkpoint)
    with qtbot.waitSignal(window.segmenter.done, timeout=60000):
        window.commands["segment"].trigger()
    probs = window.session.pending.probs
    assert probs.shape == (2, 6, 32, 40)
    threshold = float(np.median(probs[1]))
    window.model_panel.threshold_slider.setValue(round(threshold * 100))
    t = window.model_panel.threshold()
    np.testing.assert_array_equal(window.view.overlay.pixels(), labels_from_probs(probs[:, 3], t))
    window.commands["slice_next"].trigger()
    np.testing.assert_array_equal(window.view.overlay.pixels(), labels_from_probs(probs[:, 4], t))
    window.model_panel.accept_button.click()
    np.testing.assert_array_equal(window.session.label_map.array, labels_from_probs(probs, t))
    window.commands["undo"].trigger()
    assert not window.session.label_map.array.any()


def test_a_stroke_repaints_only_dirty_rectangles(window, open_case, grey_png: Path, monkeypatch) -> None:
    open_case(window, grey_png)
    overlay, rects = window.view.overlay, []
    original = overlay.update
    monkeypatch.setattr(overlay, "update", lambda *rect: rects.append(rect) or original(*rect))
    window.commands["tool_brush"].trigger()
    window.controller.set_radius(2)
    window.view.drag_through([(10.5, 10.5), (14.5, 12.5), (18.5, 14.5)])
    assert rects
    assert all(len(r) == 1 for r in rects)
    for (rect,) in rects:
        assert rect.width() * rect.height() <= 20 * 20 < 64 * 80


def test_discard_says_so_and_keeps_the_labels(window, open_case, grey_png: Path, tiny_checkpoint: Path,
                                              qtbot) -> None:
    open_case(window, grey_png)
    panel = window.model_panel
    panel.add_checkpoint(tiny_checkpoint)
    with qtbot.waitSignal(window.segmenter.done, timeout=60000):
        panel.run_button.click()
    qtbot.waitUntil(lambda: panel.run_button.isEnabled())
    assert "then Accept" in panel.info_label.text()
    panel.discard_button.click()
    assert window.session.pending is None
    assert "then Accept" not in panel.info_label.text()  # it used to keep asking to review and accept
    assert "discarded" in panel.info_label.text()
    assert "tiny-vessels" in panel.info_label.text()
    assert not panel.accept_button.isEnabled()
    assert not window.session.label_map.array.any()


def test_an_added_checkpoint_is_listed_by_its_recorded_name(tmp_path: Path) -> None:
    """A run's ``last.safetensors`` shows as the model it holds; a file whose stem is that name, one without a
    recorded name, or an unreadable one, as its file name."""
    from akmamba.nn import build_model, save_checkpoint
    from app.panels.model_panel import checkpoint_label

    model = build_model("unet", 1, 2, base_channels=4, depth=2).eval()
    run_file, named, nameless = (tmp_path / n for n in ("last.safetensors", "unet-x.safetensors", "y.safetensors"))
    save_checkpoint(model, run_file, metadata={"name": "unet-x"})
    save_checkpoint(model, named, metadata={"name": "unet-x"})
    save_checkpoint(model, nameless, metadata={})
    assert checkpoint_label(run_file) == "unet-x (last.safetensors)"
    assert checkpoint_label(named) == "unet-x.safetensors"
    assert checkpoint_label(nameless) == "y.safetensors"
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    assert checkpoint_label(broken) == "broken.safetensors"
