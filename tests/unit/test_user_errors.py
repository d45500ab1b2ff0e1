"""The shared pieces behind "no traceback for a user-caused problem" (issue 22 items 12, 13, 15): OSError ->
message, path kinds, JSON type checks, the case-status schema."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from akmamba.annotations.case_status import read_case_status
from akmamba.errors import FileAccessError, ResourceError, from_os_error, user_error
from akmamba.io.validate import path_problem
from akmamba.schema import type_problem

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("code", "words"), [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only"),
                                             (errno.ENOSPC, "disk is full"), (errno.ELOOP, "symbolic link loop"),
                                             (errno.ENOTDIR, "is a file, not a folder")])
def test_os_error_message_names_file_reason_and_fix(code: int, words: str) -> None:
    error = from_os_error(OSError(code, os.strerror(code), "/data/run/x.json"), "write the report")
    assert isinstance(error, FileAccessError)
    assert isinstance(error, OSError)  # generic callers still catch it
    assert error.message.startswith("Cannot write the report '/data/run/x.json': ")
    assert words in error.message
    assert "To fix:" in error.message
    assert error.path == "/data/run/x.json"


def test_user_error_keeps_bugs_as_bugs() -> None:
    assert user_error(KeyError("x")) is None
    assert isinstance(user_error(MemoryError()), ResourceError)


def test_path_kinds(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    os.symlink("gone", tmp_path / "dangling")
    (tmp_path / "f").write_text("x")
    assert "FIFO" in path_problem(tmp_path / "p")
    assert "loop" in path_problem(tmp_path / "a")
    assert "'gone', which does not exist" in path_problem(tmp_path / "dangling")
    assert "folder" in path_problem(tmp_path)
    assert path_problem(tmp_path / "missing") == "does not exist"
    assert path_problem(tmp_path / "f") is None


@pytest.mark.parametrize(("value", "hint", "ok"), [
    (3, int, True), (True, int, False), (3.5, int, False), (3, float, True), ("3", float, False),
    ([16, 16], tuple[int, int] | None, True), ([16, 16, 16], tuple[int, int] | None, False), (None, int | None, True),
    ({"a": 1}, dict[str, Any], True), ([1], dict[str, Any], False), (["a"], list[str], True), ("a", list[str], False),
    ([{"index": 1}], list[dict[str, Any]], True), (["bg"], list[dict[str, Any]], False),
])
def test_type_problem(value: Any, hint: Any, ok: bool) -> None:
    assert (type_problem(value, hint) is None) is ok


@pytest.mark.parametrize(("content", "kept"), [
    (None, {}), ('{"status": {"a.png": "corrected"}}', {"a.png": "corrected"}),
    ('{"status": 5}', {}), ("[1]", {}), ("{oops", {}),
    ('{"status": {"a.png": "corrected", "b.png": 7}}', {"a.png": "corrected"}),
])
def test_case_status_file(tmp_path: Path, content: str | None, kept: dict[str, str]) -> None:
    if content is not None:
        (tmp_path / "akmamba_cases.json").write_text(content, encoding="utf-8")
    found = read_case_status(tmp_path)
    assert found.statuses == kept
    if content is None or content == json.dumps({"status": kept}):
        assert found.problem is None
    else:
        assert "akmamba_cases.json" in found.problem


def test_console_script_prints_a_message_not_a_traceback(tmp_path: Path) -> None:
    """The real ``python -m akmamba`` path (evaluate needs no torch, so this is quick)."""
    (tmp_path / "pred").mkdir()
    (tmp_path / "blocker").write_text("a file where a folder should be")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "akmamba", "evaluate", "--pred", str(tmp_path / "pred"), "--gt",
                           str(tmp_path / "blocker" / "gt"), "--out", str(tmp_path / "r.json")],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "blocker" in proc.stderr


def test_atomic_write_names_the_destination_of_a_full_disk(tmp_path: Path) -> None:
    """A full disk fails in write(), whose OSError names no file; the message must still name it."""
    from akmamba.io.atomic import atomic_write

    def full(_tmp: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(OSError, match="No space left") as info:
        atomic_write(tmp_path / "report.json", full)
    assert info.value.filename == str(tmp_path / "report.json")
    assert "'" + str(tmp_path / "report.json") + "': the disk is full" in from_os_error(info.value).message
    assert list(tmp_path.iterdir()) == []  # no temporary file left
