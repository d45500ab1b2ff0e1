"""SS2D / Mamba-out with the fused four-direction kernel against the unfused path (catches SS2D feeding it wrongly).

Without a GPU the kernels run in Triton's CPU interpreter (TRITON_INTERPRET=1 is set here before they are first
imported; slow, so those tests are marked ``slow``); without Triton they skip with the reason. The choice of path
(``fused_scan`` and ``scan_backend``) is tested everywhere.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest
import torch

HAS_CUDA = torch.cuda.is_available()
if importlib.util.find_spec("triton") is not None and not HAS_CUDA:
    os.environ.setdefault("TRITON_INTERPRET", "1")  # before the kernels are first imported

from akmamba.errors import BackendUnavailableError  # noqa: E402
from akmamba.nn import build_model  # noqa: E402
from akmamba.nn.blocks import ss2d as ss2d_module  # noqa: E402
from akmamba.nn.blocks.ss2d import SS2D, MambaOut  # noqa: E402
from akmamba.ops.selective_scan import triton_cross  # noqa: E402

DEVICE = "cuda" if HAS_CUDA else "cpu"
_OK, _REASON = triton_cross.fused_cross_scan_available(DEVICE)
kernel_test = [
    pytest.mark.skipif(not _OK, reason=f"fused cross-scan kernel unusable: {_REASON}"),
    pytest.mark.cuda if HAS_CUDA else pytest.mark.slow,  # on CUDA; else interpreted (slow)
]


@pytest.fixture
def wide_programs() -> Iterator[None]:
    """Many channels per program: far fewer interpreted programs (the kernels are the same)."""
    saved = dict(triton_cross.LAUNCH_OVERRIDES)
    if not HAS_CUDA:
        triton_cross.LAUNCH_OVERRIDES.update(fwd_block_d=16, bwd_block_d=16, tile=64)
    yield
    triton_cross.LAUNCH_OVERRIDES.clear()
    triton_cross.LAUNCH_OVERRIDES.update(saved)


def test_default_path_is_unchanged_until_measured() -> None:
    """scan_backend='auto' takes the fused path only where the measured constants say it is at least as fast as the
    unfused path auto would otherwise use (fused_cross_scan_preferred)."""
    m = SS2D(8, d_state=4)
    x = torch.randn(1, 16, 3, 5, device=DEVICE)
    preferred = triton_cross.fused_cross_scan_preferred(x.device, m._needs_grad(x))
    assert m._use_fused(x) == (preferred and _OK)
    for backend in ("torch", "reference", "mamba_ssm", "numba"):
        m.scan_backend = backend
        assert not m._use_fused(x)
    m.scan_backend = "triton"
    assert m._use_fused(x) == _OK
    m.fused_scan = False
    assert not m._use_fused(x)


def test_fused_scan_true_raises_where_it_cannot_run() -> None:
    m = SS2D(8, d_state=4, fused_scan=True).double()
    with pytest.raises(BackendUnavailableError, match="fused_scan=True"):
        m(torch.randn(1, 3, 5, 8, dtype=torch.float64))


def _kernel(fn: Any) -> Any:
    for mark in reversed(kernel_test):
        fn = mark(fn)
    return fn


@_kernel
@pytest.mark.usefixtures("wide_programs")
def test_core_fused_equals_unfused_non_square() -> None:
    torch.manual_seed(1)
    m = SS2D(8, d_state=4, scan_backend="reference").to(DEVICE)
    x = torch.randn(2, m.d_inner, 5, 7, device=DEVICE)
    want = m._forward_core(x).transpose(1, 2).reshape(2, 5, 7, m.d_inner)
    torch.testing.assert_close(m._forward_core_fused(x), want, rtol=6e-4, atol=2e-3)


@_kernel
@pytest.mark.usefixtures("wide_programs")
@pytest.mark.parametrize("dt_form", ["einsum", "block_diag"])
def test_mambaout_block_fused_equals_unfused_with_gradients(dt_form: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ss2d_module, "DT_PROJ_FORM", dt_form)  # the fused path's dt projection, both forms
    torch.manual_seed(2)
    block = MambaOut(8, d_state=4, scan_backend="reference").to(DEVICE)
    with torch.no_grad():
        block.ss2d.out_proj.weight.mul_(20)  # out_proj starts at std 0.02: make the SS2D branch visible
    x = torch.randn(2, 8, 6, 5, device=DEVICE)
    results = []
    for backend in ("reference", "triton"):
        block.ss2d.scan_backend = backend
        block.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        y = block(xi)
        y.square().sum().backward()
        results.append((y.detach(), xi.grad, {n: p.grad.clone() for n, p in block.named_parameters()}))
    (y0, gx0, g0), (y1, gx1, g1) = results
    torch.testing.assert_close(y1 - x, y0 - x, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(gx1, gx0, rtol=1e-4, atol=1e-5)
    for name in g0:
        torch.testing.assert_close(g1[name], g0[name], rtol=1e-3, atol=1e-6, msg=lambda m, n=name: f"{n}: {m}")


@_kernel
@pytest.mark.usefixtures("wide_programs")
def test_mambaout_bfloat16_autocast_fused_close_to_float32() -> None:
    torch.manual_seed(5)
    block = MambaOut(8, d_state=4, scan_backend="triton").to(DEVICE)
    with torch.no_grad():
        block.ss2d.out_proj.weight.mul_(20)
    x = torch.randn(1, 8, 5, 3, device=DEVICE)
    with torch.no_grad():
        ref = block(x)
        with torch.autocast(DEVICE, dtype=torch.bfloat16):
            y = block(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.float(), ref, atol=5e-2, rtol=5e-2)


@_kernel
@pytest.mark.usefixtures("wide_programs")
@pytest.mark.parametrize("delta_float32", [True, False], ids=["delta-fp32", "delta-bf16"])
def test_fused_delta_dtype_under_autocast(delta_float32: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under bf16 autocast the fused Triton path hands delta in float32 (ss2d.FUSED_DELTA_FLOAT32; x, B, C stay
    bf16), or in bf16 with the setting off; either way the block's output and gradients stay close to float32's."""
    monkeypatch.setattr(ss2d_module, "FUSED_DELTA_FLOAT32", delta_float32)
    seen: list[tuple[torch.dtype, ...]] = []
    real = ss2d_module.cross_selective_scan

    def spy(*args: Any, **kwargs: Any) -> torch.Tensor:
        seen.append(tuple(a.dtype for a in args[:5]))
        return real(*args, **kwargs)

    monkeypatch.setattr(ss2d_module, "cross_selective_scan", spy)
    torch.manual_seed(7)
    block = MambaOut(8, d_state=4, scan_backend="triton").to(DEVICE)
    x = torch.randn(1, 8, 5, 3, device=DEVICE)
    grads = []
    for amp in (False, True):
        block.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=amp):
            y = block(xi)
        y.float().square().sum().backward()
        grads.append((y.detach().float(), xi.grad, block.ss2d.dt_projs_weight.grad.clone()))
    bf16, f32 = torch.bfloat16, torch.float32
    delta = f32 if delta_float32 else bf16
    assert seen == [(f32, f32, f32, f32, f32), (bf16, delta, f32, bf16, bf16)]
    (y32, gx32, gw32), (y16, gx16, gw16) = grads
    torch.testing.assert_close(y16, y32, atol=5e-2, rtol=5e-2)
    torch.testing.assert_close(gx16, gx32, atol=1e-1, rtol=5e-2)
    torch.testing.assert_close(gw16, gw32, atol=1e-1, rtol=1e-1)


@_kernel
@pytest.mark.usefixtures("wide_programs")
def test_akmamba_logits_fused_equal_unfused() -> None:
    """End to end: Akmamba-Net (two levels, odd input size) gives the same logits with the fused kernel."""
    torch.manual_seed(0)
    model = build_model("akmamba", 1, 3, base_channels=4, depth=2, d_state=4, scan_backend="reference").to(DEVICE)
    model.train()
    model(torch.randn(2, 1, 7, 9, device=DEVICE)).sum().backward()  # BatchNorm statistics off their init
    model.eval()
    x = torch.randn(2, 1, 7, 9, device=DEVICE)
    blocks = [m for m in model.modules() if isinstance(m, SS2D)]
    assert blocks
    with torch.no_grad():
        want = model(x)
        for m in blocks:
            m.scan_backend = "triton"
        assert all(m._use_fused(torch.empty(1, m.d_inner, 2, 2, device=DEVICE)) for m in blocks)
        got = model(x)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)
