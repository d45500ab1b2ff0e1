"""Opening, saving and recovering cases: files and folders (case lists), image loading in a worker, restore of
journalled edits after a crash, the unsaved-changes guard, case status, recent files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore

from app.cases import CORRECTED, FLAGGED, IN_PROGRESS, CaseList
from app.recovery import JournalStore, Leftover
from app.session import LoadedCase, Session, load_case
from app.settings import Settings
from app.workers import FunctionWorker, WorkerSet

log = logging.getLogger(__name__)


class CaseController(QtCore.QObject):
    """Signals: ``opened(str path, int restored_edits)``, ``error(object exc, str context)``, ``message(str)``,
    ``saved(str path)``, ``cases_changed()``, ``loading(bool)``.

    Args:
        restore_policy: what to do with leftover journals: ``"ask"`` (dialog), ``"restore"`` or ``"discard"``.
    """

    opened = QtCore.Signal(str, int)
    error = QtCore.Signal(object, str)
    message = QtCore.Signal(str)
    saved = QtCore.Signal(str)
    cases_changed = QtCore.Signal()
    loading = QtCore.Signal(bool)

    def __init__(self, session: Session, journals: JournalStore, workers: WorkerSet, settings: Settings,
                 restore_policy: str = "ask", parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self.journals, self.workers, self.settings = session, journals, workers, settings
        self.restore_policy = restore_policy
        self.cases: CaseList | None = None
        self.ask_unsaved: Callable[[str], str] = lambda _name: "cancel"
        self.ask_restore: Callable[[list[Leftover]], str] = lambda _items: "later"
        self._accepted_restores: set[Path] = set()
        self._loader: FunctionWorker | None = None
        session.edited.connect(self._on_edited)

    # ------------------------------------------------------------------ open

    def open_path(self, path: str | Path) -> bool:
        """Open a file, a DICOM series folder or a folder of images (as a case list); False if nothing started."""
        path = Path(path).expanduser()
        if path.is_dir():
            try:
                cases = CaseList(path)
            except OSError as exc:
                self.error.emit(exc, f"Opening folder {path.name!r}")
                return False
            if len(cases):
                return self.open_cases(cases)
        return self.open_file(path)

    def open_cases(self, cases: CaseList, index: int = 0) -> bool:
        """Show a case list and open its case ``index``."""
        if not self.confirm_close():
            return False
        self.cases = cases
        cases.index = index
        self.cases_changed.emit()
        return self.open_file(cases.paths[index], confirmed=True)

    def open_file(self, path: Path, *, confirmed: bool = False) -> bool:
        """Read ``path`` in a worker and make it the open case when done (the current case stays on failure)."""
        if not confirmed and not self.confirm_close():
            return False
        if self._loader is not None:
            self._loader.abort()
        worker = FunctionWorker(load_case, Path(path), self.journals)
        worker.signals.returned.connect(self._on_loaded)
        worker.signals.errored.connect(self._on_load_failed)
        worker.signals.finished.connect(self._on_load_finished)
        self._loader = worker
        self._loading_path = Path(path)
        self.session.busy = True
        self.loading.emit(True)
        self.message.emit(f"Opening {Path(path).name}...")
        self.workers.start(worker)
        return True

    def _is_current_loader(self) -> bool:
        return self._loader is not None and self.sender() is self._loader.signals

    def _on_load_failed(self, exc: BaseException) -> None:
        if self._is_current_loader():
            self.error.emit(exc, f"Opening {self._loading_path.name!r}")

    def _on_load_finished(self) -> None:
        if self._is_current_loader():
            self._loader = None
            self.session.busy = False
            self.loading.emit(False)

    def _on_loaded(self, loaded: LoadedCase) -> None:
        if not self._is_current_loader():
            self.journals.finish(loaded.label_map)  # superseded by a later open
            return
        self.session.busy = False
        journal = self._restore_choice(loaded)
        try:
            restored = self.session.set_case(loaded, restore_journal=journal)
        except (OSError, ValueError) as exc:  # a damaged journal: open the saved labels instead
            self.error.emit(exc, f"Restoring edits of {loaded.path.name!r}")
            loaded.label_map = None
            restored = self.session.set_case(loaded)
        self.settings.add_recent_file(loaded.path)
        self.settings.set_last_folder(loaded.path.parent)
        if self.cases is not None and (i := self.cases.index_of(loaded.path)) >= 0:
            self.cases.index = i
            self.cases_changed.emit()
        for note in loaded.warnings:
            self.error.emit(ValueError(note), "")
        self.opened.emit(str(loaded.path), restored)

    def _restore_choice(self, loaded: LoadedCase) -> Path | None:
        """The leftover journal to restore for the loaded image, per policy or the user's answer (None: none;
        "later" keeps the leftover for another time and opens the saved labels)."""
        leftover = loaded.leftover
        if leftover is None:
            return None
        if leftover.journal in self._accepted_restores or self.restore_policy == "restore":
            return leftover.journal
        choice = "discard" if self.restore_policy == "discard" else self.ask_restore([leftover])
        if choice == "restore":
            return leftover.journal
        if choice == "discard":
            self.journals.discard(leftover.journal)
        else:
            self.message.emit(f"Unsaved edits of {loaded.path.name} are kept for later (reopen it to restore).")
        return None

    def check_recovery(self) -> None:
        """At start-up: offer to restore journals left by a session that did not close (crash, kill)."""
        leftovers = self.journals.leftovers()
        if not leftovers:
            return
        choice = {"restore": "restore", "discard": "discard"}.get(self.restore_policy) or self.ask_restore(leftovers)
        if choice == "discard":
            for item in leftovers:
                self.journals.discard(item.journal)
            self.message.emit(f"Discarded unsaved edits of {len(leftovers)} image(s).")
        elif choice == "restore":
            self._accepted_restores |= {item.journal for item in leftovers}
            self.open_file(leftovers[0].image_path, confirmed=True)

    # ------------------------------------------------------------------ close and save

    def confirm_close(self) -> bool:
        """Ask before dropping unsaved labels; True when it is fine to close the current case."""
        if not self.session.has_case or not self.session.dirty:
            return True
        choice = self.ask_unsaved(self.session.path.name if self.session.path else "labels")
        if choice == "save":
            return self.save()
        return choice == "discard"

    def save(self, path: Path | None = None) -> bool:
        """Save the labels (to ``path`` or next to the image); reports success or failure."""
        if not self.session.has_case:
            self.message.emit("Nothing to save: open an image first.")
            return False
        try:
            written = self.session.save(path)
        except (OSError, ValueError) as exc:
            self.error.emit(exc, "Saving the labels")
            return False
        self.message.emit(f"Saved and verified {written}")
        if self.cases is not None and self.session.path is not None:
            self.set_status(self.session.path, CORRECTED)
        self.saved.emit(str(written))
        return True

    # ------------------------------------------------------------------ case list

    def step_case(self, delta: int) -> None:
        """Open the next (+1) or previous (-1) case of the list."""
        if self.cases is None:
            self.message.emit("Open a folder to step through cases.")
            return
        current = self.cases.index
        target = self.cases.step(delta)
        if target is not None:
            self.cases.index = current
            if self.confirm_close():
                self.open_file(target, confirmed=True)

    def set_status(self, path: Path, status: str) -> None:
        """Set a case's status (shown in the cases panel, kept in the folder)."""
        if self.cases is None:
            return
        try:
            self.cases.set_status(Path(path), status)
        except (OSError, ValueError) as exc:
            self.error.emit(exc, "Saving the case status")
        self.cases_changed.emit()

    def _on_edited(self) -> None:
        path = self.session.path
        if self.cases is not None and path is not None and self.cases.status(path) not in (IN_PROGRESS, FLAGGED):
            self.set_status(path, IN_PROGRESS)
