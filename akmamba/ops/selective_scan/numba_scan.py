"""The ``numba`` backend: a fused selective-scan forward for CPU inference, compiled with Numba.

One pass over the sequence per (batch, block of 16 channels), with the block's N state values in a small buffer:
it reads only u, delta, B and C (and z, D, delta_bias), computes softplus and exp(δA) on the fly and writes y (and
last_state when asked). No (Bt, Dm, N, L) tensor is ever materialised. Blocks run in parallel with
``numba.prange`` (Numba's threads: ``numba.set_num_threads`` or ``NUMBA_NUM_THREADS``); the sequence is walked in
tiles of :data:`TILE` tokens so that each tile of B and C is read once per block. The kernels live in
``_numba_kernels.py``, imported on first use, and are compiled on the first call with ``cache=True``: the first call
of a process compiles (about 20 s) or loads the cached machine code (under a second); later calls run at once.

Forward only: no gradients. :func:`selective_scan_numba` raises :class:`~akmamba.errors.BackendUnavailableError`
when autograd would need one (grad mode on and an input requiring grad), and ``backend="auto"`` skips this backend
in that case (see the dispatcher). float32 inputs are computed in float32 (polynomial exp and log1p within a few
ulp of libm, fast-math without ``nnan``/``ninf``), float64 inputs in float64, float16/bfloat16 inputs are upcast to
float32 and y is cast back.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from types import ModuleType
from typing import Any

import torch

from akmamba.errors import BackendUnavailableError
from akmamba.ops.selective_scan.checks import check_scan_inputs

#: ``auto`` priority: above ``torch`` (50) on CPU; CUDA-only backends rank above it but never run on CPU.
NUMBA_PRIORITY = 60
INSTALL_HINT = "pip install numba"
#: Message of the error raised when gradients would be needed.
FORWARD_ONLY_MESSAGE = (
    "numba backend is forward-only: use torch for training, or wrap inference in torch.no_grad()/inference_mode"
)
#: Tokens per tile: a task's working set (state, B/C tile, per-tile δ, δu and y of its channels) stays in L1/L2.
TILE = 128


def import_kernel_module(name: str) -> tuple[ModuleType | None, str]:
    """Import Numba and the kernel module ``akmamba.ops.selective_scan.<name>``: (module, "") or (None, why not).

    Shared by the Numba backends (each caches its own result).
    """
    if importlib.util.find_spec("numba") is None:
        return None, f"numba not installed: {INSTALL_HINT}"
    try:
        module = importlib.import_module(f"akmamba.ops.selective_scan.{name}")
    except Exception as exc:  # noqa: BLE001  (a broken numba/llvmlite install can raise anything at import)
        return None, f"numba is installed but cannot be imported ({type(exc).__name__}: {exc})"
    return module, ""


@functools.lru_cache(maxsize=1)
def _import_kernels() -> tuple[ModuleType | None, str]:
    """Import Numba and the kernels once: (module, "") or (None, why not)."""
    return import_kernel_module("_numba_kernels")


def numba_available(device: torch.device | None = None) -> tuple[bool, str]:
    """Whether the Numba kernel can run on ``device`` (None: on this machine), and why not.

    The device is checked first, so asking about CUDA tensors never imports Numba.
    """
    if device is not None and device.type != "cpu":
        return False, f"needs CPU tensors; the inputs are on {device.type!r} (numba is the CPU inference kernel)"
    if importlib.util.find_spec("numba") is None:
        return False, f"numba not installed: {INSTALL_HINT}"
    module, reason = _import_kernels()
    return module is not None, reason or "fused Numba CPU kernel (forward only: inference)"


def needs_grad(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd would record a graph through these inputs."""
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def _array(x: torch.Tensor, dtype: torch.dtype) -> Any:
    """A C-contiguous NumPy view (no copy when already so) of ``x`` in ``dtype``."""
    return x.detach().to(dtype).contiguous().numpy()


def _bc_array(x: torch.Tensor, dtype: torch.dtype) -> Any:
    """B or C as the kernel's (Bb, G, N, Lb): constant (1, Dm, N, 1), variable (Bt, 1, N, L), grouped as is."""
    if x.dim() == 2:
        x = x[None, :, :, None]
    elif x.dim() == 3:
        x = x.unsqueeze(1)
    return _array(x, dtype)


def selective_scan_numba(
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
    """Selective scan with the fused Numba kernel (CPU, forward only).

    Shapes and semantics are those of :func:`~akmamba.ops.selective_scan.reference.selective_scan_reference`.

    Returns:
        y (Bt, Dm, L) in u's dtype, or ``(y, last_state)`` with last_state (Bt, Dm, N) in float32 (float64 for
        float64 inputs). Neither carries a gradient.

    Raises:
        ShapeError: bad inputs.
        BackendUnavailableError: CUDA tensors, Numba missing, or gradients needed (the message says what to do).
    """
    shapes = check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    if needs_grad(u, delta, A, B, C, D, z, delta_bias):
        raise BackendUnavailableError(
            FORWARD_ONLY_MESSAGE,
            parameter="backend",
            got="numba",
            hint="use backend='torch' for training, or run inference under torch.no_grad()/torch.inference_mode()",
        )
    ok, reason = numba_available(u.device)
    kernels, _ = _import_kernels()
    if not ok or kernels is None:
        raise BackendUnavailableError(
            f"Selective-scan backend 'numba' cannot run here: {reason}.", parameter="backend", got="numba", hint=reason
        )
    dtype = shapes.compute_dtype
    bt, dm, length, n = shapes.batch, shapes.dim, shapes.length, shapes.dstate
    y = torch.empty(bt, dm, length, dtype=dtype)
    last = torch.empty(bt, dm, n, dtype=dtype)
    zeros = torch.zeros(dm, dtype=dtype)
    kernels.scan_forward(
        _array(u, dtype),
        _array(delta, dtype),
        _array(A, dtype),
        _bc_array(B, dtype),
        _bc_array(C, dtype),
        _array(D if D is not None else zeros, dtype),
        _array(delta_bias if delta_bias is not None else zeros, dtype),
        _array(z, dtype) if z is not None else _array(torch.zeros(1, 1, 1, dtype=dtype), dtype),
        z is not None,
        bool(delta_softplus),
        y.numpy(),
        last.numpy(),
        TILE,
    )
    y = y.to(u.dtype)
    return (y, last) if return_last_state else y


def _register() -> None:
    """Register the ``numba`` backend; runs when the package ``__init__`` imports this module."""
    from akmamba.ops.selective_scan import ScanBackend, register_scan_backend

    register_scan_backend(
        ScanBackend(
            "numba",
            selective_scan_numba,
            NUMBA_PRIORITY,
            "fused Numba kernel, forward only (CPU inference)",
            numba_available,
            forward_only=True,
        )
    )


_register()
