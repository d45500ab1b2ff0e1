"""Guidance input channels for prompt-aware networks (clicks, boxes and scribbles encoded as extra channels).

A prompt-aware network is a plain network built for ``image_channels + guidance_channels`` inputs, wrapped in
:class:`GuidedInput`. The wrapper takes either the image alone, ``(B, C, H, W)``, and then feeds all-zero
guidance (no prompt), or the image with its guidance, ``(B, C + G, H, W)``. So a prompt-aware model is a
drop-in replacement for a plain one wherever the code only knows images (prediction, validation, fine-tuning),
and :func:`widen_input_weights` turns a plain model's weights into a prompt-aware model's that segments exactly
like it when no prompt is given.

What each guidance channel means (which label, positive / negative / box) is recorded in the model's
``akmamba_config["guidance"]`` (see :mod:`akmamba.prompt.layout`); this module only needs the channel count.
"""

from __future__ import annotations

import torch
from torch import nn

from akmamba.errors import CheckpointError, ShapeError


class GuidedInput(nn.Module):
    """Accept an image with or without guidance channels.

    Args:
        net: a network mapping ``(B, C + G, H, W)`` to logits ``(B, K, H, W)``.
        image_channels: C, the image channels (1 grey, 3 RGB).
        guidance_channels: G >= 1.
    """

    def __init__(self, net: nn.Module, image_channels: int, guidance_channels: int) -> None:
        super().__init__()
        self.net = net
        self.image_channels = image_channels
        self.guidance_channels = guidance_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` (no prompt: zero guidance) or ``(B, C + G, H, W)`` -> logits ``(B, K, H, W)``."""
        c, g = self.image_channels, self.guidance_channels
        if isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == c:
            x = torch.cat([x, x.new_zeros((x.shape[0], g, *x.shape[2:]))], dim=1)
        elif not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[1] == c + g):
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ShapeError(
                f"This prompt-aware network takes (B, {c}, H, W) images or (B, {c + g}, H, W) images with their "
                f"{g} guidance channels; got {got}.",
                parameter="x", expected=f"(B, {c} or {c + g}, H, W)", got=got,
            )
        return self.net(x)


def widen_input_weights(
    plain: dict[str, torch.Tensor], guided: dict[str, torch.Tensor], image_channels: int, *,
    guidance_scale: float = 0.0, seed: int = 0,
) -> dict[str, torch.Tensor]:
    """The state dict of a prompt-aware model made from a plain model's weights.

    Every plain tensor ``k`` becomes ``net.k``; a tensor that takes the input channels (a convolution whose
    dimension 1 grew from ``C`` to ``C + G``) keeps its weights on the image channels and gets zeros on the
    guidance channels (or, with ``guidance_scale > 0``, normal random weights of ``guidance_scale`` times the
    standard deviation of that tensor's image weights, drawn with ``seed``); either way, with zero guidance (no
    prompt) the prompt-aware model computes exactly what the plain one did.

    Args:
        plain: the plain model's state dict.
        guided: the state dict of a freshly built prompt-aware model of the same architecture (for the shapes).
        image_channels: C.
        guidance_scale: 0 for zero guidance weights, else the random weights' scale (see above).
        seed: seeds the random weights.

    Returns:
        A state dict for the prompt-aware model.

    Raises:
        CheckpointError: a tensor differs otherwise than by the guidance input channels (another architecture).
    """
    out: dict[str, torch.Tensor] = {}
    problems = []
    for key, target in guided.items():
        src_key = key[len("net."):] if key.startswith("net.") else key
        src = plain.get(src_key)
        if src is None:
            problems.append(f"missing {src_key}")
            continue
        if src.shape == target.shape:
            out[key] = src.clone()
        elif (src.dim() == target.dim() >= 2 and src.shape[0] == target.shape[0] and src.shape[2:] ==
              target.shape[2:] and src.shape[1] == image_channels and target.shape[1] > image_channels):
            widened = torch.zeros_like(target, dtype=src.dtype)
            widened[:, :image_channels] = src
            if guidance_scale > 0:
                gen = torch.Generator().manual_seed(seed + len(out))
                noise = torch.randn(widened[:, image_channels:].shape, generator=gen, dtype=torch.float32)
                widened[:, image_channels:] = (noise * guidance_scale * float(src.float().std())).to(src.dtype)
            out[key] = widened
        else:
            problems.append(f"{src_key} has shape {tuple(src.shape)}, the prompt-aware model {tuple(target.shape)}")
    extra = sorted(set(plain) - {k[len("net."):] for k in guided})
    problems += [f"unexpected {k}" for k in extra]
    if problems:
        raise CheckpointError(
            "The plain weights do not fit the prompt-aware model of the same architecture: "
            f"{'; '.join(problems[:5])}. Build the prompt-aware model with the plain model's name and options.",
            expected="the same architecture", got=problems[:5],
        )
    return out
