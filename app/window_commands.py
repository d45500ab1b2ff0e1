"""The main window's commands (``_do_<id>`` for each entry of :mod:`app.shortcuts`), file dialogs, drag and drop,
Space-to-pan, the cursor readout, and the close guard. A mixin of :class:`app.main_window.MainWindow`."""

# mypy: disable-error-code="attr-defined"
from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from PySide6 import QtCore, QtGui, QtWidgets

from akmamba import paths
from akmamba.io import supported_suffixes
from app.compare_actions import build_compare_menu
from app.dialogs import HelpDialog
from app.export_actions import build_export_menu
from app.finetune_actions import build_finetune_menu
from app.shortcuts import SHORTCUTS
from app.views.edit_controller import Tool

_SPACE = QtCore.Qt.Key.Key_Space
_KEY_EVENTS = (QtCore.QEvent.Type.KeyPress, QtCore.QEvent.Type.KeyRelease)
_TEXT_INPUTS = (QtWidgets.QLineEdit, QtWidgets.QAbstractSpinBox, QtWidgets.QTextEdit, QtWidgets.QPlainTextEdit)


def demo_dir() -> Path:
    """Where ``--demo`` writes its generated cases (:func:`akmamba.paths.demo_dir`)."""
    return paths.demo_dir()


class CommandsMixin(QtWidgets.QMainWindow):
    """Commands and window-level event handling for the main window."""

    def _build_menus(self) -> None:
        a = self.commands
        menu = self.menuBar().addMenu("&File")
        for key in ("open", "open_folder"):
            menu.addAction(a[key])
        self.recent_menu = menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._on_recent_menu_about_to_show)
        menu.addAction("Open &demo", self.open_demo)
        menu.addAction("&Import label map...", self._do_import_labels)
        build_export_menu(self, menu)
        menu.addSeparator()
        for key in ("save", "save_as", "mark_corrected"):
            menu.addAction(a[key])
        menu.addSeparator()
        for key in ("prev_case", "next_case"):
            menu.addAction(a[key])
        menu.addSeparator()
        menu.addAction("&Quit", QtGui.QKeySequence.StandardKey.Quit, self.close)
        menu = self.menuBar().addMenu("&Edit")
        for key in ("undo", "redo"):
            menu.addAction(a[key])
        menu.addAction("Remove small &islands", lambda: self.controller.remove_small_islands(
            self.labels_panel.islands_spin.value()))
        menu = self.menuBar().addMenu("&Tools")
        for sc in SHORTCUTS:
            if sc.group == "Tools":
                menu.addAction(a[sc.id])
        self.prompt_regions_action = menu.addAction("Prompt: keep only the regions you point at")
        self.prompt_regions_action.setCheckable(True)
        self.prompt_regions_action.setChecked(self.settings.prompt_regions() == "clicked")
        self.prompt_regions_action.toggled.connect(self.set_prompt_regions)
        for group in ("View", "Labels", "Model"):
            menu = self.menuBar().addMenu(f"&{group}")
            for sc in SHORTCUTS:
                if sc.group == group:
                    menu.addAction(a[sc.id])
        menu.addAction("Cancel segmentation", self.segmenter.cancel)
        build_compare_menu(self, menu)
        build_finetune_menu(self, menu)
        menu = self.menuBar().addMenu("&Help")
        menu.addAction(a["help"])
        menu.addAction("&About", self._on_about)

    # ------------------------------------------------------------------ files

    def open_path(self, path: str | Path) -> bool:
        """Open a file, a DICOM folder or a folder of cases (asks first about unsaved labels)."""
        self.banner.hide()
        self.last_error = ""
        return self.cases.open_path(path)

    def open_demo(self, folder: str | Path | None = None) -> None:
        """Generate the synthetic demo cases (once) and open them as a case list."""
        from akmamba.demo import write_demo
        from app.workers import FunctionWorker

        target = Path(folder) if folder is not None else demo_dir()
        self._show_message("Preparing the demo cases...")
        worker = FunctionWorker(write_demo, target)
        worker.signals.returned.connect(self._on_demo_written)
        worker.signals.errored.connect(lambda exc: self.show_error(exc, "Writing the demo cases"))
        self.workers.start(worker)

    def _on_demo_written(self, paths: list[Path]) -> None:
        self.open_path(paths[0].parent)

    def _file_filter(self) -> str:
        patterns = " ".join(f"*{s}" for s in supported_suffixes())
        return f"Images and volumes ({patterns});;All files (*)"

    def _do_open(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Open an image or volume", self.settings.last_folder(),
                                                        self._file_filter())
        if path:
            self.open_path(path)

    def _do_open_folder(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Open a folder of cases (or a DICOM series)",
                                                            self.settings.last_folder())
        if folder:
            self.open_path(folder)

    def _on_recent_menu_about_to_show(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files()
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.open_path(p))
        if not recent:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self.settings.clear_recent_files)

    def _do_save(self) -> None:
        self.cases.save()

    def _do_mark_corrected(self) -> None:
        self.cases.mark_corrected()

    def _do_save_as(self) -> None:
        if not self.session.has_case or self.session.label_path is None:
            self._show_message("Nothing to save: open an image first.")
            return
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            self, "Save the label map", str(self.session.label_path),
            "Index PNG (*.png);;NIfTI (*.nii.gz *.nii);;MetaImage (*.mha);;NRRD (*.nrrd);;All files (*)")
        if path:
            self.cases.save(Path(path))

    def _do_import_labels(self) -> None:
        if not self.session.has_case:
            self._show_message("Open an image before importing its labels.")
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Import a label map", self.settings.last_folder(),
                                                        self._file_filter())
        if path:
            self.import_labels(path)

    def import_labels(self, path: str | Path) -> None:
        """Load a label file over the current labels (one undoable edit); wrong sizes are reported."""
        try:
            self.session.import_labels(Path(path))
        except (OSError, ValueError) as exc:
            self.show_error(exc, f"Importing labels {Path(path).name!r}")
        else:
            self._show_message(f"Imported labels from {Path(path).name}")

    def _do_next_case(self) -> None:
        self.cases.step_case(1)

    def _do_prev_case(self) -> None:
        self.cases.step_case(-1)

    # ------------------------------------------------------------------ edit

    def _do_undo(self) -> None:
        if self.session.label_map is not None and self.session.label_map.undo() is None:
            self._show_message("Nothing to undo.")

    def _do_redo(self) -> None:
        if self.session.label_map is not None and self.session.label_map.redo() is None:
            self._show_message("Nothing to redo.")

    def _do_tool_navigate(self) -> None:
        self.controller.set_tool(Tool.NAVIGATE)

    def _do_tool_contrast(self) -> None:
        self.controller.set_tool(Tool.CONTRAST)

    def _do_tool_brush(self) -> None:
        self.controller.set_tool(Tool.BRUSH)

    def _do_tool_eraser(self) -> None:
        self.controller.set_tool(Tool.ERASER)

    def _do_tool_fill(self) -> None:
        self.controller.set_tool(Tool.FILL)

    def _do_tool_polygon(self) -> None:
        self.controller.set_tool(Tool.POLYGON)

    def _do_escape(self) -> None:
        self.controller.escape()

    def _do_brush_smaller(self) -> None:
        self.controller.step_radius(-1)

    def _do_brush_larger(self) -> None:
        self.controller.step_radius(1)

    def _do_protect(self) -> None:
        self.controller.set_protect(not self.controller.protect)

    def _do_polygon_apply(self) -> None:
        if self.controller.tool is Tool.POLYGON:
            self.controller.apply_polygon()
        elif self.controller.tool is Tool.PROMPT:
            self.accept_prompt()

    def _do_polygon_delete(self) -> None:
        if self.controller.tool is Tool.POLYGON:
            self.controller.delete_polygon_point()
        elif self.controller.tool is Tool.PROMPT and self.controller.prompt is not None \
                and self.controller.prompt.undo_last():
            self.controller.set_prompts(self.controller.prompt.prompts)

    def _do_tool_prompt(self) -> None:
        self.controller.set_tool(Tool.PROMPT)

    def _do_prompt_propagate_next(self) -> None:
        self.propagate_prompt(1)

    def _do_prompt_propagate_prev(self) -> None:
        self.propagate_prompt(-1)

    def _do_label_prev(self) -> None:
        self.controller.step_label(-1)

    def _do_label_next(self) -> None:
        self.controller.step_label(1)

    # ------------------------------------------------------------------ view

    def _do_toggle_overlay(self) -> None:
        self.labels_panel.overlay_check.toggle()

    def _do_toggle_outline(self) -> None:
        self.labels_panel.outline_check.toggle()

    def _do_opacity_down(self) -> None:
        self.session.set_opacity(round(self.session.table.opacity - 0.1, 2))

    def _do_opacity_up(self) -> None:
        self.session.set_opacity(round(self.session.table.opacity + 0.1, 2))

    def _do_slice_next(self) -> None:
        self.session.step_slice(1)

    def _do_slice_prev(self) -> None:
        self.session.step_slice(-1)

    def _do_fit(self) -> None:
        self.view.fit()

    def _do_auto_levels(self) -> None:
        self.auto_levels()

    def _do_toggle_green(self) -> None:
        self.set_green(not self.green)

    def _do_segment(self) -> None:
        self.segment()

    def _do_help(self) -> None:
        if getattr(self, "help_dialog", None) is None:
            self.help_dialog = HelpDialog(self)
        self.help_dialog.show()
        self.help_dialog.raise_()

    def _on_about(self) -> None:
        QtWidgets.QMessageBox.about(
            self, "About Akmamba Viewer",
            f"Akmamba Viewer {self._version}\nAKConv + Mamba-out U-Nets for fundus and bladder MRI segmentation.")

    def readout(self, x: float, y: float) -> str:
        """Position, value and label under view point ``(x, y)`` ("" outside the image)."""
        s = self.session
        if s.image is None:
            return ""
        ax, ay = self.view.to_array(x, y)
        i, j = int(ay // 1), int(ax // 1)
        h, w = s.image.spatial_shape[-2:]
        if not (0 <= i < h and 0 <= j < w):
            return ""
        plane = s.image.array[s.z] if s.image.is_volume else s.image.array
        value = plane[i, j]
        text_value = ", ".join(_fmt(v) for v in value) if getattr(value, "ndim", 0) else _fmt(value)
        labels = s.overlay_plane()
        label = int(labels[i, j]) if labels is not None else 0
        name = s.label_names().get(label, "background" if label == 0 else str(label))
        where = f"x {j}  y {i}" + (f"  slice {s.z + 1} / {s.n_slices}" if s.image.is_volume else "")
        if s.image.is_volume:
            mm = s.image.index_to_physical((s.z, i, j))
            where += f"  ({mm[2]:.1f}, {mm[1]:.1f}, {mm[0]:.1f}) mm"
        return f"{where} | value {text_value} | label {name}"

    # ------------------------------------------------------------------ window events

    def eventFilter(self, obj: QtCore.QObject, ev: QtCore.QEvent) -> bool:
        """Hold Space to pan with any tool (unless typing in a text field)."""
        kind = ev.type()
        if kind not in _KEY_EVENTS:  # every event of the application passes here: leave quickly
            return False
        key_event = cast(QtGui.QKeyEvent, ev)
        if key_event.key() == _SPACE \
                and isinstance(obj, QtWidgets.QWidget) and obj.window() is self \
                and not isinstance(QtWidgets.QApplication.focusWidget(), _TEXT_INPUTS):
            if not key_event.isAutoRepeat():
                self.set_space_pan(kind == QtCore.QEvent.Type.KeyPress)
            return True
        return super().eventFilter(obj, ev)

    def set_space_pan(self, on: bool) -> None:
        """Temporary pan mode (Space held)."""
        self.controller.set_pan_override(on)
        self.view.setCursor(QtCore.Qt.CursorShape.OpenHandCursor if on else QtCore.Qt.CursorShape.CrossCursor)

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:
        paths = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            ev.acceptProposedAction()
            self.open_path(paths[0])

    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:
        if not self.cases.confirm_close():
            ev.ignore()
            return
        self.segmenter.cancel()
        self.workers.abort_all()
        self.session.close_case()
        self.settings.set_geometry(self.saveGeometry())
        self.settings.sync()
        qapp = QtWidgets.QApplication.instance()
        if qapp is not None:
            qapp.removeEventFilter(self)
        super().closeEvent(ev)


def _fmt(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.4g}"
