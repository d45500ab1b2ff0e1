"""Atomic file writes with ordinary permissions (stdlib only; no torch, no Qt).

:func:`atomic_write` is the one place where the library writes a file "all or nothing": the content goes to a
hidden temporary file in the destination folder (same file system, so the final rename is atomic), is flushed to
disk, and is then renamed onto the destination. A reader sees the old file or the complete new one, never half of
one; after a crash at most a stray ``.NAME.*.tmp`` file is left, never a torn destination.

Permissions: :func:`tempfile.mkstemp` creates files with mode ``0600``, which made checkpoints, reports and
colour tables unreadable to other users of a shared workstation. Here the temporary file is created the way
``open(path, "w")`` creates a file (``0o666`` filtered by the process umask and any default ACL of the folder),
so a new destination gets exactly the mode a plain write would give it (``0644`` under the usual umask ``022``).
When the destination already exists, its permission bits are kept (a file the user made private stays private).
The umask is never changed, not even briefly (``os.umask`` is process-wide, so reading it that way races with
other threads creating files).

:func:`make_temp_dir` is the folder counterpart of this for "fill a hidden folder, then rename it into place"
(:func:`tempfile.mkdtemp` creates ``0700`` folders).
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text", "fsync_dir", "make_temp_dir"]

_POSIX = os.name == "posix"
_TRIES = 100


def _temp_name(folder: Path, prefix: str, suffix: str) -> Path:
    return folder / f"{prefix}{uuid.uuid4().hex[:12]}{suffix}"


def _create_temp_file(folder: Path, prefix: str, suffix: str) -> tuple[Path, int]:
    """Create a new, empty, uniquely named file like ``open(..., "w")`` would (``O_EXCL``, mode ``0o666`` & umask).

    Returns the path and the mode the operating system gave it.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(_TRIES):
        tmp = _temp_name(folder, prefix, suffix)
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        try:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            if _POSIX and mode & 0o600 != 0o600:
                os.fchmod(fd, mode | 0o600)  # a umask like 0277: the writer must still be able to (re)open it
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp, mode
    raise FileExistsError(f"Could not create a temporary file in {str(folder)!r} after {_TRIES} tries.")


def _existing_mode(path: Path) -> int | None:
    """Permission bits of ``path`` when it is an existing regular file (symbolic links followed), else ``None``."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def _fsync_file(path: Path) -> None:
    # Windows' fsync (_commit) needs a handle open for writing; POSIX is happy with read-only.
    fd = os.open(path, (os.O_RDONLY if _POSIX else os.O_RDWR) | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename into it) to disk; best effort.

    POSIX only: Windows cannot open a folder as a file. File systems that refuse to fsync a folder (some network
    and FUSE file systems) are ignored: the rename has happened, only its durability across a power cut is weaker.
    """
    if not _POSIX:
        return
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[Path], object],
    *,
    suffix: str = ".tmp",
    overwrite: bool = True,
) -> Path:
    """Write ``path`` atomically through ``write(tmp)``, giving it the permissions of a plainly written file.

    Steps: create ``.NAME.<random><suffix>`` in ``path``'s folder (mode as ``open(path, "w")`` would give a new
    file); call ``write(tmp)``, which must write the whole content to that path (it may reopen and truncate it,
    or replace it); set the mode (the existing destination's permission bits, else the new-file mode); fsync the
    file; publish it; fsync the folder. On any failure (``write`` raising included) the temporary file is removed
    and the destination is untouched.

    Args:
        path: the destination file. Its folder must exist.
        write: called once with the temporary path; its return value is ignored.
        suffix: ending of the temporary name. Give the destination's suffix (e.g. ``".nii.gz"``) when ``write``
            is a library function that picks the format from the file name.
        overwrite: ``True``: ``os.replace`` (an existing destination is replaced). ``False``: ``os.link``, which
            never clobbers: ``FileExistsError`` if the destination exists or appears meanwhile (the file system
            must support hard links).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        FileNotFoundError: the destination folder does not exist.
        FileExistsError: ``overwrite=False`` and the destination exists.
        Whatever ``write`` raises, and ``OSError`` from the file system.
    """
    dest = Path(path)
    tmp, new_mode = _create_temp_file(dest.parent, f".{dest.name}.", suffix)
    try:
        try:
            write(tmp)
        except OSError as exc:
            if exc.filename is None:  # a full disk fails in write(), which names no file: name the destination
                exc.filename = str(dest)
            raise
        if _POSIX:
            existing = _existing_mode(dest) if overwrite else None
            mode = new_mode if existing is None else existing
            if stat.S_IMODE(os.stat(tmp).st_mode) != mode:
                os.chmod(tmp, mode)
        _fsync_file(tmp)
        if overwrite:
            os.replace(tmp, dest)
        else:
            os.link(tmp, dest)  # atomic and never clobbers: fails if the destination appeared meanwhile
    finally:
        tmp.unlink(missing_ok=True)  # after os.replace it is gone; after os.link this drops the second name
    fsync_dir(dest.parent)
    return dest


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), overwrite=overwrite)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8",
                      overwrite: bool = True) -> Path:
    """:func:`atomic_write` of ``text``, encoded as given, line endings written as they are (no ``\\r\\n``)."""
    return atomic_write_bytes(path, text.encode(encoding), overwrite=overwrite)


def make_temp_dir(parent: str | os.PathLike[str], prefix: str = ".", suffix: str = ".partial") -> Path:
    """Create a new, uniquely named folder in ``parent`` with the mode a plain ``mkdir`` gives (not ``0700``).

    For building a folder in place and renaming it onto its final name when complete.
    """
    folder = Path(parent)
    for _ in range(_TRIES):
        tmp = _temp_name(folder, prefix, suffix)
        with contextlib.suppress(FileExistsError):
            tmp.mkdir(mode=0o777)
            return tmp
    raise FileExistsError(f"Could not create a temporary folder in {str(folder)!r} after {_TRIES} tries.")
