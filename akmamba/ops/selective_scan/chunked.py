"""The ``torch`` backend: a two-level chunked selective scan in plain PyTorch, for CPU (and any device).

Algorithm (model-spec.md §3.2, with the fix-up replaced by a second pass; see below):

- The sequence is cut into segments of ``segment_len`` tokens. Each segment runs under
  ``torch.utils.checkpoint`` when gradients are needed, and the state (Bt, Dm, N) is carried from one segment
  to the next, so backward keeps only the inputs and one state per segment.
- Inside a segment the tokens are cut into nc chunks of T tokens (T ≈ sqrt(segment), a power of two in 16..128);
  the tail is padded with δ = 0, u = 0, which is inert (decay 1, no input).
- Pass 1 (T steps, each vectorised over all nc chunks) runs the recurrence from a zero state inside every chunk and
  keeps only the chunk-end states.
- Carry pass (nc steps on (Bt, Dm, N) tensors): the state entering chunk c is
  H_c = exp(A · Σ_{chunk c-1} δ) · H_{c-1} + local_end_{c-1}.
- Pass 2 (T steps) reruns the recurrence in every chunk from its true entering state and reduces y_t = Σ_n C_t h_t
  at each step.

Only numbers ≤ 1 multiply the state (for δ ≥ 0, A ≤ 0); nothing is divided by a cumulative decay, so there is no
overflow at large δ (model-spec.md §3.3, pitfall 2). The second pass replaces the spec's exp(cumsum) fix-up: it
needs no (Bt, Dm, N, L) cumulative-decay tensor and no stored local states, and measured 2-4x faster on CPU.
Each step's decay exp(δ_t A) and input δ_t u_t B_t are built from (Bt, nc, Dm) slices inside the loop, so they stay
cache-sized; with gradients on they are kept from pass 1 for pass 2 (autograd keeps them anyway).
The step axis is always leading and contiguous and is iterated with ``unbind`` (pitfall 4).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from akmamba.errors import ConfigError
from akmamba.ops.selective_scan.checks import check_scan_inputs

#: Tokens per checkpointed segment (the default of ``segment_len``).
SEGMENT_LEN = 1024
#: Bounds of the automatic chunk length.
MIN_CHUNK, MAX_CHUNK = 16, 128


def choose_chunk_len(length: int) -> int:
    """Chunk length T for ``length`` tokens: the power of two nearest sqrt(length), clamped to [16, 128]."""
    t = 2 ** round(math.log2(math.sqrt(max(length, 1))))
    return max(MIN_CHUNK, min(MAX_CHUNK, t))


def _step_slices(x: torch.Tensor, chunk: int) -> tuple[torch.Tensor, ...]:
    """(Bt, Dm, Lp) -> T tensors (Bt, nc, Dm): token t of every chunk."""
    bt, dm, length = x.shape
    return x.reshape(bt, dm, length // chunk, chunk).permute(3, 0, 2, 1).contiguous().unbind(0)


def _bc_slices(x: torch.Tensor, chunk: int) -> tuple[torch.Tensor, ...]:
    """B or C to T tensors that broadcast against a state viewed as (Bt, nc, G, Dm/G, N).

    (Dm, N) constant -> (1, Dm, N) repeated (G = 1); (Bt, G, N, Lp) -> (Bt, nc, G, 1, N) per step.
    """
    if x.dim() == 2:
        return (x.unsqueeze(0),) * chunk
    bt, groups, n, length = x.shape
    steps = x.reshape(bt, groups, n, length // chunk, chunk).permute(4, 0, 3, 1, 2).contiguous()
    return steps.unsqueeze(-2).unbind(0)


def _groups(x: torch.Tensor) -> int:
    return 1 if x.dim() == 2 else x.shape[1]


def _two_level_scan(
    h0: torch.Tensor,
    delta: torch.Tensor,
    du: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scan one padded segment.

    Args:
        h0: (Bt, Dm, N) entering state.
        delta: (Bt, Dm, Lp) processed step sizes, Lp a multiple of ``chunk``.
        du: (Bt, Dm, Lp) delta * u.
        A: (Dm, N).
        B, C: (Dm, N) or (Bt, G, N, Lp).
        chunk: T.

    Returns:
        y (Bt, Dm, Lp) without the D and z terms, and the final state (Bt, Dm, N).
    """
    bt, dm, length = delta.shape
    n, nc = A.shape[1], length // chunk
    gb, gc = _groups(B), _groups(C)
    delta_t, du_t, B_t, C_t = (
        _step_slices(delta, chunk),
        _step_slices(du, chunk),
        _bc_slices(B, chunk),
        _bc_slices(C, chunk),
    )

    def step_inputs(t: int) -> tuple[torch.Tensor, torch.Tensor]:
        decay = (delta_t[t].unsqueeze(-1) * A).exp_()  # (Bt, nc, Dm, N)
        drive = (du_t[t].view(bt, nc, gb, dm // gb, 1) * B_t[t]).view(bt, nc, dm, n)
        return decay, drive

    # with autograd recording, each step's inputs are kept for backward anyway: keep them for pass 2 too
    keep = torch.is_grad_enabled() and any(x.requires_grad for x in (h0, delta, du, A, B, C))
    kept = []
    h = None
    for t in range(chunk):  # pass 1: local recurrences from a zero state, all chunks at once
        decay, drive = step_inputs(t)
        if keep:
            kept.append((decay, drive))
            h = drive if h is None else torch.addcmul(drive, decay, h)
        else:
            h = drive if h is None else drive.addcmul_(decay, h)
    assert h is not None  # chunk >= 1
    chunk_decay = (delta.reshape(bt, dm, nc, chunk).sum(-1).transpose(1, 2).unsqueeze(-1) * A).exp()
    carry, starts = h0, []
    for decay_c, end_c in zip(chunk_decay.unbind(1), h.unbind(1), strict=True):  # carry pass over chunks
        starts.append(carry)
        carry = torch.addcmul(end_c, decay_c, carry)
    h = torch.stack(starts, dim=1)  # (Bt, nc, Dm, N): state entering each chunk
    ys = []
    for t in range(chunk):  # pass 2: true states, reduced against C at once
        decay, drive = kept[t] if keep else step_inputs(t)
        h = torch.addcmul(drive, decay, h) if keep else drive.addcmul_(decay, h)
        ys.append((h.view(bt, nc, gc, dm // gc, n) * C_t[t]).sum(-1))  # (Bt, nc, G, Dm/G)
    y = torch.stack(ys, dim=0).view(chunk, bt, nc, dm).permute(1, 3, 2, 0).reshape(bt, dm, length)
    return y, carry


def _scan_segment(
    h0: torch.Tensor,
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    chunk: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One segment, inputs already in the compute dtype: (y (Bt, Dm, Ls), state (Bt, Dm, N))."""
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    length = u.shape[-1]
    du = delta * u
    pad = -length % chunk
    if pad:  # δ = 0 and u = 0 after the softplus: decay 1, no input
        delta, du = F.pad(delta, (0, pad)), F.pad(du, (0, pad))
        B = B if B.dim() == 2 else F.pad(B, (0, pad))
        C = C if C.dim() == 2 else F.pad(C, (0, pad))
    y, state = _two_level_scan(h0, delta, du, A, B, C, chunk)
    if pad:
        y = y[..., :length]
    if D is not None:
        y = torch.addcmul(y, u, D[:, None])
    if z is not None:
        y = y * F.silu(z)
    return y, state


def _split(x: torch.Tensor | None, size: int, count: int) -> list[torch.Tensor | None]:
    """Split the token axis of a sequence tensor; constants and None repeat."""
    if x is None or x.dim() == 2:
        return [x] * count
    return list(x.split(size, dim=-1))


def _as(x: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    return None if x is None else x.to(dtype)


def selective_scan_chunked(
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
    *,
    segment_len: int = SEGMENT_LEN,
    chunk_len: int | None = None,
    checkpoint_segments: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Selective scan with the two-level chunked algorithm (the ``torch`` backend).

    Shapes and semantics are those of :func:`~akmamba.ops.selective_scan.reference.selective_scan_reference`.

    Args:
        u: (Bt, Dm, L).
        delta: (Bt, Dm, L).
        A: (Dm, N).
        B: (Dm, N), (Bt, N, L) or (Bt, G, N, L).
        C: same choices as B.
        D: (Dm,) or None.
        z: (Bt, Dm, L) or None.
        delta_bias: (Dm,) or None.
        delta_softplus: softplus on delta + delta_bias.
        return_last_state: also return the final state.
        segment_len: tokens per checkpointed segment (default 1024), rounded up to a multiple of the chunk.
        chunk_len: T; default :func:`choose_chunk_len` of min(L, segment_len).
        checkpoint_segments: recompute each segment in backward (when grad is enabled and an input requires it).

    Returns:
        y (Bt, Dm, L) in u's dtype, or ``(y, last_state)`` with last_state (Bt, Dm, N) in the compute dtype
        (float32, or float64 for float64 inputs). last_state carries gradients.

    Raises:
        ShapeError: bad inputs.
        ConfigError: segment_len or chunk_len below 1.
    """
    shapes = check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    for name, value in (("segment_len", segment_len), ("chunk_len", chunk_len)):
        if value is not None and value < 1:
            raise ConfigError(
                f"{name} must be at least 1; got {value}.", parameter=name, expected=">= 1", got=value
            )
    chunk = chunk_len or choose_chunk_len(min(shapes.length, segment_len))
    seg = -(-segment_len // chunk) * chunk
    count = -(-shapes.length // seg)
    dtype = shapes.compute_dtype
    inputs = (u, delta, A, B, C, D, z, delta_bias)
    recompute = (
        checkpoint_segments and torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in inputs)
    )
    with torch.autocast(device_type=u.device.type, enabled=False):
        u_c, delta_c, A_c = u.to(dtype), delta.to(dtype), A.to(dtype)
        B_c = B.to(dtype).unsqueeze(1) if B.dim() == 3 else B.to(dtype)  # (Bt, N, L) is one group
        C_c = C.to(dtype).unsqueeze(1) if C.dim() == 3 else C.to(dtype)
        D_c, bias_c = _as(D, dtype), _as(delta_bias, dtype)
        state = u_c.new_zeros(shapes.batch, shapes.dim, shapes.dstate)
        ys = []
        segments = zip(*(_split(x, seg, count) for x in (u_c, delta_c, B_c, C_c, _as(z, dtype))), strict=True)
        for u_s, delta_s, B_s, C_s, z_s in segments:
            args = (state, u_s, delta_s, A_c, B_s, C_s, D_c, z_s, bias_c, delta_softplus, chunk)
            if recompute:
                y_s, state = checkpoint(_scan_segment, *args, use_reentrant=False, preserve_rng_state=False)
            else:
                y_s, state = _scan_segment(*args)
            ys.append(y_s)
        y = ys[0] if len(ys) == 1 else torch.cat(ys, dim=-1)
    y = y.to(u.dtype)
    return (y, state) if return_last_state else y
