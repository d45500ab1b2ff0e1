"""Selective scan (Mamba's S6 recurrence) with several backends behind one function.

Backends, by priority for ``backend="auto"``:

- ``mamba_ssm`` (100): mamba_ssm's CUDA kernel; CUDA tensors only, imported lazily.
- ``numba`` (60): a fused Numba kernel for CPU inference (forward only; ``pip install numba``), imported lazily.
- ``torch`` (50): the two-level chunked scan in plain PyTorch (CPU and CUDA); the CPU path for training.
- ``reference`` (0): the per-token loop that specifies the semantics; slow.

More backends (a Triton kernel, say) join with :func:`register_scan_backend`. ``auto`` picks the available backend
of highest priority for the inputs' device and dtype and logs the choice once per (device type, backend).
An explicit backend that cannot run raises :class:`~akmamba.errors.BackendUnavailableError`; nothing falls back
silently.

Gradient policy: a backend registered with ``forward_only=True`` (``numba``) computes no gradients. When autograd
would need them (``torch.is_grad_enabled()`` and any input ``requires_grad``), ``auto`` skips it (so on CPU,
``auto`` is ``numba`` when Numba imports and no gradient is needed, i.e. under ``torch.no_grad()`` /
``torch.inference_mode()`` or with plain tensors, and ``torch`` otherwise), and an explicit request for it raises
BackendUnavailableError rather than return outputs with silently wrong gradients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, overload

import torch

from akmamba.errors import BackendUnavailableError
from akmamba.ops.selective_scan.checks import INPUT_DTYPES, check_scan_inputs
from akmamba.ops.selective_scan.chunked import selective_scan_chunked
from akmamba.ops.selective_scan.cuda import KERNEL_DTYPES, mamba_ssm_available, selective_scan_mamba_ssm
from akmamba.ops.selective_scan.reference import selective_scan_reference
from akmamba.ops.selective_scan.usage import record_scan, reset_scan_usage, scan_usage
from akmamba.registry import Registry, look_up_option

logger = logging.getLogger(__name__)

ScanResult = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class BackendInfo:
    """What :func:`available_backends` reports for one backend (the GUI lists these).

    Attributes:
        name: registry name, the value of ``backend=``.
        available: whether it can run (here, or for the given device).
        reason: why not, or a short note when it can.
        priority: ``auto`` prefers higher numbers.
        description: one line for users.
    """

    name: str
    available: bool
    reason: str
    priority: int
    description: str


@dataclass(frozen=True)
class ScanBackend:
    """A registered backend.

    Attributes:
        name: registry name.
        fn: the scan, with :func:`selective_scan`'s signature minus ``backend``.
        priority: ``auto`` prefers higher numbers.
        description: one line for users.
        available: ``device -> (ok, reason)``; ``device=None`` asks about this machine.
        dtypes: the input dtypes it accepts.
        forward_only: gives no gradients; skipped by ``auto`` and refused when explicit, if gradients are needed.
    """

    name: str
    fn: Callable[..., ScanResult]
    priority: int
    description: str
    available: Callable[[torch.device | None], tuple[bool, str]]
    dtypes: frozenset[torch.dtype] = frozenset(INPUT_DTYPES)
    forward_only: bool = False

    def check(self, device: torch.device | None, dtype: torch.dtype | None = None) -> tuple[bool, str]:
        """``available(device)`` plus the dtype test."""
        ok, reason = self.available(device)
        if ok and dtype is not None and dtype not in self.dtypes:
            return False, f"does not take {dtype} inputs"
        return ok, reason


SCAN_BACKENDS: Registry[ScanBackend] = Registry("selective-scan backend")


def register_scan_backend(backend: ScanBackend) -> ScanBackend:
    """Add ``backend`` to :data:`SCAN_BACKENDS` (a duplicate name is a programming error)."""
    SCAN_BACKENDS.add(backend.name, backend)
    return backend


def _always(note: str) -> Callable[[torch.device | None], tuple[bool, str]]:
    def available(device: torch.device | None) -> tuple[bool, str]:
        return True, note

    return available


register_scan_backend(
    ScanBackend(
        "mamba_ssm",
        selective_scan_mamba_ssm,
        100,
        "mamba_ssm CUDA kernel (fastest; CUDA only)",
        mamba_ssm_available,
        KERNEL_DTYPES,
    )
)
register_scan_backend(
    ScanBackend(
        "torch",
        selective_scan_chunked,
        50,
        "two-level chunked scan in PyTorch (CPU and CUDA)",
        _always("pure PyTorch; runs on any device"),
    )
)
register_scan_backend(
    ScanBackend(
        "reference",
        selective_scan_reference,
        0,
        "per-token loop; the specification, slow",
        _always("pure PyTorch; slow, meant for tests"),
    )
)
from akmamba.ops.selective_scan import numba_scan as _numba_scan  # noqa: E402,F401  (registers 'numba')
from akmamba.ops.selective_scan import triton_scan as _triton_scan  # noqa: E402,F401  (registers 'triton')

_AUTO_LOGGED: set[tuple[str, str]] = set()


def available_backends(device: torch.device | str | None = None) -> list[BackendInfo]:
    """Every registered backend with its availability, highest priority first.

    Args:
        device: ask about tensors on this device; None asks about this machine.
    """
    dev = torch.device(device) if isinstance(device, str) else device
    infos = []
    for name in SCAN_BACKENDS:
        backend = SCAN_BACKENDS.get(name)
        ok, reason = backend.check(dev)
        infos.append(BackendInfo(name, ok, reason, backend.priority, backend.description))
    return sorted(infos, key=lambda info: -info.priority)


def _choose(backend: str, device: torch.device, dtype: torch.dtype, needs_grad: bool = False) -> ScanBackend:
    """Resolve ``backend`` for inputs on ``device`` with dtype ``dtype`` (``needs_grad``: autograd will record)."""
    look_up_option(backend, ["auto", *SCAN_BACKENDS.names()], "backend")
    if backend != "auto":
        chosen = SCAN_BACKENDS.get(backend)
        ok, reason = chosen.check(device, dtype)
        if not ok:
            raise BackendUnavailableError(
                f"Selective-scan backend {backend!r} cannot run on these {dtype} tensors on {device}: {reason}. "
                "Fix that, or pass backend='auto' or 'torch'.",
                parameter="backend",
                got=backend,
                hint=reason,
            )
        if needs_grad and chosen.forward_only:
            raise BackendUnavailableError(
                f"{chosen.name} backend is forward-only: use torch for training, or wrap inference in "
                "torch.no_grad()/inference_mode",
                parameter="backend",
                got=backend,
                hint="backend='torch' (or 'auto') computes gradients",
            )
        return chosen
    skipped: list[str] = []
    for candidate in sorted((SCAN_BACKENDS.get(n) for n in SCAN_BACKENDS), key=lambda b: -b.priority):
        ok, reason = candidate.check(device, dtype)
        if ok and needs_grad and candidate.forward_only:
            ok, reason = False, "forward only, and gradients are needed"
        if ok:
            if (device.type, candidate.name) not in _AUTO_LOGGED:
                _AUTO_LOGGED.add((device.type, candidate.name))
                logger.info(
                    "selective_scan: backend='auto' uses %r for %s tensors%s",
                    candidate.name,
                    device.type,
                    f" (skipped {'; '.join(skipped)})" if skipped else "",
                )
            return candidate
        skipped.append(f"{candidate.name}: {reason}")
    raise BackendUnavailableError(  # unreachable while 'torch' is registered
        f"No selective-scan backend can run on {device}: {'; '.join(skipped)}.", parameter="backend", got=backend
    )


@overload
def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: Literal[False] = False,
    backend: str = "auto",
) -> torch.Tensor: ...


@overload
def selective_scan(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    *,
    return_last_state: Literal[True],
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]: ...


@overload
def selective_scan(
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
    backend: str = "auto",
) -> ScanResult: ...


def selective_scan(
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
    backend: str = "auto",
) -> ScanResult:
    """Selective scan with mamba_ssm's ``selective_scan_fn`` semantics (model-spec.md §2.4).

    Per batch b, channel d, state n, from h_0 = 0::

        δ_t = softplus(delta_t + delta_bias[d]);  h_t = exp(δ_t A[d, n]) h_{t-1} + δ_t B_t[n] u_t
        y_t = Σ_n C_t[n] h_t[n] + D[d] u_t;       y_t ← y_t · SiLU(z_t)

    Computed in float32 (float64 for float64 inputs); bfloat16 and float16 inputs are upcast and y cast back.

    Args:
        u: (Bt, Dm, L).
        delta: (Bt, Dm, L), u's dtype.
        A: (Dm, N), real (float32 or u's dtype).
        B: (Dm, N) constant, (Bt, N, L) variable, or (Bt, G, N, L) grouped: channel d uses group d // (Dm/G).
        C: same choices as B.
        D: (Dm,) or None.
        z: (Bt, Dm, L) gate or None.
        delta_bias: (Dm,) or None; added before the softplus.
        delta_softplus: apply softplus (threshold 20) to delta.
        return_last_state: also return h_L.
        backend: ``"auto"`` or a name from :func:`available_backends` (``"mamba_ssm"``, ``"numba"``, ``"torch"``,
            ``"reference"``, ...). ``auto`` never picks a forward-only backend when gradients are needed.

    Returns:
        y (Bt, Dm, L) in u's dtype, or ``(y, last_state)`` with last_state (Bt, Dm, N) in float32 (float64 for
        float64 inputs). Only the ``torch`` and ``reference`` backends give last_state a gradient.

    Raises:
        ShapeError: inputs of the wrong rank, shape, dtype or device.
        ConfigError: unknown backend name (with a did-you-mean guess).
        BackendUnavailableError: an explicitly requested backend cannot run here (or is forward-only and gradients
            are needed); the message says why.
    """
    check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    needs_grad = torch.is_grad_enabled() and any(
        x is not None and x.requires_grad for x in (u, delta, A, B, C, D, z, delta_bias)
    )
    chosen = _choose(backend, u.device, u.dtype, needs_grad)
    record_scan(chosen.name)
    return chosen.fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)


__all__ = [
    "SCAN_BACKENDS",
    "BackendInfo",
    "ScanBackend",
    "available_backends",
    "register_scan_backend",
    "reset_scan_usage",
    "scan_usage",
    "selective_scan",
]
