"""akmamba.ops.selective_scan.usage: every scan entry point counts the kernel that ran."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from akmamba.ops import cross_selective_scan, selective_scan
from akmamba.ops.selective_scan import reset_scan_usage, scan_usage


def _scan_inputs(b: int = 1, d: int = 4, n: int = 2, length: int = 6) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    return (torch.randn(b, d, length), torch.rand(b, d, length), -torch.rand(d, n), torch.randn(b, n, length),
            torch.randn(b, n, length))


def test_selective_scan_counts_the_backend_that_ran() -> None:
    reset_scan_usage()
    u, delta, A, B, C = _scan_inputs()
    selective_scan(u, delta, A, B, C, backend="reference")
    selective_scan(u, delta, A, B, C, backend="torch")
    selective_scan(u, delta, A, B, C, backend="torch")
    assert scan_usage() == {"reference": 1, "torch": 2}
    reset_scan_usage()
    assert scan_usage() == {}


def test_auto_with_gradients_counts_the_resolved_name() -> None:
    reset_scan_usage()
    u, delta, A, B, C = _scan_inputs()
    selective_scan(u.requires_grad_(), delta, A, B, C)  # auto on CPU with gradients
    (name,) = scan_usage()
    assert name != "auto"


@pytest.mark.skipif(importlib.util.find_spec("numba") is None, reason="numba not installed")
def test_fused_numba_is_counted() -> None:
    reset_scan_usage()
    torch.manual_seed(1)
    b, e, n, h, w = 1, 3, 2, 4, 5
    with torch.no_grad():
        cross_selective_scan(torch.randn(b, e, h, w), torch.rand(b, 4, e, h, w), -torch.rand(4 * e, n),
                             torch.randn(b, 4, n, h, w), torch.randn(b, 4, n, h, w), backend="fused_numba")
    assert scan_usage() == {"fused_numba": 1}
