"""Segmentation panel: model (installed or a checkpoint file), device, run/cancel with progress, the model's
name/version/checksum, and the probability threshold with Accept/Discard for the pending result."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

DEVICES = (("Auto", "auto"), ("CPU", "cpu"), ("GPU (CUDA)", "cuda"))
#: Test-time augmentation choices (akmamba.infer.tta): label, value, tooltip.
TTA_CHOICES = (
    ("Off", "none", "One pass."),
    ("Flips (4 passes)", "flips", "Average the model's probabilities over the image and its horizontal, vertical and "
     "double flips: about 4x the time. Measured on DRIVE (5-fold cross-validation, docs/RESULTS.md): +0.25 "
     "(U-Net) and +0.31 (Akmamba-Net) vessel Dice, higher in every fold. On bladder MRI (3 folds) no clear "
     "gain: wall Dice +0.5 to +1.6, tumour Dice -2.5 to +1.7."),
    ("Flips + rotations (8 passes)", "d4", "The flips and the 90-degree rotations: about 8x the time. Not "
     "measured against the flips alone."),
)
_BROWSE = "__browse__"


def _short(text: str, limit: int = 40) -> str:
    """A one-line head of a model card's limits: up to its first colon (``"EXPERIMENTAL"``) or its first ``limit``
    characters cut at a word, with an ellipsis when cut (the whole text goes in the tooltip)."""
    head = text.split(":", 1)[0]
    if len(head) < len(text) and len(head) <= limit:
        return head + " ..."
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " ..."


def _select_quietly(combo: QtWidgets.QComboBox, data: str) -> None:
    """Select the item whose data is ``data`` (the first item when none is) without emitting."""
    combo.blockSignals(True)
    combo.setCurrentIndex(max(combo.findData(data), 0))
    combo.blockSignals(False)


class ModelPanel(QtWidgets.QWidget):
    """Signals: ``run_requested(str model_path, str device)``, ``cancel_requested()``,
    ``threshold_changed(float)``, ``accept_requested()``, ``discard_requested()``, ``device_changed(str)``,
    ``tta_changed(str)``."""

    run_requested = QtCore.Signal(str, str)
    cancel_requested = QtCore.Signal()
    threshold_changed = QtCore.Signal(float)
    accept_requested = QtCore.Signal()
    discard_requested = QtCore.Signal()
    device_changed = QtCore.Signal(str)
    tta_changed = QtCore.Signal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        form = QtWidgets.QFormLayout(self)
        self.model_combo = QtWidgets.QComboBox()
        self.model_combo.setSizeAdjustPolicy(QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_combo.setMinimumContentsLength(14)
        self.model_combo.addItem("Choose a checkpoint file...", _BROWSE)
        self.model_combo.activated.connect(self._on_model_activated)
        form.addRow("Model", self.model_combo)
        self.device_combo = QtWidgets.QComboBox()
        for text, value in DEVICES:
            self.device_combo.addItem(text, value)
        self.device_combo.currentIndexChanged.connect(lambda _i: self.device_changed.emit(self.device()))
        form.addRow("Device", self.device_combo)
        self.tta_combo = QtWidgets.QComboBox()
        for text, value, tip in TTA_CHOICES:
            self.tta_combo.addItem(text, value)
            self.tta_combo.setItemData(self.tta_combo.count() - 1, tip, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.tta_combo.setToolTip("Test-time augmentation: average the model's probabilities over flipped (and "
                                  "rotated) copies of the image. Slower, usually a little more accurate.")
        self.tta_combo.currentIndexChanged.connect(lambda _i: self.tta_changed.emit(self.tta()))
        form.addRow("Test-time", self.tta_combo)
        buttons = QtWidgets.QHBoxLayout()
        self.run_button = QtWidgets.QPushButton("Segment")
        self.run_button.setToolTip("Run the model on the open image (Ctrl+R)")
        self.run_button.clicked.connect(self._on_run_clicked)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.setValue(0)  # a reset bar (value -1) hides its text
        self.progress.setFormat("Idle")
        form.addRow(self.progress)
        self.info_label = QtWidgets.QLabel("No result yet")
        self.info_label.setWordWrap(True)
        self.info_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        # room for name, checksum, a two-line note and two lines of limits, so that a longer note is not clipped
        self.info_label.setMinimumHeight(6 * self.info_label.fontMetrics().lineSpacing())
        self.info_label.setAlignment(QtCore.Qt.AlignmentFlag.AlignTop | QtCore.Qt.AlignmentFlag.AlignLeft)
        form.addRow(self.info_label)
        self._limits: dict[str, str] = {}  # installed model name -> its model card's limits
        self.entries: list[Any] = []  # the installed models (akmamba.infer.ModelEntry) last listed
        row = QtWidgets.QHBoxLayout()
        self.threshold_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(1, 99)
        self.threshold_slider.setValue(50)
        self.threshold_slider.setToolTip("Probability threshold of the model's mask (live preview)")
        self.threshold_slider.valueChanged.connect(self._on_threshold_moved)
        self.threshold_label = QtWidgets.QLabel("0.50")
        row.addWidget(self.threshold_slider, 1)
        row.addWidget(self.threshold_label)
        form.addRow("Threshold", row)
        accept_row = QtWidgets.QHBoxLayout()
        self.accept_button = QtWidgets.QPushButton("Accept")
        self.accept_button.setToolTip("Make the thresholded result the editable label map (undoable)")
        self.accept_button.clicked.connect(self.accept_requested.emit)
        self.discard_button = QtWidgets.QPushButton("Discard")
        self.discard_button.clicked.connect(self.discard_requested.emit)
        accept_row.addWidget(self.accept_button)
        accept_row.addWidget(self.discard_button)
        form.addRow(accept_row)
        self.set_running(False)
        self.set_pending(False)

    # ------------------------------------------------------------------ models

    def set_models(self, entries: list[Any]) -> None:
        """List installed models (``akmamba.infer.ModelEntry``) before the "checkpoint file" entry."""
        keep = self.model_path()
        self.entries = list(entries)
        self.model_combo.clear()
        self._limits = {e.name: str(e.summary["limits"]) for e in entries if (e.summary or {}).get("limits")}
        for entry in entries:
            summary = entry.summary or {}
            text = entry.name if entry.error is None else f"{entry.name} (unreadable)"
            self.model_combo.addItem(text, str(entry.path))
            tip = entry.error or ", ".join(f"{k}: {v}" for k, v in summary.items() if v)
            self.model_combo.setItemData(self.model_combo.count() - 1, tip, QtCore.Qt.ItemDataRole.ToolTipRole)
        self.model_combo.addItem("Choose a checkpoint file...", _BROWSE)
        if keep:
            self.add_checkpoint(Path(keep))

    def add_checkpoint(self, path: Path, name: str | None = None) -> None:
        """Add (or select) a checkpoint file and make it current (shown as ``name``, default the model name its
        metadata records with the file name, as ``unet-bladdermri-prompt (last.safetensors)``, or the file name
        alone when the metadata is unreadable: choosing it then says why)."""
        i = self.model_combo.findData(str(path))
        if i < 0:
            self.model_combo.insertItem(self.model_combo.count() - 1, name or checkpoint_label(path), str(path))
            i = self.model_combo.findData(str(path))
            self.model_combo.setItemData(i, str(path), QtCore.Qt.ItemDataRole.ToolTipRole)
        self.model_combo.setCurrentIndex(i)

    def select_path(self, path: Path | str) -> bool:
        """Make a listed model or checkpoint current without emitting; False when ``path`` is not listed."""
        if self.model_combo.findData(str(path)) < 0:
            return False
        _select_quietly(self.model_combo, str(path))
        return True

    def model_path(self) -> str:
        """The chosen checkpoint path ("" when none)."""
        data = self.model_combo.currentData()
        return "" if data in (None, _BROWSE) else str(data)

    def device(self) -> str:
        """``"auto"``, ``"cpu"`` or ``"cuda"``."""
        return str(self.device_combo.currentData())

    def set_device(self, device: str) -> None:
        """Select a device without emitting (an unknown one selects the first, Auto)."""
        _select_quietly(self.device_combo, device)

    def set_cuda_available(self, available: bool, reason: str = "") -> bool:
        """Offer the GPU device only where the start-up check found CUDA; a GPU choice without CUDA falls back to
        Auto. Returns True when the choice fell back."""
        i = self.device_combo.findData("cuda")
        item = self.device_combo.model().item(i)  # type: ignore[attr-defined]
        item.setEnabled(available)
        tip = "" if available else (reason or "No CUDA GPU was found on this machine; segmenting runs on the CPU.")
        self.device_combo.setItemData(i, tip or None, QtCore.Qt.ItemDataRole.ToolTipRole)
        if not available and self.device() == "cuda":
            self.device_combo.setCurrentIndex(self.device_combo.findData("auto"))
            return True
        return False

    def tta(self) -> str:
        """``"none"``, ``"flips"`` or ``"d4"``."""
        return str(self.tta_combo.currentData())

    def set_tta(self, tta: str) -> None:
        """Select a test-time augmentation without emitting (an unknown one selects the first, Off)."""
        _select_quietly(self.tta_combo, tta)

    def _on_model_activated(self, index: int) -> None:
        if self.model_combo.itemData(index) != _BROWSE:
            return
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Choose a model checkpoint", "",
                                                        "Checkpoints (*.safetensors);;All files (*)")
        if path:
            self.add_checkpoint(Path(path))
        else:
            self.model_combo.setCurrentIndex(0)

    def _on_run_clicked(self) -> None:
        self.run_requested.emit(self.model_path(), self.device())

    # ------------------------------------------------------------------ state

    def set_running(self, running: bool) -> None:
        """Switch between idle and running (progress, Cancel enabled)."""
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress.setValue(0)
            self.progress.setFormat("Segmenting... %p %")
        else:
            self.progress.setFormat("Done" if self.progress.value() == self.progress.maximum() else "Idle")

    def set_progress(self, fraction: float) -> None:
        """Progress 0..1."""
        self.progress.setValue(round(fraction * 1000))

    def set_pending(self, pending: bool, thresholdable: bool = True) -> None:
        """Enable Accept/Discard while a result awaits review, and the threshold when the result can be
        thresholded (a model with one foreground class; more classes take the argmax, see akmamba.decision)."""
        for widget in (self.accept_button, self.discard_button):
            widget.setEnabled(pending)
        self.threshold_slider.setEnabled(pending and thresholdable)
        self.threshold_slider.setToolTip(
            "Probability threshold of the model's mask (live preview); 0.50 is the argmax" if thresholdable else
            "This model has several foreground classes: each pixel takes its most probable class (argmax, as "
            "akmamba predict does); a threshold is defined for one foreground class only")

    def set_info(self, info: dict[str, str] | None, note: str = "") -> None:
        """Show the model name, version and checksum of the last result."""
        if not info:
            self.info_label.setText(note or "No result yet")
            return
        sha = info.get("sha256", "unknown")
        limits = self._limits.get(str(info.get("name")), "")
        card = f"<br><i>Limits: {html.escape(_short(limits))} (hover for the model card)</i>" if limits else ""
        self.info_label.setText(f"<b>{html.escape(str(info.get('name', '?')))}</b> v{info.get('version', '?')}<br>"
                                f"sha256 {sha[:12]}...<br>{note}{card}")
        self.info_label.setToolTip(f"sha256: {sha}" + (f"\nLimits (model card): {limits}" if limits else ""))

    def threshold(self) -> float:
        """The slider's probability threshold."""
        return self.threshold_slider.value() / 100.0

    def _on_threshold_moved(self, value: int) -> None:
        self.threshold_label.setText(f"{value / 100:.2f}")
        self.threshold_changed.emit(value / 100.0)


def checkpoint_label(path: Path) -> str:
    """How a checkpoint file is listed: its recorded model name and the file name, or the file name alone."""
    from akmamba.errors import AkmambaError
    from akmamba.nn.checkpoint import read_metadata

    try:
        recorded = str(read_metadata(path).get("name") or "")
    except AkmambaError:
        return path.name
    return f"{recorded} ({path.name})" if recorded and recorded != path.stem else path.name
