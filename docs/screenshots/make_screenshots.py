"""Take the viewer screenshots in this folder from the real window (X11 via Xvfb).

Run: ``xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/make_screenshots.py``
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from PySide6 import QtCore, QtWidgets  # noqa: E402

import app  # noqa: E402,F401 - applies the PySide6 work-around first


def settle(qapp: QtWidgets.QApplication, seconds: float = 0.4) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        qapp.processEvents()
        time.sleep(0.01)


def wait(qapp: QtWidgets.QApplication, done, timeout: float = 60) -> None:
    end = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > end:
            raise TimeoutError("screenshot step timed out")
        qapp.processEvents()
        time.sleep(0.01)


def hover(window, x: float, y: float) -> None:
    window.view.send_mouse("move", x, y, button=QtCore.Qt.MouseButton.NoButton)


def main() -> int:
    from akmamba.demo import write_demo
    from app.main_window import MainWindow
    from app.settings import Settings
    from app.views.edit_controller import Tool

    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp(prefix="akmamba_shots_"))
    paths = write_demo(tmp / "demo")
    window = MainWindow(Settings(tmp / "s.ini"), tmp / "journals", restore_policy="discard")
    window.cases.ask_unsaved = lambda _name: "discard"
    window.resize(1500, 940)
    window.show()
    window.open_path(tmp / "demo")
    wait(qapp, lambda: window.session.has_case and "Scan backends" in window.backend_label.text())
    settle(qapp)
    window.session.set_opacity(0.6)
    hover(window, 300, 240)
    settle(qapp)
    window.grab().save(str(HERE / "fundus_overlay.png"))

    window.commands["next_case"].trigger()
    wait(qapp, lambda: window.session.path == paths[1])
    window.session.set_slice(13)
    settle(qapp)
    hover(window, 140, 80)
    settle(qapp)
    window.grab().save(str(HERE / "mri_slices.png"))

    window.commands["prev_case"].trigger()
    wait(qapp, lambda: window.session.path == paths[0])
    settle(qapp)
    window.set_green(True)
    window.controller.set_radius(5)
    window.controller.set_tool(Tool.BRUSH)
    window.view.drag_through([(120, 300), (160, 320), (200, 330), (240, 335)])
    window.controller.set_tool(Tool.POLYGON)
    for x, y in ((330, 280), (380, 250), (420, 300), (370, 340)):
        window.view.click_at(x, y)
    window.controller.set_protect(True)
    window.labels_panel.outline_check.setChecked(True)
    hover(window, 335, 330)
    window.view.set_polygon(window.controller.polygon, (335, 330))
    settle(qapp)
    window.grab().save(str(HERE / "edit_mode.png"))

    # Compare: a stand-in "model result" (the corrected mask shifted by 3 px) against the corrected mask.
    import numpy as np

    from akmamba.infer.predictor import Prediction
    from app import compare_actions
    from app.compare_actions import CORRECTED, LAST_RESULT

    window.labels_panel.outline_check.setChecked(False)
    window.set_green(False)
    corrected = np.array(window.session.label_map.array)
    window.session.set_prediction(Prediction(probs=None, labels=np.roll(corrected, 3, axis=1)))
    panel = compare_actions.open_compare(window)
    panel.choose(a=LAST_RESULT, b=CORRECTED)
    panel.diff_check.setChecked(True)
    window.resize(1500, 1100)
    settle(qapp, 1.0)
    window.grab().save(str(HERE / "compare_mode.png"))
    window.session.dirty = False
    window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
