"""Main window: the slice view with its slice slider, dock panels, tool bar, menus and status bar; wiring only.

Panels are docks added with :meth:`MainWindow.add_panel`, so later panels (compare, export) slot in the same way.
Menus and shortcuts come from :mod:`app.shortcuts`; each command ``id`` is handled by ``_do_<id>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from akmamba.display import AUTO_PRESET, green_channel, initial_preset, preset_levels, presets_for
from akmamba.errors import ConfigError
from app import dialogs
from app.case_controller import CaseController
from app.errors import ErrorBanner, report
from app.panels.cases_panel import CasesPanel
from app.panels.display_panel import DisplayPanel
from app.panels.labels_panel import LabelsPanel
from app.panels.model_panel import ModelPanel
from app.prompt_tool import PromptMixin
from app.recovery import JournalStore
from app.segmentation import SegmentController
from app.session import Session
from app.settings import Settings
from app.shortcuts import SHORTCUTS
from app.status_log import MessageStatusBar
from app.views.edit_controller import EditController, Tool
from app.views.slice_view import SliceView
from app.window_commands import CommandsMixin
from app.window_model import SegmentMixin
from app.workers import WorkerSet

pg.setConfigOptions(imageAxisOrder="row-major")

_RIGHT = QtCore.Qt.DockWidgetArea.RightDockWidgetArea
_TOOL_IDS = {"tool_navigate": Tool.NAVIGATE, "tool_contrast": Tool.CONTRAST, "tool_brush": Tool.BRUSH,
             "tool_eraser": Tool.ERASER, "tool_fill": Tool.FILL, "tool_polygon": Tool.POLYGON,
             "tool_prompt": Tool.PROMPT}



#: The window's size on a large screen; a smaller screen gets its available area (a 1280 x 800 laptop screen used to
#: show the right-hand panels cut off).
PREFERRED_SIZE = (1400, 900)


def initial_size(screen: QtGui.QScreen | None) -> tuple[int, int]:
    """:data:`PREFERRED_SIZE`, shrunk to the screen's available area (without task bars)."""
    width, height = PREFERRED_SIZE
    if screen is None:
        return width, height
    area = screen.availableGeometry()
    return min(width, area.width()), min(height, area.height())


class MainWindow(CommandsMixin, SegmentMixin, PromptMixin):
    """The viewer's top-level window.

    Args:
        settings: UI preferences (tests pass ``Settings(tmp_path / "s.ini")``).
        journal_dir: edit-journal folder (default :func:`akmamba.paths.journal_dir`).
        journal: journal edits to disk (on by default; the crash guarantee).
        restore_policy: leftover journals after a crash: ``"ask"`` (dialog), ``"restore"`` or ``"discard"``.
        probe: gather scan backends, device and installed models in a worker at start-up.
    """

    case_opened = QtCore.Signal(str)
    open_failed = QtCore.Signal(str)

    def __init__(self, settings: Settings | None = None, journal_dir: str | Path | None = None, *,
                 journal: bool = True, restore_policy: str = "ask", probe: bool = True) -> None:
        super().__init__()
        from akmamba import __version__

        self._version = __version__
        self.settings = settings or Settings()
        self.workers = WorkerSet()
        self.journals = JournalStore(journal_dir, enabled=journal)
        self.session = Session(self.journals, self)
        self.cases = CaseController(self.session, self.journals, self.workers, self.settings, restore_policy, self)
        self.cases.ask_unsaved = lambda name: dialogs.ask_unsaved(self, name)
        self.cases.ask_restore = lambda items: dialogs.ask_restore(self, items)
        self.segmenter = SegmentController(self.workers, self)
        self.levels: tuple[float, float] = (0.0, 255.0)
        self.presets = presets_for(self._empty(), False)
        self.green = False
        self.last_error = ""
        self._shown_cases: Any = None
        self._levels_queued = False
        self.cuda_available: bool | None = None  # what the start-up probe found (None until it reports)
        self._brush_default: int | None = None  # the data set default the brush radius was last set from
        self.setWindowTitle(f"Akmamba Viewer {__version__}")
        self.resize(*initial_size(QtGui.QGuiApplication.primaryScreen()))
        self.setAcceptDrops(True)
        self._build_central()
        self.controller = EditController(self.session, self.view)
        self._build_panels()
        self._build_status_bar()
        self._build_actions()
        self._connect()
        self._init_prompt_tool()
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._on_tool_state_changed()
        self._on_history_changed()  # Undo/Redo stay disabled until an image with history is open
        qapp = QtWidgets.QApplication.instance()
        if qapp is not None:
            qapp.installEventFilter(self)
        if probe:
            QtCore.QTimer.singleShot(0, self._on_check_backends)
        QtCore.QTimer.singleShot(0, self.cases.check_recovery)

    @staticmethod
    def _empty() -> Any:
        import numpy as np

        return np.zeros((2, 2), np.uint8)

    # ------------------------------------------------------------------ layout

    def _build_central(self) -> None:
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        self.banner = ErrorBanner()
        layout.addWidget(self.banner)
        self.view = SliceView()
        layout.addWidget(self.view, 1)
        self.slice_row = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(self.slice_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QtWidgets.QLabel("Slice"))
        self.slice_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slice_slider.setToolTip("Slice (arrows, PgUp/PgDn, wheel)")
        row.addWidget(self.slice_slider, 1)
        self.slice_label = QtWidgets.QLabel("-")
        self.slice_label.setMinimumWidth(90)
        row.addWidget(self.slice_label)
        self.slice_row.hide()
        layout.addWidget(self.slice_row)
        self.setCentralWidget(central)

    def add_panel(self, title: str, widget: QtWidgets.QWidget,
                  area: QtCore.Qt.DockWidgetArea = _RIGHT) -> QtWidgets.QDockWidget:
        """Add a dock panel (later features such as compare and export use this too)."""
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower().replace(' ', '_')}")
        dock.setWidget(widget)
        dock.setFeatures(QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QtWidgets.QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        return dock

    def _build_panels(self) -> None:
        self.cases_panel = CasesPanel()
        self.display_panel = DisplayPanel()
        self.model_panel = ModelPanel()
        self.labels_panel = LabelsPanel()
        left = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea
        self.add_panel("Cases", self.cases_panel, left)
        self.add_panel("Display", self.display_panel, left)
        segment = self.add_panel("Segment", self.model_panel)
        labels = self.add_panel("Labels and tools", self.labels_panel)
        self.resizeDocks([segment, labels], [300, 600], QtCore.Qt.Orientation.Vertical)
        self.model_panel.set_device(self.settings.device())
        self.model_panel.set_tta(self.settings.tta())

    def _build_status_bar(self) -> None:
        bar = MessageStatusBar()  # messages elided visibly, whole in the tooltip and the message log
        self.setStatusBar(bar)
        self.readout_label = QtWidgets.QLabel("")
        self.readout_label.setMinimumWidth(380)
        self.readout_label.hide()  # shown while the pointer is over the image
        self.tool_label = QtWidgets.QLabel("")
        self.device_label = QtWidgets.QLabel("Device: checking...")
        self.backend_label = QtWidgets.QLabel("Compute: checking...")
        for widget in (self.readout_label, self.tool_label, self.device_label, self.backend_label):
            bar.addPermanentWidget(widget)
        bar.showMessage("No image loaded: File > Open (Ctrl+O), drop a file here, or try File > Open demo")

    def _build_actions(self) -> None:
        self.commands: dict[str, QtGui.QAction] = {}
        tools = QtGui.QActionGroup(self)
        for sc in SHORTCUTS:
            action = QtGui.QAction(sc.text, self)
            action.setShortcuts([QtGui.QKeySequence(k) for k in sc.keys])
            action.setToolTip(f"{sc.text} ({' / '.join(sc.keys)})")
            action.triggered.connect(getattr(self, f"_do_{sc.id}"))
            if sc.id in _TOOL_IDS:
                action.setCheckable(True)
                action.setText(_TOOL_IDS[sc.id].value)
                tools.addAction(action)
            self.addAction(action)
            self.commands[sc.id] = action
        self._build_menus()
        bar = self.addToolBar("Tools")
        bar.setObjectName("toolbar_tools")
        bar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        for key in ("tool_navigate", "tool_contrast", "tool_brush", "tool_eraser", "tool_fill", "tool_polygon",
                    "tool_prompt"):
            bar.addAction(self.commands[key])
        bar.addSeparator()
        for key in ("undo", "redo", "save"):
            bar.addAction(self.commands[key])

    def _connect(self) -> None:
        s, v, c = self.session, self.view, self.controller
        s.case_changed.connect(self._on_case_changed)
        s.labels_changed.connect(self._on_labels_changed)
        s.slice_changed.connect(self._on_slice_changed)
        s.prediction_changed.connect(self._on_prediction_changed)
        s.table_changed.connect(self._on_table_changed)
        s.history_changed.connect(self._on_history_changed)
        s.dirty_changed.connect(self._update_title)
        v.hovered.connect(self._on_hovered)
        self.slice_slider.valueChanged.connect(s.set_slice)
        c.state_changed.connect(self._on_tool_state_changed)
        c.levels_requested.connect(self.set_levels)
        c.message.connect(self._show_message)
        self.cases.opened.connect(self._on_case_opened)
        self.cases.error.connect(self.show_error)
        self.cases.message.connect(self._show_message)
        self.cases.cases_changed.connect(self._on_cases_changed)
        self.cases_panel.case_activated.connect(lambda p: self.cases.open_file(Path(p)))
        self.cases_panel.status_chosen.connect(lambda p, st: self.cases.set_status(Path(p), st))
        self.cases_panel.step.connect(self.cases.step_case)
        self.cases_panel.mark_corrected.connect(self.cases.mark_corrected)
        dp = self.display_panel
        dp.preset_chosen.connect(self.apply_preset)
        dp.auto_requested.connect(self.auto_levels)
        dp.levels_edited.connect(self.set_levels)
        dp.green_toggled.connect(self.set_green)
        dp.fit_requested.connect(v.fit)
        mp = self.model_panel
        mp.run_requested.connect(self.segment)
        mp.cancel_requested.connect(self.segmenter.cancel)
        mp.threshold_changed.connect(s.set_threshold)
        mp.accept_requested.connect(self.accept_prediction)
        mp.discard_requested.connect(self.discard_prediction)
        mp.device_changed.connect(self._on_device_changed)
        mp.tta_changed.connect(self._on_tta_changed)
        self.segmenter.running_changed.connect(mp.set_running)
        self.segmenter.progress.connect(mp.set_progress)
        self.segmenter.done.connect(self._on_segmented)
        self.segmenter.failed.connect(lambda exc: self.show_error(exc, "Segmentation"))
        self.segmenter.cancelled.connect(lambda: self._show_message("Segmentation cancelled."))
        lp = self.labels_panel
        lp.table_chosen.connect(self.choose_label_table)
        lp.label_selected.connect(c.set_label)
        lp.visibility_changed.connect(s.set_label_visible)
        lp.opacity_changed.connect(s.set_opacity)
        lp.outline_toggled.connect(v.overlay.set_outline)
        lp.overlay_toggled.connect(v.overlay.setVisible)
        lp.radius_changed.connect(c.set_radius)
        lp.protect_toggled.connect(c.set_protect)
        lp.islands_requested.connect(c.remove_small_islands)
        lp.undo_requested.connect(self._do_undo)
        lp.redo_requested.connect(self._do_redo)

    # ------------------------------------------------------------------ messages

    def show_error(self, exc: BaseException, context: str = "") -> None:
        """Show an error in the banner and status bar (app/errors.py); the session is left as it was."""
        self.last_error = report(self.banner, self.statusBar(), exc, context)
        if context.startswith("Opening"):
            self.open_failed.emit(self.last_error)

    def _show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def _do_message_log(self) -> None:
        self.statusBar().open_log()

    def _update_title(self, *_args: Any) -> None:
        name = self.session.path.name if self.session.path else ""
        mark = " *" if self.session.dirty else ""
        self.setWindowTitle(f"{name}{mark} - Akmamba Viewer {self._version}" if name else
                            f"Akmamba Viewer {self._version}")

    # ------------------------------------------------------------------ case and planes

    def _on_case_opened(self, path: str, restored: int) -> None:
        note = f" - restored {restored} unsaved edits from the journal" if restored else ""
        offered = self.offer_suitable_model()
        note += f" - model: {offered}" if offered else ""
        self._show_message(f"Opened {Path(path).name}{note}")
        self.case_opened.emit(path)

    def _on_case_changed(self) -> None:
        s = self.session
        if s.image is None:
            return
        self.segmenter.cancel()  # a run for the previous case is of no use any more
        self.banner.hide()
        arr = s.image.array
        self.presets = presets_for(arr, s.image.is_volume)
        self.display_panel.set_presets([p.name for p in self.presets])
        self.display_panel.preset_combo.setCurrentIndex(initial_preset(self.presets))
        self.display_panel.set_color_image(s.image.channels == 3)
        self.controller.level_span, self.levels = s.display_span, s.display_levels
        self.slice_row.setVisible(s.image.is_volume)
        self.view.set_orientation(s.orientation)
        self.slice_slider.blockSignals(True)
        self.slice_slider.setInvertedAppearance(s.orientation.flip_slices)  # right = towards S / A / R
        self.slice_slider.setInvertedControls(s.orientation.flip_slices)
        self.slice_slider.setRange(0, s.n_slices - 1)
        self.slice_slider.setValue(s.z)
        self.slice_slider.blockSignals(False)
        self.view.set_image(s.image_plane(self.green), self.levels, fit=True)
        self.set_levels(*self.levels)
        self._on_table_changed()
        self._on_slice_changed(s.z)
        self.labels_panel.set_table(s.table, self.controller.label, s.label_source)
        if s.brush_radius != self._brush_default:  # another data set: its brush (a radius the user set stays)
            self._brush_default = s.brush_radius
            self.controller.set_radius(s.brush_radius)
        self.controller.step_label(0)
        self.model_panel.set_pending(False)
        self.model_panel.set_info(None, "No result yet")
        self._on_history_changed()
        self._update_title()

    def _on_slice_changed(self, z: int) -> None:
        s = self.session
        self.view.set_image(s.image_plane(self.green), self.levels)
        self.view.overlay.set_plane(s.overlay_plane())
        self.slice_label.setText(f"{z + 1} / {s.n_slices}")
        if self.slice_slider.value() != z:
            self.slice_slider.blockSignals(True)
            self.slice_slider.setValue(z)
            self.slice_slider.blockSignals(False)

    def _on_labels_changed(self, bbox: Any) -> None:
        overlay, arr = self.view.overlay, self.session.label_map.array if self.session.label_map else None
        if arr is None or self.session.pending is not None:
            return
        if arr.dtype.itemsize > 1 or bbox is None:
            overlay.set_plane(self.session.overlay_plane())
        elif bbox.z0 is None or bbox.z0 <= self.session.z < bbox.z1:
            overlay.update_rect(bbox.y0, bbox.y1, bbox.x0, bbox.x1)

    def _on_prediction_changed(self) -> None:
        self.view.overlay.set_plane(self.session.overlay_plane())
        self.model_panel.set_pending(self.session.pending is not None, self.session.threshold_applies())

    def _on_table_changed(self) -> None:
        self.view.overlay.set_lut(self.session.lut())
        self.labels_panel.set_opacity(self.session.table.opacity)

    def choose_label_table(self, key: str) -> None:
        """Make the shipped label table ``key`` the open case's table (refused, with a message, when the labels
        hold values it lacks)."""
        if not self.session.has_case:
            self._show_message("Open an image first: the label table belongs to the open case.")
            return
        try:
            self.session.choose_label_table(key)
        except ConfigError as exc:
            self.show_error(exc, "Changing the label table")
            return
        self.labels_panel.set_table(self.session.table, self.controller.label, self.session.label_source)
        self._on_tool_state_changed()
        names = ", ".join(self.session.label_names().values())
        self._show_message(f"Label table: {self.session.label_source} ({names}).")

    def _on_history_changed(self) -> None:
        lm = self.session.label_map
        can_undo, can_redo = (lm.history.can_undo, lm.history.can_redo) if lm is not None else (False, False)
        self.commands["undo"].setEnabled(can_undo)
        self.commands["redo"].setEnabled(can_redo)
        self.labels_panel.set_history(can_undo, can_redo)

    def _on_cases_changed(self) -> None:
        if self._shown_cases is not self.cases.cases:
            self._shown_cases = self.cases.cases
            self.cases_panel.set_cases(self.cases.cases)
        else:
            self.cases_panel.refresh()

    def _on_tool_state_changed(self) -> None:
        c = self.controller
        for key, tool in _TOOL_IDS.items():
            self.commands[key].setChecked(tool is c.tool)
        names = self.session.label_names()
        protect = " - protect others" if c.protect else ""
        self.tool_label.setText(f"{c.tool.value} | r={c.radius} px | label {names.get(c.label, c.label)}{protect}")
        self.labels_panel.set_tool_state(c.radius, c.protect)
        self.labels_panel.set_current(c.label)
        self.view.setCursor(QtCore.Qt.CursorShape.CrossCursor if c.tool is not Tool.NAVIGATE
                            else QtCore.Qt.CursorShape.ArrowCursor)

    # ------------------------------------------------------------------ display

    def set_levels(self, low: float, high: float) -> None:
        """Set the display window (from a preset, the spin boxes or a W/L drag)."""
        if high <= low:
            high = low + 1e-3
        self.levels = (float(low), float(high))
        self.display_panel.set_levels(*self.levels)
        self.controller.levels = self.levels
        if not self._levels_queued:  # coalesce a burst of W/L drag events into one re-render
            self._levels_queued = True
            QtCore.QTimer.singleShot(0, self._apply_levels)

    def _apply_levels(self) -> None:
        self._levels_queued = False
        self.view.set_levels(self.levels)

    def apply_preset(self, index: int) -> None:
        """Apply window/level preset ``index`` of the current image's presets."""
        if self.session.image is not None and 0 <= index < len(self.presets):
            self.set_levels(*preset_levels(self._levels_source(), self.presets[index]))

    def _levels_source(self) -> Any:
        """The pixels window/level statistics are taken from: the shown green channel, else the whole image."""
        image = self.session.image
        assert image is not None
        return green_channel(image.array) if self.green and not image.is_volume else image.array

    def auto_levels(self) -> None:
        """Automatic window/level at the 2nd-98th percentiles of the whole image or volume (of its green channel
        alone while the green channel is shown)."""
        if self.session.image is not None:
            self.set_levels(*preset_levels(self._levels_source(), AUTO_PRESET))
            self._show_message(f"Auto levels: {self.levels[0]:.1f} - {self.levels[1]:.1f}")

    def set_green(self, on: bool) -> None:
        """Show the green channel of a colour image."""
        self.green = bool(on) and self.session.image is not None and self.session.image.channels == 3
        if self.display_panel.green_check.isChecked() != self.green:
            self.display_panel.green_check.setChecked(self.green)
        if self.session.image is not None:
            self.view.set_image(self.session.image_plane(self.green), self.levels)

    def _on_hovered(self, x: float, y: float) -> None:
        text = self.readout(x, y)
        self.readout_label.setText(text)
        self.readout_label.setVisible(bool(text))  # hidden off the image: the message gets its width
