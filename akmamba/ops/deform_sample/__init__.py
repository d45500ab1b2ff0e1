"""Deformable bilinear sampling for AKConv: one dispatcher over a reference and a fast backend.

- ``reference``: the published AKConv gather algorithm, the specification (``reference.py``).
- ``grid_sample``: the same maths through ``F.grid_sample`` (``grid_sample.py``), the default.

Shapes: ``x (B, C, H, W)``, positions ``p (B, 2N, h, w)`` in pixels (rows then columns), result
``(B, C, h, w, N)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from akmamba.ops.deform_sample.grid_sample import deform_sample_grid
from akmamba.ops.deform_sample.reference import deform_sample_reference
from akmamba.registry import look_up_option

__all__ = ["SAMPLE_BACKENDS", "deform_sample", "deform_sample_grid", "deform_sample_reference"]

_BACKENDS: dict[str, Callable[..., torch.Tensor]] = {
    "grid_sample": deform_sample_grid,
    "reference": deform_sample_reference,
}

SAMPLE_BACKENDS: tuple[str, ...] = tuple(_BACKENDS)
"""Names accepted by ``deform_sample(backend=...)``; both run everywhere torch runs."""


def deform_sample(
    x: torch.Tensor, p: torch.Tensor, *, faithful_border: bool = False, backend: str = "grid_sample"
) -> torch.Tensor:
    """Sample ``x`` bilinearly at N positions per output pixel.

    Args:
        x: ``(B, C, H, W)`` feature map.
        p: ``(B, 2N, h, w)`` positions in pixels; channels ``0..N-1`` rows, ``N..2N-1`` columns.
        faithful_border: True reproduces AKConv's published border weighting (a coordinate ``>= size-1`` or
            ``< 0`` weighs the clamped pixel twice on that axis); False (default) is correct bilinear
            interpolation with replicate padding.
        backend: ``"grid_sample"`` (default, fast, lean backward) or ``"reference"`` (the published gathers).

    Returns:
        ``(B, C, h, w, N)`` in ``x.dtype``.

    Raises:
        ConfigError: unknown ``backend`` (with a did-you-mean guess).
        ShapeError: ``x`` or ``p`` of the wrong rank, batch, channel count, dtype or device.
    """
    look_up_option(backend, list(SAMPLE_BACKENDS), "backend")
    return _BACKENDS[backend](x, p, faithful_border=faithful_border)
