"""Case list panel: the cases of an opened folder with their review status, and previous/next."""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from app.cases import CORRECTED, FLAGGED, IN_PROGRESS, NOT_STARTED, STATUSES, CaseList

STATUS_COLORS = {NOT_STARTED: "#9aa0a6", IN_PROGRESS: "#f0ad4e", CORRECTED: "#3cb371", FLAGGED: "#d9534f"}


def _dot(color: str) -> QtGui.QIcon:
    pix = QtGui.QPixmap(12, 12)
    pix.fill(QtCore.Qt.GlobalColor.transparent)
    painter = QtGui.QPainter(pix)
    painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
    painter.setBrush(QtGui.QColor(color))
    painter.setPen(QtCore.Qt.PenStyle.NoPen)
    painter.drawEllipse(1, 1, 10, 10)
    painter.end()
    return QtGui.QIcon(pix)


class CasesPanel(QtWidgets.QWidget):
    """Signals: ``case_activated(str path)``, ``status_chosen(str path, str status)``, ``step(int)``,
    ``mark_corrected()`` (the Mark corrected button, or "corrected" chosen for the open case)."""

    case_activated = QtCore.Signal(str)
    status_chosen = QtCore.Signal(str, str)
    step = QtCore.Signal(int)
    mark_corrected = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        self.folder_label = QtWidgets.QLabel("No folder open (File > Open folder)")
        self.folder_label.setWordWrap(True)
        layout.addWidget(self.folder_label)
        self.list = QtWidgets.QListWidget()
        self.list.itemActivated.connect(self._on_item_activated)
        self.list.itemDoubleClicked.connect(self._on_item_activated)
        layout.addWidget(self.list, 1)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Status"))
        self.status_combo = QtWidgets.QComboBox()
        for status in STATUSES:
            self.status_combo.addItem(_dot(STATUS_COLORS[status]), status)
        self.status_combo.activated.connect(self._on_status_activated)
        row.addWidget(self.status_combo, 1)
        layout.addLayout(row)
        self.mark_button = QtWidgets.QPushButton("Mark corrected")
        self.mark_button.setToolTip("Save this case and mark it corrected (Ctrl+Enter): only corrected cases are "
                                    "used for fine-tuning; saving alone keeps the case 'in progress'")
        self.mark_button.clicked.connect(self.mark_corrected.emit)
        layout.addWidget(self.mark_button)
        nav = QtWidgets.QHBoxLayout()
        self.prev_button = QtWidgets.QPushButton("< Previous")
        self.prev_button.setToolTip("Previous case (Ctrl+Left)")
        self.prev_button.clicked.connect(lambda: self.step.emit(-1))
        self.next_button = QtWidgets.QPushButton("Next >")
        self.next_button.setToolTip("Next case (Ctrl+Right)")
        self.next_button.clicked.connect(lambda: self.step.emit(1))
        nav.addWidget(self.prev_button)
        nav.addWidget(self.next_button)
        layout.addLayout(nav)
        self._cases: CaseList | None = None
        self._sync_enabled()

    def set_cases(self, cases: CaseList | None) -> None:
        """Show a case list (None clears it)."""
        self._cases = cases
        self.list.clear()
        if cases is not None:
            self.folder_label.setText(f"<b>{cases.folder.name}</b> &mdash; {len(cases)} cases")
            self.folder_label.setToolTip(str(cases.folder))
            for path in cases.paths:
                item = QtWidgets.QListWidgetItem(path.name)
                item.setData(QtCore.Qt.ItemDataRole.UserRole, str(path))
                self.list.addItem(item)
            self.refresh()
        self._sync_enabled()

    def refresh(self) -> None:
        """Redraw statuses and the current case."""
        if self._cases is None:
            return
        for i, path in enumerate(self._cases.paths):
            item = self.list.item(i)
            status = self._cases.status(path)
            item.setIcon(_dot(STATUS_COLORS[status]))
            item.setText(f"{path.name}  \u2714 corrected" if status == CORRECTED else path.name)
            item.setToolTip(f"{path.name}: {status}" + (" (used for fine-tuning)" if status == CORRECTED else ""))
            font = item.font()
            font.setBold(i == self._cases.index)
            item.setFont(font)
        if self._cases.paths:
            self.list.setCurrentRow(self._cases.index)
            self.status_combo.setCurrentText(self._cases.status(self._cases.paths[self._cases.index]))
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        cases = self._cases
        has = cases is not None and len(cases) > 0
        self.status_combo.setEnabled(has)
        self.mark_button.setEnabled(has)
        self.prev_button.setEnabled(cases is not None and has and cases.index > 0)
        self.next_button.setEnabled(cases is not None and has and cases.index < len(cases) - 1)

    def _on_item_activated(self, item: QtWidgets.QListWidgetItem) -> None:
        self.case_activated.emit(str(item.data(QtCore.Qt.ItemDataRole.UserRole)))

    def _on_status_activated(self, index: int) -> None:
        if self._cases is not None and self._cases.paths:
            path: Path = self._cases.paths[self._cases.index]
            if STATUSES[index] == CORRECTED:  # corrected means saved and submitted: the same path as the button
                self.mark_corrected.emit()
                self.refresh()
            else:
                self.status_chosen.emit(str(path), STATUSES[index])
