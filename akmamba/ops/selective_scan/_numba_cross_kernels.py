# mypy: disable-error-code="no-untyped-def,call-arg,var-annotated"
# (Numba types these functions from their arguments at compile time; Python annotations would be ignored.)
"""Numba kernel of the ``fused_numba`` four-direction scan (imported on first use by ``numba_cross``).

One forward pass for SS2D's whole scan stage. Each parallel task (``prange``) owns one batch element and a block
of :data:`LANES` consecutive channels, and runs the four directions one after the other, so that it alone writes
its slice of y: the first direction stores, the others add (the merge happens in the same pass, without atomics).
When that gives fewer tasks than threads, the directions are split into S = 2 or 4 groups (k = s, s + S, ...),
each task writing its own slab y[s], and the host sums the slabs. Per direction a task walks the direction's
order in tiles of ``tile`` tokens:

1. gather: the tile's pixels (i, j), found by stepping through direction k's order, and their x, raw delta, B and
   C, read in place by index arithmetic. Every tensor is a flat buffer with element strides (b, k, i, j) and its
   channel (or state) axis contiguous, so the LANES channels of one pixel are one contiguous load. With a dt
   projection (rank R > 0) the raw delta is computed from its rank-R factor, R multiply-adds per token;
2. δ = softplus(delta + delta_bias) and δu, vectorised over the tile;
3. the recurrence over the tile (``_numba_kernels.scan_tile_lanes``, shared with the ``numba`` backend);
4. scatter: y[b, pixel, channels] (+)= Σ_n C h + D u.

y is written pixel-major, (B, H*W, E), the layout SS2D's LayerNorm reads next. Channels past E in the last block
are inert lanes (A = 0, u = 0) that are never stored. Nothing of size (B, 4, E, L) is built. The arithmetic, and
its accuracy, is that of the ``numba`` backend (see ``_numba_kernels``).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from akmamba.ops.selective_scan._numba_kernels import FASTMATH, LANES, _softplus, scan_tile_lanes

K_DIRECTIONS = 4
_U = np.uint64  # flat offsets are indexed as unsigned: Numba then adds no negative-index wraparound, so LLVM sees
# consecutive addresses and emits plain vector loads instead of gathers (measured 1.3x on the whole kernel)
#: Rows of the strides table: one per input tensor. Columns: element strides of (batch, direction, row i, column j).
X_ROW, DT_ROW, B_ROW, C_ROW = 0, 1, 2, 3


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _first_pixel(k, t0, height, width):
    """Pixel (i, j) of token t0 in direction k (0 row-major, 1 column-major, 2 and 3 their reverses)."""
    s = t0 if k < 2 else height * width - 1 - t0
    if k % 2 == 0:
        return s // width, s % width
    return s % height, s // height


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _next_pixel(k, i, j, height, width):
    """The pixel after (i, j) in direction k's order."""
    if k == 0:
        j += 1
        if j == width:
            j = 0
            i += 1
    elif k == 1:
        i += 1
        if i == height:
            i = 0
            j += 1
    elif k == 2:
        j -= 1
        if j < 0:
            j = width - 1
            i -= 1
    else:
        i -= 1
        if i < 0:
            i = height - 1
            j -= 1
    return i, j


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _gather(x, dt, bs, cs, st, b, k, e0, nl, t0, tl, height, width, xs, raw, bbuf, cbuf, pix, w_k, low, rank):
    """Tokens t0 .. t0+tl of direction k: x and raw delta of the block's nl channels into xs, raw (tile, LANES),
    B and C into bbuf, cbuf (tile, N), each token's pixel index i*W + j into pix.

    With ``rank`` R > 0, dt holds the low-rank delta (R values per pixel and direction) and raw = w_k^T dt, with
    w_k (R, LANES) the block's rows of the dt projection (zero past nl) and low (tile, R) scratch."""
    n_state = bbuf.shape[1]
    i, j = _first_pixel(k, t0, height, width)
    x0 = b * st[X_ROW, 0] + e0
    d0 = b * st[DT_ROW, 0] + k * st[DT_ROW, 1] + (e0 if rank == 0 else 0)
    b0 = b * st[B_ROW, 0] + k * st[B_ROW, 1]
    c0 = b * st[C_ROW, 0] + k * st[C_ROW, 1]
    for ti in range(tl):
        xo = _U(x0 + i * st[X_ROW, 2] + j * st[X_ROW, 3])
        do = _U(d0 + i * st[DT_ROW, 2] + j * st[DT_ROW, 3])
        if nl == LANES:
            for c in range(LANES):
                xs[ti, c] = x[xo + _U(c)]
        else:
            for c in range(nl):
                xs[ti, c] = x[xo + _U(c)]
        if rank > 0:
            for r in range(rank):
                low[ti, r] = dt[do + _U(r)]
        elif nl == LANES:
            for c in range(LANES):
                raw[ti, c] = dt[do + _U(c)]
        else:
            for c in range(nl):
                raw[ti, c] = dt[do + _U(c)]
        bo = _U(b0 + i * st[B_ROW, 2] + j * st[B_ROW, 3])
        co = _U(c0 + i * st[C_ROW, 2] + j * st[C_ROW, 3])
        for n in range(n_state):
            bbuf[ti, n] = bs[bo + _U(n)]
            cbuf[ti, n] = cs[co + _U(n)]
        pix[ti] = i * width + j
        i, j = _next_pixel(k, i, j, height, width)
    if rank > 0:  # r outermost: each row of raw is updated once per r, no chain of dependent adds per token
        raw[:tl] = 0
        for r in range(rank):
            for ti in range(tl):
                v = low[ti, r]
                for c in range(LANES):
                    raw[ti, c] += v * w_k[r, c]


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _deltas(xs, raw, bias_k, softplus, tl, dts, dus):
    """δ = softplus(raw + bias) (or raw + bias) and δu over the tile; whether every δ is finite and >= 0."""
    n_bad = 0
    for ti in range(tl):
        for c in range(LANES):
            v = raw[ti, c] + bias_k[c]
            if softplus:
                v = _softplus(v)
            dts[ti, c] = v
            dus[ti, c] = v * xs[ti, c]
            n_bad += not (v >= 0 and v < np.inf)
    return n_bad == 0


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _scatter(y, b, e0, nl, pix, ys, xs, d_k, tl, first):
    """y[b, pixel, e0 + c] = (first) or += ys + D u for the tile's tokens and the block's nl channels."""
    flat = y.reshape(-1)
    for ti in range(tl):
        o = _U((b * y.shape[1] + pix[ti]) * y.shape[2] + e0)
        if first:
            for c in range(nl):
                flat[o + _U(c)] = ys[ti, c] + d_k[c] * xs[ti, c]
        else:
            for c in range(nl):
                flat[o + _U(c)] += ys[ti, c] + d_k[c] * xs[ti, c]


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _block(x, dt, dtw, bs, cs, st, A, D, bias, softplus, y, b, e0, nl, k0, k_step, height, width, tile):
    """Channels e0 .. e0+nl of batch b, directions k0, k0 + k_step, ... < 4 in turn (see the module docstring)."""
    e = y.shape[2]
    n_state = A.shape[1]
    length = height * width
    dtype = y.dtype
    h = np.zeros((n_state, LANES), dtype=dtype)
    a = np.zeros((n_state, LANES), dtype=dtype)
    acc = np.zeros(LANES, dtype=dtype)
    d_k = np.zeros(LANES, dtype=dtype)
    bias_k = np.zeros(LANES, dtype=dtype)
    xs = np.zeros((tile, LANES), dtype=dtype)  # lanes past nl stay 0: inert
    raw = np.zeros((tile, LANES), dtype=dtype)
    dts = np.zeros((tile, LANES), dtype=dtype)
    dus = np.zeros((tile, LANES), dtype=dtype)
    ys = np.zeros((tile, LANES), dtype=dtype)
    bbuf = np.zeros((tile, n_state), dtype=dtype)  # token-major: each token's N states are one contiguous copy
    cbuf = np.zeros((tile, n_state), dtype=dtype)
    pix = np.zeros(tile, dtype=np.int64)
    rank = dtw.shape[1] if dtw.shape[0] == A.shape[0] else 0
    w_k = np.zeros((max(rank, 1), LANES), dtype=dtype)
    low = np.zeros((tile, max(rank, 1)), dtype=dtype)
    for k in range(k0, K_DIRECTIONS, k_step):
        a_nonpositive = True
        for c in range(nl):
            row = k * e + e0 + c
            d_k[c] = D[row]
            bias_k[c] = bias[row]
            for r in range(rank):
                w_k[r, c] = dtw[row, r]
            for n in range(n_state):
                a[n, c] = A[row, n]
                a_nonpositive &= A[row, n] <= 0 and A[row, n] > -np.inf
        h[:] = 0
        for t0 in range(0, length, tile):
            tl = min(tile, length - t0)
            _gather(x, dt, bs, cs, st, b, k, e0, nl, t0, tl, height, width, xs, raw, bbuf, cbuf, pix, w_k, low, rank)
            decaying = _deltas(xs, raw, bias_k, softplus, tl, dts, dus) and a_nonpositive
            scan_tile_lanes(dts, dus, a, h, bbuf.T, cbuf.T, ys, acc, tl, decaying)
            _scatter(y, b, e0, nl, pix, ys, xs, d_k, tl, k == k0)


@njit(parallel=True, fastmath=FASTMATH, error_model="numpy", cache=True)
def cross_scan_forward(x, dt, dtw, bs, cs, st, A, D, bias, softplus, y, height, width, tile):
    """Four-direction selective scan and merge, forward; writes y in place.

    Args:
        x, dt, bs, cs: flat (1-D) buffers of x (B, E, H, W), delta (B, 4, E, H, W) or its low-rank factor
            (B, 4, R, H, W), B and C (B, 4, N, H, W), in the compute dtype, each with its channel (state, rank)
            axis contiguous (element stride 1).
        dtw: (4E, R) the dt projection when dt is low-rank (delta[k, e] = dtw[k*E + e] . dt[k]); any array with
            fewer than 4E rows when dt is the full delta.
        st: (4, 4) int64 element strides of (batch, direction, i, j), rows X_ROW, DT_ROW, B_ROW, C_ROW (x's
            direction stride is unused). Zero strides broadcast.
        A: (4E, N) C-contiguous; row k*E + e belongs to channel e of direction k.
        D, bias: (4E,) (zeros when absent).
        softplus: apply softplus (threshold 20) to delta + bias.
        y: (S, B, H*W, E) C-contiguous output, pixel-major; S in {1, 2, 4} groups of directions, slab s holding
            the sum over directions k = s, s + S, ... (S = 1: y[0] is the result).
        height, width: H, W.
        tile: tokens per tile.

    One parallel task per direction group, batch element and block of LANES channels.
    """
    n_groups, bt, _, e = y.shape
    nblk = (e + LANES - 1) // LANES
    for task in prange(n_groups * bt * nblk):
        s = task // (bt * nblk)
        b = (task // nblk) % bt
        e0 = (task % nblk) * LANES
        nl = min(LANES, e - e0)
        _block(x, dt, dtw, bs, cs, st, A, D, bias, softplus, y[s], b, e0, nl, s, n_groups, height, width, tile)


def num_threads():
    """Numba's thread count (``numba.set_num_threads`` / ``NUMBA_NUM_THREADS``)."""
    return numba.get_num_threads()
