"""Before Qt starts: is the Qt platform plugin loadable here? If not, say which system package to install.

Qt aborts the process (SIGABRT, "Could not load the Qt platform plugin xcb") when the plugin's system libraries are
missing, and its message often names the wrong one. On Linux, before the QApplication is created, this module runs
``ldd`` on the plugin Qt will pick (``PySide6/Qt/plugins/platforms/libq<name>.so``), lists the libraries reported
``not found`` and maps each to its Debian/Ubuntu package, so ``akmamba-viewer`` can print one ``apt-get install``
line and exit with status 2 instead. It also catches the other common abort: the xcb plugin without an X display.

No PySide6 import here (importing QtGui already needs libGL/libEGL): the plugin is found from the package's spec.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Debian/Ubuntu packages for the libraries of the xcb platform plugin (and of QtGui) where the package name does not
#: follow the usual rule (``libfoo-bar.so.N`` -> ``libfoo-barN``; ``libfoo2.so.N`` -> ``libfoo2-N``).
DEBIAN_PACKAGE_OVERRIDES: dict[str, str] = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libpng16.so.16": "libpng16-16",
}
#: The README's line: everything the xcb plugin needs beyond a minimal Debian bookworm / Ubuntu 22.04+ install.
README_APT_PACKAGES = (
    "libgl1 libegl1 libfontconfig1 libglib2.0-0 libdbus-1-3 libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 "
    "libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 "
    "libx11-xcb1"
)
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


@dataclass(frozen=True)
class PlatformProblem:
    """Why Qt would abort, and what to do.

    Attributes:
        platform: the Qt platform plugin concerned (``"xcb"``).
        missing: sonames ``ldd`` reported as not found (empty for a missing display).
        packages: the Debian/Ubuntu packages providing them, in the order found, without repeats.
        message: the full text for the user (what is wrong, the command to fix it).
    """

    platform: str
    missing: tuple[str, ...]
    packages: tuple[str, ...]
    message: str


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package holding ``soname`` (``libxcb-icccm.so.4`` -> ``libxcb-icccm4``).

    Debian names a shared-library package after the library and its SONAME version, with a ``-`` between them when
    the name ends in a digit; the few exceptions Qt needs are in :data:`DEBIAN_PACKAGE_OVERRIDES`.
    """
    if soname in DEBIAN_PACKAGE_OVERRIDES:
        return DEBIAN_PACKAGE_OVERRIDES[soname]
    match = re.match(r"^(.+)\.so\.(\d+)", soname)
    if not match:
        return soname
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def missing_libraries(ldd_output: str) -> list[str]:
    """The sonames ``ldd`` printed as ``=> not found``, in order, without repeats."""
    found: list[str] = []
    for line in ldd_output.splitlines():
        match = _NOT_FOUND.match(line)
        if match and match.group(1) not in found:
            found.append(match.group(1))
    return found


def plugin_dir() -> Path | None:
    """``PySide6/Qt/plugins/platforms`` of the installed PySide6 (found without importing it), or None."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms"
    return folder if folder.is_dir() else None


def _chosen_platform(environ: Mapping[str, str]) -> str:
    """The platform plugin Qt will load: ``QT_QPA_PLATFORM``'s first entry (without its options), else xcb."""
    value = environ.get("QT_QPA_PLATFORM", "").strip()
    first = re.split(r"[;]", value)[0] if value else ""
    return first.split(":")[0].strip() or "xcb"


def check_qt_platform(
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
    plugins: Path | None = None,
    run_ldd: Sequence[str] | None = None,
) -> PlatformProblem | None:
    """A reason Qt would abort on start-up here, or None when it should start (or this cannot tell).

    Checks on Linux only, and only what it can know for sure: the chosen platform plugin's libraries (``ldd``), and
    for xcb an X display. Where ``ldd`` or the plugin is absent it returns None and leaves the decision to Qt.

    Args:
        environ: the environment (default ``os.environ``).
        platform: a ``sys.platform`` value (default the running one).
        plugins: the platform plugin folder (default :func:`plugin_dir`).
        run_ldd: the ``ldd`` command (default ``ldd`` found on PATH).
    """
    env = os.environ if environ is None else environ
    plat = sys.platform if platform is None else platform
    if not plat.startswith("linux"):
        return None
    name = _chosen_platform(env)
    folder = plugins if plugins is not None else plugin_dir()
    ldd = list(run_ldd) if run_ldd is not None else ([shutil.which("ldd")] if shutil.which("ldd") else [])
    if folder is None or not ldd:
        return None
    if not env.get("QT_QPA_PLATFORM") and env.get("WAYLAND_DISPLAY") and _missing(folder / "libqwayland.so", ldd) == []:
        return None  # a Wayland session: Qt tries its wayland plugin first, and that one loads
    missing = _missing(folder / f"libq{name}.so", ldd)
    if missing:
        packages = tuple(dict.fromkeys(debian_package(s) for s in missing))
        message = (
            f"akmamba-viewer: Qt's '{name}' platform plugin cannot load: these system libraries are missing: "
            f"{', '.join(missing)}.\n"
            f"On Debian/Ubuntu install them with:\n"
            f"    sudo apt-get install {' '.join(packages)}\n"
            f"(or everything the viewer needs at once, as in the README:\n"
            f"    sudo apt-get install {README_APT_PACKAGES})\n"
            f"On other distributions install the packages that provide those files.\n"
            f"Plugin checked: {folder / f'libq{name}.so'}"
        )
        return PlatformProblem(name, tuple(missing), packages, message)
    if name == "xcb" and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        message = (
            "akmamba-viewer: no display to open a window on (DISPLAY is not set).\n"
            "Run it from a desktop session (or over ssh -X); on a machine without a screen, run it under "
            "xvfb-run, or set QT_QPA_PLATFORM=offscreen for a window nobody sees."
        )
        return PlatformProblem(name, (), (), message)
    return None


def _missing(plugin: Path, ldd: Sequence[str]) -> list[str] | None:
    """The sonames ``ldd`` cannot find for ``plugin``; None when the plugin is absent or ``ldd`` does not run."""
    if not plugin.is_file():
        return None
    try:
        out = subprocess.run([*ldd, str(plugin)], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return missing_libraries(out.stdout)
