"""UI preferences in QSettings: window geometry, recent files, last folder, device and test-time augmentation
choices (never model config).

The file is an INI file in the user's akmamba folder (:func:`akmamba.paths.settings_file`), beside the journals and
the registry, on every platform. Preferences an earlier version kept in the platform's native store
(``QSettings("akmamba", "akmamba-viewer")``) are copied into it the first time it is created.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore

from akmamba.paths import settings_file
from akmamba.prompt.regions import RULES

ORGANISATION = "akmamba"
APPLICATION = "akmamba-viewer"
MAX_RECENT = 10


class Settings:
    """Typed access to the viewer's QSettings.

    Args:
        path: an INI file to use instead of the user's (:func:`akmamba.paths.settings_file`; tests pass one under
            ``tmp_path``).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        target = Path(path) if path is not None else settings_file()
        fresh = not target.exists()
        self._q = QtCore.QSettings(str(target), QtCore.QSettings.Format.IniFormat)
        if path is None and fresh:
            self._copy_from_native()

    def _copy_from_native(self) -> None:
        """Carry over what an earlier version stored in the platform's native settings (once, on creation)."""
        old = QtCore.QSettings(ORGANISATION, APPLICATION)
        for key in old.allKeys():
            self._q.setValue(key, old.value(key))
        self._q.sync()

    def recent_files(self) -> list[str]:
        """Most recent first; entries that no longer exist are dropped."""
        value = self._q.value("recent_files", [])
        items = [value] if isinstance(value, str) else [str(v) for v in (value or [])]  # type: ignore[attr-defined]
        return [p for p in items if Path(p).exists()][:MAX_RECENT]

    def add_recent_file(self, path: str | Path) -> None:
        """Put ``path`` first in the recent list (no duplicates, at most ``MAX_RECENT``)."""
        text = str(Path(path).resolve())
        items = [p for p in self.recent_files() if p != text]
        self._q.setValue("recent_files", [text, *items][:MAX_RECENT])

    def clear_recent_files(self) -> None:
        """Forget the recent list."""
        self._q.setValue("recent_files", [])

    def last_folder(self) -> str:
        """The folder of the last file dialog ("" when none)."""
        return str(self._q.value("last_folder", "") or "")

    def set_last_folder(self, folder: str | Path) -> None:
        """Remember the folder of the last file dialog."""
        self._q.setValue("last_folder", str(folder))

    def device(self) -> str:
        """``"auto"``, ``"cpu"`` or ``"cuda"``."""
        value = str(self._q.value("device", "auto") or "auto")
        return value if value in ("auto", "cpu", "cuda") else "auto"

    def set_device(self, device: str) -> None:
        """Remember the inference device choice."""
        self._q.setValue("device", device)

    def tta(self) -> str:
        """Test-time augmentation of segmentation runs: ``"none"``, ``"flips"`` or ``"d4"``."""
        value = str(self._q.value("tta", "none") or "none")
        return value if value in ("none", "flips", "d4") else "none"

    def set_tta(self, tta: str) -> None:
        """Remember the test-time augmentation choice."""
        self._q.setValue("tta", tta)

    def prompt_regions(self) -> str:
        """The Prompt tool's region rule for prompt-aware models (:mod:`akmamba.prompt.regions`): ``"clicked"``
        (keep the regions the prompts touch, the default) or ``"model"`` (the model's whole answer)."""
        value = str(self._q.value("prompt_regions", "clicked") or "clicked")
        return value if value in RULES else "clicked"

    def set_prompt_regions(self, rule: str) -> None:
        """Remember the Prompt tool's region rule."""
        self._q.setValue("prompt_regions", rule)

    def geometry(self) -> QtCore.QByteArray | None:
        """Saved window geometry, if any."""
        value = self._q.value("geometry")
        return value if isinstance(value, QtCore.QByteArray) else None

    def set_geometry(self, data: QtCore.QByteArray) -> None:
        """Save the window geometry."""
        self._q.setValue("geometry", data)

    def sync(self) -> None:
        """Write pending changes to disk."""
        self._q.sync()
