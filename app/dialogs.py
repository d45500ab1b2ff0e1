"""Dialogs: keyboard help (F1), restore-after-crash, and unsaved-changes questions."""

from __future__ import annotations

from PySide6 import QtWidgets

from app.recovery import Leftover
from app.shortcuts import MOUSE_HELP, SHORTCUTS


class HelpDialog(QtWidgets.QDialog):
    """A table of every shortcut and mouse gesture."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Akmamba Viewer - keyboard and mouse")
        self.resize(620, 640)
        layout = QtWidgets.QVBoxLayout(self)
        rows = [(s.group, " / ".join(s.keys), s.text) for s in SHORTCUTS]
        rows += [("Mouse", gesture, text) for gesture, text in MOUSE_HELP]
        self.table = QtWidgets.QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Group", "Keys", "Action"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.resizeColumnsToContents()
        layout.addWidget(self.table)
        close = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.close)
        layout.addWidget(close)

    def texts(self) -> list[str]:
        """Every cell, for tests."""
        items = (self.table.item(r, c) for r in range(self.table.rowCount()) for c in range(3))
        return [item.text() for item in items if item is not None]


def ask_restore(parent: QtWidgets.QWidget, leftovers: list[Leftover]) -> str:
    """Ask whether to restore unsaved edits found after a crash: ``"restore"``, ``"discard"`` or ``"later"``."""
    lines = "\n".join(f"  {item.image_path.name}: {item.edits} edits" for item in leftovers[:10])
    box = QtWidgets.QMessageBox(parent)
    box.setIcon(QtWidgets.QMessageBox.Icon.Question)
    box.setWindowTitle("Restore unsaved edits")
    box.setText("The viewer did not close normally last time. Unsaved edits were recovered from the journal:")
    box.setInformativeText(f"{lines}\n\nRestore them now?")
    restore = box.addButton("Restore", QtWidgets.QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Decide later", QtWidgets.QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.exec()
    clicked = box.clickedButton()
    return "restore" if clicked is restore else "discard" if clicked is discard else "later"


def ask_unsaved(parent: QtWidgets.QWidget, name: str) -> str:
    """Ask what to do with unsaved labels: ``"save"``, ``"discard"`` or ``"cancel"``."""
    buttons = (QtWidgets.QMessageBox.StandardButton.Save | QtWidgets.QMessageBox.StandardButton.Discard
               | QtWidgets.QMessageBox.StandardButton.Cancel)
    answer = QtWidgets.QMessageBox.question(
        parent, "Unsaved changes", f"The labels of {name!r} have unsaved changes. Save them first?", buttons,
        QtWidgets.QMessageBox.StandardButton.Save,
    )
    if answer == QtWidgets.QMessageBox.StandardButton.Save:
        return "save"
    if answer == QtWidgets.QMessageBox.StandardButton.Discard:
        return "discard"
    return "cancel"
