"""Selective scan: the reference loop against a hand-worked case, the ``torch`` backend against the reference
(outputs and every input gradient), and the dispatcher's choices and errors. CPU only; see
test_selective_scan_cuda.py for the GPU comparisons."""

from __future__ import annotations

import importlib
import logging
import math
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from akmamba.errors import BackendUnavailableError, ConfigError, ShapeError
from akmamba.ops import BackendInfo, available_backends, selective_scan
from akmamba.ops.selective_scan import SCAN_BACKENDS, ScanBackend, register_scan_backend
from akmamba.ops.selective_scan.chunked import choose_chunk_len, selective_scan_chunked
from akmamba.ops.selective_scan.reference import selective_scan_reference

# (rtol, atol) of the torch backend against the reference, by dtype and quantity.
TOLERANCES = {
    torch.float64: {"out": (1e-10, 1e-10), "grad": (1e-10, 1e-10)},
    torch.float32: {"out": (0.0, 1e-5), "grad": (1e-4, 1e-4)},
    "float32-stress": {"out": (1e-6, 1e-5), "grad": (1e-4, 1e-4)},  # |y| up to about 100 here
}
CHUNK = choose_chunk_len(16)  # the chunk length used for short sequences (16)
DISPATCH_LOGGER = "akmamba.ops.selective_scan"
Inputs = dict[str, torch.Tensor | None]
Result = tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]


def make_inputs(
    batch: int = 2,
    dim: int = 8,
    dstate: int = 4,
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
    """Random inputs in SS2D's ranges: A = -(1..N)-ish, delta around softplus(-2), the rest randn."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype)

    def bc(kind: str) -> torch.Tensor:
        shapes = {
            "const": (dim, dstate),
            "var": (batch, dstate, length),
            "grouped": (batch, groups, dstate, length),
        }
        return randn(*shapes[kind])

    A = -(torch.arange(1, dstate + 1, dtype=dtype) * (0.5 + torch.rand(dim, 1, generator=gen, dtype=dtype)))
    return {
        "u": randn(batch, dim, length),
        "delta": randn(batch, dim, length) * 0.5 - 2.0,
        "A": A,
        "B": bc(b_kind),
        "C": bc(c_kind),
        "D": randn(dim) if with_d else None,
        "z": randn(batch, dim, length) if with_z else None,
        "delta_bias": randn(dim) * 0.5 if with_bias else None,
    }


def run_with_grads(
    fn: Callable[..., Any], inputs: Inputs, seed: int = 1, return_last_state: bool = True, **kwargs: Any
) -> Result:
    """Run ``fn`` on fresh leaf copies of ``inputs``, backpropagate a fixed random upstream gradient into y and
    last_state, and return (y, last_state, {name: grad})."""
    leaves = {k: None if v is None else v.detach().clone().requires_grad_() for k, v in inputs.items()}
    y, last = fn(**leaves, delta_softplus=True, return_last_state=True, **kwargs)
    gen = torch.Generator().manual_seed(seed)
    loss = (y * torch.randn(y.shape, generator=gen, dtype=torch.float64).to(y.dtype)).sum()
    if return_last_state:
        loss = loss + (last * torch.randn(last.shape, generator=gen, dtype=torch.float64).to(last.dtype)).sum()
    loss.backward()
    grads = {k: v.grad for k, v in leaves.items() if v is not None}
    return y.detach(), last.detach(), grads


def assert_all_close(got: Result, want: Result, dtype: torch.dtype | str) -> None:
    """Compare (y, last_state, grads) triples with the tolerance table."""
    rtol, atol = TOLERANCES[dtype]["out"]
    torch.testing.assert_close(got[0], want[0].to(got[0].dtype), rtol=rtol, atol=atol, msg=lambda m: f"y: {m}")
    torch.testing.assert_close(got[1], want[1].to(got[1].dtype), rtol=rtol, atol=atol, msg=lambda m: f"h_L: {m}")
    rtol, atol = TOLERANCES[dtype]["grad"]
    assert got[2].keys() == want[2].keys()
    for name, grad in got[2].items():
        ref = want[2][name].to(grad.dtype)
        torch.testing.assert_close(grad, ref, rtol=rtol, atol=atol, msg=lambda m, n=name: f"d{n}: {m}")


# -- the reference itself ---------------------------------------------------------------------------------------


def test_reference_hand_worked_case() -> None:
    # Bt = 1, Dm = 1, N = 1, L = 3; A = -ln 2, B = 1 and C = 2 constant, D = 0.5, no softplus, no bias.
    # delta = (1, 1, 2) -> decays exp(delta * A) = (1/2, 1/2, 1/4); u = (2, 4, 1).
    #   h1 = 1/2 * 0    + 1 * 1 * 2 = 2      y1 = 2 * 2    + 0.5 * 2 = 5
    #   h2 = 1/2 * 2    + 1 * 1 * 4 = 5      y2 = 2 * 5    + 0.5 * 4 = 12
    #   h3 = 1/4 * 5    + 2 * 1 * 1 = 3.25   y3 = 2 * 3.25 + 0.5 * 1 = 7
    f64 = torch.float64
    u = torch.tensor([[[2.0, 4.0, 1.0]]], dtype=f64)
    delta = torch.tensor([[[1.0, 1.0, 2.0]]], dtype=f64)
    A = torch.tensor([[-math.log(2.0)]], dtype=f64)
    B, C, D = torch.ones(1, 1, dtype=f64), torch.full((1, 1), 2.0, dtype=f64), torch.tensor([0.5], dtype=f64)
    for fn in (selective_scan_reference, selective_scan_chunked):
        y, last = fn(u, delta, A, B, C, D, return_last_state=True)
        torch.testing.assert_close(y, torch.tensor([[[5.0, 12.0, 7.0]]], dtype=f64))
        torch.testing.assert_close(last, torch.tensor([[[3.25]]], dtype=f64))
    # the gate multiplies y by silu(z), and silu(0) = 0
    y = selective_scan_reference(u, delta, A, B, C, D, z=torch.zeros_like(u))
    torch.testing.assert_close(y, torch.zeros_like(u))


def test_reference_grouped_channels_use_group_major_order() -> None:
    # channel d reads group d // (Dm/G): with Dm = 4, G = 2, channels 0-1 use group 0 and 2-3 use group 1
    inputs = make_inputs(batch=1, dim=4, dstate=2, length=5, groups=2, with_z=False, with_bias=False)
    y = selective_scan_reference(**inputs)
    expanded = dict(inputs, B=inputs["B"].repeat_interleave(2, dim=1), C=inputs["C"].repeat_interleave(2, dim=1))
    for d in range(4):
        one = {
            "u": expanded["u"][:, d : d + 1],
            "delta": expanded["delta"][:, d : d + 1],
            "A": expanded["A"][d : d + 1],
            "B": expanded["B"][:, d],
            "C": expanded["C"][:, d],
            "D": expanded["D"][d : d + 1],
        }
        torch.testing.assert_close(selective_scan_reference(**one), y[:, d : d + 1])


# -- torch backend against the reference ------------------------------------------------------------------------

CASES = {
    "const-BC": {"b_kind": "const", "c_kind": "const", "with_z": False, "with_d": False, "with_bias": False},
    "var-BC-z-D": {"b_kind": "var", "c_kind": "var", "with_bias": False},
    "grouped-G1": {"groups": 1, "with_z": False},
    "grouped-G4-all": {"groups": 4},
    "mixed-grouped-var": {"b_kind": "grouped", "c_kind": "var", "with_d": False},
    "mixed-const-grouped": {"b_kind": "const", "c_kind": "grouped", "with_z": False},
}


@pytest.mark.parametrize("length", [1, 7, CHUNK, CHUNK + 1, 300])
@pytest.mark.parametrize("case", CASES)
def test_torch_matches_reference_float64(case: str, length: int) -> None:
    inputs = make_inputs(length=length, **CASES[case])
    assert_all_close(
        run_with_grads(selective_scan_chunked, inputs),
        run_with_grads(selective_scan_reference, inputs),
        torch.float64,
    )


@pytest.mark.parametrize("length", [7, 300])
def test_torch_matches_reference_float32(length: int) -> None:
    inputs = make_inputs(length=length, dtype=torch.float32)
    exact = {k: None if v is None else v.double() for k, v in inputs.items()}
    got = run_with_grads(selective_scan_chunked, inputs)
    assert got[0].dtype == torch.float32
    assert_all_close(got, run_with_grads(selective_scan_reference, exact), torch.float32)


def test_long_sequence_4096_multi_segment() -> None:
    # 4096 tokens: four checkpointed segments of 1024, chunk 32, tiny Dm so the reference loop stays quick
    inputs = make_inputs(batch=1, dim=2, dstate=2, length=4096, groups=2, seed=3)
    assert choose_chunk_len(1024) == 32
    assert_all_close(
        run_with_grads(selective_scan_chunked, inputs),
        run_with_grads(selective_scan_reference, inputs),
        torch.float64,
    )


@pytest.mark.parametrize("segment_len", [16, 50, 64])
def test_short_segments_carry_state(segment_len: int) -> None:
    # several segments, a padded last one, and (for 50) a segment length rounded up to the chunk
    inputs = make_inputs(length=300, seed=4)
    assert_all_close(
        run_with_grads(selective_scan_chunked, inputs, segment_len=segment_len),
        run_with_grads(selective_scan_reference, inputs),
        torch.float64,
    )


@pytest.mark.parametrize("chunk_len", [1, 5, 64])
def test_explicit_chunk_lengths(chunk_len: int) -> None:
    inputs = make_inputs(length=100, seed=5)
    assert_all_close(
        run_with_grads(selective_scan_chunked, inputs, chunk_len=chunk_len),
        run_with_grads(selective_scan_reference, inputs),
        torch.float64,
    )


def test_checkpointed_and_plain_give_identical_grads() -> None:
    inputs = make_inputs(length=200, seed=6, dtype=torch.float32)
    plain = run_with_grads(selective_scan_chunked, inputs, segment_len=64, checkpoint_segments=False)
    ckpt = run_with_grads(selective_scan_chunked, inputs, segment_len=64, checkpoint_segments=True)
    torch.testing.assert_close(ckpt[0], plain[0], rtol=0, atol=0)
    for name in plain[2]:
        torch.testing.assert_close(ckpt[2][name], plain[2][name], rtol=0, atol=0, msg=name)


def test_checkpointing_saves_little_for_backward() -> None:
    # with checkpointing, backward keeps the segments' inputs (views of the caller's tensors) and nothing of size
    # (Bt, Dm, N, L); without it, several tensors of that size are saved
    inputs = make_inputs(batch=1, dim=64, dstate=16, length=2048, with_z=False, dtype=torch.float32)
    input_bytes = sum(x.numel() * x.element_size() for x in inputs.values() if x is not None)
    full_size = 64 * 16 * 2048 * 4

    def saved_bytes(checkpoint_segments: bool) -> int:
        total = 0

        def pack(t: torch.Tensor) -> torch.Tensor:
            nonlocal total
            total += t.numel() * t.element_size()
            return t

        leaves = {k: None if v is None else v.clone().requires_grad_() for k, v in inputs.items()}
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            selective_scan_chunked(**leaves, delta_softplus=True, checkpoint_segments=checkpoint_segments)
        return total

    assert saved_bytes(True) < 1.1 * input_bytes
    assert saved_bytes(False) > 2 * full_size


def test_no_grad_path_matches_grad_path() -> None:
    inputs = make_inputs(length=150, dtype=torch.float32, seed=7)
    with torch.no_grad():
        y0, h0 = selective_scan_chunked(**inputs, delta_softplus=True, return_last_state=True)
    y1, h1, _ = run_with_grads(selective_scan_chunked, inputs)
    torch.testing.assert_close(y0, y1, rtol=0, atol=0)
    torch.testing.assert_close(h0, h1, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs_are_upcast(dtype: torch.dtype) -> None:
    inputs = make_inputs(length=40, dtype=torch.float32, seed=8)
    low = {k: None if v is None else v.to(dtype) for k, v in inputs.items()}
    low["A"] = inputs["A"]  # parameters may stay float32
    y, last = selective_scan_chunked(**low, delta_softplus=True, return_last_state=True)
    assert y.dtype == dtype
    assert last.dtype == torch.float32
    exact = {k: None if v is None else v.to(dtype).double() for k, v in low.items()}
    want = selective_scan_reference(**exact, delta_softplus=True)
    torch.testing.assert_close(y.double(), want, rtol=2e-2, atol=2e-2)


def test_dt_stress_stays_finite_and_exact() -> None:
    # softplus(delta) up to about 3 with A = -(1..16): decays down to exp(-48), and raw delta beyond the softplus
    # threshold (20) for a few tokens; a cumsum-with-division scan would overflow here
    inputs = make_inputs(batch=1, dim=8, dstate=16, length=260, with_bias=False, dtype=torch.float32, seed=9)
    inputs["A"] = -torch.arange(1, 17, dtype=torch.float32).repeat(8, 1)
    gen = torch.Generator().manual_seed(10)
    inputs["delta"] = torch.rand(1, 8, 260, generator=gen) * 6.0 - 3.0  # softplus in (0.05, 3.05)
    inputs["delta"][..., 100:103] = 25.0
    got = run_with_grads(selective_scan_chunked, inputs)
    assert torch.isfinite(got[0]).all()
    assert all(torch.isfinite(g).all() for g in got[2].values())
    exact = {k: None if v is None else v.double() for k, v in inputs.items()}
    want = run_with_grads(selective_scan_reference, exact)
    assert F.softplus(exact["delta"]).max() > 3.0
    assert_all_close(got, want, "float32-stress")


# -- dispatcher -------------------------------------------------------------------------------------------------


def test_available_backends_lists_all_with_reasons() -> None:
    infos = {info.name: info for info in available_backends()}
    assert {"reference", "torch", "mamba_ssm"} <= infos.keys()
    assert all(isinstance(info, BackendInfo) and info.reason for info in infos.values())
    assert infos["torch"].available
    assert infos["reference"].available
    assert infos["mamba_ssm"].priority > infos["torch"].priority > infos["reference"].priority
    cpu_mamba = {info.name: info for info in available_backends("cpu")}["mamba_ssm"]
    assert not cpu_mamba.available
    assert "CUDA" in cpu_mamba.reason


def test_unknown_backend_suggests_a_name() -> None:
    inputs = make_inputs(length=5)
    with pytest.raises(ConfigError, match="Did you mean 'torch'") as info:
        selective_scan(**inputs, backend="torhc")
    assert "mamba_ssm" in str(info.value)
    assert info.value.got == "torhc"


def test_mamba_ssm_on_cpu_raises_with_reason() -> None:
    inputs = make_inputs(length=5, dtype=torch.float32)
    with pytest.raises(BackendUnavailableError, match=r"'mamba_ssm'.*needs CUDA tensors") as info:
        selective_scan(**inputs, backend="mamba_ssm")
    assert "'torch'" in str(info.value)


@pytest.mark.parametrize("backend", ["torch", "reference"])
def test_explicit_backends_agree(backend: str) -> None:
    inputs = make_inputs(length=20)
    y = selective_scan(**inputs, delta_softplus=True, backend=backend)
    torch.testing.assert_close(y, selective_scan_reference(**inputs, delta_softplus=True))


def test_auto_uses_torch_on_cpu_for_training_and_logs_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # importlib: the attribute akmamba.ops.selective_scan is the function, which shadows the subpackage
    dispatch = importlib.import_module("akmamba.ops.selective_scan")
    monkeypatch.setattr(dispatch, "_AUTO_LOGGED", set())
    inputs = make_inputs(length=9)
    inputs["u"].requires_grad_(True)  # gradients needed: the forward-only numba backend is skipped
    with caplog.at_level(logging.INFO, logger=DISPATCH_LOGGER):
        y = selective_scan(**inputs)
        selective_scan(**inputs)
    records = [r for r in caplog.records if r.name == DISPATCH_LOGGER]
    assert len(records) == 1
    assert "'torch' for cpu tensors" in records[0].getMessage()
    torch.testing.assert_close(y, selective_scan_reference(**inputs))


def test_auto_prefers_a_registered_higher_priority_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SCAN_BACKENDS, "_entries", dict(SCAN_BACKENDS._entries))
    calls = []

    def fake(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return selective_scan_reference(*args, **kwargs)

    register_scan_backend(ScanBackend("fake_fast", fake, 75, "test double", lambda device: (True, "test")))
    selective_scan(**make_inputs(length=4))
    assert len(calls) == 1
    assert "fake_fast" in [info.name for info in available_backends()]


@pytest.mark.slow
def test_return_last_state_through_dispatcher() -> None:
    inputs = make_inputs(length=12)
    y, last = selective_scan(**inputs, return_last_state=True)
    assert y.shape == (2, 8, 12)
    assert last.shape == (2, 8, 4)
    assert last.dtype == torch.float64


# -- bad input ----------------------------------------------------------------------------------------------------


def _bad(**changes: object) -> dict[str, object]:
    inputs: dict[str, object] = dict(make_inputs(length=10, dtype=torch.float32))
    inputs.update(changes)
    return inputs


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"u": torch.zeros(2, 8)}, r"u must have rank 3 \(Bt, Dm, L\); got shape \(2, 8\)"),
        (
            {"delta": torch.zeros(2, 8, 11)},
            r"delta must have shape \(Bt, Dm, L\) = \(2, 8, 10\); got \(2, 8, 11\)",
        ),
        ({"z": torch.zeros(2, 8, 9)}, r"z must have shape .* = \(2, 8, 10\); got \(2, 8, 9\)"),
        (
            {"B": torch.zeros(2, 4, 4, 9)},
            r"B must have shape \(Bt, G, N, L\) = \(2, 4, 4, 10\); got \(2, 4, 4, 9\)",
        ),
        ({"C": torch.zeros(2, 3, 4, 10)}, r"G=3 groups, which does not divide Dm=8"),
        ({"B": torch.zeros(2, 1, 1, 4, 10)}, r"B must have rank 2 .* got rank 5"),
        ({"A": torch.zeros(7, 4)}, r"A must have shape \(Dm, N\) with Dm=8; got \(7, 4\)"),
        ({"D": torch.zeros(4)}, r"D must have shape \(Dm,\) = \(8,\); got \(4,\)"),
        ({"delta": torch.zeros(2, 8, 10, dtype=torch.float64)}, r"delta has dtype torch.float64 but u has"),
        ({"A": torch.zeros(8, 4, dtype=torch.float64)}, r"A has dtype torch.float64; parameters must be float32"),
        ({"A": torch.zeros(8, 4, dtype=torch.complex64)}, r"A must be a real floating-point tensor"),
        ({"u": torch.zeros(2, 8, 10, dtype=torch.int64)}, r"u must be float16, bfloat16, float32 or float64"),
        ({"u": [[0.0]]}, r"u must be a torch.Tensor; got list"),
        ({"u": torch.zeros(2, 8, 0), "delta": torch.zeros(2, 8, 0)}, r"non-empty axes"),
        ({"u": torch.zeros(2, 8, 10, device="meta")}, r"delta is on cpu but u is on meta"),
    ],
)
def test_bad_inputs_raise_shape_error(changes: dict[str, object], pattern: str) -> None:
    for backend in ("torch", "reference"):
        with pytest.raises(ShapeError, match=pattern) as info:
            selective_scan(**_bad(**changes), backend=backend)
        assert info.value.parameter is not None


def test_bad_inputs_to_backends_directly_raise_shape_error() -> None:
    with pytest.raises(ShapeError, match="G=3 groups"):
        selective_scan_chunked(**_bad(B=torch.zeros(2, 3, 4, 10)))
    with pytest.raises(ShapeError, match="rank 3"):
        selective_scan_reference(**_bad(u=torch.zeros(8, 10)))


@pytest.mark.parametrize("name", ["segment_len", "chunk_len"])
def test_bad_torch_options_raise_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be at least 1"):
        selective_scan_chunked(**make_inputs(length=5), **{name: 0})


# -- mamba_ssm import failures become reasons -------------------------------------------------------------------


@pytest.fixture
def fresh_kernel_import() -> Iterator[Any]:
    cuda_module = importlib.import_module("akmamba.ops.selective_scan.cuda")
    cuda_module._import_kernel.cache_clear()
    yield cuda_module
    cuda_module._import_kernel.cache_clear()


class _HideMambaSsm:
    """A meta-path finder that makes mamba_ssm look not installed."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".")[0] == "mamba_ssm":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def test_missing_mamba_ssm_gives_install_hint(fresh_kernel_import: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "mamba_ssm"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_HideMambaSsm(), *sys.meta_path])
    fn, reason = fresh_kernel_import._import_kernel()
    assert fn is None
    assert reason == "mamba_ssm not installed: pip install 'akmamba[gpu]'"


def test_broken_mamba_ssm_reports_the_import_error(
    fresh_kernel_import: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # mamba_ssm 2.3.2 imports its compiled extension unguarded (model-spec §2.5)
    package = tmp_path / "mamba_ssm"
    package.mkdir()
    (package / "__init__.py").write_text(
        "raise ImportError('libcudart.so.12: cannot open shared object file')\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.split(".")[0] == "mamba_ssm"]:
        monkeypatch.delitem(sys.modules, name)
    fn, reason = fresh_kernel_import._import_kernel()
    assert fn is None
    assert "installed but cannot be imported" in reason
    assert "libcudart.so.12" in reason
