"""Checks on user-edited JSON: reading a file as a JSON object, and the types of its values (stdlib only).

Every JSON file a user or another program can edit (training configs, a predictions folder's ``model.json``, a
checkpoint's metadata, the viewer's case-status file) is read through :func:`read_json_object` and its values are
checked with :func:`type_problem` / :func:`check_fields` before any code uses them, so that ``"epochs": "ten"`` or
``"status": 5`` is reported as such (the file, the key, what was expected and found) instead of failing later
with a ``TypeError`` far from its cause.

Types are given as Python annotations: ``int``, ``float`` (an int is accepted), ``str``, ``bool``, ``None``,
``Any``, ``X | None``, ``list[X]``, ``tuple[X, Y]`` / ``tuple[X, ...]`` (a JSON list), ``dict[str, X]``. ``bool``
is never accepted where a number is expected.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Mapping
from typing import Any

from akmamba.errors import AkmambaError, ConfigError

__all__ = ["check_fields", "check_type", "read_json_object", "type_name", "type_problem"]


def type_name(hint: Any) -> str:
    """A short, readable name of a type annotation (``"an integer"``, ``"a list of texts"``, ...)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return "any value"
    if hint is type(None) or hint is None:
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in (list, tuple) or hint in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} ({', '.join(_plural(a) for a in args)})" if len(set(args)) > 1 else \
                f"a list of {len(args)} {_plural(args[0])}"
        return f"a list of {_plural(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "an object" if not args or args[1] is Any else f"an object of {_plural(args[1])}"
    return {int: "an integer", float: "a number", str: "a text", bool: "true or false"}.get(
        hint, getattr(hint, "__name__", str(hint)))


def _plural(hint: Any) -> str:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_plural(a) for a in typing.get_args(hint))
    origin = typing.get_origin(hint) or hint
    return {int: "integers", float: "numbers", str: "texts", bool: "true/false values", dict: "objects",
            list: "lists", tuple: "lists", type(None): "nulls"}.get(origin, "values")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "true/false", int: "an integer", float: "a number", str: "a text", list: "a list",
            tuple: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def type_problem(value: Any, hint: Any) -> str | None:
    """None when ``value`` (parsed JSON) fits the annotation ``hint``, else what is wrong, e.g.
    ``"expected an integer, found a text ('ten')"``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    ok: bool
    if hint is Any:
        return None
    if origin in (typing.Union, types.UnionType):
        if any(type_problem(value, a) is None for a in args):
            return None
        ok = False
    elif hint is type(None) or hint is None:
        ok = value is None
    elif hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif hint is str:
        ok = isinstance(value, str)
    elif origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            ok = False
        elif origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                return f"expected {type_name(hint)}, found a list of {len(value)}"
            for item, sub in zip(value, args, strict=True):
                if (problem := type_problem(item, sub)) is not None:
                    return problem
            return None
        else:
            for item in value:
                if args and (problem := type_problem(item, args[0])) is not None:
                    return f"in the list: {problem}"
            return None
    elif origin is dict or hint is dict:
        if not isinstance(value, Mapping):
            ok = False
        else:
            for key, item in value.items():
                if not isinstance(key, str):
                    return f"expected text keys, found {key!r}"
                if len(args) == 2 and (problem := type_problem(item, args[1])) is not None:
                    return f"at key {key!r}: {problem}"
            return None
    else:
        ok = isinstance(value, hint) if isinstance(hint, type) else True
    if ok:
        return None
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return f"expected {type_name(hint)}, found {_json_type(value)} ({shown})"


def check_type(value: Any, hint: Any, *, key: str, source: str | None, what: str,
               error: type[AkmambaError] = ConfigError) -> None:
    """Raise ``error`` naming ``key`` and ``source`` when ``value`` does not fit ``hint``.

    Args:
        value: the parsed JSON value.
        hint: its annotation.
        key: its key (``"epochs"``, ``"model.in_channels"``).
        source: the file it came from, if any.
        what: what the file is, e.g. ``"Training config"``.
        error: the error class.
    """
    problem = type_problem(value, hint)
    if problem is None:
        return
    where = f" {source!r}" if source else ""
    raise error(f"{what}{where}: {key!r} {problem}. To fix: give {key!r} as {type_name(hint)}.",
                path=source, parameter=key, expected=type_name(hint), got=value, hint=f"give {type_name(hint)}")


def check_fields(cls: type, data: Mapping[str, Any], *, source: str | None, what: str,
                 error: type[AkmambaError] = ConfigError) -> None:
    """Check every key of ``data`` that names a field of the dataclass ``cls`` against that field's annotation.

    Raises:
        error: the first value of the wrong type (see :func:`check_type`).
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in data:
            check_type(data[f.name], hints[f.name], key=f.name, source=source, what=what, error=error)


def read_json_object(path: str | os.PathLike[str], what: str, error: type[AkmambaError] = ConfigError,
                     *, parameter: str | None = None) -> dict[str, Any]:
    """Read a JSON file that must hold an object.

    Args:
        path: the file.
        what: what the file is, for messages (``"Training config"``).
        error: the error class raised.
        parameter: the option that named the file, if any.

    Raises:
        error: the path is not a regular non-empty file (a FIFO is refused before it is opened), cannot be read, is
            not UTF-8, not JSON (line and column given), or not an object.
    """
    from akmamba.io.validate import check_input_file

    p = check_input_file(path, what, error, parameter=parameter)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise error(f"Cannot read {what.lower()} {str(p)!r}: {exc.strerror}. To fix: check its permissions.",
                    path=str(p), parameter=parameter) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {str(p)!r} is not UTF-8 text (byte {exc.start}). To fix: save it as UTF-8 JSON.",
                    path=str(p), parameter=parameter, expected="UTF-8 JSON", got="undecodable bytes") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} {str(p)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}. "
                    "To fix: correct the syntax there.", path=str(p), parameter=parameter,
                    expected="JSON", got=exc.msg) from exc
    if not isinstance(data, dict):
        raise error(f"{what} {str(p)!r} must hold a JSON object ({{...}}); found {_json_type(data)}. To fix: "
                    "write the settings as an object of key: value pairs.", path=str(p), parameter=parameter,
                    expected="a JSON object", got=_json_type(data))
    return data
