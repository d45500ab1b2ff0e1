"""Akmamba Viewer (PySide6 + pyqtgraph). ``run()`` is the ``akmamba-viewer`` entry point.

The window appears before torch is imported: everything torch-side is imported lazily, in workers.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from app._qt_compat import protect_singletons

protect_singletons()  # PySide6 6.12.0 on Python 3.11 over-releases None/True/False (see app/_qt_compat.py)


def build_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``akmamba-viewer``."""
    from akmamba import __version__

    parser = argparse.ArgumentParser(prog="akmamba-viewer", description="Akmamba Viewer")
    parser.add_argument("path", nargs="?", help="an image, a volume, a DICOM folder, or a folder of cases to open")
    parser.add_argument("--demo", action="store_true", help="open the bundled synthetic demo cases")
    parser.add_argument("--version", action="version", version=f"akmamba-viewer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--no-journal", action="store_true", help="do not journal edits (no crash recovery)")
    parser.add_argument("--journal-dir", help=argparse.SUPPRESS)
    parser.add_argument("--settings", help=argparse.SUPPRESS)
    parser.add_argument("--restore", choices=("ask", "restore", "discard"), default="ask", help=argparse.SUPPRESS)
    return parser


def create_window(args: argparse.Namespace) -> Any:
    """The main window for parsed ``args`` (a QApplication must exist)."""
    from app.main_window import MainWindow
    from app.settings import Settings

    window = MainWindow(
        Settings(args.settings) if args.settings else None,
        args.journal_dir,
        journal=not args.no_journal,
        restore_policy=args.restore,
    )
    if args.demo:
        window.open_demo()
    elif args.path:
        window.open_path(args.path)
    return window


def run(argv: Sequence[str] | None = None) -> int:
    """Parse flags, create the application and main window, and run the Qt event loop."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    from app.qt_platform import check_qt_platform

    problem = check_qt_platform()  # before Qt: a missing system library would abort the process (SIGABRT)
    if problem is not None:
        sys.stderr.write(problem.message + "\n")
        return 2

    from PySide6 import QtWidgets

    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    qapp.setOrganizationName("akmamba")
    qapp.setApplicationName("akmamba-viewer")
    window = create_window(args)
    window.show()
    return int(qapp.exec())
