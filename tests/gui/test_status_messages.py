"""Status-bar messages too long for the bar: elided with "...", whole in the tooltip, and kept in a message log
the user can open (they used to be cut mid-word with no way to read the rest)."""

from __future__ import annotations

import pytest
from PySide6 import QtWidgets

from akmamba.errors import ConfigError

pytestmark = pytest.mark.gui

LONG = ("Prompt preview for 12-IM1.png (3 prompts) in 0.80 s: bladder_wall 1234 px, tumor 56 px; press Enter to "
        "accept, Esc to drop, or add prompts; the model is prompt-bladder v2 on cpu, tiles 1 of 1, and this tail "
        "must stay readable: END-OF-MESSAGE")


def test_a_long_message_is_elided_visibly_and_whole_in_tooltip_and_log(window, qtbot) -> None:
    window._show_message(LONG)
    bar = window.statusBar()
    label = bar.message_label
    QtWidgets.QApplication.processEvents()
    assert bar.currentMessage() == LONG
    assert label.isVisible()
    assert label.is_elided()  # shown shortened ...
    assert label.text().endswith("…")  # ... with a visible ellipsis, not cut mid-word
    assert label.fontMetrics().horizontalAdvance(label.text()) <= label.contentsRect().width()
    assert label.toolTip() == LONG  # the whole text on hover
    assert bar.entries()[-1][1] == LONG
    window.commands["message_log"].trigger()  # View > Message log
    dialog = bar.log_dialog
    assert dialog.isVisible()
    assert "END-OF-MESSAGE" in dialog.text.toPlainText()
    window._show_message("a later message")
    assert dialog.text.toPlainText().endswith("a later message")  # kept up to date while open
    dialog.hide()


def test_errors_are_logged_whole_and_the_message_clears_on_timeout(window, qtbot) -> None:
    window.show_error(ConfigError("x" * 400 + " what to do: END"), "Importing labels")
    bar = window.statusBar()
    assert bar.currentMessage().endswith("what to do: END")
    assert bar.entries()[-1][1].endswith("what to do: END")
    bar.showMessage("short", 30)
    assert not bar.message_label.is_elided()
    qtbot.waitUntil(lambda: bar.currentMessage() == "", timeout=2000)
    assert bar.entries()[-1][1] == "short"  # the log keeps what was cleared
