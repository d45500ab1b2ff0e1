"""Exception tree for the akmamba library.

Every error carries structured fields (``path``, ``parameter``, ``expected``, ``got``, ``hint``) so that the GUI
can build a message from them, and each subclass also inherits the builtin that fits so generic callers still
catch it (``except ValueError`` keeps working).
"""

from __future__ import annotations

import errno
import os
from typing import Any


class AkmambaError(Exception):
    """Base class of every error raised on purpose by akmamba.

    Args:
        message: one or two sentences: what was wrong, the value got and expected, which file or parameter, what
            to do.
        path: the file concerned, if any.
        parameter: the parameter or option concerned, if any.
        expected: what was expected (shown with ``!r`` by callers that format it).
        got: what was received.
        hint: what the user can do about it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        parameter: str | None = None,
        expected: Any = None,
        got: Any = None,
        hint: str | None = None,
    ) -> None:
        if not message:
            raise ValueError("AkmambaError needs a message")
        super().__init__(message)
        self.message = message
        self.path = path
        self.parameter = parameter
        self.expected = expected
        self.got = got
        self.hint = hint


class ConfigError(AkmambaError, ValueError):
    """An option, parameter or configuration value is unknown or out of range."""


class ShapeError(AkmambaError, ValueError):
    """A tensor or array has the wrong rank, shape, dtype or device."""


class BackendUnavailableError(AkmambaError, RuntimeError):
    """An explicitly requested compute backend cannot run here (the message says why and how to fix it)."""


class CheckpointError(AkmambaError, ValueError):
    """A checkpoint file is missing, corrupt, or does not match the model it claims to hold."""


class VolumeReadError(AkmambaError, OSError):
    """An image or volume file cannot be read."""


class ImageTooLargeError(VolumeReadError):
    """An image declares more data than its file holds or than the memory cap allows; nothing was allocated."""


class OutOfMemoryError(AkmambaError, MemoryError):
    """A computation ran out of (CPU) memory; the message says what was being done and how to need less."""


class UnsupportedFormatError(AkmambaError, ValueError):
    """A file format is not supported."""


class GeometryMismatchError(AkmambaError, ValueError):
    """Image and label (or two volumes) disagree in size, spacing, origin or direction."""


class CancelledError(AkmambaError):
    """A long computation (inference, evaluation) was stopped on request; nothing was returned or written."""


class JournalError(AkmambaError, OSError):
    """An edit journal cannot be written, or is corrupt or belongs to another image and cannot be replayed."""


class FileAccessError(AkmambaError, OSError):
    """The operating system refused a read or write: no permission, read-only or full disk, a path that is not
    what it should be (a folder, a FIFO, a symbolic link loop). Built from an ``OSError`` by :func:`from_os_error`."""


class ResourceError(AkmambaError, MemoryError):
    """The machine ran out of memory for a request (the message says how to make it smaller)."""


#: errno -> (what happened, what to do), for :func:`from_os_error`.
_OS_ADVICE: dict[int, tuple[str, str]] = {
    errno.EACCES: ("permission denied", "check the permissions of the file and its folder, or choose another "
                   "location"),
    errno.EPERM: ("operation not permitted", "check the permissions of the file and its folder, or choose another "
                  "location"),
    errno.EROFS: ("the file system is read-only", "choose a location on a writable disk"),
    errno.ENOSPC: ("the disk is full", "free some space on that disk, or choose a location on another disk"),
    errno.EDQUOT: ("the disk quota is exhausted", "free some space, or choose a location on another disk"),
    errno.ENOENT: ("it does not exist", "check the path"),
    errno.EEXIST: ("it already exists (a file where a folder is needed, or the reverse)", "choose another path"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "check the path, or choose another location"),
    errno.EISDIR: ("it is a folder where a file is expected", "give a file name, or choose another path"),
    errno.ELOOP: ("it is a symbolic link loop", "fix or remove the symbolic link"),
    errno.ENAMETOOLONG: ("the name is too long", "choose a shorter path"),
    errno.EIO: ("input/output error (a failing disk or a lost network share)", "check the disk or the connection, "
                "then try again"),
    errno.EMFILE: ("too many open files", "close other programs or raise the open-file limit (ulimit -n)"),
}


def from_os_error(exc: OSError, action: str = "access") -> FileAccessError:
    """A :class:`FileAccessError` for ``exc`` whose message names the file, the reason and what to do.

    Args:
        exc: the error; ``filename`` (and ``filename2`` for a rename) name the files.
        action: what was being done, e.g. ``"write the report"`` (``"Cannot write the report ..."``).
    """
    if isinstance(exc, FileAccessError):
        return exc
    names = [os.fsdecode(f) for f in (exc.filename, exc.filename2) if f is not None]
    reason, hint = _OS_ADVICE.get(exc.errno or -1, (exc.strerror or str(exc), "check the path and try again"))
    target = (" " + " -> ".join(repr(n) for n in names)) if names else ""
    detail = f" ({exc.strerror})" if exc.strerror and exc.strerror.lower() not in reason.lower() else ""
    return FileAccessError(f"Cannot {action}{target}: {reason}{detail}. To fix: {hint}.",
                           path=names[-1] if names else None, expected="an accessible path", got=reason, hint=hint)


def user_error(exc: BaseException, action: str = "access") -> AkmambaError | None:
    """``exc`` as an :class:`AkmambaError` fit to show a user: itself, an ``OSError`` through :func:`from_os_error`,
    a ``MemoryError`` as :class:`ResourceError`; None for anything else (a bug, which keeps its traceback)."""
    if isinstance(exc, AkmambaError):
        return exc
    if isinstance(exc, OSError):
        return from_os_error(exc, action)
    if isinstance(exc, MemoryError):
        return ResourceError(f"Out of memory ({exc or 'allocation failed'}). Close other programs, or make the "
                             "request smaller (a smaller image, tile size --roi-size, or batch size).",
                             hint="free memory or make the request smaller")
    return None


class AkmambaWarning(UserWarning):
    """Base class of akmamba's warnings."""


class GeometryWarning(AkmambaWarning):
    """Suspicious but usable geometry (origin or direction differ slightly, anisotropic spacing in 2-D, ...)."""
