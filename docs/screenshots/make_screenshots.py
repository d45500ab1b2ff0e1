"""Take the viewer screenshots in this folder from the real window (X11 via Xvfb).

Run: ``xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots/make_screenshots.py``
(``--only finetune`` takes just the fine-tune dialog and versions panel: a real run of a tiny U-Net on synthetic
corrected cases, about half a minute on a CPU).
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


def finetune_shots(qapp: QtWidgets.QApplication, tmp: Path) -> None:
    """The Fine-tune dialog after a real run (tiny U-Net, synthetic discs) and the Versions panel beside it."""
    import json

    import numpy as np
    import torch

    from akmamba.finetune.data import update_edit_mask
    from akmamba.finetune.registry import ModelRegistry
    from akmamba.io import Image, write_image, write_labels
    from akmamba.nn import build_model, save_checkpoint
    from app import finetune_actions
    from app.main_window import MainWindow
    from app.settings import Settings

    cases = tmp / "discs"
    cases.mkdir()
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:96, :96]
    for i in range(8):
        cy, cx = rng.integers(30, 66, 2)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < 400
        image = Image((60 + 120 * disc + rng.normal(0, 12, disc.shape)).clip(0, 255).astype(np.uint8), "2d")
        write_image(image, cases / f"case{i + 1:02d}.png")
        write_labels(disc.astype(np.uint8), like=image, path=cases / f"case{i + 1:02d}_labels.png")
        update_edit_mask(cases / f"case{i + 1:02d}.png", image, disc & (yy > cy + 8))
    (cases / "akmamba_cases.json").write_text(json.dumps({"status": {f"case{i + 1:02d}.png": "corrected"
                                                                     for i in range(8)}}), encoding="utf-8")
    torch.manual_seed(0)
    parent = tmp / "models" / "discs-unet.safetensors"
    parent.parent.mkdir()
    table = [{"name": "background", "index": 0, "value_in_file": 0, "color": [0, 0, 0]},
             {"name": "disc", "index": 1, "value_in_file": 1, "color": [255, 80, 0]}]
    save_checkpoint(build_model("unet", 1, 2, base_channels=8, depth=3), parent,
                    metadata={"label_table": table, "normalisation": "zscore", "name": "discs-unet"})
    window = MainWindow(Settings(tmp / "s2.ini"), tmp / "journals2", restore_policy="discard", probe=False)
    window.cases.ask_unsaved = lambda _name: "discard"
    window.model_registry = ModelRegistry(tmp / "registry")
    window.resize(1500, 940)
    window.show()
    window.model_panel.add_checkpoint(parent)
    window.model_panel.set_device("cpu")
    window.open_path(cases)
    wait(qapp, lambda: window.session.has_case)
    tiny = ["--patch-size", "48", "48", "--batch-size", "4", "--max-steps", "120", "--no-baseline", "--lr", "3e-3",
            "--threads", "1"]
    for _run in range(2):
        dialog = finetune_actions.open_finetune(window, extra_args=tiny)
        wait(qapp, lambda d=dialog: d.state in ("ready", "failed"), timeout=180)
        dialog.start()
        wait(qapp, lambda d=dialog: d.state not in ("running",), timeout=600)
        if _run == 0:
            dialog.close()
    panel = finetune_actions.show_versions(window)
    panel.select("v2", "v3")
    settle(qapp, 1.0)
    dialog.move(40, 40)
    settle(qapp, 0.5)
    dialog.grab().save(str(HERE / "finetune_dialog.png"))
    window.grab().save(str(HERE / "versions_panel.png"))
    dialog.close()
    window.close()


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Take the viewer screenshots.")
    parser.add_argument("--only", choices=["finetune"], default=None)
    args = parser.parse_args()
    if args.only == "finetune":
        qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
        finetune_shots(qapp, Path(tempfile.mkdtemp(prefix="akmamba_shots_")))
        return 0
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
    finetune_shots(qapp, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
