"""Akmamba Viewer (PySide6 + pyqtgraph). ``run()`` is the ``akmamba-viewer`` entry point.

The window appears before torch is imported: everything torch-side is imported lazily.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence


def run(argv: Sequence[str] | None = None) -> int:
    """Parse flags, create the application and main window, and run the Qt event loop."""
    from akmamba import __version__

    parser = argparse.ArgumentParser(prog="akmamba-viewer", description="Akmamba Viewer")
    parser.add_argument("--version", action="version", version=f"akmamba-viewer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)

    from PySide6 import QtWidgets

    from app.main_window import MainWindow

    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    window = MainWindow()
    window.show()
    return int(qapp.exec())
