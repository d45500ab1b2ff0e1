"""Training: ``TrainConfig`` and ``fit(cfg)`` (a generator of JSON-ready events); CLI in ``akmamba.train.runner``."""

from typing import Any

from akmamba.train.config import TrainConfig

__all__ = ["TrainConfig", "fit"]


def __getattr__(name: str) -> Any:
    if name == "fit":  # imported lazily: it pulls in torch, MONAI and the data stack
        from akmamba.train.engine import fit

        return fit
    raise AttributeError(name)
