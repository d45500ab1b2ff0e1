"""The ``triton`` backend: a selective scan written in Triton, forward and backward (model-spec.md §2.4).

Same signature and semantics as the other backends. Inputs u, delta, z and sequence-shaped B/C may be float32,
float16 or bfloat16; they are read in their dtype and everything is computed in float32 (the state is float32).
A, D, delta_bias and constant B/C may be float32 or u's dtype. y, du, ddelta, dz and dB/dC come back in the
dtype of their inputs; last_state is float32 and carries no gradient (as in mamba_ssm).

Algorithm (kernels in ``_triton_kernels.py``, imported on first use so that CPU-only machines never import
Triton): one program per (block of channels, batch) holds the state in registers and walks the sequence in tiles
of ``T`` tokens; inside a tile the recurrence is an associative scan over tokens, and the tile's entering state is
applied with the cumulative decay (a product of factors <= 1: nothing is divided, model-spec.md §3.3).
Backward is by recomputation: the forward saves the state entering every tile ((Bt, Dm, ceil(L/T), NP) in fp32,
NP/T of u's element count: 1/2 for N=16 and T=32, 1/4 with T=64), the backward walks the tiles from last to first,
recomputes each tile's states from its saved entering state and runs the adjoint recurrence as a reverse scan.
The forward kernel puts tokens on the leading tile axis, the backward kernel on the last (each was the faster
layout in the sweep); tile length, channels per program and warps come from ``_launch_config``.
Reductions over L (dA, dD, d delta_bias, constant dB/dC) are per-program sums finished over the batch in PyTorch;
grouped dB/dC are summed over a group's channels with fp32 atomics (or plain stores when one program covers a
whole group), so dB/dC of sequence-shaped B/C are not bit-for-bit deterministic from run to run.

Priority for ``backend="auto"`` is :data:`TRITON_PRIORITY`, set from the measurement in
docs/benchmarks/scan_cuda_triton.md: above ``torch`` (50) always, above ``mamba_ssm`` (100) only where the Triton
kernel measured at least as fast.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from types import ModuleType
from typing import Any

import torch

from akmamba.ops.selective_scan.checks import check_kernel_inputs, check_scan_inputs

#: dtypes the kernels accept for u (and delta, z, sequence-shaped B/C).
TRITON_DTYPES = frozenset({torch.float32, torch.float16, torch.bfloat16})
#: The largest state size N (the state tile lives in registers).
MAX_DSTATE = 256
INSTALL_HINT = "pip install triton (it ships with the CUDA builds of torch)"

#: Speed relative to mamba_ssm measured on an H200 (docs/benchmarks/scan_cuda_triton.md, 2026-11-26): mamba_ssm's
#: time divided by this backend's, (forward, forward+backward), the worst of the benchmark's three SS2D-like shapes
#: (fp32, N 16, G 4). Below 1 means slower: this backend took 1.14-1.88x mamba_ssm's forward time and 1.75-2.05x its
#: forward+backward time. Re-measure with benchmarks/bench_scan.py --device cuda after changing the kernels.
MEASURED_SPEED_VS_MAMBA_SSM: tuple[float | None, float | None] = (0.53, 0.49)
#: ``auto`` priority, derived from the measurement: 110 (above mamba_ssm's 100) once both ratios above are >= 1,
#: else 75 (below mamba_ssm, above torch's 50), so ``auto`` uses it on CUDA only when mamba_ssm is missing.
TRITON_PRIORITY = 110 if min(r or 0.0 for r in MEASURED_SPEED_VS_MAMBA_SSM) >= 1.0 else 75

#: Channels (Bt * Dm) below which a launch counts as small: few programs, so longer tiles and more warps win.
SMALL_LAUNCH = 2048
#: Upper bound of NP * T (states x tokens of one channel's tile); N > 16 gets shorter tiles.
MAX_STATE_TOKENS = 2048
#: Launch settings forced by tests and benchmark sweeps: keys "tile", "fwd_block_d", "bwd_block_d", "fwd_warps",
#: "bwd_warps", "bwd_token_major" (1: the token-major backward kernel). Empty in normal use (see _launch_config).
LAUNCH_OVERRIDES: dict[str, int] = {}


@functools.lru_cache(maxsize=1)
def _import_kernels() -> tuple[ModuleType | None, str]:
    """Import Triton and the kernels once: (module, "") or (None, why not)."""
    if importlib.util.find_spec("triton") is None:
        return None, f"triton not installed: {INSTALL_HINT}"
    try:
        from akmamba.ops.selective_scan import _triton_kernels
    except Exception as exc:  # noqa: BLE001  (a broken triton install can raise anything at import)
        return None, f"triton is installed but cannot be imported ({type(exc).__name__}: {exc})"
    return _triton_kernels, ""


def triton_available(device: torch.device | None = None) -> tuple[bool, str]:
    """Whether the Triton kernels can run on ``device`` (None: on this machine), and why not.

    Triton is looked up without being imported; it is imported only once CUDA and the device check pass.
    """
    if importlib.util.find_spec("triton") is None:
        return False, f"triton not installed: {INSTALL_HINT}"
    if not torch.cuda.is_available():
        return False, "needs CUDA tensors; CUDA is not available on this machine"
    if device is not None and device.type != "cuda":
        return False, f"needs CUDA tensors; the inputs are on {device.type!r} (move them with .cuda())"
    module, reason = _import_kernels()
    return module is not None, reason or "Triton kernel (forward and backward)"


# -- launch configuration -------------------------------------------------------------------------------------------


def _pow2_floor(x: int) -> int:
    return 1 << (max(1, x).bit_length() - 1)


def _launch_config(batch: int, dim: int, np_: int, cpg: int, training: bool) -> dict[str, int]:
    """Tile length, channels per program and warps, from a sweep on an H200 (docs/benchmarks/scan_cuda_triton.md).

    Bt*Dm >= SMALL_LAUNCH (e.g. 8 x 256): T = 32, 4 channels per forward program, 4 warps. Fewer channels: T = 64
    with 8 warps when the backward follows, T = 128 with 2 channels and 8 warps for a forward alone. The backward
    always runs one channel per program. Values in LAUNCH_OVERRIDES win.
    """
    small = batch * dim < SMALL_LAUNCH
    t = (64 if training else 128) if small else 32
    while np_ * t > MAX_STATE_TOKENS and t > 16:
        t //= 2
    fwd_bd = (2 if t >= 128 else 1) if small else 4
    while fwd_bd > 1 and fwd_bd * np_ * t > 2 * MAX_STATE_TOKENS:
        fwd_bd //= 2
    warps = 8 if t >= 64 or np_ * t >= MAX_STATE_TOKENS else 4
    cfg = {"tile": t, "fwd_block_d": fwd_bd, "fwd_warps": warps, "bwd_block_d": 1, "bwd_warps": warps}
    cfg.update(LAUNCH_OVERRIDES)
    for key in ("fwd_block_d", "bwd_block_d"):  # a power of two that divides every group's channel count
        cfg[key] = max(1, min(_pow2_floor(cfg[key]), cpg & -cpg))
    return cfg


def _channels_per_group(dim: int, groups: int | None) -> int:
    return dim if groups is None else dim // groups


def triton_next_pow2(x: int) -> int:
    return 1 << (max(1, x) - 1).bit_length()


# -- forward / backward launches ------------------------------------------------------------------------------------


def _dummy(ref: torch.Tensor) -> torch.Tensor:
    return ref.new_empty(1)


def _as_grouped(x: torch.Tensor) -> torch.Tensor:
    """(Dm, N) stays; (Bt, N, L) -> (Bt, 1, N, L); contiguous."""
    return (x.unsqueeze(1) if x.dim() == 3 else x).contiguous()


_Opt = torch.Tensor | None
#: (u, delta, A, B, C, D, z, delta_bias) as the kernels take them (see :func:`_prepare`).
Prepared = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, _Opt, _Opt, _Opt]
#: (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias); the last three are None where the input was.
ScanGrads = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, _Opt, _Opt, _Opt]


def _prepare(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
) -> Prepared:
    """Contiguous inputs, A/D/delta_bias in float32, B/C grouped (``(Dm, N)`` constant ones in float32)."""
    f32 = torch.float32
    B_, C_ = _as_grouped(B), _as_grouped(C)
    if B_.dim() == 2:
        B_ = B_.to(f32)
    if C_.dim() == 2:
        C_ = C_.to(f32)
    return (
        u.contiguous(),
        delta.contiguous(),
        A.to(f32).contiguous(),
        B_,
        C_,
        None if D is None else D.to(f32).contiguous(),
        None if z is None else z.contiguous(),
        None if delta_bias is None else delta_bias.to(f32).contiguous(),
    )


def _geometry(u: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, training: bool) -> dict[str, Any]:
    bt, dm, length = u.shape
    n = A.shape[1]
    np_ = triton_next_pow2(n)
    b_groups = None if B.dim() == 2 else B.shape[1]
    c_groups = None if C.dim() == 2 else C.shape[1]
    cpg = math.gcd(_channels_per_group(dm, b_groups), _channels_per_group(dm, c_groups))
    cfg = _launch_config(bt, dm, np_, cpg, training)
    t = min(cfg["tile"], max(16, triton_next_pow2(length)))
    return {
        "bt": bt, "dm": dm, "L": length, "N": n, "NP": np_, "T": t, "n_tiles": -(-length // t),
        "b_groups": b_groups, "c_groups": c_groups, "cfg": cfg,
    }  # fmt: skip


def scan_forward(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    save_states: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, dict[str, Any]]:
    """Launch the forward kernel on prepared (contiguous, see :func:`_prepare`) inputs.

    Returns:
        y (u's dtype), last_state (Bt, Dm, N) fp32, the per-tile entering states (or None) and the geometry.
    """
    kernels, _ = _import_kernels()
    assert kernels is not None
    geo = _geometry(u, A, B, C, training=save_states)
    bt, dm, length, n, np_, t = geo["bt"], geo["dm"], geo["L"], geo["N"], geo["NP"], geo["T"]
    bd = geo["cfg"]["fwd_block_d"]
    y = torch.empty_like(u)
    last = torch.empty(bt, dm, n, device=u.device, dtype=torch.float32)
    hs = torch.empty(bt, dm, geo["n_tiles"], np_, device=u.device, dtype=torch.float32) if save_states else None
    dummy = _dummy(last)
    kernels.scan_fwd_kernel[(dm // bd, bt)](
        u, delta, A, B, C,
        dummy if D is None else D, dummy if z is None else z, dummy if delta_bias is None else delta_bias,
        y, dummy if hs is None else hs, last,
        dm, length, n, geo["n_tiles"],
        _channels_per_group(dm, geo["b_groups"]), _channels_per_group(dm, geo["c_groups"]),
        geo["b_groups"] or 1, geo["c_groups"] or 1,
        BLOCK_D=bd, NP=np_, T=t,
        B_CONST=geo["b_groups"] is None, C_CONST=geo["c_groups"] is None,
        HAS_D=D is not None, HAS_Z=z is not None, HAS_DBIAS=delta_bias is not None,
        SOFTPLUS=bool(delta_softplus), SAVE_STATES=save_states,
        num_warps=geo["cfg"]["fwd_warps"],
    )  # fmt: skip
    return y, last, hs, geo


def scan_backward(
    dout: torch.Tensor,
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None,
    z: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    hs: torch.Tensor,
    geo: dict[str, Any],
) -> ScanGrads:
    """Launch the backward kernel; returns (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias) in fp32 or input dtypes."""
    kernels, _ = _import_kernels()
    assert kernels is not None
    bt, dm, length, n, np_, t = geo["bt"], geo["dm"], geo["L"], geo["N"], geo["NP"], geo["T"]
    bd = geo["cfg"]["bwd_block_d"]
    kernel = kernels.scan_bwd_kernel if geo["cfg"].get("bwd_token_major") else kernels.scan_bwd_kernel_dmajor
    f32, dev = torch.float32, u.device
    dout = dout.contiguous()
    du, ddelta = torch.empty_like(u), torch.empty_like(delta)
    dz = torch.empty_like(z) if z is not None else None
    dA = torch.empty(bt, dm, n, device=dev, dtype=f32)
    dD = torch.empty(bt, dm, device=dev, dtype=f32) if D is not None else None
    ddb = torch.empty(bt, dm, device=dev, dtype=f32) if delta_bias is not None else None

    def bc_grad(x: torch.Tensor, groups: int | None) -> tuple[torch.Tensor, bool]:
        if groups is None:
            return torch.empty(bt, dm, n, device=dev, dtype=f32), False
        atomic = _channels_per_group(dm, groups) > bd
        alloc = torch.zeros if atomic else torch.empty
        return alloc(x.shape, device=dev, dtype=f32), atomic

    dB, b_atomic = bc_grad(B, geo["b_groups"])
    dC, c_atomic = bc_grad(C, geo["c_groups"])
    dummy = _dummy(dA)
    kernel[(dm // bd, bt)](
        u, delta, A, B, C,
        dummy if D is None else D, dummy if z is None else z, dummy if delta_bias is None else delta_bias,
        dout, hs,
        du, ddelta, dummy if dz is None else dz, dA,
        dummy if dD is None else dD, dummy if ddb is None else ddb, dB, dC,
        dm, length, n, geo["n_tiles"],
        _channels_per_group(dm, geo["b_groups"]), _channels_per_group(dm, geo["c_groups"]),
        geo["b_groups"] or 1, geo["c_groups"] or 1,
        BLOCK_D=bd, NP=np_, T=t,
        B_CONST=geo["b_groups"] is None, C_CONST=geo["c_groups"] is None,
        HAS_D=D is not None, HAS_Z=z is not None, HAS_DBIAS=delta_bias is not None,
        SOFTPLUS=bool(delta_softplus), B_ATOMIC=b_atomic, C_ATOMIC=c_atomic,
        num_warps=geo["cfg"]["bwd_warps"],
    )  # fmt: skip
    dB = dB.sum(0) if geo["b_groups"] is None else dB
    dC = dC.sum(0) if geo["c_groups"] is None else dC
    return (
        du,
        ddelta,
        dA.sum(0),
        dB,
        dC,
        None if dD is None else dD.sum(0),
        dz,
        None if ddb is None else ddb.sum(0),
    )


class _TritonScanFn(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        u: torch.Tensor,
        delta: torch.Tensor,
        A: torch.Tensor,
        B: torch.Tensor,
        C: torch.Tensor,
        D: torch.Tensor | None,
        z: torch.Tensor | None,
        delta_bias: torch.Tensor | None,
        delta_softplus: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ctx.input_dtypes = [None if x is None else x.dtype for x in (A, B, C, D, delta_bias)]
        ctx.bc_shapes = (B.shape, C.shape)
        prepared = _prepare(u, delta, A, B, C, D, z, delta_bias)
        y, last, hs, geo = scan_forward(*prepared, delta_softplus, save_states=True)
        ctx.save_for_backward(*prepared, hs)
        ctx.delta_softplus, ctx.geo = delta_softplus, geo
        ctx.mark_non_differentiable(last)
        return y, last

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor, dlast: torch.Tensor | None) -> tuple[torch.Tensor | None, ...]:
        u, delta, A, B, C, D, z, delta_bias, hs = ctx.saved_tensors  # the prepared inputs, then the saved states
        du, ddelta, dA, dB, dC, dD, dz, ddb = scan_backward(
            dy, u, delta, A, B, C, D, z, delta_bias, ctx.delta_softplus, hs, ctx.geo
        )
        a_dt, b_dt, c_dt, d_dt, db_dt = ctx.input_dtypes
        b_shape, c_shape = ctx.bc_shapes
        return (
            du,
            ddelta,
            dA.to(a_dt),
            dB.reshape(b_shape).to(b_dt),
            dC.reshape(c_shape).to(c_dt),
            None if dD is None else dD.to(d_dt),
            dz,
            None if ddb is None else ddb.to(db_dt),
            None,
        )


def selective_scan_triton(
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
    """Selective scan with the Triton kernels (semantics of
    :func:`~akmamba.ops.selective_scan.reference.selective_scan_reference`).

    Raises:
        ShapeError: bad inputs, float64 inputs, or N above 256.
        BackendUnavailableError: no CUDA, CPU tensors, or Triton missing or broken.
    """
    shapes = check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    check_kernel_inputs(
        "triton", "the triton backend", triton_available(u.device), u, shapes, TRITON_DTYPES, MAX_DSTATE
    )
    with torch.autocast(device_type="cuda", enabled=False):
        tensors = (u, delta, A, B, C, D, z, delta_bias)
        if torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors):
            y, last = _TritonScanFn.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus)
        else:
            y, last, _, _ = scan_forward(*_prepare(*tensors), delta_softplus, save_states=False)
    return (y, last) if return_last_state else y


def _register() -> None:
    """Register the ``triton`` backend; runs when the package ``__init__`` imports this module."""
    from akmamba.ops.selective_scan import ScanBackend, register_scan_backend

    register_scan_backend(
        ScanBackend(
            "triton",
            selective_scan_triton,
            TRITON_PRIORITY,
            "Triton kernel, forward and backward (CUDA only)",
            triton_available,
            TRITON_DTYPES,
        )
    )


_register()
