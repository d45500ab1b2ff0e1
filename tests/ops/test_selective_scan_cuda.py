"""Selective scan on CUDA: the ``torch`` backend and mamba_ssm's kernel against the reference loop.

Official recipe and tolerances of mamba_ssm's tests/ops/test_selective_scan.py (model-spec.md §2.4): batch 2,
dim 4, dstate 8, A = -0.5·rand, delta = 0.5·rand, delta_bias = 0.5·rand, the rest randn; the reference runs in
float32 on the same inputs. Everything skips with a reason where CUDA or mamba_ssm is missing.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from akmamba.ops import available_backends, selective_scan
from akmamba.ops.selective_scan.reference import selective_scan_reference
from akmamba.ops.selective_scan.tolerances import TOLERANCES

HAS_CUDA = torch.cuda.is_available()
_MAMBA = {info.name: info for info in available_backends("cuda" if HAS_CUDA else None)}["mamba_ssm"]
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU; torch.cuda.is_available() is False")
needs_mamba = pytest.mark.skipif(not _MAMBA.available, reason=f"mamba_ssm backend unusable: {_MAMBA.reason}")
pytestmark = [pytest.mark.cuda, needs_cuda]

BATCH, DIM, DSTATE = 2, 4, 8


def official_inputs(length: int, groups: int, dtype: torch.dtype, with_z: bool, seed: int = 0) -> dict[str, Any]:
    """mamba_ssm's recipe; u, delta, B, C, z in ``dtype``; A, D, delta_bias in float32."""
    gen = torch.Generator(device="cuda").manual_seed(seed)

    def rand(*shape: int, dt: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device="cuda").to(dt)

    def randn(*shape: int, dt: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device="cuda").to(dt)

    return {
        "u": randn(BATCH, DIM, length, dt=dtype),
        "delta": 0.5 * rand(BATCH, DIM, length, dt=dtype),
        "A": -0.5 * rand(DIM, DSTATE),
        "B": randn(BATCH, groups, DSTATE, length, dt=dtype),
        "C": randn(BATCH, groups, DSTATE, length, dt=dtype),
        "D": randn(DIM),
        "z": randn(BATCH, DIM, length, dt=dtype) if with_z else None,
        "delta_bias": 0.5 * rand(DIM),
    }


def forward_backward(backend: str, inputs: dict[str, Any], seed: int = 1) -> tuple[torch.Tensor, ...]:
    """y, last_state and the input gradients, from a fixed random upstream gradient into y."""
    leaves = {k: None if v is None else v.detach().clone().requires_grad_() for k, v in inputs.items()}
    y, last = selective_scan(**leaves, delta_softplus=True, return_last_state=True, backend=backend)
    gen = torch.Generator(device="cuda").manual_seed(seed)
    y.backward(torch.randn(y.shape, generator=gen, device="cuda").to(y.dtype))
    return y.detach(), last.detach(), {k: v.grad for k, v in leaves.items() if v is not None}


def compare(got: tuple[Any, ...], want: tuple[Any, ...], dtype: torch.dtype, with_z: bool) -> None:
    tol = TOLERANCES[dtype][with_z]
    for name, g, w in (("y", got[0], want[0]), ("last_state", got[1], want[1])):
        rtol, atol = tol[name]
        torch.testing.assert_close(g.float(), w.float(), rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")
    for name, grad in got[2].items():
        rtol, atol = tol[name]
        torch.testing.assert_close(
            grad.float(), want[2][name].float(), rtol=rtol, atol=atol, msg=lambda m, n=name: f"d{n}: {m}"
        )


_REFERENCE_CACHE: dict[tuple[Any, ...], tuple[dict[str, Any], tuple[torch.Tensor, ...]]] = {}


def reference_result(length: int, groups: int, dtype: torch.dtype, with_z: bool) -> tuple[dict[str, Any], tuple]:
    """Inputs and the reference's result, computed once per configuration (the loop is slow at L=4096)."""
    key = (length, groups, dtype, with_z)
    if key not in _REFERENCE_CACHE:
        inputs = official_inputs(length, groups, dtype, with_z)
        _REFERENCE_CACHE[key] = (inputs, forward_backward("reference", inputs))
    return _REFERENCE_CACHE[key]


@pytest.mark.parametrize("with_z", [True, False])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("length", [128, 1024, 4096])
def test_torch_backend_on_cuda_matches_reference(length: int, groups: int, with_z: bool) -> None:
    inputs, want = reference_result(length, groups, torch.float32, with_z)
    got = forward_backward("torch", inputs)
    assert got[0].is_cuda
    compare(got, want, torch.float32, with_z)


@needs_mamba
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("with_z", [True, False])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("length", [128, 1024, 4096])
def test_mamba_ssm_matches_reference(length: int, groups: int, with_z: bool, dtype: torch.dtype) -> None:
    inputs, want = reference_result(length, groups, dtype, with_z)
    got = forward_backward("mamba_ssm", inputs)
    assert got[0].dtype == dtype
    # the kernel's last_state carries no gradient, so only y was backpropagated in both runs
    compare(got, want, dtype, with_z)


@needs_mamba
def test_auto_picks_mamba_ssm_for_cuda_tensors() -> None:
    inputs = official_inputs(64, 1, torch.float32, with_z=False)
    want = selective_scan(**inputs, backend="mamba_ssm")
    torch.testing.assert_close(selective_scan(**inputs), want, rtol=0, atol=0)


@needs_mamba
def test_mamba_ssm_constant_and_variable_bc() -> None:
    inputs = official_inputs(200, 1, torch.float32, with_z=True)
    inputs["B"] = inputs["B"][:, 0]  # (Bt, N, L)
    inputs["C"] = torch.randn(DIM, DSTATE, device="cuda")  # constant
    got = selective_scan(**inputs, delta_softplus=True, backend="mamba_ssm")
    want = selective_scan_reference(**inputs, delta_softplus=True)
    rtol, atol = TOLERANCES[torch.float32][True]["y"]
    torch.testing.assert_close(got, want, rtol=rtol, atol=atol)


def test_float64_on_cuda_uses_torch_backend() -> None:
    inputs = {k: None if v is None else v.double() for k, v in official_inputs(50, 2, torch.float32, True).items()}
    y = selective_scan(**inputs, delta_softplus=True)
    torch.testing.assert_close(y, selective_scan_reference(**inputs, delta_softplus=True), rtol=1e-12, atol=1e-12)
