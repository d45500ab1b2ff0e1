"""Opening, saving and recovering cases: files and folders (case lists), image loading in a worker, restore of
journalled edits after a crash, the unsaved-changes guard, case status, recent files."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore

from akmamba.errors import AkmambaError, JournalError
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
        self._decisions: dict[Path, str] = {}  # journal -> the answer given at start-up, until its image loads
        self._asking: set[Path] = set()  # journals in the restore dialog now
        self._held: list[tuple[FunctionWorker | None, LoadedCase]] = []  # loads that finished while the dialog was open
        self._loader: FunctionWorker | None = None
        self._notes: list[str] = []  # problems to show once the next case is open (a damaged case-status file)
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
                if cases.problem:  # shown once the first case is on screen (opening hides older messages)
                    self._notes.append(cases.problem)
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
        dataset = self.cases.dataset_case(Path(path)) if self.cases is not None else None
        worker = FunctionWorker(load_case, Path(path), self.journals, dataset=dataset)
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
        if loaded.leftover is not None and self._asking:  # a restore offer's event loop delivered this: wait
            self._held.append((self._loader, loaded))
            return
        self._show_loaded(loaded)

    def _show_loaded(self, loaded: LoadedCase) -> None:
        """Make a loaded image the open case, restoring its leftover journal if that is the decision."""
        self.session.busy = False
        leftover = self._restore_choice(loaded)
        try:
            restored = self.session.set_case(loaded, restore=leftover)
        except (OSError, ValueError) as exc:  # a damaged journal: open the saved labels instead
            self.error.emit(exc, f"Restoring edits of {loaded.path.name!r}")
            loaded.label_map = None
            restored = self.session.set_case(loaded)
        self.settings.add_recent_file(loaded.path)
        self.settings.set_last_folder(loaded.path.parent)
        if self.cases is not None and (i := self.cases.index_of(loaded.path)) >= 0:
            self.cases.index = i
            self.cases_changed.emit()
        notes, self._notes = [*self._notes, *loaded.warnings, *self.journals.take_damaged()], []
        if notes:  # one banner for all (a second message would replace the first); expected, not a bug
            self.error.emit(AkmambaError("\n".join(notes)), "")
        self.opened.emit(str(loaded.path), restored)

    def _restore_choice(self, loaded: LoadedCase) -> Leftover | None:
        """The leftover journal to restore for the loaded image: the answer already given in this launch (at
        start-up), else the policy or the user's answer now (None: none; "later" keeps the leftover for another
        time and opens the saved labels)."""
        leftover = loaded.leftover
        if leftover is None:
            return None
        choice = self._decisions.pop(leftover.journal, None) or self._ask([leftover])
        if choice == "restore":
            return leftover
        if choice == "discard":
            self.journals.discard(leftover.journal)
        else:
            self.message.emit(f"Unsaved edits of {loaded.path.name} are kept for later (reopen it to restore).")
        return None

    def _ask(self, leftovers: list[Leftover]) -> str:
        """The policy, or the user's answer to one restore offer of ``leftovers`` ("restore", "discard", "later").

        While the dialog is open its event loop runs: a load that finishes meanwhile with a leftover is held
        (not offered in a second dialog) and shown by the caller once the answer is recorded."""
        if self.restore_policy in ("restore", "discard"):
            return self.restore_policy
        self._asking |= {item.journal for item in leftovers}
        try:
            return self.ask_restore(leftovers)
        finally:
            self._asking -= {item.journal for item in leftovers}

    def _loading_or_held(self, image_path: Path) -> bool:
        """Whether ``image_path`` is being read or waits for a restore answer."""
        target = Path(image_path).resolve()
        paths = [loaded.path for _, loaded in self._held]
        if self._loader is not None:
            paths.append(self._loading_path)
        return any(Path(p).resolve() == target for p in paths)

    def _show_held(self) -> None:
        held, self._held = self._held, []
        for loader, loaded in held:
            if self._loader is None or self._loader is loader:  # nothing newer was opened meanwhile
                self._show_loaded(loaded)
            else:
                self.journals.finish(loaded.label_map)

    def check_recovery(self) -> None:
        """At start-up: offer to restore journals left by a session that did not close (crash, kill).

        One offer per journal in a launch, whichever comes first: this one, or the one made when an image with a
        leftover finishes loading (``akmamba-viewer PATH`` loads while this asks). An image being read when the
        answer comes gets that answer; "Restore" opens the newest leftover's image unless it is already open or
        being read (asking about unsaved labels first, as any open does)."""
        if self._asking:  # an offer is open: check when it is answered, never in a second dialog
            QtCore.QTimer.singleShot(50, self.check_recovery)
            return
        leftovers = [item for item in self.journals.leftovers() if item.journal not in self._decisions]
        damaged = self.journals.take_damaged()
        if damaged:
            self.error.emit(JournalError("\n".join(damaged)), "")
        if not leftovers:
            return
        choice = self._ask(leftovers)
        for item in leftovers:
            if choice != "later" or self._loading_or_held(item.image_path):
                self._decisions[item.journal] = choice
        if choice == "discard":
            for item in leftovers:
                self.journals.discard(item.journal)
            self.message.emit(f"Discarded unsaved edits of {len(leftovers)} image(s).")
        self._show_held()
        first = leftovers[0].image_path
        is_open = self.session.path is not None and Path(self.session.path).resolve() == Path(first).resolve()
        if choice == "restore" and not is_open and not self._loading_or_held(first):
            self.open_file(first)

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
        """Save the labels (to ``path`` or next to the image); reports success or failure. Saving does not mark the
        case corrected (partial work is not fine-tuning data): :meth:`mark_corrected` does."""
        if not self.session.has_case:
            self.message.emit("Nothing to save: open an image first.")
            return False
        try:
            written = self.session.save(path)
        except (OSError, ValueError) as exc:
            self.error.emit(exc, "Saving the labels")
            return False
        self.message.emit(f"Saved and verified {written}")
        self.saved.emit(str(written))
        return True

    def mark_corrected(self) -> bool:
        """Submit the open case as corrected (MONAI Label's "submit"): save its labels when they have unsaved
        changes, then set its status to "corrected" in the case list. Only such cases are fine-tuning data."""
        path = self.session.path
        if not self.session.has_case or path is None:
            self.message.emit("Nothing to mark: open an image first.")
            return False
        if self.cases is None or self.cases.index_of(path) < 0:
            self.message.emit("Mark corrected works on a case list: open the image's folder (File > Open folder) so "
                              "its status can be kept.")
            return False
        label_path = self.session.label_path
        if (self.session.dirty or label_path is None or not label_path.is_file()) and not self.save():
            return False
        self.set_status(path, CORRECTED)
        self.message.emit(f"{path.name} is marked corrected: it will be used for fine-tuning.")
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
