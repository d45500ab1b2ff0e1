"""``PromptPredictor``: a prompt-aware checkpoint behind ``predict_prompts(image, prompts)``.

It is a :class:`akmamba.infer.Predictor` (same normalisation, tiling, TTA, devices); the prompts are encoded
into guidance channels (:func:`akmamba.prompt.encode.encode_guidance`) on the image's pixel grid and travel with
the image through tiling and test-time flips. ``predict(image)`` without prompts is the plain prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from akmamba.decision import labels_from_probs
from akmamba.errors import ConfigError
from akmamba.infer.predictor import Prediction, Predictor
from akmamba.infer.tiling import StopFn, check_stop
from akmamba.prompt.encode import Prompt, encode_guidance
from akmamba.prompt.layout import GuidanceLayout, layout_of


def is_prompt_aware(metadata: dict[str, Any]) -> bool:
    """Whether a checkpoint's metadata records a guidance layout."""
    return bool((metadata.get("model") or {}).get("guidance"))


class PromptPredictor(Predictor):
    """A :class:`~akmamba.infer.Predictor` that also answers prompts.

    Raises:
        ConfigError: the model is not prompt-aware (its metadata has no ``model.guidance``).
    """

    def __init__(self, model: nn.Module, metadata: dict[str, Any], device: str | torch.device = "auto",
                 **options: Any) -> None:
        super().__init__(model, metadata, device, **options)
        layout = layout_of(self.metadata, str(self.checkpoint or self.model_info["name"]))
        if layout is None:
            raise ConfigError(
                f"Model {self.model_info['name']!r} is not prompt-aware (its checkpoint has no guidance layout). "
                "Use a prompt-aware model (akmamba.prompt.model.convert_checkpoint makes one from a plain model).",
                parameter="model", expected="a prompt-aware checkpoint", got=self.model_info["name"],
            )
        self.layout: GuidanceLayout = layout

    def guidance(self, prompts: Sequence[Prompt], shape: tuple[int, int]) -> np.ndarray:
        """The guidance channels ``(G, H, W)`` float32 of ``prompts`` on an ``(H, W)`` image."""
        return encode_guidance(prompts, self.layout, shape)

    def predict_prompts(self, image: np.ndarray, prompts: Sequence[Prompt], should_stop: StopFn | None = None,
                        *, guidance: np.ndarray | None = None) -> Prediction:
        """Segment one 2-D image (or one slice of a volume) given prompts.

        Args:
            image: ``(H, W)`` grey or ``(H, W, 3)`` colour.
            prompts: clicks, boxes and scribbles in the image's pixel coordinates (``Click.label`` etc. are class
                indices of the model's label table).
            should_stop: polled before every tile.
            guidance: the encoded prompts, if the caller already has them (``(G, H, W)``); else encoded here.

        Returns:
            ``Prediction`` with ``probs`` ``(K, H, W)`` and ``labels`` ``(H, W)`` uint8.

        Raises:
            ShapeError: a bad image shape. ConfigError: a prompt for a label without guidance channels.
            CancelledError: ``should_stop`` returned True.
        """
        check_stop(should_stop)
        img = self._prepare(image)
        g = self.guidance(prompts, img.shape[1:]) if guidance is None else np.asarray(guidance, np.float32)
        x = torch.from_numpy(np.concatenate([img, g], axis=0))[None]
        probs, roi, device = self._probs(x, None, should_stop)
        p = probs.numpy()  # the one label rule (akmamba.decision); torch's argmax over dim 0 took 57 ms here
        return Prediction(p, labels_from_probs(p), dict(self.model_info), roi, str(device), self.tta)
