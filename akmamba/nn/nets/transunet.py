"""TransUNet baseline (paper Tables 1-2): CNN encoder, transformer bottleneck, cascaded up-sampling decoder.

Chen et al. 2021, "TransUNet: Transformers Make Strong Encoders for Medical Image Segmentation", arXiv 2102.04306.

Differences from the original R50-ViT-B/16 (documented choices, not bugs):

- the CNN encoder is a plain U-Net encoder (Conv3x3+BN+ReLU pairs, max-pooling) trained from scratch, since no
  pretrained ResNet-50 / ViT weights can be downloaded here;
- the transformer is smaller by default (ViT-S width, 6 layers) to stay near the other baselines' size;
- the learned positional embedding lives on a ``pos_grid`` x ``pos_grid`` grid and is bilinearly interpolated to
  the actual token grid, so any input size works (the original fixes the input at 224 x 224);
- the decoder also takes the full-resolution skip (the original's ResNet stem starts at 1/2 resolution).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from akmamba.errors import ConfigError
from akmamba.nn.blocks.unet_parts import DoubleConv, conv3x3_bn_relu
from akmamba.nn.build import MODELS
from akmamba.nn.nets.padding import PadToMultiple

_DEPTH = 4  # down-samplings: tokens are the 1/16 map, as in the original hybrid model


class TransformerBottleneck(nn.Module):
    """Patch embedding (1x1 patches of the CNN map), learned positional embedding, pre-norm transformer.

    Args:
        in_channels: channels of the CNN feature map.
        hidden_size: token width D.
        num_layers: transformer layers.
        num_heads: attention heads (divides ``hidden_size``).
        mlp_dim: hidden width of each layer's GELU MLP.
        dropout: dropout on the embeddings, attention weights and MLP.
        pos_grid: side of the stored positional-embedding grid (interpolated to the token grid when it differs).

    Shapes: ``(B, in_channels, h, w) -> (B, hidden_size, h, w)``, one token per position.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_size: int,
        num_layers: int,
        num_heads: int,
        mlp_dim: int,
        dropout: float,
        pos_grid: int,
    ) -> None:
        super().__init__()
        self.embed = nn.Conv2d(in_channels, hidden_size, 1)
        self.pos = nn.Parameter(torch.zeros(1, hidden_size, pos_grid, pos_grid))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(
            hidden_size, num_heads, mlp_dim, dropout, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(hidden_size), enable_nested_tensor=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w) -> (B, D, h, w)``."""
        b, _, h, w = x.shape
        pos: torch.Tensor = self.pos
        if pos.shape[-2:] != (h, w):
            pos = F.interpolate(pos, size=(h, w), mode="bilinear", align_corners=False)
        tokens = self.drop((self.embed(x) + pos).flatten(2).transpose(1, 2))  # (B, h*w, D)
        return self.encoder(tokens).transpose(1, 2).reshape(b, -1, h, w)


class UpBlock(nn.Module):
    """Decoder block: bilinear 2x up-sampling, concatenation with the skip, two Conv3x3+BN+ReLU.

    Shapes: ``(B, in, h, w)`` and skip ``(B, skip, 2h, 2w)`` -> ``(B, out, 2h, 2w)``.
    """

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
        self.conv = DoubleConv(in_channels + skip_channels, out_channels, conv3x3_bn_relu)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """See class docstring."""
        return self.conv(torch.cat([self.up(x), skip], dim=1))


class TransUNet(nn.Module):
    """CNN encoder -> transformer on the deepest map -> cascaded up-sampler with skips -> 3x3 head.

    Args:
        in_channels: image channels.
        num_classes: logits channels.
        channels: CNN widths per level, e.g. (32, 64, 128, 256, 512); the last level is tokenised.
        bottleneck: the transformer mapping ``(B, channels[-1], h, w)`` to ``(B, hidden, h, w)``.
        hidden_size: the transformer's token width.

    Shapes: ``(B, in_channels, H, W) -> (B, num_classes, H, W)`` for H, W multiples of 2**(len(channels)-1).
    """

    def __init__(
        self, in_channels: int, num_classes: int, channels: Sequence[int], bottleneck: nn.Module, hidden_size: int
    ) -> None:
        super().__init__()
        chs = list(channels)
        self.pool = nn.MaxPool2d(2)
        self.encoders = nn.ModuleList(
            [DoubleConv(in_channels if i == 0 else chs[i - 1], c, conv3x3_bn_relu) for i, c in enumerate(chs)]
        )
        self.bottleneck = bottleneck
        self.conv_more = conv3x3_bn_relu(hidden_size, chs[-1])  # the original's "conv_more"
        self.decoders = nn.ModuleList([UpBlock(chs[i + 1], c, c) for i, c in enumerate(chs[:-1])])
        self.head = nn.Conv2d(chs[0], num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W) -> (B, num_classes, H, W)``."""
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x if i == 0 else self.pool(x))
            skips.append(x)
        x = self.conv_more(self.bottleneck(skips.pop()))
        for i in reversed(range(len(skips))):
            x = self.decoders[i](x, skips[i])
        return self.head(x)


def _check_int(name: str, value: object, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(
            f"Option {name} must be an integer >= {low}; got {value!r}.",
            parameter=name,
            expected=f">= {low}",
            got=value,
        )
    return value


@MODELS.register("transunet")
def build_transunet(
    in_channels: int,
    num_classes: int,
    *,
    base_channels: int = 32,
    hidden_size: int = 384,
    num_layers: int = 6,
    num_heads: int = 6,
    mlp_dim: int = 1536,
    dropout: float = 0.1,
    pos_grid: int = 32,
) -> nn.Module:
    """TransUNet with a plain CNN encoder of widths ``base_channels * 2**i`` (i = 0..4).

    The 1/16 map (``16 * base_channels`` channels) is embedded as one token per position, plus a learned
    positional embedding interpolated to the token grid, and passes ``num_layers`` pre-norm transformer layers
    (multi-head self-attention + GELU MLP, final LayerNorm). A 3x3 conv brings it back to ``16 * base_channels``
    channels and four bilinear-up-sampling blocks with skips (widths ``8b, 4b, 2b, b``) reach full resolution.
    Defaults: ViT-S width (384, 6 heads, MLP 4x) at 6 layers; the original uses ViT-B (768, 12 heads, 3072,
    12 layers) on a pretrained ResNet-50, about 105 M parameters.

    Parameters (in_channels=3, num_classes=2): 20.86 M at the defaults, 10.65 M of them in the transformer
    layers (the project U-Net: 7.76 M; the ratio, 2.7x, is close to the original's 105 M vs U-Net's 31 M).

    Args:
        in_channels: 1 or 3.
        num_classes: logits channels (background included).
        base_channels: width of the full-resolution CNN level.
        hidden_size: token width D (a multiple of ``num_heads``).
        num_layers: transformer layers.
        num_heads: attention heads.
        mlp_dim: hidden width of the transformer MLP.
        dropout: dropout on embeddings, attention and MLP, in [0, 1) (0.1 as the original).
        pos_grid: side of the stored positional-embedding grid (32 = a 512 x 512 input); other grids are
            interpolated from it.

    Returns:
        A module mapping ``(B, in_channels, H, W)`` to logits ``(B, num_classes, H, W)`` for any H, W (inputs are
        padded to a multiple of 16 and the logits cropped back).

    Raises:
        ConfigError: an option out of range, or ``hidden_size`` not divisible by ``num_heads``.
    """
    for name, value in (
        ("base_channels", base_channels),
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("mlp_dim", mlp_dim),
        ("pos_grid", pos_grid),
    ):
        _check_int(name, value, 1)
    if hidden_size % num_heads:
        raise ConfigError(
            f"Option hidden_size must be a multiple of num_heads={num_heads}; got {hidden_size}.",
            parameter="hidden_size",
            expected=f"multiple of {num_heads}",
            got=hidden_size,
        )
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
        raise ConfigError(
            f"Option dropout must be a probability in [0, 1); got {dropout!r}.",
            parameter="dropout",
            expected="[0, 1)",
            got=dropout,
        )
    channels = [base_channels * 2**i for i in range(_DEPTH + 1)]
    bottleneck = TransformerBottleneck(
        channels[-1], hidden_size, num_layers, num_heads, mlp_dim, float(dropout), pos_grid
    )
    net = TransUNet(in_channels, num_classes, channels, bottleneck, hidden_size)
    return PadToMultiple(net, in_channels, 2**_DEPTH)
