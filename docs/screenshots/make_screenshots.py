"""Take the viewer screenshots in this folder from the real main window, on real images and the shipped models.

Run (X11 via Xvfb; any free display number)::

    Xvfb :19 -screen 0 1600x1000x24 &
    DISPLAY=:19 PYTHONPATH=. python3 docs/screenshots/make_screenshots.py [--only fundus|mri|finetune|prompt]

The window is made as ``akmamba-viewer`` makes it (:func:`app.create_window` from the command-line flags, then
``show()``), driven through its own commands and widgets, and saved with Qt's ``grab()`` at 1600 x 1000. Nothing
is faked: every mask, number and curve is what the viewer computed.

What each picture shows, and the data it uses (read from ``--data``, default ``/work/shared/data``; never copied
into the repository):

- ``fundus_overlay.png``: DRIVE training image 21 segmented on the CPU with the shipped ``akmamba-drive``; the
  pending result over the image. ``compare_mode.png``: that result against the case's corrected mask (DRIVE's
  manual annotation ``1st_manual``), difference overlay and metrics. ``edit_mode.png``: green channel, outline
  overlay, a brush stroke and a polygon being drawn on the same image. ``finetune_dialog.png`` and
  ``versions_panel.png``: ``akmamba-drive`` fine-tuned on the CPU on four corrected DRIVE cases (a short run:
  ``--max-steps``; the held-out set is the registry's frozen one). ``prompt_tool.png``: the Prompt tool with a
  prompt-aware ``unet-drive`` made by :func:`akmamba.prompt.model.convert_checkpoint` (no prompt training: its
  guidance weights are zero, so clicks do not yet change its answer; the picture shows the tool, not a result).
  DRIVE's terms: research and education, not to be redistributed outside this project (see DRIVE/SOURCE.md);
  screenshots in this project's documentation show it, as the licence note in README.md says. Cite Staal et al.,
  IEEE TMI 23(4):501-509, 2004.
- ``mri_slices.png`` and ``prostatex_radiological.png``: the real ProstateX-0000 T2 volume (TCIA PROSTATEx, NIfTI
  by rcuocolo/PROSTATEx_masks, CC BY 4.0; cite PROSTATEx/TCIA and that repository) in the radiological view with
  the orientation letters.
- The bladder MRI set must NOT appear in any screenshot: its source states no licence ("Do not redistribute it").
  For MRI pictures use ProstateX or the built-in phantom (:func:`akmamba.demo.write_demo`).

Measured on the shared 2-core CPU: mri 6 s, fundus 15 s, prompt 9 s, finetune 3 to 5 min (12 steps of akmamba-drive
at 2 x 96 x 96 with 6 held-out validations; the load decides). The Compare and Versions panels are floated for
their pictures: docked beside Segment and Labels at 1000 px high they get one table row or 140 px views.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from PySide6 import QtCore, QtWidgets  # noqa: E402

import app  # noqa: E402 - applies the PySide6 work-around first

SIZE = (1600, 1000)
FUNDUS_CASES = ("21", "22", "23", "24", "25")  # DRIVE training ids copied into the temporary case folder
MAX_PNG = 700_000


def settle(qapp: QtWidgets.QApplication, seconds: float = 0.4) -> None:
    """Process events for ``seconds``."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        qapp.processEvents()
        time.sleep(0.01)


def wait(qapp: QtWidgets.QApplication, done: Callable[[], bool], what: str, timeout: float = 120) -> None:
    """Process events until ``done()``; TimeoutError naming ``what`` after ``timeout`` seconds."""
    end = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > end:
            raise TimeoutError(f"screenshot step timed out: {what}")
        qapp.processEvents()
        time.sleep(0.02)


def save(widget: QtWidgets.QWidget, name: str) -> None:
    """Save ``widget.grab()`` as ``name`` in this folder, palette-quantised when the PNG would exceed 700 KB."""
    from PIL import Image as PILImage

    pixmap = widget.grab()
    buffer = QtCore.QBuffer()
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    pixmap.save(buffer, "PNG")
    picture = PILImage.open(io.BytesIO(bytes(buffer.data()))).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    if out.tell() > MAX_PNG:
        out = io.BytesIO()
        picture.quantize(256, method=PILImage.Quantize.MEDIANCUT, dither=PILImage.Dither.NONE).save(
            out, "PNG", optimize=True)
    (HERE / name).write_bytes(out.getvalue())
    sys.stdout.write(f"{name}: {picture.size[0]} x {picture.size[1]}, {out.tell() // 1024} KB\n")


def make_window(qapp: QtWidgets.QApplication, tmp: Path, *argv: str) -> Any:
    """The main window as ``akmamba-viewer ARGV`` makes it, with its settings and journals under ``tmp``."""
    args = app.build_parser().parse_args([*argv, "--settings", str(tmp / "settings.ini"), "--journal-dir",
                                          str(tmp / "journals"), "--restore", "discard"])
    window = app.create_window(args)
    window.cases.ask_unsaved = lambda _name: "discard"
    window.resize(*SIZE)
    window.show()
    wait(qapp, lambda: "Scan backends" in window.backend_label.text(), "the start-up probe")
    return window


def hover(window: Any, x: float, y: float) -> None:
    """Move the mouse to image pixel (x, y) of the view (fills the status bar's position readout)."""
    window.view.send_mouse("move", x, y, button=QtCore.Qt.MouseButton.NoButton)


def drive_folder(data: Path, tmp: Path) -> Path:
    """A writable copy of a few DRIVE training cases in DRIVE's own layout (statuses and labels go next to them)."""
    src = data / "DRIVE" / "training"
    dst = tmp / "DRIVE" / "training"
    for sub, suffix in (("images", "_training.tif"), ("1st_manual", "_manual1.gif"), ("mask", "_training_mask.gif")):
        (dst / sub).mkdir(parents=True, exist_ok=True)
        for case in FUNDUS_CASES:
            shutil.copy2(src / sub / f"{case}{suffix}", dst / sub / f"{case}{suffix}")
    return dst


def segment(qapp: QtWidgets.QApplication, window: Any, model: str) -> None:
    """Segment the open image with installed ``model`` on the CPU and wait for the result."""
    from akmamba.infer import list_shipped_models as list_models

    entry = next(e for e in list_models() if e.name == model)
    window.model_panel.select_path(entry.path)
    window.model_panel.set_device("cpu")
    window.session.pending = None
    window.commands["segment"].trigger()
    wait(qapp, lambda: window.session.pending is not None, f"segmenting with {model}", timeout=300)
    settle(qapp, 0.5)


def fundus_shots(qapp: QtWidgets.QApplication, tmp: Path, data: Path) -> Any:
    """fundus_overlay, compare_mode and edit_mode on DRIVE image 21; returns the window (case list open)."""
    from app import compare_actions
    from app.compare_actions import CORRECTED, LAST_RESULT
    from app.views.edit_controller import Tool

    folder = drive_folder(data, tmp)
    window = make_window(qapp, tmp, str(folder))
    wait(qapp, lambda: window.session.has_case, "opening DRIVE")
    segment(qapp, window, "akmamba-drive")
    window.session.set_opacity(0.6)
    hover(window, 300, 250)
    settle(qapp)
    save(window, "fundus_overlay.png")

    panel = compare_actions.open_compare(window)
    panel.choose(a=LAST_RESULT, b=CORRECTED)
    panel.diff_check.setChecked(True)
    panel.diff_where.setCurrentText("left view only")  # the right view shows reference B itself
    # Docked under the image the side-by-side views get what the Segment panel leaves (about 140 px high on a
    # 1000 px screen), so the picture floats the dock (its title-bar button) and gives it the screen.
    window.compare_dock.setFloating(True)
    window.compare_dock.setGeometry(0, 0, *SIZE)
    settle(qapp, 0.8)
    panel.view_a.viewbox.setRange(QtCore.QRectF(30, 160, 330, 260), padding=0)  # the optic disc (linked views)
    settle(qapp, 1.0)
    save(window.compare_dock, "compare_mode.png")
    window.compare_dock.setFloating(False)
    window.compare_dock.hide()

    window.model_panel.discard_button.click()
    window.set_green(True)
    window.labels_panel.outline_check.setChecked(True)
    window.view.viewbox.setRange(QtCore.QRectF(150, 150, 260, 200), padding=0)
    window.controller.set_tool(Tool.BRUSH)
    window.view.drag_through([(232, 318), (250, 322), (268, 328), (286, 336), (300, 344)])
    window.controller.set_tool(Tool.POLYGON)
    for x, y in ((300, 200), (330, 188), (350, 215), (325, 240)):
        window.view.click_at(x, y)
    window.controller.set_protect(True)
    hover(window, 305, 236)
    window.view.set_polygon(window.controller.polygon, (305, 236))
    settle(qapp)
    save(window, "edit_mode.png")
    window.controller.set_tool(Tool.NAVIGATE)
    window.labels_panel.outline_check.setChecked(False)
    window.set_green(False)
    return window


def mri_shots(qapp: QtWidgets.QApplication, tmp: Path, data: Path) -> None:
    """mri_slices (the whole window) and prostatex_radiological (the view) on the ProstateX-0000 T2 volume."""
    volume = data / "ProstateX_sample" / "ProstateX-0000_t2_tse_tra_4.nii.gz"
    window = make_window(qapp, tmp / "mri", str(volume))
    wait(qapp, lambda: window.session.has_case, "opening ProstateX")
    window.session.set_slice(9)
    settle(qapp)
    hover(window, 190, 200)
    settle(qapp, 0.6)
    save(window, "mri_slices.png")
    save(window.view, "prostatex_radiological.png")
    window.close()


def finetune_shots(qapp: QtWidgets.QApplication, window: Any, steps: int) -> None:
    """Mark four DRIVE cases corrected, fine-tune akmamba-drive on them (short), and show the versions."""
    from akmamba.infer import list_shipped_models as list_models
    from app import finetune_actions

    for _ in FUNDUS_CASES[:-1]:
        window.commands["mark_corrected"].trigger()
        settle(qapp, 0.3)
        path = window.session.path
        window.commands["next_case"].trigger()
        wait(qapp, lambda p=path: window.session.has_case and window.session.path != p, "next case")
    entry = next(e for e in list_models() if e.name == "akmamba-drive")
    window.model_panel.select_path(entry.path)
    window.model_panel.set_device("cpu")
    short = ["--max-steps", str(steps), "--patch-size", "96", "96", "--batch-size", "2", "--threads", "2",
             "--no-baseline"]
    dialog = finetune_actions.open_finetune(window, extra_args=short)
    wait(qapp, lambda: dialog.state in ("ready", "failed"), "the fine-tune plan", timeout=300)
    dialog.start()
    wait(qapp, lambda: dialog.state != "running", "the fine-tune run", timeout=900)
    settle(qapp, 1.0)
    save(dialog, "finetune_dialog.png")
    dialog.close()
    panel = finetune_actions.show_versions(window)
    versions = [v.id for v in window.model_registry.versions(panel.line())]
    if len(versions) >= 2:
        panel.select(*versions[-2:])
    # Docked, the panel shares the right column with Segment and Labels (one table row visible at 1000 px), so
    # the picture floats it (its title-bar button) at a size that shows the table and the per-image comparison.
    window.versions_dock.setFloating(True)
    window.versions_dock.setGeometry(0, 0, 1000, 640)
    settle(qapp, 1.0)
    save(window.versions_dock, "versions_panel.png")


def prompt_shot(qapp: QtWidgets.QApplication, window: Any, tmp: Path) -> None:
    """The Prompt tool with a prompt-aware unet-drive (converted from the shipped model) on a DRIVE case."""
    from akmamba.infer import list_shipped_models as list_models
    from akmamba.prompt.model import convert_checkpoint
    from app.views.edit_controller import Tool

    plain = next(e for e in list_models() if e.name == "unet-drive")
    prompt_model = tmp / "models" / "unet-drive-prompt.safetensors"
    prompt_model.parent.mkdir(parents=True, exist_ok=True)
    convert_checkpoint(plain.path, prompt_model)
    window.model_panel.add_checkpoint(prompt_model)
    window.model_panel.set_device("cpu")
    window.view.viewbox.setRange(QtCore.QRectF(150, 150, 260, 200), padding=0)
    window.controller.set_tool(Tool.PROMPT)
    left, right = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.MouseButton.RightButton
    for (x, y), button in (((262, 328), left), ((318, 226), left), ((352, 300), right)):
        window.view.click_at(x, y, button=button)
        settle(qapp, 0.2)
    wait(qapp, lambda: window.prompt_answer is not None, "the prompt preview", timeout=120)
    settle(qapp, 1.0)
    save(window, "prompt_tool.png")
    window.controller.set_tool(Tool.NAVIGATE)  # drops the prompts and the preview


def main() -> int:
    parser = argparse.ArgumentParser(description="Take the viewer screenshots from the real window.")
    parser.add_argument("--only", choices=["fundus", "mri", "finetune", "prompt"], default=None)
    parser.add_argument("--data", default="/work/shared/data", help="folder holding DRIVE/ and ProstateX_sample/")
    parser.add_argument("--steps", type=int, default=12, help="fine-tune optimiser steps (CPU: ~10 s each)")
    args = parser.parse_args()
    data = Path(args.data)
    tmp = Path(tempfile.mkdtemp(prefix="akmamba_shots_"))
    os.environ["AKMAMBA_HOME"] = str(tmp / "home")  # the registry and user folders: nothing of the user's
    qapp = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    qapp.setOrganizationName("akmamba")
    qapp.setApplicationName("akmamba-viewer")
    if args.only in (None, "mri"):
        mri_shots(qapp, tmp, data)
    if args.only in (None, "fundus", "finetune", "prompt"):
        window = fundus_shots(qapp, tmp, data) if args.only in (None, "fundus") else None
        if window is None:
            window = make_window(qapp, tmp, str(drive_folder(data, tmp)))
            wait(qapp, lambda: window.session.has_case, "opening DRIVE")
        if args.only in (None, "prompt"):
            prompt_shot(qapp, window, tmp)
        if args.only in (None, "finetune"):
            finetune_shots(qapp, window, args.steps)
        window.session.dirty = False
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
