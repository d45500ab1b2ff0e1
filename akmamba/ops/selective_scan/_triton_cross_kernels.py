
"""Triton kernels of the fused four-direction scan (``cross_selective_scan``). Imports triton: import lazily.

Grid: one program per (block of BLOCK_D channels, direction k, batch b). A program walks direction k's sequence
t = 0..L-1 in tiles of T tokens and finds each token's pixel (i, j) by index arithmetic (:func:`_pixel`):

    k = 0  row-major            s = t          i = s // W, j = s % W
    k = 1  column-major         s = t          i = s % H,  j = s // H
    k = 2  row-major reversed   s = L - 1 - t  (then as k = 0)
    k = 3  column-major rev.    s = L - 1 - t  (then as k = 1)

Every tensor is read in place through its own strides (x as (B, E, H, W), delta as (B, 4, E, H, W), B/C as
(B, 4, N, H, W), in any memory layout), so no flipped or transposed copy is ever made. The four directions'
outputs are summed back into pixel order (the cross-merge) in the same pass, by fp32 atomic adds into one
(B, E, H, W) buffer (``ATOMIC_MERGE``), or stored per direction into (4, B, E, H, W) and summed by the caller.

The recurrence itself is the one of ``_triton_kernels.py`` (the per-sequence backend): the state h (BLOCK_D, NP)
stays in registers, a tile is an associative scan over tokens of (decay, input) pairs, and the state entering the
tile is applied with the tile's cumulative decay (factors <= 1 only; nothing is divided). The forward optionally
saves the state entering every tile; the backward walks the tiles in reverse, recomputes each tile's states from
the saved one and runs the adjoint recurrence dh_t = C_t dy_t + a_{t+1} dh_{t+1} as a reverse scan. dy of every
direction is the merged output's gradient read at the direction's pixels (the gradient of a sum); du of the four
directions is merged like y; d delta is stored per direction; dB/dC are summed over a direction's channels with
fp32 atomics when several programs share a direction.

Chunks (parallelism along the sequence): a launch of (channel blocks x 4 x batch) programs is far too small to fill
the GPU at batch 1 on a 592x576 map (16-64 programs, each walking 340 k tokens), so each direction's sequence can be
split into ``n_chunks`` chunks of ``tiles_per_chunk`` tiles, one program each. The recurrence is linear, so the
state entering chunk c follows from the chunks before it: a *summary* launch (``SUMMARY``) gives every chunk's end
state from a zero start and its total decay exp(A * sum of delta); :func:`chunk_carry_kernel` walks the chunks in
order (a few dozen steps per (row, state)) and writes the state entering each one; the main launch then starts every
chunk from its entering state (``HAS_H0``). The backward does the same for the adjoint dh, walking chunks from the
last. The summary launches skip the associative scan: a chunk's end state from zero is the sum over its tokens of
exp(A * (delta summed over the later tokens)) * delta_t B_t u_t, a reduction (every factor <= 1; nothing divided).
"""

from __future__ import annotations

import triton
import triton.language as tl

from akmamba.ops.selective_scan._triton_interpret import interpreting, patch_interpreter

if interpreting():
    patch_interpreter()

#: True when these kernels run in Triton's CPU interpreter (TRITON_INTERPRET=1 when this module was imported).
INTERPRETED = interpreting()

LOG2E = tl.constexpr(1.4426950408889634)

# Sizes and strides change with every feature-map size: specialise on "== 1" (contiguity) but not on divisibility
# by 16, so that one compiled kernel serves every U-Net level.
_INT_ARGS = [
    "E", "H", "W", "L", "N", "n_tiles", "n_dblk", "n_chunks", "tiles_per_chunk",
    "sx_b", "sx_e", "sx_h", "sx_w", "sd_b", "sd_k", "sd_e", "sd_h", "sd_w",
    "sb_b", "sb_k", "sb_n", "sb_h", "sb_w", "sc_b", "sc_k", "sc_n", "sc_h", "sc_w",
]  # fmt: skip
_FWD_INT_ARGS = [*_INT_ARGS, "sy_k", "sy_b", "sy_e", "sy_h", "sy_w"]
_BWD_INT_ARGS = [
    *_INT_ARGS,
    "sg_b", "sg_e", "sg_h", "sg_w", "su_k", "su_b", "su_e", "su_h", "su_w",
    "sq_b", "sq_k", "sq_e", "sq_h", "sq_w", "sgb_b", "sgb_k", "sgb_n", "sgb_h", "sgb_w",
    "sgc_b", "sgc_k", "sgc_n", "sgc_h", "sgc_w",
]  # fmt: skip


@triton.jit
def _lin_combine(a1, x1, a2, x2):
    return a1 * a2, a2 * x1 + x2


@triton.jit
def _softplus(x):
    """softplus with threshold 20, log1p(exp(x)) computed accurately without libdevice."""
    e = tl.exp(x)
    p = 1.0 + e
    lp = tl.where(p == 1.0, e, tl.log(p) * (e / (p - 1.0)))
    return tl.where(x <= 20.0, lp, x)


@triton.jit
def _pixel(t, L, H, W, col, rev):
    """Row and column (int64) of the pixel at position ``t`` of a direction (column-major if ``col``, reversed
    if ``rev``). Positions t >= L give garbage that the callers mask."""
    s = tl.where(rev, L - 1 - t, t)
    i = tl.where(col, s % H, s // W)
    j = tl.where(col, s // H, s % W)
    return i.to(tl.int64), j.to(tl.int64)


@triton.jit
def _delta(raw, bias, mask, HAS_DBIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """(delta + bias, softplus of it) for a tile whose channel axis matches ``bias``; 0 outside ``mask``."""
    if HAS_DBIAS:
        raw = raw + bias
    dt = raw
    if SOFTPLUS:
        dt = _softplus(raw)
    dt = tl.where(mask, dt, 0.0)
    return raw, dt


@triton.jit
def _last(v, tt, T: tl.constexpr):
    """The last token's slice of a tokens-first tile (T, ...)."""
    return tl.sum(tl.where(tt[:, None, None] == T - 1, v, 0.0), axis=0)


@triton.jit
def _program_ids(E, n_dblk, BLOCK_D: tl.constexpr):
    """(channels d, their mask, direction k, batch b as int64, chunk) of this program; axis 0 is chunk-major."""
    pid0 = tl.program_id(0)
    chunk = pid0 // n_dblk
    d = (pid0 % n_dblk) * BLOCK_D + tl.arange(0, BLOCK_D)
    return d, d < E, tl.program_id(1), tl.program_id(2).to(tl.int64), chunk


@triton.jit(do_not_specialize_on_alignment=["rows_np", "n_chunks"])
def chunk_carry_kernel(x_ptr, p_ptr, h0_ptr, rows_np, n_chunks, NP: tl.constexpr, REVERSE: tl.constexpr,
                       BLOCK: tl.constexpr):
    """Entering state of every chunk from the chunk summaries, (rows, n_chunks, NP) fp32 buffers.

    Forward (REVERSE=0): h0[c] = P[c-1] h0[c-1] + X[c-1], h0[0] = 0. Backward (REVERSE=1): the same from the last
    chunk down (h0[n-1] = 0): the adjoint entering chunk c from the right."""
    f = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = f < rows_np
    base = (f // NP).to(tl.int64) * n_chunks * NP + f % NP
    h = tl.zeros((BLOCK,), tl.float32)
    for c in range(n_chunks):
        cc = c
        if REVERSE:
            cc = n_chunks - 1 - c
        off = base + cc * NP
        tl.store(h0_ptr + off, h, mask=m)
        h = tl.load(p_ptr + off, mask=m, other=0.0) * h + tl.load(x_ptr + off, mask=m, other=0.0)


@triton.jit(do_not_specialize_on_alignment=_FWD_INT_ARGS)
def cross_fwd_kernel(
    x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, dbias_ptr, y_ptr, hs_ptr, h0_ptr, chx_ptr, chp_ptr,
    E, H, W, L, N, n_tiles, n_dblk, n_chunks, tiles_per_chunk,
    sx_b, sx_e, sx_h, sx_w, sd_b, sd_k, sd_e, sd_h, sd_w,
    sb_b, sb_k, sb_n, sb_h, sb_w, sc_b, sc_k, sc_n, sc_h, sc_w,
    sy_k, sy_b, sy_e, sy_h, sy_w,
    BLOCK_D: tl.constexpr, NP: tl.constexpr, T: tl.constexpr,
    HAS_D: tl.constexpr, HAS_DBIAS: tl.constexpr, SOFTPLUS: tl.constexpr, SAVE_STATES: tl.constexpr,
    ATOMIC_MERGE: tl.constexpr, HAS_H0: tl.constexpr, SUMMARY: tl.constexpr,
):  # fmt: skip
    """Forward over one chunk of tiles. Tiles are (T, BLOCK_D, NP): tokens first (see
    _triton_kernels.scan_fwd_kernel). y is fp32 and zeroed when ``ATOMIC_MERGE`` (sy_k = 0), else a
    (4, B, E, H, W) buffer written once per element. ``HAS_H0``: the chunk starts from h0 (B*4E, n_chunks, NP),
    else from zero. ``SUMMARY``: write nothing but the chunk's end state from a zero start into chx and its total
    decay into chp (both (B*4E, n_chunks, NP))."""
    d, dm, k, b, chunk = _program_ids(E, n_dblk, BLOCK_D)
    col = (k % 2) == 1
    rev = k >= 2
    kd = k * E + d  # row of A, D and delta_bias: direction-major (4E, ...), as SS2D stores them
    n = tl.arange(0, NP)
    nm = n < N
    tt = tl.arange(0, T)
    dnm = dm[:, None] & nm[None, :]
    A2d = tl.load(A_ptr + kd[:, None] * N + n[None, :], mask=dnm, other=0.0) * LOG2E  # (BD, NP)
    A2 = A2d[None, :, :]
    bias = tl.zeros((BLOCK_D,), tl.float32)
    if HAS_DBIAS:
        bias = tl.load(dbias_ptr + kd, mask=dm, other=0.0)
    Dv = tl.zeros((BLOCK_D,), tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + kd, mask=dm, other=0.0)
    d64 = d.to(tl.int64)
    k64 = k.to(tl.int64)
    ch_off = ((b * 4 * E + kd[:, None]) * n_chunks + chunk) * NP + n[None, :]  # (BD, NP) in chunk buffers
    x_base = x_ptr + b * sx_b + d64[None, :] * sx_e  # (1, BD)
    dt_base = dt_ptr + b * sd_b + k64 * sd_k + d64[None, :] * sd_e
    b_base = B_ptr + b * sb_b + k64 * sb_k + n[None, :] * sb_n  # (1, NP)
    c_base = C_ptr + b * sc_b + k64 * sc_k + n[None, :] * sc_n
    y_base = y_ptr + k64 * sy_k + b * sy_b + d64[None, :] * sy_e
    hs_base = hs_ptr + ((b * 4 * E + kd[:, None]) * n_tiles) * NP + n[None, :]  # (BD, NP)
    h = tl.zeros((BLOCK_D, NP), tl.float32)
    if HAS_H0:
        h = tl.load(h0_ptr + ch_off, mask=dm[:, None], other=0.0)
    dsum = tl.zeros((BLOCK_D,), tl.float32)  # delta summed over the chunk (SUMMARY)
    it0 = chunk * tiles_per_chunk
    for it in range(it0, tl.minimum(it0 + tiles_per_chunk, n_tiles)):
        t = it * T + tt
        tm = t < L
        i, j = _pixel(t, L, H, W, col, rev)
        m2 = tm[:, None] & dm[None, :]  # (T, BD)
        tn = tm[:, None] & nm[None, :]  # (T, NP)
        uu = tl.load(x_base + (i * sx_h + j * sx_w)[:, None], mask=m2, other=0.0).to(tl.float32)
        raw = tl.load(dt_base + (i * sd_h + j * sd_w)[:, None], mask=m2, other=0.0).to(tl.float32)
        _, dt = _delta(raw, bias[None, :], m2, HAS_DBIAS, SOFTPLUS)
        Bv = tl.load(b_base + (i * sb_h + j * sb_w)[:, None], mask=tn, other=0.0).to(tl.float32)[:, None, :]
        xx = (dt * uu)[:, :, None] * Bv
        if SUMMARY:
            # end state of the tile from h: exp(A * sum(delta)) h + sum_t exp(A * (delta after t summed)) xx_t
            csum = tl.cumsum(dt, axis=0)  # (T, BD) inclusive
            tot = tl.sum(dt, axis=0)  # (BD,)
            later = tot[None, :] - csum  # delta summed over the tile's tokens after t (>= 0 up to rounding)
            h = tl.exp2(tot[:, None] * A2d) * h + tl.sum(tl.exp2(later[:, :, None] * A2) * xx, axis=0)
            dsum += tot
        else:
            if SAVE_STATES:
                tl.store(hs_base + it * NP, h, mask=dm[:, None])
            a = tl.exp2(dt[:, :, None] * A2)
            Cv = tl.load(c_base + (i * sc_h + j * sc_w)[:, None], mask=tn, other=0.0).to(tl.float32)[:, None, :]
            P, X = tl.associative_scan((a, xx), 0, _lin_combine)
            hh = P * h[None, :, :] + X
            yv = tl.sum(hh * Cv, axis=2)
            if HAS_D:
                yv += Dv[None, :] * uu
            y_out = y_base + (i * sy_h + j * sy_w)[:, None]
            if ATOMIC_MERGE:
                tl.atomic_add(y_out, yv, mask=m2, sem="relaxed")
            else:
                tl.store(y_out, yv.to(y_ptr.dtype.element_ty), mask=m2)
            h = _last(hh, tt, T)
    if SUMMARY:
        tl.store(chx_ptr + ch_off, h, mask=dm[:, None])
        tl.store(chp_ptr + ch_off, tl.exp2(dsum[:, None] * A2d), mask=dm[:, None])


@triton.jit
def _bwd_store_du(du, dy, uu, Dv, dD_acc, m2, du_out, du_ptr, HAS_D: tl.constexpr, ATOMIC_MERGE: tl.constexpr):
    """du of a backward tile (BD, T), shared by both backward kernels: add D's term and merge it into the pixels
    (atomics, or this direction's slot); returns the updated dD partial sums."""
    if HAS_D:
        du += Dv[:, None] * dy
        dD_acc += tl.sum(dy * uu, axis=1)
    if ATOMIC_MERGE:
        tl.atomic_add(du_out, du, mask=m2, sem="relaxed")
    else:
        tl.store(du_out, du.to(du_ptr.dtype.element_ty), mask=m2)
    return dD_acc


@triton.jit
def _bwd_store_ddt(ddt, raw, ddb_acc, m2, ddt_out, ddt_ptr, SOFTPLUS: tl.constexpr):
    """d delta of a backward tile (BD, T), shared by both backward kernels: through the softplus, masked, stored;
    returns the updated d delta_bias partial sums."""
    if SOFTPLUS:
        ddt = tl.where(raw <= 20.0, ddt / (1.0 + tl.exp(-raw)), ddt)
    ddt = tl.where(m2, ddt, 0.0)
    tl.store(ddt_out, ddt.to(ddt_ptr.dtype.element_ty), mask=m2)
    return ddb_acc + tl.sum(ddt, axis=1)


@triton.jit
def _bwd_store_sums(chx_ptr, chp_ptr, dA_ptr, dD_ptr, ddb_ptr, ch_off, g, dsum, A2d, dA_acc, dD_acc, ddb_acc,
                    dm, dnm, kd, n, b, chunk, E, N, HAS_D: tl.constexpr, HAS_DBIAS: tl.constexpr,
                    SUMMARY: tl.constexpr):
    """End of a backward program: the chunk summary (adjoint at the chunk's first token, decay),
    or the program's partial sums of dA (BD, NP), dD and d delta_bias (BD,) in their (chunk, batch, row) slots."""
    if SUMMARY:
        tl.store(chx_ptr + ch_off, g, mask=dm[:, None])
        tl.store(chp_ptr + ch_off, tl.exp2(dsum[:, None] * A2d), mask=dm[:, None])
    else:
        row = (chunk * tl.num_programs(2) + b) * 4 * E + kd
        tl.store(dA_ptr + row[:, None] * N + n[None, :], dA_acc, mask=dnm)
        if HAS_D:
            tl.store(dD_ptr + row, dD_acc, mask=dm)
        if HAS_DBIAS:
            tl.store(ddb_ptr + row, ddb_acc, mask=dm)


@triton.jit(do_not_specialize_on_alignment=_BWD_INT_ARGS)
def cross_bwd_kernel(
    x_ptr, dt_ptr, A_ptr, B_ptr, C_ptr, D_ptr, dbias_ptr, g_ptr, hs_ptr, g0_ptr, chx_ptr, chp_ptr,
    du_ptr, ddt_ptr, dA_ptr, dD_ptr, ddb_ptr, dB_ptr, dC_ptr,
    E, H, W, L, N, n_tiles, n_dblk, n_chunks, tiles_per_chunk,
    sx_b, sx_e, sx_h, sx_w, sd_b, sd_k, sd_e, sd_h, sd_w,
    sb_b, sb_k, sb_n, sb_h, sb_w, sc_b, sc_k, sc_n, sc_h, sc_w,
    sg_b, sg_e, sg_h, sg_w,
    su_k, su_b, su_e, su_h, su_w,
    sq_b, sq_k, sq_e, sq_h, sq_w,
    sgb_b, sgb_k, sgb_n, sgb_h, sgb_w,
    sgc_b, sgc_k, sgc_n, sgc_h, sgc_w,
    BLOCK_D: tl.constexpr, NP: tl.constexpr, T: tl.constexpr,
    HAS_D: tl.constexpr, HAS_DBIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    ATOMIC_MERGE: tl.constexpr, BC_ATOMIC: tl.constexpr, HAS_G0: tl.constexpr, SUMMARY: tl.constexpr,
):  # fmt: skip
    """Backward over one chunk of tiles, last tile first. Tiles are (BLOCK_D, NP, T): tokens last (see
    _triton_kernels.scan_bwd_kernel_dmajor).

    g: the merged output's gradient (B, E, H, W). du: fp32 (B, E, H, W) zeroed, by atomics (su_k = 0) when
    ``ATOMIC_MERGE``, else (4, B, E, H, W) stored. ddt: (B, 4, E, H, W) stored. dB/dC: fp32 (B, 4, N, H, W), by
    atomics over a direction's programs when ``BC_ATOMIC`` (then zeroed), else stored. dA (n_chunks, B, 4E, N),
    dD and d delta_bias (n_chunks, B, 4E): per-program fp32 partial sums, summed by the caller. ``HAS_G0``: the
    adjoint entering the chunk from the right (dh at the next chunk's first token) is read from g0
    (B*4E, n_chunks, NP), else zero. ``SUMMARY``: write only the chunk's dh at its first token from a zero start
    into chx and the decay exp(A * sum of delta over the chunk's tokens 2..T+1) into chp.

    The adjoint needs a_{t+1} = exp(delta_{t+1} A) beside a_t: it is computed from delta loaded one token ahead
    (a second exp2 per (channel, state, token)). Two alternatives were built, tested equal and timed on an H100
    (2026-12-06, docs/benchmarks/sweep_cross_scan_h100.md), and both were slower in every row, so they were
    removed: a_t shifted by one token with ``tl.gather`` (+16 to +27 % forward+backward over two sweeps), and
    tokens-first tiles (T, BLOCK_D, NP) as the forward's (+9 to +44 %, the best at 8 channels per program; git
    history before their removal on 2026-12-06 has both)."""
    d, dm, k, b, chunk = _program_ids(E, n_dblk, BLOCK_D)
    col = (k % 2) == 1
    rev = k >= 2
    kd = k * E + d
    n = tl.arange(0, NP)
    nm = n < N
    tt = tl.arange(0, T)
    dnm = dm[:, None] & nm[None, :]
    An = tl.load(A_ptr + kd[:, None] * N + n[None, :], mask=dnm, other=0.0)
    A3 = An[:, :, None]
    A2d = An * LOG2E
    A2 = A2d[:, :, None]
    bias = tl.zeros((BLOCK_D,), tl.float32)
    if HAS_DBIAS:
        bias = tl.load(dbias_ptr + kd, mask=dm, other=0.0)
    Dv = tl.zeros((BLOCK_D,), tl.float32)
    if HAS_D:
        Dv = tl.load(D_ptr + kd, mask=dm, other=0.0)
    d64 = d.to(tl.int64)
    k64 = k.to(tl.int64)
    x_base = x_ptr + b * sx_b + d64[:, None] * sx_e  # (BD, 1)
    dt_base = dt_ptr + b * sd_b + k64 * sd_k + d64[:, None] * sd_e
    b_base = B_ptr + b * sb_b + k64 * sb_k + n[:, None] * sb_n  # (NP, 1)
    c_base = C_ptr + b * sc_b + k64 * sc_k + n[:, None] * sc_n
    g_base = g_ptr + b * sg_b + d64[:, None] * sg_e
    du_base = du_ptr + k64 * su_k + b * su_b + d64[:, None] * su_e
    ddt_base = ddt_ptr + b * sq_b + k64 * sq_k + d64[:, None] * sq_e
    db_base = dB_ptr + b * sgb_b + k64 * sgb_k + n[:, None] * sgb_n
    dc_base = dC_ptr + b * sgc_b + k64 * sgc_k + n[:, None] * sgc_n
    hs_base = hs_ptr + ((b * 4 * E + kd[:, None]) * n_tiles) * NP + n[None, :]  # (BD, NP)
    ch_off = ((b * 4 * E + kd[:, None]) * n_chunks + chunk) * NP + n[None, :]  # (BD, NP) in chunk buffers
    g = tl.zeros((BLOCK_D, NP), tl.float32)  # dh at the first token of the tile after this one
    if HAS_G0:
        g = tl.load(g0_ptr + ch_off, mask=dm[:, None], other=0.0)
    dA_acc = tl.zeros((BLOCK_D, NP), tl.float32)
    dD_acc = tl.zeros((BLOCK_D,), tl.float32)
    ddb_acc = tl.zeros((BLOCK_D,), tl.float32)
    dsum = tl.zeros((BLOCK_D,), tl.float32)  # delta of the next tokens summed over the chunk (SUMMARY)
    it0 = chunk * tiles_per_chunk
    it1 = tl.minimum(it0 + tiles_per_chunk, n_tiles)
    for r in range(it1 - it0):
        it = it1 - 1 - r
        t = it * T + tt
        tm = t < L
        i, j = _pixel(t, L, H, W, col, rev)
        i1, j1 = _pixel(t + 1, L, H, W, col, rev)
        m2 = dm[:, None] & tm[None, :]  # (BD, T)
        m21 = dm[:, None] & (t[None, :] + 1 < L)
        nt2 = nm[:, None] & tm[None, :]  # (NP, T)
        raw1 = tl.load(dt_base + (i1 * sd_h + j1 * sd_w)[None, :], mask=m21, other=0.0).to(tl.float32)
        _, dt1 = _delta(raw1, bias[:, None], m21, HAS_DBIAS, SOFTPLUS)
        Cv = tl.load(c_base + (i * sc_h + j * sc_w)[None, :], mask=nt2, other=0.0).to(tl.float32)[None, :, :]
        dy = tl.load(g_base + (i * sg_h + j * sg_w)[None, :], mask=m2, other=0.0).to(tl.float32)
        if SUMMARY:
            # dh at the tile's first token from g: sum_t exp(A * (next-token delta summed before t)) C_t dy_t
            # + exp(A * (next-token delta summed over the tile)) g
            tot = tl.sum(dt1, axis=1)  # (BD,)
            before = tl.cumsum(dt1, axis=1) - dt1  # exclusive
            g = tl.exp2(tot[:, None] * A2d) * g + tl.sum(tl.exp2(before[:, None, :] * A2) * (Cv * dy[:, None, :]),
                                                         axis=2)
            dsum += tot
        else:
            uu = tl.load(x_base + (i * sx_h + j * sx_w)[None, :], mask=m2, other=0.0).to(tl.float32)
            raw = tl.load(dt_base + (i * sd_h + j * sd_w)[None, :], mask=m2, other=0.0).to(tl.float32)
            raw, dt = _delta(raw, bias[:, None], m2, HAS_DBIAS, SOFTPLUS)
            h0 = tl.load(hs_base + it * NP, mask=dm[:, None], other=0.0)
            Bv = tl.load(b_base + (i * sb_h + j * sb_w)[None, :], mask=nt2, other=0.0).to(tl.float32)[None, :, :]
            # recompute the tile's states
            a = tl.exp2(dt[:, None, :] * A2)
            xx = (dt * uu)[:, None, :] * Bv
            P, X = tl.associative_scan((a, xx), 2, _lin_combine)
            hh = P * h0[:, :, None] + X
            # adjoint: dh_t = C_t dy_t + a_{t+1} dh_{t+1}, reverse scan with a shifted by one token
            a1 = tl.exp2(dt1[:, None, :] * A2)
            P1, S = tl.associative_scan((a1, Cv * dy[:, None, :]), 2, _lin_combine, reverse=True)
            dh = S + P1 * g[:, :, None]
            g = tl.sum(tl.where(tt[None, None, :] == 0, dh, 0.0), axis=2)
            dhd = dh * dt[:, None, :]
            hp = hh - xx  # a_t h_{t-1}
            du = tl.sum(dhd * Bv, axis=1)
            dD_acc = _bwd_store_du(du, dy, uu, Dv, dD_acc, m2, du_base + (i * su_h + j * su_w)[None, :], du_ptr,
                                   HAS_D, ATOMIC_MERGE)
            ddt = tl.sum(dh * (Bv * uu[:, None, :] + A3 * hp), axis=1)
            ddb_acc = _bwd_store_ddt(ddt, raw, ddb_acc, m2, ddt_base + (i * sq_h + j * sq_w)[None, :], ddt_ptr,
                                     SOFTPLUS)
            dA_acc += tl.sum(dhd * hp, axis=2)
            part_b = tl.sum(dhd * uu[:, None, :], axis=0)  # (NP, T): summed over this program's channels
            part_c = tl.sum(hh * dy[:, None, :], axis=0)
            db_out = db_base + (i * sgb_h + j * sgb_w)[None, :]
            dc_out = dc_base + (i * sgc_h + j * sgc_w)[None, :]
            if BC_ATOMIC:
                tl.atomic_add(db_out, part_b, mask=nt2, sem="relaxed")
                tl.atomic_add(dc_out, part_c, mask=nt2, sem="relaxed")
            else:
                tl.store(db_out, part_b, mask=nt2)
                tl.store(dc_out, part_c, mask=nt2)
    _bwd_store_sums(chx_ptr, chp_ptr, dA_ptr, dD_ptr, ddb_ptr, ch_off, g, dsum, A2d, dA_acc, dD_acc, ddb_acc,
                    dm, dnm, kd, n, b, chunk, E, N, HAS_D, HAS_DBIAS, SUMMARY)
