"""``deform_sample`` through ``F.grid_sample``: the fast path (model-spec §1.8 (c), (d)).

Same contract as ``reference.py`` (shapes in its module docstring). Backward keeps only ``x`` and the sampling
grid ``(B, h*N, w, 2)`` instead of the reference's 13·N copies of the input.

Design notes:

- The grid is laid out ``(B, h*N, w, 2)`` with grid row ``i*N + n`` holding point n of output row i (the spec
  suggests ``(B, h, w*N, 2)``; grid_sample is pointwise over the grid, so the values are the same). The result
  ``(B, C, h*N, w)`` is then exactly the tensor AKConv's ``(N, 1)``-stride-``(N, 1)`` conv consumes, and the
  ``(B, C, h, w, N)`` returned here is a free view of it: no rearrangement copy.
- Coordinates are computed with autocast disabled and in at least float32: in float16 the spacing at
  coordinate 256-512 is 0.25-0.5 px. Half-precision ``x`` is sampled in float32 and cast back.
- ``faithful_border=True``: on an axis where the coordinate is ``>= size-1`` or ``< 0``, padding_mode="border"
  puts weight 1 on the clamped pixel while the published code puts weight 2 there (both factors equal 1). On
  every other coordinate the two agree, and the 2-D weights are a product of per-axis weights, so the published
  result is exactly ``border_result * m_row * m_col`` with ``m = 2`` on such coordinates and 1 elsewhere.
  ``m`` is a constant (no gradient), which also matches the published gradient: there, ``p`` gets no gradient
  along an axis in that state.
- Gradient convention at the exact border: grid_sample treats a coordinate exactly at 0 or size-1 as outside
  (zero gradient along that axis), whereas the gather reference passes the one-sided difference at exactly 0.
  The two differ only on that measure-zero set.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from akmamba.ops.deform_sample.reference import check_sample_inputs

__all__ = ["deform_sample_grid", "sample_stacked"]


def _normalise(coord: torch.Tensor, size: int) -> torch.Tensor:
    """Pixels -> grid_sample's [-1, 1] for align_corners=True; a size-1 axis maps everything to pixel 0."""
    if size == 1:
        return coord * 0.0  # keeps the graph (zero gradient, as in the reference) without dividing by zero
    return coord * (2.0 / (size - 1)) - 1.0


def _border_factor(coord: torch.Tensor, size: int) -> torch.Tensor:
    """2 where the published code double-weights (coordinate >= size-1 or < 0), else 1."""
    return 1.0 + ((coord >= size - 1) | (coord < 0)).to(coord.dtype)


def sample_stacked(x: torch.Tensor, p: torch.Tensor, *, faithful_border: bool = False) -> torch.Tensor:
    """Bilinear samples in AKConv's stacked layout ``(B, C, h*N, w)``, row ``i*N + n`` = point n of row i.

    Args:
        x: ``(B, C, H, W)``.
        p: ``(B, 2N, h, w)`` positions in pixels, rows then columns.
        faithful_border: reproduce the published x2 border weighting (see the module docstring).

    Returns:
        ``(B, C, h*N, w)`` in ``x.dtype``.

    Raises:
        ShapeError: see ``check_sample_inputs``.
    """
    n = check_sample_inputs(x, p)
    batch, _, height, width = x.shape
    h, w = p.shape[-2:]
    with torch.autocast(x.device.type, enabled=False):
        dtype = torch.promote_types(torch.promote_types(x.dtype, p.dtype), torch.float32)
        p = p.to(dtype)
        rows = p[:, :n].transpose(1, 2)  # (B, h, N, w)
        cols = p[:, n:].transpose(1, 2)
        grid = torch.stack((_normalise(cols, width), _normalise(rows, height)), dim=-1)
        grid = grid.reshape(batch, h * n, w, 2)
        out = F.grid_sample(x.to(dtype), grid, mode="bilinear", padding_mode="border", align_corners=True)
        if faithful_border:
            factor = _border_factor(rows, height) * _border_factor(cols, width)
            # In place: grid_sample's backward does not need its output, and this saves a full-size copy.
            out = out.mul_(factor.reshape(batch, 1, h * n, w))
    return out.to(x.dtype)


def deform_sample_grid(x: torch.Tensor, p: torch.Tensor, *, faithful_border: bool = False) -> torch.Tensor:
    """Bilinear sampling of ``x`` at ``p`` through ``F.grid_sample`` (bilinear, align_corners=True).

    ``faithful_border=False`` (default): correct bilinear interpolation with border clamping
    (padding_mode="border"). ``faithful_border=True``: the published AKConv border weighting, exactly.

    Args:
        x: ``(B, C, H, W)``.
        p: ``(B, 2N, h, w)`` positions in pixels, rows then columns.
        faithful_border: see above.

    Returns:
        ``(B, C, h, w, N)`` in ``x.dtype``: a non-contiguous view of ``sample_stacked``'s result.

    Raises:
        ShapeError: see ``check_sample_inputs``.
    """
    stacked = sample_stacked(x, p, faithful_border=faithful_border)
    batch, channels, _, w = stacked.shape
    n = p.shape[1] // 2
    return stacked.view(batch, channels, -1, n, w).transpose(3, 4)
