"""May a command write this output? The one rule of the command-line tools (stdlib only; no torch, no Qt).

An output never replaces one of the files the command reads (its inputs), not even with ``--overwrite``: that
would destroy the data the output was computed from. "The same file" is decided by the file system (resolved
paths, and :func:`os.path.samefile`, which also catches hard links and other names of one file); a folder input
(a DICOM series) counts with every file inside it. Any other existing file is replaced only when the user asked
for it (``--overwrite``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from akmamba.errors import ConfigError

__all__ = ["check_output", "input_replaced_by", "same_file"]


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (same resolved path, or the same inode: a hard link, a bind mount).

    A path that does not exist is the same as another only when both resolve to the same name.
    """
    pa, pb = Path(a), Path(b)
    if pa.resolve() == pb.resolve():
        return True
    try:
        return os.path.samefile(pa, pb)
    except OSError:  # one of them does not exist (or cannot be looked at): not an existing file shared by both
        return False


def input_replaced_by(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]]) -> Path | None:
    """The input that writing ``output`` would replace, or ``None``.

    Args:
        output: the file a command is about to write.
        inputs: files and folders it reads (a folder stands for every file inside it).

    Returns:
        The input file (for a folder input: the file inside it) that ``output`` is, else ``None``.
    """
    out = Path(output)
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = out.resolve().is_relative_to(path.resolve())
            if inside and out.exists() and not out.is_dir():
                return out
        elif same_file(out, path):
            return path
    return None


def check_output(
    output: str | os.PathLike[str],
    inputs: Iterable[str | os.PathLike[str]] = (),
    *,
    overwrite: bool = False,
    option: str = "--out",
    overwrite_option: str = "--overwrite",
) -> None:
    """Refuse an output that would replace an input, or an existing file unless ``overwrite``.

    Args:
        output: the file about to be written.
        inputs: the files and folders the command reads (see :func:`input_replaced_by`).
        overwrite: whether the user allowed replacing existing files (other than inputs).
        option: the option that named the output, for the message (e.g. ``"--out"``).
        overwrite_option: the option that allows replacing, for the message.

    Raises:
        ConfigError: naming the file, what was expected and what to do; nothing was written.
    """
    out = Path(output)
    source = input_replaced_by(out, inputs)
    if source is not None:
        alias = "" if source.resolve() == out.resolve() else " (the same file under another name)"
        raise ConfigError(
            f"Output {str(out)!r} would replace the input {str(source)!r}{alias}; an output never replaces an "
            f"input, not even with {overwrite_option}. Choose another {option} (e.g. a new folder).",
            path=str(out),
            parameter=option,
            expected="an output path that is none of the inputs",
            got=str(out),
        )
    if out.is_dir():
        raise ConfigError(
            f"Output {str(out)!r} is a folder; a file is written there. Choose another {option}.",
            path=str(out), parameter=option, expected="a file path", got="a folder",
        )
    if out.exists() and not overwrite:
        raise ConfigError(
            f"Output {str(out)!r} already exists; nothing was written. Pass {overwrite_option} to replace it, or "
            f"choose another {option}.",
            path=str(out),
            parameter=option,
            expected=f"a new file, or {overwrite_option}",
            got=str(out),
        )
