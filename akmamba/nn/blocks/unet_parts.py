"""Plain U-Net parts with pluggable convolution and skip blocks.

The same skeleton builds the baseline U-Net, the paper's ablations (+AKConv, +Mamba-out) and Akmamba-Net, so the
only difference between them is the block type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

ConvFactory = Callable[[int, int], nn.Module]
SkipFactory = Callable[[int, int], nn.Module]


def conv3x3_bn_relu(in_channels: int, out_channels: int) -> nn.Module:
    """Conv 3x3 (padding 1, no bias) + BatchNorm + ReLU: ``(B, in, H, W) -> (B, out, H, W)``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class DoubleConv(nn.Sequential):
    """Two conv units: ``(B, in, H, W) -> (B, out, H, W)``.

    Args:
        in_channels: input channels.
        out_channels: output channels of both units.
        unit: factory ``(in, out) -> module`` for one conv unit (conv + norm + activation).
    """

    def __init__(self, in_channels: int, out_channels: int, unit: ConvFactory) -> None:
        super().__init__(unit(in_channels, out_channels), unit(out_channels, out_channels))


class UNet2d(nn.Module):
    """U-Net (Ronneberger et al. 2015) with pluggable conv units and skip blocks.

    Encoder level i has ``channels[i]`` channels at 1/2**i resolution; max-pooling goes down, a 2x2 transposed
    conv goes up, and the skip of level i passes through ``skip(i, channels[i])`` before concatenation.

    Args:
        in_channels: image channels (1 or 3).
        num_classes: output classes (logits).
        channels: widths per level, e.g. (32, 64, 128, 256, 512) for 4 down-samplings.
        unit: conv unit factory used everywhere (encoder, bottleneck, decoder).
        skip: factory ``(level, channels) -> module`` applied to each skip; ``None`` keeps skips unchanged.
        deep_supervision: number of extra 1x1 heads on the decoder outputs of levels 1..k (nnU-Net's deep
            supervision). They are used in training mode only: ``forward`` then returns a tuple
            ``(logits, aux_1, ..., aux_k)`` with ``aux_i`` of shape ``(B, num_classes, H / 2**i, W / 2**i)``; in
            eval mode it returns the full-resolution logits alone, so inference is unchanged.

    Shapes: ``(B, in_channels, H, W) -> (B, num_classes, H, W)`` for H, W multiples of 2**(len(channels)-1);
    wrap it in :class:`~akmamba.nn.nets.padding.PadToMultiple` for any size.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: Sequence[int],
        unit: ConvFactory = conv3x3_bn_relu,
        skip: SkipFactory | None = None,
        deep_supervision: int = 0,
    ) -> None:
        super().__init__()
        chs = list(channels)
        if not 0 <= deep_supervision < len(chs) - 1:
            raise ValueError(f"deep_supervision must be in 0..{len(chs) - 2}; got {deep_supervision}")
        self.encoders = nn.ModuleList(
            [DoubleConv(in_channels if i == 0 else chs[i - 1], c, unit) for i, c in enumerate(chs)]
        )
        self.pool = nn.MaxPool2d(2)
        self.skips = nn.ModuleList(
            [skip(i, c) if skip is not None else nn.Identity() for i, c in enumerate(chs[:-1])]
        )
        self.ups = nn.ModuleList([nn.ConvTranspose2d(chs[i + 1], chs[i], 2, stride=2) for i in range(len(chs) - 1)])
        self.decoders = nn.ModuleList([DoubleConv(2 * c, c, unit) for c in chs[:-1]])
        self.head = nn.Conv2d(chs[0], num_classes, 1)
        self.aux_heads = nn.ModuleList([nn.Conv2d(chs[i], num_classes, 1) for i in range(1, deep_supervision + 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """``(B, in_channels, H, W) -> (B, num_classes, H, W)``; in training mode with deep supervision a tuple of
        the logits and the coarser heads' logits (see the class docstring)."""
        feats = []
        for i, enc in enumerate(self.encoders):
            x = enc(x if i == 0 else self.pool(x))
            feats.append(x)
        x = feats.pop()
        aux: list[torch.Tensor] = []
        for i in reversed(range(len(feats))):
            x = self.decoders[i](torch.cat([self.skips[i](feats[i]), self.ups[i](x)], dim=1))
            if self.training and 1 <= i <= len(self.aux_heads):
                aux.append(self.aux_heads[i - 1](x))
        out = self.head(x)
        if aux:
            return (out, *reversed(aux))
        return out
