"""The ``triton`` selective-scan backend against the reference loop (and mamba_ssm where it runs).

Official recipe and tolerance table of mamba_ssm's tests/ops/test_selective_scan.py (model-spec.md §2.4): batch 2,
dim 4, dstate 8, A = -0.5·rand, delta = 0.5·rand, delta_bias = 0.5·rand, the rest randn; the reference runs in
float32 on the same inputs; outputs, last state and every input gradient are compared. The GPU tests skip with a
reason where CUDA or Triton is missing; the availability and priority tests run everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from akmamba.errors import BackendUnavailableError
from akmamba.ops import available_backends, selective_scan
from akmamba.ops.selective_scan import SCAN_BACKENDS, triton_scan
from akmamba.ops.selective_scan.tolerances import TOLERANCES

HAS_CUDA = torch.cuda.is_available()
_INFOS = {info.name: info for info in available_backends("cuda" if HAS_CUDA else None)}
_TRITON, _MAMBA = _INFOS["triton"], _INFOS["mamba_ssm"]
needs_triton = [
    pytest.mark.cuda,
    pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU; torch.cuda.is_available() is False"),
    pytest.mark.skipif(not _TRITON.available, reason=f"triton backend unusable: {_TRITON.reason}"),
]
needs_mamba = pytest.mark.skipif(not _MAMBA.available, reason=f"mamba_ssm backend unusable: {_MAMBA.reason}")

BATCH, DIM, DSTATE = 2, 4, 8
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def official_inputs(
    length: int,
    groups: int,
    dtype: torch.dtype,
    with_z: bool,
    seed: int = 0,
    dim: int = DIM,
    dstate: int = DSTATE,
    batch: int = BATCH,
) -> dict[str, Any]:
    """mamba_ssm's recipe; u, delta, B, C, z in ``dtype``; A, D, delta_bias in float32."""
    gen = torch.Generator(device="cuda").manual_seed(seed)

    def rand(*shape: int, dt: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device="cuda").to(dt)

    def randn(*shape: int, dt: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device="cuda").to(dt)

    return {
        "u": randn(batch, dim, length, dt=dtype),
        "delta": 0.5 * rand(batch, dim, length, dt=dtype),
        "A": -0.5 * rand(dim, dstate),
        "B": randn(batch, groups, dstate, length, dt=dtype),
        "C": randn(batch, groups, dstate, length, dt=dtype),
        "D": randn(dim),
        "z": randn(batch, dim, length, dt=dtype) if with_z else None,
        "delta_bias": 0.5 * rand(dim),
    }


Result = tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]


def forward_backward(backend: str, inputs: dict[str, Any], softplus: bool = True, seed: int = 1) -> Result:
    """y, last_state and the input gradients, from a fixed random upstream gradient into y."""
    leaves = {k: None if v is None else v.detach().clone().requires_grad_() for k, v in inputs.items()}
    y, last = selective_scan(**leaves, delta_softplus=softplus, return_last_state=True, backend=backend)
    gen = torch.Generator(device="cuda").manual_seed(seed)
    y.backward(torch.randn(y.shape, generator=gen, device="cuda").to(y.dtype))
    return y.detach(), last.detach(), {k: v.grad for k, v in leaves.items() if v is not None}


def compare(got: Result, want: Result, dtype: torch.dtype, with_z: bool) -> None:
    tol = TOLERANCES[dtype][with_z]
    for name, g, w in (("y", got[0], want[0]), ("last_state", got[1], want[1])):
        rtol, atol = tol[name]
        torch.testing.assert_close(g.float(), w.float(), rtol=rtol, atol=atol, msg=lambda m, n=name: f"{n}: {m}")
    assert got[2].keys() == want[2].keys()
    for name, grad in got[2].items():
        assert grad.dtype == want[2][name].dtype, name
        assert grad.shape == want[2][name].shape, name
        rtol, atol = tol[name]
        torch.testing.assert_close(
            grad.float(), want[2][name].float(), rtol=rtol, atol=atol, msg=lambda m, n=name: f"d{n}: {m}"
        )


_REFERENCE_CACHE: dict[tuple[Any, ...], tuple[dict[str, Any], Result]] = {}


def reference_result(length: int, groups: int, dtype: torch.dtype, with_z: bool) -> tuple[dict[str, Any], Result]:
    """Inputs and the reference's result, computed once per configuration (the loop is slow at L=4096)."""
    key = (length, groups, dtype, with_z)
    if key not in _REFERENCE_CACHE:
        inputs = official_inputs(length, groups, dtype, with_z)
        _REFERENCE_CACHE[key] = (inputs, forward_backward("reference", inputs))
    return _REFERENCE_CACHE[key]


@pytest.fixture
def launch_overrides() -> Iterator[dict[str, int]]:
    """Force launch settings (channels per program, tile, warps) for one test."""
    saved = dict(triton_scan.LAUNCH_OVERRIDES)
    yield triton_scan.LAUNCH_OVERRIDES
    triton_scan.LAUNCH_OVERRIDES.clear()
    triton_scan.LAUNCH_OVERRIDES.update(saved)


# -- everywhere: availability and priority -----------------------------------------------------------------------


def test_triton_is_listed_with_a_reason() -> None:
    info = {i.name: i for i in available_backends()}["triton"]
    assert info.reason
    cpu = {i.name: i for i in available_backends("cpu")}["triton"]
    assert not cpu.available
    assert "CUDA" in cpu.reason or "triton not installed" in cpu.reason


def test_triton_on_cpu_tensors_raises_with_reason() -> None:
    x = torch.randn(1, 2, 5)
    with pytest.raises(BackendUnavailableError, match=r"'triton'.*(needs CUDA tensors|triton not installed)"):
        selective_scan(x, x.clone(), -torch.rand(2, 3), torch.randn(2, 3), torch.randn(2, 3), backend="triton")


def test_auto_priority_follows_the_measurement() -> None:
    """Above torch always; above mamba_ssm only if measured at least as fast (triton_scan.py's constants)."""
    prio = {name: SCAN_BACKENDS.get(name).priority for name in SCAN_BACKENDS}
    assert prio["torch"] < prio["triton"]
    fwd, both = triton_scan.MEASURED_SPEED_VS_MAMBA_SSM
    as_fast = fwd is not None and both is not None and min(fwd, both) >= 1.0
    assert (prio["triton"] > prio["mamba_ssm"]) == as_fast


# -- GPU: against the reference ----------------------------------------------------------------------------------


def _gpu(fn: Any) -> Any:
    """Mark a test as needing CUDA and a usable Triton backend."""
    for mark in reversed(needs_triton):
        fn = mark(fn)
    return fn


@_gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("with_z", [True, False], ids=["z", "noz"])
@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("length", [1, 7, 128, 1000, 4096])
def test_triton_matches_reference(length: int, groups: int, with_z: bool, dtype: torch.dtype) -> None:
    inputs, want = reference_result(length, groups, dtype, with_z)
    got = forward_backward("triton", inputs)
    assert got[0].dtype == dtype
    assert got[1].dtype == torch.float32
    compare(got, want, dtype, with_z)


@_gpu
@pytest.mark.parametrize(
    ("b_kind", "c_kind", "with_d", "with_bias", "softplus"),
    [
        ("grouped", "grouped", False, False, False),
        ("grouped", "grouped", False, True, True),
        ("constant", "constant", True, True, True),
        ("constant", "variable", True, False, True),
        ("variable", "constant", False, True, False),
        ("variable", "variable", True, True, True),
        ("grouped", "variable", True, True, True),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=["fp32", "bf16", "fp16"])
def test_triton_options_match_reference(
    b_kind: str, c_kind: str, with_d: bool, with_bias: bool, softplus: bool, dtype: torch.dtype
) -> None:
    inputs = official_inputs(300, 2, dtype, with_z=True, seed=3)
    for name, kind in (("B", b_kind), ("C", c_kind)):
        if kind == "variable":
            inputs[name] = inputs[name][:, 0].contiguous()
        elif kind == "constant":
            inputs[name] = torch.randn(DIM, DSTATE, device="cuda")
    if not with_d:
        inputs["D"] = None
    if not with_bias:
        inputs["delta_bias"] = None
    want = forward_backward("reference", inputs, softplus=softplus)
    got = forward_backward("triton", inputs, softplus=softplus)
    compare(got, want, dtype, with_z=True)


@_gpu
@pytest.mark.parametrize(
    ("dim", "dstate", "groups", "block_d", "tile", "token_major_bwd"),
    [
        (64, 16, 4, None, None, 0),  # default launch heuristics
        (64, 16, 2, 4, 64, 0),  # several programs per group: dB/dC by atomics
        (64, 16, 4, 16, 32, 1),  # one program per group: dB/dC stored
        (32, 5, 1, 8, 128, 0),  # N not a power of two
        (24, 16, 3, 8, 16, 1),  # 8 channels per group
        (6, 3, 3, 2, 32, 1),
        (16, 64, 2, 2, 32, 0),  # larger state
    ],
)
def test_triton_launch_configs_match_reference(
    dim: int,
    dstate: int,
    groups: int,
    block_d: int | None,
    tile: int | None,
    token_major_bwd: int,
    launch_overrides: dict[str, int],
) -> None:
    if block_d is not None:
        launch_overrides.update(fwd_block_d=block_d, bwd_block_d=max(1, block_d // 2), tile=tile or 64)
    launch_overrides["bwd_token_major"] = token_major_bwd
    inputs = official_inputs(777, groups, torch.float32, with_z=True, seed=5, dim=dim, dstate=dstate, batch=3)
    compare(forward_backward("triton", inputs), forward_backward("reference", inputs), torch.float32, with_z=True)


@_gpu
def test_triton_stress_delta_stays_finite() -> None:
    """softplus(δ) up to about 3 and |A| up to 16 (model-spec.md §5): finite and close to the reference."""
    inputs = official_inputs(500, 2, torch.float32, with_z=False, seed=7, dim=8, dstate=16)
    inputs["delta"] = 3.0 * torch.rand_like(inputs["delta"])
    inputs["A"] = -torch.arange(1, 17, device="cuda", dtype=torch.float32).repeat(8, 1)
    got = forward_backward("triton", inputs)
    want = forward_backward("reference", inputs)
    assert all(torch.isfinite(g).all() for g in got[2].values())
    compare(got, want, torch.float32, with_z=False)


@_gpu
def test_triton_no_grad_path_equals_autograd_path() -> None:
    inputs = official_inputs(1000, 2, torch.float32, with_z=True)
    with torch.no_grad():
        y0, last0 = selective_scan(**inputs, delta_softplus=True, return_last_state=True, backend="triton")
    y1, last1, _ = forward_backward("triton", inputs)
    # the paths may use different tile lengths (no states saved without grad): equal up to rounding
    rtol, atol = TOLERANCES[torch.float32][True]["y"]
    torch.testing.assert_close(y0, y1, rtol=rtol, atol=atol)
    torch.testing.assert_close(last0, last1, rtol=rtol, atol=atol)


@_gpu
def test_triton_last_state_has_no_gradient_and_y_is_contiguous() -> None:
    inputs = official_inputs(50, 1, torch.float32, with_z=False)
    u = inputs["u"].requires_grad_()
    y, last = selective_scan(**inputs, return_last_state=True, backend="triton")
    assert y.requires_grad
    assert not last.requires_grad
    assert y.is_contiguous()
    assert last.shape == (BATCH, DIM, DSTATE)
    assert u.grad is None


@_gpu
def test_triton_parameters_in_input_dtype() -> None:
    """A, D, delta_bias and constant B may be bf16 (u's dtype): gradients come back in their dtypes."""
    inputs = official_inputs(200, 1, torch.bfloat16, with_z=False, seed=9)
    for name in ("A", "D", "delta_bias"):
        inputs[name] = inputs[name].to(torch.bfloat16)
    inputs["B"] = torch.randn(DIM, DSTATE, device="cuda").to(torch.bfloat16)
    got = forward_backward("triton", inputs)
    want = forward_backward("reference", inputs)
    compare(got, want, torch.bfloat16, with_z=False)


# -- GPU: against mamba_ssm --------------------------------------------------------------------------------------


@_gpu
@needs_mamba
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("with_z", [True, False], ids=["z", "noz"])
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("length", [128, 4096])
def test_triton_matches_mamba_ssm(length: int, groups: int, with_z: bool, dtype: torch.dtype) -> None:
    inputs = official_inputs(length, groups, dtype, with_z, seed=11)
    compare(forward_backward("triton", inputs), forward_backward("mamba_ssm", inputs), dtype, with_z)


@_gpu
@needs_mamba
def test_triton_matches_mamba_ssm_on_ss2d_shapes() -> None:
    """Bt 2, Dm 256, N 16, G 4, L 4096, SS2D-like delta (softplus(δ + bias) in about [1e-3, 0.1])."""
    gen = torch.Generator(device="cuda").manual_seed(0)
    inputs = {
        "u": torch.randn(2, 256, 4096, generator=gen, device="cuda"),
        "delta": torch.randn(2, 256, 4096, generator=gen, device="cuda") * 0.5,
        "A": -torch.arange(1, 17, dtype=torch.float32, device="cuda").repeat(256, 1),
        "B": torch.randn(2, 4, 16, 4096, generator=gen, device="cuda"),
        "C": torch.randn(2, 4, 16, 4096, generator=gen, device="cuda"),
        "D": torch.ones(256, device="cuda"),
        "z": None,
        "delta_bias": torch.empty(256, device="cuda").uniform_(-6.9, -2.3, generator=gen),
    }
    compare(forward_backward("triton", inputs), forward_backward("mamba_ssm", inputs), torch.float32, False)
