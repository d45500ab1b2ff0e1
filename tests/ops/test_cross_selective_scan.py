"""The fused four-direction scan (``cross_selective_scan``, backend ``fused_triton``) against its reference.

The reference is the unfused composition cross_scan -> per-token selective_scan loop -> cross_merge
(``cross_selective_scan_reference``), itself checked here against explicit pixel loops. Outputs and every input
gradient are compared with mamba-ssm's tolerance table (tolerances.py), float32 and bfloat16, on odd and
degenerate map sizes (7x5, 1xN, Nx1, 33x17) and batch > 1.

Where no GPU is present but Triton is installed, the kernels run in Triton's CPU interpreter: this module sets
TRITON_INTERPRET=1 (unless already set) before the kernels are first imported. Interpreted kernels are slow (a
few seconds per call even at these tiny shapes), so those tests are marked ``slow``. Without Triton they skip with
the reason. On a CUDA machine the same tests run on the GPU, plus the ``cuda`` tests at the shapes of the shipped
models against SS2D's unfused path with mamba_ssm's kernel.
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

from akmamba.errors import BackendUnavailableError, ConfigError, ShapeError  # noqa: E402
from akmamba.nn.blocks import ss2d  # noqa: E402
from akmamba.ops import available_backends, cross_selective_scan, selective_scan  # noqa: E402
from akmamba.ops.selective_scan import cross, triton_cross  # noqa: E402
from akmamba.ops.selective_scan.tolerances import TOLERANCES  # noqa: E402

DEVICE = "cuda" if HAS_CUDA else "cpu"
_FUSED_OK, _FUSED_REASON = triton_cross.fused_cross_scan_available(DEVICE)
needs_fused = pytest.mark.skipif(not _FUSED_OK, reason=f"fused cross-scan kernel unusable: {_FUSED_REASON}")
# on a GPU these run on CUDA (marked cuda, so that `-m cuda` selects them); interpreted on the CPU they take
# seconds per call (marked slow)
kernel_test = [needs_fused, pytest.mark.cuda if HAS_CUDA else pytest.mark.slow]
_MAMBA = {i.name: i for i in available_backends("cuda" if HAS_CUDA else None)}["mamba_ssm"]

NAMES = ("x", "dts", "As", "Bs", "Cs", "Ds", "delta_bias")
#: tolerance-table key of each input's gradient
TOL_KEY = {"x": "u", "dts": "delta", "As": "A", "Bs": "B", "Cs": "C", "Ds": "D", "delta_bias": "delta_bias"}


def _kernel(fn: Any) -> Any:
    for mark in reversed(kernel_test):
        fn = mark(fn)
    return fn


def make_inputs(
    batch: int, e: int, h: int, w: int, n: int, dtype: torch.dtype, seed: int = 0, device: str = DEVICE
) -> dict[str, Any]:
    """mamba-ssm's test recipe (A = -0.5 rand, delta = 0.5 rand, delta_bias = 0.5 rand, the rest randn), per
    direction and in pixel order; x, dts, Bs, Cs in ``dtype``, As, Ds, delta_bias in float32."""
    gen = torch.Generator(device=device).manual_seed(seed)

    def rand(*shape: int, dt: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.rand(*shape, generator=gen, device=device).to(dt)

    def randn(*shape: int, dt: torch.dtype = torch.float32) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, device=device).to(dt)

    return {
        "x": randn(batch, e, h, w, dt=dtype),
        "dts": 0.5 * rand(batch, 4, e, h, w, dt=dtype),
        "As": -0.5 * rand(4 * e, n),
        "Bs": randn(batch, 4, n, h, w, dt=dtype),
        "Cs": randn(batch, 4, n, h, w, dt=dtype),
        "Ds": randn(4 * e),
        "delta_bias": 0.5 * rand(4 * e),
    }


Result = tuple[torch.Tensor, dict[str, torch.Tensor]]


def run(
    backend: str, inputs: dict[str, Any], softplus: bool = True, seed: int = 1, upstream: torch.Tensor | None = None
) -> Result:
    """y and every input gradient, from a fixed random upstream gradient."""
    leaves = {k: None if v is None else v.detach().clone().requires_grad_() for k, v in inputs.items()}
    if backend == "reference":
        y = cross.cross_selective_scan_reference(**leaves, delta_softplus=softplus)
    else:
        y = cross_selective_scan(**leaves, delta_softplus=softplus, backend=backend)
    if upstream is None:
        gen = torch.Generator(device=y.device.type).manual_seed(seed)
        upstream = torch.randn(y.shape, generator=gen, device=y.device.type).to(y.dtype)
    y.backward(upstream)
    return y.detach(), {k: v.grad for k, v in leaves.items() if v is not None}


def compare(got: Result, want: Result, dtype: torch.dtype) -> None:
    tol = TOLERANCES[dtype][False]
    assert got[0].dtype == want[0].dtype == dtype
    rtol, atol = tol["y"]
    torch.testing.assert_close(got[0].float(), want[0].float(), rtol=rtol, atol=atol, msg=lambda m: f"y: {m}")
    assert got[1].keys() == want[1].keys()
    for name, grad in got[1].items():
        assert grad.dtype == want[1][name].dtype, name
        assert grad.shape == want[1][name].shape, name
        rtol, atol = tol[TOL_KEY[name]]
        torch.testing.assert_close(
            grad.float(), want[1][name].float(), rtol=rtol, atol=atol, msg=lambda m, n=name: f"d{n}: {m}"
        )


@pytest.fixture
def launch_overrides() -> Iterator[dict[str, int]]:
    """Force launch settings (channels per program, tile, merge mode) for one test."""
    saved = dict(triton_cross.LAUNCH_OVERRIDES)
    yield triton_cross.LAUNCH_OVERRIDES
    triton_cross.LAUNCH_OVERRIDES.clear()
    triton_cross.LAUNCH_OVERRIDES.update(saved)


# -- everywhere: the reference and the dispatcher ----------------------------------------------------------------


def test_cross_scan_and_merge_are_ss2ds() -> None:
    """The op's index maps are SS2D's (they must never diverge)."""
    x = torch.randn(2, 3, 5, 7)
    torch.testing.assert_close(cross.cross_scan(x), ss2d.cross_scan(x), rtol=0, atol=0)
    ys = torch.randn(2, 4, 3, 35)
    torch.testing.assert_close(cross.cross_merge(ys, 5, 7), ss2d.cross_merge(ys, 5, 7), rtol=0, atol=0)


def test_directions_to_sequences_match_explicit_loops() -> None:
    h, w = 3, 4
    maps = torch.randn(1, 4, 2, h, w)
    rows = [(i, j) for i in range(h) for j in range(w)]
    cols = [(i, j) for j in range(w) for i in range(h)]
    seqs = cross.directions_to_sequences(maps)
    for k, order in enumerate([rows, cols, rows[::-1], cols[::-1]]):
        want = torch.stack([maps[:, k, :, i, j] for i, j in order], -1)
        torch.testing.assert_close(seqs[:, k], want, rtol=0, atol=0)


def _explicit(inputs: dict[str, Any]) -> torch.Tensor:
    """The op written with explicit pixel loops and one reference scan per direction."""
    x, dts, As, Bs, Cs, Ds, db = (inputs[k] for k in NAMES)
    b, e, h, w = x.shape
    rows = [(i, j) for i in range(h) for j in range(w)]
    cols = [(i, j) for j in range(w) for i in range(h)]
    out = torch.zeros(b, e, h, w)
    for k, order in enumerate([rows, cols, rows[::-1], cols[::-1]]):
        def seq(t: torch.Tensor, order: list[tuple[int, int]] = order) -> torch.Tensor:
            return torch.stack([t[..., i, j] for i, j in order], -1)

        sl = slice(k * e, (k + 1) * e)
        y = selective_scan(seq(x), seq(dts[:, k]), As[sl], seq(Bs[:, k]), seq(Cs[:, k]), D=Ds[sl],
                           delta_bias=db[sl], delta_softplus=True, backend="reference")
        for t, (i, j) in enumerate(order):
            out[:, :, i, j] += y[:, :, t]
    return out


def test_reference_matches_explicit_directions_non_square() -> None:
    inputs = make_inputs(2, 3, 4, 5, 3, torch.float32, device="cpu")
    torch.testing.assert_close(cross.cross_selective_scan_reference(**inputs, delta_softplus=True),
                               _explicit(inputs), rtol=1e-5, atol=1e-5)


def test_unfused_backends_agree() -> None:
    inputs = make_inputs(2, 3, 6, 5, 4, torch.float32, device="cpu")
    want = cross.cross_selective_scan_reference(**inputs, delta_softplus=True)
    got = cross_selective_scan(**inputs, delta_softplus=True, backend="torch")
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_shape_and_option_errors() -> None:
    inputs = make_inputs(1, 2, 3, 4, 2, torch.float32, device="cpu")
    bad = dict(inputs, dts=inputs["dts"][:, :, :, :, :3])
    with pytest.raises(ShapeError, match=r"dts must have shape \(B, 4, E, H, W\)"):
        cross_selective_scan(**bad)
    with pytest.raises(ShapeError, match=r"As must have shape \(4\*E, N\)"):
        cross_selective_scan(**dict(inputs, As=inputs["As"][:4]))
    with pytest.raises(ShapeError, match="share one dtype"):
        cross_selective_scan(**dict(inputs, Bs=inputs["Bs"].double()))
    with pytest.raises(ShapeError, match="delta must be in x's dtype or float32"):
        cross_selective_scan(**dict(inputs, dts=inputs["dts"].double()))
    with pytest.raises(ConfigError, match="fused_triton"):
        cross_selective_scan(**inputs, backend="fused_trito")


def test_reference_takes_float32_delta_with_bf16_inputs() -> None:
    """delta may be float32 beside bf16 x, B, C (SS2D's fused path hands it so under autocast): the reference
    computes in float32 anyway, so a float32 delta gives the bf16 result of the float32-rounded delta."""
    inputs = make_inputs(1, 3, 4, 5, 2, torch.bfloat16, device="cpu")
    mixed = dict(inputs, dts=inputs["dts"].float())
    y, grads = run("reference", mixed)
    assert y.dtype == torch.bfloat16
    assert grads["dts"].dtype == torch.float32
    want = run("reference", inputs)  # same values: the bf16 delta is exactly representable in float32
    torch.testing.assert_close(y, want[0])


def test_fused_refuses_what_it_cannot_run() -> None:
    inputs = {k: v.double() for k, v in make_inputs(1, 2, 3, 4, 2, torch.float32, device="cpu").items()}
    with pytest.raises(BackendUnavailableError, match="'fused_triton' cannot run"):
        cross_selective_scan(**inputs, backend="fused_triton")


def test_auto_prefers_fused_only_when_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto keeps the unfused path until the measured constants say the fused one is at least as fast."""
    calls: list[str] = []

    def fake_fused(*args: Any, **kwargs: Any) -> torch.Tensor:
        calls.append("fused")
        return args[0]

    monkeypatch.setattr(cross, "cross_selective_scan_fused", fake_fused)
    monkeypatch.setattr(cross, "fused_cross_scan_supports", lambda x, n: (True, "test"))
    monkeypatch.setattr(triton_cross, "fused_cross_scan_available", lambda device=None: (True, "test"))
    monkeypatch.setattr(triton_cross, "mamba_ssm_available", lambda dev: (True, "test"))  # compare with mamba_ssm
    monkeypatch.setattr(triton_cross, "MEASURED_DEVICE_TYPES", frozenset({"cuda", "cpu"}))  # CPU tensors here
    inputs = make_inputs(1, 2, 3, 4, 2, torch.float32, device="cpu")
    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}  # training: both ratios count
    for ratios, want in (((None, None), []), ((1.3, 0.9), []), ((1.0, 1.2), ["fused"])):
        calls.clear()
        monkeypatch.setattr(triton_cross, "MEASURED_SPEED_VS_MAMBA_SSM", ratios)
        cross_selective_scan(**leaves, delta_softplus=True)
        assert calls == want, ratios
    # inference (no gradient needed) asks only for the forward ratio; training for both
    monkeypatch.setattr(triton_cross, "MEASURED_SPEED_VS_MAMBA_SSM", (1.3, 0.9))
    calls.clear()
    cross_selective_scan(**{k: v.requires_grad_() for k, v in inputs.items()}, delta_softplus=True)
    assert calls == []
    with torch.no_grad():
        cross_selective_scan(**inputs, delta_softplus=True)
    assert calls == ["fused"]
    assert not triton_cross._at_least_as_fast((1.3, None))
    assert triton_cross._at_least_as_fast((1.3, None), needs_grad=False)
    # the shipped constants: only a measured speed-up makes auto (and SS2D's default) take the fused path
    measured = triton_cross.MEASURED_SPEED_VS_MAMBA_SSM
    assert not triton_cross._at_least_as_fast((None, None))
    tol = triton_cross.SPEED_TOLERANCE
    assert triton_cross._at_least_as_fast(measured) == all(r is not None and r >= 1 - tol for r in measured)
    # a shortfall inside the benchmark's noise counts as equal, a larger one does not
    assert triton_cross._at_least_as_fast((1.1, 1 - tol / 2))
    assert not triton_cross._at_least_as_fast((1.1, 1 - 2 * tol))
    assert 0 < tol <= 0.05


def test_preferred_follows_the_ratio_against_what_auto_would_use_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Against mamba_ssm where it loads, else against the per-sequence triton scan; training needs both ratios."""
    monkeypatch.setattr(triton_cross, "fused_cross_scan_available", lambda device=None: (True, "test"))
    monkeypatch.setattr(triton_cross, "MEASURED_DEVICE_TYPES", frozenset({"cuda", "cpu"}))
    monkeypatch.setattr(triton_cross, "MEASURED_SPEED_VS_MAMBA_SSM", (0.9, 0.8))
    monkeypatch.setattr(triton_cross, "MEASURED_SPEED_VS_TRITON", (1.1, 1.05))
    for mamba_loads, want in ((True, False), (False, True)):
        monkeypatch.setattr(triton_cross, "mamba_ssm_available", lambda dev, ok=mamba_loads: (ok, "test"))
        assert triton_cross.fused_cross_scan_preferred("cpu", needs_grad=True) is want
        assert triton_cross.fused_cross_scan_preferred("cpu", needs_grad=False) is want
    monkeypatch.setattr(triton_cross, "MEASURED_SPEED_VS_TRITON", (1.1, 0.95))
    assert not triton_cross.fused_cross_scan_preferred("cpu", needs_grad=True)
    assert triton_cross.fused_cross_scan_preferred("cpu", needs_grad=False)
    monkeypatch.setattr(triton_cross, "fused_cross_scan_available", lambda device=None: (False, "test"))
    assert not triton_cross.fused_cross_scan_preferred("cpu", needs_grad=False)


def test_auto_never_prefers_the_interpreter(monkeypatch: pytest.MonkeyPatch) -> None:
    """The measured constants are CUDA timings: on CPU tensors (Triton's interpreter) auto keeps the unfused path,
    however fast the constants say the kernel is."""
    monkeypatch.setattr(triton_cross, "fused_cross_scan_available", lambda device=None: (True, "test"))
    monkeypatch.setattr(triton_cross, "MEASURED_SPEED_VS_MAMBA_SSM", (2.0, 2.0))
    assert not triton_cross.fused_cross_scan_preferred("cpu", needs_grad=False)
    assert not triton_cross.fused_cross_scan_preferred(torch.device("cpu"), needs_grad=True)
    assert triton_cross.fused_cross_scan_preferred("cuda", needs_grad=True)


def test_fused_availability_has_a_reason() -> None:
    ok, reason = triton_cross.fused_cross_scan_available("cpu")
    assert reason
    if not ok:
        assert "triton not installed" in reason or "CUDA" in reason


# -- the kernels (CUDA, or Triton's CPU interpreter) against the reference ------------------------------------------

SHAPES = [  # batch, E, H, W, N, launch overrides (to keep interpreted runs short)
    pytest.param(2, 3, 7, 5, 4, {}, id="2x3x7x5"),
    pytest.param(2, 2, 1, 9, 3, {}, id="2x2x1x9"),
    pytest.param(2, 2, 6, 1, 4, {}, id="2x2x6x1"),
    pytest.param(2, 2, 33, 17, 2, {"fwd_block_d": 2, "bwd_block_d": 2}, id="2x2x33x17"),
]


@_kernel
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize(("batch", "e", "h", "w", "n", "overrides"), SHAPES)
def test_fused_matches_reference(
    batch: int, e: int, h: int, w: int, n: int, overrides: dict[str, int], dtype: torch.dtype,
    launch_overrides: dict[str, int],
) -> None:  # fmt: skip
    launch_overrides.update(overrides)
    inputs = make_inputs(batch, e, h, w, n, dtype)
    compare(run("fused_triton", inputs), run("reference", inputs), dtype)


@_kernel
@pytest.mark.parametrize(
    "overrides",
    [
        {"atomic_merge": 0},  # four directions stored, summed in PyTorch
        {"fwd_block_d": 4, "bwd_block_d": 4, "tile": 16},  # E=5: a partly masked channel block; dB/dC by atomics
        {"fwd_block_d": 8, "bwd_block_d": 8, "tile": 32},  # one program per direction: dB/dC stored
        # sequences split into chunks (a summary pass, the carry, then each chunk from its entering state);
        # L = 35 is 3 tiles of 16: one tile per chunk, and an uneven split with a short last chunk
        {"fwd_block_d": 4, "bwd_block_d": 2, "tile": 16, "fwd_chunks": 3, "bwd_chunks": 3},
        {"fwd_block_d": 8, "bwd_block_d": 1, "tile": 16, "fwd_chunks": 2, "bwd_chunks": 2, "atomic_merge": 0},
    ],
    ids=["store-merge", "masked-block", "one-program-per-direction", "chunks-one-tile-each", "chunks-uneven"],
)
def test_fused_launch_variants(overrides: dict[str, int], launch_overrides: dict[str, int]) -> None:
    launch_overrides.update(overrides)
    inputs = make_inputs(2, 5, 5, 7, 3, torch.float32, seed=2)
    compare(run("fused_triton", inputs), run("reference", inputs), torch.float32)


@_kernel
@pytest.mark.parametrize(
    ("with_d", "with_bias", "softplus", "param_dtype"),
    [(False, False, False, torch.float32), (True, True, True, torch.bfloat16)],
    ids=["no-D-no-bias-no-softplus", "bf16-parameters"],
)
def test_fused_options(
    with_d: bool, with_bias: bool, softplus: bool, param_dtype: torch.dtype, launch_overrides: dict[str, int],
) -> None:  # fmt: skip
    launch_overrides.update(fwd_block_d=4, bwd_block_d=4)
    dtype = torch.bfloat16 if param_dtype == torch.bfloat16 else torch.float32
    inputs = make_inputs(2, 3, 5, 4, 4, dtype, seed=3)
    for name in ("As", "Ds", "delta_bias"):
        inputs[name] = inputs[name].to(param_dtype)
    if not with_d:
        inputs["Ds"] = None
    if not with_bias:
        inputs["delta_bias"] = None
    compare(run("fused_triton", inputs, softplus=softplus), run("reference", inputs, softplus=softplus), dtype)


@_kernel
def test_fused_float32_delta_with_bf16_inputs(launch_overrides: dict[str, int]) -> None:
    """bf16 x, B, C with a float32 delta (SS2D's fused path under autocast, ss2d.FUSED_DELTA_FLOAT32), in SS2D's
    pixel-major layouts, against the reference: bf16 tolerances, delta's gradient in float32."""
    launch_overrides.update(fwd_block_d=4, bwd_block_d=4)
    inputs = make_inputs(2, 4, 5, 6, 3, torch.bfloat16, seed=6)
    inputs["dts"] = (0.5 * torch.rand(2, 5, 6, 4, 4, device=DEVICE)).permute(0, 3, 4, 1, 2)  # float32, pixel-major
    got = run("fused_triton", inputs)
    assert got[1]["dts"].dtype == torch.float32
    compare(got, run("reference", inputs), torch.bfloat16)


@_kernel
def test_fused_reads_any_memory_layout(launch_overrides: dict[str, int]) -> None:
    """Channels-last x, pixel-major (permuted) delta/B/C and a broadcast upstream gradient give the same result."""
    launch_overrides.update(fwd_block_d=4, bwd_block_d=4)
    inputs = make_inputs(2, 4, 5, 6, 3, torch.float32, seed=4)
    strided = dict(inputs)
    strided["x"] = inputs["x"].contiguous(memory_format=torch.channels_last)
    for name in ("dts", "Bs", "Cs"):  # (B, H, W, 4, C) storage seen as (B, 4, C, H, W)
        strided[name] = inputs[name].permute(0, 3, 4, 1, 2).contiguous().permute(0, 3, 4, 1, 2)
    upstream = torch.randn(2, 4, 5, 1, device=DEVICE).expand(2, 4, 5, 6)
    got = run("fused_triton", strided, upstream=upstream)
    compare(got, run("reference", inputs, upstream=upstream), torch.float32)
    assert got[0].is_contiguous(memory_format=torch.channels_last)  # y keeps x's memory format


@_kernel
def test_chunked_equals_unchunked(launch_overrides: dict[str, int]) -> None:
    """Splitting the sequences into chunks changes the order of the arithmetic only: outputs and gradients agree
    with the one-chunk launch to float32 rounding (33x17: 36 tiles of 16 in 5 chunks forward, 7 backward)."""
    inputs = make_inputs(1, 4, 33, 17, 16, torch.float32, seed=6)
    launch_overrides.update(fwd_block_d=4, bwd_block_d=4, tile=16, fwd_chunks=1, bwd_chunks=1)
    whole = run("fused_triton", inputs)
    launch_overrides.update(fwd_chunks=5, bwd_chunks=7)
    compare(run("fused_triton", inputs), whole, torch.float32)


def test_chunking_fills_the_gpu() -> None:
    """Small launches are split into chunks to reach PROGRAMS_PER_SM programs per multiprocessor, no chunk shorter
    than MIN_TILES_PER_CHUNK tiles, none empty; launches that fill the GPU stay whole; an override wins; no GPU
    (the interpreter): one chunk."""
    sms, per_sm, min_tiles = 132, triton_cross.PROGRAMS_PER_SM, triton_cross.MIN_TILES_PER_CHUNK
    assert triton_cross._chunking(16, 10_000, 0, 0) == (1, 10_000)
    assert triton_cross._chunking(int(sms * triton_cross.CHUNK_BELOW_PER_SM), 10_000, sms, 0) == (1, 10_000)
    n, per = triton_cross._chunking(16, 10_653, sms, 0)
    # equal chunks of whole tiles: the count may round a little below the target
    assert n * 16 >= 0.95 * sms * per_sm
    assert per >= min_tiles
    assert (n - 1) * per < 10_653 <= n * per
    assert triton_cross._chunking(16, 9, sms, 0) == (2, 5)  # short sequences: chunks of at least 4 tiles
    assert triton_cross._chunking(16, 9, sms, 5) == (5, 2)  # override
    assert triton_cross._chunking(16, 3, sms, 7) == (3, 1)  # never more chunks than tiles


@_kernel
def test_fused_without_grad_equals_with_grad(launch_overrides: dict[str, int]) -> None:
    launch_overrides.update(fwd_block_d=4, bwd_block_d=4)
    inputs = make_inputs(2, 3, 7, 5, 4, torch.float32, seed=5)
    with torch.no_grad():
        y0 = cross_selective_scan(**inputs, delta_softplus=True, backend="fused_triton")
    y1, _ = run("fused_triton", inputs)
    rtol, atol = TOLERANCES[torch.float32][False]["y"]
    torch.testing.assert_close(y0, y1, rtol=rtol, atol=atol)


# -- CUDA: realistic shapes against SS2D's unfused path with mamba_ssm's kernel --------------------------------------

needs_mamba = pytest.mark.skipif(not _MAMBA.available, reason=f"mamba_ssm backend unusable: {_MAMBA.reason}")
cuda_only = [
    pytest.mark.cuda,
    pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU; torch.cuda.is_available() is False"),
    needs_fused,
    needs_mamba,
]


def _cuda(fn: Any) -> Any:
    for mark in reversed(cuda_only):
        fn = mark(fn)
    return fn


def ss2d_like_inputs(batch: int, e: int, h: int, w: int, dtype: torch.dtype, seed: int = 0) -> dict[str, Any]:
    """SS2D-like: A = -(1..16), softplus(delta + bias) in about [1e-3, 0.1], D = 1, x/B/C randn."""
    gen = torch.Generator(device="cuda").manual_seed(seed)
    n = 16
    return {
        "x": torch.randn(batch, e, h, w, generator=gen, device="cuda").to(dtype),
        "dts": (0.5 * torch.randn(batch, 4, e, h, w, generator=gen, device="cuda")).to(dtype),
        "As": -torch.arange(1, n + 1, dtype=torch.float32, device="cuda").repeat(4 * e, 1),
        "Bs": torch.randn(batch, 4, n, h, w, generator=gen, device="cuda").to(dtype),
        "Cs": torch.randn(batch, 4, n, h, w, generator=gen, device="cuda").to(dtype),
        "Ds": torch.ones(4 * e, device="cuda"),
        "delta_bias": torch.empty(4 * e, device="cuda").uniform_(-6.9, -2.3, generator=gen),
    }


@_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize(
    ("batch", "e", "h", "w"),
    [(2, 64, 148, 144), (1, 256, 74, 72), (1, 32, 296, 288)],
    ids=["base32-level3-b2", "base32-level4", "base16-level2"],
)
def test_fused_matches_mamba_ssm_at_model_shapes(batch: int, e: int, h: int, w: int, dtype: torch.dtype) -> None:
    inputs = ss2d_like_inputs(batch, e, h, w, dtype)
    compare(run("fused_triton", inputs), run("mamba_ssm", inputs), dtype)


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp_min(1e-12))


@_cuda
@pytest.mark.parametrize(
    ("channels", "batch", "h", "w", "autocast"),
    [(32, 1, 148, 144, False), (64, 2, 74, 72, False), (16, 2, 148, 144, True)],
    ids=["C32-fp32", "C64-b2-fp32", "C16-b2-bf16-autocast"],
)
def test_mambaout_block_fused_equals_mamba_ssm_path(channels: int, batch: int, h: int, w: int,
                                                    autocast: bool) -> None:
    """The whole Mamba-out block: output and every parameter gradient, fused triton vs SS2D's mamba_ssm path."""
    torch.manual_seed(0)
    block = ss2d.MambaOut(channels, scan_backend="mamba_ssm").cuda()
    x = torch.randn(batch, channels, h, w, device="cuda")
    results = []
    for backend in ("mamba_ssm", "triton"):
        block.ss2d.scan_backend = backend
        block.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            y = block(xi)
        assert block.ss2d._use_fused(torch.empty(1, 2 * channels, 2, 2, device="cuda")) == (backend == "triton")
        (y.float() * torch.linspace(-1, 1, y.numel(), device="cuda").view_as(y)).sum().backward()
        grads = {name: p.grad.detach().clone() for name, p in block.named_parameters()}
        results.append((y.detach(), xi.grad.detach(), grads))
    tol = 3e-2 if autocast else 1e-3
    (y0, gx0, g0), (y1, gx1, g1) = results
    assert _relative_error(y1 - x, y0 - x) < tol  # the SS2D branch, without the residual
    assert _relative_error(gx1, gx0) < tol
    for name in g0:
        assert _relative_error(g1[name], g0[name]) < tol, name
