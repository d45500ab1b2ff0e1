"""Crash recovery: one edit journal per open image in a journal folder (user data dir by default).

Files for an image (``key`` = hash of its resolved path): ``key-PID-RANDOM.akjournal`` (the akmamba journal,
base labels stored, every finished stroke appended and fsync-ed; PID is the process writing it) and the same name
with ``.saved`` (the journal size at the last save: nothing after it means nothing unsaved). A journal whose
process is no longer running, whose last state differs from the last saved one, is a *leftover* to offer for
restore; its edit count is :func:`~akmamba.annotations.unsaved_edits`, the one figure the offer and the restore
report. Names are unique per opening, so two loads never share a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from akmamba.annotations import LabelMap, image_identity, read_journal, restore, unsaved_edits
from akmamba.annotations.journal import JournalRecoveryWarning
from akmamba.errors import AkmambaError
from akmamba.io.atomic import atomic_write_text
from akmamba.paths import journal_dir

log = logging.getLogger(__name__)

SUFFIX = ".akjournal"
#: Images larger than this are identified by path, name and size only (hashing would delay every open).
HASH_LIMIT_BYTES = 64 * 1024 * 1024


def default_journal_dir() -> Path:
    """:func:`akmamba.paths.journal_dir` (e.g. ``~/.local/share/akmamba/akmamba-viewer/journals`` on Linux)."""
    return journal_dir()


@dataclass(frozen=True)
class Leftover:
    """A journal with unsaved edits from a session that ended without closing it."""

    journal: Path
    image_path: Path
    edits: int  #: undo steps between the saved labels and the journal's last state (what a restore brings back)
    modified: float


def identity_of(image_path: Path) -> dict[str, object]:
    """The journal identity of an image file or DICOM folder (content hash below ``HASH_LIMIT_BYTES``)."""
    size = image_path.stat().st_size if image_path.is_file() else 0
    return image_identity(image_path, sha256=image_path.is_file() and size <= HASH_LIMIT_BYTES)


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return pid == os.getpid()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class JournalStore:
    """Creates, marks, removes and lists the journals of this viewer.

    Args:
        folder: where journals live (created on first use).
        enabled: False turns journalling off (nothing is written).
        fsync: flush each record to disk (the crash guarantee); tests may turn it off.
    """

    def __init__(self, folder: Path | str | None = None, *, enabled: bool = True, fsync: bool = True) -> None:
        self.folder = Path(folder) if folder is not None else default_journal_dir()
        self.enabled = enabled
        self.fsync = fsync
        self._lock = threading.Lock()
        self._damaged: list[str] = []  # messages not yet shown (see take_damaged)
        self._reported: set[Path] = set()  # journals already reported as damaged in this session

    @staticmethod
    def key_for(image_path: Path) -> str:
        """The file-name prefix of ``image_path``'s journals."""
        return hashlib.sha1(str(Path(image_path).resolve()).encode()).hexdigest()[:20]

    def new_path(self, image_path: Path) -> Path:
        """A fresh journal file name for ``image_path``, owned by this process."""
        return self.folder / f"{self.key_for(image_path)}-{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"

    def _sidecar(self, journal: Path, ext: str) -> Path:
        return journal.with_suffix(ext)

    def start(self, label_map: LabelMap, image_path: Path, identity: dict[str, object] | None = None) -> Path | None:
        """Start journalling ``label_map`` (no history yet) for ``image_path``; returns the journal or None.

        Safe to call from a worker thread before the label map is handed to the GUI.
        """
        if not self.enabled:
            return None
        self.folder.mkdir(parents=True, exist_ok=True)
        journal = self.new_path(image_path)
        label_map.start_journal(journal, identity=identity or identity_of(image_path), store_base=True,
                                fsync=self.fsync)
        return journal

    def restore(self, journal: Path, image_path: Path) -> LabelMap:
        """Rebuild the label map of a leftover and keep journalling into it (this process now owns it)."""
        owned = self.new_path(image_path)
        os.replace(journal, owned)
        saved = self._sidecar(journal, ".saved")
        if saved.exists():  # keep the save point, so a second crash still counts only the unsaved edits
            os.replace(saved, self._sidecar(owned, ".saved"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", JournalRecoveryWarning)
            label_map = restore(owned, None, identity=identity_of(image_path), resume=True, fsync=self.fsync)
        for w in caught:
            if issubclass(w.category, JournalRecoveryWarning):  # a record cut short by the crash: say so
                with self._lock:
                    self._damaged.append(f"Restored the edits of {image_path.name!r}, except the last one, which "
                                         f"the crash cut short ({w.message}).")
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return label_map

    def mark_saved(self, label_map: LabelMap) -> None:
        """Record that everything journalled so far is saved."""
        journal = label_map.journal
        if journal is not None and journal.path.exists():
            atomic_write_text(self._sidecar(journal.path, ".saved"), str(journal.path.stat().st_size))

    def finish(self, label_map: LabelMap | None) -> None:
        """Stop journalling ``label_map`` and delete its journal (the case was saved or discarded)."""
        if label_map is None:
            return
        journal = label_map.detach_journal()
        if journal is not None:
            journal.close()
            self._remove(journal.path)

    def discard(self, journal: Path) -> None:
        """Delete a leftover journal."""
        self._remove(journal)

    def _remove(self, journal: Path) -> None:
        for path in (journal, self._sidecar(journal, ".saved")):
            path.unlink(missing_ok=True)

    def leftovers(self) -> list[Leftover]:
        """Journals of ended sessions with unsaved edits, newest first (empty ones are deleted on the way)."""
        if not self.enabled or not self.folder.is_dir():
            return []
        found = []
        for journal in self.folder.glob(f"*{SUFFIX}"):
            item = self._inspect(journal)
            if item is not None:
                found.append(item)
        return sorted(found, key=lambda item: -item.modified)

    def leftover_for(self, image_path: Path) -> Leftover | None:
        """The newest leftover journal of ``image_path``, if any."""
        if not self.enabled or not self.folder.is_dir():
            return None
        found = [item for j in self.folder.glob(f"{self.key_for(image_path)}-*{SUFFIX}")
                 if (item := self._inspect(j)) is not None]
        return max(found, key=lambda item: item.modified) if found else None

    def _saved_at(self, journal: Path) -> int | None:
        """The journal's size at the last save; None if never saved (or the note is unreadable: then every edit
        since the journal started counts as unsaved, which never hides one)."""
        try:
            return int(self._sidecar(journal, ".saved").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def take_damaged(self) -> list[str]:
        """Messages (one per journal, once per session) about journals of a crashed session that could not be
        read, found by :meth:`leftovers` / :meth:`leftover_for` since the last call; the caller shows them. The
        journals are kept on disk (a person may still recover them)."""
        with self._lock:
            out, self._damaged = self._damaged, []
        return out

    def _note_damaged(self, journal: Path, exc: BaseException) -> None:
        with self._lock:
            if journal in self._reported:
                return
            self._reported.add(journal)
            why = exc.message if isinstance(exc, AkmambaError) else str(exc)
            self._damaged.append(
                f"Unsaved edits of a session that did not close cannot be restored: the edit journal "
                f"{str(journal)!r} is damaged ({why}). It is kept there; the saved labels are shown.")

    def _inspect(self, journal: Path) -> Leftover | None:
        try:
            pid = int(journal.name.split("-")[1])
        except (IndexError, ValueError):
            pid = 0
        if _pid_alive(pid):
            return None  # a running viewer (maybe this one) owns it
        try:
            saved_at = self._saved_at(journal)
            if saved_at == journal.stat().st_size:
                self._remove(journal)
                return None
            contents = read_journal(journal)
        except (OSError, ValueError, AkmambaError) as exc:
            log.warning("unreadable journal %s: %s", journal, exc)
            self._note_damaged(journal, exc)
            return None
        edits = unsaved_edits(contents, saved_at)
        if contents.header is None or edits == 0:
            self._remove(journal)
            return None
        image_path = Path(str(contents.header.identity.get("path", "")))
        return Leftover(journal, image_path, edits, journal.stat().st_mtime)
