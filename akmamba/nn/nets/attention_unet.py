"""Attention U-Net baseline (paper Tables 1-2), built on MONAI's ``AttentionUnet``.

Oktay et al. 2018, "Attention U-Net: Learning Where to Look for the Pancreas", arXiv 1804.03999.
"""

from __future__ import annotations

from monai.networks.nets import AttentionUnet
from torch import nn

from akmamba.errors import ConfigError
from akmamba.nn.build import MODELS
from akmamba.nn.nets.padding import PadToMultiple

_DEPTH = 4  # down-samplings, as the project's U-Net


def _check_options(base_channels: object, dropout: object) -> None:
    if not isinstance(base_channels, int) or isinstance(base_channels, bool) or base_channels < 2:
        raise ConfigError(
            f"Option base_channels must be an integer >= 2; got {base_channels!r}.",
            parameter="base_channels",
            expected=">= 2",
            got=base_channels,
        )
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
        raise ConfigError(
            f"Option dropout must be a probability in [0, 1); got {dropout!r}.",
            parameter="dropout",
            expected="[0, 1)",
            got=dropout,
        )


@MODELS.register("attention_unet")
def build_attention_unet(
    in_channels: int, num_classes: int, *, base_channels: int = 32, dropout: float = 0.0
) -> nn.Module:
    """Attention U-Net: a U-Net whose skips are re-weighted by additive attention gates.

    MONAI's implementation: encoder stages are two Conv3x3+BN+ReLU (the first strided by 2 instead of
    max-pooling), the decoder up-samples with a 3x3 transposed conv + BN + ReLU, gates each skip with
    ``x * sigmoid(BN(psi(ReLU(W_g g + W_x x))))`` and merges with one Conv3x3+BN+ReLU; a 1x1 conv gives logits.
    Widths are ``base_channels * 2**i`` for i = 0..4 (4 down-samplings, as the project's U-Net).

    Parameters (in_channels=3, num_classes=2): 7.94 M at ``base_channels=32`` (the project U-Net: 7.76 M).

    Args:
        in_channels: 1 or 3.
        num_classes: logits channels (background included).
        base_channels: width of the full-resolution level (>= 2; the gates use half the width).
        dropout: dropout rate inside the conv blocks, in [0, 1).

    Returns:
        A module mapping ``(B, in_channels, H, W)`` to logits ``(B, num_classes, H, W)`` for any H, W (inputs are
        padded to a multiple of 16 and the logits cropped back).

    Raises:
        ConfigError: an option out of range.
    """
    _check_options(base_channels, dropout)
    net = AttentionUnet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=num_classes,
        channels=[base_channels * 2**i for i in range(_DEPTH + 1)],
        strides=[2] * _DEPTH,
        dropout=float(dropout),
    )
    return PadToMultiple(net, in_channels, 2**_DEPTH)
