"""The ``fused_numba`` four-direction scan: SS2D's scan stage for CPU inference, compiled with Numba.

:func:`cross_selective_scan_numba` computes what :func:`~akmamba.ops.selective_scan.cross.cross_selective_scan`
specifies (cross_scan -> selective scan -> cross_merge) in one pass that reads x, delta, B and C in place in the
four directions' orders and merges the four outputs as it goes; no flipped or transposed copy of anything is
made. It is the CPU counterpart of the ``fused_triton`` kernel (docs/triton-cross-scan.md), forward only.

Layout. The kernel reads every input through element strides, with one requirement: the channel axis (E of x and
delta, N of B and C) must be contiguous, so that the 16 channels of a pixel are one load. SS2D's fused path passes
exactly that (pixel-major delta, B and C, and a channels-last x), so nothing is copied; other layouts are copied
once into a channels-last one. y is computed pixel-major and returned as a channels-last (B, E, H, W) tensor.

Kernels live in ``_numba_cross_kernels.py``, imported on first use and compiled with ``cache=True`` (the first
call of a process compiles, about 6 s per input dtype on a 2-core EPYC, or loads the cached machine code in about
0.5 s). float32 inputs are computed in float32, float64 in float64, float16 and bfloat16 are upcast to float32 and
y is cast back. Forward only: it raises :class:`~akmamba.errors.BackendUnavailableError` when autograd would need a
gradient.

Parallelism: one task per (batch element, block of 16 channels) runs the four directions and merges without
atomics. Where that makes fewer tasks than Numba has threads (batch 1 and E = 32 gives two tasks), the directions
are split into 2 or 4 groups with an output slab each, summed afterwards (:func:`direction_groups`).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Any

import torch

from akmamba.errors import BackendUnavailableError, ConfigError, ShapeError
from akmamba.ops.selective_scan.numba_scan import import_kernel_module, needs_grad
from akmamba.ops.selective_scan.usage import record_scan

#: Name of this path in ``cross_selective_scan(backend=...)``.
FUSED_NUMBA = "fused_numba"
#: Message of the error raised when gradients would be needed.
FORWARD_ONLY_MESSAGE = (
    f"{FUSED_NUMBA} cross-scan is forward-only: use the torch backend for training, or wrap inference in "
    "torch.no_grad()/inference_mode"
)
#: Channels per task (the kernels' vector lanes; _numba_kernels.LANES, repeated here to keep Numba unimported).
LANES = 16
#: The largest dt rank R for which SS2D lets the kernel apply dt_proj (``dt_proj_weight``): R multiply-adds per
#: token and 16 channels against reading 16 precomputed deltas and the einsum that writes them; measured faster
#: at R = 1, 2, 4, 8 (E = 32 ... 256), slower at R = 16 (E = 512).
MAX_FOLDED_RANK = 8
#: Tokens per tile: the block's gathered tile (x, δ, δu, y of 16 channels; B and C) stays in L1.
TILE = 64


@functools.lru_cache(maxsize=1)
def _import_kernels() -> tuple[ModuleType | None, str]:
    """Import Numba and the kernels once: (module, "") or (None, why not)."""
    return import_kernel_module("_numba_cross_kernels")


def numba_cross_scan_available(device: torch.device | str | None = None) -> tuple[bool, str]:
    """Whether the fused Numba kernel can run on tensors on ``device`` (None: on this machine), and why not.

    The device is checked first, so asking about CUDA tensors never imports Numba.
    """
    dev = torch.device(device) if isinstance(device, str) else device
    if dev is not None and dev.type != "cpu":
        return False, f"needs CPU tensors; the inputs are on {dev.type!r} ({FUSED_NUMBA} is the CPU inference kernel)"
    module, reason = _import_kernels()
    return module is not None, reason or "fused four-direction Numba kernel (CPU, forward only: inference)"


def _flat(t: torch.Tensor, dtype: torch.dtype, channel_dim: int) -> tuple[Any, list[int]]:
    """``t`` in ``dtype`` as a flat NumPy buffer and its element strides, with ``channel_dim`` contiguous.

    No copy when t already has that dtype and a unit channel stride (any other strides, including zero strides
    of broadcast axes); otherwise one copy with the channel axis moved last.
    """
    t = t.detach()
    if t.dtype != dtype:
        t = t.to(dtype)
    if t.stride(channel_dim) != 1 and t.shape[channel_dim] > 1:
        t = t.movedim(channel_dim, -1).contiguous().movedim(-1, channel_dim)
    span = 1 + sum((size - 1) * stride for size, stride in zip(t.shape, t.stride(), strict=True))
    flat = torch.as_strided(t, (span,), (1,), t.storage_offset())
    return flat.numpy(), list(t.stride())


def direction_groups(batch: int, channels: int, threads: int) -> int:
    """How many groups to split the four directions into (1, 2 or 4): the fewest that give every thread a task.

    Args:
        batch: B.
        channels: E.
        threads: Numba's thread count.
    """
    tasks = batch * -(-channels // LANES)
    for groups in (1, 2):
        if tasks * groups >= threads:
            return groups
    return 4


def _check_low_rank(x: torch.Tensor, dts: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Check the low-rank delta (B, 4, R, H, W) and the dt projection (4, E, R); return a zero-stride stand-in of
    the full delta's shape (B, 4, E, H, W) for the common input check."""
    for name, t in (("dts", dts), ("dt_proj_weight", weight)):
        if not isinstance(t, torch.Tensor):
            raise ShapeError(
                f"cross_selective_scan_numba: {name} must be a torch.Tensor; got {type(t).__name__}.",
                parameter=name,
                expected="torch.Tensor",
                got=type(t).__name__,
            )
    if x.dim() != 4 or weight.dim() != 3 or weight.shape[:2] != (4, x.shape[1]):
        raise ShapeError(
            f"cross_selective_scan_numba: dt_proj_weight must have shape (4, E, R) with E = x.shape[1]; got "
            f"{tuple(weight.shape)} for x of shape {tuple(x.shape)}.",
            parameter="dt_proj_weight",
            expected="(4, E, R)",
            got=tuple(weight.shape),
        )
    b, e, h, w = x.shape
    expected = (b, 4, weight.shape[2], h, w)
    if tuple(dts.shape) != expected:
        raise ShapeError(
            f"cross_selective_scan_numba: with dt_proj_weight, dts is the low-rank delta (B, 4, R, H, W) = "
            f"{expected}; got {tuple(dts.shape)}.",
            parameter="dts",
            expected=expected,
            got=tuple(dts.shape),
        )
    return dts.new_zeros(()).expand(b, 4, e, h, w)


def cross_selective_scan_numba(
    x: torch.Tensor,
    dts: torch.Tensor,
    As: torch.Tensor,
    Bs: torch.Tensor,
    Cs: torch.Tensor,
    Ds: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    *,
    dt_proj_weight: torch.Tensor | None = None,
    groups: int | None = None,
) -> torch.Tensor:
    """SS2D's four-direction selective scan and merge with the fused Numba kernel (CPU, forward only).

    Shapes and semantics are those of :func:`~akmamba.ops.selective_scan.cross.cross_selective_scan`.

    Args:
        x: (B, E, H, W); fastest channels-last (channel stride 1), other layouts are copied once.
        dts: (B, 4, E, H, W) delta of each direction in pixel order; fastest with the E axis contiguous
            (SS2D's pixel-major (B, H, W, 4, E) tensor, permuted). With ``dt_proj_weight``: the low-rank factor
            (B, 4, R, H, W) instead (SS2D's x_proj output before dt_proj), fastest with R contiguous.
        As: (4E, N).
        Bs: (B, 4, N, H, W); fastest with the N axis contiguous (SS2D's pixel-major x_proj output, permuted).
        Cs: (B, 4, N, H, W); as Bs.
        Ds: (4E,) or None.
        delta_bias: (4E,) or None.
        delta_softplus: apply softplus (threshold 20) to delta + delta_bias.
        dt_proj_weight: (4, E, R) or None. Given, delta is computed in the kernel as
            ``delta[:, k, e] = dt_proj_weight[k, e] . dts[:, k]`` at every pixel (SS2D's dt_proj), so the
            (B, 4, E, H, W) delta is never stored.
        groups: split the four directions into 1, 2 or 4 parallel groups (their outputs summed afterwards); None
            (default): :func:`direction_groups` for Numba's thread count.

    Returns:
        y (B, E, H, W) in x's dtype, channels-last in memory; no gradient.

    Raises:
        ShapeError: bad inputs (with ``dt_proj_weight``, delta is checked as the (B, 4, E, H, W) it stands for).
        ConfigError: ``groups`` not None, 1, 2 or 4.
        BackendUnavailableError: CUDA tensors, Numba missing, or gradients needed (the message says what to do).
    """
    if groups not in (None, 1, 2, 4):
        raise ConfigError(
            f"cross_selective_scan_numba: groups must be None, 1, 2 or 4; got {groups!r}.",
            parameter="groups",
            expected=(None, 1, 2, 4),
            got=groups,
        )
    # cross.py imports this module for its dispatch, so its input check is imported here, at call time
    from akmamba.ops.selective_scan.cross import check_cross_scan_inputs

    full_dts = dts if dt_proj_weight is None else _check_low_rank(x, dts, dt_proj_weight)
    shapes = check_cross_scan_inputs(x, full_dts, As, Bs, Cs, Ds, delta_bias)
    if needs_grad(x, dts, As, Bs, Cs, Ds, delta_bias, dt_proj_weight):
        raise BackendUnavailableError(
            FORWARD_ONLY_MESSAGE,
            parameter="backend",
            got=FUSED_NUMBA,
            hint="use the torch backend for training, or run inference under torch.no_grad()/torch.inference_mode()",
        )
    ok, reason = numba_cross_scan_available(x.device)
    kernels, _ = _import_kernels()
    if not ok or kernels is None:
        raise BackendUnavailableError(
            f"cross_selective_scan backend {FUSED_NUMBA!r} cannot run here: {reason}.",
            parameter="backend",
            got=FUSED_NUMBA,
            hint=reason,
        )
    record_scan(FUSED_NUMBA)
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    b, e, h, w = shapes.batch, shapes.channels, shapes.height, shapes.width
    x_buf, (sxb, _, sxh, sxw) = _flat(x, dtype, 1)
    dt_buf, (sdb, sdk, _, sdh, sdw) = _flat(dts, dtype, 2)
    b_buf, (sbb, sbk, _, sbh, sbw) = _flat(Bs, dtype, 2)
    c_buf, (scb, sck, _, sch, scw) = _flat(Cs, dtype, 2)
    strides = torch.tensor(
        [[sxb, 0, sxh, sxw], [sdb, sdk, sdh, sdw], [sbb, sbk, sbh, sbw], [scb, sck, sch, scw]], dtype=torch.int64
    )
    zeros = torch.zeros(4 * e, dtype=dtype)
    dtw = torch.zeros(1, 1, dtype=dtype) if dt_proj_weight is None else dt_proj_weight.reshape(4 * e, -1)
    if groups is None:
        groups = direction_groups(b, e, kernels.num_threads())
    y = torch.empty(groups, b, h * w, e, dtype=dtype)
    kernels.cross_scan_forward(
        x_buf, dt_buf, dtw.detach().to(dtype).contiguous().numpy(), b_buf, c_buf, strides.numpy(),
        As.detach().to(dtype).contiguous().numpy(),
        (Ds if Ds is not None else zeros).detach().to(dtype).contiguous().numpy(),
        (delta_bias if delta_bias is not None else zeros).detach().to(dtype).contiguous().numpy(),
        bool(delta_softplus), y.numpy(), h, w, TILE,
    )  # fmt: skip
    merged = y[0] if groups == 1 else y.sum(0)
    return merged.view(b, h, w, e).permute(0, 3, 1, 2).to(x.dtype)


__all__ = [
    "FORWARD_ONLY_MESSAGE",
    "FUSED_NUMBA",
    "MAX_FOLDED_RANK",
    "cross_selective_scan_numba",
    "direction_groups",
    "numba_cross_scan_available",
]
