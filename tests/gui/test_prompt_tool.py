"""The Prompt tool: clicks, boxes and scribbles ask a prompt-aware model for a preview (worker), Enter accepts it as
one undo step, Esc drops it, propagate carries a slice to the next; offscreen, with a tiny random model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtWidgets

from akmamba.prompt.encode import Box, Click, Scribble
from app.views.edit_controller import Tool

_RIGHT = QtCore.Qt.MouseButton.RightButton
_SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier


def _prompt_tool_on(window, open_case, image: Path, checkpoint: Path) -> None:
    """Open ``image``, choose ``checkpoint`` in the Segment panel and pick the Prompt tool."""
    open_case(window, image)
    window.model_panel.add_checkpoint(checkpoint)
    window.commands["tool_prompt"].trigger()


def _preview(qtbot, window, act) -> None:
    with qtbot.waitSignal(window.prompter.answered, timeout=60000):
        act()
    qtbot.waitUntil(lambda: window.prompter.worker is None, timeout=60000)


def test_prompts_preview_accept_undo_escape(window, open_case, grey_png: Path, prompt_checkpoint: Path,
                                            qtbot) -> None:
    _prompt_tool_on(window, open_case, grey_png, prompt_checkpoint)
    assert window.controller.tool is Tool.PROMPT
    assert QtWidgets.QGraphicsView.cursor(window.view).shape() == QtCore.Qt.CursorShape.CrossCursor
    before = window.session.label_map.array.copy()
    _preview(qtbot, window, lambda: window.view.click_at(35.5, 25.5))
    assert window.controller.prompt.prompts == [Click(25, 35, 1, True)]
    assert window.session.preview is not None
    preview = window.session.preview[1].copy()
    np.testing.assert_array_equal(window.view.overlay.pixels(), preview)
    assert not window.view.prompt_marks["positive"].path().isEmpty()
    # right click: negative; drag: box; Shift+drag: scribble
    _preview(qtbot, window, lambda: window.view.click_at(5.5, 5.5, button=_RIGHT))
    _preview(qtbot, window, lambda: window.view.drag_through([(28.5, 18.5), (40.5, 30.5), (52.5, 42.5)]))
    _preview(qtbot, window, lambda: window.view.drag_through([(60.5, 50.5), (70.5, 55.5)], modifiers=_SHIFT))
    kinds = [type(p) for p in window.controller.prompt.prompts]
    assert kinds == [Click, Click, Box, Scribble]
    assert window.controller.prompt.prompts[1].positive is False
    box = window.controller.prompt.prompts[2]
    assert (box.y0, box.x0, box.y1, box.x1) == (18, 28, 42, 52)
    assert window.controller.prompt.prompts[3].points[0] == (50, 60)
    # Backspace removes the last prompt and asks again
    _preview(qtbot, window, lambda: window.commands["polygon_delete"].trigger())
    assert len(window.controller.prompt.prompts) == 3
    preview = window.session.preview[1].copy()
    # Enter: one undo step that writes the preview
    window.commands["polygon_apply"].trigger()
    np.testing.assert_array_equal(window.session.label_map.array, preview)
    assert window.session.preview is None
    assert not window.controller.prompt
    assert window.view.prompt_marks["positive"].path().isEmpty()
    window.commands["undo"].trigger()
    np.testing.assert_array_equal(window.session.label_map.array, before)
    # Esc drops the prompts and the preview, and leaves the labels alone
    _preview(qtbot, window, lambda: window.view.click_at(35.5, 25.5))
    window.commands["escape"].trigger()
    assert window.session.preview is None
    assert window.controller.prompt is None
    np.testing.assert_array_equal(window.session.label_map.array, before)
    assert window.controller.tool is Tool.PROMPT  # a second Esc goes back to Navigate
    window.commands["escape"].trigger()
    assert window.controller.tool is Tool.NAVIGATE


def test_prompt_on_a_volume_slice_and_propagate(window, open_case, tiny_nifti: Path, prompt_checkpoint: Path,
                                                qtbot) -> None:
    _prompt_tool_on(window, open_case, tiny_nifti, prompt_checkpoint)
    z = window.session.z
    _preview(qtbot, window, lambda: window.view.click_at(10.5, 10.5))
    preview = window.session.preview[1].copy()
    window.commands["polygon_apply"].trigger()
    arr = window.session.label_map.array
    np.testing.assert_array_equal(arr[z], preview)
    assert not np.delete(arr, z, axis=0).any()  # only the current slice was written
    _preview(qtbot, window, lambda: window.commands["prompt_propagate_next"].trigger())
    assert window.session.z == z + 1
    clicks = window.controller.prompt.prompts
    assert clicks
    assert all(isinstance(c, Click) and c.positive and c.label == 1 and preview[c.y, c.x] == 1 for c in clicks)
    assert window.session.preview[0] == z + 1
    # moving to another slice drops the prompts
    window.commands["slice_next"].trigger()
    assert window.controller.prompt is None
    assert window.session.preview is None


def test_a_plain_model_answers_by_region_growing(window, open_case, grey_png: Path, tiny_checkpoint: Path,
                                                qtbot) -> None:
    """Without a prompt-aware model the tool still works: the plain model's labels, grown from each prompt."""
    _prompt_tool_on(window, open_case, grey_png, tiny_checkpoint)
    label = window.controller.label
    _preview(qtbot, window, lambda: window.view.click_at(35.5, 25.5))
    assert window.prompt_answer is not None
    assert window.prompt_answer.grown
    assert window.prompt_answer.labels[25, 35] == label  # a positive click sets its grown region to the label
    assert "region growing" in window.statusBar().currentMessage()
    _preview(qtbot, window, lambda: window.view.click_at(35.5, 25.5, button=_RIGHT))
    assert window.prompt_answer.labels[25, 35] == 0  # the negative click at the same place clears it again
    _preview(qtbot, window, lambda: window.view.drag_through([(28.5, 18.5), (40.5, 30.5), (52.5, 42.5)]))
    assert window.prompt_answer.ignored == 1  # a box has no region-growing meaning
    assert "1 box(es) left out" in window.statusBar().currentMessage()
    preview = window.session.preview[1].copy()
    window.commands["polygon_apply"].trigger()  # Enter writes the grown answer like a learned one
    np.testing.assert_array_equal(window.session.label_map.array, preview)


def test_help_lists_the_prompt_tool(window) -> None:
    window.commands["help"].trigger()
    texts = " | ".join(window.help_dialog.texts())
    for words in ("Prompt tool", "I / 7", "Ctrl+Shift+Right", "Right click (prompt tool)", "Shift+left-drag"):
        assert words in texts
    window.help_dialog.close()


def test_choosing_the_prompt_tool_loads_the_model_in_the_background(window, open_case, grey_png: Path,
                                                                    prompt_checkpoint: Path, qtbot) -> None:
    """The first forward of a model costs about twice a later one, so it runs when the tool is chosen, silently."""
    open_case(window, grey_png)
    window.model_panel.add_checkpoint(prompt_checkpoint)
    answers: list = []
    window.prompter.answered.connect(answers.append)
    window.commands["tool_prompt"].trigger()
    assert window.prompter.worker is not None  # warming up
    qtbot.waitUntil(lambda: window.prompter.worker is None, timeout=60000)
    key = (window.model_panel.model_path(), window.model_panel.device())
    assert key in window.prompter._cache
    assert answers == []  # nothing shown
    assert window.session.preview is None
    # choosing the tool again does not load it again; a click previews at once from the loaded model
    window.commands["tool_navigate"].trigger()
    window.commands["tool_prompt"].trigger()
    assert window.prompter.worker is None
    _preview(qtbot, window, lambda: window.view.click_at(35.5, 25.5))
    assert window.session.preview is not None


def test_each_slice_shown_gets_its_whole_answer_for_the_prompt_window(window, open_case, tiny_nifti: Path,
                                                                       prompt_checkpoint: Path, qtbot) -> None:
    """With a prompt window (the CPU's default) a prompt runs on a window around the prompts once the plane's whole
    answer is kept: the warm-up keeps the first slice's, and a slice shown for 300 ms gets its own in the worker."""
    _prompt_tool_on(window, open_case, tiny_nifti, prompt_checkpoint)
    qtbot.waitUntil(lambda: window.prompter.worker is None, timeout=60000)
    (answerer,) = window.prompter._cache.values()
    volume = window.session.image.array
    z = window.session.z
    assert answerer.window == 256
    assert answerer.keeps(volume[z])
    assert not answerer.keeps(volume[z + 1])
    window.commands["slice_next"].trigger()
    qtbot.waitUntil(lambda: answerer.keeps(volume[z + 1]), timeout=60000)
    qtbot.waitUntil(lambda: window.prompter.worker is None, timeout=60000)
    assert window.session.preview is None  # nothing shown
    _preview(qtbot, window, lambda: window.view.click_at(10.5, 10.5))
    assert window.session.preview[0] == z + 1


def test_a_click_during_the_warm_up_waits_for_it_and_is_answered(window, open_case, grey_png: Path,
                                                                prompt_checkpoint: Path, qtbot) -> None:
    _prompt_tool_on(window, open_case, grey_png, prompt_checkpoint)
    assert window.prompter.worker is not None
    _preview(qtbot, window, lambda: window.view.click_at(35.5, 25.5))
    assert window.controller.prompt.prompts == [Click(25, 35, 1, True)]
    assert window.session.preview is not None


def test_a_warm_up_that_fails_shows_nothing(window, open_case, grey_png: Path, tmp_path: Path, qtbot,
                                            monkeypatch) -> None:
    errors: list = []
    monkeypatch.setattr(window, "show_error", lambda exc, *a, **k: errors.append(exc))
    open_case(window, grey_png)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    window.prompter.warm_up(str(broken), "cpu", np.zeros((8, 8), np.uint8))
    qtbot.waitUntil(lambda: window.prompter.worker is None, timeout=60000)
    assert errors == []


def test_region_growing_edits_the_labels_already_on_the_slice(window, open_case, grey_png: Path,
                                                              tiny_checkpoint: Path, qtbot) -> None:
    """With the label already painted on the slice, a plain model's prompts grow from the user's labels, not from
    the model's (the user's work is not replaced by the model's answer)."""
    from akmamba.prompt.protocol import RegionGrow

    _prompt_tool_on(window, open_case, grey_png, tiny_checkpoint)
    label = window.controller.label
    lm = window.session.label_map
    painted = np.zeros(lm.array.shape[-2:], bool)
    painted[2:6, 2:6] = True
    lm.set_region(painted, label, source="user")
    before = lm.array.copy()
    _preview(qtbot, window, lambda: window.view.click_at(35.5, 25.5))
    grow = RegionGrow()
    grown = grow.region(grow.feature(window.session.image.array), 25, 35)
    np.testing.assert_array_equal(window.prompt_answer.labels == label, (before == label) | grown)


def test_prompt_job_keeps_the_regions_the_prompts_touch(prompt_checkpoint: Path, monkeypatch) -> None:
    """The viewer's answer is the model's answer after the clicked rule (akmamba.prompt.regions): of three regions
    of label 1, the clicked one stays and the one under a negative click goes; "model" keeps the whole answer."""
    import dataclasses

    from akmamba.prompt.predictor import PromptPredictor
    from app.prompt_tool import PromptRequest, prompt_job

    real = PromptPredictor.predict_prompts
    three = np.zeros((64, 80), np.uint8)
    three[2:8, 2:8] = three[20:30, 30:40] = three[50:60, 60:70] = 1

    def answer_with_three_regions(self, image, prompts, should_stop=None, *, guidance=None):
        return dataclasses.replace(real(self, image, prompts, should_stop, guidance=guidance), labels=three.copy())

    monkeypatch.setattr(PromptPredictor, "predict_prompts", answer_with_three_regions)
    plane = (np.random.default_rng(0).random((64, 80)) * 255).astype(np.uint8)
    only_neg = (Click(55, 65, 1, False),)
    both = (Click(25, 35, 1, True), *only_neg)
    clicked = prompt_job(PromptRequest(str(prompt_checkpoint), "cpu", plane, both, 1, 0, 1), {})
    expected = np.zeros_like(three)
    expected[20:30, 30:40] = 1
    np.testing.assert_array_equal(clicked.labels, expected)
    dropped = prompt_job(PromptRequest(str(prompt_checkpoint), "cpu", plane, only_neg, 1, 0, 2), {})
    np.testing.assert_array_equal(dropped.labels, np.where(np.arange(64)[:, None] >= 50, 0, three))
    whole = prompt_job(PromptRequest(str(prompt_checkpoint), "cpu", plane, both, 1, 0, 3, regions="model"), {})
    np.testing.assert_array_equal(whole.labels, three)


def test_the_region_rule_toggle_is_remembered_and_answers_again(window, open_case, grey_png: Path,
                                                                prompt_checkpoint: Path, qtbot) -> None:
    _prompt_tool_on(window, open_case, grey_png, prompt_checkpoint)
    action = window.prompt_regions_action
    assert action.isChecked()
    assert window.settings.prompt_regions() == "clicked"
    _preview(qtbot, window, lambda: window.view.click_at(35.5, 25.5))
    assert window.prompt_answer.request.regions == "clicked"
    _preview(qtbot, window, lambda: action.setChecked(False))  # the prompts are answered again
    assert window.settings.prompt_regions() == "model"
    assert window.prompt_answer.request.regions == "model"
    action.setChecked(True)
    assert window.settings.prompt_regions() == "clicked"
