"""AKConv's bilinear gather as published: the specification of ``deform_sample`` (model-spec §1.4).

Written for clarity, not for speed or memory. Like the original it builds four expanded int64 index tensors and
four gathered copies of shape ``(B, C, h, w, N)``, so backward keeps about 13·N copies of the input alive.
``grid_sample.py`` is the fast path; ``tests/ops/test_deform_sample.py`` compares the two.

Notation used in every docstring of this package:

- ``x``: ``(B, C, H, W)`` feature map.
- ``p``: ``(B, 2N, h, w)`` sampling positions in pixels; channels ``0..N-1`` are rows (y), ``N..2N-1`` columns (x).
- result ``x_offset``: ``(B, C, h, w, N)``; ``x_offset[b, c, i, j, n]`` is ``x[b, c]`` sampled at
  ``(p[b, n, i, j], p[b, N + n, i, j])``.
"""

from __future__ import annotations

import torch

from akmamba.errors import ShapeError

__all__ = ["check_sample_inputs", "deform_sample_reference"]


def _shape_error(name: str, expected: str, got: object, what: str) -> ShapeError:
    return ShapeError(
        f"deform_sample expects {name} of shape {expected}; got {got}. {what}",
        parameter=name,
        expected=expected,
        got=got,
    )


def check_sample_inputs(x: torch.Tensor, p: torch.Tensor) -> int:
    """Check ``x`` and ``p`` against the shapes in the module docstring and return N.

    Raises:
        ShapeError: wrong type, rank, batch size, odd channel count of ``p``, empty image, non-float dtype or
            different devices.
    """
    for name, t in (("x", x), ("p", p)):
        if not isinstance(t, torch.Tensor):
            raise _shape_error(name, "a torch.Tensor", type(t).__name__, "Pass tensors, not arrays.")
        if t.dim() != 4:
            shape = "(B, C, H, W)" if name == "x" else "(B, 2N, h, w)"
            raise _shape_error(name, shape, tuple(t.shape), "Add the batch axis or drop extra ones.")
        if not t.is_floating_point():
            raise _shape_error(name, "a floating-point tensor", str(t.dtype), "Cast it to float32 first.")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise _shape_error("x", "(B, C, H, W) with H, W >= 1", tuple(x.shape), "The image is empty.")
    if p.shape[1] < 2 or p.shape[1] % 2 or p.shape[0] != x.shape[0]:
        raise _shape_error(
            "p",
            f"({x.shape[0]}, 2N, h, w) with N >= 1",
            tuple(p.shape),
            "p holds N row coordinates then N column coordinates per output pixel, for the same batch as x.",
        )
    if p.device != x.device:
        raise _shape_error("p", f"a tensor on {x.device}", str(p.device), "Move x and p to the same device.")
    return p.shape[1] // 2


def _axis(
    coord: torch.Tensor, size: int, faithful_border: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Neighbour indices and per-axis factors along one axis.

    Args:
        coord: ``(B, h, w, N)`` positions in pixels along this axis.
        size: H for rows, W for columns.
        faithful_border: reproduce the published clamping (factors both 1 at or beyond the border).

    Returns:
        ``(q_lo, q_hi, f_lo, f_hi)``: int64 indices and the factors weighting them.
    """
    if faithful_border:
        # As published: floor on the raw coordinate, clamp the indices, then clamp p. When p >= size-1 or p < 0
        # both indices clamp to the same pixel and both factors become 1, so this axis weighs that pixel twice.
        q_lo = torch.floor(coord.detach())
        q_hi = q_lo + 1
        q_lo = q_lo.clamp(0, size - 1)
        q_hi = q_hi.clamp(0, size - 1)
        coord = coord.clamp(0, size - 1)
        f_lo = 1 + (q_lo - coord)
        f_hi = 1 - (q_hi - coord)
    else:
        # Correct bilinear with replicate padding: clamp p first, keep q_lo <= size-2 so q_hi stays a real
        # neighbour; the two factors always sum to 1 (also for size == 1, where q_lo == q_hi == 0 and f_hi == 0).
        coord = coord.clamp(0, size - 1)
        q_lo = torch.floor(coord.detach()).clamp(max=max(size - 2, 0))
        q_hi = (q_lo + 1).clamp(max=size - 1)
        f_hi = coord - q_lo
        f_lo = 1 - f_hi
    return q_lo.long(), q_hi.long(), f_lo, f_hi


def _gather(x_flat: torch.Tensor, q_row: torch.Tensor, q_col: torch.Tensor, width: int) -> torch.Tensor:
    """``x_flat (B, C, H*W)`` at integer ``(q_row, q_col)`` ``(B, h, w, N)`` -> ``(B, C, h, w, N)``."""
    batch, channels = x_flat.shape[:2]
    index = q_row * width + q_col
    # The published code expands the index over C and makes it contiguous: one int64 per gathered value.
    index = index.unsqueeze(1).expand(-1, channels, -1, -1, -1).contiguous().view(batch, channels, -1)
    return x_flat.gather(-1, index).view(batch, channels, *q_row.shape[1:])


def deform_sample_reference(x: torch.Tensor, p: torch.Tensor, *, faithful_border: bool = False) -> torch.Tensor:
    """Bilinear sampling of ``x`` at ``p`` by four gathers (AKConv ``_get_x_q`` + weights), the specification.

    With ``faithful_border=True`` it reproduces the published behaviour exactly, including the border quirk:
    on each axis a coordinate ``>= size-1`` or ``< 0`` is clamped and both neighbour factors are 1, so the
    weights sum to 2 on that axis (the last row/column counts twice, the corner four times). With
    ``faithful_border=False`` it is correct bilinear interpolation with replicate (clamp) padding.

    Gradients reach ``p`` only through the weights; the integer neighbours are computed on ``p.detach()``.

    Args:
        x: ``(B, C, H, W)``.
        p: ``(B, 2N, h, w)`` positions in pixels, rows then columns. Computed in at least float32.
        faithful_border: see above; default False.

    Returns:
        ``(B, C, h, w, N)`` in ``x.dtype``.

    Raises:
        ShapeError: see ``check_sample_inputs``.
    """
    n = check_sample_inputs(x, p)
    height, width = x.shape[-2:]
    with torch.autocast(x.device.type, enabled=False):
        coords = p.to(torch.promote_types(p.dtype, torch.float32)).permute(0, 2, 3, 1)  # (B, h, w, 2N)
        r_lo, r_hi, fr_lo, fr_hi = _axis(coords[..., :n], height, faithful_border)
        c_lo, c_hi, fc_lo, fc_hi = _axis(coords[..., n:], width, faithful_border)
        x_flat = x.flatten(2)
        corners = (
            (r_lo, c_lo, fr_lo * fc_lo),  # left-top
            (r_hi, c_hi, fr_hi * fc_hi),  # right-bottom
            (r_lo, c_hi, fr_lo * fc_hi),  # left-bottom in the published naming (row lo, col hi)
            (r_hi, c_lo, fr_hi * fc_lo),
        )
        out = torch.zeros((), dtype=x.dtype, device=x.device)
        for q_row, q_col, weight in corners:
            out = out + weight.to(x.dtype).unsqueeze(1) * _gather(x_flat, q_row, q_col, width)
    return out
