"""UNet 3+ baseline (paper Tables 1-2): a U-Net whose decoder nodes see every scale.

Huang et al. 2020, "UNet 3+: A Full-Scale Connected UNet for Medical Image Segmentation", ICASSP,
arXiv 2004.08790. Deep supervision and the classification-guided module are left out (plain segmentation loss).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from akmamba.errors import ConfigError
from akmamba.nn.blocks.unet_parts import DoubleConv, conv3x3_bn_relu
from akmamba.nn.build import MODELS
from akmamba.nn.nets.padding import PadToMultiple

_DEPTH = 4  # down-samplings, as the project's U-Net


def _resample(source: int, target: int) -> nn.Module:
    """Bring a map from level ``source`` to level ``target`` (level i is at 1/2**i resolution)."""
    if source < target:
        return nn.MaxPool2d(2 ** (target - source), ceil_mode=True)
    if source > target:
        return nn.Upsample(scale_factor=2 ** (source - target), mode="bilinear", align_corners=False)
    return nn.Identity()


class FullScaleNode(nn.Module):
    """Decoder node X_De^i of UNet 3+ (paper eq. 1).

    Every input map j (encoder maps of levels <= i, decoder maps of deeper levels) is resampled to level i
    (max-pooling from above, bilinear up-sampling from below), reduced to ``cat_channels`` by Conv3x3+BN+ReLU;
    the ``len(in_channels)`` reduced maps are concatenated and fused by one more Conv3x3+BN+ReLU.

    Args:
        level: the level i of this node.
        in_channels: channels of the input map of each level 0..D (ordered by level).
        cat_channels: channels of each reduced map; the output has ``len(in_channels) * cat_channels``.
    """

    def __init__(self, level: int, in_channels: Sequence[int], cat_channels: int) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            [
                nn.Sequential(_resample(j, level), conv3x3_bn_relu(c, cat_channels))
                for j, c in enumerate(in_channels)
            ]
        )
        width = len(in_channels) * cat_channels
        self.fuse = conv3x3_bn_relu(width, width)

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """``maps[j]`` of shape ``(B, in_channels[j], H/2**j, W/2**j)`` -> ``(B, out, H/2**i, W/2**i)``."""
        return self.fuse(torch.cat([branch(m) for branch, m in zip(self.branches, maps, strict=True)], dim=1))


class UNet3Plus(nn.Module):
    """UNet 3+: U-Net encoder, full-scale skip connections into every decoder node, one output head.

    Args:
        in_channels: image channels.
        num_classes: logits channels.
        channels: encoder widths per level (the last is the bottleneck), e.g. (32, 64, 128, 256, 512).
        cat_channels: per-scale width of the decoder branches (the paper's 64 with widths (64, ..., 1024)).

    Shapes: ``(B, in_channels, H, W) -> (B, num_classes, H, W)`` for H, W multiples of 2**(len(channels)-1).
    """

    def __init__(self, in_channels: int, num_classes: int, channels: Sequence[int], cat_channels: int) -> None:
        super().__init__()
        chs = list(channels)
        depth = len(chs) - 1
        up_channels = len(chs) * cat_channels
        self.pool = nn.MaxPool2d(2)
        self.encoders = nn.ModuleList(
            [DoubleConv(in_channels if i == 0 else chs[i - 1], c, conv3x3_bn_relu) for i, c in enumerate(chs)]
        )
        # decoders[i] builds X_De^i; its inputs at levels > i are decoder maps, except the bottleneck.
        self.decoders = nn.ModuleList(
            [
                FullScaleNode(i, chs[: i + 1] + [up_channels] * (depth - 1 - i) + [chs[-1]], cat_channels)
                for i in range(depth)
            ]
        )
        self.head = nn.Conv2d(up_channels, num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W) -> (B, num_classes, H, W)``."""
        enc = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x if i == 0 else self.pool(x))
            enc.append(x)
        deeper = [enc[-1]]  # decoder maps of levels i+1..D, shallowest first
        for i in reversed(range(len(self.decoders))):
            deeper.insert(0, self.decoders[i](enc[: i + 1] + deeper))
        return self.head(deeper[0])


@MODELS.register("unet3plus")
def build_unet3plus(
    in_channels: int, num_classes: int, *, base_channels: int = 32, cat_channels: int = 32
) -> nn.Module:
    """UNet 3+ with encoder widths ``base_channels * 2**i`` (i = 0..4, 4 max-pool down-samplings).

    Each of the four decoder nodes concatenates five ``cat_channels``-wide maps, one per scale, so the decoder
    is ``5 * cat_channels`` wide at every level (160 by default; the paper uses 64 per scale with twice our
    encoder widths, i.e. cat = first encoder width, which ``cat_channels=base_channels`` reproduces). The head
    is a 3x3 conv, as in the authors' code. BatchNorm + ReLU throughout.

    Parameters (in_channels=3, num_classes=2): 6.75 M at ``base_channels=32, cat_channels=32``
    (the project U-Net: 7.76 M).

    Args:
        in_channels: 1 or 3.
        num_classes: logits channels (background included).
        base_channels: width of the full-resolution encoder level.
        cat_channels: width of each per-scale decoder branch.

    Returns:
        A module mapping ``(B, in_channels, H, W)`` to logits ``(B, num_classes, H, W)`` for any H, W (inputs are
        padded to a multiple of 16 and the logits cropped back).

    Raises:
        ConfigError: an option out of range.
    """
    for name, value in (("base_channels", base_channels), ("cat_channels", cat_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(
                f"Option {name} must be an integer >= 1; got {value!r}.",
                parameter=name,
                expected=">= 1",
                got=value,
            )
    net = UNet3Plus(in_channels, num_classes, [base_channels * 2**i for i in range(_DEPTH + 1)], cat_channels)
    return PadToMultiple(net, in_channels, 2**_DEPTH)
