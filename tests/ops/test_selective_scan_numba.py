"""The ``numba`` selective-scan backend (fused CPU forward) against the reference loop, and its dispatch policy.

Outputs and last states are compared with the reference in float64 (to 1e-10) and, for float32 inputs, with the
reference run in float64 on the same values (to 1e-5 absolute), over L in {1, 7, 300, 4096}, B/C constant, variable
and grouped (G 1 and 4), with and without z, D and delta_bias. Shapes cover both code paths of the kernel: blocks
of 16 channels sharing one B/C group (the lane-vectorised path SS2D takes) and any other layout (the general path).
Tests of the kernel skip with a reason where Numba is missing; the availability tests run everywhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from akmamba.errors import BackendUnavailableError
from akmamba.ops import available_backends, selective_scan
from akmamba.ops.selective_scan import SCAN_BACKENDS
from akmamba.ops.selective_scan import numba_scan as numba_module
from akmamba.ops.selective_scan.numba_scan import FORWARD_ONLY_MESSAGE, numba_available, selective_scan_numba
from akmamba.ops.selective_scan.reference import selective_scan_reference

NUMBA_OK, NUMBA_REASON = numba_available()
needs_numba = pytest.mark.skipif(not NUMBA_OK, reason=f"numba backend unusable: {NUMBA_REASON}")
DISPATCH_LOGGER = "akmamba.ops.selective_scan"
# (rtol, atol) against the reference: float64 in float64; float32 inputs against the float64 reference
TOLERANCES = {torch.float64: (1e-10, 1e-10), torch.float32: (0.0, 1e-5), "float32-stress": (1e-6, 1e-5)}
Inputs = dict[str, torch.Tensor | None]


def make_inputs(
    batch: int = 2,
    dim: int = 64,
    dstate: int = 16,
    length: int = 33,
    b_kind: str = "grouped",
    c_kind: str = "grouped",
    groups: int = 4,
    with_d: bool = True,
    with_z: bool = True,
    with_bias: bool = True,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
) -> Inputs:
    """Random inputs in SS2D's ranges: A = -(1..N)-ish, softplus(delta + bias) around 0.1, the rest randn."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype)

    bc_shapes = {"const": (dim, dstate), "var": (batch, dstate, length), "grouped": (batch, groups, dstate, length)}
    A = -(torch.arange(1, dstate + 1, dtype=dtype) * (0.5 + torch.rand(dim, 1, generator=gen, dtype=dtype)))
    return {
        "u": randn(batch, dim, length),
        "delta": randn(batch, dim, length) * 0.5 - 2.0,
        "A": A,
        "B": randn(*bc_shapes[b_kind]),
        "C": randn(*bc_shapes[c_kind]),
        "D": randn(dim) if with_d else None,
        "z": randn(batch, dim, length) if with_z else None,
        "delta_bias": randn(dim) * 0.5 if with_bias else None,
    }


def as_float64(inputs: Inputs) -> Inputs:
    return {k: None if v is None else v.double() for k, v in inputs.items()}


def assert_matches_reference(inputs: Inputs, tol: Any, delta_softplus: bool = True) -> None:
    """numba (y, last_state) against the reference computed in float64 from the same values."""
    y, last = selective_scan_numba(**inputs, delta_softplus=delta_softplus, return_last_state=True)
    compute = torch.float64 if inputs["u"].dtype == torch.float64 else torch.float32
    assert y.dtype == inputs["u"].dtype
    assert last.dtype == compute
    assert y.shape == inputs["u"].shape
    assert last.shape == (*inputs["u"].shape[:2], inputs["A"].shape[1])
    want_y, want_last = selective_scan_reference(
        **as_float64(inputs), delta_softplus=delta_softplus, return_last_state=True
    )
    rtol, atol = TOLERANCES[tol]
    torch.testing.assert_close(y.double(), want_y, rtol=rtol, atol=atol, msg=lambda m: f"y: {m}")
    torch.testing.assert_close(last.double(), want_last, rtol=rtol, atol=atol, msg=lambda m: f"h_L: {m}")


# name -> make_inputs options. "lanes": every block of 16 channels shares one B and one C group (the fast path);
# "general": blocks straddle groups or B/C are per channel (constant).
CASES = {
    "const-BC-bare (general)": {"b_kind": "const", "c_kind": "const", "with_z": False, "with_d": False,
                                "with_bias": False},
    "var-BC-z-D, Dm 40 (lanes, partial block)": {"dim": 40, "b_kind": "var", "c_kind": "var", "with_bias": False},
    "grouped-G1 (lanes)": {"groups": 1, "with_z": False},
    "grouped-G4-all (lanes)": {"groups": 4},
    "grouped-G4, Dm 8 (general)": {"dim": 8, "dstate": 4, "groups": 4},
    "mixed-grouped-var (lanes)": {"b_kind": "grouped", "c_kind": "var", "with_d": False},
    "mixed-const-grouped (general)": {"b_kind": "const", "c_kind": "grouped", "with_z": False},
}
LENGTHS = [1, 7, 300, 4096]


def _case_inputs(case: str, length: int, dtype: torch.dtype) -> Inputs:
    options = dict(CASES[case])
    if length == 4096:  # keep the reference loop quick
        options.update(batch=1, dim=min(options.get("dim", 64), 32), groups=min(options.get("groups", 4), 2))
    return make_inputs(length=length, dtype=dtype, seed=length, **options)


@needs_numba
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("case", CASES)
def test_matches_reference_float64(case: str, length: int) -> None:
    assert_matches_reference(_case_inputs(case, length, torch.float64), torch.float64)


@needs_numba
@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("case", CASES)
def test_matches_reference_float32(case: str, length: int) -> None:
    assert_matches_reference(_case_inputs(case, length, torch.float32), torch.float32)


@needs_numba
@pytest.mark.parametrize("dim", [8, 64], ids=["general", "lanes"])
@pytest.mark.parametrize("with_z", [False, True], ids=["no-z", "z"])
@pytest.mark.parametrize("with_d", [False, True], ids=["no-D", "D"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["no-bias", "bias"])
@pytest.mark.parametrize("delta_softplus", [False, True], ids=["raw-delta", "softplus"])
def test_each_optional_input(dim: int, with_z: bool, with_d: bool, with_bias: bool, delta_softplus: bool) -> None:
    inputs = make_inputs(dim=dim, length=70, with_z=with_z, with_d=with_d, with_bias=with_bias, seed=3)
    if not delta_softplus:  # raw delta + delta_bias must be a positive step size (or the state overflows)
        inputs["delta"] = F.softplus(inputs["delta"])
        if with_bias:
            inputs["delta_bias"] = inputs["delta_bias"].abs()  # type: ignore[union-attr]
    assert_matches_reference(inputs, torch.float64, delta_softplus=delta_softplus)


@needs_numba
def test_return_last_state_false_gives_y_only() -> None:
    inputs = make_inputs(length=20, dtype=torch.float32)
    y = selective_scan_numba(**inputs, delta_softplus=True)
    assert isinstance(y, torch.Tensor)
    y2, _ = selective_scan_numba(**inputs, delta_softplus=True, return_last_state=True)
    torch.testing.assert_close(y, y2, rtol=0, atol=0)


@needs_numba
def test_batch_and_groups_are_indexed_correctly() -> None:
    # each batch element and each group gets its own B/C: permuting the batch permutes y
    inputs = make_inputs(batch=3, dim=64, groups=4, length=50, seed=11)
    y = selective_scan_numba(**inputs, delta_softplus=True)
    perm = torch.tensor([2, 0, 1])
    swapped = {k: v if v is None or k in ("A", "D", "delta_bias") else v[perm] for k, v in inputs.items()}
    torch.testing.assert_close(selective_scan_numba(**swapped, delta_softplus=True), y[perm], rtol=0, atol=0)


@needs_numba
def test_non_contiguous_inputs() -> None:
    inputs = make_inputs(length=45, seed=12)
    strided = dict(inputs)
    for name in ("u", "delta", "z"):
        strided[name] = inputs[name].transpose(1, 2).contiguous().transpose(1, 2)  # same values, other strides
    assert not strided["u"].is_contiguous()
    torch.testing.assert_close(
        selective_scan_numba(**strided, delta_softplus=True), selective_scan_numba(**inputs, delta_softplus=True)
    )


@needs_numba
@pytest.mark.parametrize("dim", [8, 64], ids=["general", "lanes"])
def test_dt_stress_stays_finite_and_exact(dim: int) -> None:
    # softplus(delta) up to about 3 with A = -(1..16): decays down to exp(-48), and raw delta beyond the softplus
    # threshold (20) for a few tokens (the softplus is then the identity)
    inputs = make_inputs(batch=1, dim=dim, dstate=16, length=260, with_bias=False, dtype=torch.float32, seed=9)
    inputs["A"] = -torch.arange(1, 17, dtype=torch.float32).repeat(dim, 1)
    gen = torch.Generator().manual_seed(10)
    inputs["delta"] = torch.rand(1, dim, 260, generator=gen) * 6.0 - 3.0  # softplus in (0.05, 3.05)
    inputs["delta"][..., 100:103] = 25.0
    y = selective_scan_numba(**inputs, delta_softplus=True)
    assert torch.isfinite(y).all()
    assert F.softplus(inputs["delta"].double()).max() > 3.0
    assert_matches_reference(inputs, "float32-stress")


@needs_numba
def test_extreme_delta_matches_reference_float64() -> None:
    # very small and very large steps (softplus of -30 .. 40) with softplus; exp(δA) underflows to 0
    inputs = make_inputs(dim=64, length=120, seed=13)
    gen = torch.Generator().manual_seed(14)
    inputs["delta"] = torch.rand(2, 64, 120, generator=gen, dtype=torch.float64) * 70.0 - 30.0
    assert_matches_reference(inputs, torch.float64)


@needs_numba
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dim", [8, 64], ids=["general", "lanes"])
@pytest.mark.parametrize("growth", ["positive-A", "negative-delta"])
def test_growing_states_match_reference(growth: str, dim: int, dtype: torch.dtype) -> None:
    # δA > 0 somewhere: the kernel must not use its exp for decays (δA <= 0) there
    inputs = make_inputs(dim=dim, length=60, with_bias=False, dtype=dtype, seed=15)
    softplus = growth == "positive-A"
    if growth == "positive-A":
        inputs["A"][:, ::3] = 0.05  # type: ignore[index]
    else:
        inputs["delta"] = inputs["delta"] * 0.002 + 0.004  # raw steps around 0, some negative (mild growth)
        assert (inputs["delta"] < 0).any()  # type: ignore[operator]
    tol = "float32-stress" if dtype == torch.float32 else torch.float64
    assert_matches_reference(inputs, tol, delta_softplus=softplus)


@needs_numba
@pytest.mark.parametrize("dim", [8, 64], ids=["general", "lanes"])
def test_nan_propagates_as_in_reference(dim: int) -> None:
    inputs = make_inputs(dim=dim, length=40, dtype=torch.float32, seed=16)
    inputs["delta"][0, 3, 10] = float("nan")  # type: ignore[index]
    inputs["u"][1, 5, 20] = float("nan")  # type: ignore[index]
    inputs["A"][6, 2] = float("nan")  # type: ignore[index]
    y, last = selective_scan_numba(**inputs, delta_softplus=True, return_last_state=True)
    want_y, want_last = selective_scan_reference(**as_float64(inputs), delta_softplus=True, return_last_state=True)
    assert torch.isnan(y).any()
    torch.testing.assert_close(y.double(), want_y, rtol=0, atol=1e-5, equal_nan=True)
    torch.testing.assert_close(last.double(), want_last, rtol=0, atol=1e-5, equal_nan=True)


@needs_numba
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs_are_upcast(dtype: torch.dtype) -> None:
    inputs = make_inputs(length=40, dtype=torch.float32, seed=8)
    low = {k: None if v is None else v.to(dtype) for k, v in inputs.items()}
    low["A"] = inputs["A"]  # parameters may stay float32
    y, last = selective_scan_numba(**low, delta_softplus=True, return_last_state=True)
    assert y.dtype == dtype
    assert last.dtype == torch.float32
    want = selective_scan_reference(**as_float64(low), delta_softplus=True)
    torch.testing.assert_close(y.double(), want, rtol=2e-2, atol=2e-2)


# -- gradients: refused, never silently wrong ---------------------------------------------------------------------


def _with_grad(inputs: Inputs, name: str = "u") -> Inputs:
    out = {k: None if v is None else v.clone() for k, v in inputs.items()}
    out[name] = out[name].requires_grad_()  # type: ignore[union-attr]
    return out


@needs_numba
@pytest.mark.parametrize("name", ["u", "delta", "A", "B", "D", "delta_bias"])
def test_explicit_numba_refuses_when_gradients_are_needed(name: str) -> None:
    inputs = _with_grad(make_inputs(length=10, dtype=torch.float32), name)
    with pytest.raises(BackendUnavailableError) as info:
        selective_scan(**inputs, delta_softplus=True, backend="numba")
    assert str(info.value) == FORWARD_ONLY_MESSAGE
    with pytest.raises(BackendUnavailableError, match="forward-only"):  # the function itself refuses too
        selective_scan_numba(**inputs, delta_softplus=True)


@needs_numba
def test_explicit_numba_runs_without_grad_mode() -> None:
    inputs = _with_grad(make_inputs(length=10, dtype=torch.float32))
    want = selective_scan_reference(**as_float64(inputs), delta_softplus=True)
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            y = selective_scan(**inputs, delta_softplus=True, backend="numba")
        assert not y.requires_grad
        torch.testing.assert_close(y.double(), want, rtol=0, atol=1e-5)


@pytest.fixture
def fresh_auto_log(monkeypatch: pytest.MonkeyPatch) -> None:
    # importlib: the attribute akmamba.ops.selective_scan is the function, which shadows the subpackage
    dispatch = importlib.import_module("akmamba.ops.selective_scan")
    monkeypatch.setattr(dispatch, "_AUTO_LOGGED", set())


def _auto_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == DISPATCH_LOGGER]


@needs_numba
@pytest.mark.usefixtures("fresh_auto_log")
def test_auto_uses_numba_on_cpu_without_gradients(caplog: pytest.LogCaptureFixture) -> None:
    inputs = make_inputs(length=9, dtype=torch.float32)
    with caplog.at_level(logging.INFO, logger=DISPATCH_LOGGER):
        y = selective_scan(**inputs, delta_softplus=True)
        selective_scan(**inputs, delta_softplus=True)
        with torch.inference_mode():
            selective_scan(**_with_grad(inputs), delta_softplus=True)
    messages = _auto_messages(caplog)
    assert len(messages) == 1, messages
    assert "'numba' for cpu tensors" in messages[0]
    assert SCAN_BACKENDS.get("numba").forward_only
    torch.testing.assert_close(y.double(), selective_scan_reference(**as_float64(inputs), delta_softplus=True),
                               rtol=0, atol=1e-5)


@needs_numba
@pytest.mark.usefixtures("fresh_auto_log")
def test_auto_uses_torch_when_gradients_are_needed(caplog: pytest.LogCaptureFixture) -> None:
    inputs = _with_grad(make_inputs(length=9, dtype=torch.float64), "delta")
    with caplog.at_level(logging.INFO, logger=DISPATCH_LOGGER):
        y = selective_scan(**inputs, delta_softplus=True)
        selective_scan(**inputs, delta_softplus=True)
    messages = _auto_messages(caplog)
    assert len(messages) == 1, messages
    assert "'torch' for cpu tensors" in messages[0]
    assert "numba: forward only, and gradients are needed" in messages[0]
    assert y.requires_grad
    y.sum().backward()
    assert inputs["delta"].grad is not None  # type: ignore[union-attr]


# -- availability ---------------------------------------------------------------------------------------------------


def test_registered_between_torch_and_cuda_backends() -> None:
    infos = {info.name: info for info in available_backends()}
    assert infos["torch"].priority < infos["numba"].priority < infos["mamba_ssm"].priority
    assert infos["numba"].available == NUMBA_OK
    assert infos["numba"].reason == NUMBA_REASON


def test_cuda_tensors_are_refused_with_a_reason() -> None:
    ok, reason = numba_available(torch.device("cuda"))
    assert not ok
    assert "needs CPU tensors" in reason
    cuda = {info.name: info for info in available_backends("cuda")}["numba"]
    assert not cuda.available
    if torch.cuda.is_available():
        inputs = {k: None if v is None else v.cuda() for k, v in make_inputs(length=5, dtype=torch.float32).items()}
        with pytest.raises(BackendUnavailableError, match="needs CPU tensors"):
            selective_scan(**inputs, backend="numba")


@pytest.fixture
def numba_hidden(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make numba look not installed (find_spec finds nothing), with the import cache cleared around the test."""
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.split(".")[0] == "numba":
            return None
        return real_find_spec(name, *args, **kwargs)

    numba_module._import_kernels.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    yield
    monkeypatch.undo()
    numba_module._import_kernels.cache_clear()


@pytest.mark.usefixtures("numba_hidden", "fresh_auto_log")
def test_missing_numba_gives_install_hint_and_auto_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    ok, reason = numba_available()
    assert not ok
    assert reason == "numba not installed: pip install numba"
    info = {i.name: i for i in available_backends("cpu")}["numba"]
    assert (info.available, info.reason) == (False, "numba not installed: pip install numba")
    inputs = make_inputs(length=6)
    with pytest.raises(BackendUnavailableError, match="numba not installed: pip install numba"):
        selective_scan(**inputs, backend="numba")
    with caplog.at_level(logging.INFO, logger=DISPATCH_LOGGER):
        y = selective_scan(**inputs)
    assert "'torch' for cpu tensors" in _auto_messages(caplog)[0]
    torch.testing.assert_close(y, selective_scan_reference(**inputs))


# -- in the model -----------------------------------------------------------------------------------------------------


@needs_numba
def test_ss2d_with_numba_matches_torch_under_inference_mode() -> None:
    from akmamba.nn.blocks.ss2d import SS2D

    torch.manual_seed(0)
    fast, slow = SS2D(16, scan_backend="numba").eval(), SS2D(16, scan_backend="torch").eval()
    slow.load_state_dict(fast.state_dict())
    x = torch.randn(2, 9, 11, 16)
    with torch.inference_mode():
        got, want = fast(x), slow(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    with pytest.raises(BackendUnavailableError, match="forward-only"):  # training through numba is refused
        fast(x)
