"""Labels and tools panel: which label table is active (and a choice of the shipped ones), label list (colour,
visibility, current label), opacity, outline, overlay on/off, brush size, protect other labels, remove small
islands, undo/redo."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from akmamba.annotations import LabelTable
from akmamba.io.labels import label_table_choices


def _swatch(rgb: tuple[int, int, int]) -> QtGui.QIcon:
    pix = QtGui.QPixmap(14, 14)
    pix.fill(QtGui.QColor(*rgb))
    return QtGui.QIcon(pix)


class LabelsPanel(QtWidgets.QWidget):
    """Signals: ``table_chosen(str key)`` (a key of :func:`akmamba.io.labels.label_table_choices`),
    ``label_selected(int)``, ``visibility_changed(int, bool)``, ``opacity_changed(float)``,
    ``outline_toggled(bool)``, ``overlay_toggled(bool)``, ``radius_changed(int)``, ``protect_toggled(bool)``,
    ``islands_requested(int)``, ``undo_requested()``, ``redo_requested()``."""

    table_chosen = QtCore.Signal(str)
    label_selected = QtCore.Signal(int)
    visibility_changed = QtCore.Signal(int, bool)
    opacity_changed = QtCore.Signal(float)
    outline_toggled = QtCore.Signal(bool)
    overlay_toggled = QtCore.Signal(bool)
    radius_changed = QtCore.Signal(int)
    protect_toggled = QtCore.Signal(bool)
    islands_requested = QtCore.Signal(int)
    undo_requested = QtCore.Signal()
    redo_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        table_row = QtWidgets.QHBoxLayout()
        table_row.addWidget(QtWidgets.QLabel("Table"))
        self.table_combo = QtWidgets.QComboBox()
        self.table_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.table_combo.setMinimumContentsLength(12)
        self.table_combo.activated.connect(self._on_table_activated)
        table_row.addWidget(self.table_combo, 1)
        layout.addLayout(table_row)
        self.list = QtWidgets.QListWidget()
        self.list.setToolTip("Tick to show a label; select the label to paint (q/w or ,/.)")
        self.list.setMaximumHeight(110)
        self.list.currentItemChanged.connect(self._on_current_changed)
        self.list.itemChanged.connect(self._on_item_changed)
        layout.addWidget(self.list)
        form = QtWidgets.QFormLayout()
        self.opacity_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("Overlay opacity (A / D)")
        self.opacity_slider.valueChanged.connect(lambda v: self.opacity_changed.emit(v / 100.0))
        form.addRow("Opacity", self.opacity_slider)
        checks = QtWidgets.QHBoxLayout()
        self.overlay_check = QtWidgets.QCheckBox("Show (S)")
        self.overlay_check.setChecked(True)
        self.overlay_check.toggled.connect(self.overlay_toggled.emit)
        self.outline_check = QtWidgets.QCheckBox("Outline (O)")
        self.outline_check.toggled.connect(self.outline_toggled.emit)
        checks.addWidget(self.overlay_check)
        checks.addWidget(self.outline_check)
        form.addRow("Overlay", checks)
        self.radius_spin = QtWidgets.QSpinBox()
        self.radius_spin.setRange(0, 256)
        self.radius_spin.setSuffix(" px radius")
        self.radius_spin.setToolTip("Brush and eraser radius ([ ] or - + or Shift+wheel)")
        self.radius_spin.valueChanged.connect(self.radius_changed.emit)
        self.protect_check = QtWidgets.QCheckBox("Protect others (L)")
        self.protect_check.setToolTip("Protect other labels: paint only over background and the current label; erase "
                                      "only the current label (L)")
        self.protect_check.toggled.connect(self.protect_toggled.emit)
        brush = QtWidgets.QHBoxLayout()  # one row with the brush size: the panel fits a 1080-pixel screen
        brush.addWidget(self.radius_spin, 1)
        brush.addWidget(self.protect_check)
        form.addRow("Brush", brush)
        islands = QtWidgets.QHBoxLayout()
        self.islands_spin = QtWidgets.QSpinBox()
        self.islands_spin.setRange(1, 1_000_000)
        self.islands_spin.setValue(20)
        self.islands_spin.setSuffix(" px")
        self.islands_button = QtWidgets.QPushButton("Remove smaller islands")
        self.islands_button.setToolTip("Remove connected pieces of the current label smaller than this size")
        self.islands_button.clicked.connect(lambda: self.islands_requested.emit(self.islands_spin.value()))
        islands.addWidget(self.islands_spin)
        islands.addWidget(self.islands_button)
        form.addRow("Islands", islands)
        history = QtWidgets.QHBoxLayout()
        self.undo_button = QtWidgets.QPushButton("Undo")
        self.undo_button.setToolTip("Undo (Ctrl+Z)")
        self.undo_button.clicked.connect(self.undo_requested.emit)
        self.redo_button = QtWidgets.QPushButton("Redo")
        self.redo_button.setToolTip("Redo (Ctrl+Y or Ctrl+Shift+Z)")
        self.redo_button.clicked.connect(self.redo_requested.emit)
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)
        form.addRow("History", history)
        layout.addLayout(form)
        layout.addStretch(1)
        self.set_source("no image open")

    def set_table(self, table: LabelTable, current: int, source: str | None = None) -> None:
        """Show the labels (colour, name, visibility) and select ``current``; ``source`` (where the table comes
        from, in words) is shown as the active table, with the shipped tables to choose from."""
        if source is not None:
            self.set_source(source)
        self.list.blockSignals(True)
        self.list.clear()
        for info in table:
            item = QtWidgets.QListWidgetItem(_swatch(info.color), f"{info.value}  {info.name or 'label'}")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, info.value)
            item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(QtCore.Qt.CheckState.Checked if info.visible else QtCore.Qt.CheckState.Unchecked)
            self.list.addItem(item)
            if info.value == current:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self.set_opacity(table.opacity)

    def set_source(self, source: str) -> None:
        """Show ``source`` as the active table; the other items choose a shipped table."""
        self.table_combo.blockSignals(True)
        self.table_combo.clear()
        self.table_combo.addItem(source, "")
        self.table_combo.setItemData(0, f"The label table in use: {source}", QtCore.Qt.ItemDataRole.ToolTipRole)
        self.table_combo.insertSeparator(1)
        for key, rows in label_table_choices().items():
            names = ", ".join(str(r.get("name", "")) for r in rows if int(r["index"]) > 0)
            self.table_combo.addItem(f"Use {key}: {names}", key)
        self.table_combo.setCurrentIndex(0)
        self.table_combo.setToolTip(f"Label table in use: {source}. Pick another to change it (saved with the "
                                    "labels).")
        self.table_combo.blockSignals(False)

    def source(self) -> str:
        """The active table's source as shown."""
        return str(self.table_combo.itemText(0))

    def _on_table_activated(self, index: int) -> None:
        key = self.table_combo.itemData(index)
        self.table_combo.setCurrentIndex(0)  # the shown item stays the active table until the session changes
        if key:
            self.table_chosen.emit(str(key))

    def set_current(self, value: int) -> None:
        """Select label ``value`` without emitting."""
        self.list.blockSignals(True)
        for i in range(self.list.count()):
            if self.list.item(i).data(QtCore.Qt.ItemDataRole.UserRole) == value:
                self.list.setCurrentRow(i)
        self.list.blockSignals(False)

    def set_opacity(self, opacity: float) -> None:
        """Move the opacity slider without emitting."""
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(round(opacity * 100))
        self.opacity_slider.blockSignals(False)

    def set_tool_state(self, radius: int, protect: bool) -> None:
        """Reflect brush radius and protect mode without emitting."""
        self.radius_spin.blockSignals(True)
        self.radius_spin.setValue(radius)
        self.radius_spin.blockSignals(False)
        self.protect_check.blockSignals(True)
        self.protect_check.setChecked(protect)
        self.protect_check.blockSignals(False)

    def set_history(self, can_undo: bool, can_redo: bool) -> None:
        """Enable undo/redo buttons."""
        self.undo_button.setEnabled(can_undo)
        self.redo_button.setEnabled(can_redo)

    def _on_current_changed(self, item: QtWidgets.QListWidgetItem | None, _prev: object) -> None:
        if item is not None:
            self.label_selected.emit(int(item.data(QtCore.Qt.ItemDataRole.UserRole)))

    def _on_item_changed(self, item: QtWidgets.QListWidgetItem) -> None:
        value = int(item.data(QtCore.Qt.ItemDataRole.UserRole))
        self.visibility_changed.emit(value, item.checkState() == QtCore.Qt.CheckState.Checked)
