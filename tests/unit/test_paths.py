"""One home for the user's folders (akmamba.paths): the rule per platform, and everything deriving from it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from akmamba import paths
from akmamba.finetune.registry import ModelRegistry, default_registry_root
from akmamba.infer.models import default_model_dirs


@pytest.mark.parametrize(
    ("platform", "env", "expected"),
    [
        ("linux", {"HOME": "/home/ana"}, "/home/ana/.local/share/akmamba"),
        ("linux", {"HOME": "/home/ana", "XDG_DATA_HOME": "/data/ana"}, "/data/ana/akmamba"),
        ("linux", {"HOME": "/home/ana", "XDG_DATA_HOME": "relative/ignored"}, "/home/ana/.local/share/akmamba"),
        ("freebsd14", {"HOME": "/home/ana"}, "/home/ana/.local/share/akmamba"),
        ("darwin", {"HOME": "/Users/ana"}, "/Users/ana/Library/Application Support/akmamba"),
        ("darwin", {"HOME": "/Users/ana", "XDG_DATA_HOME": "/x"}, "/Users/ana/Library/Application Support/akmamba"),
        ("win32", {"USERPROFILE": "C:/Users/ana", "LOCALAPPDATA": "C:/Users/ana/AppData/Local",
                   "APPDATA": "C:/Users/ana/AppData/Roaming"}, "C:/Users/ana/AppData/Local/akmamba"),
        ("win32", {"USERPROFILE": "C:/Users/ana", "APPDATA": "C:/Users/ana/AppData/Roaming"},
         "C:/Users/ana/AppData/Roaming/akmamba"),
        ("win32", {"USERPROFILE": "C:/Users/ana"}, "C:/Users/ana/AppData/Local/akmamba"),
        ("linux", {"HOME": "/home/ana", "AKMAMBA_HOME": "/lab/akmamba"}, "/lab/akmamba"),
        ("darwin", {"HOME": "/Users/ana", "AKMAMBA_HOME": "/lab/akmamba"}, "/lab/akmamba"),
        ("win32", {"LOCALAPPDATA": "C:/L", "AKMAMBA_HOME": "D:/akmamba"}, "D:/akmamba"),
    ],
)
def test_user_data_dir_per_platform(platform: str, env: dict[str, str], expected: str) -> None:
    assert paths.user_data_dir(platform, env) == Path(expected)


@pytest.mark.parametrize(
    ("platform", "env_name", "home_relative"),
    [("linux", "HOME", ".local/share/akmamba"), ("darwin", "HOME", "Library/Application Support/akmamba"),
     ("win32", "USERPROFILE", "AppData/Local/akmamba")],
)
def test_every_user_folder_derives_from_one_function(
    platform: str, env_name: str, home_relative: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the platform and environment patched, the CLI's registry and models folder and the viewer's journals,
    settings and demo folder all sit under the same user folder."""
    for name in ("AKMAMBA_HOME", "XDG_DATA_HOME", "LOCALAPPDATA", "APPDATA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(env_name, str(tmp_path))
    monkeypatch.setattr(paths, "sys", SimpleNamespace(platform=platform))  # only paths sees it
    home = tmp_path / home_relative
    assert paths.user_data_dir() == home
    assert default_registry_root() == home / "registry"
    assert ModelRegistry().root == home / "registry"
    assert default_model_dirs()[-1] == home / "models"
    assert paths.journal_dir() == home / "akmamba-viewer" / "journals"
    assert paths.settings_file() == home / "akmamba-viewer" / "settings.ini"
    assert paths.demo_dir() == home / "akmamba-viewer" / "demo-v1"


def test_shipped_resources_are_inside_the_package() -> None:
    """The models and dataset descriptions are package data (a wheel carries them), not beside the package."""
    res = paths.resources_dir()
    assert res.parent == Path(paths.__file__).resolve().parent
    assert sorted(p.name for p in (res / "datasets").glob("*.json")) == ["bladder.json", "drive.json"]
    assert len(list((res / "models").glob("*.safetensors"))) == 4
    assert res / "models" in default_model_dirs()
