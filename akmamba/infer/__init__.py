"""Inference: :class:`Predictor` (numpy in, numpy out), tiling, shipped-model lookup, ``predict``/``evaluate``.

Names are imported lazily so that ``akmamba.infer.evaluate_cli`` (numpy only) does not pull in torch.

Public API:

- :class:`Predictor`, :class:`Prediction`, :func:`run_as_generator` (``akmamba.infer.predictor``);
- :func:`tiled_logits`, :class:`MemoryFallbackWarning` (``akmamba.infer.tiling``);
- :class:`ModelEntry`, :func:`list_shipped_models`, :func:`resolve_model` (``akmamba.infer.models``);
- :func:`offer_model`, :func:`input_mismatch`, :func:`checkpoint_mismatch` (``akmamba.infer.suitability``).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Predictor": "akmamba.infer.predictor",
    "Prediction": "akmamba.infer.predictor",
    "run_as_generator": "akmamba.infer.predictor",
    "tiled_logits": "akmamba.infer.tiling",
    "MemoryFallbackWarning": "akmamba.infer.tiling",
    "ModelEntry": "akmamba.infer.models",
    "list_shipped_models": "akmamba.infer.models",
    "resolve_model": "akmamba.infer.models",
    "offer_model": "akmamba.infer.suitability",
    "input_mismatch": "akmamba.infer.suitability",
    "checkpoint_mismatch": "akmamba.infer.suitability",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'akmamba.infer' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
