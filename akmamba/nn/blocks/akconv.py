"""AKConv: convolution with an arbitrary number of learned, deformable sampling points (model-spec §1).

Zhang et al. 2023, "AKConv: Convolutional Kernel with Arbitrary Sampled Shapes and Arbitrary Number of
Parameters" (arXiv 2311.11587). As in YOLOv5 the unit is AKConv + BatchNorm + SiLU.

Two published quirks are flags here:

- ``centered``: the published code anchors the sampled shape at its top-left point (``p_0`` starts at 0 and
  every initial offset ``p_n`` is >= 0), so each layer shifts features by about half the shape's extent, +1 px
  down and right for N=9. ``centered=True`` subtracts ``(rows_used-1)//2`` and ``(base-1)//2`` from ``p_n``;
  a zero-offset N=9 AKConv is then an ordinary centred 3x3 conv.
- ``faithful_border``: the published bilinear weights sum to 2 per axis for a sample at or beyond the last
  row/column or before the first, so the last real row and column count twice and the corner four times.
  ``faithful_border=False`` is correct bilinear interpolation with replicate padding.

The original behaviour is ``centered=False, faithful_border=True``. The defaults (``centered=True,
faithful_border=False``) fix both, and the shipped models use the defaults: the original shifts features +1 px
per layer (N=9), which accumulates across a U-Net and against its skip features, and double-weights the last
row and column of real pixels (model-spec §4 items 1-2).

Other deliberate differences from the released code:

- The released ``p_conv`` backward hook meant to scale the offset gradients by 0.1 is a no-op (it returns None);
  it is not reproduced. Use an optimizer parameter group if a smaller offset learning rate is wanted.
- ``p_n`` is a non-persistent buffer and positions are computed in at least float32 with autocast disabled
  (the original computes them in the offset's dtype, fp16 under AMP).
- Sampling goes through ``akmamba.ops.deform_sample`` (grid_sample by default; ``sampler="reference"`` runs the
  published gathers).

The state dict has the released layout: ``p_conv.{weight,bias}``, ``conv.0.weight`` of shape
``(out, in, N, 1)`` (plus ``conv.0.bias`` when ``bias=True``) and ``conv.1.*`` for the BatchNorm.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from akmamba.errors import ConfigError, ShapeError
from akmamba.ops.deform_sample import SAMPLE_BACKENDS, deform_sample
from akmamba.registry import look_up_option

__all__ = ["AKConv", "initial_offsets"]


def initial_offsets(num_points: int, *, centered: bool = True) -> torch.Tensor:
    """The initial sampled shape ``p_n`` for N points (model-spec §1.2).

    ``base = round(sqrt(N))``, ``rows = N // base``, ``rem = N % base``: a row-major ``rows x base`` grid, then a
    partial row of ``rem`` points at row ``rows``. N=6 is 3 rows x 2 columns.

    Args:
        num_points: N >= 1.
        centered: subtract ``(rows_used-1)//2`` from the rows and ``(base-1)//2`` from the columns.

    Returns:
        ``(2N,)`` float32: the N row offsets, then the N column offsets.
    """
    base = round(math.sqrt(num_points))
    rows, rem = divmod(num_points, base)
    points = [(r, c) for r in range(rows) for c in range(base)] + [(rows, c) for c in range(rem)]
    if centered:
        rows_used = rows + (1 if rem else 0)
        dr, dc = (rows_used - 1) // 2, (base - 1) // 2
        points = [(r - dr, c - dc) for r, c in points]
    return torch.tensor([r for r, _ in points] + [c for _, c in points], dtype=torch.float32)


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"AKConv {name} must be an integer >= {minimum}; got {value!r}.",
            parameter=name,
            expected=f"int >= {minimum}",
            got=value,
        )
    return value


class AKConv(nn.Module):
    """AKConv + BatchNorm2d + SiLU with N learned sampling points; output size ``ceil(H/stride)``.

    ``p_conv`` (3x3, padding 1, stride s) predicts per-pixel offsets added to ``p_0 + p_n``, with
    ``p_0 = (i*s, j*s)``. ``x`` is sampled bilinearly at the N positions and the ``(B, C, h*N, w)`` stack of
    samples goes through a ``(N, 1)``-stride-``(N, 1)`` conv, i.e. ``out[o] = sum_{c,n} W[o, c, n] x_n[c]``.

    Initialisation: ``p_conv.weight`` is zero, as published. ``p_conv.bias`` keeps PyTorch's default uniform
    init for ``centered=False`` (as published: small constant offsets) and is zeroed for ``centered=True``, so
    that a fresh centred AKConv starts exactly as a centred conv with taps at ``p_n`` (as deformable-conv v2
    zero-initialises its offset branch).

    Args:
        in_channels: C of the input.
        out_channels: channels of the output.
        num_points: N, the number of sampling points (9 matches a 3x3 conv in cost).
        stride: s, applied through ``p_conv`` and the ``p_0`` grid.
        centered: centre ``p_n`` on the output pixel (default) or anchor it top-left as published.
        faithful_border: reproduce the published x2 border weighting; default False (see the module docstring).
        bias: give the main conv a bias (the original has none; BN follows).
        sampler: ``"grid_sample"`` (default) or ``"reference"`` (the published gathers; slow, memory hungry).

    Raises:
        ConfigError: a size is not a positive integer or ``sampler`` is unknown.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_points: int,
        stride: int = 1,
        *,
        centered: bool = True,
        faithful_border: bool = False,
        bias: bool = False,
        sampler: str = "grid_sample",
    ) -> None:
        super().__init__()
        self.in_channels = _check_int("in_channels", in_channels, 1)
        self.out_channels = _check_int("out_channels", out_channels, 1)
        self.num_points = _check_int("num_points", num_points, 1)
        self.stride = _check_int("stride", stride, 1)
        self.sampler = look_up_option(sampler, list(SAMPLE_BACKENDS), "sampler")
        self.centered = bool(centered)
        self.faithful_border = bool(faithful_border)

        n = num_points
        self.p_conv = nn.Conv2d(in_channels, 2 * n, 3, padding=1, stride=stride, bias=True)
        nn.init.zeros_(self.p_conv.weight)
        if self.centered and self.p_conv.bias is not None:  # built with bias=True above
            nn.init.zeros_(self.p_conv.bias)
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, (n, 1), stride=(n, 1), bias=bias),
            nn.BatchNorm2d(out_channels),
            nn.SiLU(),
        )
        self.p_n: torch.Tensor
        p_n = initial_offsets(n, centered=self.centered).view(1, 2 * n, 1, 1)
        self.register_buffer("p_n", p_n, persistent=False)

    def extra_repr(self) -> str:
        return (
            f"num_points={self.num_points}, stride={self.stride}, centered={self.centered}, "
            f"faithful_border={self.faithful_border}, sampler={self.sampler!r}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_channels, H, W)`` -> ``(B, out_channels, ceil(H/s), ceil(W/s))``.

        Raises:
            ShapeError: ``x`` is not a floating ``(B, in_channels, H, W)`` tensor.
        """
        self._check_input(x)
        positions = self.positions(self.p_conv(x))
        samples = deform_sample(x, positions, faithful_border=self.faithful_border, backend=self.sampler)
        return self.conv(self._stack(samples))

    def positions(self, offset: torch.Tensor) -> torch.Tensor:
        """Sampling positions ``p_0 + p_n + offset``, ``(B, 2N, h, w)`` in pixels, rows then columns.

        Computed with autocast disabled, in ``offset``'s dtype promoted to at least float32.
        """
        n, s = self.num_points, self.stride
        h, w = offset.shape[-2:]
        with torch.autocast(offset.device.type, enabled=False):
            dtype = torch.promote_types(offset.dtype, torch.float32)
            p_n = self.p_n.to(dtype)
            rows = torch.arange(h, device=offset.device, dtype=dtype).view(1, 1, h, 1) * s + p_n[:, :n]
            cols = torch.arange(w, device=offset.device, dtype=dtype).view(1, 1, 1, w) * s + p_n[:, n:]
            base = torch.cat((rows.expand(-1, -1, h, w), cols.expand(-1, -1, h, w)), dim=1)
            return offset.to(dtype) + base

    @staticmethod
    def _stack(samples: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w, N)`` -> ``(B, C, h*N, w)``, row ``i*N + n``; a free view for the grid_sample sampler."""
        batch, channels, h, w, n = samples.shape
        return samples.transpose(3, 4).reshape(batch, channels, h * n, w)

    def _check_input(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ShapeError(
                f"AKConv expects input of shape (B, {self.in_channels}, H, W); got {got}. "
                "Check the channel count of the previous layer.",
                parameter="x",
                expected=f"(B, {self.in_channels}, H, W)",
                got=got,
            )
        if not x.is_floating_point() or x.shape[2] < 1 or x.shape[3] < 1:
            raise ShapeError(
                f"AKConv expects a non-empty floating-point input; got dtype {x.dtype}, shape {tuple(x.shape)}.",
                parameter="x",
                expected="float tensor with H, W >= 1",
                got=(str(x.dtype), tuple(x.shape)),
            )
