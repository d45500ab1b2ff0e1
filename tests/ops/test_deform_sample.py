"""deform_sample: the grid_sample fast path against the published gather reference (house-style §5)."""

from __future__ import annotations

import pytest
import torch

from akmamba.errors import ConfigError, ShapeError
from akmamba.ops.deform_sample import SAMPLE_BACKENDS, deform_sample

# dtype -> (rtol, atol) for grid_sample vs reference, outputs and gradients.
TOL = {torch.float64: (1e-10, 1e-10), torch.float32: (1e-5, 1e-5)}


def _positions(batch: int, n: int, h: int, w: int, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """Random positions (B, 2N, h, w) covering [-2, size+1): inside, on the border band and outside."""
    rows = torch.rand(batch, n, h, w, dtype=dtype) * (size[0] + 3) - 2
    cols = torch.rand(batch, n, h, w, dtype=dtype) * (size[1] + 3) - 2
    return torch.cat((rows, cols), dim=1)


def _point(row: float, col: float) -> torch.Tensor:
    return torch.tensor([row, col], dtype=torch.float64).view(1, 2, 1, 1)


@pytest.mark.parametrize("backend", SAMPLE_BACKENDS)
def test_hand_worked_values(backend: str) -> None:
    # x[r, c] = 2r + c on a 2x2 image: [[0, 1], [2, 3]].
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]], dtype=torch.float64).view(1, 1, 2, 2)

    def at(row: float, col: float, faithful: bool) -> float:
        return deform_sample(x, _point(row, col), faithful_border=faithful, backend=backend).item()

    # Interior: bilinear of a linear function is exact, 2*0.5 + 0.25.
    assert at(0.5, 0.25, False) == pytest.approx(1.25)
    assert at(0.5, 0.25, True) == pytest.approx(1.25)
    # Row on the last row (>= H-1): 0.75*x[1,0] + 0.25*x[1,1] = 2.25; published weights sum to 2 on that axis.
    assert at(1.0, 0.25, False) == pytest.approx(2.25)
    assert at(1.0, 0.25, True) == pytest.approx(4.5)
    # Row < 0 and column beyond the last: clamped to x[0, 1] = 1; published x2 on both axes = 4.
    assert at(-0.5, 3.0, False) == pytest.approx(1.0)
    assert at(-0.5, 3.0, True) == pytest.approx(4.0)


@pytest.mark.parametrize("faithful", [False, True])
@pytest.mark.parametrize("size", [(5, 7), (1, 6), (6, 1), (1, 1)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_grid_sample_matches_reference(faithful: bool, size: tuple[int, int], dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, *size, dtype=dtype)
    p = _positions(2, 5, 3, 4, size, dtype)
    results = []
    for backend in ("reference", "grid_sample"):
        xi, pi = x.clone().requires_grad_(), p.clone().requires_grad_()
        out = deform_sample(xi, pi, faithful_border=faithful, backend=backend)
        torch.manual_seed(1)  # same upstream gradient for both (randn, not randn_like: the strides differ)
        out.backward(torch.randn(out.shape, dtype=dtype))
        results.append((out.detach(), xi.grad, pi.grad))
    rtol, atol = TOL[dtype]
    for name, ref, fast in zip(("output", "grad x", "grad p"), *results, strict=True):
        torch.testing.assert_close(fast, ref, rtol=rtol, atol=atol, msg=name)
    assert results[1][0].shape == (2, 3, 3, 4, 5)


@pytest.mark.parametrize("backend", SAMPLE_BACKENDS)
@pytest.mark.parametrize("faithful", [False, True])
def test_integer_positions_follow_the_border_formula(backend: str, faithful: bool) -> None:
    # Zero offsets put every sample on a pixel centre; the published value is x at the clamped pixel times 2
    # for each axis whose coordinate is >= size-1 or < 0.
    torch.manual_seed(0)
    height, width = 4, 5
    x = torch.randn(1, 2, height, width, dtype=torch.float64)
    rows = torch.tensor([-1.0, 0.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    cols = torch.tensor([-2.0, 1.0, 3.0, 4.0, 6.0], dtype=torch.float64)
    grid_r, grid_c = torch.meshgrid(rows, cols, indexing="ij")
    p = torch.stack((grid_r, grid_c)).unsqueeze(0)  # N=1, h=w=5
    out = deform_sample(x, p, faithful_border=faithful, backend=backend)[..., 0]
    expected = torch.empty_like(out)
    for i, r in enumerate(rows.tolist()):
        for j, c in enumerate(cols.tolist()):
            value = x[0, :, min(max(int(r), 0), height - 1), min(max(int(c), 0), width - 1)]
            if faithful:
                value = value * (2 if r >= height - 1 or r < 0 else 1) * (2 if c >= width - 1 or c < 0 else 1)
            expected[0, :, i, j] = value
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("backend", SAMPLE_BACKENDS)
@pytest.mark.parametrize("faithful", [False, True])
def test_gradcheck_on_input_and_positions(backend: str, faithful: bool) -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    p = _positions(1, 3, 2, 3, (3, 4), torch.float64).requires_grad_()

    def fn(x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        return deform_sample(x, p, faithful_border=faithful, backend=backend)

    assert torch.autograd.gradcheck(fn, (x, p))


def test_coordinates_stay_float32_under_autocast() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 2, 9, 600)
    p = _positions(1, 3, 4, 5, (9, 600), torch.float32)
    plain = deform_sample(x, p)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        auto = deform_sample(x, p)
    assert auto.dtype == torch.float32
    torch.testing.assert_close(auto, plain, rtol=0, atol=0)


def test_half_precision_input_keeps_its_dtype() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 2, 6, 7)
    p = _positions(1, 3, 4, 5, (6, 7), torch.float32)
    out = deform_sample(x.bfloat16(), p)
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), deform_sample(x, p), rtol=2e-2, atol=2e-2)


def test_unknown_backend_suggests_the_right_name() -> None:
    x, p = torch.zeros(1, 1, 3, 3), torch.zeros(1, 2, 3, 3)
    with pytest.raises(ConfigError, match="Did you mean 'grid_sample'") as info:
        deform_sample(x, p, backend="grid_sampler")
    assert info.value.parameter == "backend"
    assert info.value.got == "grid_sampler"


@pytest.mark.parametrize("backend", SAMPLE_BACKENDS)
@pytest.mark.parametrize(
    ("x_shape", "p_shape", "parameter"),
    [
        ((1, 3, 3), (1, 2, 3, 3), "x"),
        ((1, 1, 3, 3), (1, 3, 3, 3), "p"),
        ((2, 1, 3, 3), (1, 2, 3, 3), "p"),
        ((1, 1, 0, 3), (1, 2, 3, 3), "x"),
    ],
)
def test_bad_shapes_raise_shape_error(
    backend: str, x_shape: tuple[int, ...], p_shape: tuple[int, ...], parameter: str
) -> None:
    with pytest.raises(ShapeError) as info:
        deform_sample(torch.zeros(x_shape), torch.zeros(p_shape), backend=backend)
    assert info.value.parameter == parameter


def test_integer_input_is_rejected() -> None:
    with pytest.raises(ShapeError, match="floating-point"):
        deform_sample(torch.zeros(1, 1, 3, 3, dtype=torch.int64), torch.zeros(1, 2, 3, 3))
