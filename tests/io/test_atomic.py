"""akmamba.io.atomic: all-or-nothing writes whose files get the permissions of a plain ``open(path, "w")``."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from akmamba.io.atomic import atomic_write, atomic_write_bytes, atomic_write_text, make_temp_dir

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    """Umask 022 for the test; call ``umask(0o027)`` to change it; the old umask is restored afterwards."""
    old = os.umask(0o022)

    def set_umask(value: int) -> None:
        os.umask(value)

    try:
        yield set_umask
    finally:
        os.umask(old)


def test_content_and_no_leftovers(tmp_path: Path) -> None:
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        tmp.write_bytes(b"payload")

    assert atomic_write(tmp_path / "out.bin", write) == tmp_path / "out.bin"
    assert (tmp_path / "out.bin").read_bytes() == b"payload"
    (tmp,) = seen
    assert tmp.parent == tmp_path
    assert tmp.name.startswith(".out.bin.")
    assert tmp.name.endswith(".tmp")
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    atomic_write_text(tmp_path / "out.bin", "line 1\nline 2\n")  # replaces; \n kept on every platform
    assert (tmp_path / "out.bin").read_bytes() == b"line 1\nline 2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_suffix_for_writers_that_pick_the_format_by_name(tmp_path: Path) -> None:
    names: list[str] = []
    atomic_write(tmp_path / "seg.nii.gz", lambda tmp: (names.append(tmp.name), tmp.write_bytes(b"x")),
                 suffix=".nii.gz")
    assert names[0].startswith(".seg.nii.gz.")
    assert names[0].endswith(".nii.gz")


@pytest.mark.parametrize("existing", [False, True])
def test_failing_writer_leaves_destination_untouched(tmp_path: Path, existing: bool) -> None:
    dest = tmp_path / "out.json"
    if existing:
        dest.write_text("old", encoding="utf-8")

    def write(tmp: Path) -> None:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError, match="writer failed"):
        atomic_write(dest, write)
    assert [p.name for p in tmp_path.iterdir()] == (["out.json"] if existing else [])
    if existing:
        assert dest.read_text(encoding="utf-8") == "old"


def test_failing_rename_removes_the_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "out.txt"
    dest.write_text("old", encoding="utf-8")

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(dest, b"new")
    assert dest.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_no_overwrite_never_clobbers(tmp_path: Path) -> None:
    dest = tmp_path / "p.npy"
    atomic_write_bytes(dest, b"first", overwrite=False)
    with pytest.raises(FileExistsError):
        atomic_write_bytes(dest, b"second", overwrite=False)
    assert dest.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["p.npy"]


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write_bytes(tmp_path / "missing" / "x.txt", b"x")


@posix_only
@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o002, 0o664), (0o027, 0o640), (0o077, 0o600)])
def test_new_file_mode_follows_umask(tmp_path: Path, umask: Callable[[int], None], mask: int, expected: int) -> None:
    umask(mask)
    plain = tmp_path / "plain.txt"
    with open(plain, "w", encoding="utf-8") as f:
        f.write("x")
    atomic_write_bytes(tmp_path / "atomic.txt", b"x")
    atomic_write_bytes(tmp_path / "linked.txt", b"x", overwrite=False)
    assert mode(tmp_path / "atomic.txt") == mode(plain) == expected
    assert mode(tmp_path / "linked.txt") == expected


@posix_only
def test_existing_file_keeps_its_mode(tmp_path: Path, umask: Callable[[int], None]) -> None:
    dest = tmp_path / "private.json"
    dest.write_text("old", encoding="utf-8")
    os.chmod(dest, 0o600)
    atomic_write_text(dest, "new")
    assert dest.read_text(encoding="utf-8") == "new"
    assert mode(dest) == 0o600
    os.chmod(dest, 0o664)
    atomic_write_text(dest, "newer")
    assert mode(dest) == 0o664


@posix_only
def test_mode_set_even_when_the_writer_recreates_the_file(tmp_path: Path, umask: Callable[[int], None]) -> None:
    def write(tmp: Path) -> None:  # like a library that writes its own private temporary file and renames it
        tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"x")
        os.close(fd)

    atomic_write(tmp_path / "out.bin", write)
    assert mode(tmp_path / "out.bin") == 0o644


@posix_only
def test_umask_without_owner_write_still_writes(tmp_path: Path, umask: Callable[[int], None]) -> None:
    umask(0o277)  # new files are read-only to their owner; the writer must still be able to reopen the temp file
    dest = atomic_write(tmp_path / "ro.txt", lambda tmp: tmp.write_text("x", encoding="utf-8"))
    assert dest.read_text(encoding="utf-8") == "x"
    assert mode(dest) == 0o400


@posix_only
def test_temp_dir_mode_follows_umask(tmp_path: Path, umask: Callable[[int], None]) -> None:
    folder = make_temp_dir(tmp_path, prefix=".export.", suffix=".partial")
    assert folder.parent == tmp_path
    assert folder.name.startswith(".export.")
    assert folder.name.endswith(".partial")
    assert mode(folder) == 0o755
    umask(0o027)
    assert mode(make_temp_dir(tmp_path)) == 0o750
