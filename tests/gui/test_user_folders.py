"""The viewer's registry, journals, settings and demo folder come from akmamba.paths, as the command line's do."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6 import QtCore

from akmamba import paths
from akmamba.finetune.registry import default_registry_root
from tests.gui.conftest import make_window


@pytest.fixture
def mac_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """akmamba.paths sees sys.platform 'darwin' and HOME a temporary folder, with no override set."""
    for name in ("AKMAMBA_HOME", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(paths, "sys", SimpleNamespace(platform="darwin"))  # only paths sees macOS
    return tmp_path / "home" / "Library" / "Application Support" / "akmamba"


def test_viewer_registry_is_the_command_lines(qtbot, tmp_path: Path, mac_home: Path) -> None:
    """On macOS the viewer's fine-tuned versions land where `akmamba versions` looks (they did not: QStandardPaths)."""
    win = make_window(tmp_path)
    qtbot.addWidget(win)
    assert win.model_registry.root == default_registry_root() == mac_home / "registry"


def test_viewer_journals_and_demo_folder_derive_from_the_user_folder(mac_home: Path) -> None:
    from app import recovery, window_commands

    assert recovery.default_journal_dir() == mac_home / "akmamba-viewer" / "journals"
    assert window_commands.demo_dir() == mac_home / "akmamba-viewer" / "demo-v1"


def test_default_settings_file_is_in_the_user_folder_and_keeps_old_preferences(mac_home: Path) -> None:
    """Settings() writes paths.settings_file(); what the native store held is carried over once."""
    from app.settings import APPLICATION, ORGANISATION, Settings

    old = QtCore.QSettings(ORGANISATION, APPLICATION)  # under tmp_path (tests/gui/conftest.py)
    old.setValue("device", "cpu")
    old.sync()
    settings = Settings()
    assert settings.device() == "cpu"
    settings.set_device("auto")
    settings.sync()
    assert paths.settings_file() == mac_home / "akmamba-viewer" / "settings.ini"
    assert paths.settings_file().is_file()
    assert Settings().device() == "auto"  # the file now exists: no second copy from the native store
