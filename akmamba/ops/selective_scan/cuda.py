"""The ``mamba_ssm`` backend: a thin, lazily imported wrapper around mamba_ssm's CUDA ``selective_scan_fn``.

mamba_ssm is imported on first use only. Release 2.3.2.post1 cannot be imported at all without its compiled
extension (model-spec.md §2.5), so the import is guarded and the failure becomes a reason string.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from akmamba.ops.selective_scan.checks import check_kernel_inputs, check_scan_inputs

#: dtypes the kernel accepts for u and delta.
KERNEL_DTYPES = frozenset({torch.float32, torch.float16, torch.bfloat16})
#: The kernel's largest state size.
MAX_DSTATE = 256
INSTALL_HINT = "pip install 'akmamba[gpu]'"


@functools.lru_cache(maxsize=1)
def _import_kernel() -> tuple[Callable[..., Any] | None, str]:
    """Import ``selective_scan_fn`` once: (function, "") or (None, why not)."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ModuleNotFoundError as exc:
        if exc.name == "mamba_ssm":
            return None, f"mamba_ssm not installed: {INSTALL_HINT}"
        return None, (
            f"mamba_ssm is installed but cannot be imported (missing module {exc.name!r}); it needs its compiled "
            f"CUDA extension and triton: reinstall it for this torch and CUDA with {INSTALL_HINT}"
        )
    except (ImportError, OSError) as exc:
        return None, (
            f"mamba_ssm is installed but cannot be imported ({type(exc).__name__}: {exc}); reinstall it for this "
            f"torch and CUDA with {INSTALL_HINT}"
        )
    return selective_scan_fn, ""


def mamba_ssm_available(device: torch.device | None = None) -> tuple[bool, str]:
    """Whether the kernel can run on ``device`` (None: on this machine), and why not.

    CUDA is checked before mamba_ssm is imported, so CPU-only callers never import it.
    """
    if not torch.cuda.is_available():
        return False, "needs CUDA tensors; CUDA is not available on this machine"
    if device is not None and device.type != "cuda":
        return False, f"needs CUDA tensors; the inputs are on {device.type!r} (move them with .cuda())"
    fn, reason = _import_kernel()
    return fn is not None, reason or "CUDA kernel from mamba_ssm"


def _contiguous(x: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    return None if x is None else x.to(dtype).contiguous()


def selective_scan_mamba_ssm(
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
    """Selective scan with mamba_ssm's CUDA kernel.

    Shapes and semantics are those of :func:`~akmamba.ops.selective_scan.reference.selective_scan_reference`.
    Inputs are made contiguous and cast to what the kernel accepts: u, delta, z and sequence-shaped B/C in u's
    dtype (float32, float16 or bfloat16); A, D, delta_bias and constant B/C in float32. last_state (float32)
    carries no gradient.

    Raises:
        ShapeError: bad inputs, float64 inputs, or N above 256.
        BackendUnavailableError: no CUDA, CPU tensors, or mamba_ssm missing or broken.
    """
    shapes = check_scan_inputs(u, delta, A, B, C, D, z, delta_bias)
    check_kernel_inputs(
        "mamba_ssm", "the mamba_ssm kernel", mamba_ssm_available(u.device), u, shapes, KERNEL_DTYPES, MAX_DSTATE
    )
    fn, _ = _import_kernel()
    assert fn is not None  # checked by mamba_ssm_available
    f32, dtype = torch.float32, u.dtype
    return fn(  # type: ignore[no-any-return]
        u.contiguous(),
        delta.contiguous(),
        A.to(f32).contiguous(),
        _contiguous(B, dtype if shapes.b_groups is not None else f32),
        _contiguous(C, dtype if shapes.c_groups is not None else f32),
        _contiguous(D, f32),
        _contiguous(z, dtype),
        _contiguous(delta_bias, f32),
        delta_softplus,
        return_last_state,
    )
