"""akmamba-viewer says which system package is missing instead of letting Qt abort (app/qt_platform.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.qt_platform import README_APT_PACKAGES, check_qt_platform, debian_package, missing_libraries, plugin_dir

ROOT = Path(__file__).resolve().parents[2]
# What ldd printed for PySide6's libqxcb.so on a fresh Debian bookworm with libxcb-cursor0 installed (issue 23).
LDD_BOOKWORM = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/lib/python3.11/site-packages/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxkbcommon-x11.so.0 => not found
\tlibxcb-icccm.so.4 => not found
"""


def fake_ldd(folder: Path, output: str) -> Path:
    """An executable ``ldd`` that prints ``output``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "out.txt").write_text(output)
    script = folder / "ldd"
    script.write_text(f"#!/bin/sh\ncat '{folder / 'out.txt'}'\n")
    script.chmod(0o755)
    return script


def fake_plugins(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("libqxcb.so", "libqwayland.so", "libqoffscreen.so"):
        (folder / name).write_bytes(b"\x7fELF")
    return folder


@pytest.mark.parametrize(
    ("soname", "package"),
    [("libxcb-icccm.so.4", "libxcb-icccm4"), ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
     ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"), ("libX11-xcb.so.1", "libx11-xcb1"), ("libEGL.so.1", "libegl1"),
     ("libGL.so.1", "libgl1"), ("libglib-2.0.so.0", "libglib2.0-0"), ("libdbus-1.so.3", "libdbus-1-3"),
     ("libxcb-render-util.so.0", "libxcb-render-util0"), ("libfontconfig.so.1", "libfontconfig1")],
)
def test_debian_package_names(soname: str, package: str) -> None:
    assert debian_package(soname) == package


def test_missing_libraries_parses_ldd() -> None:
    assert missing_libraries(LDD_BOOKWORM) == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxkbcommon-x11.so.0"]


def test_missing_xcb_libraries_name_the_packages(tmp_path: Path) -> None:
    ldd = fake_ldd(tmp_path / "bin", LDD_BOOKWORM)
    problem = check_qt_platform({"DISPLAY": ":0"}, "linux", fake_plugins(tmp_path / "p"), [str(ldd)])
    assert problem is not None
    assert problem.platform == "xcb"
    assert problem.packages == ("libxcb-icccm4", "libxcb-keysyms1", "libxkbcommon-x11-0")
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in problem.message
    assert README_APT_PACKAGES in problem.message


def test_complete_plugin_passes_and_other_platforms_are_not_checked(tmp_path: Path) -> None:
    plugins = fake_plugins(tmp_path / "p")
    good = fake_ldd(tmp_path / "good", "\tlibxcb.so.1 => /lib/libxcb.so.1 (0x1)\n")
    bad = fake_ldd(tmp_path / "bad", LDD_BOOKWORM)
    assert check_qt_platform({"DISPLAY": ":0"}, "linux", plugins, [str(good)]) is None
    assert check_qt_platform({}, "darwin", plugins, [str(bad)]) is None
    assert check_qt_platform({}, "win32", plugins, [str(bad)]) is None
    # QT_QPA_PLATFORM picks the plugin checked (offscreen here, whose ldd is fine in this fake)
    assert check_qt_platform({"QT_QPA_PLATFORM": "offscreen"}, "linux", plugins, [str(good)]) is None


def test_wayland_session_with_a_working_wayland_plugin_is_not_blocked_by_xcb(tmp_path: Path) -> None:
    plugins = fake_plugins(tmp_path / "p")
    script = tmp_path / "ldd"
    missing = 'printf "\\tlibxcb-icccm.so.4 => not found\\n"'
    script.write_text(f'#!/bin/sh\ncase "$1" in *libqwayland.so) echo ok;; *) {missing};; esac\n')
    script.chmod(0o755)
    assert check_qt_platform({"WAYLAND_DISPLAY": "wayland-0"}, "linux", plugins, [str(script)]) is None
    problem = check_qt_platform({"DISPLAY": ":0"}, "linux", plugins, [str(script)])
    assert problem is not None
    assert problem.packages == ("libxcb-icccm4",)


def test_no_display_for_xcb(tmp_path: Path) -> None:
    good = fake_ldd(tmp_path / "good", "")
    problem = check_qt_platform({}, "linux", fake_plugins(tmp_path / "p"), [str(good)])
    assert problem is not None
    assert "DISPLAY is not set" in problem.message


@pytest.mark.skipif(not sys.platform.startswith("linux") or plugin_dir() is None, reason="Linux with PySide6 only")
def test_viewer_exits_2_with_the_package_instead_of_aborting(tmp_path: Path) -> None:
    """The real entry point, with an ldd that reports the issue's missing libraries: exit 2, the apt line, no abort.

    Before the check, Qt itself got to load xcb here and aborted the interpreter (SIGABRT, rc -6)."""
    ldd = fake_ldd(tmp_path / "bin", LDD_BOOKWORM)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(PATH=f"{ldd.parent}{os.pathsep}{env.get('PATH', '')}", DISPLAY=":987", PYTHONPATH=str(ROOT))
    code = textwrap.dedent("""
        import sys, app
        sys.exit(app.run(["--demo"]))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0" in out.stderr
    assert "Traceback" not in out.stderr


def test_readme_apt_line_holds_every_package_the_viewer_names() -> None:
    """The README's Debian/Ubuntu line (which scripts/check_fresh_install.sh runs) is the one the viewer prints."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"sudo apt-get install -y python3-venv {README_APT_PACKAGES}\n" in readme
