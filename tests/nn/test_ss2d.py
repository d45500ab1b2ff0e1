"""SS2D / Mamba-out per model-spec.md §2 and §5."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from akmamba.errors import ConfigError, ShapeError
from akmamba.nn.blocks import ss2d as ss2d_module
from akmamba.nn.blocks.ss2d import SS2D, MambaOut, cross_merge, cross_scan, project_dt
from akmamba.ops import selective_scan


def test_merge_of_scan_is_four_times_input_non_square() -> None:
    x = torch.randn(2, 3, 5, 7)
    y = cross_merge(cross_scan(x), 5, 7)
    torch.testing.assert_close(y, 4 * x.flatten(2))


def test_cross_scan_orders_match_explicit_loops() -> None:
    x = torch.randn(1, 2, 3, 4)
    xs = cross_scan(x)
    rows = [x[:, :, i, j] for i in range(3) for j in range(4)]
    cols = [x[:, :, i, j] for j in range(4) for i in range(3)]
    torch.testing.assert_close(xs[:, 0], torch.stack(rows, -1))
    torch.testing.assert_close(xs[:, 1], torch.stack(cols, -1))
    torch.testing.assert_close(xs[:, 2], torch.stack(rows[::-1], -1))
    torch.testing.assert_close(xs[:, 3], torch.stack(cols[::-1], -1))


def test_parameter_count_formula() -> None:
    c, n = 64, 16
    r = math.ceil(c / 16)
    expected = 6 * c * c + 8 * c * (r + 2 * n) + 8 * c * r + 8 * c * n + 40 * c
    assert expected == 55_808
    assert sum(p.numel() for p in SS2D(c).parameters()) == expected
    assert sum(p.numel() for p in MambaOut(c).parameters()) == expected + 2 * c
    assert sum(p.numel() for p in MambaOut(c, residual=False).parameters()) == expected


def test_initial_statistics() -> None:
    torch.manual_seed(0)
    m = SS2D(32, d_state=16)
    dt = F.softplus(m.dt_projs_bias)
    assert dt.min() >= 1e-3 * (1 - 1e-5)
    assert dt.max() <= 0.1 * (1 + 1e-5)
    a = -torch.exp(m.A_logs)
    torch.testing.assert_close(a, -torch.arange(1, 17, dtype=torch.float32).expand(4 * 64, 16))
    assert torch.all(m.Ds == 1)
    assert abs(m.in_proj.weight.std().item() - 0.02) < 0.004


def _explicit_core(m: SS2D, x: torch.Tensor) -> torch.Tensor:
    """SS2D's four-direction scan written with explicit pixel loops and one scan call per direction."""
    b, e, h, w = x.shape
    orders = [
        [(i, j) for i in range(h) for j in range(w)],
        [(i, j) for j in range(w) for i in range(h)],
    ]
    orders += [o[::-1] for o in orders]
    out = torch.zeros(b, e, h, w)
    n, r = m.d_state, m.dt_rank
    for k, order in enumerate(orders):
        seq = torch.stack([x[:, :, i, j] for i, j in order], -1)  # (B, E, L)
        dbl = torch.einsum("bel,ce->bcl", seq, m.x_proj_weight[k])
        dts, bs, cs = torch.split(dbl, [r, n, n], dim=1)
        dts = torch.einsum("brl,er->bel", dts, m.dt_projs_weight[k])
        sl = slice(k * e, (k + 1) * e)
        y = selective_scan(seq, dts, -torch.exp(m.A_logs[sl]), bs, cs, D=m.Ds[sl],
                           delta_bias=m.dt_projs_bias[k], delta_softplus=True, backend="reference")
        for t, (i, j) in enumerate(order):
            out[:, :, i, j] += y[:, :, t]
    return out.flatten(2)


@pytest.mark.slow
@torch.no_grad()
def test_core_matches_explicit_directions_non_square() -> None:
    torch.manual_seed(1)
    m = SS2D(8, d_state=4)
    x = torch.randn(2, m.d_inner, 3, 5)
    torch.testing.assert_close(m._forward_core(x), _explicit_core(m, x), atol=1e-5, rtol=1e-5)


def test_forward_shape_and_backends_agree() -> None:
    torch.manual_seed(2)
    m = SS2D(16, scan_backend="torch")
    x = torch.randn(2, 6, 9, 16)
    y = m(x)
    assert y.shape == (2, 6, 9, 16)
    m.scan_backend = "reference"
    torch.testing.assert_close(m(x), y, atol=1e-5, rtol=1e-4)


def test_mambaout_residual_and_bare() -> None:
    torch.manual_seed(3)
    x = torch.randn(1, 16, 7, 11)
    res = MambaOut(16)
    bare = MambaOut(16, residual=False)
    assert res(x).shape == x.shape
    assert bare(x).shape == x.shape
    # out_proj starts at std 0.02: the residual block starts close to the identity, the bare block near zero.
    assert (res(x) - x).abs().mean() < 0.2 * x.abs().mean()
    assert bare(x).abs().mean() < 0.2 * x.abs().mean()


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(4)
    m = MambaOut(8)
    m(torch.randn(1, 8, 5, 6)).square().sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_bad_input_and_options() -> None:
    with pytest.raises(ShapeError, match=r"\(B, H, W, 8\)"):
        SS2D(8)(torch.randn(1, 8, 4, 4))
    with pytest.raises(ShapeError):
        MambaOut(8)(torch.randn(8, 4, 4))
    with pytest.raises(ConfigError, match="d_conv"):
        SS2D(8, d_conv=4)
    with pytest.raises(ConfigError, match="d_state"):
        SS2D(8, d_state=0)


def test_bfloat16_autocast_close_to_float32() -> None:
    torch.manual_seed(5)
    m = MambaOut(16, scan_backend="torch")
    x = torch.randn(1, 16, 9, 7)
    ref = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = m(x)
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y.float(), ref, atol=5e-2, rtol=5e-2)


@pytest.mark.parametrize("rank", [1, 3])
def test_dt_projection_forms_agree_with_gradients(rank: int) -> None:
    """The block-diagonal matmul (CUDA's form) equals the per-direction einsum, values and gradients, on the strided
    split view the fused path passes it."""
    torch.manual_seed(3)
    n = 4
    x_dbl = torch.randn(2, 5, 3, 4, rank + 2 * n, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(4, 6, rank, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 5, 3, 4, 6, dtype=torch.float64)
    results = []
    for form in ("einsum", "block_diag"):
        dts = x_dbl.split([rank, n, n], dim=-1)[0]  # not contiguous
        out = project_dt(dts, weight, form)
        dx, dw = torch.autograd.grad(out, (x_dbl, weight), g)
        results.append((out.detach(), dx, dw))
    want = torch.stack([x_dbl[..., k, :rank] @ weight[k].T for k in range(4)], dim=-2)
    torch.testing.assert_close(results[0][0], want.detach())
    for a, b in zip(results[0], results[1], strict=True):
        torch.testing.assert_close(b, a)
    assert project_dt(x_dbl[..., :rank], weight).shape == (2, 5, 3, 4, 6)  # auto: einsum off CUDA
    with pytest.raises(ConfigError, match="form"):
        project_dt(x_dbl[..., :rank], weight, "dense")


def test_cross_scan_each_orders_each_direction_s_own_map() -> None:
    t = torch.randn(2, 4, 3, 5, 7)
    got = ss2d_module.cross_scan_each(t)
    assert got.shape == (2, 4, 3, 35)
    for k in range(4):
        torch.testing.assert_close(got[:, k], cross_scan(t[:, k])[:, k], rtol=0, atol=0)
    # a non-contiguous input (the permuted pixel-major view the unfused path passes)
    px = torch.randn(2, 5, 7, 4, 3)
    torch.testing.assert_close(ss2d_module.cross_scan_each(px.permute(0, 3, 4, 1, 2)),
                               ss2d_module.cross_scan_each(px.permute(0, 3, 4, 1, 2).contiguous()), rtol=0, atol=0)


@pytest.mark.parametrize("dt_rank", [1, 3], ids=["rank-1", "rank-3"])
@pytest.mark.parametrize("dt_form", ["einsum", "block_diag"])
def test_unfused_projection_forms_agree(monkeypatch: pytest.MonkeyPatch, dt_rank: int, dt_form: str) -> None:
    """'pixels' (one per-pixel x_proj, results reordered) equals 'copies' (einsums on the four copies): the core's
    output and the gradients of x and of every parameter, in float64."""
    torch.manual_seed(4)
    m = SS2D(6, d_state=4, dt_rank=dt_rank, scan_backend="torch").double()
    x = torch.randn(2, m.d_inner, 4, 5, dtype=torch.float64)
    monkeypatch.setattr(ss2d_module, "DT_PROJ_FORM", dt_form)
    results = {}
    for form in ("copies", "pixels"):
        monkeypatch.setattr(ss2d_module, "UNFUSED_PROJ_FORM", form)
        m.zero_grad()
        xx = x.clone().requires_grad_()
        y = m._forward_core(xx)
        (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)).sum().backward()
        grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
        results[form] = (y.detach(), xx.grad, grads)
    (y0, gx0, gp0), (y1, gx1, gp1) = results["copies"], results["pixels"]
    torch.testing.assert_close(y1, y0, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gx1, gx0, rtol=1e-10, atol=1e-12)
    assert set(gp1) == set(gp0)
    assert {"x_proj_weight", "dt_projs_weight", "A_logs", "Ds"} <= set(gp0)
    for name in gp0:
        torch.testing.assert_close(gp1[name], gp0[name], rtol=1e-10, atol=1e-12, msg=name)


def test_unknown_unfused_projection_form_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ss2d_module, "UNFUSED_PROJ_FORM", "diagonal")
    m = SS2D(4, d_state=2, scan_backend="torch")
    with pytest.raises(ConfigError, match="UNFUSED_PROJ_FORM"):
        m._forward_core(torch.randn(1, m.d_inner, 2, 3))


def test_auto_projection_form_takes_pixels_only_where_it_was_measured_faster() -> None:
    from types import SimpleNamespace

    def cuda(b: int, h: int, w: int) -> SimpleNamespace:  # the rule reads only the device and the shape
        return SimpleNamespace(is_cuda=True, shape=(b, 32, h, w))

    form = ss2d_module.unfused_proj_form
    assert ss2d_module.UNFUSED_PROJ_FORM == "auto"
    # measured on an H100 (docs/benchmarks/unfused_proj_cuda.md): forward+backward faster from 1x148x144 up ...
    assert form(cuda(1, 148, 144), needs_grad=True) == "pixels"
    assert form(cuda(8, 74, 72), needs_grad=True) == "pixels"
    # ... slower at 1x74x72, and the forward alone is no faster: copies there
    assert form(cuda(1, 74, 72), needs_grad=True) == "copies"
    assert form(cuda(8, 592, 576), needs_grad=False) == "copies"
    assert form(torch.zeros(8, 4, 148, 144), needs_grad=True) == "copies"  # CPU: the two forms measured level
    assert form(cuda(1, 74, 72), needs_grad=False, form="pixels") == "pixels"  # an explicit form is kept
    with pytest.raises(ConfigError, match="expected 'auto', 'copies' or 'pixels'"):
        form(cuda(1, 8, 8), needs_grad=True, form="diagonal")
