# mypy: disable-error-code="no-untyped-def,call-arg,var-annotated"
# (Numba types these functions from their arguments at compile time; Python annotations would be ignored.)
"""Numba kernels of the ``numba`` selective-scan backend (imported on first use by ``numba_scan``).

One fused forward pass. Each parallel task (``prange``) owns one batch element and a block of :data:`LANES`
consecutive channels, keeps their (N, LANES) state in a small buffer and walks the sequence in tiles of ``tile``
tokens. Per tile it copies the tile of the block's B and C rows into (N, tile) buffers (B/C are read from memory
once per block of channels, not once per channel), then:

1. a pre-pass per channel, vectorised over tokens: δ = softplus(delta + delta_bias) and δu;
2. the recurrence, sequential in t and vectorised over the LANES channels (SS2D's channels of one block share
   their B/C group, so B_t[n] and C_t[n] are scalars): h = exp(δA)·h + δu·B, y_t = Σ_n C_t[n]·h[n], with exp(δA)
   computed on the fly;
3. a post-pass per channel, vectorised over tokens: y += D·u, y *= SiLU(z).

Blocks whose channels do not share one B group and one C group (constant B/C, or Dm/G not a multiple of LANES)
take a general path: one channel at a time, vectorised over the N states. Nothing of size (Bt, Dm, N, L) exists.

float32 inputs are computed in float32 with a polynomial exp and log1p that LLVM can vectorise (within a few ulp of
libm; in a tile where every δA <= 0, the usual case, an exp without the overflow and NaN branches), float64 inputs
in float64 with libm's exp and log1p. Every function is compiled on first use and cached on disk (cache=True).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

#: LLVM fast-math flags: contraction into FMA and reassociation (vectorised reductions over N), but not
#: ``nnan``/``ninf``, so NaN and infinity propagate as in the reference.
FASTMATH = {"contract", "reassoc", "nsz", "arcp"}
#: The same without reassociation, for the elementary functions (their evaluation order is part of their accuracy).
FASTMATH_ELEMENTARY = {"contract", "nsz", "arcp"}

_F32 = np.float32
# exp: Cephes expf (range reduction by ln 2 in two parts, degree-6 polynomial), 2^k built from its bits
_LOG2E = _F32(1.44269504088896341)
_LN2_HI = _F32(0.693359375)
_LN2_LO = _F32(-2.12194440e-4)
_EXP_P0 = _F32(1.9875691500e-4)
_EXP_P1 = _F32(1.3981999507e-3)
_EXP_P2 = _F32(8.3334519073e-3)
_EXP_P3 = _F32(4.1665795894e-2)
_EXP_P4 = _F32(1.6666665459e-1)
_EXP_P5 = _F32(5.0000001201e-1)
_EXP_LO = _F32(-87.33654)  # exp below this is < 1.2e-38 (subnormal): exp32 returns 0
_EXP_HI = _F32(88.72283)  # exp above this overflows float32: returned as inf
_HALF = _F32(0.5)
_ONE = _F32(1.0)
_TWO = _F32(2.0)
_ZERO32 = _F32(0.0)
_INF32 = _F32(np.inf)
_SOFTPLUS_THRESHOLD32 = _F32(20.0)
# log1p(v) for v in [0, 1] = 2 atanh(s), s = v / (2 + v) in [0, 1/3]: 2 s (1 + s²/3 + s⁴/5 + ... + s¹⁴/15)
_L3, _L5, _L7, _L9 = _F32(1 / 3), _F32(1 / 5), _F32(1 / 7), _F32(1 / 9)
_L11, _L13, _L15 = _F32(1 / 11), _F32(1 / 13), _F32(1 / 15)


@intrinsic
def _bits_to_f32(typingctx, bits):
    """Reinterpret an int32 as a float32 (a bitcast LLVM can vectorise)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@njit(fastmath=FASTMATH_ELEMENTARY, error_model="numpy", cache=True)
def exp32(x: np.float32) -> np.float32:
    """exp in float32 without a libm call (vectorisable); NaN -> NaN, > 88.72 -> inf."""
    xc = min(max(x, _EXP_LO), _EXP_HI)
    k = np.floor(xc * _LOG2E + _HALF)
    r = xc - k * _LN2_HI - k * _LN2_LO
    p = _EXP_P0 * r + _EXP_P1
    p = p * r + _EXP_P2
    p = p * r + _EXP_P3
    p = p * r + _EXP_P4
    p = p * r + _EXP_P5
    p = p * r * r + r + _ONE
    ki = np.int32(k)  # in [-126, 128]: 2^k as two normal factors
    k1 = ki >> np.int32(1)
    s1 = _bits_to_f32((k1 + np.int32(127)) << np.int32(23))
    s2 = _bits_to_f32((ki - k1 + np.int32(127)) << np.int32(23))
    out = p * s1 * s2
    if x > _EXP_HI:
        out = _INF32
    if x < _EXP_LO:
        out = _ZERO32
    if x != x:  # NaN
        out = x
    return out


@njit(fastmath=FASTMATH_ELEMENTARY, error_model="numpy", cache=True)
def exp32_nonpositive(x: np.float32) -> np.float32:
    """exp32 for finite or -inf x <= 0 only (the decay exp(δA) with δ >= 0, A <= 0): no overflow or NaN cases,
    so 2^k is one normal factor; below -87.34 it returns about 1.2e-38 instead of a subnormal or 0."""
    xc = max(x, _EXP_LO)
    k = np.floor(xc * _LOG2E + _HALF)
    r = xc - k * _LN2_HI - k * _LN2_LO
    p = _EXP_P0 * r + _EXP_P1
    p = p * r + _EXP_P2
    p = p * r + _EXP_P3
    p = p * r + _EXP_P4
    p = p * r + _EXP_P5
    p = p * r * r + r + _ONE
    return p * _bits_to_f32((np.int32(k) + np.int32(127)) << np.int32(23))


@njit(fastmath=FASTMATH_ELEMENTARY, error_model="numpy", cache=True)
def softplus32(x: np.float32) -> np.float32:
    """F.softplus (threshold 20) in float32: max(x, 0) + log1p(exp(-|x|))."""
    v = exp32(-abs(x))  # in (0, 1]
    s = v / (_TWO + v)
    s2 = s * s
    q = _L15 * s2 + _L13
    q = q * s2 + _L11
    q = q * s2 + _L9
    q = q * s2 + _L7
    q = q * s2 + _L5
    q = q * s2 + _L3
    q = q * s2 + _ONE
    out = max(x, _ZERO32) + _TWO * s * q
    if x > _SOFTPLUS_THRESHOLD32:
        out = x
    return out


@njit(fastmath=FASTMATH_ELEMENTARY, error_model="numpy", cache=True)
def silu32(x: np.float32) -> np.float32:
    return x / (_ONE + exp32(-x))


@njit(fastmath=FASTMATH_ELEMENTARY, error_model="numpy", cache=True)
def softplus64(x: float) -> float:
    if x > 20.0:
        return x
    return math.log1p(math.exp(x))


@njit(fastmath=FASTMATH_ELEMENTARY, error_model="numpy", cache=True)
def silu64(x: float) -> float:
    return x / (1.0 + math.exp(-x))


# dtype-dispatched helpers: the kernel is written once and compiled per input dtype


def _exp(x):
    raise NotImplementedError  # pragma: no cover  (only called from compiled code)


def _exp_nonpositive(x):
    raise NotImplementedError  # pragma: no cover


def _softplus(x):
    raise NotImplementedError  # pragma: no cover


def _silu(x):
    raise NotImplementedError  # pragma: no cover


def _zero(x):
    raise NotImplementedError  # pragma: no cover


def _is_f32(x) -> bool:
    return isinstance(x, types.Float) and x.bitwidth == 32


@overload(_exp, inline="always", jit_options={"fastmath": FASTMATH})
def _ol_exp(x):
    if _is_f32(x):
        return lambda x: exp32(x)
    return lambda x: math.exp(x)


@overload(_exp_nonpositive, inline="always", jit_options={"fastmath": FASTMATH})
def _ol_exp_nonpositive(x):
    if _is_f32(x):
        return lambda x: exp32_nonpositive(x)
    return lambda x: math.exp(x)


@overload(_softplus, inline="always", jit_options={"fastmath": FASTMATH})
def _ol_softplus(x):
    if _is_f32(x):
        return lambda x: softplus32(x)
    return lambda x: softplus64(x)


@overload(_silu, inline="always", jit_options={"fastmath": FASTMATH})
def _ol_silu(x):
    if _is_f32(x):
        return lambda x: silu32(x)
    return lambda x: silu64(x)


@overload(_zero, inline="always")
def _ol_zero(x):
    if _is_f32(x):
        return lambda x: np.float32(0.0)
    return lambda x: 0.0


#: Channels per parallel task, processed together as vector lanes (compile-time constant of the fast path).
LANES = 16


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _prepass(u, delta, bias, softplus, b, d, t0, tl, dts, dus):
    """δ = softplus(delta + bias) and δu of channel d over one tile, into the rows dts, dus (vectorised).

    Returns whether every δ of the tile is finite and >= 0 (then δA <= 0 for A <= 0)."""
    u_row = u[b, d, t0 : t0 + tl]
    delta_row = delta[b, d, t0 : t0 + tl]
    bias_d = bias[d]
    n_bad = 0
    if softplus:
        for i in range(tl):
            x = _softplus(delta_row[i] + bias_d)
            dts[i] = x
            dus[i] = x * u_row[i]
    else:
        for i in range(tl):
            x = delta_row[i] + bias_d
            dts[i] = x
            dus[i] = x * u_row[i]
    for i in range(tl):
        x = dts[i]
        n_bad += not (x >= 0 and x < np.inf)
    return n_bad == 0


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _postpass(u, D, z, has_z, y, b, d, t0, tl, ys):
    """y = (Σ C h + D u) · SiLU(z) of channel d over one tile, from the row ys (vectorised)."""
    u_row = u[b, d, t0 : t0 + tl]
    y_row = y[b, d, t0 : t0 + tl]
    d_d = D[d]
    if has_z:
        z_row = z[b, d, t0 : t0 + tl]
        for i in range(tl):
            y_row[i] = (ys[i] + d_d * u_row[i]) * _silu(z_row[i])
    else:
        for i in range(tl):
            y_row[i] = ys[i] + d_d * u_row[i]


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _fill_bc(buf, src, bi, g, t0, tl, varying):
    """buf[n, i] = src[bi, g, n, t0 + i] (or src[bi, g, n, 0] when B/C is the same at every token)."""
    for n in range(buf.shape[0]):
        row = src[bi, g, n]
        if varying:
            for i in range(tl):
                buf[n, i] = row[t0 + i]
        else:
            for i in range(tl):
                buf[n, i] = row[0]


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def scan_tile_lanes(dts, dus, a, h, bbuf, cbuf, ys, acc, tl, decaying):
    """The recurrence over one tile for LANES channels at once (shared by both kernels; vectorised over lanes).

    Per token i (sequential) and state n, with B_i[n] and C_i[n] shared by the lanes::

        h[n, c] = exp(δ[i, c] a[n, c]) h[n, c] + δu[i, c] B_i[n];   ys[i, c] = Σ_n C_i[n] h[n, c]

    Args:
        dts, dus: (tile, LANES) δ and δu of the tile's first ``tl`` tokens.
        a: (N, LANES) the lanes' A; h: (N, LANES) state, updated in place (carried across tiles).
        bbuf, cbuf: (N, tile) B and C of the tokens.
        ys: (tile, LANES) output, without the D skip; acc: (LANES,) scratch.
        tl: tokens in this tile.
        decaying: every δA <= 0 and finite (or -inf), so the cheaper exp without overflow and NaN handling is exact.
    """
    n_state = a.shape[0]
    for i in range(tl):
        for c in range(LANES):
            acc[c] = _zero(acc[c])
        for n in range(n_state):
            bn = bbuf[n, i]
            cn = cbuf[n, i]
            for c in range(LANES):
                x = dts[i, c] * a[n, c]
                decay = _exp_nonpositive(x) if decaying else _exp(x)  # LLVM unswitches this invariant test
                hn = decay * h[n, c] + dus[i, c] * bn
                h[n, c] = hn
                acc[c] += cn * hn
        for c in range(LANES):
            ys[i, c] = acc[c]


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _block_lanes(u, delta, A, Bs, Cs, D, bias, z, has_z, softplus, y, last, b, d0, d1, gb, gc, tile):
    """Channels d0..d1 (at most LANES) of batch b that share one B group and one C group.

    The recurrence runs on a (N, LANES) state, vectorised over the channels: per token and state index, B and C
    are scalars shared by the lanes. The per-channel pre- and post-passes run on (LANES, tile) rows, transposed
    to and from the (tile, LANES) layout of the recurrence. Unused lanes have δ = 0, δu = 0 and A = 0 (inert).
    """
    length = u.shape[2]
    n_state = A.shape[1]
    dtype = u.dtype
    nl = d1 - d0
    bb = b if Bs.shape[0] > 1 else 0
    bc = b if Cs.shape[0] > 1 else 0
    vary_b, vary_c = Bs.shape[3] > 1, Cs.shape[3] > 1
    h = np.zeros((n_state, LANES), dtype=dtype)
    a = np.zeros((n_state, LANES), dtype=dtype)
    a_nonpositive = True
    for c in range(nl):
        for n in range(n_state):
            a[n, c] = A[d0 + c, n]
            a_nonpositive &= A[d0 + c, n] <= 0 and A[d0 + c, n] > -np.inf
    acc = np.zeros(LANES, dtype=dtype)
    rows = np.zeros((3, LANES, tile), dtype=dtype)  # δ, δu, y per channel (contiguous in tokens)
    dts = np.zeros((tile, LANES), dtype=dtype)
    dus = np.zeros((tile, LANES), dtype=dtype)
    ys = np.zeros((tile, LANES), dtype=dtype)
    bbuf = np.empty((n_state, tile), dtype=dtype)
    cbuf = np.empty((n_state, tile), dtype=dtype)
    for t0 in range(0, length, tile):
        tl = min(tile, length - t0)
        _fill_bc(bbuf, Bs, bb, gb, t0, tl, vary_b)
        _fill_bc(cbuf, Cs, bc, gc, t0, tl, vary_c)
        decaying = a_nonpositive
        for c in range(nl):
            decaying &= _prepass(u, delta, bias, softplus, b, d0 + c, t0, tl, rows[0, c], rows[1, c])
        for i in range(tl):
            for c in range(LANES):
                dts[i, c] = rows[0, c, i]
                dus[i, c] = rows[1, c, i]
        scan_tile_lanes(dts, dus, a, h, bbuf, cbuf, ys, acc, tl, decaying)
        for c in range(nl):
            for i in range(tl):
                rows[2, c, i] = ys[i, c]
            _postpass(u, D, z, has_z, y, b, d0 + c, t0, tl, rows[2, c])
    for c in range(nl):
        for n in range(n_state):
            last[b, d0 + c, n] = h[n, c]


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _block_general(u, delta, A, Bs, Cs, D, bias, z, has_z, softplus, y, last, b, d0, d1, tile):
    """Channels d0..d1 of batch b, any B/C groups: one channel at a time, vectorised over the N states."""
    length = u.shape[2]
    n_state = A.shape[1]
    dtype = u.dtype
    cpg_b, cpg_c = u.shape[1] // Bs.shape[1], u.shape[1] // Cs.shape[1]
    bb = b if Bs.shape[0] > 1 else 0
    bc = b if Cs.shape[0] > 1 else 0
    vary_b, vary_c = Bs.shape[3] > 1, Cs.shape[3] > 1
    h = np.zeros((d1 - d0, n_state), dtype=dtype)
    dts = np.zeros(tile, dtype=dtype)
    dus = np.zeros(tile, dtype=dtype)
    ys = np.zeros(tile, dtype=dtype)
    bbuf = np.empty((n_state, tile), dtype=dtype)
    cbuf = np.empty((n_state, tile), dtype=dtype)
    for t0 in range(0, length, tile):
        tl = min(tile, length - t0)
        gb_cur, gc_cur = -1, -1
        for d in range(d0, d1):
            gb, gc = d // cpg_b, d // cpg_c
            if gb != gb_cur:
                _fill_bc(bbuf, Bs, bb, gb, t0, tl, vary_b)
                gb_cur = gb
            if gc != gc_cur:
                _fill_bc(cbuf, Cs, bc, gc, t0, tl, vary_c)
                gc_cur = gc
            _prepass(u, delta, bias, softplus, b, d, t0, tl, dts, dus)
            hd = h[d - d0]
            a_d = A[d]
            for i in range(tl):
                dt = dts[i]
                du = dus[i]
                acc = _zero(dt)
                for n in range(n_state):
                    hn = _exp(dt * a_d[n]) * hd[n] + du * bbuf[n, i]
                    hd[n] = hn
                    acc += cbuf[n, i] * hn
                ys[i] = acc
            _postpass(u, D, z, has_z, y, b, d, t0, tl, ys)
    last[b, d0:d1] = h


@njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)
def scan_forward(u, delta, A, Bs, Cs, D, bias, z, has_z, softplus, y, last, tile):
    """Fused selective-scan forward; writes y (Bt, Dm, L) and last (Bt, Dm, N) in place.

    Args:
        u, delta: (Bt, Dm, L), C-contiguous, compute dtype (so are all arrays).
        A: (Dm, N).
        Bs, Cs: (Bb, G, N, Lb) with Bb in {1, Bt}, G dividing Dm (channel d reads group d // (Dm / G)) and
            Lb in {1, L} (1: the same at every token). Constant B is (1, Dm, N, 1), variable (Bt, 1, N, L).
        D, bias: (Dm,) (zeros when absent).
        z: (Bt, Dm, L) gate, read only when ``has_z``.
        has_z, softplus: flags.
        y: (Bt, Dm, L) output; last: (Bt, Dm, N) output.
        tile: tokens per tile.

    One parallel task per batch and block of LANES channels; a block whose channels share their B group and
    their C group (SS2D: Dm/G a multiple of LANES) takes the lane-vectorised path, any other the general one.
    """
    bt, dm, _ = u.shape
    cpg_b, cpg_c = dm // Bs.shape[1], dm // Cs.shape[1]
    nblk = (dm + LANES - 1) // LANES
    for task in prange(bt * nblk):
        b = task // nblk
        d0 = (task % nblk) * LANES
        d1 = min(dm, d0 + LANES)
        gb, gc = d0 // cpg_b, d0 // cpg_c
        if gb == (d1 - 1) // cpg_b and gc == (d1 - 1) // cpg_c:
            _block_lanes(u, delta, A, Bs, Cs, D, bias, z, has_z, softplus, y, last, b, d0, d1, gb, gc, tile)
        else:
            _block_general(u, delta, A, Bs, Cs, D, bias, z, has_z, softplus, y, last, b, d0, d1, tile)
