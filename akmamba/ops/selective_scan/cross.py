"""The four-direction ("cross") selective scan of SS2D as one op: scan a (B, E, H, W) map along four orders and sum.

SS2D (model-spec.md §2, akmamba/nn/blocks/ss2d.py) unfolds its map into four sequences (row-major, column-major
and their reverses), scans each with its own delta, B and C, and folds the four outputs back into pixel order and
sums them. Because delta, B and C come from per-pixel projections of x, they can be computed in *pixel* order, one
map per direction; this op takes them that way:

    y[b, e, i, j] = Σ_k scan_k(x, dts[:, k], As[k], Bs[:, k], Cs[:, k], Ds[k], delta_bias[k])[b, e, p_k⁻¹(i, j)]

where scan_k is the selective scan (selective_scan's semantics, model-spec.md §2.4) along direction k's order p_k.

Backends (``backend=``):

- ``fused_triton``: one Triton pass that reads every input in place by index arithmetic and merges in the same
  pass (triton_cross.py, docs/triton-cross-scan.md). CUDA; CPU tensors only under TRITON_INTERPRET=1 (tests).
- ``fused_numba``: the same single pass for CPU inference, compiled with Numba (numba_cross.py); forward only,
  any float dtype (float16/bfloat16 upcast to float32), channel axes read in place when contiguous.
- any :func:`~akmamba.ops.selective_scan.selective_scan` backend name: the unfused composition
  :func:`cross_selective_scan_reference` (cross_scan -> selective_scan(backend) -> cross_merge). With
  ``"reference"`` this is the plain-PyTorch specification the fused kernel is tested against.
- ``auto``: ``fused_triton`` where it can run and measured at least as fast as the unfused path auto would take
  (triton_cross.MEASURED_SPEED_VS_MAMBA_SSM / MEASURED_SPEED_VS_TRITON); else ``fused_numba`` on CPU tensors when
  Numba imports and no gradient is needed (under torch.no_grad()/inference_mode, or plain tensors); else the
  unfused path with ``auto``. The choice is logged once per (device type, path) at INFO.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from akmamba.errors import BackendUnavailableError, ShapeError
from akmamba.ops.selective_scan import SCAN_BACKENDS, selective_scan
from akmamba.ops.selective_scan.checks import INPUT_DTYPES
from akmamba.ops.selective_scan.numba_cross import (
    FUSED_NUMBA,
    cross_selective_scan_numba,
    numba_cross_scan_available,
)
from akmamba.ops.selective_scan.numba_scan import needs_grad
from akmamba.ops.selective_scan.triton_cross import (
    FUSED_DTYPES,
    MAX_DSTATE,
    cross_selective_scan_fused,
    fused_cross_scan_available,
    fused_cross_scan_preferred,
)
from akmamba.registry import look_up_option

logger = logging.getLogger(__name__)

K_DIRECTIONS = 4
FUSED = "fused_triton"
_AUTO_LOGGED: set[tuple[str, str]] = set()


def cross_scan(x: torch.Tensor) -> torch.Tensor:
    """Unfold a map into the four scan orders (the same as akmamba.nn.blocks.ss2d.cross_scan).

    Args:
        x: ``(B, C, H, W)``.

    Returns:
        ``(B, 4, C, L)``: k=0 row-major, k=1 column-major, k=2 and k=3 their reverses along L.
    """
    rows = x.flatten(2)
    cols = x.transpose(2, 3).flatten(2)
    fwd = torch.stack([rows, cols], dim=1)
    return torch.cat([fwd, fwd.flip(-1)], dim=1)


def directions_to_sequences(maps: torch.Tensor) -> torch.Tensor:
    """Read per-direction pixel-order maps in their directions' orders.

    Args:
        maps: ``(B, 4, C, H, W)``; ``maps[:, k]`` belongs to direction k.

    Returns:
        ``(B, 4, C, L)`` with ``out[:, k] = cross_scan(maps[:, k])[:, k]``.
    """
    return torch.stack([cross_scan(maps[:, k])[:, k] for k in range(K_DIRECTIONS)], dim=1)


def cross_merge(ys: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Fold the four scan outputs back to row-major order and sum them (the same as ss2d.cross_merge).

    Args:
        ys: ``(B, 4, C, L)`` in the order produced by :func:`cross_scan`.
        height: H.
        width: W.

    Returns:
        ``(B, C, L)`` in row-major order.
    """
    b, _, c, length = ys.shape
    fwd = ys[:, 0:2] + ys[:, 2:4].flip(-1)
    col_major = fwd[:, 1].reshape(b, c, width, height).transpose(2, 3).reshape(b, c, length)
    return fwd[:, 0] + col_major


@dataclass(frozen=True)
class CrossScanShapes:
    """Sizes found by :func:`check_cross_scan_inputs`: batch B, channels E, H, W and state size N."""

    batch: int
    channels: int
    height: int
    width: int
    dstate: int


def _fail(name: str, message: str, expected: object, got: object) -> ShapeError:
    return ShapeError(f"cross_selective_scan: {message}", parameter=name, expected=expected, got=got)


def check_cross_scan_inputs(
    x: torch.Tensor,
    dts: torch.Tensor,
    As: torch.Tensor,
    Bs: torch.Tensor,
    Cs: torch.Tensor,
    Ds: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
) -> CrossScanShapes:
    """Check shapes, dtypes and devices (see :func:`cross_selective_scan` for the shapes).

    Raises:
        ShapeError: the message gives the expected and the received value.
    """
    for name, t in (("x", x), ("dts", dts), ("As", As), ("Bs", Bs), ("Cs", Cs)):
        if not isinstance(t, torch.Tensor):
            raise _fail(name, f"{name} must be a torch.Tensor; got {type(t).__name__}.", "torch.Tensor",
                        type(t).__name__)
    if x.dim() != 4 or min(x.shape) < 1:
        raise _fail("x", f"x must have shape (B, E, H, W) with non-empty axes; got {tuple(x.shape)}.",
                    "(B, E, H, W)", tuple(x.shape))
    if x.dtype not in INPUT_DTYPES:
        raise _fail("x", f"x must be float16, bfloat16, float32 or float64; got {x.dtype}.", INPUT_DTYPES, x.dtype)
    b, e, h, w = x.shape
    if As.dim() != 2 or As.shape[0] != K_DIRECTIONS * e or As.shape[1] < 1:
        raise _fail("As", f"As must have shape (4*E, N) = ({K_DIRECTIONS * e}, N); got {tuple(As.shape)}.",
                    f"({K_DIRECTIONS * e}, N)", tuple(As.shape))
    n = As.shape[1]
    expected: dict[str, tuple[torch.Tensor | None, tuple[int, ...], str]] = {
        "dts": (dts, (b, K_DIRECTIONS, e, h, w), "(B, 4, E, H, W)"),
        "Bs": (Bs, (b, K_DIRECTIONS, n, h, w), "(B, 4, N, H, W)"),
        "Cs": (Cs, (b, K_DIRECTIONS, n, h, w), "(B, 4, N, H, W)"),
        "Ds": (Ds, (K_DIRECTIONS * e,), "(4*E,)"),
        "delta_bias": (delta_bias, (K_DIRECTIONS * e,), "(4*E,)"),
    }
    for name, (opt, shape, notation) in expected.items():
        if opt is None:
            continue
        t = opt
        if not isinstance(t, torch.Tensor):
            raise _fail(name, f"{name} must be a torch.Tensor or None; got {type(t).__name__}.", "torch.Tensor",
                        type(t).__name__)
        if tuple(t.shape) != shape:
            raise _fail(name, f"{name} must have shape {notation} = {shape}; got {tuple(t.shape)}. Delta, B and C "
                        "are per-direction maps in pixel order (direction k at [:, k]).", shape, tuple(t.shape))
    optional: tuple[tuple[str, torch.Tensor | None], ...] = (
        ("dts", dts), ("As", As), ("Bs", Bs), ("Cs", Cs), ("Ds", Ds), ("delta_bias", delta_bias)
    )
    for name, opt in optional:
        if opt is None:
            continue
        t = opt
        if t.device != x.device:
            raise _fail(name, f"{name} is on {t.device} but x is on {x.device}; put every input on one device.",
                        str(x.device), str(t.device))
        if not t.is_floating_point():
            raise _fail(name, f"{name} must be a real floating-point tensor; got {t.dtype}.", "real float", t.dtype)
        if name == "dts" and t.dtype not in (x.dtype, torch.float32):
            raise _fail(name, f"dts has dtype {t.dtype} but x has {x.dtype}; delta must be in x's dtype or float32.",
                        (x.dtype, torch.float32), t.dtype)
        if name in ("Bs", "Cs") and t.dtype != x.dtype:
            raise _fail(name, f"{name} has dtype {t.dtype} but x has {x.dtype}; x, Bs and Cs must share one dtype "
                        "(delta may be float32).", x.dtype, t.dtype)
        if name in ("As", "Ds", "delta_bias") and t.dtype not in (x.dtype, torch.float32):
            raise _fail(name, f"{name} has dtype {t.dtype}; parameters must be float32 or x's dtype ({x.dtype}).",
                        (torch.float32, x.dtype), t.dtype)
    return CrossScanShapes(b, e, h, w, n)


def cross_selective_scan_reference(
    x: torch.Tensor,
    dts: torch.Tensor,
    As: torch.Tensor,
    Bs: torch.Tensor,
    Cs: torch.Tensor,
    Ds: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    scan_backend: str = "reference",
) -> torch.Tensor:
    """The unfused composition: cross_scan -> selective_scan(scan_backend) -> cross_merge.

    With ``scan_backend="reference"`` (the per-token loop) this is the specification the fused kernel is tested
    against. Shapes as in :func:`cross_selective_scan`; y is (B, E, H, W) in x's dtype. float16/bfloat16 inputs
    are scanned and merged in float32 and rounded once at the end, as the op's contract says: a scan backend
    would round each direction's output to x's dtype before the sum, an error of up to two of its units in the
    last place that the four directions' cancellation can make large against the result.
    """
    shapes = check_cross_scan_inputs(x, dts, As, Bs, Cs, Ds, delta_bias)
    b, e, h, w = shapes.batch, shapes.channels, shapes.height, shapes.width
    length = h * w
    work = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype

    def param(p: torch.Tensor | None) -> torch.Tensor | None:  # float32 or the working dtype, as the scan takes
        return p if p is None or p.dtype in (torch.float32, work) else p.to(work)

    ys = selective_scan(
        cross_scan(x.to(work)).reshape(b, K_DIRECTIONS * e, length),
        directions_to_sequences(dts.to(work)).reshape(b, K_DIRECTIONS * e, length),
        As if As.dtype in (torch.float32, work) else As.to(work),
        directions_to_sequences(Bs.to(work)),  # (B, 4, N, L): grouped, channel k*E + e uses group k
        directions_to_sequences(Cs.to(work)),
        D=param(Ds),
        delta_bias=param(delta_bias),
        delta_softplus=delta_softplus,
        backend=scan_backend,
    )
    return cross_merge(ys.reshape(b, K_DIRECTIONS, e, length), h, w).reshape(b, e, h, w).to(x.dtype)


def cross_selective_scan(
    x: torch.Tensor,
    dts: torch.Tensor,
    As: torch.Tensor,
    Bs: torch.Tensor,
    Cs: torch.Tensor,
    Ds: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    backend: str = "auto",
) -> torch.Tensor:
    """SS2D's four-direction selective scan and merge, from pixel-order inputs.

    Direction k = 0 reads the map row-major, 1 column-major, 2 and 3 their reverses (ss2d.cross_scan). Channel e
    of direction k uses row k*E + e of As, Ds and delta_bias (SS2D's direction-major parameter layout) and the
    direction's B and C (B/C grouped per direction, G = 4). Computed in float32 (float64 for float64 inputs on the
    unfused path); y is cast to x's dtype.

    Args:
        x: (B, E, H, W) input u, shared by the four directions; any memory layout.
        dts: (B, 4, E, H, W) delta of each direction, in pixel order; x's dtype, or float32 with a bfloat16 or
            float16 x (SS2D's fused path hands it so: the Triton kernel reads bf16 delta slowly, see
            ss2d.FUSED_DELTA_FLOAT32).
        As: (4E, N) state matrix, real.
        Bs: (B, 4, N, H, W) B of each direction, in pixel order; x's dtype.
        Cs: (B, 4, N, H, W) C of each direction, in pixel order; x's dtype.
        Ds: (4E,) skip weight, or None.
        delta_bias: (4E,) added to delta before the softplus, or None.
        delta_softplus: apply softplus (threshold 20) to delta.
        backend: ``"auto"``, ``"fused_triton"``, ``"fused_numba"`` or a selective_scan backend for the unfused
            path.

    Returns:
        y (B, E, H, W) in x's dtype: the sum of the four directions' outputs, each placed back at its pixels.
        ``fused_numba`` returns it channels-last in memory.

    Raises:
        ShapeError: inputs of the wrong shape, dtype or device.
        ConfigError: unknown backend name.
        BackendUnavailableError: ``fused_triton`` or ``fused_numba`` requested where it cannot run, or
            ``fused_numba`` when gradients are needed (the message says why).
    """
    shapes = check_cross_scan_inputs(x, dts, As, Bs, Cs, Ds, delta_bias)
    look_up_option(backend, ["auto", FUSED, FUSED_NUMBA, *SCAN_BACKENDS.names()], "backend")
    if backend == FUSED_NUMBA:
        return cross_selective_scan_numba(x, dts, As, Bs, Cs, Ds, delta_bias, delta_softplus)
    fused_ok, reason = fused_cross_scan_supports(x, shapes.dstate)
    if backend == FUSED:
        if not fused_ok:
            raise BackendUnavailableError(
                f"cross_selective_scan backend {FUSED!r} cannot run: {reason}. Use backend='auto' or a "
                "selective_scan backend for the unfused path.",
                parameter="backend", got=backend, hint=reason,
            )
        return cross_selective_scan_fused(x, dts, As, Bs, Cs, Ds, delta_bias, delta_softplus)
    grad_needed = needs_grad(x, dts, As, Bs, Cs, Ds, delta_bias)
    if backend == "auto" and fused_ok and fused_cross_scan_preferred(x.device, grad_needed):
        _log_auto(x.device, FUSED)
        return cross_selective_scan_fused(x, dts, As, Bs, Cs, Ds, delta_bias, delta_softplus)
    if backend == "auto" and fused_numba_supports(x, grad_needed)[0]:
        _log_auto(x.device, FUSED_NUMBA)
        return cross_selective_scan_numba(x, dts, As, Bs, Cs, Ds, delta_bias, delta_softplus)
    return cross_selective_scan_reference(x, dts, As, Bs, Cs, Ds, delta_bias, delta_softplus, scan_backend=backend)


def _log_auto(device: torch.device, path: str) -> None:
    if (device.type, path) not in _AUTO_LOGGED:
        _AUTO_LOGGED.add((device.type, path))
        logger.info("cross_selective_scan: backend='auto' uses %r for %s tensors", path, device.type)


def fused_numba_supports(x: torch.Tensor, grad_needed: bool) -> tuple[bool, str]:
    """Whether the fused Numba kernel can take this input (CPU, Numba importable, no gradient), and why not.

    Args:
        x: the map to scan (its device is what matters; every float dtype is taken).
        grad_needed: autograd would need gradients through the scan (the kernel is forward-only).
    """
    if x.device.type == "cpu" and grad_needed:  # checked before the availability, which imports Numba
        return False, "forward only, and gradients are needed (training: use the torch backend)"
    return numba_cross_scan_available(x.device)


def fused_cross_scan_supports(x: torch.Tensor, dstate: int) -> tuple[bool, str]:
    """Whether the fused kernel can take this input (device, dtype, state size), and why not."""
    ok, reason = fused_cross_scan_available(x.device)
    if not ok:
        return False, reason
    if x.dtype not in FUSED_DTYPES:
        return False, f"takes float32, float16 or bfloat16 inputs; got {x.dtype}"
    if dstate > MAX_DSTATE:
        return False, f"takes N <= {MAX_DSTATE}; got N={dstate}"
    return True, reason


__all__ = [
    "FUSED",
    "FUSED_NUMBA",
    "CrossScanShapes",
    "check_cross_scan_inputs",
    "cross_merge",
    "cross_scan",
    "cross_selective_scan",
    "cross_selective_scan_reference",
    "directions_to_sequences",
    "fused_cross_scan_supports",
    "fused_numba_supports",
]
