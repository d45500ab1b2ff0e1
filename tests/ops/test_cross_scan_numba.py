"""The ``fused_numba`` four-direction scan (CPU inference) against its reference, and how auto and SS2D pick it.

The reference is ``cross_selective_scan_reference`` (cross_scan -> per-token selective_scan loop -> cross_merge),
run in float64 on the same values. float64 inputs must match it to 1e-10, float32 inputs within mamba-ssm's float32
tolerance (tolerances.py) and in practice to about 1e-5; float16/bfloat16 inputs are upcast. Shapes are odd or
degenerate (7x5, 1xN, Nx1, 33x17), with E not a multiple of the kernel's 16 lanes and N = 16 or 5. Layouts: the
pixel-major views SS2D passes (read in place), contiguous (B, 4, E, H, W) tensors (copied once), NCHW and
channels-last x, and a B broadcast over the batch (zero strides). Direction groups (the split used when there are
fewer channel blocks than threads) give the same result, and so does the dt projection applied in the kernel
(``dt_proj_weight``, what SS2D uses for dt_rank <= 8). Then the dispatch (explicit, auto only without gradients)
and SS2D: its fused CPU core equals the unfused core, and a Mamba-out block and a small Akmamba-Net give the torch
backend's output. Kernel tests skip with the reason where Numba is missing.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest
import torch

from akmamba.errors import BackendUnavailableError, ConfigError, ShapeError
from akmamba.nn import build_model
from akmamba.nn.blocks import ss2d as ss2d_module
from akmamba.nn.blocks.ss2d import SS2D, MambaOut
from akmamba.ops import cross_selective_scan
from akmamba.ops.selective_scan import cross, numba_cross
from akmamba.ops.selective_scan.cross import cross_selective_scan_reference
from akmamba.ops.selective_scan.numba_cross import (
    FORWARD_ONLY_MESSAGE,
    FUSED_NUMBA,
    cross_selective_scan_numba,
    numba_cross_scan_available,
)
from akmamba.ops.selective_scan.tolerances import TOLERANCES

NUMBA_OK, NUMBA_REASON = numba_cross_scan_available("cpu")
pytestmark = pytest.mark.skipif(not NUMBA_OK, reason=f"fused_numba unusable: {NUMBA_REASON}")
Inputs = dict[str, Any]
# batch, E, H, W, N: odd, single-row, single-column, E = 20 (one full block of 16 lanes and a partial one)
SHAPES = [(2, 3, 7, 5, 16), (2, 2, 1, 9, 16), (2, 2, 6, 1, 5), (2, 20, 33, 17, 16), (1, 16, 4, 4, 5)]
TOL = {torch.float64: (1e-10, 1e-10), torch.float32: TOLERANCES[torch.float32][False]["y"]}


def make_inputs(
    batch: int, e: int, h: int, w: int, n: int, dtype: torch.dtype = torch.float32, seed: int = 0, layout: str = "ss2d"
) -> Inputs:
    """mamba-ssm's recipe (A = -0.5 rand, delta = 0.5 rand, delta_bias = 0.5 rand, the rest randn), per direction
    and in pixel order. ``layout="ss2d"``: x channels-last and delta/B/C as permuted views of pixel-major
    (B, H, W, 4, ...) tensors, B and C fields of one x_proj-like record, as SS2D passes them; ``"contiguous"``:
    every tensor contiguous in its logical shape (channel axes not innermost: the kernel copies them)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    x = randn(batch, h, w, e)
    dts = 0.5 * rand(batch, h, w, 4, e)
    record = randn(batch, h, w, 4, 2 + 2 * n)  # (dt_low, B, C) of each direction, as SS2D's x_proj output
    inputs: Inputs = {
        "x": x.permute(0, 3, 1, 2),
        "dts": dts.permute(0, 3, 4, 1, 2),
        "As": -0.5 * rand(4 * e, n),
        "Bs": record[..., 2 : 2 + n].permute(0, 3, 4, 1, 2),
        "Cs": record[..., 2 + n :].permute(0, 3, 4, 1, 2),
        "Ds": randn(4 * e),
        "delta_bias": 0.5 * rand(4 * e),
    }
    for name in ("As", "Ds", "delta_bias"):  # parameters: float32, or float64 with float64 inputs
        inputs[name] = inputs[name].to(torch.float64 if dtype == torch.float64 else torch.float32)
    for name in ("x", "dts", "Bs", "Cs"):
        inputs[name] = inputs[name].to(dtype)
        if layout == "contiguous":
            inputs[name] = inputs[name].contiguous()
    return inputs


def reference(inputs: Inputs, delta_softplus: bool = True) -> torch.Tensor:
    """The specification, in float64 on the same values."""
    return cross_selective_scan_reference(
        **{k: None if v is None else v.double() for k, v in inputs.items()}, delta_softplus=delta_softplus
    )


def assert_matches_reference(inputs: Inputs, delta_softplus: bool = True) -> torch.Tensor:
    y = cross_selective_scan_numba(**inputs, delta_softplus=delta_softplus)
    dtype = inputs["x"].dtype
    assert y.dtype == dtype
    assert y.shape == inputs["x"].shape
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(y.double(), reference(inputs, delta_softplus), rtol=rtol, atol=atol)
    return y


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_reference(shape: tuple[int, ...], dtype: torch.dtype) -> None:
    assert_matches_reference(make_inputs(*shape, dtype=dtype, seed=sum(shape)))


def test_float32_is_close_to_float64_reference_in_practice() -> None:
    # the table's float32 tolerance is loose (it covers GPU kernels); this kernel does far better
    inputs = make_inputs(2, 20, 33, 17, 16, dtype=torch.float32, seed=3)
    y = cross_selective_scan_numba(**inputs, delta_softplus=True)
    torch.testing.assert_close(y.double(), reference(inputs), rtol=1e-5, atol=2e-4)


@pytest.mark.parametrize("missing", ["Ds", "delta_bias", "softplus", "all"])
def test_optional_inputs(missing: str) -> None:
    inputs = make_inputs(2, 20, 5, 6, 5, dtype=torch.float64, seed=4)
    softplus = missing not in ("softplus", "all")
    for name in ("Ds", "delta_bias"):
        if missing in (name, "all"):
            inputs[name] = None
    assert_matches_reference(inputs, delta_softplus=softplus)


def test_layouts_give_identical_results() -> None:
    """Pixel-major views (read in place), contiguous tensors (copied), NCHW x, and B broadcast over the batch."""
    views = make_inputs(2, 20, 6, 7, 16, seed=5)
    contiguous = make_inputs(2, 20, 6, 7, 16, seed=5, layout="contiguous")
    assert views["dts"].stride(2) == 1
    assert contiguous["dts"].stride(2) != 1
    assert contiguous["x"].is_contiguous()
    want = cross_selective_scan_numba(**views, delta_softplus=True)
    torch.testing.assert_close(cross_selective_scan_numba(**contiguous, delta_softplus=True), want, rtol=0, atol=0)
    broadcast = dict(views, Bs=views["Bs"][:1].expand_as(views["Bs"]))
    assert broadcast["Bs"].stride(0) == 0
    assert_matches_reference(broadcast)


def test_output_is_channels_last_and_inputs_are_read_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = make_inputs(1, 16, 3, 4, 16, seed=6)
    copies: list[str] = []
    original = torch.Tensor.contiguous

    def spy(self: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.dim() >= 4:
            copies.append(str(tuple(self.shape)))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "contiguous", spy)
    y = cross_selective_scan_numba(**inputs, delta_softplus=True)
    assert copies == []
    assert y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("rank", [1, 3, 8])
def test_dt_projection_folded_into_the_kernel(rank: int, dtype: torch.dtype) -> None:
    """dt_proj_weight: delta = W_k . (low-rank delta) per pixel, computed in the kernel (SS2D's dt_proj)."""
    inputs = make_inputs(2, 20, 6, 7, 16, dtype=dtype, seed=14)
    gen = torch.Generator().manual_seed(15)
    low = torch.randn(2, 6, 7, 4, rank, generator=gen, dtype=torch.float64)  # pixel-major, as SS2D's x_proj output
    weight = torch.randn(4, 20, rank, generator=gen, dtype=torch.float64) * 0.3
    full = dict(inputs, dts=torch.einsum("bhwkr,ker->bkehw", low, weight).to(dtype))
    got = cross_selective_scan_numba(
        **dict(inputs, dts=low.to(dtype).permute(0, 3, 4, 1, 2)),
        delta_softplus=True,
        dt_proj_weight=weight.to(inputs["As"].dtype),
    )
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(got.double(), reference(full), rtol=rtol, atol=atol)


def test_dt_projection_shapes_are_checked() -> None:
    inputs = make_inputs(1, 16, 3, 4, 4)
    low = torch.randn(1, 4, 2, 3, 4)
    with pytest.raises(ShapeError, match=r"dt_proj_weight must have shape \(4, E, R\)"):
        cross_selective_scan_numba(**dict(inputs, dts=low), dt_proj_weight=torch.randn(4, 8, 2))
    with pytest.raises(ShapeError, match=r"dts is the low-rank delta \(B, 4, R, H, W\)"):
        cross_selective_scan_numba(**dict(inputs, dts=low), dt_proj_weight=torch.randn(4, 16, 3))


@pytest.mark.parametrize("groups", [2, 4])
def test_direction_groups_give_the_same_result(groups: int) -> None:
    """Few tasks (batch 1, one channel block) are split by direction into groups with an output slab each."""
    for dtype, atol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        inputs = make_inputs(2, 20, 6, 7, 16, dtype=dtype, seed=13)
        want = cross_selective_scan_numba(**inputs, delta_softplus=True, groups=1)
        got = cross_selective_scan_numba(**inputs, delta_softplus=True, groups=groups)
        torch.testing.assert_close(got, want, rtol=0, atol=atol)


def test_direction_groups_choice_and_validation() -> None:
    from akmamba.ops.selective_scan import _numba_kernels

    assert numba_cross.LANES == _numba_kernels.LANES
    assert numba_cross.direction_groups(batch=1, channels=32, threads=2) == 1  # 2 tasks for 2 threads
    assert numba_cross.direction_groups(batch=1, channels=32, threads=4) == 2
    assert numba_cross.direction_groups(batch=1, channels=32, threads=16) == 4
    assert numba_cross.direction_groups(batch=8, channels=32, threads=16) == 1
    with pytest.raises(ConfigError, match="groups must be None, 1, 2 or 4"):
        cross_selective_scan_numba(**make_inputs(1, 3, 4, 5, 4), groups=3)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_inputs_are_upcast(dtype: torch.dtype) -> None:
    inputs = make_inputs(2, 3, 7, 5, 16, dtype=dtype, seed=7)
    y = cross_selective_scan_numba(**inputs, delta_softplus=True)
    assert y.dtype == dtype
    rtol, atol = TOLERANCES[dtype][False]["y"]
    torch.testing.assert_close(y.double(), reference(inputs), rtol=rtol, atol=atol)


def test_growing_state_and_nan_follow_the_reference() -> None:
    # δA > 0 (positive A) takes the kernel's general exp; a NaN in delta spreads along its direction as in the spec
    inputs = make_inputs(1, 16, 4, 5, 16, dtype=torch.float64, seed=8)
    inputs["As"][::3] = 0.05
    assert_matches_reference(inputs)
    inputs = make_inputs(1, 16, 4, 5, 16, dtype=torch.float32, seed=9)
    inputs["dts"][0, 1, 3, 2, 2] = float("nan")
    y = cross_selective_scan_numba(**inputs, delta_softplus=True)
    assert torch.isnan(y).any()
    torch.testing.assert_close(y.double(), reference(inputs), rtol=0, atol=1e-4, equal_nan=True)


# -- gradients: refused, never silently wrong ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["x", "dts", "As", "Bs", "Ds"])
def test_refuses_when_gradients_are_needed(name: str) -> None:
    inputs = make_inputs(1, 3, 4, 5, 4, seed=10)
    inputs[name] = inputs[name].detach().clone().requires_grad_()
    with pytest.raises(BackendUnavailableError) as info:
        cross_selective_scan(**inputs, delta_softplus=True, backend=FUSED_NUMBA)
    assert str(info.value) == FORWARD_ONLY_MESSAGE
    for context in (torch.no_grad, torch.inference_mode):
        with context():
            y = cross_selective_scan(**inputs, delta_softplus=True, backend=FUSED_NUMBA)
        assert not y.requires_grad


def test_cuda_tensors_are_refused_with_a_reason() -> None:
    ok, reason = numba_cross_scan_available("cuda")
    assert not ok
    assert "needs CPU tensors" in reason


def test_unknown_backend_lists_fused_numba() -> None:
    with pytest.raises(ConfigError, match="fused_numba"):
        cross_selective_scan(**make_inputs(1, 3, 4, 5, 4), backend="fused_numbaa")


# -- dispatch -------------------------------------------------------------------------------------------------------


@pytest.fixture
def numba_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record calls of the fused Numba kernel through cross.py and SS2D (which calls it directly when it folds the
    dt projection into the kernel)."""
    calls: list[str] = []
    original = cross.cross_selective_scan_numba

    def spy(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append(FUSED_NUMBA)
        return original(*args, **kwargs)

    monkeypatch.setattr(cross, "cross_selective_scan_numba", spy)
    monkeypatch.setattr(ss2d_module, "cross_selective_scan_numba", spy)
    monkeypatch.setattr(cross, "_AUTO_LOGGED", set())
    return calls


def test_auto_takes_fused_numba_only_without_gradients(
    numba_calls: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    inputs = make_inputs(1, 3, 4, 5, 4, seed=11)
    want = reference(inputs)
    with caplog.at_level(logging.INFO, logger="akmamba.ops.selective_scan.cross"):
        y = cross_selective_scan(**inputs, delta_softplus=True)  # plain tensors: no gradient needed
        with torch.inference_mode():
            cross_selective_scan(**inputs, delta_softplus=True)
    assert numba_calls == [FUSED_NUMBA, FUSED_NUMBA]
    assert [r.getMessage() for r in caplog.records] == [
        "cross_selective_scan: backend='auto' uses 'fused_numba' for cpu tensors"
    ]
    torch.testing.assert_close(y.double(), want, rtol=0, atol=1e-5)
    numba_calls.clear()
    leaves = {k: v.detach().clone().requires_grad_() for k, v in inputs.items()}
    y = cross_selective_scan(**leaves, delta_softplus=True)  # training: the unfused path with gradients
    assert numba_calls == []
    y.sum().backward()
    assert leaves["dts"].grad is not None


@pytest.mark.slow
def test_explicit_selective_scan_backend_keeps_the_unfused_path(numba_calls: list[str]) -> None:
    inputs = make_inputs(1, 3, 4, 5, 4, seed=12)
    y = cross_selective_scan(**inputs, delta_softplus=True, backend="numba")
    assert numba_calls == []
    torch.testing.assert_close(y, cross_selective_scan(**inputs, delta_softplus=True, backend=FUSED_NUMBA))


# -- SS2D, Mamba-out, Akmamba-Net -------------------------------------------------------------------------------------


@pytest.fixture
def no_triton(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without Triton's interpreter (other test modules may set TRITON_INTERPRET=1)."""
    monkeypatch.setattr(ss2d_module, "fused_cross_scan_supports", lambda x, n: (False, "no triton here (test)"))


@pytest.mark.usefixtures("no_triton")
def test_ss2d_path_choice() -> None:
    m = SS2D(8, d_state=4)
    x = torch.randn(1, 16, 3, 5)
    for backend, want in (("auto", FUSED_NUMBA), ("numba", FUSED_NUMBA), ("torch", None), ("reference", None)):
        m.scan_backend = backend
        assert m._fused_backend(x) is None  # gradients needed (parameters require grad): never the Numba kernel
        with torch.no_grad():
            assert m._fused_backend(x) == want, backend
        with torch.inference_mode():
            assert m._fused_backend(x) == want, backend
    m.scan_backend = "torch"
    m.fused_scan = True
    with torch.no_grad():
        assert m._fused_backend(x) == FUSED_NUMBA
    with pytest.raises(BackendUnavailableError, match="fused_scan=True but no fused four-direction kernel"):
        m._fused_backend(x)
    m.fused_scan = False
    m.scan_backend = "auto"
    with torch.no_grad():
        assert m._fused_backend(x) is None
    m.requires_grad_(False)  # frozen parameters: no gradient even in grad mode
    m.fused_scan = None
    assert m._fused_backend(x) == FUSED_NUMBA


@pytest.mark.parametrize("fold", [True, False], ids=["dt_proj-in-kernel", "einsum"])
def test_ss2d_fused_cpu_core_equals_unfused_core(fold: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(1)
    m = SS2D(40, d_state=5, scan_backend="reference")  # dt_rank 3
    if not fold:
        monkeypatch.setattr(ss2d_module, "MAX_FOLDED_RANK", 2)
    x = torch.randn(2, m.d_inner, 5, 7)
    with torch.no_grad():
        want = m._forward_core(x).transpose(1, 2).reshape(2, 5, 7, m.d_inner)
        got = m._forward_core_fused(x, FUSED_NUMBA)
        got_cl = m._forward_core_fused(x.contiguous(memory_format=torch.channels_last), FUSED_NUMBA)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_cl, got, rtol=0, atol=0)


@pytest.mark.usefixtures("no_triton")
def test_mambaout_block_same_output_as_torch_backend(numba_calls: list[str]) -> None:
    torch.manual_seed(2)
    block = MambaOut(16, d_state=16, scan_backend="torch").eval()
    with torch.no_grad():
        block.ss2d.out_proj.weight.mul_(20)  # out_proj starts at std 0.02: make the SS2D branch visible
    x = torch.randn(2, 16, 9, 11)
    with torch.inference_mode():
        want = block(x)
        block.ss2d.scan_backend = "auto"
        got = block(x)
    assert numba_calls == [FUSED_NUMBA]
    torch.testing.assert_close(got - x, want - x, rtol=1e-4, atol=1e-5)
    block.train()
    numba_calls.clear()
    y = block(x.clone().requires_grad_())  # training keeps the torch backend, with gradients
    y.square().sum().backward()
    assert numba_calls == []
    assert block.ss2d.A_logs.grad is not None


@pytest.mark.usefixtures("no_triton")
def test_akmamba_net_same_logits_as_torch_backend(numba_calls: list[str]) -> None:
    torch.manual_seed(0)
    model = build_model("akmamba", 1, 3, base_channels=4, depth=2, d_state=4, scan_backend="torch")
    model.train()
    model(torch.randn(2, 1, 7, 9)).sum().backward()  # BatchNorm statistics off their init
    model.eval()
    blocks = [m for m in model.modules() if isinstance(m, SS2D)]
    assert blocks
    x = torch.randn(2, 1, 7, 9)
    with torch.inference_mode():
        want = model(x)
        for m in blocks:
            m.scan_backend = "auto"
        got = model(x)
    assert numba_calls == [FUSED_NUMBA] * len(blocks)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_missing_numba_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(numba_cross, "_import_kernels", lambda: (None, "numba not installed: pip install numba"))
    assert numba_cross_scan_available("cpu") == (False, "numba not installed: pip install numba")
    with torch.no_grad(), pytest.raises(BackendUnavailableError, match="numba not installed"):
        cross_selective_scan(**make_inputs(1, 3, 4, 5, 4), backend=FUSED_NUMBA)
    m = SS2D(8, d_state=4)
    with torch.no_grad():
        assert m._fused_backend(torch.randn(1, 16, 3, 5)) in (None, "fused_triton")


def test_importing_the_ops_does_not_import_numba() -> None:
    # cross.py imports numba_cross for every user of akmamba.ops; Numba and the kernels load on first use only
    code = "import sys, akmamba.ops; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
