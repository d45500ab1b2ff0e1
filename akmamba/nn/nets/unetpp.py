"""UNet++ baseline (paper Tables 1-2), built on MONAI's ``BasicUNetPlusPlus``.

Zhou et al. 2018, "UNet++: A Nested U-Net Architecture for Medical Image Segmentation", DLMIA, arXiv 1807.10165.
"""

from __future__ import annotations

import torch
from monai.networks.nets import BasicUNetPlusPlus
from torch import nn

from akmamba.errors import ConfigError
from akmamba.nn.build import MODELS
from akmamba.nn.nets.padding import PadToMultiple

_DEPTH = 4  # down-samplings, as the project's U-Net
# MONAI's heads on the intermediate nodes X^{0,1..3}; they only serve deep supervision.
_SIDE_HEADS = ("final_conv_0_1", "final_conv_0_2", "final_conv_0_3")


class UNetPlusPlusLogits(nn.Module):
    """Return the final head X^{0,4} of a MONAI ``BasicUNetPlusPlus`` as a tensor (MONAI returns a list).

    The side heads are replaced by ``nn.Identity``: without deep supervision they never reach the loss, and as
    parameters they would get no gradient and inflate the parameter count.

    Args:
        net: a ``BasicUNetPlusPlus`` built with ``deep_supervision=False``.
    """

    def __init__(self, net: BasicUNetPlusPlus) -> None:
        super().__init__()
        for name in _SIDE_HEADS:
            setattr(net, name, nn.Identity())
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, K, H, W)`` logits, H and W multiples of 16."""
        outputs: list[torch.Tensor] = self.net(x)
        return outputs[-1]


def _check_options(base_channels: object, dropout: object) -> None:
    if not isinstance(base_channels, int) or isinstance(base_channels, bool) or base_channels < 1:
        raise ConfigError(
            f"Option base_channels must be an integer >= 1; got {base_channels!r}.",
            parameter="base_channels",
            expected=">= 1",
            got=base_channels,
        )
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
        raise ConfigError(
            f"Option dropout must be a probability in [0, 1); got {dropout!r}.",
            parameter="dropout",
            expected="[0, 1)",
            got=dropout,
        )


@MODELS.register("unetpp")
def build_unetpp(
    in_channels: int, num_classes: int, *, base_channels: int = 32, dropout: float = 0.0
) -> nn.Module:
    """UNet++: nested dense skip pathways between a U-Net encoder and decoder, no deep supervision.

    Nodes X^{i,j} are two Conv3x3+BN+ReLU (bias-free) over the concatenation of the up-sampled (2x2 transposed
    conv) node X^{i+1,j-1} and all earlier nodes of row i; the output is a 1x1 conv on X^{0,4}. Encoder widths
    are ``base_channels * 2**i`` for i = 0..4 (4 max-pool down-samplings, as the project's U-Net); the last
    up-sampled node has ``base_channels`` channels. Activation and norm follow the original (ReLU, BatchNorm)
    rather than MONAI's defaults (LeakyReLU, instance norm).

    Parameters (in_channels=3, num_classes=2): 9.12 M at ``base_channels=32`` (the project U-Net: 7.76 M).

    Args:
        in_channels: 1 or 3.
        num_classes: logits channels (background included).
        base_channels: width of the full-resolution row.
        dropout: dropout rate inside the conv blocks, in [0, 1).

    Returns:
        A module mapping ``(B, in_channels, H, W)`` to logits ``(B, num_classes, H, W)`` for any H, W (inputs are
        padded to a multiple of 16 and the logits cropped back).

    Raises:
        ConfigError: an option out of range.
    """
    _check_options(base_channels, dropout)
    widths = [base_channels * 2**i for i in range(_DEPTH + 1)]
    net = BasicUNetPlusPlus(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=num_classes,
        features=(*widths, base_channels),
        deep_supervision=False,
        act=("relu", {"inplace": True}),
        norm="batch",
        bias=False,
        dropout=float(dropout),
        upsample="deconv",
    )
    return PadToMultiple(UNetPlusPlusLogits(net), in_channels, 2**_DEPTH)
