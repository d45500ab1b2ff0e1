"""Versions panel: the model registry's versions of a line, their held-out metrics, which is active; activate,
roll back and use a version in one click; select two rows to compare them case by case.

Reading is a few small JSON files (akmamba.finetune.registry), done in the GUI thread; activation and rollback
are one atomic pointer write each.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from akmamba.errors import AkmambaError
from akmamba.finetune.registry import ModelRegistry, Version, heldout_score
from akmamba.finetune.versions_cli import version_row

COLUMNS = ("", "Version", "Parent", "Origin", "Created", "Held-out Dice", "Gain", "Gate")


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def _gate_tip(row: dict[str, Any], what: str) -> str:
    """Why a version has no gain / gate: only fine-tuned versions pass the promotion gate."""
    if row[what] is not None:
        return ""
    return (f"No {what}: {row['version']} was not made by a fine-tune ({row['origin']}), so it passed no promotion "
            "gate.")


class VersionsPanel(QtWidgets.QWidget):
    """Signals: ``use_requested(str model_path)`` (make the viewer segment with it), ``error(object exc, str)``,
    ``changed(str line)`` after an activation or rollback."""

    use_requested = QtCore.Signal(str)
    error = QtCore.Signal(object, str)
    changed = QtCore.Signal(str)

    def __init__(self, registry: ModelRegistry, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        layout = QtWidgets.QVBoxLayout(self)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Model"))
        self.line_combo = QtWidgets.QComboBox()
        self.line_combo.currentIndexChanged.connect(lambda _i: self.refresh_versions())
        row.addWidget(self.line_combo, 1)
        self.refresh_button = QtWidgets.QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        row.addWidget(self.refresh_button)
        layout.addLayout(row)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._on_selection)
        layout.addWidget(self.table, 1)
        buttons = QtWidgets.QHBoxLayout()
        self.activate_button = QtWidgets.QPushButton("Activate")
        self.activate_button.setToolTip("Make the selected version the active one")
        self.activate_button.clicked.connect(self.activate_selected)
        self.rollback_button = QtWidgets.QPushButton("Roll back")
        self.rollback_button.setToolTip("Re-activate the version that was active before")
        self.rollback_button.clicked.connect(self.rollback)
        self.use_button = QtWidgets.QPushButton("Use for segmenting")
        self.use_button.clicked.connect(self._use_selected)
        for b in (self.activate_button, self.rollback_button, self.use_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.details = QtWidgets.QLabel("")
        self.details.setWordWrap(True)
        self.details.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.details.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.details)
        self._versions: list[Version] = []
        self.refresh()

    # ------------------------------------------------------------------ data

    def line(self) -> str:
        """The shown line ("" when none)."""
        return str(self.line_combo.currentText())

    def refresh(self, select_line: str | None = None) -> None:
        """Re-read the registry (lines and versions)."""
        keep = select_line or self.line()
        self.line_combo.blockSignals(True)
        self.line_combo.clear()
        lines = self.registry.lines()
        self.line_combo.addItems(lines)
        if keep in lines:
            self.line_combo.setCurrentText(keep)
        self.line_combo.blockSignals(False)
        self.refresh_versions()

    def refresh_versions(self) -> None:
        """Re-read the versions of the shown line."""
        line = self.line()
        self._versions = self.registry.versions(line) if line else []
        try:
            active = self.registry.active_record(line).get("version") if line else None
        except AkmambaError as exc:
            self.error.emit(exc, "Reading the model registry")
            active = None
        self.table.setRowCount(len(self._versions))
        for i, v in enumerate(reversed(self._versions)):  # newest first
            r = version_row(v, active, self._versions)
            values = ["●" if r["active"] else "", r["version"], r["parent"], r["origin"],
                      (r["created"] or "")[:19].replace("T", " "), r["heldout_dice"], r["gain"], r["gate"]]
            tips = {0: "active" if r["active"] else "", 5: self._dice_tip(v), 6: _gate_tip(r, "gain"),
                    7: _gate_tip(r, "gate")}
            for j, value in enumerate(values):
                text = _fmt(value) if value != "" else ""
                if j == 5 and value is None:
                    text = "not measured"
                elif j == 5 and r["heldout_measured_in"] != v.id:
                    text += f" ({r['heldout_measured_in']})"
                item = QtWidgets.QTableWidgetItem(text)
                item.setData(QtCore.Qt.ItemDataRole.UserRole, v.id)
                if tips.get(j):
                    item.setToolTip(tips[j])
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        has = bool(self._versions)
        self.rollback_button.setEnabled(has)
        self._on_selection()
        if not line:
            self.details.setText("No fine-tuned versions yet: Model > Fine-tune on corrected cases.")

    def _dice_tip(self, v: Version) -> str:
        score = heldout_score(self._versions, v.id)
        if score is not None:
            return score.describe()
        return (f"Held-out Dice of {v.id}: not measured. It is measured when a fine-tune registers a version, and "
                "a base (imported) model when a fine-tune starts from it; no fine-tune of this line has judged "
                f"{v.id} yet.")

    def selected_ids(self) -> list[str]:
        """Version ids of the selected rows (table order)."""
        rows = sorted({i.row() for i in self.table.selectedIndexes()})
        return [str(self.table.item(r, 1).text()) for r in rows]

    def select(self, *version_ids: str) -> None:
        """Select rows by version id (tests, and after a run)."""
        self.table.clearSelection()
        mode = self.table.selectionMode()
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.MultiSelection)
        for r in range(self.table.rowCount()):
            if self.table.item(r, 1).text() in version_ids:
                self.table.selectRow(r)
        self.table.setSelectionMode(mode)

    def _version(self, vid: str) -> Version:
        return next(v for v in self._versions if v.id == vid)

    # ------------------------------------------------------------------ actions

    def activate_selected(self) -> None:
        """Activate the (first) selected version."""
        ids = self.selected_ids()
        if not ids:
            return
        try:
            self.registry.activate(self.line(), ids[0], reason="activated in the viewer")
        except AkmambaError as exc:
            self.error.emit(exc, f"Activating {ids[0]}")
            return
        self.refresh_versions()
        self.changed.emit(self.line())

    def rollback(self) -> None:
        """Re-activate the previously active version."""
        try:
            self.registry.rollback(self.line())
        except AkmambaError as exc:
            self.error.emit(exc, "Rolling back")
            return
        self.refresh_versions()
        self.changed.emit(self.line())

    def _use_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.use_requested.emit(str(self._version(ids[0]).model_path))

    def active_path(self) -> Path | None:
        """The active version's checkpoint of the shown line."""
        v = self.registry.active(self.line()) if self.line() else None
        return v.model_path if v is not None else None

    # ------------------------------------------------------------------ details and compare

    def _on_selection(self) -> None:
        ids = self.selected_ids()
        self.activate_button.setEnabled(len(ids) == 1)
        self.use_button.setEnabled(len(ids) == 1)
        if len(ids) == 1:
            self.details.setText(self._describe(self._version(ids[0])))
        elif len(ids) == 2:
            self.details.setText(self._compare(self._version(ids[0]), self._version(ids[1]), self._versions))
        else:
            self.details.setText("Select a version for its details, two to compare them.")

    @staticmethod
    def _describe(v: Version) -> str:
        r = v.record
        gate = r.get("gate") or {}
        data = r.get("data") or {}
        train = r.get("training") or {}
        lines = [f"<b>{html.escape(v.line)} {v.id}</b> ({html.escape(str(r.get('origin')))}, parent "
                 f"{html.escape(str(r.get('parent')))})"]
        if gate:
            lines.append(f"Gate: {html.escape(str(gate.get('reason')))}")
        if data:
            lines.append(f"Trained on {len(data.get('train_cases') or [])} case(s), judged on "
                         f"{len(data.get('heldout_cases') or [])} held-out case(s)")
        if train.get("steps"):
            lines.append(f"{train['steps']} steps in {float(train.get('elapsed_s') or 0):.0f} s "
                         f"(stopped by {train.get('stopped_by')})")
        lines.append(f"sha256 {str(r.get('model_sha256'))[:12]}...")
        return "<br>".join(lines)

    @staticmethod
    def _compare(a: Version, b: Version, versions: list[Version]) -> str:
        """Per-image held-out Dice of two versions, on the cases each was judged on (from the line's records: a
        base model's come from the fine-tune that judged it; :func:`akmamba.finetune.registry.heldout_score`)."""
        sa, sb = heldout_score(versions, a.id), heldout_score(versions, b.id)
        pa, pb = (sa.per_image if sa else {}), (sb.per_image if sb else {})
        names = sorted(set(pa) | set(pb))
        if not names:
            return f"{a.id} and {b.id}: held-out Dice not measured for either of them."
        rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{_fmt(pa.get(n))}</td><td>{_fmt(pb.get(n))}</td></tr>"
                       for n in names)
        notes = " ".join(s.describe() for s in (sa, sb) if s is not None)
        return (f"<table><tr><th>held-out image&nbsp;</th><th>{a.id}&nbsp;</th><th>{b.id}</th></tr>{rows}"
                f"<tr><td><b>mean</b></td><td>{_fmt(sa.mean_dice if sa else None)}</td>"
                f"<td>{_fmt(sb.mean_dice if sb else None)}</td></tr></table>{html.escape(notes)}")
