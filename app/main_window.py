"""Main window: an image view and a status bar that tells which compute backends are usable."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

pg.setConfigOptions(imageAxisOrder="row-major")


class MainWindow(QtWidgets.QMainWindow):
    """The viewer's top-level window (image view, menus, status bar)."""

    def __init__(self) -> None:
        super().__init__()
        from akmamba import __version__

        self.setWindowTitle(f"Akmamba Viewer {__version__}")
        self.resize(1100, 800)
        self.image_view = pg.ImageView()
        self.setCentralWidget(self.image_view)
        self.backend_label = QtWidgets.QLabel("Compute: checking...")
        self.statusBar().addPermanentWidget(self.backend_label)
        self.statusBar().showMessage("No image loaded")
        self._build_menus()
        # torch loads after the window is on screen.
        QtCore.QTimer.singleShot(0, self._on_check_backends)

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        quit_action = QtGui.QAction("&Quit", self, shortcut=QtGui.QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QtGui.QAction("&About", self)
        about.triggered.connect(self._on_about)
        help_menu.addAction(about)

    def _on_check_backends(self) -> None:
        from akmamba.ops import available_backends

        infos = available_backends()
        usable = [b.name for b in infos if b.available]
        self.backend_label.setText(f"Scan backends: {', '.join(usable)}")
        self.backend_label.setToolTip("\n".join(f"{b.name}: {b.reason}" for b in infos))

    def _on_about(self) -> None:
        from akmamba import __version__

        QtWidgets.QMessageBox.about(
            self,
            "About Akmamba Viewer",
            f"Akmamba Viewer {__version__}\nAKConv + Mamba-out U-Nets for fundus and bladder MRI segmentation.",
        )
