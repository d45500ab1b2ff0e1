"""Input validation shared by every selective-scan backend.

Shapes use one notation throughout the package: ``Bt`` batch, ``Dm`` channels (``K*E`` in SS2D), ``N`` state size,
``L`` sequence length, ``G`` groups of B/C. See model-spec.md §2.4 for the semantics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from akmamba.errors import BackendUnavailableError, ShapeError

#: dtypes accepted for ``u`` (the "input dtype"); compute happens in float32, or float64 for float64 inputs.
INPUT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass(frozen=True)
class ScanShapes:
    """Sizes found by :func:`check_scan_inputs`.

    Attributes:
        batch: Bt.
        dim: Dm.
        length: L.
        dstate: N.
        b_groups: G of B; ``None`` when B is constant ``(Dm, N)``; 1 for ``(Bt, N, L)``.
        c_groups: the same for C.
        compute_dtype: float64 when u is float64, else float32.
    """

    batch: int
    dim: int
    length: int
    dstate: int
    b_groups: int | None
    c_groups: int | None
    compute_dtype: torch.dtype


def _fail(name: str, message: str, expected: object, got: object) -> ShapeError:
    return ShapeError(f"selective_scan: {message}", parameter=name, expected=expected, got=got)


def _need_tensor(name: str, x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise _fail(
            name, f"{name} must be a torch.Tensor; got {type(x).__name__}.", "torch.Tensor", type(x).__name__
        )
    return x


def _need_shape(name: str, x: torch.Tensor, expected: tuple[int, ...], notation: str) -> None:
    if tuple(x.shape) != expected:
        raise _fail(
            name,
            f"{name} must have shape {notation} = {expected}; got {tuple(x.shape)}. "
            "Check the order of the axes (channels before sequence length).",
            expected,
            tuple(x.shape),
        )


def _bc_groups(name: str, x: torch.Tensor, bt: int, dm: int, n: int, length: int) -> int | None:
    """Validate B or C; return its group count (None for constant)."""
    if x.dim() == 2:
        _need_shape(name, x, (dm, n), "(Dm, N)")
        return None
    if x.dim() == 3:
        _need_shape(name, x, (bt, n, length), "(Bt, N, L)")
        return 1
    if x.dim() == 4:
        groups = x.shape[1]
        _need_shape(name, x, (bt, groups, n, length), "(Bt, G, N, L)")
        if groups < 1 or dm % groups != 0:
            raise _fail(
                name,
                f"{name} has G={groups} groups, which does not divide Dm={dm} channels "
                f"(channel d uses group d // (Dm/G)); got shape {tuple(x.shape)}.",
                f"G dividing {dm}",
                groups,
            )
        return groups
    raise _fail(
        name,
        f"{name} must have rank 2 (Dm, N), 3 (Bt, N, L) or 4 (Bt, G, N, L); got rank {x.dim()} with shape "
        f"{tuple(x.shape)}.",
        "rank 2, 3 or 4",
        x.dim(),
    )


def _check_dtypes(named: dict[str, torch.Tensor], variable: set[str], u: torch.Tensor) -> None:
    """Sequence-shaped tensors must share u's dtype; parameters may be u's dtype or float32."""
    for name, x in named.items():
        if x.is_complex() or not x.is_floating_point():
            raise _fail(
                name, f"{name} must be a real floating-point tensor; got {x.dtype}.", "real float", x.dtype
            )
        if x.device != u.device:
            raise _fail(
                name,
                f"{name} is on {x.device} but u is on {u.device}; put every input on one device.",
                str(u.device),
                str(x.device),
            )
        if name in variable:
            if x.dtype != u.dtype:
                raise _fail(
                    name,
                    f"{name} has dtype {x.dtype} but u has {u.dtype}; u, delta, z and sequence-shaped B/C must "
                    "share one dtype.",
                    u.dtype,
                    x.dtype,
                )
        elif x.dtype not in (u.dtype, torch.float32):
            raise _fail(
                name,
                f"{name} has dtype {x.dtype}; parameters must be float32 or u's dtype ({u.dtype}).",
                (torch.float32, u.dtype),
                x.dtype,
            )


def check_scan_inputs(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
) -> ScanShapes:
    """Check shapes, dtypes and devices of selective-scan inputs.

    Args:
        u: (Bt, Dm, L).
        delta: (Bt, Dm, L), u's dtype.
        A: (Dm, N), real.
        B: (Dm, N) constant, (Bt, N, L) variable, or (Bt, G, N, L) grouped with G dividing Dm.
        C: same choices as B (independently of B).
        D: (Dm,) or None.
        z: (Bt, Dm, L) in u's dtype, or None.
        delta_bias: (Dm,) or None.

    Returns:
        The sizes and the compute dtype.

    Raises:
        ShapeError: a wrong type, rank, shape, dtype or device; the message gives the expected and received values.
    """
    u = _need_tensor("u", u)
    if u.dim() != 3:
        raise _fail(
            "u", f"u must have rank 3 (Bt, Dm, L); got shape {tuple(u.shape)}.", "(Bt, Dm, L)", tuple(u.shape)
        )
    if u.dtype not in INPUT_DTYPES:
        raise _fail("u", f"u must be float16, bfloat16, float32 or float64; got {u.dtype}.", INPUT_DTYPES, u.dtype)
    bt, dm, length = u.shape
    if min(bt, dm, length) < 1:
        raise _fail(
            "u", f"u must have non-empty axes (Bt, Dm, L); got {tuple(u.shape)}.", "sizes >= 1", tuple(u.shape)
        )
    named = {"u": u, "delta": _need_tensor("delta", delta), "A": _need_tensor("A", A)}
    _need_shape("delta", delta, (bt, dm, length), "(Bt, Dm, L)")
    if A.dim() != 2 or A.shape[0] != dm or A.shape[1] < 1:
        raise _fail(
            "A", f"A must have shape (Dm, N) with Dm={dm}; got {tuple(A.shape)}.", f"({dm}, N)", tuple(A.shape)
        )
    n = A.shape[1]
    groups: dict[str, int | None] = {}
    for name, x in (("B", B), ("C", C)):
        named[name] = _need_tensor(name, x)
        groups[name] = _bc_groups(name, x, bt, dm, n, length)
    for name, opt, shape, notation in (
        ("D", D, (dm,), "(Dm,)"),
        ("delta_bias", delta_bias, (dm,), "(Dm,)"),
        ("z", z, (bt, dm, length), "(Bt, Dm, L)"),
    ):
        if opt is not None:
            named[name] = _need_tensor(name, opt)
            _need_shape(name, opt, shape, notation)
    variable = {"u", "delta", "z"} | {name for name in ("B", "C") if groups[name] is not None}
    _check_dtypes(named, variable, u)
    return ScanShapes(
        batch=bt,
        dim=dm,
        length=length,
        dstate=n,
        b_groups=groups["B"],
        c_groups=groups["C"],
        compute_dtype=torch.float64 if u.dtype == torch.float64 else torch.float32,
    )


def check_kernel_inputs(
    backend: str,
    what: str,
    availability: tuple[bool, str],
    u: torch.Tensor,
    shapes: ScanShapes,
    dtypes: frozenset[torch.dtype],
    max_dstate: int,
) -> None:
    """Checks shared by the compiled GPU kernels (``mamba_ssm``, ``triton``), after :func:`check_scan_inputs`.

    Args:
        backend: the backend's registered name (for the message).
        what: how messages name it, e.g. ``"the mamba_ssm kernel"``.
        availability: ``(ok, reason)`` of the backend for ``u``'s device.
        u: ``(Bt, Dm, L)`` input, for its dtype.
        shapes: from :func:`check_scan_inputs`.
        dtypes: input dtypes the kernel takes.
        max_dstate: the largest N it takes.

    Raises:
        BackendUnavailableError: the backend cannot run here (the reason says why).
        ShapeError: a dtype or state size the kernel does not take.
    """
    ok, reason = availability
    if not ok:
        raise BackendUnavailableError(
            f"Selective-scan backend {backend!r} cannot run: {reason}. Use backend='torch' or 'auto'.",
            parameter="backend",
            got=backend,
            hint=reason,
        )
    if u.dtype not in dtypes:
        raise ShapeError(
            f"selective_scan: {what} takes float32, float16 or bfloat16 inputs; got {u.dtype}. "
            "Cast the inputs or use backend='torch'.",
            parameter="u",
            expected=sorted(map(str, dtypes)),
            got=u.dtype,
        )
    if shapes.dstate > max_dstate:
        raise ShapeError(
            f"selective_scan: {what} takes N <= {max_dstate}; got N={shapes.dstate}. Use backend='torch'.",
            parameter="A",
            expected=f"N <= {max_dstate}",
            got=shapes.dstate,
        )
