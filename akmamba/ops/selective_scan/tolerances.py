"""mamba-ssm's tolerances for comparing a selective-scan backend with the reference (model-spec.md §2.4).

``TOLERANCES[input dtype][with z][quantity] = (rtol, atol)`` where quantity is ``y``, ``last_state`` or the
gradient of an input (``u``, ``delta``, ``A``, ``B``, ``C``, ``D``, ``z``, ``delta_bias``). Used by the backend
tests; kept here so that every fast path is held to the one table.
"""

from __future__ import annotations

import torch

Tolerance = tuple[float, float]


def _derived(rtol: float, atol: float, with_z: bool) -> dict[str, Tolerance]:
    """Per-quantity (rtol, atol) derived from the output tolerance, as mamba-ssm's own test does."""
    rtolw, atolw = (max(1e-3, rtol), max(1e-3, atol)) if with_z else (1e-3, 1e-3)
    return {
        "y": (rtol, atol),
        "last_state": (rtol, atol),
        "u": (2 * rtol, 2 * atol),
        "delta": (5 * rtol, 10 * atol),
        "A": (rtolw, 5 * atolw),
        "B": (rtol, atol),
        "C": (rtol, atol),
        "D": (rtolw, atolw),
        "z": (rtolw, atolw),
        "delta_bias": (rtolw, atolw),
    }


#: input dtype -> with z? -> quantity -> (rtol, atol)
TOLERANCES: dict[torch.dtype, dict[bool, dict[str, Tolerance]]] = {
    dtype: {with_z: _derived(rtol, atol, with_z) for with_z in (False, True)}
    for dtype, (rtol, atol) in {
        torch.float32: (6e-4, 2e-3),
        torch.float16: (3e-3, 5e-3),
        torch.bfloat16: (3e-2, 5e-2),
    }.items()
}
