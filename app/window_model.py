"""Segmentation and start-up probe slots of the main window (a mixin of :class:`app.main_window.MainWindow`):
run the chosen model in a worker, show the result's provenance, accept it, and report device and backends."""

# mypy: disable-error-code="attr-defined"
from __future__ import annotations

from typing import Any

from PySide6 import QtWidgets

from akmamba.infer.suitability import checkpoint_mismatch, describe_channels, offer_model
from app.segmentation import SegmentResult, probe_job
from app.workers import FunctionWorker


class SegmentMixin(QtWidgets.QMainWindow):
    """Model runs, results and the compute facts in the status bar."""

    def segment(self, model_path: str = "", device: str = "") -> None:
        """Run the chosen model on the open image in a worker (cancels a run in flight)."""
        if not self.session.has_case:
            self._show_message("Open an image before segmenting.")
            return
        model_path = model_path or self.model_panel.model_path()
        device = device or self.model_panel.device()
        image = self.session.image
        note = checkpoint_mismatch(model_path, image.channels) if model_path else None
        if note is not None and not self.ask_model_mismatch(note):
            self._show_message(f"Segmentation not started. {note}")
            return
        self.segmenter.start(model_path, device, image.array, image.is_volume, self.model_panel.tta())

    def ask_model_mismatch(self, note: str) -> bool:
        """Whether to run a model that does not suit the open image (``note`` says why); No is the default.
        Tests replace this on the instance."""
        answer = QtWidgets.QMessageBox.question(
            self, "Model does not suit this image", f"{note}\n\nRun it anyway?",
            QtWidgets.QMessageBox.StandardButton.Yes | QtWidgets.QMessageBox.StandardButton.No,
            QtWidgets.QMessageBox.StandardButton.No)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def offer_suitable_model(self) -> str | None:
        """Choose an installed model that suits the open image when the chosen one does not (a checkpoint file
        the user chose is kept). Returns the name of the model chosen, or None when the choice stands."""
        image = self.session.image
        if image is None:
            return None
        current = self.model_panel.model_path()
        pick = offer_model(self.model_panel.entries, image.channels, current)
        if pick is None or str(pick.path) == current:
            return None
        self.model_panel.select_path(pick.path)
        return f"{pick.name} (suits this {describe_channels(image.channels)} image)"

    def _on_segmented(self, result: SegmentResult) -> None:
        image = self.session.image
        if image is None or tuple(result.prediction.labels.shape) != image.spatial_shape:
            self._show_message("A segmentation result for another image was ignored.")
            return
        self.session.threshold = self.model_panel.threshold()
        info = result.prediction.model_info
        self.session.set_prediction(result.prediction, result.label_rows, f"model {info.get('name')}'s table")
        self.labels_panel.set_table(self.session.table, self.controller.label, self.session.label_source)
        tta = result.prediction.tta
        passes = {"flips": ", test-time flips", "d4": ", test-time flips + rotations"}.get(tta, "")
        review = "review the threshold" if self.session.threshold_applies() else "review (argmax over classes)"
        self.model_panel.set_info(info, f"on {result.device}{passes}; {review}, then Accept")
        self.device_label.setText(f"Device: {result.device} ({self.model_panel.device()})")
        self._show_message(f"Segmented with {info.get('name')} v{info.get('version')} "
                           f"(sha256 {info.get('sha256', '')[:12]}) on {result.device}{passes}")

    def accept_prediction(self) -> None:
        """Make the thresholded model result the editable label map (one undoable edit)."""
        self.session.accept_prediction()
        info = self.session.model_info or {}
        rule = info.get("threshold", "?")
        self.model_panel.set_info(info, "accepted (argmax)" if rule == "argmax" else f"accepted at threshold {rule}")

    def discard_prediction(self) -> None:
        """Drop the pending model result; the panel says it was discarded (not "review ..., then Accept")."""
        info = (self.session.pending.model_info if self.session.pending is not None else None) or {}
        self.session.discard_prediction()
        self.model_panel.set_info(info, "discarded; the labels are unchanged")
        self._show_message("Model result discarded; the labels are unchanged.")

    def _on_tta_changed(self, tta: str) -> None:
        self.settings.set_tta(tta)
        self._show_message(f"Test-time augmentation: {self.model_panel.tta_combo.currentText().lower()}; used at "
                           "the next run.")

    def _on_device_changed(self, device: str) -> None:
        self.settings.set_device(device)
        self.device_label.setText(f"Device: {device} (chosen; used at the next run)")

    def _on_check_backends(self) -> None:
        worker = FunctionWorker(probe_job)
        worker.signals.returned.connect(self._on_probed)
        worker.signals.errored.connect(lambda exc: self.show_error(exc, "Checking compute backends"))
        self.workers.start(worker)

    def _on_probed(self, facts: dict[str, Any]) -> None:
        infos = facts["backends"]
        usable = [b.name for b in infos if b.available]
        self.backend_label.setText(f"Scan backends: {', '.join(usable)}")
        self.backend_label.setToolTip("\n".join(f"{b.name}: {b.reason}" for b in infos))
        cuda = str(facts["auto_device"]).startswith("cuda")
        self.cuda_available = cuda
        if self.model_panel.set_cuda_available(cuda):
            self._show_message("No CUDA GPU on this machine: the device is back to Auto (the CPU).")
        self.device_label.setText(f"Device: {self.model_panel.device()} (auto = {facts['auto_device']})")
        self.model_panel.set_models(facts["models"])
        offered = self.offer_suitable_model()
        if offered:
            self._show_message(f"Model: {offered}")
