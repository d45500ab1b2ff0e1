"""``PromptPredictor``: a prompt-aware checkpoint behind ``predict_prompts(image, prompts)``.

It is a :class:`akmamba.infer.Predictor` (same normalisation, tiling, TTA, devices); the prompts are encoded
into guidance channels (:func:`akmamba.prompt.encode.encode_guidance`) on the image's pixel grid and travel with
the image through tiling and test-time flips. ``predict(image)`` without prompts is the plain prediction.

With a prompt window (``window``, :mod:`akmamba.prompt.window`; ``"auto"``: 256 pixels on the CPU, none on a GPU),
the network runs on a window around the prompts once the plane has a whole-plane answer (the plain prediction or
an earlier prompt answer, kept for the last few planes), and the window's probabilities replace that answer's
there. ``window=None`` always runs the whole plane: the reference the window is tested against.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from akmamba.decision import labels_from_probs
from akmamba.errors import ConfigError
from akmamba.infer.predictor import Prediction, Predictor
from akmamba.infer.tiling import ProgressFn, StopFn, check_stop
from akmamba.prompt.encode import Prompt, encode_guidance
from akmamba.prompt.layout import GuidanceLayout, layout_of
from akmamba.prompt.window import Window, prompt_window, resolve_window

_KEPT_PLANES = 4
"""How many planes' whole-plane answers a predictor keeps for the prompt window..."""
_KEPT_BYTES = 256 * 2**20
"""... and how many bytes they may take together (the newest is always kept: a large image's alone may be more)."""


def plane_key(image: np.ndarray) -> str:
    """A digest of an image's shape, dtype and pixels: which plane a kept whole-plane answer belongs to."""
    arr = np.ascontiguousarray(image)
    digest = hashlib.blake2b(arr.tobytes(), digest_size=16)
    digest.update(f"{arr.shape}{arr.dtype}".encode())
    return digest.hexdigest()


def is_prompt_aware(metadata: dict[str, Any]) -> bool:
    """Whether a checkpoint's metadata records a guidance layout."""
    return bool((metadata.get("model") or {}).get("guidance"))


class PromptPredictor(Predictor):
    """A :class:`~akmamba.infer.Predictor` that also answers prompts.

    Args (beyond :class:`~akmamba.infer.Predictor`'s):
        window: the prompt window's smallest side in pixels, ``"auto"`` (256 on the CPU, the whole plane on a
            GPU) or None (the whole plane for every prompt: the reference); see :mod:`akmamba.prompt.window`.

    Raises:
        ConfigError: the model is not prompt-aware (its metadata has no ``model.guidance``), or a bad ``window``.
    """

    def __init__(self, model: nn.Module, metadata: dict[str, Any], device: str | torch.device = "auto",
                 *, window: int | str | None = "auto", **options: Any) -> None:
        super().__init__(model, metadata, device, **options)
        self.window: int | None = resolve_window(window, self.device.type)
        self._planes: OrderedDict[str, np.ndarray] = OrderedDict()
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

    def _keep(self, key: str, probs: np.ndarray) -> None:
        """Keep ``probs`` ``(K, H, W)`` as the whole-plane answer of the plane ``key`` (the last few planes)."""
        self._planes[key] = np.array(probs, np.float32, copy=True)  # the caller may edit the Prediction's
        self._planes.move_to_end(key)
        while len(self._planes) > 1 and (len(self._planes) > _KEPT_PLANES
                                         or sum(v.nbytes for v in self._planes.values()) > _KEPT_BYTES):
            self._planes.popitem(last=False)

    def predict(self, image: np.ndarray, progress: ProgressFn | None = None,
                should_stop: StopFn | None = None) -> Prediction:
        """:meth:`Predictor.predict` (no prompts); with a prompt window its answer is kept for the plane."""
        prediction = super().predict(image, progress, should_stop)
        if self.window is not None and prediction.probs is not None:
            self._keep(plane_key(np.asarray(image)), prediction.probs)
        return prediction

    def keeps(self, image: np.ndarray) -> bool:
        """Whether a whole-plane answer of ``image`` is kept (its next prompts run on their window)."""
        return self.window is not None and plane_key(np.asarray(image)) in self._planes

    def window_for(self, prompts: Sequence[Prompt], shape: tuple[int, int]) -> Window | None:
        """The window ``(y0, y1, x0, x1)`` the prompts' forward pass would run on, None for the whole plane."""
        return None if self.window is None else prompt_window(prompts, shape, side=self.window)

    def predict_prompts(self, image: np.ndarray, prompts: Sequence[Prompt], should_stop: StopFn | None = None,
                        *, guidance: np.ndarray | None = None) -> Prediction:
        """Segment one 2-D image (or one slice of a volume) given prompts.

        With a prompt window and a kept whole-plane answer of this plane, the network runs on the window only
        (:meth:`window_for`) and the answer is the kept one with the window's probabilities in place; otherwise on
        the whole plane, whose answer is then kept.

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
        key = plane_key(np.asarray(image)) if self.window is not None else ""
        win = self.window_for(prompts, img.shape[1:]) if key in self._planes else None
        if win is None:
            probs, roi, device = self._probs(x, None, should_stop)
            p = probs.numpy()
            if key:
                self._keep(key, p)
        else:
            y0, y1, x0, x1 = win
            part, roi, device = self._probs(x[:, :, y0:y1, x0:x1].contiguous(), None, should_stop)
            p = self._planes[key].copy()
            p[:, y0:y1, x0:x1] = part.numpy()
        # the one label rule (akmamba.decision); torch's argmax over dim 0 took 57 ms here
        return Prediction(p, labels_from_probs(p), dict(self.model_info), roi, str(device), self.tta)
