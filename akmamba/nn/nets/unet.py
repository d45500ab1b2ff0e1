"""U-Net, its AKConv / Mamba-out ablations, and Akmamba-Net, all on one skeleton (paper Tables 1-3).

| name           | conv unit                  | skip block         |
|----------------|----------------------------|--------------------|
| unet           | Conv3x3 + BN + ReLU        | identity           |
| unet_akconv    | AKConv(N) + BN + SiLU      | identity           |
| unet_mambaout  | Conv3x3 + BN + ReLU        | Mamba-out (SS2D)   |
| akmamba        | AKConv(N) + BN + SiLU      | Mamba-out (SS2D)   |

The paper does not state widths, depth, AKConv's N or which skips carry Mamba-out; they are options here and the
defaults are documented (with the measurements behind them) in docs/model-core.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from akmamba.errors import ConfigError
from akmamba.nn.blocks.akconv import AKConv
from akmamba.nn.blocks.ss2d import MambaOut
from akmamba.nn.blocks.unet_parts import ConvFactory, SkipFactory, UNet2d, conv3x3_bn_relu
from akmamba.nn.build import MODELS
from akmamba.nn.nets.padding import PadToMultiple


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigError(f"Option {name} must be an integer {rng}; got {value!r}.", parameter=name,
                          expected=rng, got=value)
    return value


def _check_levels(name: str, levels: Sequence[int] | None, depth: int) -> tuple[int, ...]:
    if levels is None:
        return tuple(range(depth + 1))
    try:
        out = tuple(sorted({int(v) for v in levels}))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Option {name} must be a list of level indices; got {levels!r}.", parameter=name,
                          expected="list of int", got=levels) from exc
    bad = [v for v in out if not 0 <= v <= depth]
    if bad:
        raise ConfigError(
            f"Option {name} has levels {bad} outside 0..{depth} (level 0 is full resolution; depth={depth}).",
            parameter=name, expected=f"levels in 0..{depth}", got=list(levels),
        )
    return out


def _build(
    in_channels: int,
    num_classes: int,
    *,
    base_channels: int,
    depth: int,
    akconv: bool,
    num_points: int,
    akconv_levels: Sequence[int] | None,
    akconv_centered: bool,
    akconv_faithful_border: bool,
    mambaout_levels: Sequence[int] | None,
    mambaout_residual: bool,
    d_state: int,
    scan_backend: str,
    deep_supervision: int = 0,
) -> nn.Module:
    _check_int("base_channels", base_channels, 1)
    _check_int("depth", depth, 1, 6)
    chs = [base_channels * 2**i for i in range(depth + 1)]
    unit_for_level = _units(chs, akconv, num_points, _check_levels("akconv_levels", akconv_levels, depth),
                            akconv_centered, akconv_faithful_border)
    skip = _skips(_check_levels("mambaout_levels", mambaout_levels, depth - 1), mambaout_residual, d_state,
                  scan_backend)
    _check_int("deep_supervision", deep_supervision, 0, depth - 1)
    net = UNet2d(in_channels, num_classes, chs, unit=unit_for_level, skip=skip, deep_supervision=deep_supervision)
    return PadToMultiple(net, in_channels, 2**depth)


def _units(chs: list[int], akconv: bool, num_points: int, levels: tuple[int, ...], centered: bool,
           faithful_border: bool) -> ConvFactory:
    if not akconv:
        return conv3x3_bn_relu
    _check_int("num_points", num_points, 1)
    level_of = {c: i for i, c in enumerate(chs)}

    def unit(cin: int, cout: int) -> nn.Module:
        # A unit's level is that of its output width (encoder, bottleneck and decoder alike).
        if level_of.get(cout, -1) in levels:
            return AKConv(cin, cout, num_points, centered=centered, faithful_border=faithful_border)
        return conv3x3_bn_relu(cin, cout)

    return unit


def _skips(levels: tuple[int, ...], residual: bool, d_state: int, scan_backend: str) -> SkipFactory | None:
    if not levels:
        return None
    _check_int("d_state", d_state, 1, 256)

    def skip(level: int, channels: int) -> nn.Module:
        if level in levels:
            return MambaOut(channels, residual=residual, d_state=d_state, scan_backend=scan_backend)
        return nn.Identity()

    return skip



@MODELS.register("unet")
def build_unet(in_channels: int, num_classes: int, *, base_channels: int = 32, depth: int = 4,
               deep_supervision: int = 0) -> nn.Module:
    """Baseline U-Net: Conv3x3+BN+ReLU pairs, widths base*2**i, ``depth`` max-pool levels.

    Args:
        in_channels: 1 or 3.
        num_classes: logits channels.
        base_channels: width of level 0.
        depth: number of down-samplings (input is padded to a multiple of 2**depth).
        deep_supervision: extra training-only heads on decoder levels 1..k (see ``UNet2d``); 0: none.
    """
    return _build(in_channels, num_classes, base_channels=base_channels, depth=depth, akconv=False, num_points=9,
                  akconv_levels=(), akconv_centered=True, akconv_faithful_border=False, mambaout_levels=(),
                  mambaout_residual=True, d_state=16, scan_backend="auto", deep_supervision=deep_supervision)


@MODELS.register("unet_akconv")
def build_unet_akconv(
    in_channels: int,
    num_classes: int,
    *,
    base_channels: int = 32,
    depth: int = 4,
    num_points: int = 5,
    akconv_levels: Sequence[int] | None = None,
    akconv_centered: bool = True,
    akconv_faithful_border: bool = False,
    deep_supervision: int = 0,
) -> nn.Module:
    """U-Net with AKConv units (paper Table 3, "+AKConv").

    Args:
        in_channels: 1 or 3.
        num_classes: logits channels.
        base_channels: width of level 0.
        depth: number of down-samplings.
        num_points: AKConv sampling points N.
        akconv_levels: levels whose conv units are AKConv (others stay Conv3x3); level 0 is full
            resolution; None = every level.
        akconv_centered: centre the initial sampling shape (fix) instead of the original top-left anchoring.
        akconv_faithful_border: reproduce the original double weighting of the last row/column.
        deep_supervision: extra training-only heads on decoder levels 1..k (see ``UNet2d``); 0: none.
    """
    return _build(in_channels, num_classes, base_channels=base_channels, depth=depth, akconv=True,
                  num_points=num_points, akconv_levels=akconv_levels, akconv_centered=akconv_centered,
                  akconv_faithful_border=akconv_faithful_border, mambaout_levels=(), mambaout_residual=True,
                  d_state=16, scan_backend="auto", deep_supervision=deep_supervision)


@MODELS.register("unet_mambaout")
def build_unet_mambaout(
    in_channels: int,
    num_classes: int,
    *,
    base_channels: int = 32,
    depth: int = 4,
    mambaout_levels: Sequence[int] | None = None,
    mambaout_residual: bool = True,
    d_state: int = 16,
    scan_backend: str = "auto",
    deep_supervision: int = 0,
) -> nn.Module:
    """U-Net with Mamba-out (VMamba v0 SS2D) on the skip connections (paper Table 3, "+Mamba-out").

    Args:
        in_channels: 1 or 3.
        num_classes: logits channels.
        base_channels: width of level 0.
        depth: number of down-samplings.
        mambaout_levels: skip levels (0 = full resolution .. depth-1) that carry Mamba-out; None = every
            skip.
        mambaout_residual: pre-norm + residual wrapper (default) or the bare block of the paper's text.
        d_state: SSM state size N.
        scan_backend: selective-scan backend (``auto``, ``torch``, ``mamba_ssm``, ``reference``).
        deep_supervision: extra training-only heads on decoder levels 1..k (see ``UNet2d``); 0: none.
    """
    return _build(in_channels, num_classes, base_channels=base_channels, depth=depth, akconv=False, num_points=9,
                  akconv_levels=(), akconv_centered=True, akconv_faithful_border=False,
                  mambaout_levels=mambaout_levels, mambaout_residual=mambaout_residual, d_state=d_state,
                  scan_backend=scan_backend, deep_supervision=deep_supervision)


@MODELS.register("akmamba")
def build_akmamba(
    in_channels: int,
    num_classes: int,
    *,
    base_channels: int = 32,
    depth: int = 4,
    num_points: int = 5,
    akconv_levels: Sequence[int] | None = None,
    akconv_centered: bool = True,
    akconv_faithful_border: bool = False,
    mambaout_levels: Sequence[int] | None = None,
    mambaout_residual: bool = True,
    d_state: int = 16,
    scan_backend: str = "auto",
    deep_supervision: int = 0,
) -> nn.Module:
    """Akmamba-Net: a U-Net with AKConv units and Mamba-out on the skips (the paper's full model).

    Args:
        in_channels: 1 or 3.
        num_classes: logits channels.
        base_channels: width of level 0.
        depth: number of down-samplings.
        num_points: AKConv sampling points N.
        akconv_levels: levels whose conv units are AKConv; None = every level.
        akconv_centered: centre the initial sampling shape (fix; default) or the original top-left anchoring.
        akconv_faithful_border: reproduce the original double weighting of the last row/column.
        mambaout_levels: skip levels that carry Mamba-out (0 = full resolution); None = every skip.
        mambaout_residual: pre-norm + residual wrapper (default) or the bare block.
        d_state: SSM state size N.
        scan_backend: selective-scan backend.
        deep_supervision: extra training-only heads on decoder levels 1..k (see ``UNet2d``); 0: none.
    """
    return _build(in_channels, num_classes, base_channels=base_channels, depth=depth, akconv=True,
                  num_points=num_points, akconv_levels=akconv_levels, akconv_centered=akconv_centered,
                  akconv_faithful_border=akconv_faithful_border, mambaout_levels=mambaout_levels,
                  mambaout_residual=mambaout_residual, d_state=d_state, scan_backend=scan_backend,
                  deep_supervision=deep_supervision)
