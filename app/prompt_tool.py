"""The Prompt tool's model runs and window slots: each prompt asks a prompt-aware model for a preview in a worker
(the newest request wins: one run at a time, a request made meanwhile replaces any queued one), Enter writes the
preview as one undoable edit, Escape drops it, and "propagate" seeds the next slice with the accepted slice's
regions. The maths lives in :mod:`akmamba.prompt` (``PromptPredictor``, ``preview_plane``, ``accept_edit``,
``propagation_clicks``)."""

# mypy: disable-error-code="attr-defined"
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from akmamba.errors import ConfigError
from akmamba.prompt.interactive import accept_edit, preview_plane, propagation_clicks
from akmamba.prompt.regions import apply_rule
from app.views.edit_controller import Tool
from app.workers import FunctionWorker, WorkerSet


@dataclass(frozen=True)
class PromptRequest:
    """One preview to compute: the plane, its prompts and where they belong (slice ``z``, ``label``)."""

    model_path: str
    device: str
    plane: np.ndarray
    prompts: tuple[Any, ...]
    label: int
    z: int
    seq: int
    current: np.ndarray | None = None  # the label map's plane (H, W), when it holds ``label``
    regions: str = "clicked"  # the region rule for a prompt-aware answer (akmamba.prompt.regions)


@dataclass(frozen=True)
class PromptAnswer:
    """The model's class indices ``labels`` ``(H, W)`` for ``request``, and how long the run took.

    ``grown`` is True when the model is not prompt-aware and the prompts were answered by region growing from its
    segmentation (:mod:`akmamba.prompt.grow_answer`); ``ignored`` counts the prompts that way of answering leaves
    out (boxes)."""

    request: PromptRequest
    labels: np.ndarray
    seconds: float
    model_info: dict[str, str]
    grown: bool = False
    ignored: int = 0


def prompt_job(request: PromptRequest, cache: dict[tuple[str, str], Any]) -> PromptAnswer:
    """Load (or reuse) the model and answer ``request`` (torch is imported here only): a prompt-aware model answers
    the prompts itself; a plain one segments the plane and the prompts grow regions on it."""
    from akmamba.infer import Predictor
    from akmamba.infer.models import resolve_model
    from akmamba.nn.checkpoint import read_metadata
    from akmamba.prompt.grow_answer import GrowAnswerer
    from akmamba.prompt.predictor import PromptPredictor, is_prompt_aware

    t0 = time.perf_counter()
    key = (request.model_path, request.device)
    answerer = cache.get(key)
    if answerer is None:
        if is_prompt_aware(read_metadata(resolve_model(request.model_path))):
            answerer = PromptPredictor.from_checkpoint(request.model_path, request.device)
        else:
            answerer = GrowAnswerer(Predictor.from_checkpoint(request.model_path, request.device))
        cache.clear()
        cache[key] = answerer
    if isinstance(answerer, GrowAnswerer):
        grown = answerer.answer(request.plane, list(request.prompts), start=request.current)
        return PromptAnswer(request, grown.labels, time.perf_counter() - t0, dict(answerer.predictor.model_info),
                            grown=True, ignored=grown.ignored)
    prediction = answerer.predict_prompts(request.plane, list(request.prompts))
    labels = apply_rule(prediction.labels, list(request.prompts), request.regions)
    return PromptAnswer(request, labels, time.perf_counter() - t0, prediction.model_info)


class PromptController(QtCore.QObject):
    """Runs prompt previews, one at a time, newest first.

    Signals:
        answered(PromptAnswer), failed(object exception), running_changed(bool).
    """

    answered = QtCore.Signal(object)
    failed = QtCore.Signal(object)
    running_changed = QtCore.Signal(bool)

    def __init__(self, workers: WorkerSet, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._workers = workers
        self._cache: dict[tuple[str, str], Any] = {}
        self.worker: FunctionWorker | None = None
        self.queued: PromptRequest | None = None
        self.seq = 0

    def request(self, model_path: str, device: str, plane: np.ndarray, prompts: list[Any], label: int,
                z: int, current: np.ndarray | None = None, regions: str = "clicked") -> PromptRequest | None:
        """Ask for a preview (queued behind a run in flight); None when no model is chosen. ``current``: the label
        map's plane when it already holds ``label`` (a plain model's region growing then edits it); ``regions``:
        the region rule for a prompt-aware model's answer (:mod:`akmamba.prompt.regions`)."""
        if not model_path:
            self.failed.emit(ConfigError("No model is chosen. Pick a prompt-aware model (or a .safetensors file) "
                                         "in the Segment panel.", parameter="model"))
            return None
        self.seq += 1
        req = PromptRequest(model_path, device, plane, tuple(prompts), label, z, self.seq, current, regions)
        if self.worker is not None:
            self.queued = req
        else:
            self._start(req)
        return req

    def warm_up(self, model_path: str, device: str, plane: np.ndarray) -> bool:
        """Load the model and run one forward on ``plane`` ``(H, W[, C])`` without prompts, in the worker.

        The first forward of a model in a process costs about twice a later one (torch's and Numba's first-call
        work, docs/benchmarks/prompt_gui_cpu.md), so doing it when the Prompt tool is chosen keeps the user's first
        click within the latency of the later ones; and a prompt-aware model with a prompt window
        (:mod:`akmamba.prompt.window`, on by default on the CPU) keeps the plane's whole answer, so that every
        prompt on it runs on a window around the prompts. Nothing is shown and an error is dropped (the first real
        prompt reports it); a prompt made meanwhile waits for it like any queued request. False when none is
        chosen, a run is in flight, or the model is loaded and needs nothing more for this plane.
        """
        if not model_path or self.worker is not None:
            return False
        loaded = self._cache.get((model_path, device))  # a PromptPredictor has keeps() (not imported here: torch)
        if loaded is not None and (not hasattr(loaded, "keeps") or loaded.window is None or loaded.keeps(plane)):
            return False
        req = PromptRequest(model_path, device, plane, (), 0, -1, seq=-1)
        worker = FunctionWorker(prompt_job, req, self._cache)
        worker.signals.finished.connect(self._on_finished)
        self.worker = worker
        self._workers.start(worker)
        return True

    def cancel(self) -> None:
        """Forget the queued request and ignore the answer of the one in flight."""
        self.queued = None
        self.seq += 1

    def _start(self, req: PromptRequest) -> None:
        worker = FunctionWorker(prompt_job, req, self._cache)
        worker.signals.returned.connect(self._on_returned)
        worker.signals.errored.connect(self.failed.emit)
        worker.signals.finished.connect(self._on_finished)
        self.worker = worker
        self.running_changed.emit(True)
        self._workers.start(worker)

    def _on_returned(self, answer: PromptAnswer) -> None:
        if answer.request.seq == self.seq:  # an answer to older prompts is of no use any more
            self.answered.emit(answer)

    def _on_finished(self) -> None:
        self.worker = None
        req, self.queued = self.queued, None
        if req is not None and req.seq == self.seq:
            self._start(req)
        else:
            self.running_changed.emit(False)


class PromptMixin(QtWidgets.QMainWindow):
    """The main window's Prompt tool slots."""

    def _init_prompt_tool(self) -> None:
        self.prompter = PromptController(self.workers, self)
        self.prompt_answer: PromptAnswer | None = None
        self.accepted_slice: tuple[int, int, np.ndarray] | None = None  # (z, label, mask) of the last Enter
        self.controller.prompts_changed.connect(self._on_prompts_changed)
        self.prompter.answered.connect(self._on_prompt_answered)
        self.prompter.failed.connect(lambda exc: self.show_error(exc, "Prompt preview"))
        self.session.slice_changed.connect(lambda _z: self.controller.drop_prompts())
        self.session.case_changed.connect(self._forget_prompts)
        self.controller.state_changed.connect(self._warm_prompt_model)
        # a slice shown for a moment with the Prompt tool chosen gets its whole answer ready (the prompt window)
        self._prompt_warm_timer = QtCore.QTimer(self)
        self._prompt_warm_timer.setSingleShot(True)
        self._prompt_warm_timer.setInterval(300)
        self._prompt_warm_timer.timeout.connect(self._warm_prompt_model)
        self.session.slice_changed.connect(lambda _z: self._prompt_warm_timer.start())

    def _warm_prompt_model(self) -> None:
        """With the Prompt tool chosen and an image open, load the chosen model in the background (see
        :meth:`PromptController.warm_up`)."""
        image = self.session.image
        if self.controller.tool is not Tool.PROMPT or image is None:
            return
        plane = image.array[self.session.z] if image.is_volume else image.array
        self.prompter.warm_up(self.model_panel.model_path(), self.model_panel.device(), plane)

    def _forget_prompts(self) -> None:
        self.controller.drop_prompts()
        self.accepted_slice = None

    def _current_plane(self) -> np.ndarray | None:
        lm = self.session.label_map
        if lm is None:
            return None
        return lm.array[self.session.z] if lm.array.ndim == 3 else lm.array

    def _on_prompts_changed(self) -> None:
        state = self.controller.prompt
        if state is None or not state.prompts:
            self.prompter.cancel()
            self.prompt_answer = None
            if self.session.preview is not None:
                self.session.set_preview(None)
            return
        image = self.session.image
        plane = image.array[self.session.z] if image.is_volume else image.array
        labels = self._current_plane()
        current = labels.copy() if labels is not None and (labels == state.label).any() else None
        self.prompter.request(self.model_panel.model_path(), self.model_panel.device(), plane, state.prompts,
                              state.label, self.session.z, current, self.settings.prompt_regions())

    def set_prompt_regions(self, keep_clicked: bool) -> None:
        """Tools > "Prompt: keep only the regions you point at": remember the rule and answer the prompts again."""
        self.settings.set_prompt_regions("clicked" if keep_clicked else "model")
        self._on_prompts_changed()

    def _on_prompt_answered(self, answer: PromptAnswer) -> None:
        state, current = self.controller.prompt, self._current_plane()
        req = answer.request
        if state is None or current is None or req.z != self.session.z or req.label != state.label \
                or answer.labels.shape != current.shape:
            return
        self.prompt_answer = answer
        self.session.set_preview(preview_plane(current, answer.labels, req.label))
        name = self.session.label_names().get(req.label, req.label)
        how = ""
        if answer.grown:
            how = (" by region growing (the model is not prompt-aware" + (f"; {answer.ignored} box(es) left out"
                                                                         if answer.ignored else "") + ")")
        self._show_message(f"Prompt preview for {name} ({len(req.prompts)} prompts){how} in {answer.seconds:.2f} s: "
                           "Enter accepts, Esc drops, Backspace removes the last prompt.")

    def accept_prompt(self) -> bool:
        """Enter: write the preview into the label map as one undoable edit; False when there is none."""
        answer, current, lm = self.prompt_answer, self._current_plane(), self.session.label_map
        if answer is None or current is None or lm is None or answer.request.z != self.session.z:
            self._show_message("No prompt preview to accept: click on the image first.")
            return False
        label = answer.request.label
        edit = accept_edit(current, answer.labels, label)
        if edit is not None:
            mask, values = edit
            lm.set_region(mask, values, slice_index=self.session.slice_index, source="user")
        self.accepted_slice = (self.session.z, label, answer.labels == label)
        self.prompt_answer = None
        self.controller.drop_prompts()
        self.session.set_preview(None)
        self._show_message("Prompt result accepted (Ctrl+Z undoes it)." if edit is not None else
                           "The preview equals the labels: nothing to change.")
        return True

    def propagate_prompt(self, step: int) -> bool:
        """Carry the last accepted slice to slice ``z + step``: a positive click inside each of its regions
        becomes that slice's prompt (a preview follows). False when nothing was accepted or at the last slice."""
        if self.accepted_slice is None or not self.session.image.is_volume:
            self._show_message("Propagate needs a slice accepted with the Prompt tool (Enter) in a volume.")
            return False
        z, label, mask = self.accepted_slice
        target = z + step
        if not 0 <= target < self.session.n_slices:
            self._show_message("No slice beyond this one.")
            return False
        clicks = propagation_clicks(mask, label)
        if not clicks:
            self._show_message("The accepted slice holds no region of this label to carry over.")
            return False
        self.session.set_slice(target)
        self.controller.set_label(label)
        self.controller.set_prompts(clicks)
        self._show_message(f"Propagated {len(clicks)} click(s) to slice {target + 1}; review, then Enter.")
        return True
