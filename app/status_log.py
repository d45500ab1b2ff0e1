"""The status bar's messages: shown elided ("...") when they do not fit, whole in the tooltip, and kept in a
message log the user can open (View > Message log, the Messages button, or a double-click on the message).

:class:`MessageStatusBar` is the window's status bar: the ``showMessage`` / ``currentMessage`` / ``clearMessage``
API of ``QStatusBar`` is kept (callers and tests use it), but the text lives in an eliding label between the
left edge and the permanent widgets instead of being painted clipped by ``QStatusBar``, which used to cut a long
error or a "Prompt preview ... in 0.8 s: ..." message mid-word with no way to read the rest.
"""

from __future__ import annotations

import datetime as dt
from collections import deque

from PySide6 import QtCore, QtGui, QtWidgets

#: Messages kept in the log (oldest dropped first).
LOG_SIZE = 500


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that draws its text elided at the right when it is too wide; the whole text is in its
    tooltip. It never asks for more width than a few characters, so long text cannot push other widgets away.
    Signal: ``double_clicked()``."""

    double_clicked = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(40)

    def set_full_text(self, text: str) -> None:
        """Show ``text`` (one line; newlines become spaces), elided to the width, whole in the tooltip."""
        self._full = " ".join(text.split("\n"))
        self.setToolTip(self._full if self._full else "")
        self._elide()

    def full_text(self) -> str:
        """The text as given."""
        return self._full

    def is_elided(self) -> bool:
        """Whether the shown text is shortened."""
        return self.text() != self._full

    def _elide(self) -> None:
        width = max(self.contentsRect().width(), 0)
        self.setText(self.fontMetrics().elidedText(self._full, QtCore.Qt.TextElideMode.ElideRight, width))

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def minimumSizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(40, super().minimumSizeHint().height())

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(40, super().sizeHint().height())

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:
        self.double_clicked.emit()
        super().mouseDoubleClickEvent(event)


class MessageLogDialog(QtWidgets.QDialog):
    """Every status message of this session, with its time, selectable and copyable (newest last)."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Message log")
        layout = QtWidgets.QVBoxLayout(self)
        self.text = QtWidgets.QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.WidgetWidth)
        layout.addWidget(self.text, 1)
        buttons = QtWidgets.QDialogButtonBox()
        copy = buttons.addButton("Copy all", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        copy.clicked.connect(lambda: QtWidgets.QApplication.clipboard().setText(self.text.toPlainText()))
        close = buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Close)
        close.clicked.connect(self.hide)
        layout.addWidget(buttons)
        self.resize(760, 360)

    def set_entries(self, entries: list[tuple[str, str]]) -> None:
        """Show ``(time, message)`` entries and scroll to the newest."""
        self.text.setPlainText("\n".join(f"{when}  {text}" for when, text in entries))
        self.text.moveCursor(QtGui.QTextCursor.MoveOperation.End)

    def append(self, when: str, text: str) -> None:
        """Add one entry at the end."""
        self.text.appendPlainText(f"{when}  {text}")


class MessageStatusBar(QtWidgets.QStatusBar):
    """A status bar whose messages are elided visibly, whole in a tooltip, and logged (module docstring).

    ``showMessage(text, timeout_ms)`` shows ``text`` (cleared after ``timeout_ms`` when > 0) and logs it;
    ``currentMessage()`` is the whole text shown now; :meth:`entries` is the log; :meth:`open_log` shows it.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.message_label = ElidedLabel()
        self.message_label.double_clicked.connect(self.open_log)
        self.addWidget(self.message_label, 1)
        self.log_button = QtWidgets.QToolButton()
        self.log_button.setText("Messages")
        self.log_button.setAutoRaise(True)
        self.log_button.setToolTip("Open the message log: every status message in full (View > Message log)")
        self.log_button.clicked.connect(self.open_log)
        self.addPermanentWidget(self.log_button)
        self._entries: deque[tuple[str, str]] = deque(maxlen=LOG_SIZE)
        self._text = ""
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.clearMessage)
        self.log_dialog: MessageLogDialog | None = None

    def showMessage(self, text: str, timeout: int = 0) -> None:
        """Show ``text`` (elided to fit; whole in the tooltip and the log) for ``timeout`` ms (0: until replaced)."""
        self._text = str(text)
        self.message_label.set_full_text(self._text)
        if self._text:
            when = dt.datetime.now().strftime("%H:%M:%S")
            self._entries.append((when, self._text))
            if self.log_dialog is not None:
                self.log_dialog.append(when, self._text)
        if timeout > 0:
            self._timer.start(timeout)
        else:
            self._timer.stop()
        self.messageChanged.emit(self._text)

    def clearMessage(self) -> None:
        """Remove the shown message (the log keeps it)."""
        self._timer.stop()
        self._text = ""
        self.message_label.set_full_text("")
        self.messageChanged.emit("")

    def currentMessage(self) -> str:
        """The whole message shown now ("" when none)."""
        return self._text

    def entries(self) -> list[tuple[str, str]]:
        """The message log: ``(HH:MM:SS, message)``, oldest first."""
        return list(self._entries)

    def open_log(self) -> MessageLogDialog:
        """Show the message log (one non-modal dialog, kept up to date while open)."""
        if self.log_dialog is None:
            self.log_dialog = MessageLogDialog(self.window())
        self.log_dialog.set_entries(self.entries())
        self.log_dialog.show()
        self.log_dialog.raise_()
        return self.log_dialog
