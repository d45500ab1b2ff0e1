"""The viewer's inference jobs, free of Qt: what its worker threads run (also run without a display, e.g. by the
CUDA tests on a machine that has no Qt)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SegmentResult:
    """A finished inference: the Prediction, the model's label table rows, and the device it ran on."""

    prediction: Any
    label_rows: list[dict[str, Any]] | None
    device: str


def segment_job(
    model_path: str, device: str, array: np.ndarray, is_volume: bool, cache: dict[tuple[str, str, str], Any],
    tta: str = "none",
) -> Generator[float, None, SegmentResult]:
    """Load (or reuse) the predictor and segment ``array`` with test-time augmentation ``tta`` (``"none"``,
    ``"flips"``, ``"d4"``); yields progress 0..1 (torch is imported here only)."""
    from akmamba.infer import Predictor

    key = (model_path, device, tta)
    predictor = cache.get(key)
    if predictor is None:
        predictor = Predictor.from_checkpoint(model_path, device, tta=tta)
        cache.clear()
        cache[key] = predictor
    yield 0.0
    run = predictor.iter_predict_volume(array) if is_volume else predictor.iter_predict(array)
    prediction = yield from run
    return SegmentResult(prediction, predictor.metadata.get("label_table"), str(predictor.device))


def probe_job() -> dict[str, Any]:
    """Startup facts gathered off the UI thread: scan backends, the automatic device, installed models."""
    from akmamba.infer import list_shipped_models
    from akmamba.ops import available_backends
    from akmamba.train.engine import resolve_device

    return {"backends": available_backends(), "auto_device": str(resolve_device("auto")),
            "models": list_shipped_models()}
