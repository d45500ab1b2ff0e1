"""A versioned model registry on disk: every fine-tune is a version; an ``active.json`` pointer says which is used.

Layout (one *line* per model family, e.g. ``akmamba-drive``)::

    ROOT/<line>/active.json                   {"version": "v3", "history": ["v1", "v2"], "changed": ..., "reason": ...}
    ROOT/<line>/versions/v<N>/model.safetensors
    ROOT/<line>/versions/v<N>/version.json    id, parent, created, origin, model_sha256, config, data, metrics, gate
    ROOT/<line>/split.json                    {"heldout": [case ids], "train": [case ids], "regrouped": [...]}
    ROOT/<line>/staging/<random>/             a version being written (ignored; cleaned by ``gc``)
    ROOT/<line>/runs/<run>/                   training scratch of a fine-tune (checkpoints, events, data snapshot)

``ROOT`` is given by the caller; :func:`default_registry_root` is ``<user data dir>/registry``
(:func:`akmamba.paths.user_data_dir`: ``$AKMAMBA_HOME`` when set, else the platform's folder, e.g.
``~/.local/share/akmamba/registry`` on Linux). The viewer and the command line use the same function.

Crash safety (killing the trainer or the viewer at any moment):

* a version is written completely in ``staging/`` (every file fsync-ed) and then renamed into ``versions/`` in one
  ``rename``; so a folder in ``versions/`` is always complete, and a torn one can only be in ``staging/``;
* ``active.json`` is replaced atomically (temporary file, fsync, ``os.replace``, fsync of the folder); it is written
  only after the version it names is in ``versions/``;
* nothing in ``versions/`` is ever modified or deleted.

So after any kill the active model is either the old one or a complete new one, and :meth:`ModelRegistry.check`
finds no problem. One process commits at a time per line (an ``fcntl`` lock where available).

Model files are verified (``verify``, by default :func:`verify_model_file`: an akmamba checkpoint whose weights match
their ``weights_sha256`` and fit their model) before a version is committed, so a corrupt file is never registered
(nor activated), and :meth:`ModelRegistry.check` verifies them again. Apart from that verifier (which imports torch
when it runs) the registry needs no torch: the weights are copied as files, their SHA-256 recorded and checked;
activation checks that SHA-256 only, so it stays fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from akmamba.errors import CheckpointError, ConfigError
from akmamba.io.atomic import atomic_write_text
from akmamba.paths import registry_dir

MODEL_FILE = "model.safetensors"
VERSION_FILE = "version.json"
ACTIVE_FILE = "active.json"
SPLIT_FILE = "split.json"
_VERSION_RE = re.compile(r"^v(\d+)$")
_LINE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HISTORY = 50


def default_registry_root() -> Path:
    """``<user data dir>/registry`` (:func:`akmamba.paths.registry_dir`; ``$AKMAMBA_HOME/registry`` when set)."""
    return registry_dir()


def now_iso() -> str:
    """The current UTC time, ISO 8601, seconds."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def sha256_of(path: str | Path) -> str:
    """SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def verify_model_file(path: Path) -> None:
    """The registry's default model check: :func:`akmamba.nn.checkpoint.verify_checkpoint` (imports torch).

    Raises:
        CheckpointError: the file is not a usable akmamba checkpoint (the message says why).
    """
    from akmamba.nn.checkpoint import verify_checkpoint

    verify_checkpoint(path)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_json(path: str | Path, data: Any) -> None:
    """Write JSON to ``path`` atomically: temporary file in the same folder, fsync, ``os.replace``, fsync folder."""
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")


def _copy_synced(src: Path, dst: Path) -> None:
    shutil.copyfile(src, dst)
    with dst.open("rb+") as f:
        os.fsync(f.fileno())


@dataclass(frozen=True)
class Version:
    """One registered model version (the parsed ``version.json`` plus its folder)."""

    id: str
    line: str
    folder: Path
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def model_path(self) -> Path:
        """The checkpoint file."""
        return self.folder / MODEL_FILE

    @property
    def number(self) -> int:
        """``3`` for ``v3``."""
        m = _VERSION_RE.match(self.id)
        return int(m.group(1)) if m else -1

    @property
    def parent(self) -> str | None:
        """The version this one was fine-tuned from (None for an imported model)."""
        return self.record.get("parent")

    @property
    def heldout_dice(self) -> float | None:
        """Mean held-out Dice measured when it was registered (None for imports)."""
        value = (self.record.get("metrics") or {}).get("candidate", {}).get("mean_dice")
        return None if value is None else float(value)


@dataclass(frozen=True)
class HeldoutScore:
    """A version's held-out Dice and where it was measured.

    Attributes:
        version: the version scored.
        mean_dice: mean Dice over the held-out images.
        per_image: ``{image name: Dice}``.
        measured_in: the version whose fine-tune measured it: the version itself (its own candidate score), or a
            later one that judged it as the model it started from or replaced (an imported base model is scored
            only that way: the held-out evaluation of the base model happens during a fine-tune).
        cases: the held-out case ids of that run.
    """

    version: str
    mean_dice: float
    per_image: dict[str, float]
    measured_in: str
    cases: list[str]

    def describe(self) -> str:
        """In words, for a tooltip."""
        where = "when it was registered" if self.measured_in == self.version else \
            f"during the fine-tune that made {self.measured_in}"
        return (f"Held-out Dice of {self.version}: {self.mean_dice:.4f}, measured {where}, on {len(self.per_image)} "
                f"image(s) of {len(self.cases)} held-out case(s).")


#: Keys of a version record's ``metrics`` that score a model other than the candidate, and the record field that
#: names it when the entry itself does not (records written before entries carried ``version``).
_OTHER_SCORES = (("active", "active_at_start"), ("parent", "parent"))


def heldout_score(versions: Sequence[Version], version_id: str) -> HeldoutScore | None:
    """The held-out Dice of ``version_id`` among a line's ``versions``: its own (measured when it was
    registered), else the latest measurement of it by a later version's fine-tune (as the active or parent model
    it started from), else None (never measured, e.g. an imported model no fine-tune has judged yet).

    Args:
        versions: every version of the line (:meth:`ModelRegistry.versions`), oldest first.
        version_id: the version to score.
    """
    found: HeldoutScore | None = None
    for v in versions:
        metrics = v.record.get("metrics") or {}
        cases = [str(c) for c in (v.record.get("data") or {}).get("heldout_cases") or []]
        entries = [(v.id, metrics.get("candidate"))] if v.id == version_id else []
        entries += [(str((metrics.get(key) or {}).get("version") or v.record.get(field_name)), metrics.get(key))
                    for key, field_name in _OTHER_SCORES if v.id != version_id]
        for scored, entry in entries:
            if scored != version_id or not isinstance(entry, dict) or entry.get("mean_dice") is None:
                continue
            score = HeldoutScore(version_id, float(entry["mean_dice"]),
                                 {str(k): float(x) for k, x in (entry.get("per_image") or {}).items()}, v.id, cases)
            if v.id == version_id:
                return score  # its own score wins
            found = score  # versions are oldest first: the latest measurement is kept
    return found


class ModelRegistry:
    """The registry under ``root`` (see the module docstring for the layout and the crash-safety argument).

    Args:
        root: the registry folder (created on first write); default :func:`default_registry_root`.
        verify: checks a model file, raising :class:`~akmamba.errors.CheckpointError` if it is unusable; run on
            the file to register (before anything is written) and by :meth:`check`. ``None`` stores any file unchecked
            (for tests of the storage mechanics with stand-in files).
    """

    def __init__(self, root: str | Path | None = None, *,
                 verify: Callable[[Path], object] | None = verify_model_file) -> None:
        self.root = Path(root) if root is not None else default_registry_root()
        self.verify = verify
        if os.path.lexists(self.root) and not self.root.is_dir():
            from akmamba.io.validate import path_problem

            problem = path_problem(self.root) or "is a file, not a folder"
            raise ConfigError(f"The model registry {str(self.root)!r} {problem}; a folder is needed. To fix: pass "
                              "--registry with a folder (it is created if missing), or move that file away.",
                              path=str(self.root), parameter="registry", expected="a folder", got=problem)

    # ------------------------------------------------------------------ reading

    def lines(self) -> list[str]:
        """Names of the model lines that have at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "versions").is_dir() and any(
            (p / "versions").iterdir()))

    def line_dir(self, line: str) -> Path:
        """The folder of a line (the name is checked)."""
        if not _LINE_RE.match(line):
            raise ConfigError(f"Model line name {line!r} may only hold letters, digits, '.', '_' and '-'.",
                              parameter="line", expected="[A-Za-z0-9._-]+", got=line)
        return self.root / line

    def versions(self, line: str) -> list[Version]:
        """Every complete version of ``line``, oldest first (unreadable ``version.json`` files are listed with an
        ``"error"`` record so :meth:`check` can report them)."""
        folder = self.line_dir(line) / "versions"
        if not folder.is_dir():
            return []
        out = []
        for p in folder.iterdir():
            if not p.is_dir() or not _VERSION_RE.match(p.name):
                continue
            try:
                record = json.loads((p / VERSION_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                record = {"error": f"unreadable {VERSION_FILE}: {exc}"}
            out.append(Version(p.name, line, p, record))
        return sorted(out, key=lambda v: v.number)

    def version(self, line: str, version_id: str) -> Version:
        """One version; a bad id raises ConfigError listing the known ones."""
        for v in self.versions(line):
            if v.id == version_id:
                return v
        known = [v.id for v in self.versions(line)]
        raise ConfigError(f"Model line {line!r} has no version {version_id!r}; it has {', '.join(known) or 'none'}.",
                          parameter="version", expected=known, got=version_id)

    def active_record(self, line: str) -> dict[str, Any]:
        """The parsed ``active.json`` of a line (empty when there is none)."""
        from akmamba.schema import read_json_object

        path = self.line_dir(line) / ACTIVE_FILE
        if not os.path.lexists(path):
            return {}
        try:
            return read_json_object(path, "The active-version pointer", CheckpointError)
        except CheckpointError as exc:
            raise CheckpointError(f"{exc.message} Or run `akmamba versions activate {line} VERSION` to rewrite it.",
                                  path=str(path)) from exc

    def active(self, line: str) -> Version | None:
        """The active version of a line, or None when the line has none."""
        vid = self.active_record(line).get("version")
        return self.version(line, vid) if vid else None

    def find_by_sha256(self, line: str, digest: str) -> Version | None:
        """The version whose model file has this SHA-256, if any."""
        for v in self.versions(line):
            if v.record.get("model_sha256") == digest:
                return v
        return None

    def locate(self, path: str | Path) -> Version | None:
        """The version whose folder holds ``path`` (a model file inside the registry), else None."""
        p = Path(path).resolve()
        try:
            rel = p.relative_to(self.root.resolve())
        except ValueError:
            return None
        parts = rel.parts
        if len(parts) >= 3 and parts[1] == "versions":
            try:
                return self.version(parts[0], parts[2])
            except ConfigError:
                return None
        return None

    def split_record(self, line: str) -> dict[str, list[str]]:
        """The line's fixed split: ``{"heldout": [case ids], "train": [case ids]}`` of every case an earlier
        version was judged on or trained on (empty lists before the first fine-tune). The file may also hold
        ``regrouped``, the per-image ids of earlier versions that a case-id pattern regrouped (:meth:`add_to_split`).

        Raises:
            CheckpointError: the split file is unreadable (it is never silently re-drawn).
        """
        path = self.line_dir(line) / SPLIT_FILE
        if not path.is_file():
            return {"heldout": [], "train": []}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {"heldout": [str(c) for c in data["heldout"]], "train": [str(c) for c in data["train"]]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"The held-out set of {line!r} ({str(path)!r}) is unreadable ({exc}); it is never "
                                  "re-drawn silently. Restore it from a backup, or delete it to start a new held-out "
                                  "set (later versions are then judged on other cases).", path=str(path)) from exc

    # ------------------------------------------------------------------ writing

    def add_to_split(self, line: str, heldout: list[str], train: list[str],
                     regrouped: dict[str, Any] | None = None) -> dict[str, list[str]]:
        """Add case ids to the line's fixed split (atomic; a case already on one side stays there).

        Args:
            line: the model line.
            heldout: case ids held out (judged on).
            train: case ids trained on.
            regrouped: earlier per-image ids regrouped into cases
                (:meth:`akmamba.finetune.data.SplitRegrouping.to_record`: ``{"rule", "heldout": {old id: case},
                "train": {old id: case}, "mixed": [cases]}``); the caller's ``heldout`` / ``train`` then hold
                every regrouped case. The old ids leave the two lists (mixed cases leave the held-out one), and
                the regrouping is appended, dated, to the file's ``regrouped`` list, so no earlier id is lost.
        """
        path = self.line_dir(line) / SPLIT_FILE
        with self._lock(line):
            record = self.split_record(line)
            history = self._split_history(path)
            retired: set[str] = set()
            mixed: set[str] = set()
            if regrouped:
                retired = set(regrouped.get("heldout") or {}) | set(regrouped.get("train") or {})
                mixed = set(regrouped.get("mixed") or [])
                history.append({**regrouped, "at": now_iso()})
            held = sorted(((set(record["heldout"]) - retired) | set(heldout)) - mixed)
            record = {"heldout": held,
                      "train": sorted(((set(record["train"]) - retired) | set(train) | mixed) - set(held))}
            extra = {"regrouped": history} if history else {}
            atomic_write_text(path, json.dumps({**record, **extra, "changed": now_iso()}, indent=1) + "\n")
        return record

    @staticmethod
    def _split_history(path: Path) -> list[dict[str, Any]]:
        """The ``regrouped`` list of a split file (read after :meth:`split_record` has checked the file)."""
        if not path.is_file():
            return []
        history = json.loads(path.read_text(encoding="utf-8")).get("regrouped") or []
        return [dict(h) for h in history if isinstance(h, dict)]

    @contextlib.contextmanager
    def _lock(self, line: str) -> Iterator[None]:
        folder = self.line_dir(line)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("a+") as fh:
            try:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            except ImportError:  # Windows: one writer assumed
                pass
            yield

    def add_version(self, line: str, model_file: str | Path, record: dict[str, Any],
                    extra_files: dict[str, str | Path] | None = None) -> Version:
        """Register a checkpoint as the next version of ``line`` (not activated).

        Args:
            line: the model line (created if new).
            model_file: the checkpoint to copy in.
            record: fields for ``version.json`` (``parent``, ``origin``, ``config``, ``data``, ``metrics``, ``gate``,
                ...); ``id``, ``line``, ``created`` and ``model_sha256`` are filled in.
            extra_files: ``{name in the version folder: source path}`` copied alongside (events, evaluations).

        Returns:
            The new version.
        """
        src = Path(model_file)
        if not src.is_file():
            raise CheckpointError(f"Cannot register {str(src)!r}: the file does not exist.", path=str(src))
        folder = self.line_dir(line)
        self._verify(src, f"Refusing to register {str(src)!r} in {line!r}")  # before anything is written
        with self._lock(line):
            staging = folder / "staging" / f"{uuid.uuid4().hex[:12]}-{os.getpid()}"
            staging.mkdir(parents=True)
            try:
                _copy_synced(src, staging / MODEL_FILE)
                for name, extra in (extra_files or {}).items():
                    if Path(extra).is_file():
                        _copy_synced(Path(extra), staging / name)
                versions = folder / "versions"
                versions.mkdir(exist_ok=True)
                number = max([v.number for v in self.versions(line)] + [0]) + 1
                vid = f"v{number}"
                full = {**record, "id": vid, "line": line, "created": record.get("created") or now_iso(),
                        "model_sha256": sha256_of(staging / MODEL_FILE), "model_bytes": src.stat().st_size}
                (staging / VERSION_FILE).write_text(json.dumps(full, indent=1, sort_keys=True, default=str) + "\n",
                                                    encoding="utf-8")
                with (staging / VERSION_FILE).open("rb+") as f:
                    os.fsync(f.fileno())
                _fsync_dir(staging)
                os.rename(staging, versions / vid)  # the commit: one rename of a complete folder
                _fsync_dir(versions)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return Version(vid, line, versions / vid, full)

    def activate(self, line: str, version_id: str, reason: str = "activated") -> Version:
        """Make ``version_id`` the active version (atomic pointer replace); the previous one goes to the history."""
        version = self.version(line, version_id)
        problems = self._version_problems(version, deep=True)
        if problems:
            raise CheckpointError(f"Refusing to activate {line} {version_id}: {'; '.join(problems)}.",
                                  path=str(version.folder))
        with self._lock(line):
            current = self.active_record(line)
            history = list(current.get("history") or [])
            if current.get("version") and current.get("version") != version_id:
                history.append(current["version"])
            atomic_write_json(self.line_dir(line) / ACTIVE_FILE, {
                "version": version_id, "history": history[-_HISTORY:], "changed": now_iso(), "reason": reason})
        return version

    def rollback(self, line: str) -> Version:
        """Re-activate the version that was active before the current one.

        Raises:
            ConfigError: there is no earlier active version.
        """
        record = self.active_record(line)
        history = list(record.get("history") or [])
        known = {v.id for v in self.versions(line)}
        while history and history[-1] not in known:
            history.pop()
        if not history:
            raise ConfigError(f"Model line {line!r} has no earlier active version to roll back to.",
                              parameter="line", got=line)
        target = history.pop()
        version = self.version(line, target)
        with self._lock(line):
            atomic_write_json(self.line_dir(line) / ACTIVE_FILE, {
                "version": target, "history": history, "changed": now_iso(),
                "reason": f"rollback from {record.get('version')}"})
        return version

    def new_run_dir(self, line: str) -> Path:
        """A fresh scratch folder for a fine-tuning run of ``line``."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.line_dir(line) / "runs" / f"{stamp}-{uuid.uuid4().hex[:6]}"
        path.mkdir(parents=True)
        return path

    # ------------------------------------------------------------------ checking

    def _verify(self, model: Path, context: str) -> None:
        if self.verify is None:
            return
        try:
            self.verify(model)
        except CheckpointError as exc:
            raise CheckpointError(f"{context}: {exc.message} Nothing was registered.", path=str(model),
                                  expected=exc.expected, got=exc.got, hint=exc.hint) from exc

    def _version_problems(self, v: Version, deep: bool, weights: bool = False) -> list[str]:
        if "error" in v.record:
            return [f"{v.id}: {v.record['error']}"]
        problems = []
        if v.record.get("id") != v.id:
            problems.append(f"{v.id}: version.json names {v.record.get('id')!r}")
        if not v.model_path.is_file():
            problems.append(f"{v.id}: {MODEL_FILE} is missing")
        elif deep and sha256_of(v.model_path) != v.record.get("model_sha256"):
            problems.append(f"{v.id}: {MODEL_FILE} does not match its recorded SHA-256")
        elif weights and self.verify is not None:
            try:
                self.verify(v.model_path)
            except CheckpointError as exc:
                problems.append(f"{v.id}: {exc.message}")
        return problems

    def check(self, line: str | None = None, deep: bool = True) -> list[str]:
        """Problems of the registry (empty = consistent): unreadable or incomplete versions, model files that do not
        match their SHA-256 or whose weights fail ``verify`` (both ``deep``), an active pointer that is unreadable
        or names a missing version."""
        problems = []
        for name in [line] if line else self.lines():
            for v in self.versions(name):
                problems += [f"{name} {p}" for p in self._version_problems(v, deep, weights=deep)]
            try:
                record = self.active_record(name)
            except CheckpointError as exc:
                problems.append(exc.message)
                continue
            vid = record.get("version")
            if vid and not (self.line_dir(name) / "versions" / vid / VERSION_FILE).is_file():
                problems.append(f"{name}: active version {vid!r} does not exist")
        return problems

    def gc(self, line: str) -> list[Path]:
        """Remove staging folders left by killed writers (never a version); returns what was removed."""
        removed = []
        staging = self.line_dir(line) / "staging"
        if staging.is_dir():
            for p in staging.iterdir():
                pid = p.name.rsplit("-", 1)[-1]
                if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
                    continue
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
