"""A small name -> object registry with did-you-mean errors (used for models and scan backends)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from akmamba.errors import ConfigError

T = TypeVar("T")


def suggest(name: str, choices: list[str]) -> str:
    """Return a " Did you mean 'x'?" fragment for ``name`` among ``choices``, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def look_up_option(value: str, choices: list[str], parameter: str) -> str:
    """Check that ``value`` is one of ``choices``; raise ConfigError with a did-you-mean guess otherwise.

    Args:
        value: the string the user passed.
        choices: the valid strings.
        parameter: the parameter name, used in the message.

    Returns:
        ``value`` unchanged.

    Raises:
        ConfigError: when ``value`` is not among ``choices``.
    """
    if value in choices:
        return value
    raise ConfigError(
        f"Unknown {parameter} {value!r}.{suggest(str(value), choices)} Valid choices: {', '.join(sorted(choices))}.",
        parameter=parameter,
        expected=sorted(choices),
        got=value,
    )


class Registry(Generic[T]):
    """Maps names to objects (builder functions, backends); ``get`` misses raise ConfigError with suggestions.

    Args:
        kind: what the entries are, used in messages (for example ``"model"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers ``obj`` under ``name``; a duplicate name is a programming error."""

        def deco(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name`` (non-decorator form)."""
        self.register(name)(obj)

    def get(self, name: str) -> T:
        """Return the entry called ``name``.

        Raises:
            ConfigError: unknown name, with a did-you-mean guess and the list of valid names.
        """
        look_up_option(name, self.names(), self.kind)
        return self._entries[name]

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)
