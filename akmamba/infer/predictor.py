"""Predictor: a trained network behind a numpy-in / numpy-out API, for the GUI and the ``predict`` command.

Inference normalises exactly as training did (:func:`akmamba.data.normalize.to_channels_first` then
:func:`~akmamba.data.normalize.normalise` with the checkpoint's ``normalisation``), tiles large images
(:mod:`akmamba.infer.tiling`) and returns softmax probabilities and argmax labels. With test-time augmentation
(``tta="flips"`` or ``"d4"``, :mod:`akmamba.infer.tta`) it averages the probabilities of 4 or 8 transformed
passes; progress counts every pass.

Three ways to run, one computation:

* ``predict(image, progress=..., should_stop=...)``: callbacks; blocks until done.
* ``iter_predict(image)``: a generator that yields progress fractions and *returns* the :class:`Prediction`
  (``StopIteration.value``; ``result = yield from p.iter_predict(x)``). The work advances only while the
  generator is iterated (it runs on a helper thread in lock-step with the consumer), so a GUI worker that
  stops iterating or calls ``close()`` cancels it at the next tile.
* ``predict_volume`` / ``iter_predict_volume``: a ``(Z, Y, X)`` volume, slice by slice along z.

Cancelling raises :class:`akmamba.errors.CancelledError`.
"""

from __future__ import annotations

import copy
import logging
import os
import queue
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import nn

from akmamba.data.normalize import check_normalisation, normalise, to_channels_first
from akmamba.decision import labels_from_probs
from akmamba.errors import CancelledError, ShapeError
from akmamba.infer.cuda_graph import GraphedForward
from akmamba.infer.tiling import (
    DEFAULT_OVERLAP,
    DEFAULT_ROI,
    ProgressFn,
    StopFn,
    check_options,
    check_stop,
    cpu_memory_errors,
    tiled_logits,
    with_oom_fallback,
)
from akmamba.infer.tta import check_tta, tta_transforms

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Prediction:
    """The result of one prediction.

    Attributes:
        probs: softmax probabilities, float32, ``(K, H, W)`` for an image or ``(K, Z, Y, X)`` for a volume
            (``K`` = classes including background; they sum to 1 over ``K``). ``None`` when a volume was
            predicted with ``return_probs=False``.
        labels: class indices by :func:`akmamba.decision.labels_from_probs` (argmax), uint8, ``(H, W)`` or
            ``(Z, Y, X)`` (0 = background).
        model_info: ``{"name", "version", "sha256"}`` of the model that produced it.
        roi_size: the tile side finally used (smaller than asked after an out-of-memory retry).
        device: the device it finally ran on (``"cpu"`` after a CPU fallback).
        tta: the test-time augmentation used (``"none"``, ``"flips"`` or ``"d4"``).
    """

    probs: np.ndarray | None
    labels: np.ndarray
    model_info: dict[str, str] = field(default_factory=dict)
    roi_size: int = DEFAULT_ROI
    device: str = "cpu"
    tta: str = "none"


class Predictor:
    """A network with its checkpoint metadata, ready to segment numpy images.

    Args:
        model: a network from ``akmamba.nn.build_model`` / ``load_checkpoint``: ``(B, C, H, W) -> (B, K, H, W)``.
        metadata: the checkpoint's metadata record (``model``, ``label_table``, ``normalisation``, ``version``,
            ``weights_sha256``, ...). ``model`` may be omitted when the network carries ``akmamba_config``.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        roi_size: tile side in pixels for large images (default 512).
        overlap: fraction of a tile shared with each neighbour (default 0.25).
        sw_batch_size: tiles per network call (default 1).
        tta: test-time augmentation: ``"none"`` (default), ``"flips"`` (4 passes) or ``"d4"`` (8 passes: flips
            and 90-degree rotations); the softmax probabilities of the passes are averaged.
        checkpoint: the file the model came from, if any (recorded in ``model_info``).
        checkpoint_sha256: SHA-256 of that file; it becomes ``model_info["sha256"]`` (else the weights' SHA-256).
        cuda_graphs: on a CUDA device, replay each tile shape's forward from a captured CUDA graph
            (:mod:`akmamba.infer.cuda_graph`; same result, less launch time: docs/benchmarks/forward_cuda_graphs.md);
            False runs every forward eagerly. Ignored on the CPU.

    Raises:
        ConfigError: unknown device, invalid tiling options, unknown ``tta`` or a ``normalisation`` in the
            metadata that this version does not know.
    """

    def __init__(
        self,
        model: nn.Module,
        metadata: dict[str, Any],
        device: str | torch.device = "auto",
        *,
        roi_size: int = DEFAULT_ROI,
        overlap: float = DEFAULT_OVERLAP,
        sw_batch_size: int = 1,
        tta: str = "none",
        checkpoint: str | os.PathLike[str] | None = None,
        checkpoint_sha256: str | None = None,
        cuda_graphs: bool = True,
    ) -> None:
        from akmamba.train.engine import resolve_device

        check_options(roi_size, overlap, sw_batch_size)
        self.tta = check_tta(tta)
        self.device = device if isinstance(device, torch.device) else resolve_device(str(device))
        self.model = model.to(self.device).eval()
        self.metadata = dict(metadata)
        config = self.metadata.get("model") or getattr(model, "akmamba_config", {}) or {}
        self.in_channels = int(config.get("in_channels", 1))
        self.num_classes = int(config.get("num_classes", 2))
        self.architecture = str(config.get("name", type(model).__name__))
        self.normalisation = check_normalisation(str(self.metadata.get("normalisation", "zscore")),
                                                 path=str(checkpoint) if checkpoint is not None else None)
        self.roi_size = roi_size
        self.overlap = overlap
        self.sw_batch_size = sw_batch_size
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        self.model_info = {
            "name": str(self.metadata.get("name") or (self.checkpoint.stem if self.checkpoint else self.architecture)),
            "version": str(self.metadata.get("version") or "unversioned"),
            "sha256": str(checkpoint_sha256 or self.metadata.get("weights_sha256") or "unknown"),
        }
        self._cpu_model: nn.Module | None = None
        self.cuda_graphs = bool(cuda_graphs)
        self._graphed: GraphedForward | None = None

    @classmethod
    def from_checkpoint(
        cls,
        path_or_name: str | os.PathLike[str],
        device: str = "auto",
        *,
        models_dir: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Predictor:
        """Load a checkpoint file, or a shipped model by name (see :mod:`akmamba.infer.models`).

        Args:
            path_or_name: a ``.safetensors`` path or a shipped model name such as ``"akmamba-drive"``.
            device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
            models_dir: an extra folder searched first for named models.
            **options: passed to :class:`Predictor` (``roi_size``, ``overlap``, ``sw_batch_size``, ``tta``).

        Raises:
            CheckpointError: unknown name (with the installed names), unreadable or corrupt checkpoint.
            ConfigError: unknown device.
        """
        from akmamba.infer.models import resolve_model
        from akmamba.nn import load_checkpoint
        from akmamba.reports.report import sha256_file

        path = resolve_model(path_or_name, models_dir=models_dir)
        model, metadata = load_checkpoint(path, device="cpu")
        return cls(model, metadata, device, checkpoint=path, checkpoint_sha256=sha256_file(path), **options)

    @property
    def label_names(self) -> dict[int, str]:
        """``{class index: name}`` for every class (background included), from the label table when present."""
        table = self.metadata.get("label_table") or []
        names = {int(row["index"]): str(row["name"]) for row in table if "index" in row and "name" in row}
        return {k: names.get(k, "background" if k == 0 else f"label_{k}") for k in range(self.num_classes)}

    # ------------------------------------------------------------------------------------------- 2-D images

    def predict(
        self,
        image: np.ndarray,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> Prediction:
        """Segment one 2-D image.

        Args:
            image: ``(H, W)`` grey or ``(H, W, 3)`` colour, any numeric dtype (grey is repeated to three
                channels for an RGB model, colour averaged for a grey one).
            progress: called with the fraction done, monotone, ending at 1.0 (with TTA each of the ``n`` passes
                covers ``1/n`` of the range).
            should_stop: polled before every tile of every pass; True cancels.

        Returns:
            ``Prediction`` with ``probs`` ``(K, H, W)`` float32 (averaged over the TTA passes) and ``labels``
            ``(H, W)`` uint8.

        Raises:
            ShapeError: ``image`` is not ``(H, W)`` or ``(H, W, C)``.
            CancelledError: ``should_stop`` returned True.
            OutOfMemoryError: the CPU ran out of memory (even after the tile fallback); the message says what to
                do.
        """
        report = _monotone(progress)
        check_stop(should_stop)
        shape = "x".join(str(n) for n in np.shape(image)[:2])
        with cpu_memory_errors(f"preparing a {shape} image for the model"):
            x = torch.from_numpy(self._prepare(image))[None]
        probs, roi, device = self._probs(x, report, should_stop)
        probs_np = probs.numpy()
        with cpu_memory_errors(f"turning the {shape} probabilities into labels"):
            labels = labels_from_probs(probs_np)  # the one rule (akmamba.decision): argmax, ties to the lower index
        if report is not None:
            report(1.0)
        return Prediction(probs_np, labels, dict(self.model_info), roi, str(device), self.tta)

    def iter_predict(
        self, image: np.ndarray, should_stop: StopFn | None = None
    ) -> Generator[float, None, Prediction]:
        """Generator form of :meth:`predict`: yields fractions done, returns the ``Prediction``.

        Closing the generator (or ``should_stop`` returning True) cancels at the next tile.

        Raises:
            CancelledError: ``should_stop`` returned True.
        """
        return run_as_generator(lambda p, s: self.predict(image, p, s), should_stop)

    # ------------------------------------------------------------------------------------------- volumes

    def predict_volume(
        self,
        volume: np.ndarray,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
        *,
        return_probs: bool = True,
    ) -> Prediction:
        """Segment a ``(Z, Y, X)`` volume slice by slice along z (each slice normalised on its own, as in 2-D).

        Args:
            volume: ``(Z, Y, X)`` grey volume.
            progress: called with the fraction done over all slices, monotone, ending at 1.0.
            should_stop: polled before every tile of every slice.
            return_probs: keep the ``(K, Z, Y, X)`` probabilities (False saves memory: ``probs`` is None).

        Returns:
            ``Prediction`` with ``labels`` ``(Z, Y, X)`` uint8 and ``probs`` ``(K, Z, Y, X)`` float32 or None.

        Raises:
            ShapeError: ``volume`` is not 3-D.
            CancelledError: ``should_stop`` returned True.
            OutOfMemoryError: the CPU ran out of memory; the message says what to do.
        """
        vol = np.asarray(volume)
        if vol.ndim != 3:
            raise ShapeError(f"A volume must be (Z, Y, X), got shape {vol.shape}. Use predict() for 2-D images.",
                             parameter="volume", expected="(Z, Y, X)", got=vol.shape)
        report = _monotone(progress)
        n = vol.shape[0]
        shape = "x".join(str(n) for n in vol.shape)
        with cpu_memory_errors(f"allocating the labels{' and probabilities' if return_probs else ''} of a "
                               f"{shape} volume"):
            labels = np.zeros(vol.shape, dtype=np.uint8)
            probs = np.zeros((self.num_classes, *vol.shape), dtype=np.float32) if return_probs else None
        result = Prediction(probs, labels, dict(self.model_info), self.roi_size, str(self.device))
        for z in range(n):
            check_stop(should_stop)
            sub = None if report is None else _scaled(report, z / n, 1 / n)
            result = self.predict(vol[z], sub, should_stop)
            labels[z] = result.labels
            if probs is not None and result.probs is not None:
                probs[:, z] = result.probs
        if report is not None:
            report(1.0)
        return Prediction(probs, labels, dict(self.model_info), result.roi_size, result.device, self.tta)

    def iter_predict_volume(
        self, volume: np.ndarray, should_stop: StopFn | None = None, *, return_probs: bool = True
    ) -> Generator[float, None, Prediction]:
        """Generator form of :meth:`predict_volume`: yields fractions done, returns the ``Prediction``."""
        return run_as_generator(
            lambda p, s: self.predict_volume(volume, p, s, return_probs=return_probs), should_stop
        )

    # ------------------------------------------------------------------------------------------- internals

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        arr = np.asarray(image)
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (1, 3, 4)):
            raise ShapeError(
                f"Expected a 2-D image (H, W) or (H, W, 3), got shape {arr.shape}. Use predict_volume() for "
                "(Z, Y, X) volumes.",
                parameter="image", expected="(H, W) or (H, W, 3)", got=arr.shape,
            )
        return normalise(to_channels_first(arr, self.in_channels), self.normalisation)

    def _probs(
        self, x: torch.Tensor, progress: ProgressFn | None, should_stop: StopFn | None
    ) -> tuple[torch.Tensor, int, torch.device]:
        """Softmax probabilities ``(K, H, W)`` of ``x`` ``(1, C, H, W)``, averaged over the TTA transforms.

        Each pass has its own out-of-memory fallback; a later pass starts from the tile side and device that
        the previous one ended with, so a fallback happens (and warns) once, not once per pass.
        """
        transforms = tta_transforms(self.tta)
        n = len(transforms)
        roi, device = self.roi_size, self.device
        total: torch.Tensor | None = None
        for i, t in enumerate(transforms):
            sub = None if progress is None else _scaled(progress, i / n, 1 / n)
            logits, roi, device = self._logits(t.apply(x), sub, should_stop, roi, device)
            probs = t.invert(torch.softmax(logits[0], dim=0))
            total = probs if total is None else total.add_(probs)
        assert total is not None  # at least the identity pass ran (internal invariant)
        return (total / n if n > 1 else total), roi, device

    def _logits(
        self, x: torch.Tensor, progress: ProgressFn | None, should_stop: StopFn | None, roi_size: int,
        device: torch.device,
    ) -> tuple[torch.Tensor, int, torch.device]:
        def run(roi: int, dev: torch.device) -> tuple[torch.Tensor, int, torch.device]:
            net = self._model_on(dev)
            logits = tiled_logits(net, x, dev, roi_size=roi, overlap=self.overlap,
                                  sw_batch_size=self.sw_batch_size, progress=progress, should_stop=should_stop)
            return logits, roi, dev

        return with_oom_fallback(run, roi_size, device)

    def _model_on(self, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
        if device == self.device:
            if device.type != "cuda" or not self.cuda_graphs:
                return self.model
            if self._graphed is None:
                self._graphed = GraphedForward(self.model)
            return self._graphed
        if self._cpu_model is None:
            self._cpu_model = copy.deepcopy(self.model).to(device).eval()
        return self._cpu_model


def _monotone(progress: ProgressFn | None) -> ProgressFn | None:
    """Wrap ``progress`` so it only moves forward (a retry after out-of-memory starts its tiles again)."""
    if progress is None:
        return None
    best = [-1.0]

    def report(fraction: float) -> None:
        value = min(float(fraction), 1.0)
        if value > best[0]:
            best[0] = value
            progress(value)

    return report


def _scaled(progress: ProgressFn, start: float, width: float) -> ProgressFn:
    return lambda f: progress(start + width * f)


# ----------------------------------------------------------------------------------------- generator form

_DONE, _ERROR, _PROGRESS = "done", "error", "progress"


def run_as_generator(
    run: Callable[[ProgressFn, StopFn], T], should_stop: StopFn | None = None
) -> Generator[float, None, T]:
    """Turn a callback-style computation into a generator of progress fractions that returns its result.

    ``run(progress, should_stop)`` executes on a helper thread that pauses after every ``progress`` call until
    the consumer asks for the next value, so the work advances only while the generator is iterated. Closing
    the generator early stops the work at its next ``should_stop`` poll and waits for the thread to end.

    Args:
        run: the computation; it must call ``should_stop`` regularly and raise ``CancelledError`` when True.
        should_stop: the caller's own stop flag, polled too.

    Returns:
        A generator yielding floats in [0, 1] whose ``StopIteration.value`` is what ``run`` returned.

    Raises:
        Whatever ``run`` raises (re-raised in the consumer), e.g. ``CancelledError``.
    """
    to_consumer: queue.Queue[tuple[str, Any]] = queue.Queue()
    resume: queue.Queue[None] = queue.Queue()
    stop = threading.Event()

    def stopped() -> bool:
        return stop.is_set() or (should_stop is not None and bool(should_stop()))

    def progress(fraction: float) -> None:
        to_consumer.put((_PROGRESS, fraction))
        resume.get()
        if stop.is_set():
            raise CancelledError("Inference was cancelled: the progress generator was closed.")

    def work() -> None:
        try:
            to_consumer.put((_DONE, run(progress, stopped)))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread and re-raised there
            to_consumer.put((_ERROR, exc))

    return _consume(threading.Thread(target=work, name="akmamba-infer", daemon=True), to_consumer, resume, stop)


def _consume(
    thread: threading.Thread, to_consumer: queue.Queue[tuple[str, Any]], resume: queue.Queue[None],
    stop: threading.Event,
) -> Generator[float, None, Any]:
    thread.start()
    try:
        while True:
            kind, value = to_consumer.get()
            if kind == _DONE:
                return value
            if kind == _ERROR:
                raise value
            yield float(value)
            resume.put(None)
    finally:
        if thread.is_alive():
            stop.set()
            resume.put(None)
            while thread.is_alive():
                try:
                    kind, _ = to_consumer.get(timeout=0.05)
                except queue.Empty:
                    continue
                if kind == _PROGRESS:
                    resume.put(None)
            thread.join()
