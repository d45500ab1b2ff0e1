"""Which scan kernels ran in this process: a count per kernel name, for training records and reports.

``auto`` picks a scan kernel per call from what is installed and measured (mamba_ssm, the fused Triton kernel,
Numba, plain PyTorch), so the same command can run different kernels on different machines. The trainer resets
the counts before its first step and stores the names that ran in the checkpoint's metadata and its ``done``
event, so a model file says which kernel trained it.

Names: the selective_scan backends (``mamba_ssm``, ``triton``, ``numba``, ``torch``, ``reference``, ...) for the
unfused path, ``fused_triton`` and ``fused_numba`` for the fused four-direction kernels.
"""

from __future__ import annotations

from collections import Counter

_COUNTS: Counter[str] = Counter()


def record_scan(name: str) -> None:
    """Count one call of the scan kernel ``name`` (called by the scan entry points, not by users)."""
    _COUNTS[name] += 1


def scan_usage() -> dict[str, int]:
    """Calls per scan kernel name since the last :func:`reset_scan_usage` (or since import)."""
    return dict(_COUNTS)


def reset_scan_usage() -> None:
    """Forget the counts."""
    _COUNTS.clear()
