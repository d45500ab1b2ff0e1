"""Pad-to-multiple wrapper so that every network accepts any H x W."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from akmamba.errors import ShapeError


def check_image_batch(x: torch.Tensor, in_channels: int, where: str) -> None:
    """Raise ShapeError unless ``x`` is a floating ``(B, in_channels, H, W)`` tensor with H, W >= 1."""
    if not isinstance(x, torch.Tensor):
        raise ShapeError(
            f"{where} expects a torch.Tensor of shape (B, {in_channels}, H, W); got {type(x).__name__}.",
            parameter="x",
            expected=f"(B, {in_channels}, H, W) tensor",
            got=type(x).__name__,
        )
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ShapeError(
            f"{where} expects input of shape (B, {in_channels}, H, W); got {tuple(x.shape)}. "
            f"Check the number of image channels (1 for grey/MRI, 3 for RGB) and add a batch axis.",
            parameter="x",
            expected=f"(B, {in_channels}, H, W)",
            got=tuple(x.shape),
        )
    if not x.is_floating_point():
        raise ShapeError(
            f"{where} expects a floating-point input; got dtype {x.dtype}. Normalise the image to float first.",
            parameter="x",
            expected="float16/bfloat16/float32/float64",
            got=str(x.dtype),
        )


class PadToMultiple(nn.Module):
    """Wrap a network so that it accepts any H x W.

    The input is padded on the bottom and right (reflect where possible, else replicate) to a multiple of
    ``multiple``, run through ``net`` and the logits are cropped back to H x W.

    Args:
        net: a module mapping ``(B, C, H', W')`` to ``(B, K, H', W')`` for H', W' multiples of ``multiple``.
        in_channels: the C the network expects (checked with a clear message).
        multiple: the required divisor of H and W (2 ** number of down-samplings).
    """

    def __init__(self, net: nn.Module, in_channels: int, multiple: int) -> None:
        super().__init__()
        self.net = net
        self.in_channels = in_channels
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """``(B, C, H, W)`` -> logits ``(B, K, H, W)`` (a tuple in training with deep supervision: the logits, then
        the heads of levels 1..k at ``ceil(H / 2**i) x ceil(W / 2**i)``)."""
        check_image_batch(x, self.in_channels, type(self.net).__name__)
        h, w = x.shape[-2:]
        ph = (-h) % self.multiple
        pw = (-w) % self.multiple
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        y = self.net(x)
        if isinstance(y, tuple):  # deep supervision in training: the head of level i is 2**i times smaller
            return tuple(t[..., : -(-h // 2**i), : -(-w // 2**i)] for i, t in enumerate(y))
        return y[..., :h, :w]
