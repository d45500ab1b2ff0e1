"""Display panel: window/level presets, automatic 2-98 % levels, numeric limits, green channel, fit."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets


class DisplayPanel(QtWidgets.QWidget):
    """Signals: ``preset_chosen(int)``, ``auto_requested()``, ``levels_edited(float, float)``,
    ``green_toggled(bool)``, ``fit_requested()``."""

    preset_chosen = QtCore.Signal(int)
    auto_requested = QtCore.Signal()
    levels_edited = QtCore.Signal(float, float)
    green_toggled = QtCore.Signal(bool)
    fit_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        form = QtWidgets.QFormLayout(self)
        self.preset_combo = QtWidgets.QComboBox()
        self.preset_combo.activated.connect(self.preset_chosen.emit)
        self.preset_combo.setToolTip("Window/level presets; drag with the Window/level tool (C) to adjust")
        form.addRow("Preset", self.preset_combo)
        row = QtWidgets.QHBoxLayout()
        self.low_spin = self._spin("Lowest value shown (black)")
        self.high_spin = self._spin("Highest value shown (white)")
        row.addWidget(self.low_spin)
        row.addWidget(QtWidgets.QLabel("to"))
        row.addWidget(self.high_spin)
        form.addRow("Levels", row)
        buttons = QtWidgets.QHBoxLayout()
        self.auto_button = QtWidgets.QPushButton("Auto 2-98 %")
        self.auto_button.setToolTip("Levels at the 2nd and 98th percentiles (Alt+I)")
        self.auto_button.clicked.connect(self.auto_requested.emit)
        buttons.addWidget(self.auto_button)
        fit = QtWidgets.QPushButton("Fit")
        fit.setToolTip("Fit the image to the window (Home)")
        fit.clicked.connect(self.fit_requested.emit)
        buttons.addWidget(fit)
        form.addRow(buttons)
        self.green_check = QtWidgets.QCheckBox("Green channel (fundus)")
        self.green_check.setToolTip("Show only the green channel of a colour image, where vessels contrast best (G)")
        self.green_check.toggled.connect(self.green_toggled.emit)
        form.addRow(self.green_check)

    def _spin(self, tip: str) -> QtWidgets.QDoubleSpinBox:
        spin = QtWidgets.QDoubleSpinBox()
        spin.setRange(-1e9, 1e9)
        spin.setDecimals(1)
        spin.setKeyboardTracking(False)
        spin.setToolTip(tip)
        spin.valueChanged.connect(self._on_spin_changed)
        return spin

    def _on_spin_changed(self, _value: float) -> None:
        self.levels_edited.emit(self.low_spin.value(), self.high_spin.value())

    def set_presets(self, names: list[str]) -> None:
        """Fill the preset menu."""
        self.preset_combo.clear()
        self.preset_combo.addItems(names)

    def set_levels(self, low: float, high: float) -> None:
        """Show the current levels without emitting ``levels_edited``."""
        for spin, value in ((self.low_spin, low), (self.high_spin, high)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)

    def set_color_image(self, is_color: bool) -> None:
        """Enable the green-channel switch only for colour images."""
        self.green_check.setEnabled(is_color)
        if not is_color:
            self.green_check.setChecked(False)
