"""File > Export: the label map in another file or format, colour tables (ITK-SNAP, 3D Slicer) and a training
folder (akmamba or nnU-Net layout) of the corrected cases. The writing itself is :mod:`akmamba.export` and
:func:`akmamba.io.write_labels` (atomic, verified by reading back); this module only asks for paths."""

# mypy: disable-error-code="attr-defined"
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtWidgets

from akmamba.annotations.colors import colors_by_value
from akmamba.errors import AkmambaError
from akmamba.export import export_training_folder, write_itksnap_labels, write_slicer_color_table
from akmamba.io import Image, read_image, write_labels
from akmamba.reports import build_case_report, read_json_report, write_report

_LAYOUTS = {"akmamba (images/, labels/, dataset.json)": "akmamba",
            "nnU-Net v2 (imagesTr/, labelsTr/, dataset.json)": "nnunet"}
_VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


def build_export_menu(win: Any, file_menu: QtWidgets.QMenu) -> QtWidgets.QMenu:
    """Add the File > Export submenu to ``file_menu``."""
    menu = file_menu.addMenu("&Export")
    menu.addAction("&Labels as...", lambda: export_labels(win))
    menu.addAction("Colour table (&ITK-SNAP)...", lambda: export_color_table(win, "itksnap"))
    menu.addAction("Colour table (3D &Slicer)...", lambda: export_color_table(win, "slicer"))
    menu.addAction("&Training folder...", lambda: export_training(win))
    menu.addAction("&Metric report...", lambda: export_metric_report(win))
    win.export_menu = menu
    return menu


def _label_table(win: Any) -> Any:
    return win.session.label_rows or win.session.table


def _start_dir(win: Any, name: str) -> str:
    folder = win.session.path.parent if win.session.path is not None else Path(win.settings.last_folder())
    return str(folder / name)


#: The export filters that write the training data's label values (the label table's ``value_in_file``, e.g.
#: 0/128/255 for the bladder data) instead of class indices.
_FILE_VALUE_FILTERS = ("PNG with the training data's values (*.png)",
                       "NIfTI with the training data's values (*.nii.gz *.nii)")


def _file_value_lut(win: Any, array: np.ndarray) -> np.ndarray:
    """Class index -> the value of the training data's label files (ConfigError when the label table does not
    give them, for an index in the map included)."""
    from akmamba.infer.label_values import index_to_file_values

    rows = win.session.label_rows
    top = max([int(r["index"]) for r in rows if "index" in r] + [int(array.max()) if array.size else 0])
    return index_to_file_values(rows, top + 1, "The open case's label table")


def export_labels(win: Any, path: str | Path | None = None, file_values: bool = False) -> Path | None:
    """Write the current label map (index PNG for 2-D; NIfTI/NRRD/MHA with the source geometry for volumes), or
    with ``file_values`` (a file-values filter in the dialog) the training data's label values instead of class
    indices."""
    s = win.session
    if not s.has_case:
        win._show_message("Nothing to export: open an image first.")
        return None
    volume = s.image.is_volume
    if path is None:
        stem = s.label_path.name if s.label_path is not None else "labels.png"
        filters = ("NIfTI (*.nii.gz *.nii);;NRRD (*.nrrd);;MetaImage (*.mha);;" + _FILE_VALUE_FILTERS[1] if volume
                   else "Index PNG (*.png);;" + _FILE_VALUE_FILTERS[0])
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(win, "Export the label map", _start_dir(win, stem),
                                                             filters)
        if not path:
            return None
        file_values = chosen in _FILE_VALUE_FILTERS
    target = Path(path)
    name = target.name.lower()
    if volume and not name.endswith(_VOLUME_SUFFIXES):
        target = target.with_name(target.name + ".nii.gz")
    elif not volume and not name.endswith(".png"):
        target = target.with_name(target.name + ".png")
    s.label_map.end_stroke()
    try:
        lut = _file_value_lut(win, s.label_map.array) if file_values else None
        array = s.label_map.array if lut is None else lut[s.label_map.array]
        written = write_labels(array, like=s.image, path=target, overwrite=True,
                               colors=colors_by_value(s.label_rows, lut))
    except (OSError, ValueError, AkmambaError) as exc:
        win.show_error(exc, f"Exporting labels to {target.name!r}")
        return None
    what = "labels (training data's values)" if file_values else "labels"
    win._show_message(f"Exported {what} to {written}")
    return written


def export_color_table(win: Any, kind: str, path: str | Path | None = None) -> Path | None:
    """Write the label table as an ITK-SNAP label description file (``kind="itksnap"``) or a 3D Slicer colour
    table (``kind="slicer"``)."""
    if not win.session.label_rows and not win.session.table.labels:
        win._show_message("No label table to export: open an image first.")
        return None
    itk = kind == "itksnap"
    if path is None:
        title = "Export the colour table (ITK-SNAP)" if itk else "Export the colour table (3D Slicer)"
        default = "labels_itksnap.txt" if itk else "labels.ctbl"
        filters = "ITK-SNAP label description (*.txt);;All files (*)" if itk else \
            "Slicer colour table (*.ctbl *.txt);;All files (*)"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(win, title, _start_dir(win, default), filters)
        if not path:
            return None
    writer = write_itksnap_labels if itk else write_slicer_color_table
    try:
        written = writer(_label_table(win), Path(path), overwrite=True)
    except (OSError, ValueError) as exc:
        win.show_error(exc, f"Exporting the colour table to {Path(path).name!r}")
        return None
    win._show_message(f"Exported the colour table to {written}")
    return written


def training_cases(win: Any) -> list[tuple[Path, Image | None, np.ndarray | None]]:
    """The corrected cases of the open case list (the open case alone without a list): ``(path, image, labels)``
    where image/labels are None for cases still to be read from disk."""
    from app.cases import CORRECTED

    s, case_list = win.session, win.cases.cases
    paths = [p for p in case_list.paths if case_list.status(p) == CORRECTED] if case_list is not None else \
        ([s.path] if s.path is not None else [])
    out: list[tuple[Path, Image | None, np.ndarray | None]] = []
    for p in paths:
        if s.has_case and s.path is not None and Path(p).resolve() == s.path.resolve():
            s.label_map.end_stroke()
            out.append((p, s.image, np.array(s.label_map.array, copy=True)))
        else:
            out.append((p, None, None))
    return out


def _load_cases(items: list[tuple[Path, Image | None, np.ndarray | None]], out_dir: Path, table: Any,
                layout: str) -> tuple[Path, int, list[str]]:
    from akmamba.io.labels import default_label_rows, find_label_file, read_label_file, split_name

    cases: list[tuple[Image, np.ndarray, str]] = []
    skipped: list[str] = []
    for path, image, labels in items:
        if image is None:
            label_file = find_label_file(path)
            if label_file is None:
                skipped.append(path.name)
                continue
            image = read_image(path)
            labels = read_label_file(image, label_file, default_label_rows())
        cases.append((image, np.asarray(labels), split_name(path)[0]))
    written = export_training_folder(cases, out_dir, table, layout=layout)
    return written, len(cases), skipped


def export_training(win: Any, out_dir: str | Path | None = None, layout: str | None = None) -> None:
    """Ask for a layout and an empty folder, then write the corrected cases there in a worker."""
    from app.workers import FunctionWorker

    items = training_cases(win)
    if not items:
        win._show_message("No corrected cases to export: mark cases 'corrected' in the case list first.")
        return
    if layout is None:
        choice, ok = QtWidgets.QInputDialog.getItem(win, "Export a training folder", "Layout:", list(_LAYOUTS), 0,
                                                    False)
        if not ok:
            return
        layout = _LAYOUTS[choice]
    if out_dir is None:
        out_dir = QtWidgets.QFileDialog.getExistingDirectory(win, "Export into a new or empty folder",
                                                             win.settings.last_folder())
        if not out_dir:
            return
    win._show_message(f"Exporting {len(items)} case(s) as a {layout} training folder...")
    worker = FunctionWorker(_load_cases, items, Path(out_dir), _label_table(win), layout)
    worker.signals.returned.connect(lambda result: _on_training_written(win, result))
    worker.signals.errored.connect(lambda exc: win.show_error(exc, "Exporting the training folder"))
    win.workers.start(worker)


def _on_training_written(win: Any, result: tuple[Path, int, list[str]]) -> None:
    written, n, skipped = result
    note = f"; skipped without saved labels: {', '.join(skipped)}" if skipped else ""
    win._show_message(f"Exported {n} case(s) to {written.parent}{note}")


def export_metric_report(win: Any, path: str | Path | None = None) -> Path | None:
    """Write result A against reference B for the open case (plus one row set per compared model) as a JSON,
    CSV or HTML report (:func:`akmamba.reports.build_case_report`), then check what was written."""
    from app.compare_actions import model_info_of, report_choice, sources

    s = win.session
    if not s.has_case:
        win._show_message("No report to export: open an image first.")
        return None
    maps = sources(win)
    a_name, b_name = report_choice(win)
    if a_name not in maps or b_name not in maps:
        win._show_message(f"No report to export: {a_name!r} or {b_name!r} is not available.")
        return None
    if path is None:
        stem = (s.path.name.split(".")[0] if s.path is not None else "case") + "_report.html"
        path, _ = QtWidgets.QFileDialog.getSaveFileName(
            win, "Export a metric report", _start_dir(win, stem),
            "HTML report (*.html);;JSON report (*.json);;CSV table (*.csv)")
        if not path:
            return None
    target = Path(path)
    if target.suffix.lower() not in (".json", ".csv", ".html"):
        target = target.with_name(target.name + ".html")
    others = {k.removeprefix("Model: "): v for k, v in maps.items() if k.startswith("Model: ") and k != a_name}
    case_id = s.path.name if s.path is not None else "case"
    try:
        report = build_case_report(s.image.array, maps[a_name], maps[b_name], s.label_names(), case_id,
                                   model_info_of(win, a_name), s.path, result_name=a_name,
                                   reference_name=b_name, other_results=others)
        write_report(report, target)
        if target.suffix.lower() == ".json":
            read_json_report(target)
        elif not target.is_file() or target.stat().st_size == 0:
            raise OSError(f"The report {str(target)!r} was not written (missing or empty).")
    except (OSError, ValueError) as exc:
        win.show_error(exc, f"Exporting the metric report to {target.name!r}")
        return None
    win._show_message(f"Exported the metric report to {target}")
    return target
