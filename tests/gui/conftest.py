"""GUI fixtures: an isolated main window (settings, journals and data dirs under tmp_path), small images on disk,
and a tiny random checkpoint. Qt runs offscreen (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6 import QtCore, QtWidgets

from akmamba.io import Image, write_image

QtCore.QStandardPaths.setTestModeEnabled(True)  # never touch the user's real data dirs


def make_window(tmp_path: Path, **options: object) -> QtWidgets.QMainWindow:
    """A MainWindow with its settings and journals under ``tmp_path`` (no start-up probe by default)."""
    from app.main_window import MainWindow
    from app.settings import Settings

    options.setdefault("probe", False)
    options.setdefault("restore_policy", "discard")
    window = MainWindow(Settings(tmp_path / "settings.ini"), tmp_path / "journals", **options)
    window.journals.fsync = False  # keep tests fast; the crash test keeps fsync on
    window.cases.ask_unsaved = lambda _name: "discard"
    window.ask_model_mismatch = lambda _note: True  # run as asked (tests of the question set their own)
    return window


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path: Path) -> None:
    """Default QSettings (a window built without a Settings path) go under tmp_path, not the user's config."""
    for fmt in (QtCore.QSettings.Format.NativeFormat, QtCore.QSettings.Format.IniFormat):
        QtCore.QSettings.setPath(fmt, QtCore.QSettings.Scope.UserScope, str(tmp_path / "qsettings"))


@pytest.fixture
def window(qtbot, tmp_path: Path) -> Iterator[QtWidgets.QMainWindow]:
    """A shown main window; closed at teardown, leaving no top-level widget behind."""
    before = {id(w) for w in QtWidgets.QApplication.topLevelWidgets() if w.isVisible()}
    win = make_window(tmp_path)
    qtbot.addWidget(win)
    win.resize(1000, 700)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    QtWidgets.QApplication.processEvents()
    leaked = [w for w in QtWidgets.QApplication.topLevelWidgets() if w.isVisible() and id(w) not in before]
    assert not leaked, f"top-level widgets left open: {leaked}"


def open_and_wait(qtbot, win: QtWidgets.QMainWindow, path: Path | str, timeout: int = 15000) -> None:
    """Open ``path`` and wait until the case is shown."""
    with qtbot.waitSignal(win.case_opened, timeout=timeout):
        win.open_path(path)
    QtWidgets.QApplication.processEvents()


@pytest.fixture
def open_case(qtbot):
    """``open_case(window, path)`` opens a file and waits for it."""
    return lambda win, path: open_and_wait(qtbot, win, path)


@pytest.fixture
def grey_png(tmp_path: Path) -> Path:
    """A 64 x 80 grey PNG with a gradient and a bright square."""
    arr = np.tile(np.arange(80, dtype=np.uint8) * 2, (64, 1))
    arr[20:40, 30:50] = 250
    path = tmp_path / "case01.png"
    write_image(Image(arr, "2d"), path)
    return path


@pytest.fixture
def tiny_nifti(tmp_path: Path) -> Path:
    """A (6, 32, 40) int16 NIfTI volume with anisotropic spacing; slice z holds values 100 * z + x."""
    z, _y, x = np.meshgrid(np.arange(6), np.arange(32), np.arange(40), indexing="ij")
    arr = (100 * z + x).astype(np.int16)
    path = tmp_path / "vol.nii.gz"
    write_image(Image(arr, "volume", spacing=(3.0, 0.7, 0.7), origin=(10.0, -5.0, 2.0)), path)
    return path


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A random 1-channel, 2-class U-Net checkpoint with a label table and z-score normalisation."""
    import torch

    from akmamba.nn import build_model, save_checkpoint

    torch.manual_seed(0)
    model = build_model("unet", 1, 2, base_channels=4, depth=2).eval()
    path = tmp_path / "models" / "tiny-vessels.safetensors"
    table = [{"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
             {"name": "vessel", "index": 1, "value_in_file": 255, "color": [255, 0, 0]}]
    save_checkpoint(model, path, metadata={"label_table": table, "normalisation": "zscore", "version": "0.1-test"})
    return path


@pytest.fixture
def window_factory(qtbot, tmp_path: Path):
    """``window_factory(**options)``: another shown main window sharing ``tmp_path`` (closed at teardown)."""

    def create(**options: object) -> QtWidgets.QMainWindow:
        win = make_window(tmp_path, **options)
        qtbot.addWidget(win)
        win.resize(1000, 700)
        win.show()
        return win

    return create


@pytest.fixture
def prompt_checkpoint(tmp_path: Path) -> Path:
    """A random prompt-aware 3-class U-Net whose output favours label 1 (so a preview always changes the map)."""
    import torch

    from akmamba.nn import build_model, save_checkpoint
    from akmamba.prompt.layout import GuidanceLayout

    table = [{"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
             {"name": "wall", "index": 1, "value_in_file": 128, "color": [255, 215, 0]},
             {"name": "tumor", "index": 2, "value_in_file": 255, "color": [220, 20, 60]}]
    torch.manual_seed(0)
    layout = GuidanceLayout.for_labels({1: "wall", 2: "tumor"})
    model = build_model("unet", 1, 3, base_channels=4, depth=2, guidance=layout.to_dict()).eval()
    last_bias = [p for n, p in model.named_parameters() if n.endswith("bias") and p.shape == (3,)][-1]
    with torch.no_grad():
        last_bias[1] += 3.0
    path = tmp_path / "models" / "tiny-prompt.safetensors"
    save_checkpoint(model, path, metadata={"label_table": table, "normalisation": "zscore", "version": "1"})
    return path
