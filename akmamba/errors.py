"""Exception tree for the akmamba library.

Every error carries structured fields (``path``, ``parameter``, ``expected``, ``got``, ``hint``) so that the GUI
can build a message from them, and each subclass also inherits the builtin that fits so generic callers still
catch it (``except ValueError`` keeps working).
"""

from __future__ import annotations

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


class AkmambaWarning(UserWarning):
    """Base class of akmamba's warnings."""


class GeometryWarning(AkmambaWarning):
    """Suspicious but usable geometry (origin or direction differ slightly, anisotropic spacing in 2-D, ...)."""
