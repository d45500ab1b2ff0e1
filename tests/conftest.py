"""Shared fixtures. Qt runs offscreen; data in ../shared is optional and tests that need it skip cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's akmamba folder (registry, user models, the viewer's journals, settings and demo cases;
    akmamba.paths.user_data_dir) is under tmp_path in every test, never the real one."""
    monkeypatch.setenv("AKMAMBA_HOME", str(tmp_path / "akmamba-home"))


@pytest.fixture
def shared_data() -> Path:
    """Path to ../shared/data; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
