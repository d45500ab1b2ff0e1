"""Model > Fine-tune on corrected cases, and the Versions panel: wiring only.

The corrected cases of the open case list (status "corrected", set by Mark corrected, never by saving) are written,
in a worker, as a fine-tuning folder (:func:`akmamba.finetune.data.write_finetune_folder`: images, labels and each
case's correction mask, i.e. the pixels edited in the viewer) under the registry's ``_data/``; the dialog then runs
``akmamba finetune`` on it in a child process. The registry folder is the library's
(:func:`akmamba.paths.registry_dir`: ``$AKMAMBA_HOME/registry``, else the platform's user data folder, e.g.
``~/.local/share/akmamba/registry`` on Linux), so the command line sees the same versions.
"""

# mypy: disable-error-code="attr-defined"
from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from akmamba.finetune.registry import ModelRegistry
from akmamba.paths import registry_dir

_RIGHT = QtCore.Qt.DockWidgetArea.RightDockWidgetArea


def build_finetune_menu(win: Any, menu: QtWidgets.QMenu) -> None:
    """Add the fine-tune and versions actions to ``menu`` (the Model menu)."""
    win.model_registry = ModelRegistry(registry_dir())
    win.finetune_dialog = None
    win.versions_panel = None
    win.versions_dock = None
    menu.addSeparator()
    menu.addAction("&Fine-tune on corrected cases...", lambda: open_finetune(win))
    menu.addAction("Model &versions", lambda: show_versions(win))


def show_versions(win: Any) -> Any:
    """Show (creating once) the Versions dock."""
    from app.panels.versions_panel import VersionsPanel

    if win.versions_panel is None or win.versions_panel.registry.root != win.model_registry.root:
        if win.versions_dock is not None:
            win.removeDockWidget(win.versions_dock)
            win.versions_dock.deleteLater()
        win.versions_panel = VersionsPanel(win.model_registry)
        win.versions_panel.use_requested.connect(lambda p: _use_model(win, p))
        win.versions_panel.changed.connect(lambda line: _on_active_changed(win, line))
        win.versions_panel.error.connect(win.show_error)
        win.versions_dock = win.add_panel("Versions", win.versions_panel, _RIGHT)
        win.resizeDocks([win.versions_dock], [380], QtCore.Qt.Orientation.Vertical)
    win.versions_panel.refresh()
    win.versions_dock.show()
    win.versions_dock.raise_()
    return win.versions_panel


def _use_model(win: Any, path: str) -> None:
    version = win.model_registry.locate(path)
    name = f"{version.line} {version.id}" if version is not None else None
    win.model_panel.add_checkpoint(Path(path), name)
    win._show_message(f"Segmenting with {path}")


def _on_active_changed(win: Any, line: str) -> None:
    active = win.model_registry.active(line)
    if active is not None:
        _use_model(win, str(active.model_path))
        win._show_message(f"{line} {active.id} is active.")


def gather_items(win: Any) -> list[tuple[Path, Path | None, Any, Any, Any]]:
    """``(image path, label file, image, labels, unsaved edits)`` of each corrected case; the open case comes
    from memory (with this session's user edits), the others from disk."""
    from akmamba.io.labels import find_label_file
    from app.export_actions import training_cases

    s = win.session
    out = []
    if win.cases.cases is None:  # only cases marked corrected in a case list are fine-tuning data
        return out
    for path, image, labels in training_cases(win):
        edits = s.label_map.edited_mask(("user",)) if image is not None and s.label_map is not None else None
        out.append((Path(path), find_label_file(Path(path)), image, labels, edits))
    return out


def prepare_folder(items: list[tuple[Path, Path | None, Any, Any, Any]], out_dir: Path, label_table: Any,
                   model_path: str | None = None, description: Any = None) -> tuple[Path, list[str], list[str], Any]:
    """Write the fine-tuning folder (runs in a worker); returns (folder, image names, skipped names, the
    :class:`akmamba.finetune.data.CaseRule` that groups the images into cases).

    The model's own label table (from its checkpoint) wins over ``label_table``: a fine-tune keeps its classes.
    Case ids come from the dataset's case-id pattern (``description``, the dataset the case list was opened as,
    else each image's own dataset): a patient's slices stay on one side of the split; without one the split is
    per image and the rule's note says so.
    """
    label_table = (model_label_table(model_path) if model_path else None) or label_table
    from akmamba.finetune.data import case_rule_for, workspace_case, write_finetune_folder
    from akmamba.io.labels import split_name
    from app.session import as_label_array

    cases, names, skipped, paths = [], [], [], []
    for path, label_file, image, labels, edits in items:
        case = workspace_case(path, label_file, image=image, labels=labels, session_edits=edits)
        if case is None:
            skipped.append(path.name)
            continue
        img, lab, mask = case
        cases.append((img, as_label_array(lab), split_name(path)[0], mask))
        names.append(path.name)
        paths.append(path)
    if len(cases) < 2:
        raise ValueError(f"Fine-tuning needs at least two corrected cases with saved labels; found {len(cases)}"
                         f"{' (no saved labels: ' + ', '.join(skipped) + ')' if skipped else ''}. Mark corrected "
                         "cases corrected in the case list (Mark corrected, Ctrl+Enter; saving alone does not).")
    rule = case_rule_for(paths, description)
    write_finetune_folder(cases, out_dir, label_table, name="corrected cases", case_id_regex=rule.regex)
    return out_dir, names, skipped, rule


def model_label_table(model_path: str) -> list[dict[str, Any]] | None:
    """The label table stored in a checkpoint (the classes a fine-tune must keep), or None."""
    from akmamba.errors import AkmambaError
    from akmamba.nn.checkpoint import read_metadata

    try:
        rows = read_metadata(model_path).get("label_table")
    except AkmambaError:
        return None
    return [{"name": r.get("name", ""), "index": int(r["index"]), "color": list(r.get("color", (255, 0, 0)))}
            for r in rows or [] if "index" in r] or None


def open_finetune(win: Any, extra_args: list[str] | None = None) -> Any:
    """Open the Fine-tune dialog for the chosen model and the corrected cases; returns it (None if impossible)."""
    from app.finetune_dialog import FinetuneDialog
    from app.workers import FunctionWorker

    model = win.model_panel.model_path()
    if not model:
        win._show_message("Choose a model in the Segment panel first: fine-tuning starts from it.")
        return None
    if win.finetune_dialog is not None and win.finetune_dialog.process.running:
        win.finetune_dialog.show()
        win.finetune_dialog.raise_()
        return win.finetune_dialog
    items = gather_items(win)
    if not items:
        win._show_message("No corrected cases: open the cases' folder and press Mark corrected (Ctrl+Enter) on "
                          "each finished case; saving alone does not make a case fine-tuning data.")
        return None
    dialog = FinetuneDialog(model, win.model_panel.device(), win.model_registry.root, extra_args, win,
                            cuda_available=win.cuda_available)
    dialog.finished_run.connect(lambda event: _on_finetuned(win, event))
    win.finetune_dialog = dialog
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = win.model_registry.root / "_data" / f"{stamp}-{uuid.uuid4().hex[:6]}"
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    table = win.session.label_rows or win.session.table
    dataset = win.cases.cases.dataset if win.cases.cases is not None else None
    worker = FunctionWorker(prepare_folder, items, out_dir, table, model,
                            dataset.description if dataset is not None else None)
    worker.signals.returned.connect(lambda result: dialog.set_data(result[0], result[1], result[3].note))
    worker.signals.errored.connect(lambda exc: _prepare_failed(win, dialog, exc))
    win.workers.start(worker)
    dialog.resize(760, 720)
    dialog.show()
    return dialog


def _prepare_failed(win: Any, dialog: Any, exc: BaseException) -> None:
    from app.errors import message_for

    dialog.set_failed(message_for(exc, "Gathering the corrected cases"))


def _on_finetuned(win: Any, event: dict[str, Any]) -> None:
    if event.get("promoted") and event.get("active_path"):
        _use_model(win, str(event["active_path"]))
    note = "promoted and now used for segmenting" if event.get("promoted") else "registered, not promoted"
    win._show_message(f"Fine-tune finished: {event.get('line')} {event.get('version')} {note}.")
    if win.versions_panel is not None:
        win.versions_panel.refresh(event.get("line"))
