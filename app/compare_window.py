"""The Compare panel: the open image twice, side by side, with two label maps (left: result A, right: reference
B), zoom and pan linked, a Difference toggle (:func:`akmamba.compare.difference_map` of A against B), a metrics
table of A against B, and the ranking of "Compare all models" against the corrected mask.

Sources are whole label maps (``(H, W)`` or ``(Z, Y, X)``) by name; volumes show the main window's current
slice, while metrics use the whole map. The panel holds no session logic: :mod:`app.compare_actions` feeds it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import overload

import numpy as np
from PySide6 import QtCore, QtWidgets

from akmamba.compare import compare_metrics, difference_lut, difference_map
from akmamba.io.orientation import AS_STORED, SliceOrientation
from app.views.slice_view import SliceView

METRIC_COLUMNS = (("Label", "label_name"), ("Precision", "precision"), ("Recall", "recall"), ("Dice", "dice"),
                  ("IoU", "iou"))
DIFF_BOTH, DIFF_LEFT = "both views", "left view only"
#: Minimum height of each image view and the most the tables take: with the main window's side docks the window
#: then fits a 1080-pixel screen (tests/gui/test_compare_gui.py measures it).
MIN_VIEW_HEIGHT, TABLE_HEIGHT = 140, 120


def fmt(value: float) -> str:
    """How a metric is written in the tables."""
    return "n/a" if not np.isfinite(value) else f"{value:.4f}"


class ComparePanel(QtWidgets.QWidget):
    """Two linked views, source pickers, the Difference toggle, metrics and ranking tables.

    Signals:
        compare_all_requested(): the "Compare all models" button.
        close_requested(): the "Close" button.
        add_checkpoint_requested(): the "Add checkpoint..." button.
        cancel_requested(): the "Cancel" button.
        export_report_requested(): the "Export report..." button.
    """

    compare_all_requested = QtCore.Signal()
    close_requested = QtCore.Signal()
    add_checkpoint_requested = QtCore.Signal()
    cancel_requested = QtCore.Signal()
    export_report_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.sources: dict[str, np.ndarray] = {}
        self.label_names: dict[int, str] = {}
        self.lut: np.ndarray = np.zeros((256, 4), np.uint8)
        self.plane_index: Callable[[], int] = lambda: 0
        self._image: np.ndarray | None = None
        self._levels: tuple[float, float] = (0.0, 255.0)
        self.metrics: list[dict] = []

        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("A (left):"))
        self.combo_a = QtWidgets.QComboBox()
        self.combo_a.setMinimumWidth(160)
        row.addWidget(self.combo_a)
        row.addWidget(QtWidgets.QLabel("Reference B (right):"))
        self.combo_b = QtWidgets.QComboBox()
        self.combo_b.setMinimumWidth(160)
        row.addWidget(self.combo_b)
        self.diff_check = QtWidgets.QCheckBox("Difference")
        self.diff_check.setToolTip("Colour A against B: green agreement, vermillion false positive (incl. a "
                                   "different label), blue false negative")
        row.addWidget(self.diff_check)
        self.diff_where = QtWidgets.QComboBox()
        self.diff_where.addItems([DIFF_BOTH, DIFF_LEFT])
        row.addWidget(self.diff_where)
        row.addStretch(1)
        self.close_button = QtWidgets.QPushButton("Close")
        self.close_button.setToolTip("Hide the Compare panel (Model > Compare results... shows it again)")
        row.addWidget(self.close_button)
        layout.addLayout(row)

        views = QtWidgets.QHBoxLayout()
        self.view_a = SliceView()
        self.view_b = SliceView()
        self.view_b.viewbox.setXLink(self.view_a.viewbox)
        self.view_b.viewbox.setYLink(self.view_a.viewbox)
        for view in (self.view_a, self.view_b):
            view.setMinimumHeight(MIN_VIEW_HEIGHT)  # the images get the room the window has, the tables little
            views.addWidget(view, 1)
        layout.addLayout(views, 1)

        tables = QtWidgets.QHBoxLayout()
        box = QtWidgets.QVBoxLayout()
        box.addWidget(QtWidgets.QLabel("A against reference B"))
        self.note_label = QtWidgets.QLabel("")  # why there are no metrics (A is B), or which labels are n/a
        self.note_label.setWordWrap(True)
        box.addWidget(self.note_label)
        self.metrics_table = QtWidgets.QTableWidget(0, len(METRIC_COLUMNS))
        self.metrics_table.setHorizontalHeaderLabels([c for c, _ in METRIC_COLUMNS])
        self.metrics_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics_table.verticalHeader().setVisible(False)
        self.metrics_table.setMaximumHeight(TABLE_HEIGHT)
        box.addWidget(self.metrics_table)
        tables.addLayout(box, 3)
        box = QtWidgets.QVBoxLayout()
        buttons = QtWidgets.QHBoxLayout()
        self.compare_all_button = QtWidgets.QPushButton("Compare all models")
        self.compare_all_button.setToolTip("Run every installed model and the added checkpoints, one after "
                                           "another, and rank them against the corrected mask (mean Dice)")
        self.add_button = QtWidgets.QPushButton("Add checkpoint...")
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.export_button = QtWidgets.QPushButton("Export report...")
        self.export_button.setToolTip("Write A against reference B (and the compared models) as a JSON, CSV or "
                                      "HTML report")
        for b in (self.compare_all_button, self.add_button, self.cancel_button, self.export_button):
            buttons.addWidget(b)
        box.addLayout(buttons)
        self.status_label = QtWidgets.QLabel("")
        self.status_label.setWordWrap(True)
        box.addWidget(self.status_label)
        self.ranking_table = QtWidgets.QTableWidget(0, 3)
        self.ranking_table.setHorizontalHeaderLabels(["Rank", "Model", "Mean Dice"])
        self.ranking_table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.ranking_table.verticalHeader().setVisible(False)
        self.ranking_table.setMaximumHeight(TABLE_HEIGHT)
        box.addWidget(self.ranking_table)
        tables.addLayout(box, 2)
        layout.addLayout(tables)

        self.combo_a.currentTextChanged.connect(self.refresh)
        self.combo_b.currentTextChanged.connect(self.refresh)
        self.diff_check.toggled.connect(self.refresh)
        self.diff_where.currentTextChanged.connect(self.refresh)
        self.compare_all_button.clicked.connect(self.compare_all_requested)
        self.close_button.clicked.connect(self.close_requested)
        self.add_button.clicked.connect(self.add_checkpoint_requested)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.export_button.clicked.connect(self.export_report_requested)

    # ------------------------------------------------------------------ data

    def set_image(self, volume: np.ndarray | None, levels: tuple[float, float],
                  orientation: SliceOrientation = AS_STORED) -> None:
        """The image (2-D plane or volume, as the session holds it), its display levels and the orientation its
        planes are shown in (the main view's, so both compare views match it)."""
        self._image, self._levels = volume, levels
        self.view_a.set_orientation(orientation)
        self.view_b.set_orientation(orientation)

    def set_sources(self, sources: dict[str, np.ndarray], label_names: dict[int, str], lut: np.ndarray) -> None:
        """Replace the selectable label maps, keeping the chosen names where they still exist."""
        self.sources, self.label_names, self.lut = dict(sources), dict(label_names), lut
        names = list(self.sources)
        for combo, default in ((self.combo_a, 1), (self.combo_b, 0)):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            elif names:
                combo.setCurrentIndex(min(default, len(names) - 1))
            combo.blockSignals(False)
        self.refresh()

    def choose(self, a: str | None = None, b: str | None = None) -> None:
        """Pick sources by name."""
        if a is not None:
            self.combo_a.setCurrentText(a)
        if b is not None:
            self.combo_b.setCurrentText(b)
        self.refresh()

    @overload
    def _plane(self, arr: np.ndarray, volume: bool) -> np.ndarray: ...
    @overload
    def _plane(self, arr: None, volume: bool) -> None: ...

    def _plane(self, arr: np.ndarray | None, volume: bool) -> np.ndarray | None:
        if arr is None:
            return None
        if volume:
            z = min(max(self.plane_index(), 0), arr.shape[0] - 1)
            arr = arr[z]
        return np.ascontiguousarray(arr, dtype=np.uint8) if arr.dtype != np.uint8 else np.ascontiguousarray(arr)

    def refresh(self, *_args: object) -> None:
        """Redraw both views and recompute the metrics of A against B."""
        a = self.sources.get(self.combo_a.currentText())
        b = self.sources.get(self.combo_b.currentText())
        image = self._image
        volume = (a is not None and a.ndim == 3) or (b is not None and b.ndim == 3)
        if image is not None:
            plane = image[min(max(self.plane_index(), 0), image.shape[0] - 1)] if volume else image
            fit = self.view_a._shape is None
            self.view_a.set_image(plane, self._levels, fit=fit)
            self.view_b.set_image(plane, self._levels, fit=fit)
        diff = None
        if self.diff_check.isChecked() and a is not None and b is not None and a.shape == b.shape:
            diff = difference_map(self._plane(a, volume), self._plane(b, volume))
        diff_lut = difference_lut()
        self.view_a.overlay.set_plane(diff if diff is not None else self._plane(a, volume))
        self.view_a.overlay.set_lut(diff_lut if diff is not None else self.lut)
        right_diff = diff is not None and self.diff_where.currentText() == DIFF_BOTH
        self.view_b.overlay.set_plane(diff if right_diff else self._plane(b, volume))
        self.view_b.overlay.set_lut(diff_lut if right_diff else self.lut)
        self._fill_metrics(a, b)

    def _fill_metrics(self, a: np.ndarray | None, b: np.ndarray | None) -> None:
        self.metrics = []
        note = ""
        if a is not None and b is not None and self.combo_a.currentText() == self.combo_b.currentText():
            note = (f"A and B are the same map ({self.combo_a.currentText()}): nothing to compare. Run a model, or "
                    "Compare all models, and choose its result as A.")
        elif a is not None and b is not None and a.shape == b.shape:
            self.metrics = compare_metrics(a, b, self.label_names)
            absent = [str(r["label_name"]) for r in self.metrics if not r["applicable"]]
            if absent:
                note = f"n/a: {', '.join(absent)} in neither map (left out of the mean Dice)."
        self.note_label.setText(note)
        t = self.metrics_table
        t.setRowCount(len(self.metrics))
        for i, row in enumerate(self.metrics):
            for j, (_title, key) in enumerate(METRIC_COLUMNS):
                value = row[key]
                item = QtWidgets.QTableWidgetItem(str(value) if key == "label_name" else fmt(float(value)))
                item.setData(QtCore.Qt.ItemDataRole.UserRole, value)
                t.setItem(i, j, item)
        t.resizeColumnsToContents()

    def set_ranking(self, ranking: list[tuple[str, float]]) -> None:
        """Show ``[(model, mean Dice), ...]`` best first."""
        t = self.ranking_table
        t.setRowCount(len(ranking))
        for i, (name, score) in enumerate(ranking):
            for j, text in enumerate((str(i + 1), name, fmt(score))):
                item = QtWidgets.QTableWidgetItem(text)
                if j == 2:
                    item.setData(QtCore.Qt.ItemDataRole.UserRole, score)
                t.setItem(i, j, item)
        t.resizeColumnsToContents()

    def set_running(self, running: bool) -> None:
        """Buttons while "Compare all models" runs."""
        self.compare_all_button.setEnabled(not running)
        self.add_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
