"""The fused four-direction scan in Triton: host side (launches, autograd, availability). See docs/triton-cross-scan.md.

:func:`cross_selective_scan_fused` computes what SS2D's ``cross_scan -> selective_scan -> cross_merge`` computes,
reading x (B, E, H, W) and the per-direction delta (B, 4, E, H, W) and B/C (B, 4, N, H, W), all in pixel order and
in any memory layout, through index arithmetic (no flipped or transposed copies), and summing the four directions
back into pixel order in the same pass. Forward and backward (an autograd.Function); float32, float16 and bfloat16
inputs, float32 state and accumulation.

Kernels (``_triton_cross_kernels.py``) are imported on first use, so that machines without Triton never import
it. On CPU tensors they run only in Triton's interpreter (``TRITON_INTERPRET=1`` set before they are imported):
slow, meant for tests on machines without a GPU.
"""

from __future__ import annotations

import functools
import importlib.util
from types import ModuleType
from typing import Any

import torch

from akmamba.ops.selective_scan import triton_scan
from akmamba.ops.selective_scan._triton_interpret import interpreting
from akmamba.ops.selective_scan.cuda import mamba_ssm_available
from akmamba.ops.selective_scan.usage import record_scan

#: dtypes the fused kernels accept for x (and delta, B, C).
FUSED_DTYPES = frozenset({torch.float32, torch.float16, torch.bfloat16})
#: The largest state size N (the state tile lives in registers).
MAX_DSTATE = 256
K_DIRECTIONS = 4
INSTALL_HINT = triton_scan.INSTALL_HINT

#: Speed of SS2D's fused path relative to its unfused path with the ``mamba_ssm`` kernel, measured by
#: benchmarks/bench_mambaout.py (docs/benchmarks/mambaout_cuda.md; H100 80GB HBM3, 2026-12-06, fifth lease, the
#: unfused path with its ``auto`` projection form, per pixel when training, ss2d.unfused_proj_form): unfused
#: mamba_ssm block time divided by fused block time, (forward, forward+backward), the worst over the 16 Mamba-out
#: shapes of the shipped models (geometric means 1.19x and 0.93x). Below 1, so ``auto`` keeps mamba_ssm where it
#: loads. None: not measured. Re-measure after changing the kernels or SS2D's projections.
MEASURED_SPEED_VS_MAMBA_SSM: tuple[float | None, float | None] = (0.73, 0.81)
#: The same against SS2D's unfused path with the per-sequence ``triton`` backend (same run; geometric means 1.50x and
#: 1.33x): at least 1 both ways, so ``auto`` takes the fused kernel on CUDA where mamba_ssm does not load. Under bf16
#: autocast (docs/benchmarks/mambaout_cuda_bf16.md, with ss2d.FUSED_DELTA_FLOAT32) the worst rows were (1.00, 0.98)
#: against triton, within SPEED_TOLERANCE, and (0.89, 0.78) against mamba_ssm: the same choices hold.
MEASURED_SPEED_VS_TRITON: tuple[float | None, float | None] = (1.01, 1.09)
#: How far below 1 a measured worst-row ratio may be and still count as "at least as fast". Two runs of the same
#: benchmark on the same H100 model differed by 10-50 % in single rows of 1-5 ms (for example mamba_ssm's block at
#: 1x256x74x72, 4.88 then 4.08 ms forward+backward, with the same code), so a 1 % shortfall in one row is noise.
SPEED_TOLERANCE = 0.03

#: Device types the measured constants apply to. ``auto`` never prefers the fused kernel elsewhere: on CPU tensors
#: it runs only in Triton's interpreter (TRITON_INTERPRET=1, set by the kernel tests), which is for testing.
MEASURED_DEVICE_TYPES: frozenset[str] = frozenset({"cuda"})

#: Launch settings forced by tests and benchmark sweeps, applied after the defaults: "tile", "fwd_block_d",
#: "bwd_block_d", "fwd_warps", "bwd_warps", "atomic_merge" (0: store the four directions and sum them in PyTorch),
#: "fwd_chunks", "bwd_chunks" (chunks per sequence; 0: chosen from the GPU's size). Empty in normal use.
LAUNCH_OVERRIDES: dict[str, int] = {}
#: A launch of fewer programs than this many per streaming multiprocessor splits its sequences into chunks
#: (docs/triton-cross-scan.md, "Chunks"). Chunking adds a summary pass over the inputs (about +40 % forward work
#: on an H100), so launches that already fill the GPU stay whole (docs/benchmarks/sweep_cross_scan_h100.md).
CHUNK_BELOW_PER_SM = 1.5
#: Programs per streaming multiprocessor a chunked launch aims for (the summary costs the same for any number of
#: chunks, so more chunks cost only the carry steps).
PROGRAMS_PER_SM = 32
#: The fewest tiles in a chunk: every chunk costs a summary pass over its tiles and a step of the carry kernel.
MIN_TILES_PER_CHUNK = 4
#: Channels per program on CUDA, forward and backward (E need not be a multiple: a partial block is masked).
CUDA_FWD_BLOCK_D = 8
CUDA_BWD_BLOCK_D = 4
#: Elements (rows x states) per program of the carry kernel.
CARRY_BLOCK = 256


def _at_least_as_fast(ratios: tuple[float | None, float | None], needs_grad: bool = True) -> bool:
    """Whether measured (forward, forward+backward) speed ratios are >= 1 within :data:`SPEED_TOLERANCE`: both when
    gradients are needed (training), the forward alone for inference."""
    return all(r is not None and r >= 1.0 - SPEED_TOLERANCE for r in (ratios if needs_grad else ratios[:1]))


@functools.lru_cache(maxsize=1)
def _import_kernels() -> tuple[ModuleType | None, str]:
    """Import Triton and the fused kernels once: (module, "") or (None, why not)."""
    if importlib.util.find_spec("triton") is None:
        return None, f"triton not installed: {INSTALL_HINT}"
    try:
        from akmamba.ops.selective_scan import _triton_cross_kernels
    except Exception as exc:  # noqa: BLE001  (a broken triton install can raise anything at import)
        return None, f"triton is installed but cannot be imported ({type(exc).__name__}: {exc})"
    return _triton_cross_kernels, ""


def fused_cross_scan_available(device: torch.device | str | None = None) -> tuple[bool, str]:
    """Whether the fused kernels can run on tensors on ``device`` (None: on this machine), and why not.

    CUDA tensors need CUDA and Triton. CPU tensors run only in Triton's interpreter, when ``TRITON_INTERPRET=1``
    was set before the kernels were first imported (slow; for tests).
    """
    if importlib.util.find_spec("triton") is None:
        return False, f"triton not installed: {INSTALL_HINT}"
    dev = torch.device(device) if isinstance(device, str) else device
    on_cpu = dev.type == "cpu" if dev is not None else not torch.cuda.is_available()
    if on_cpu:
        if not interpreting():
            return False, (
                "needs CUDA tensors; CPU tensors run only in Triton's interpreter (TRITON_INTERPRET=1, for tests)"
            )
        module, reason = _import_kernels()
        if module is None:
            return False, reason
        if not module.INTERPRETED:
            return False, "needs CUDA tensors; the kernels were compiled before TRITON_INTERPRET=1 was set"
        return True, "fused Triton kernel in Triton's CPU interpreter (TRITON_INTERPRET=1): slow, for tests"
    if not torch.cuda.is_available():
        return False, "needs CUDA tensors; CUDA is not available on this machine"
    if dev is not None and dev.type != "cuda":
        return False, f"needs CUDA tensors; the inputs are on {dev.type!r}"
    module, reason = _import_kernels()
    return module is not None, reason or "fused four-direction Triton kernel (forward and backward)"


def fused_cross_scan_preferred(device: torch.device | str | None = None, needs_grad: bool = True) -> bool:
    """Whether ``auto`` uses the fused path on ``device``: it can run there and it measured at least as fast as
    the unfused path ``auto`` would use otherwise (mamba_ssm where it loads, else the per-sequence triton scan),
    forward and backward when ``needs_grad`` (training), the forward alone for inference."""
    dev = torch.device(device) if isinstance(device, str) else device
    dev_type = dev.type if dev is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    if dev_type not in MEASURED_DEVICE_TYPES or not fused_cross_scan_available(device)[0]:
        return False
    if _at_least_as_fast(MEASURED_SPEED_VS_MAMBA_SSM, needs_grad):
        return True
    return _at_least_as_fast(MEASURED_SPEED_VS_TRITON, needs_grad) and not mamba_ssm_available(dev)[0]


# -- launch configuration -------------------------------------------------------------------------------------------


def _sm_count(device: torch.device) -> int:
    """Streaming multiprocessors of a CUDA device; 0 elsewhere (the interpreter: no automatic chunking)."""
    if device.type != "cuda":
        return 0
    return int(torch.cuda.get_device_properties(device).multi_processor_count)


def _chunking(programs: int, n_tiles: int, sms: int, override: int) -> tuple[int, int]:
    """(chunks per sequence, tiles per chunk) for a launch of ``programs`` programs per chunk.

    ``override`` > 0 forces the number of chunks. Otherwise a launch of fewer than ``CHUNK_BELOW_PER_SM`` programs
    per multiprocessor is split into enough chunks to reach ``PROGRAMS_PER_SM``, with at least
    ``MIN_TILES_PER_CHUNK`` tiles each.
    """
    if override > 0:
        want = override
    elif sms == 0 or programs >= sms * CHUNK_BELOW_PER_SM:
        want = 1
    else:
        want = min(-(-sms * PROGRAMS_PER_SM // programs), max(1, n_tiles // MIN_TILES_PER_CHUNK))
    want = max(1, min(want, n_tiles))
    per_chunk = -(-n_tiles // want)
    return -(-n_tiles // per_chunk), per_chunk


def _geometry(batch: int, e: int, length: int, n: int, training: bool, device: torch.device) -> dict[str, Any]:
    """Tile length, channels per program, warps, merge mode and chunks, then LAUNCH_OVERRIDES.

    On CUDA: T 32, 4 warps, 8 channels per forward program and 4 per backward program (the sweep in
    docs/benchmarks/sweep_cross_scan_h100.md: wider programs amortise the cross-thread reductions, and the backward's
    dB/dC atomics are summed over a program's channels first), sequences split into chunks when the launch is
    small. In the interpreter: the per-sequence backend's heuristics for this launch's size and no chunks.
    """
    np_ = triton_scan.triton_next_pow2(n)
    sms = _sm_count(device)
    rows = K_DIRECTIONS * batch
    if sms:  # chunks make every launch large
        rows = max(rows, -(-triton_scan.SMALL_LAUNCH // e))
    cfg = triton_scan._launch_config(rows, e, np_, e, training)
    if sms:
        cfg.update(fwd_block_d=CUDA_FWD_BLOCK_D, bwd_block_d=CUDA_BWD_BLOCK_D)
    cfg.update(atomic_merge=1, fwd_chunks=0, bwd_chunks=0)
    cfg.update(LAUNCH_OVERRIDES)
    for key in ("fwd_block_d", "bwd_block_d"):
        cfg[key] = max(1, triton_scan._pow2_floor(cfg[key]))
    t = min(cfg["tile"], max(16, triton_scan.triton_next_pow2(length)))
    n_tiles = -(-length // t)
    chunks = {
        side: _chunking(-(-e // cfg[f"{side}_block_d"]) * K_DIRECTIONS * batch, n_tiles, sms, cfg[f"{side}_chunks"])
        for side in ("fwd", "bwd")
    }
    return {"NP": np_, "T": t, "n_tiles": n_tiles, "cfg": cfg, "chunks": chunks}


def _carry(kernels: ModuleType, summary: torch.Tensor, decay: torch.Tensor, reverse: bool) -> torch.Tensor:
    """The state entering every chunk, (rows, n_chunks, NP) fp32, from the chunks' summaries (same shape)."""
    rows, n_chunks, np_ = summary.shape
    entering = torch.empty_like(summary)
    kernels.chunk_carry_kernel[(-(-rows * np_ // CARRY_BLOCK),)](
        summary, decay, entering, rows * np_, n_chunks, NP=np_, REVERSE=reverse, BLOCK=CARRY_BLOCK
    )
    return entering


def _chunk_buffers(batch: int, e: int, n_chunks: int, np_: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Summary and decay buffers of a chunked launch, (B*4E, n_chunks, NP) fp32 each."""
    shape = (batch * K_DIRECTIONS * e, n_chunks, np_)
    return torch.empty(shape, device=device, dtype=torch.float32), torch.empty(shape, device=device,
                                                                               dtype=torch.float32)


def _strides(x: torch.Tensor | None, rank: int) -> tuple[int, ...]:
    return (0,) * rank if x is None else tuple(x.stride())


# -- forward / backward launches ------------------------------------------------------------------------------------


def fused_forward(
    x: torch.Tensor,
    dts: torch.Tensor,
    A: torch.Tensor,
    Bs: torch.Tensor,
    Cs: torch.Tensor,
    D: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    save_states: bool,
) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, Any]]:
    """Launch the forward kernel. A, D, delta_bias must be contiguous float32 (:func:`_params`).

    Returns:
        y (B, E, H, W) in x's dtype and memory format, the per-tile entering states (B, 4E, n_tiles, NP) fp32 or
        None, and the geometry.
    """
    kernels, _ = _import_kernels()
    assert kernels is not None
    bsz, e, h, w = x.shape
    n, length = A.shape[1], h * w
    geo = _geometry(bsz, e, length, n, training=save_states, device=x.device)
    cfg, np_, t = geo["cfg"], geo["NP"], geo["T"]
    bd = cfg["fwd_block_d"]
    n_dblk = -(-e // bd)
    n_chunks, per_chunk = geo["chunks"]["fwd"]
    f32 = torch.float32
    if cfg["atomic_merge"]:
        y = torch.zeros_like(x, dtype=f32)  # keeps x's memory format
        y_strides = (0, *y.stride())
    else:
        y = torch.empty((K_DIRECTIONS, *x.shape), device=x.device, dtype=f32)
        y_strides = tuple(y.stride())
    hs = (
        torch.empty(bsz, K_DIRECTIONS * e, geo["n_tiles"], np_, device=x.device, dtype=f32) if save_states else None
    )
    dummy = A.new_empty(1)

    def launch(h0: torch.Tensor, chx: torch.Tensor, chp: torch.Tensor, summary: bool) -> None:
        kernels.cross_fwd_kernel[(n_dblk * n_chunks, K_DIRECTIONS, bsz)](
            x, dts, A, Bs, Cs, dummy if D is None else D, dummy if delta_bias is None else delta_bias,
            y, dummy if hs is None else hs, h0, chx, chp,
            e, h, w, length, n, geo["n_tiles"], n_dblk, n_chunks, per_chunk,
            *x.stride(), *dts.stride(), *Bs.stride(), *Cs.stride(), *y_strides,
            BLOCK_D=bd, NP=np_, T=t,
            HAS_D=D is not None, HAS_DBIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus),
            SAVE_STATES=save_states and not summary, ATOMIC_MERGE=bool(cfg["atomic_merge"]),
            HAS_H0=n_chunks > 1 and not summary, SUMMARY=summary,
            num_warps=cfg["fwd_warps"],
        )  # fmt: skip

    if n_chunks > 1:  # every chunk's end state from zero, then the state entering each chunk
        chx, chp = _chunk_buffers(bsz, e, n_chunks, np_, x.device)
        launch(dummy, chx, chp, summary=True)
        launch(_carry(kernels, chx, chp, reverse=False), dummy, dummy, summary=False)
    else:
        launch(dummy, dummy, dummy, summary=False)
    if not cfg["atomic_merge"]:
        y = y.sum(0)
    return y.to(x.dtype), hs, geo


def fused_backward(
    dy: torch.Tensor,
    x: torch.Tensor,
    dts: torch.Tensor,
    A: torch.Tensor,
    Bs: torch.Tensor,
    Cs: torch.Tensor,
    D: torch.Tensor | None,
    delta_bias: torch.Tensor | None,
    delta_softplus: bool,
    hs: torch.Tensor,
    geo: dict[str, Any],
) -> tuple[torch.Tensor | None, ...]:
    """Launch the backward kernel: (dx, ddts, dA, dBs, dCs, dD, ddelta_bias); dx, ddts, dBs, dCs in their inputs'
    dtypes, the rest float32."""
    kernels, _ = _import_kernels()
    assert kernels is not None
    bsz, e, h, w = x.shape
    n, length = A.shape[1], h * w
    cfg, np_, t = geo["cfg"], geo["NP"], geo["T"]
    bd = cfg["bwd_block_d"]
    f32, dev = torch.float32, x.device
    if cfg["atomic_merge"]:
        du = torch.zeros_like(x, dtype=f32)
        du_strides = (0, *du.stride())
    else:
        du = torch.empty((K_DIRECTIONS, *x.shape), device=dev, dtype=f32)
        du_strides = tuple(du.stride())
    ddts = torch.empty_like(dts)  # dts' layout when it is dense, else contiguous; the kernel takes any strides
    n_dblk = -(-e // bd)
    n_chunks, per_chunk = geo["chunks"]["bwd"]
    bc_atomic = n_dblk > 1
    alloc = torch.zeros if bc_atomic else torch.empty
    dB = alloc(Bs.shape, device=dev, dtype=f32)
    dC = alloc(Cs.shape, device=dev, dtype=f32)
    rows = (n_chunks, bsz, K_DIRECTIONS * e)  # per-program partial sums
    dA = torch.empty(*rows, n, device=dev, dtype=f32)
    dD = torch.empty(rows, device=dev, dtype=f32) if D is not None else None
    ddb = torch.empty(rows, device=dev, dtype=f32) if delta_bias is not None else None
    dummy = A.new_empty(1)

    def launch(g0: torch.Tensor, chx: torch.Tensor, chp: torch.Tensor, summary: bool) -> None:
        kernels.cross_bwd_kernel[(n_dblk * n_chunks, K_DIRECTIONS, bsz)](
            x, dts, A, Bs, Cs, dummy if D is None else D, dummy if delta_bias is None else delta_bias, dy, hs,
            g0, chx, chp,
            du, ddts, dA, dummy if dD is None else dD, dummy if ddb is None else ddb, dB, dC,
            e, h, w, length, n, geo["n_tiles"], n_dblk, n_chunks, per_chunk,
            *x.stride(), *dts.stride(), *Bs.stride(), *Cs.stride(), *dy.stride(),
            *du_strides, *ddts.stride(), *dB.stride(), *dC.stride(),
            BLOCK_D=bd, NP=np_, T=t,
            HAS_D=D is not None, HAS_DBIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus),
            ATOMIC_MERGE=bool(cfg["atomic_merge"]), BC_ATOMIC=bc_atomic,
            HAS_G0=n_chunks > 1 and not summary, SUMMARY=summary,
            num_warps=cfg["bwd_warps"],
        )  # fmt: skip

    if n_chunks > 1:  # every chunk's adjoint at its first token from zero, then the adjoint entering each chunk
        chx, chp = _chunk_buffers(bsz, e, n_chunks, np_, dev)
        launch(dummy, chx, chp, summary=True)
        launch(_carry(kernels, chx, chp, reverse=True), dummy, dummy, summary=False)
    else:
        launch(dummy, dummy, dummy, summary=False)
    if not cfg["atomic_merge"]:
        du = du.sum(0)
    return (
        du.to(x.dtype),
        ddts,
        dA.sum((0, 1)),
        dB.to(Bs.dtype),
        dC.to(Cs.dtype),
        None if dD is None else dD.sum((0, 1)),
        None if ddb is None else ddb.sum((0, 1)),
    )


def _params(
    A: torch.Tensor, D: torch.Tensor | None, delta_bias: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    f32 = torch.float32
    return (
        A.to(f32).contiguous(),
        None if D is None else D.to(f32).contiguous(),
        None if delta_bias is None else delta_bias.to(f32).contiguous(),
    )


class _FusedCrossScanFn(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: Any,
        x: torch.Tensor,
        dts: torch.Tensor,
        A: torch.Tensor,
        Bs: torch.Tensor,
        Cs: torch.Tensor,
        D: torch.Tensor | None,
        delta_bias: torch.Tensor | None,
        delta_softplus: bool,
    ) -> torch.Tensor:
        ctx.param_dtypes = (A.dtype, None if D is None else D.dtype, None if delta_bias is None else delta_bias.dtype)
        A32, D32, db32 = _params(A, D, delta_bias)
        y, hs, geo = fused_forward(x, dts, A32, Bs, Cs, D32, db32, delta_softplus, save_states=True)
        ctx.save_for_backward(x, dts, A32, Bs, Cs, D32, db32, hs)
        ctx.delta_softplus, ctx.geo = delta_softplus, geo
        return y

    @staticmethod
    def backward(ctx: Any, dy: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, dts, A32, Bs, Cs, D32, db32, hs = ctx.saved_tensors
        dx, ddts, dA, dB, dC, dD, ddb = fused_backward(
            dy, x, dts, A32, Bs, Cs, D32, db32, ctx.delta_softplus, hs, ctx.geo
        )
        a_dt, d_dt, db_dt = ctx.param_dtypes
        assert dA is not None
        return (
            dx,
            ddts,
            dA.to(a_dt),
            dB,
            dC,
            None if dD is None else dD.to(d_dt),
            None if ddb is None else ddb.to(db_dt),
            None,
        )


def cross_selective_scan_fused(
    x: torch.Tensor,
    dts: torch.Tensor,
    As: torch.Tensor,
    Bs: torch.Tensor,
    Cs: torch.Tensor,
    Ds: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
) -> torch.Tensor:
    """The fused kernel; inputs already checked by :func:`~akmamba.ops.selective_scan.cross.check_cross_scan_inputs`.

    Runs under autocast disabled; with autograd when any input requires a gradient, else the forward alone
    (no states saved).
    """
    record_scan("fused_triton")
    with torch.autocast(device_type=x.device.type, enabled=False):
        tensors = (x, dts, As, Bs, Cs, Ds, delta_bias)
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
            return _FusedCrossScanFn.apply(*tensors, delta_softplus)  # type: ignore[no-any-return]
        A32, D32, db32 = _params(As, Ds, delta_bias)
        y, _, _ = fused_forward(x, dts, A32, Bs, Cs, D32, db32, delta_softplus, save_states=False)
        return y


def fused_bytes(batch: int, e: int, height: int, width: int, n: int, itemsize: int, backward: bool) -> int:
    """Bytes one fused pass must move at the least: every tensor read or written once.

    Forward: x (E·L) and the four directions' delta (4E·L), B and C (2·4N·L) read in the input dtype, the fp32
    merge buffer y (E·L) written. Backward: the same reads plus dy (E·L), then du (fp32, E·L), d delta (4E·L,
    input dtype), dB and dC (fp32, 2·4N·L) written; the saved tile states (NP/T of 4E·L, fp32) are not counted.
    """
    length = height * width
    reads = (e + 4 * e + 8 * n) * length * itemsize
    if not backward:
        return batch * (reads + 4 * e * length)
    writes = 4 * e * length + 4 * e * length * itemsize + 8 * n * length * 4
    return batch * (reads + e * length * itemsize + writes)


__all__ = [
    "FUSED_DTYPES",
    "MAX_DSTATE",
    "MEASURED_DEVICE_TYPES",
    "MEASURED_SPEED_VS_MAMBA_SSM",
    "MEASURED_SPEED_VS_TRITON",
    "SPEED_TOLERANCE",
    "cross_selective_scan_fused",
    "fused_bytes",
    "fused_cross_scan_available",
    "fused_cross_scan_preferred",
]

