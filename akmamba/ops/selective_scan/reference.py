"""The selective scan as a plain per-token loop: the readable specification the other backends are tested against.

It is written for clarity, not speed (L Python steps). Semantics are mamba_ssm's ``selective_scan_ref``
(model-spec.md §2.4), except that float64 inputs are computed in float64 (mamba_ssm's reference is fp32-only).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import torch
import torch.nn.functional as F

from akmamba.ops.selective_scan.checks import check_scan_inputs


def _steps(x: torch.Tensor, dim: int, length: int) -> Iterable[torch.Tensor]:
    """B or C as one tensor per token that broadcasts against the state (Bt, Dm, N)."""
    if x.dim() == 2:  # (Dm, N): the same at every token
        return itertools.repeat(x, length)
    if x.dim() == 3:  # (Bt, N, L): shared by all channels
        return (x_t.unsqueeze(1) for x_t in x.unbind(-1))
    # (Bt, G, N, L): channel d reads group d // (Dm / G), i.e. "B G N L -> B (G H) N L"
    return (x_t.repeat_interleave(dim // x.shape[1], dim=1) for x_t in x.unbind(-1))


def selective_scan_reference(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Selective scan, one token at a time.

    For batch b, channel d, state n, with h_0 = 0 and t = 1..L::

        δ_t   = softplus(delta_t + delta_bias[d])        (bias and softplus optional)
        h_t   = exp(δ_t · A[d, n]) · h_{t-1} + δ_t · B_t[n] · u_t
        y_t   = Σ_n C_t[n] · h_t[n] + D[d] · u_t          (then · SiLU(z_t) when z is given)

    Args:
        u: (Bt, Dm, L) input.
        delta: (Bt, Dm, L) step sizes, in u's dtype.
        A: (Dm, N) real state matrix (diagonal per channel), normally negative.
        B: (Dm, N) constant, (Bt, N, L) shared by all channels, or (Bt, G, N, L) grouped (Dm divisible by G).
        C: same choices as B.
        D: (Dm,) skip weight, or None.
        z: (Bt, Dm, L) gate, or None.
        delta_bias: (Dm,) added to delta before the softplus, or None.
        delta_softplus: apply softplus (threshold 20) to delta.
        return_last_state: also return h_L.

    Returns:
        y of shape (Bt, Dm, L) in u's dtype; with ``return_last_state``, ``(y, h_L)`` with h_L of shape
        (Bt, Dm, N) in the compute dtype (float32, or float64 for float64 inputs).

    Raises:
        ShapeError: inputs of the wrong rank, shape, dtype or device.
    """
    shapes = check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    dtype = shapes.compute_dtype
    with torch.autocast(device_type=u.device.type, enabled=False):
        u_c, delta_c, A_c = u.to(dtype), delta.to(dtype), A.to(dtype)
        if delta_bias is not None:
            delta_c = delta_c + delta_bias.to(dtype)[:, None]
        if delta_softplus:
            delta_c = F.softplus(delta_c)
        h = u_c.new_zeros(shapes.batch, shapes.dim, shapes.dstate)  # (Bt, Dm, N)
        ys = []
        tokens = zip(
            u_c.unbind(-1),  # (Bt, Dm) each
            delta_c.unbind(-1),  # (Bt, Dm) each
            _steps(B.to(dtype), shapes.dim, shapes.length),
            _steps(C.to(dtype), shapes.dim, shapes.length),
            strict=False,  # itertools.repeat for constant B/C is bounded by length already
        )
        for u_t, delta_t, B_t, C_t in tokens:
            decay = torch.exp(delta_t[:, :, None] * A_c)  # (Bt, Dm, N), ZOH for A
            h = decay * h + (delta_t * u_t)[:, :, None] * B_t  # Euler for B
            ys.append((h * C_t).sum(-1))  # (Bt, Dm)
        y = torch.stack(ys, dim=-1)  # (Bt, Dm, L)
        if D is not None:
            y = y + D.to(dtype)[:, None] * u_c
        if z is not None:
            y = y * F.silu(z.to(dtype))
    y = y.to(u.dtype)
    return (y, h) if return_last_state else y
