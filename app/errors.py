"""One place mapping exceptions to what the user sees: a title and a plain message, shown in an in-window banner
and in the status bar (never a modal dialog, so a failed action leaves the session usable and tests can read it).

``AkmambaError`` subclasses already carry a complete message (what was wrong, got vs expected, which file, what
to do); other exceptions become "Unexpected error" with the traceback behind a Details button and in the log.
"""

from __future__ import annotations

import logging
import traceback

from PySide6 import QtCore, QtWidgets

from akmamba.errors import (
    AkmambaError,
    BackendUnavailableError,
    CancelledError,
    CheckpointError,
    ConfigError,
    GeometryMismatchError,
    ImageTooLargeError,
    JournalError,
    OutOfMemoryError,
    ShapeError,
    UnsupportedFormatError,
    VolumeReadError,
)

log = logging.getLogger(__name__)

#: Most specific first: the first matching class gives the title.
_TITLES: tuple[tuple[type[BaseException], str], ...] = (
    (CancelledError, "Cancelled"),
    (UnsupportedFormatError, "Unsupported format"),
    (ImageTooLargeError, "Image too large or damaged"),
    (OutOfMemoryError, "Out of memory"),
    (VolumeReadError, "Cannot read or write the file"),
    (GeometryMismatchError, "Label map does not fit the image"),
    (ShapeError, "Wrong image or label shape"),
    (CheckpointError, "Model could not be loaded"),
    (BackendUnavailableError, "Compute backend unavailable"),
    (JournalError, "Edit journal problem"),
    (ConfigError, "Invalid setting"),
    (AkmambaError, "Error"),
    (MemoryError, "Out of memory"),
    (OSError, "File system error"),
)


def title_for(exc: BaseException) -> str:
    """Short title for an exception (``"Unexpected error"`` for anything not listed)."""
    for cls, title in _TITLES:
        if isinstance(exc, cls):
            return title
    return "Unexpected error"


def message_for(exc: BaseException, context: str = "") -> str:
    """The user-facing sentence(s) for ``exc``; ``context`` (e.g. ``"Opening 'a.png'"``) is prefixed when the
    exception's own message does not name the action."""
    if isinstance(exc, AkmambaError):
        text = exc.message  # akmamba messages already say what to do (house style section 7)
    elif isinstance(exc, OSError):
        name = f" {exc.filename!r}" if exc.filename else ""
        text = f"{exc.strerror or exc}{name}. Check the path and its permissions."
    elif isinstance(exc, MemoryError):
        text = "Not enough memory for this operation. Close other cases or use a smaller image."
    else:
        text = f"{type(exc).__name__}: {exc}. The details are in the log; please report them."
    return f"{context}: {text}" if context else text


class ErrorBanner(QtWidgets.QFrame):
    """A dismissable red banner above the image: title, message and (for unexpected errors) Details."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet(
            "#errorBanner { background: #fde8e8; border: 1px solid #d9534f; border-radius: 4px; }"
            "#errorBanner QLabel { color: #6b1111; }"
        )
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        self.label = QtWidgets.QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        self.details_button = QtWidgets.QPushButton("Details")
        self.details_button.clicked.connect(self._on_details_clicked)
        layout.addWidget(self.details_button)
        close = QtWidgets.QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(close)
        self._details = ""
        self._plain = ""
        self.hide()

    def show_message(self, title: str, text: str, details: str = "") -> None:
        """Show ``title: text``; ``details`` (a traceback) enables the Details button."""
        self.label.setText(f"<b>{_escape(title)}</b> &mdash; {_escape(text)}")
        self.label.setToolTip(text)
        self._plain = f"{title}: {text}"
        self._details = details
        self.details_button.setVisible(bool(details))
        self.show()

    def text(self) -> str:
        """The plain text shown (title and message)."""
        return self._plain

    def _on_details_clicked(self) -> None:
        box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Warning, "Error details", self.label.toolTip(),
                                    parent=self)
        box.setDetailedText(self._details)
        box.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def report(banner: ErrorBanner, status: QtWidgets.QStatusBar, exc: BaseException, context: str = "") -> str:
    """Show ``exc`` in the banner and the status bar, log it, and return the message shown."""
    title, text = title_for(exc), message_for(exc, context)
    expected = isinstance(exc, (AkmambaError, OSError, MemoryError))
    details = "" if expected else "".join(traceback.format_exception(exc))
    if expected:
        log.warning("%s: %s", title, text)
    else:
        log.error("%s: %s\n%s", title, text, details)
    banner.show_message(title, text, details)
    status.showMessage(f"{title}: {text}", 15000)
    return text
