"""Mamba-out: VMamba's original SS2D block ("v0"), the paper's skip-connection block (paper eq. 1-2).

The paper calls it "Mamba-out"; it is *not* MambaOut (Yu & Wang 2024, a gated CNN without an SSM). It is the SS2D
of VMamba v0 as used by VM-UNet and Mamba-UNet (model-spec.md §2): in_proj -> (x, z) -> depthwise 3x3 conv + SiLU
-> selective scan along four directions (row-major, column-major and their reverses) -> sum of the four (eq. 2)
-> LayerNorm -> * SiLU(z) -> out_proj.

Shapes use B batch, H x W image, C = d_model, E = expand * C, N = d_state, R = dt_rank, K = 4 directions,
L = H * W.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from akmamba.errors import BackendUnavailableError, ConfigError, ShapeError
from akmamba.ops import cross_selective_scan, selective_scan
from akmamba.ops.selective_scan.cross import FUSED, FUSED_NUMBA, fused_cross_scan_supports, fused_numba_supports
from akmamba.ops.selective_scan.numba_cross import MAX_FOLDED_RANK, cross_selective_scan_numba
from akmamba.ops.selective_scan.triton_cross import fused_cross_scan_preferred

K_DIRECTIONS = 4

#: How the fused path applies the per-direction dt projection (B, H, W, K, R) x (K, E, R) -> (B, H, W, K, E):
#: ``"einsum"``, a matmul batched over the K directions; ``"block_diag"``, one matmul with the block-diagonal
#: (K*E, K*R) weight (K times the multiply-adds of a tiny product, and its zero blocks get gradients that are
#: dropped); ``"auto"``, block_diag on CUDA when R > 1, else einsum (with R = 1 torch computes the einsum as a
#: broadcast product, not a batched matmul, and the profile showed no slow kernel there). Why: the weight's gradient
#: reduces over every pixel (B*H*W terms) into a (K, E, R) result. On an H100 cuBLAS ran that batched product as one
#: 2.9 ms kernel at batch 1 on a 296x288 map, where the block's whole forward+backward takes 12 ms, while plain
#: matmuls of the same long-reduction shape (x_proj's gradient) took well under 1 ms. Timed on an H100 (2026-12-06,
#: docs/benchmarks/profile_mambaout_cuda.md): the fused path's forward+backward kernel time fell from 11.52 to
#: 8.71 ms at 1x32x296x288 (R = 2) and from 5.10 to 4.42 ms at 1x64x148x144 (R = 4).
DT_PROJ_FORM = "auto"

#: How the unfused path (the one mamba_ssm's kernel and the per-sequence backends run in) computes delta, B and C:
#: ``"copies"``, the x_proj and dt_proj einsums on the four direction copies of x (VMamba's way); ``"pixels"``, the
#: fused path's way: one F.linear per pixel on x (x_proj does not depend on the direction's order), the dt
#: projection by :func:`project_dt`, and only the (B, 4, R+2N or E, L) results put in each direction's order
#: (:func:`cross_scan_each`); ``"auto"`` (default), see :func:`unfused_proj_form`. Same values up to float rounding
#: (tested). Why: on an H100 the copies' einsums had a weight gradient run as a batched matmul with 32x32 tiles and a
#: reduction over every pixel, 89.7 ms of the mamba_ssm path's 222 ms block forward+backward at 8x16x592x576
#: (docs/benchmarks/profile_mambaout_cuda.md). Timed on an H100 with mamba_ssm's kernel (2026-12-06,
#: docs/benchmarks/unfused_proj_cuda.md, benchmarks/bench_unfused_proj.py): "pixels" is 1.03-1.70x faster forward+
#: backward wherever batch*H*W >= 21312 and 0.83-0.89x at 1x74x72 (5328 positions); its forward alone is 0.74-1.05x
#: (slower at batch 1). On CPU the two forms measured level (0.93-1.01x; docs/benchmarks/unfused_proj_cpu.md).
UNFUSED_PROJ_FORM = "auto"

#: ``"auto"`` takes ``"pixels"`` on CUDA when autograd records the scan and batch*H*W is at least this (between the
#: measured losing row, 5328 positions, and the smallest winning one, 21312).
PIXELS_MIN_POSITIONS = 16384


#: Whether the fused Triton path hands the kernel delta in float32 when x is bfloat16 or float16 (under autocast): the
#: dt projection then runs in float32 and writes delta once in float32, instead of in x's dtype. Measured on an H100
#: (docs/benchmarks/probe_fused_bf16_cuda.md, benchmarks/probe_fused_bf16.py): the fused op with bf16 delta took
#: 1.5-2x its float32 time (batch 8, C 32, 592x576: 66.5 ms forward against 32.5 ms), while bf16 x, B and C cost
#: nothing or saved time; casting delta to float32 inside the op would copy the largest input (4E per pixel). With
#: this on, the block under bf16 autocast took 49.2 ms forward instead of 84.3 at that shape. The kernel computes in
#: float32 either way, so a float32 delta only adds precision. Cost: delta, saved for the backward, takes twice the
#: memory of a bf16 one (1.4 GB more at that shape).
FUSED_DELTA_FLOAT32 = True


def unfused_proj_form(x: torch.Tensor, needs_grad: bool, form: str | None = None) -> str:
    """The projection form of SS2D's unfused path for ``x`` ``(B, E, H, W)`` (see :data:`UNFUSED_PROJ_FORM`).

    ``form`` (default :data:`UNFUSED_PROJ_FORM`): ``"copies"`` or ``"pixels"`` are returned as they are;
    ``"auto"`` gives ``"pixels"`` on CUDA for a forward that autograd records over at least
    :data:`PIXELS_MIN_POSITIONS` positions (where it was measured faster), else ``"copies"``.

    Raises:
        ConfigError: any other form.
    """
    form = UNFUSED_PROJ_FORM if form is None else form
    if form in ("copies", "pixels"):
        return form
    if form == "auto":
        b, _, h, w = x.shape
        return "pixels" if x.is_cuda and needs_grad and b * h * w >= PIXELS_MIN_POSITIONS else "copies"
    raise ConfigError(f"akmamba.nn.blocks.ss2d.UNFUSED_PROJ_FORM is {form!r}: expected 'auto', 'copies' or "
                      "'pixels'. Set it to one of those.", parameter="UNFUSED_PROJ_FORM",
                      expected="'auto', 'copies' or 'pixels'", got=form)


def project_dt(dts: torch.Tensor, weight: torch.Tensor, form: str = "auto") -> torch.Tensor:
    """The per-direction dt projection of the fused path (see :data:`DT_PROJ_FORM`).

    Args:
        dts: ``(B, H, W, K, R)``, any strides.
        weight: ``(K, E, R)``, SS2D's ``dt_projs_weight``.
        form: ``"einsum"``, ``"block_diag"`` or ``"auto"`` (block_diag on CUDA when R > 1).

    Returns:
        ``(B, H, W, K, E)``: ``out[..., k, :] = dts[..., k, :] @ weight[k].T``; both forms give the same values
        and gradients up to float rounding.
    """
    if form == "auto":
        form = "block_diag" if dts.is_cuda and dts.shape[-1] > 1 else "einsum"
    if form == "einsum":
        return torch.einsum("bhwkr,ker->bhwke", dts, weight)
    if form != "block_diag":
        raise ConfigError(f"Unknown dt projection form {form!r}: expected 'einsum', 'block_diag' or 'auto'.",
                          parameter="form",
                          expected="'einsum', 'block_diag' or 'auto'", got=form)
    b, h, w, k, r = dts.shape
    block = torch.block_diag(*weight.unbind(0))  # (K*E, K*R)
    return F.linear(dts.reshape(b, h, w, k * r), block).view(b, h, w, k, weight.shape[1])


def cross_scan(x: torch.Tensor) -> torch.Tensor:
    """Unfold a map into the four scan orders.

    Args:
        x: ``(B, E, H, W)``.

    Returns:
        ``(B, 4, E, L)``: k=0 row-major, k=1 column-major, k=2 and k=3 their reverses along L.
    """
    rows = x.flatten(2)
    cols = x.transpose(2, 3).flatten(2)
    fwd = torch.stack([rows, cols], dim=1)  # (B, 2, E, L)
    return torch.cat([fwd, fwd.flip(-1)], dim=1)


def cross_scan_each(t: torch.Tensor) -> torch.Tensor:
    """Unfold each direction's own map into that direction's order.

    Args:
        t: ``(B, 4, C, H, W)``, any strides.

    Returns:
        ``(B, 4, C, L)``: ``out[:, k] == cross_scan(t[:, k])[:, k]`` (k=0 row-major, k=1 column-major, k=2 and
        k=3 their reverses).
    """
    rows = t[:, 0::2].flatten(3)  # directions 0 and 2, row-major
    cols = t[:, 1::2].transpose(3, 4).flatten(3)  # directions 1 and 3, column-major
    return torch.stack([rows[:, 0], cols[:, 0], rows[:, 1].flip(-1), cols[:, 1].flip(-1)], dim=1)


def cross_merge(ys: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Fold the four scan outputs back to row-major order and sum them (paper eq. 2).

    Args:
        ys: ``(B, 4, E, L)`` in the order produced by :func:`cross_scan`.
        height: H.
        width: W.

    Returns:
        ``(B, E, L)`` in row-major order; ``cross_merge(cross_scan(x)) == 4 * x.flatten(2)``.
    """
    b, _, e, length = ys.shape
    fwd = ys[:, 0:2] + ys[:, 2:4].flip(-1)  # (B, 2, E, L): undo the reversal first
    col_major = fwd[:, 1].reshape(b, e, width, height).transpose(2, 3).reshape(b, e, length)
    return fwd[:, 0] + col_major


class SS2D(nn.Module):
    """VMamba v0 SS2D on a channels-last map ``(B, H, W, C) -> (B, H, W, C)``.

    Args:
        d_model: C, the channel count of the skip feature.
        d_state: N, the SSM state size (16 in v0).
        d_conv: kernel of the depthwise 2-D conv (3, non-causal).
        expand: E = expand * C.
        dt_rank: R, or ``"auto"`` for ceil(C / 16).
        dt_min: lower end of the initial softplus(dt_bias) range.
        dt_max: upper end of that range.
        dt_init_floor: floor applied to the initial dt.
        dt_scale: scale of the dt projection's uniform init.
        scan_backend: selective-scan backend name (``"auto"``, ``"torch"``, ``"mamba_ssm"``, ``"triton"``,
            ``"reference"``, ...).
        fused_scan: use a fused four-direction kernel (:func:`akmamba.ops.cross_selective_scan`), which reads the
            map in all four orders in place and merges in the same pass: ``fused_triton`` (CUDA, forward and
            backward) or ``fused_numba`` (CPU, inference only). ``None`` (default) follows ``scan_backend``:
            ``"triton"`` uses the Triton kernel wherever it can run (CUDA, N <= 256); ``"auto"`` uses it only where
            it also measured at least as fast as the unfused path (triton_cross.MEASURED_SPEED_VS_MAMBA_SSM), and
            ``"auto"`` and ``"numba"`` use the Numba kernel on CPU when no gradient is needed (torch.no_grad() or
            inference_mode); other backends never fuse. ``False``: never. ``True``: always (on CPU the Numba kernel
            first, unless ``scan_backend="triton"``); BackendUnavailableError where neither can run. Training
            (gradients needed) on CPU always takes the unfused path.

    Parameter count: 6C^2 + 8C(R+2N) + 8CR + 8CN + 40C (model-spec.md §2.2).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 3,
        expand: int = 2,
        dt_rank: int | str = "auto",
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        dt_scale: float = 1.0,
        scan_backend: str = "auto",
        fused_scan: bool | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("d_model", d_model), ("d_state", d_state), ("d_conv", d_conv), ("expand", expand)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"SS2D {name} must be a positive integer; got {value!r}.", parameter=name, expected=">= 1",
                    got=value,
                )
        if d_conv % 2 == 0:
            raise ConfigError(
                f"SS2D d_conv must be odd so the depthwise conv keeps H x W; got {d_conv}.",
                parameter="d_conv", expected="odd integer", got=d_conv,
            )
        if not 0 < dt_min < dt_max:
            raise ConfigError(
                f"SS2D needs 0 < dt_min < dt_max; got dt_min={dt_min}, dt_max={dt_max}.",
                parameter="dt_min", expected="0 < dt_min < dt_max", got=(dt_min, dt_max),
            )
        if dt_rank == "auto":
            dt_rank = math.ceil(d_model / 16)
        if not isinstance(dt_rank, int) or dt_rank < 1:
            raise ConfigError(
                f"SS2D dt_rank must be 'auto' or a positive integer; got {dt_rank!r}.",
                parameter="dt_rank", expected="'auto' or >= 1", got=dt_rank,
            )
        self.d_model = d_model
        self.d_state = d_state
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank
        self.scan_backend = scan_backend
        self.fused_scan = fused_scan
        e, n, r, k = self.d_inner, d_state, dt_rank, K_DIRECTIONS

        self.in_proj = nn.Linear(d_model, 2 * e, bias=False)
        self.conv2d = nn.Conv2d(e, e, d_conv, padding=d_conv // 2, groups=e, bias=True)
        self.x_proj_weight = nn.Parameter(torch.empty(k, r + 2 * n, e))
        self.dt_projs_weight = nn.Parameter(torch.empty(k, e, r))
        self.dt_projs_bias = nn.Parameter(torch.empty(k, e))
        self.A_logs = nn.Parameter(torch.empty(k * e, n))
        self.Ds = nn.Parameter(torch.empty(k * e))
        self.out_norm = nn.LayerNorm(e, eps=1e-5)
        self.out_proj = nn.Linear(e, d_model, bias=False)
        self._init_parameters(dt_min, dt_max, dt_init_floor, dt_scale)

    @torch.no_grad()
    def _init_parameters(self, dt_min: float, dt_max: float, dt_floor: float, dt_scale: float) -> None:
        e, n, r = self.d_inner, self.d_state, self.dt_rank
        nn.init.trunc_normal_(self.in_proj.weight, std=0.02)
        nn.init.trunc_normal_(self.out_proj.weight, std=0.02)
        # x_proj: nn.Linear's default init, kept per direction (it escapes VM-UNet's trunc_normal re-init).
        bound = 1.0 / math.sqrt(e)
        self.x_proj_weight.uniform_(-bound, bound)
        std = r**-0.5 * dt_scale
        self.dt_projs_weight.uniform_(-std, std)
        dt = torch.exp(torch.rand(K_DIRECTIONS, e) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=dt_floor)
        self.dt_projs_bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
        self.A_logs.copy_(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(K_DIRECTIONS * e, 1))
        self.Ds.fill_(1.0)
        for p in (self.A_logs, self.Ds):
            p._no_weight_decay = True  # type: ignore[attr-defined]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, C)`` channels-last -> ``(B, H, W, C)``."""
        if x.dim() != 4 or x.shape[-1] != self.d_model:
            raise ShapeError(
                f"SS2D expects a channels-last map (B, H, W, {self.d_model}); got {tuple(x.shape)}.",
                parameter="x", expected=f"(B, H, W, {self.d_model})", got=tuple(x.shape),
            )
        b, h, w, _ = x.shape
        x, z = self.in_proj(x).chunk(2, dim=-1)
        x = F.silu(self.conv2d(x.permute(0, 3, 1, 2)))  # (B, E, H, W), paper eq. 1
        fused = self._fused_backend(x)
        if fused is not None:
            y = self._forward_core_fused(x, fused)  # (B, H, W, E)
        else:
            y = self._forward_core(x).transpose(1, 2).reshape(b, h, w, self.d_inner)  # (B, E, L) -> (B, H, W, E)
        y = self.out_norm(y)
        return self.out_proj(y * F.silu(z))

    def _use_fused(self, x: torch.Tensor) -> bool:
        """Whether this forward takes a fused four-direction kernel (see ``fused_scan``)."""
        return self._fused_backend(x) is not None

    def _needs_grad(self, x: torch.Tensor) -> bool:
        """Whether autograd would record the scan: grad mode on and x or a scan parameter requires grad."""
        params = (self.x_proj_weight, self.dt_projs_weight, self.dt_projs_bias, self.A_logs, self.Ds)
        return torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params))

    def _fused_backend(self, x: torch.Tensor) -> str | None:
        """The fused kernel this forward takes (``"fused_triton"``, ``"fused_numba"``) or None (unfused path)."""
        if self.fused_scan is False:
            return None
        support = {
            FUSED: fused_cross_scan_supports(x, self.d_state),
            FUSED_NUMBA: fused_numba_supports(x, self._needs_grad(x)),
        }
        if self.fused_scan is True:
            on_cpu = x.device.type == "cpu" and self.scan_backend != "triton"
            for name in (FUSED_NUMBA, FUSED) if on_cpu else (FUSED, FUSED_NUMBA):
                if support[name][0]:
                    return name
            reasons = "; ".join(f"{name}: {reason}" for name, (_, reason) in support.items())
            raise BackendUnavailableError(
                f"SS2D has fused_scan=True but no fused four-direction kernel can run ({reasons}).",
                parameter="fused_scan", got=True, hint="set fused_scan=None or False to use the unfused path",
            )
        if support[FUSED][0] and (
            self.scan_backend == "triton"
            or (self.scan_backend == "auto" and fused_cross_scan_preferred(x.device, self._needs_grad(x)))
        ):
            return FUSED
        if support[FUSED_NUMBA][0] and self.scan_backend in ("auto", "numba"):
            return FUSED_NUMBA
        return None

    def _forward_core_fused(self, x: torch.Tensor, backend: str = FUSED) -> torch.Tensor:
        """:meth:`_forward_core` with a fused kernel: ``(B, E, H, W) -> (B, H, W, E)``.

        delta, B and C are per-pixel projections of x, so they are computed once per pixel and direction, in pixel
        order (B, H, W, K, ...); the kernel (``backend``: ``"fused_triton"`` or ``"fused_numba"``) reads them, and
        x, in each direction's order by index arithmetic. Both kernels read these pixel-major views in place (for
        the Numba kernel, direction-major copies measured no faster at block level). The Numba kernel also takes
        the dt projection itself when R <= numba_cross.MAX_FOLDED_RANK, reading the R-rank delta instead of the
        (B, H, W, K, E) one the einsum would write.
        """
        b, e, h, w = x.shape
        n, r, k = self.d_state, self.dt_rank, K_DIRECTIONS
        x_dbl = F.linear(x.permute(0, 2, 3, 1), self.x_proj_weight.reshape(k * (r + 2 * n), e))
        dts, bs, cs = torch.split(x_dbl.view(b, h, w, k, r + 2 * n), [r, n, n], dim=-1)
        fold_dt_proj = backend == FUSED_NUMBA and r <= MAX_FOLDED_RANK
        delta_dtype = x.dtype
        if backend == FUSED and FUSED_DELTA_FLOAT32 and x.dtype in (torch.bfloat16, torch.float16):
            delta_dtype = torch.float32
            with torch.autocast(device_type=x.device.type, enabled=False):
                dts = project_dt(dts.float(), self.dt_projs_weight.float(), DT_PROJ_FORM)
        elif not fold_dt_proj:
            dts = project_dt(dts, self.dt_projs_weight, DT_PROJ_FORM)
        with torch.autocast(device_type=x.device.type, enabled=False):
            inputs = (
                x,
                dts.to(delta_dtype).permute(0, 3, 4, 1, 2),  # (B, K, E or R, H, W) views of pixel-major tensors
                -torch.exp(self.A_logs.float()),
                bs.to(x.dtype).permute(0, 3, 4, 1, 2),  # (B, K, N, H, W)
                cs.to(x.dtype).permute(0, 3, 4, 1, 2),
                self.Ds.float(),
                self.dt_projs_bias.float().reshape(-1),
                True,  # delta_softplus
            )
            if fold_dt_proj:
                y = cross_selective_scan_numba(*inputs, dt_proj_weight=self.dt_projs_weight.float())
            else:
                y = cross_selective_scan(*inputs, backend=backend)
        return y.permute(0, 2, 3, 1)

    def _forward_core(self, x: torch.Tensor) -> torch.Tensor:
        """Four-direction selective scan: ``(B, E, H, W) -> (B, E, L)`` (summed over directions)."""
        b, e, h, w = x.shape
        n, r, k, length = self.d_state, self.dt_rank, K_DIRECTIONS, h * w
        xs = cross_scan(x)  # (B, K, E, L)
        if unfused_proj_form(x, self._needs_grad(x)) == "pixels":
            x_dbl = F.linear(x.permute(0, 2, 3, 1), self.x_proj_weight.reshape(k * (r + 2 * n), e))
            dts, bs, cs = torch.split(x_dbl.view(b, h, w, k, r + 2 * n), [r, n, n], dim=-1)  # (B, H, W, K, ·)
            dts = project_dt(dts, self.dt_projs_weight, DT_PROJ_FORM)
            dts, bs, cs = (cross_scan_each(t.permute(0, 3, 4, 1, 2)) for t in (dts, bs, cs))  # (B, K, ·, L)
        else:  # "copies"
            x_dbl = torch.einsum("bkel,kce->bkcl", xs, self.x_proj_weight)
            dts, bs, cs = torch.split(x_dbl, [r, n, n], dim=2)
            dts = torch.einsum("bkrl,ker->bkel", dts, self.dt_projs_weight)
        # Sequence tensors stay in the working dtype (bfloat16 under autocast: they were computed in it, so
        # upcasting adds no precision, only memory traffic); every backend keeps its state and A, D, delta_bias
        # in float32 (model-spec §3.3 pitfall 1).
        with torch.autocast(device_type=x.device.type, enabled=False):
            ys = selective_scan(
                xs.reshape(b, k * e, length),
                dts.to(xs.dtype).reshape(b, k * e, length),
                -torch.exp(self.A_logs.float()),
                bs.to(xs.dtype).contiguous(),
                cs.to(xs.dtype).contiguous(),
                D=self.Ds.float(),
                delta_bias=self.dt_projs_bias.float().reshape(-1),
                delta_softplus=True,
                backend=self.scan_backend,
            )
        return cross_merge(ys.reshape(b, k, e, length), h, w).to(x.dtype)


class MambaOut(nn.Module):
    """The skip-connection block on ``(B, C, H, W)`` maps: ``x + SS2D(LayerNorm(x))`` by default.

    The paper describes a bare SS2D; with out_proj initialised at std 0.02 a bare block starts by almost erasing
    the skip signal, so the default wraps it as VMamba's VSSBlock does (pre-LayerNorm, eps 1e-5, and a residual).
    ``residual=False`` gives the bare block of the paper's text (model-spec.md §2.3, §4 item 6).

    Args:
        channels: C.
        residual: pre-norm + residual wrapper (default) or the bare SS2D.
        **ss2d_options: passed to :class:`SS2D` (d_state, expand, scan_backend, ...).
    """

    def __init__(self, channels: int, residual: bool = True, **ss2d_options: object) -> None:
        super().__init__()
        self.residual = residual
        self.norm = nn.LayerNorm(channels, eps=1e-5) if residual else nn.Identity()
        self.ss2d = SS2D(channels, **ss2d_options)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W) -> (B, C, H, W)``."""
        if x.dim() != 4:
            raise ShapeError(
                f"MambaOut expects (B, C, H, W); got a tensor of shape {tuple(x.shape)}.",
                parameter="x", expected="(B, C, H, W)", got=tuple(x.shape),
            )
        t = x.permute(0, 2, 3, 1)
        y = self.ss2d(self.norm(t))
        if self.residual:
            y = y + t
        return y.permute(0, 3, 1, 2).contiguous()
