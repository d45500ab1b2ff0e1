"""Append-only, crash-safe journal of label edits, and replay after a crash.

File layout (all integers little-endian)::

    b"AKMJRNL1"                                   file magic
    record*                                       each: b"AKRC" kind:u8 length:u32 crc32:u32 payload[length]

``crc32`` covers ``kind``, ``length`` and the payload. Record kinds:

- ``H`` header (first, once): JSON with ``format_version``, ``shape``, ``dtype``, ``history_depth``,
  ``base_crc32`` (CRC-32 of the label array the journal started from), ``identity`` (the image the labels belong
  to: path, size, sha256 ...), ``created`` and ``has_base``.
- ``B`` base (optional, right after the header): zlib of the whole starting array, for self-contained replay.
- ``E`` edit (one per undo item: a stroke, a fill, an applied prediction): ``len(source):u8 ndim:u8 source
  (start, stop):u32 * ndim`` then zlib of the region's values *after* the edit.
- ``U`` undo, ``R`` redo, ``C`` history cleared: no payload.

Each record is written with one ``write`` and then ``fsync``-ed, before the call returns. Replay rebuilds both the
array and the undo history (with the same depth), so it reproduces exactly the state and the undo/redo stacks the
session had after its last complete record. A record cut short by a crash (incomplete, or failing its CRC at the
end of the file, or followed only by zero bytes) is ignored with a :class:`JournalRecoveryWarning`; damage followed
by more records raises :class:`~akmamba.errors.JournalError`, since later records depend on it.

One writer per journal file; there is no file locking.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import struct
import warnings
import zlib
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from akmamba.annotations.history import Atom, Region, region_slices
from akmamba.annotations.label_map import LabelMap
from akmamba.errors import AkmambaWarning, JournalError, ShapeError

__all__ = [
    "Journal",
    "JournalContents",
    "JournalHeader",
    "JournalRecord",
    "JournalRecoveryWarning",
    "image_identity",
    "read_journal",
    "replay",
    "restore",
    "unsaved_edits",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
FILE_MAGIC = b"AKMJRNL1"
RECORD_MAGIC = b"AKRC"
_RECORD = struct.Struct("<4sBII")
_KINDS = {b"H": "header", b"B": "base", b"E": "edit", b"U": "undo", b"R": "redo", b"C": "clear"}


class JournalRecoveryWarning(AkmambaWarning):
    """A torn final journal record (a crash mid-write) was ignored during replay."""


@dataclass(frozen=True)
class JournalHeader:
    """What a journal was started on.

    Attributes:
        shape: the label array's shape, ``(H, W)`` or ``(Z, Y, X)``.
        dtype: its dtype name (``"uint8"`` or ``"uint16"``).
        history_depth: the undo depth of the session (replay uses it so evictions match).
        base_crc32: CRC-32 of the starting array's bytes (C order).
        identity: the image the labels belong to (see :func:`image_identity`).
        created: ISO-8601 time of creation (UTC).
        has_base: whether a ``B`` record holds the starting array.
        format_version: file format version.
    """

    shape: tuple[int, ...]
    dtype: str
    history_depth: int
    base_crc32: int
    identity: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    has_base: bool = False
    format_version: int = FORMAT_VERSION

    def to_json(self) -> bytes:
        """Header payload bytes."""
        data = {**asdict(self), "shape": list(self.shape)}
        return json.dumps(data, sort_keys=True).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> JournalHeader:
        """Parse a header payload."""
        data = json.loads(payload.decode())
        return cls(**{**data, "shape": tuple(data["shape"])})


@dataclass(frozen=True)
class JournalRecord:
    """One decoded record after the header.

    Attributes:
        kind: ``"base"``, ``"edit"``, ``"undo"``, ``"redo"`` or ``"clear"``.
        offset: byte offset of the record in the file.
        region: per-axis ``(start, stop)`` of an edit.
        source: ``"user"`` / ``"model"`` for an edit.
        values: the region's values after the edit (the whole array for ``"base"``).
    """

    kind: str
    offset: int
    region: Region | None = None
    source: str | None = None
    values: np.ndarray | None = None


@dataclass(frozen=True)
class JournalContents:
    """A parsed journal.

    Attributes:
        header: ``None`` if even the header is incomplete.
        records: the complete records after the header, in order.
        valid_length: bytes up to the end of the last complete record.
        torn: whether bytes after ``valid_length`` were ignored.
    """

    header: JournalHeader | None
    records: list[JournalRecord]
    valid_length: int
    torn: bool


def image_identity(path: str | PathLike[str], *, sha256: bool = True) -> dict[str, Any]:
    """Identity of an image file (or of a DICOM folder) to store in a journal header.

    Args:
        path: the image file or series folder.
        sha256: also hash the content (reads the whole file; turn off for very large files).

    Returns:
        ``{"path", "name", "size"[, "sha256"]}``; ``size`` is the total of a folder's files.

    Raises:
        JournalError: if the path cannot be read.
    """
    p = Path(path)
    try:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        size = sum(f.stat().st_size for f in files)
        out: dict[str, Any] = {"path": str(p.resolve()), "name": p.name, "size": size}
        if sha256:
            digest = hashlib.sha256()
            for f in files:
                if p.is_dir():
                    digest.update(str(f.relative_to(p)).encode())
                with f.open("rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
            out["sha256"] = digest.hexdigest()
    except OSError as exc:
        raise JournalError(f"Cannot read {str(p)!r} to identify it: {exc}", path=str(p)) from exc
    return out


def _array_crc(array: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(array).data) & 0xFFFFFFFF


def _frame(kind: bytes, payload: bytes = b"") -> bytes:
    head = kind + struct.pack("<I", len(payload))
    crc = zlib.crc32(payload, zlib.crc32(head)) & 0xFFFFFFFF
    return _RECORD.pack(RECORD_MAGIC, kind[0], len(payload), crc) + payload


class Journal:
    """An open journal file, appended to as edits happen. Create with :meth:`create`, reopen with :meth:`open`.

    Normally driven by :class:`~akmamba.annotations.label_map.LabelMap` (``start_journal``): each finished
    undo item, undo, redo and history clear becomes one record.
    """

    def __init__(self, path: Path, fd: int, header: JournalHeader, *, fsync: bool, level: int) -> None:
        self.path = path
        self.header = header
        self._fd: int | None = fd
        self._fsync = fsync
        self._level = level
        self._broken: str | None = None

    @classmethod
    def create(
        cls,
        path: str | PathLike[str],
        base: np.ndarray,
        *,
        identity: dict[str, Any] | None = None,
        history_depth: int = 500,
        store_base: bool = False,
        fsync: bool = True,
        compress_level: int = 1,
    ) -> Journal:
        """Start a new journal (overwriting ``path``) for edits made from the state ``base``.

        Args:
            path: the journal file.
            base: ``(H, W)`` or ``(Z, Y, X)`` label array the edits start from.
            identity: the image the labels belong to (see :func:`image_identity`).
            history_depth: the label map's undo depth.
            store_base: store ``base`` itself (zlib) so that replay needs no base array.
            fsync: flush each record to disk before returning (the crash guarantee).
            compress_level: zlib level of the value patches (1 is fast and labels compress well anyway).

        Returns:
            The open journal.

        Raises:
            JournalError: if the file cannot be written.
        """
        p = Path(path)
        header = JournalHeader(
            shape=tuple(int(n) for n in base.shape),
            dtype=str(base.dtype),
            history_depth=int(history_depth),
            base_crc32=_array_crc(base),
            identity=dict(identity or {}),
            created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            has_base=store_base,
        )
        data = FILE_MAGIC + _frame(b"H", header.to_json())
        if store_base:
            data += _frame(b"B", zlib.compress(np.ascontiguousarray(base).data, compress_level))
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | getattr(os, "O_BINARY", 0), 0o644)
        except OSError as exc:
            raise JournalError(
                f"Cannot create the edit journal {str(p)!r}: {exc}",
                path=str(p),
                hint="Choose a writable folder for the journal.",
            ) from exc
        journal = cls(p, fd, header, fsync=fsync, level=compress_level)
        journal._write(data)
        if fsync and os.name == "posix":
            journal._sync_dir()
        return journal

    @classmethod
    def open(cls, path: str | PathLike[str], *, fsync: bool = True, compress_level: int = 1) -> Journal:
        """Reopen an existing journal to append to it, cutting off a torn final record first.

        Raises:
            JournalError: if the file is not a journal, has no complete header, or is damaged before its end.
        """
        return cls._open(Path(path), read_journal(path), fsync=fsync, level=compress_level)

    @classmethod
    def _open(cls, path: Path, contents: JournalContents, *, fsync: bool, level: int) -> Journal:
        if contents.header is None:
            raise JournalError(f"Journal {str(path)!r} has no complete header.", path=str(path))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0))
            if contents.torn:
                logger.info("Cutting the torn tail of %s at byte %d", path, contents.valid_length)
                os.ftruncate(fd, contents.valid_length)
                os.fsync(fd)
        except OSError as exc:
            raise JournalError(f"Cannot reopen the edit journal {str(path)!r}: {exc}", path=str(path)) from exc
        return cls(path, fd, contents.header, fsync=fsync, level=level)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._fd is None

    def append_edit(self, region: Region, values: np.ndarray, source: str = "user") -> None:
        """Append one undo item: the ``region``'s values after the edit.

        Args:
            region: per-axis ``(start, stop)`` over the whole array.
            values: array of the region's shape and the journal's dtype.
            source: ``"user"`` or ``"model"``.

        Raises:
            JournalError: if writing fails (then every later append fails too; save the labels).
        """
        src = source.encode()[:255]
        flat = [int(v) for pair in region for v in pair]
        head = struct.pack("<BB", len(src), len(region)) + src + struct.pack(f"<{len(flat)}I", *flat)
        body = zlib.compress(np.ascontiguousarray(values, dtype=self.header.dtype).data, self._level)
        self._write(_frame(b"E", head + body))

    def append_undo(self) -> None:
        """Append an undo record."""
        self._write(_frame(b"U"))

    def append_redo(self) -> None:
        """Append a redo record."""
        self._write(_frame(b"R"))

    def append_clear(self) -> None:
        """Append a history-cleared record."""
        self._write(_frame(b"C"))

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, data: bytes) -> None:
        if self._broken is not None or self._fd is None:
            why = self._broken or "it is closed"
            raise JournalError(
                f"The edit journal {str(self.path)!r} is not recording ({why}).",
                path=str(self.path),
                hint="Save the labels now; edits after this point are not protected against a crash.",
            )
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            if self._fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self._broken = f"a write failed: {exc}"
            raise JournalError(
                f"Writing the edit journal {str(self.path)!r} failed: {exc}",
                path=str(self.path),
                hint="Free disk space or save the labels elsewhere now.",
            ) from exc

    def _sync_dir(self) -> None:
        try:
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            raise JournalError(f"Cannot sync the folder of {str(self.path)!r}: {exc}", path=str(self.path)) from exc


def read_journal(path: str | PathLike[str]) -> JournalContents:
    """Parse a journal file, stopping before a torn final record.

    Args:
        path: the journal.

    Returns:
        The header, the complete records (values decoded) and whether a torn tail was ignored.

    Raises:
        JournalError: if the file cannot be read, is not a journal, or is damaged before its last record.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise JournalError(f"Cannot read the edit journal {str(p)!r}: {exc}", path=str(p)) from exc
    if not data.startswith(FILE_MAGIC):
        if FILE_MAGIC.startswith(data):  # empty or cut inside the magic: created, then crashed at once
            return JournalContents(None, [], 0, bool(data))
        raise JournalError(
            f"{str(p)!r} is not an akmamba edit journal (its first bytes are {data[:8]!r}).",
            path=str(p),
            expected=FILE_MAGIC,
            got=data[:8],
        )
    pos, header = len(FILE_MAGIC), None
    records: list[JournalRecord] = []
    while pos < len(data):
        frame = _read_frame(data, pos, p)
        if frame is None:
            return JournalContents(header, records, pos, True)
        kind, payload, end = frame
        if header is None:
            if kind != "header":
                raise JournalError(f"Journal {str(p)!r} does not start with a header record.", path=str(p))
            header = JournalHeader.from_json(payload)
        else:
            records.append(_decode(kind, payload, pos, header, p))
        pos = end
    return JournalContents(header, records, pos, False)


def _read_frame(data: bytes, pos: int, path: Path) -> tuple[str, bytes, int] | None:
    """The record at ``pos`` as ``(kind, payload, end)``, ``None`` for a torn tail; raises on inner damage."""
    if len(data) - pos < _RECORD.size:
        return None
    magic, kind, length, crc = _RECORD.unpack_from(data, pos)
    end = pos + _RECORD.size + length
    if magic != RECORD_MAGIC or bytes([kind]) not in _KINDS:
        if not data[pos:].strip(b"\0"):  # a crash can leave the file extended with zeros
            return None
        raise _damaged(path, pos, "bad record marker")
    if end > len(data):
        return None
    payload = data[pos + _RECORD.size : end]
    head = bytes([kind]) + struct.pack("<I", length)
    if zlib.crc32(payload, zlib.crc32(head)) & 0xFFFFFFFF != crc:
        if end == len(data) or not data[end:].strip(b"\0"):
            return None
        raise _damaged(path, pos, "checksum mismatch")
    return _KINDS[bytes([kind])], payload, end


def _damaged(path: Path, pos: int, why: str) -> JournalError:
    return JournalError(
        f"Edit journal {str(path)!r} is damaged at byte {pos} ({why}) and has records after it, so it cannot be "
        "replayed reliably.",
        path=str(path),
        hint="Open the last saved labels instead; keep the journal for inspection.",
    )


def _decode(kind: str, payload: bytes, pos: int, header: JournalHeader, path: Path) -> JournalRecord:
    dtype = np.dtype(header.dtype)
    try:
        if kind == "base":
            values = np.frombuffer(zlib.decompress(payload), dtype=dtype).reshape(header.shape)
            return JournalRecord(kind, pos, values=values)
        if kind != "edit":
            return JournalRecord(kind, pos)
        n_src, ndim = struct.unpack_from("<BB", payload)
        source = payload[2 : 2 + n_src].decode()
        flat = struct.unpack_from(f"<{2 * ndim}I", payload, 2 + n_src)
        region = tuple((flat[2 * i], flat[2 * i + 1]) for i in range(ndim))
        if ndim != len(header.shape) or any(
            not 0 <= a < b <= n for (a, b), n in zip(region, header.shape, strict=True)
        ):
            raise ValueError(f"region {region} outside shape {header.shape}")
        raw = zlib.decompress(payload[2 + n_src + 8 * ndim :])
        values = np.frombuffer(raw, dtype=dtype).reshape(tuple(b - a for a, b in region))
    except (ValueError, struct.error, zlib.error) as exc:
        raise JournalError(
            f"Edit journal {str(path)!r} has an undecodable {kind} record at byte {pos}: {exc}", path=str(path)
        ) from exc
    return JournalRecord(kind, pos, region, source, values)


def _same_image(recorded: dict[str, Any], given: dict[str, Any]) -> bool:
    if "sha256" in recorded and "sha256" in given:
        return bool(recorded["sha256"] == given["sha256"])
    common = (set(recorded) & set(given)) - {"path", "sha256"}
    if common:
        return all(recorded[k] == given[k] for k in common)
    return recorded.get("path") == given.get("path")


def restore(
    journal_path: str | PathLike[str],
    base_array: np.ndarray | None = None,
    *,
    identity: dict[str, Any] | None = None,
    resume: bool = False,
    fsync: bool = True,
) -> LabelMap:
    """Rebuild a label map (array, undo/redo history, edited mask) from a journal.

    Args:
        journal_path: the journal.
        base_array: the labels the journal started from; not modified (a copy is edited). May be omitted when
            the journal stored its base.
        identity: the image being opened; checked against the header when given.
        resume: keep appending to this journal (a torn tail is cut off first).
        fsync: for the resumed journal.

    Returns:
        A :class:`LabelMap` in the state after the last complete record.

    Warns:
        JournalRecoveryWarning: when a torn final record was ignored.

    Raises:
        JournalError: if the journal is unreadable, damaged before its end, has no header, belongs to another
            image, or was started from different labels.
        ShapeError: if ``base_array``'s shape or dtype differs from the journal's.
    """
    path = Path(journal_path)
    contents = read_journal(path)
    header = contents.header
    if header is None:
        raise JournalError(
            f"Edit journal {str(path)!r} has no complete header (the session ended while creating it), so it holds "
            "no edits.",
            path=str(path),
            hint="Open the labels without the journal.",
        )
    if contents.torn:
        warnings.warn(
            f"Ignored a torn final record in {str(path)!r} (byte {contents.valid_length} on); "
            f"{sum(r.kind == 'edit' for r in contents.records)} complete edits are restored.",
            JournalRecoveryWarning,
            stacklevel=2,
        )
    if identity and header.identity and not _same_image(header.identity, identity):
        raise JournalError(
            f"Edit journal {str(path)!r} belongs to image {header.identity.get('path')!r}, not "
            f"{identity.get('path')!r}.",
            path=str(path),
            expected=header.identity,
            got=identity,
        )
    base = _pick_base(contents, base_array, path)
    label_map = LabelMap(base, history_depth=header.history_depth)
    _apply_records(label_map, contents.records, path)
    if resume:
        label_map.attach_journal(Journal._open(path, contents, fsync=fsync, level=1), resumed=True)
    return label_map


def replay(
    journal_path: str | PathLike[str],
    base_array: np.ndarray | None = None,
    *,
    identity: dict[str, Any] | None = None,
) -> np.ndarray:
    """The label array after every complete record of a journal (see :func:`restore`).

    Args:
        journal_path: the journal.
        base_array: ``(H, W)`` or ``(Z, Y, X)`` labels the journal started from (not modified).
        identity: the image being opened; checked against the header when given.

    Returns:
        A new array of the journal's shape and dtype.
    """
    return restore(journal_path, base_array, identity=identity).array


def unsaved_edits(contents: JournalContents, saved_at: int | None = None) -> int:
    """How many undo steps separate the labels last saved from the labels a journal ends with.

    This is the number of edits a restore brings back that the saved file does not have: edits undone before the
    crash do not count, nor do edits made before the last save (the journal keeps them, for undo). An undo back
    past the save counts as one step, like the edit it takes back.

    The journal is read as a walk through the tree of label states that undo and redo move in: an edit record is a
    new state (a child of the current one), an undo goes to the parent, a redo returns to the child it last left,
    and a history clear changes no state. Every edit record is a change (a :class:`LabelMap` journals an undo item
    only when it changed a pixel), so no label values need replaying.

    Args:
        contents: the parsed journal (:func:`read_journal`).
        saved_at: the journal's size in bytes when the labels were last saved (the viewer records it); ``None``
            when they were never saved since the journal started, so that its starting labels are the saved ones.

    Returns:
        The number of steps, ``>= 0``.
    """
    parent, depth, node = [-1], [0], 0
    redo: list[int] = []
    saved = 0
    for rec in contents.records:
        if rec.kind == "edit":
            parent.append(node)
            depth.append(depth[node] + 1)
            node = len(parent) - 1
            redo.clear()
        elif rec.kind == "undo" and parent[node] >= 0:
            redo.append(node)
            node = parent[node]
        elif rec.kind == "redo" and redo:
            node = redo.pop()
        elif rec.kind == "clear":
            redo.clear()
        if saved_at is not None and rec.offset < saved_at:  # the record ends at or before the save
            saved = node
    a, b, steps = saved, node, 0
    while a != b:
        if depth[a] >= depth[b]:
            a = parent[a]
        else:
            b = parent[b]
        steps += 1
    return steps


def _pick_base(contents: JournalContents, base_array: np.ndarray | None, path: Path) -> np.ndarray:
    header = contents.header
    assert header is not None  # checked by the caller
    if base_array is None:
        stored = [r.values for r in contents.records if r.kind == "base"]
        if not stored or stored[0] is None:
            raise JournalError(
                f"Edit journal {str(path)!r} does not store its starting labels; pass base_array.", path=str(path)
            )
        return stored[0].copy()
    if tuple(base_array.shape) != tuple(header.shape) or str(base_array.dtype) != header.dtype:
        raise ShapeError(
            f"Base labels are {base_array.shape} {base_array.dtype}, but journal {str(path)!r} was started on "
            f"{header.shape} {header.dtype}.",
            path=str(path),
            expected=(header.shape, header.dtype),
            got=(base_array.shape, str(base_array.dtype)),
        )
    if _array_crc(base_array) != header.base_crc32:
        raise JournalError(
            f"The base labels differ from those journal {str(path)!r} was started on (CRC-32 mismatch).",
            path=str(path),
            hint="Pass the labels as they were when the session began (e.g. the last saved file it opened).",
        )
    return np.array(base_array, copy=True)


def _apply_records(label_map: LabelMap, records: list[JournalRecord], path: Path) -> None:
    array, history, shape = label_map.array, label_map.history, label_map.shape
    for rec in records:
        if rec.kind == "edit":
            assert rec.region is not None
            assert rec.values is not None
            view = array[region_slices(rec.region)]
            changed = view != rec.values
            if changed.any():
                atom = Atom.from_change(rec.region, changed, view[changed], rec.values[changed], rec.source or "user")
                view[...] = rec.values
                history.push(atom, shape)
        elif rec.kind in ("undo", "redo"):
            done = history.undo(array) if rec.kind == "undo" else history.redo(array)
            if done is None:
                raise JournalError(
                    f"Edit journal {str(path)!r} has a {rec.kind} at byte {rec.offset} with nothing to {rec.kind}.",
                    path=str(path),
                )
        elif rec.kind == "clear":
            history.clear(shape)
