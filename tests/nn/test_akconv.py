"""AKConv block (model-spec §1, test plan §1.8 (e) and §5)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from akmamba.errors import ConfigError, ShapeError
from akmamba.nn.blocks.akconv import AKConv, initial_offsets
from akmamba.ops.deform_sample import SAMPLE_BACKENDS, deform_sample

# model-spec §1.2 table, as (row, col) points in channel order; N=12 is not in the table: 4x3 by the same rule.
P_N_TABLE = {
    1: [(0, 0)],
    2: [(0, 0), (1, 0)],
    3: [(0, 0), (0, 1), (1, 0)],
    4: [(0, 0), (0, 1), (1, 0), (1, 1)],
    5: [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)],
    6: [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)],
    7: [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0)],
    8: [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (2, 0), (2, 1)],
    9: [(r, c) for r in range(3) for c in range(3)],
    10: [(r, c) for r in range(3) for c in range(3)] + [(3, 0)],
    11: [(r, c) for r in range(3) for c in range(3)] + [(3, 0), (3, 1)],
    12: [(r, c) for r in range(4) for c in range(3)],
    13: [(r, c) for r in range(3) for c in range(4)] + [(3, 0)],
}


def _as_points(p_n: torch.Tensor) -> list[tuple[int, int]]:
    n = p_n.numel() // 2
    return [(int(r), int(c)) for r, c in zip(p_n[:n].tolist(), p_n[n:].tolist(), strict=True)]


def _zero_offset_akconv(n: int, stride: int = 1, **kwargs: object) -> AKConv:
    """A float64 AKConv in eval mode with zero offsets and a random main conv."""
    torch.manual_seed(0)
    m = AKConv(3, 4, n, stride, **kwargs).double().eval()
    nn.init.zeros_(m.p_conv.bias)
    nn.init.normal_(m.conv[0].weight)
    return m


def _head(m: AKConv, y: torch.Tensor) -> torch.Tensor:
    """BN + SiLU of the module applied to a pre-BN map."""
    return m.conv[2](m.conv[1](y))


@pytest.mark.parametrize("n", sorted(P_N_TABLE))
def test_p_n_matches_the_spec_table(n: int) -> None:
    assert _as_points(initial_offsets(n, centered=False)) == P_N_TABLE[n]


@pytest.mark.parametrize(("n", "shift"), [(1, (0, 0)), (5, (1, 0)), (6, (1, 0)), (9, (1, 1)), (13, (1, 1))])
def test_centred_p_n_is_shifted(n: int, shift: tuple[int, int]) -> None:
    expected = [(r - shift[0], c - shift[1]) for r, c in P_N_TABLE[n]]
    assert _as_points(initial_offsets(n, centered=True)) == expected
    m = AKConv(2, 2, n)
    assert m.p_n.shape == (1, 2 * n, 1, 1)
    assert "p_n" not in m.state_dict()


@pytest.mark.parametrize("sampler", SAMPLE_BACKENDS)
@pytest.mark.parametrize("faithful", [False, True])
def test_zero_offset_top_left_anchored_is_a_3x3_conv(sampler: str, faithful: bool) -> None:
    m = _zero_offset_akconv(9, centered=False, faithful_border=faithful, sampler=sampler)
    x = torch.randn(2, 3, 8, 9, dtype=torch.float64)
    w3 = m.conv[0].weight.view(4, 3, 3, 3)  # tap n = 3*r + c reads (i + r, j + c)
    expected = _head(m, F.conv2d(F.pad(x, (0, 2, 0, 2), mode="replicate"), w3))
    out = m(x)
    torch.testing.assert_close(out[..., :-3, :-3], expected[..., :-3, :-3])
    if not faithful:
        torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("sampler", SAMPLE_BACKENDS)
@pytest.mark.parametrize("stride", [1, 2])
def test_zero_offset_centred_is_an_ordinary_3x3_conv(sampler: str, stride: int) -> None:
    m = _zero_offset_akconv(9, stride, sampler=sampler)
    x = torch.randn(2, 3, 9, 8, dtype=torch.float64)
    w3 = m.conv[0].weight.view(4, 3, 3, 3)
    out = m(x)
    zero_padded = _head(m, F.conv2d(x, w3, padding=1, stride=stride))
    torch.testing.assert_close(out[..., 1:-1, 1:-1], zero_padded[..., 1:-1, 1:-1])
    replicate = _head(m, F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), w3, stride=stride))
    torch.testing.assert_close(out, replicate)


@pytest.mark.parametrize("sampler", SAMPLE_BACKENDS)
def test_faithful_border_counts_the_corner_four_times(sampler: str) -> None:
    m = _zero_offset_akconv(9, centered=False, faithful_border=True, sampler=sampler)
    height, width, value = 6, 7, 63.0
    x = torch.full((1, 3, height, width), value, dtype=torch.float64)
    samples = deform_sample(x, m.positions(m.p_conv(x)), faithful_border=True, backend=sampler)
    # Output (i, j), tap (r, c) reads (i + r, j + c); x2 per axis where that is >= the last row/column.
    taps = torch.arange(3, dtype=torch.float64)
    row_factor = 1 + ((torch.arange(height).view(-1, 1) + taps) >= height - 1).double()  # (H, 3)
    col_factor = 1 + ((torch.arange(width).view(-1, 1) + taps) >= width - 1).double()  # (W, 3)
    expected = value * row_factor.view(height, 1, 3, 1) * col_factor.view(1, width, 1, 3)
    torch.testing.assert_close(samples[0, 0], expected.reshape(height, width, 9))
    assert samples[0, 0, -1, -1].tolist() == [4 * value] * 9  # the 63 -> 252 of the spec
    assert samples[0, 0, 0, 0].tolist() == [value] * 9


@pytest.mark.parametrize("faithful", [False, True])
def test_samplers_agree_on_random_offsets(faithful: bool) -> None:
    torch.manual_seed(0)
    modules = [AKConv(3, 4, 5, 2, faithful_border=faithful, sampler=s).double() for s in SAMPLE_BACKENDS]
    nn.init.normal_(modules[0].p_conv.weight, std=1.0)  # offsets of a few pixels, many outside the image
    modules[1].load_state_dict(modules[0].state_dict())
    x = torch.randn(2, 3, 7, 10, dtype=torch.float64)
    grads = []
    for m in modules:
        xi = x.clone().requires_grad_()
        out = m(xi)
        out.backward(torch.ones_like(out))
        grads.append([out.detach(), xi.grad] + [p.grad for p in m.parameters()])
    for fast, ref in zip(*grads, strict=True):
        torch.testing.assert_close(fast, ref, rtol=1e-9, atol=1e-9)


def test_gradcheck_on_offsets_and_input() -> None:
    torch.manual_seed(0)
    m = AKConv(2, 3, 5, faithful_border=True).double().eval()
    x = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    offset = (2 * torch.randn(1, 10, 4, 5, dtype=torch.float64)).requires_grad_()

    def fn(x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
        samples = deform_sample(x, m.positions(offset), faithful_border=True)
        return m.conv(m._stack(samples))

    # fast_mode (random projections) keeps this under a second; the sampler alone is checked element-wise in
    # tests/ops/test_deform_sample.py.
    assert torch.autograd.gradcheck(fn, (x, offset), fast_mode=True)
    nn.init.normal_(m.p_conv.weight)  # offsets now depend on x: check the whole block on its input
    assert torch.autograd.gradcheck(m, (x,), fast_mode=True)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("n", [5, 9])
@pytest.mark.parametrize("size", [(97, 131), (1, 1), (1, 6), (5, 1)])
def test_output_shape_is_ceil_of_input_over_stride(stride: int, n: int, size: tuple[int, int]) -> None:
    m = AKConv(3, 4, n, stride)
    nn.init.normal_(m.p_conv.weight)
    out = m(torch.randn(2, 3, *size))  # B=2: BatchNorm needs more than one value per channel in training
    assert out.shape == (2, 4, math.ceil(size[0] / stride), math.ceil(size[1] / stride))
    assert torch.isfinite(out).all()


def _saved_activation_bytes(m: nn.Module, x: torch.Tensor) -> int:
    """Bytes of the unique storages autograd saves for backward, parameters excluded."""
    params = {p.untyped_storage().data_ptr() for p in m.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        m(x)
    return sum(storages.values())


@pytest.mark.parametrize("faithful", [False, True])
@pytest.mark.parametrize("n", [5, 9])
def test_grid_sample_saves_at_most_2n_inputs(n: int, faithful: bool) -> None:
    # Saved: x (1), the grid (2N/C), the stacked samples (N), BN input and SiLU input (2 x out/in), plus the
    # border factors (N/C) when faithful, and BN's per-channel statistics: about N + 3 + 3N/C inputs, under 2N
    # for N >= 5 at C = 32 (12.8 for N=9, 8.5 for N=5).
    # (The published gathers keep about 13N; see benchmarks/bench_akconv.py.)
    m = AKConv(32, 32, n, faithful_border=faithful)
    nn.init.normal_(m.p_conv.weight)
    x = torch.randn(1, 32, 64, 64, requires_grad=True)  # an inner layer: the input gradient is needed
    ratio = _saved_activation_bytes(m, x) / (x.numel() * x.element_size())
    assert ratio <= n + 3 + 3 * n / 32 + 0.01
    assert ratio <= 2 * n


def test_init_and_state_dict_layout() -> None:
    m = AKConv(4, 6, 5, bias=True, centered=False)
    keys = set(m.state_dict())
    assert {"p_conv.weight", "p_conv.bias", "conv.0.weight", "conv.0.bias", "conv.1.running_mean"} <= keys
    assert m.conv[0].weight.shape == (6, 4, 5, 1)
    assert not m.p_conv.weight.any()
    assert m.p_conv.bias.abs().max() > 0  # published default init: small constant offsets
    assert not AKConv(4, 6, 5).p_conv.bias.any()  # centred: starts as an exact centred conv
    assert not m.p_conv._backward_hooks  # the published no-op "lr x 0.1" hook is not reproduced


def test_runs_under_bfloat16_autocast() -> None:
    torch.manual_seed(0)
    m = AKConv(3, 4, 9).eval()
    nn.init.normal_(m.p_conv.weight, std=0.3)
    x = torch.randn(1, 3, 12, 13)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(x)
    torch.testing.assert_close(out.float(), m(x), rtol=0.1, atol=0.1)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"in_channels": 0}, "in_channels"),
        ({"out_channels": 2.0}, "out_channels"),
        ({"num_points": 0}, "num_points"),
        ({"stride": 0}, "stride"),
        ({"stride": True}, "stride"),
        ({"sampler": "grid"}, "sampler"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, object], parameter: str) -> None:
    args: dict[str, object] = {"in_channels": 3, "out_channels": 4, "num_points": 5, **kwargs}
    with pytest.raises(ConfigError) as info:
        AKConv(**args)  # type: ignore[arg-type]
    assert info.value.parameter == parameter
    assert info.value.got == kwargs[parameter]


@pytest.mark.parametrize(
    "x", [torch.zeros(3, 8, 8), torch.zeros(1, 2, 8, 8), torch.zeros(1, 3, 8, 8, dtype=torch.int64)]
)
def test_bad_inputs_raise_shape_error(x: torch.Tensor) -> None:
    with pytest.raises(ShapeError) as info:
        AKConv(3, 4, 5)(x)
    assert info.value.parameter == "x"
