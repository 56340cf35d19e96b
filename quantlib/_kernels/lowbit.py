"""Kernels of the rotated low-bit codes: the structured rotation, per-vector codes, packing, scoring.

The rotation ``R`` of a padded dimension ``D`` (a multiple of 64) is ``ROUNDS``
rounds of: flip the signs given by ``signs[r]``, apply the orthonormal
Walsh-Hadamard transform to each block of ``B`` consecutive components (``B``
the largest power of two dividing ``D``, at most 1024), then permute by
``perms[r]`` (``out[j] = in[perm[j]]``).  Each step is a fixed sequence of
float32 adds, subtracts and one multiply by ``1/sqrt(B)`` per round, with
no reassociation or contraction (``EXACT``), so the rotated values are the
same bits on every machine.

A rotated residual ``r`` (``D`` values) becomes codes ``u`` in ``0..L``
(``L = 2**bits - 1``) standing for the half-integer grid ``w = u - L/2``, and
one float32 factor ``f = (r . r) / (r . w)``, RaBitQ's unbiased scale: for a
query direction spread evenly over the rotated components, ``f (q . w)``
estimates ``q . r`` without bias.  (The least-squares ``(r . w) / (w . w)``
ranked slightly worse: recall@10 on the bundled sample, mean over 8 rotation
seeds, 0.944 against 0.946 at 4 bits and 0.668 against 0.679 at 1 bit.)
The grid vector is chosen to maximise the cosine between ``r`` and ``w``:
``|w_j| = min(floor(|r_j| t) + 1/2, L/2)`` with the sign of ``r_j``, over a
geometric grid of ``t`` refined once around its best point (it matched the
exact optimum, found by sweeping every breakpoint, on the bundled sample).  One
bit is the sign alone.

Packing (the bit order): a row of ``nb = D * bits / 8`` bytes, byte ``t`` holding
the codes of components ``t + m * nb`` for ``m = 0 .. 8/bits - 1``, code ``m`` in
bits ``m*bits .. (m+1)*bits - 1`` counted from the least significant (4 bits:
component ``t`` in the low nibble, ``t + D/2`` in the high one).  So the codes
of one ``m`` over consecutive bytes are consecutive components, and a scan
over the bytes meets the query's components in order, which vectorises
(:mod:`quantlib._kernels.lowdot`).  One bit
is packed most significant first, eight consecutive components to a byte, as
``ubinary``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._config import EXACT, ROW_BLOCK
from .codecs import _prefetch_row
from .drivers import blocks_driver
from .lowdot import STEP, tile_1x4_b1, tile_1x4_b2, tile_1x4_b4, tile_4x2_b1, tile_4x2_b2, tile_4x2_b4

#: Points of the first, geometric grid over ``t * max|r|`` and of its refinement.
GRID = 24
REFINE = 16


@njit(**EXACT)
def _fwht_blocks(v, B, scale):
    """Orthonormal Walsh-Hadamard transform of each block of ``B`` components of ``v``, in place."""
    D = v.shape[0]
    for o in range(0, D, B):
        h = 1
        while h < B:
            for s in range(o, o + B, 2 * h):
                for j in range(s, s + h):
                    a = v[j]
                    b = v[j + h]
                    v[j] = a + b
                    v[j + h] = a - b
            h *= 2
        for j in range(o, o + B):
            v[j] = v[j] * scale


@njit(**EXACT)
def _rotate_one(v, signs, perms, B, scale, tmp):
    """Rotate ``v`` (``D`` float32 values) in place: the rounds of the module docstring."""
    D = v.shape[0]
    for r in range(signs.shape[0]):
        for j in range(D):
            v[j] = v[j] * signs[r, j]
        _fwht_blocks(v, B, scale)
        for j in range(D):
            tmp[j] = v[perms[r, j]]
        for j in range(D):
            v[j] = tmp[j]


@njit(**EXACT)
def _unrotate_one(v, signs, perms, B, scale, tmp):
    """The inverse of :func:`_rotate_one` (the transpose: rounds backwards, each undone)."""
    D = v.shape[0]
    for r in range(signs.shape[0] - 1, -1, -1):
        for j in range(D):
            tmp[perms[r, j]] = v[j]
        for j in range(D):
            v[j] = tmp[j]
        _fwht_blocks(v, B, scale)
        for j in range(D):
            v[j] = v[j] * signs[r, j]


@njit(**EXACT)
def rotate_rows(x, shift, signs, perms, B, scale, out):
    """``out[i] = R (x[i] - shift)`` with ``x[i]`` zero-padded to ``D = out.shape[1]``; float32."""
    n, d = x.shape
    D = out.shape[1]
    tmp = np.empty(D, np.float32)
    for i in range(n):
        v = out[i]
        for j in range(d):
            v[j] = np.float32(x[i, j]) - shift[j]
        for j in range(d, D):
            v[j] = np.float32(0.0)
        _rotate_one(v, signs, perms, B, scale, tmp)


#: Independent partial sums of the grid search: a fixed order of float64 additions (the same bits on every
#: machine) that LLVM can still keep in vector registers.
LANES = 8


@njit(**EXACT)
def _grid_sums(a, L, t, parts):
    """``(r . w, w . w)`` of the grid vector ``|w_j| = min(floor(a_j t) + 1/2, L/2)``, ``a = |r|``.

    Summed in :data:`LANES` partial sums over components ``j = LANES * i + lane``,
    then the lanes in order: a fixed order, so the choice of ``t`` is the same
    everywhere.
    """
    half = 0.5 * L
    D = a.shape[0]
    for lane in range(2 * LANES):
        parts[lane] = 0.0
    for j0 in range(0, D, LANES):
        for lane in range(LANES):
            v = a[j0 + lane]
            m = min(np.floor(v * t) + 0.5, half)
            parts[lane] += v * m
            parts[LANES + lane] += m * m
    rw = 0.0
    ww = 0.0
    for lane in range(LANES):
        rw += parts[lane]
        ww += parts[LANES + lane]
    return rw, ww


@njit(**EXACT)
def _codes_one(r, bits, a, parts, best):
    """The grid vector of ``r`` (into ``best``) and its factor ``(r . r) / (r . w)`` (0 for ``r = 0``)."""
    D = r.shape[0]
    L = (1 << bits) - 1
    amax = 0.0
    rr = 0.0
    for j in range(D):
        v = np.float64(r[j])
        a[j] = abs(v)
        amax = max(amax, a[j])
        rr += v * v
    if bits == 1 or amax == 0.0:
        rw = 0.0
        for j in range(D):
            best[j] = 0.5 if r[j] >= 0 else -0.5
            rw += 0.5 * a[j]
        return rr / rw if rw > 0.0 else 0.0
    half = 0.5 * L
    lo = (half - 0.5) / amax
    hi = 3.5 * (half + 0.5) / amax
    ratio = (hi / lo) ** (1.0 / (GRID - 1))
    best_val = -1.0
    best_t = lo
    t = lo
    for _ in range(GRID):
        rw, ww = _grid_sums(a, L, t, parts)
        val = rw * rw / ww
        if val > best_val:
            best_val = val
            best_t = t
        t *= ratio
    start = best_t / ratio
    step = (best_t * ratio - start) / (REFINE - 1)
    for g in range(REFINE):
        t = start + g * step
        rw, ww = _grid_sums(a, L, t, parts)
        val = rw * rw / ww
        if val > best_val:
            best_val = val
            best_t = t
    rw = 0.0
    for j in range(D):
        m = min(np.floor(a[j] * best_t) + 0.5, half)
        best[j] = m if r[j] >= 0 else -m
        rw += a[j] * m
    return rr / rw


@njit(**EXACT)
def _pack_one(w, bits, half, out):
    """Pack the grid vector ``w`` (codes ``u = w + L/2``) into ``out`` in the documented order."""
    D = w.shape[0]
    if bits == 1:
        for p in range(D // 8):
            byte = 0
            for t in range(8):
                if w[8 * p + t] > 0:
                    byte |= 1 << (7 - t)
            out[p] = byte
        return
    per = 8 // bits
    nb = D // per
    for t in range(nb):
        byte = 0
        for m in range(per):
            u = np.int64(w[t + m * nb] + half)
            byte |= u << (m * bits)
        out[t] = byte


@njit(**EXACT)
def _encode_rows(x, shift, signs, perms, B, scale, bits, codes, factors, r0, r1):
    D = signs.shape[1]
    d = x.shape[1]
    v = np.empty(D, np.float32)
    tmp = np.empty(D, np.float32)
    a = np.empty(D, np.float64)
    parts = np.empty(2 * LANES, np.float64)
    best = np.empty(D, np.float64)
    half = 0.5 * ((1 << bits) - 1)
    for i in range(r0, r1):
        for j in range(d):
            v[j] = np.float32(x[i, j]) - shift[j]
        for j in range(d, D):
            v[j] = np.float32(0.0)
        _rotate_one(v, signs, perms, B, scale, tmp)
        factors[i] = np.float32(_codes_one(v, bits, a, parts, best))
        _pack_one(best, bits, half, codes[i])


@njit(**EXACT)
def encode(x, shift, signs, perms, B, scale, bits, codes, factors):
    """Codes into the first ``D * bits / 8`` bytes of each row of ``codes`` (uint8; wider rows keep their other
    bytes) and float32 factors ``(n,)`` of the rows of ``x``.  The readers below likewise read only those bytes
    of each row, so a stored row (codes, then its factor) is passed whole and C-contiguous."""
    _encode_rows(x, shift, signs, perms, B, scale, bits, codes, factors, 0, x.shape[0])


#: ``encode_parallel(x, shift, signs, perms, B, scale, bits, codes, factors)``: the row-block
#: parallel twin of :func:`encode` (the same bits).
encode_parallel = blocks_driver(_encode_rows, rows="x", block=ROW_BLOCK, fast=False)


@njit(**EXACT)
def _unpack_one(code, bits, D, w):
    """The grid vector ``w = u - L/2`` of one packed row."""
    if bits == 1:
        for p in range(D // 8):
            byte = code[p]
            for t in range(8):
                w[8 * p + t] = 0.5 if (byte >> (7 - t)) & 1 else -0.5
        return
    per = 8 // bits
    mask = (1 << bits) - 1
    half = 0.5 * mask
    nb = D // per
    for t in range(nb):
        byte = np.int64(code[t])
        for m in range(per):
            w[t + m * nb] = np.float64((byte >> (m * bits)) & mask) - half


@njit(**EXACT)
def decode(codes, factors, shift, signs, perms, B, scale, bits, out):
    """``out[i] = shift + R^T (f_i w_i)``, the first ``out.shape[1]`` components, float32."""
    n, d = out.shape
    D = signs.shape[1]
    w = np.empty(D, np.float64)
    v = np.empty(D, np.float32)
    tmp = np.empty(D, np.float32)
    for i in range(n):
        _unpack_one(codes[i], bits, D, w)
        f = np.float64(factors[i])
        for j in range(D):
            v[j] = np.float32(f * w[j])
        _unrotate_one(v, signs, perms, B, scale, tmp)
        for j in range(d):
            out[i, j] = shift[j] + v[j]


#: Bytes of codes per row block of :func:`int_scores` (each block stays in L2 while every query passes over it).
BLOCK_BYTES = 1 << 17


def int_query(QR, bits):
    """The rotated queries ``QR`` (float32 ``(m, D)``) as int16 ``V`` and power-of-two scales ``s``.

    ``V = rint(QR / s)`` with ``s = 2**e`` the smallest power of two above
    ``max|QR| / vmax`` (so ``max|V| <= vmax``), ``vmax = min(32767, (2**31 - 1) // (L * D))``
    (``L = 2**bits - 1``): every int32 sum of ``V`` times codes ``0..L`` is exact,
    and ``|QR_j - s V_j| <= s / 2 <= max|QR| / vmax``.  Returns ``(W, s, corr)``:
    ``V`` laid out for :mod:`quantlib._kernels.lowdot` (field ``m`` of byte ``t``
    meets ``W[q, m * nb + t]``; one bit per code is stored most significant first,
    so its components are reordered), float64 ``s`` and ``corr = L * sum(V)``
    (int64), so that ``V . w = (2 V . u - corr) / 2`` for ``w = u - L/2``.
    A numpy function (called once per batch); :func:`int_scores` scans.
    """
    m, D = QR.shape
    L = (1 << bits) - 1
    vmax = min(32767, (2**31 - 1) // (L * D))
    amax = np.abs(QR).max(axis=1, initial=0.0).astype(np.float64)
    _, e = np.frexp(amax / vmax)  # amax / vmax = f * 2**e with 0.5 <= f < 1 (e = 0 for 0): 2**e > it
    s = np.ldexp(1.0, e)
    V = np.rint(QR.astype(np.float64) / s[:, None]).astype(np.int16)
    corr = L * V.sum(axis=1, dtype=np.int64)
    if bits == 1:  # bit m (from the least significant) of byte p is component 8p + 7 - m
        nb = D // 8
        V = np.ascontiguousarray(V.reshape(m, nb, 8)[:, :, ::-1].transpose(0, 2, 1).reshape(m, D))
    return V, s, corr


@njit(**EXACT)
def _put(out, q, i, dot, base, factors, scl, corr):
    """``out[q, i] = base[q] + f_i (scl[q] (2 dot - corr[q]))`` in float64, rounded once to float32."""
    t = np.float64(2 * np.int64(dot) - corr[q])
    out[q, i] = np.float32(np.float64(base[q]) + np.float64(factors[i]) * (scl[q] * t))


@njit(**EXACT)
def _tail(W, codes, bits, nb, n16, q, i):
    """The integer dot of query row ``q`` and row ``i`` over the bytes ``n16 .. nb`` the tiles leave."""
    per = 8 // bits
    mask = (1 << bits) - 1
    acc = np.int64(0)
    for t in range(n16, nb):
        b = np.int64(codes[i, t])
        for m in range(per):
            acc += np.int64(W[q, m * nb + t]) * ((b >> (m * bits)) & mask)
    return acc


@njit(**EXACT)
def _tile4(W, codes, bits, q, i, j, n16):
    nb = W.shape[1] * bits // 8
    if bits == 4:
        return tile_4x2_b4(W, codes, q, (i, j), n16, nb)
    if bits == 2:
        return tile_4x2_b2(W, codes, q, (i, j), n16, nb)
    return tile_4x2_b1(W, codes, q, (i, j), n16, nb)


@njit(**EXACT)
def _tile1(W, codes, bits, q, rows, n16):
    nb = W.shape[1] * bits // 8
    if bits == 4:
        return tile_1x4_b4(W, codes, q, rows, n16, nb)
    if bits == 2:
        return tile_1x4_b2(W, codes, q, rows, n16, nb)
    return tile_1x4_b1(W, codes, q, rows, n16, nb)


@njit(**EXACT)
def _int_rows(W, codes, bits, factors, base, scl, corr, out, r0, r1):
    nq, D = W.shape
    nb = D * bits // 8
    n16 = nb - nb % STEP
    block = max(2, BLOCK_BYTES // max(1, codes.shape[1]))
    for b0 in range(r0, r1, block):
        b1 = min(r1, b0 + block)
        q = 0
        while q + 4 <= nq:
            for i in range(b0, b1, 2):
                j = min(i + 1, b1 - 1)
                s = _tile4(W, codes, bits, q, i, j, n16)
                for t in range(4):
                    di = np.int64(s[t])
                    dj = np.int64(s[4 + t])
                    if n16 < nb:
                        di += _tail(W, codes, bits, nb, n16, q + t, i)
                        dj += _tail(W, codes, bits, nb, n16, q + t, j)
                    _put(out, q + t, i, di, base, factors, scl, corr)
                    _put(out, q + t, j, dj, base, factors, scl, corr)
            q += 4
        while q < nq:
            for i in range(b0, b1, 4):
                last = b1 - 1
                rows = (i, min(i + 1, last), min(i + 2, last), min(i + 3, last))
                for r in range(4):  # a one-query scan streams the rows: ask for them early
                    _prefetch_row(codes, rows[r])
                s = _tile1(W, codes, bits, q, rows, n16)
                for r in range(4):
                    dr = np.int64(s[r])
                    if n16 < nb:
                        dr += _tail(W, codes, bits, nb, n16, q, rows[r])
                    _put(out, q, rows[r], dr, base, factors, scl, corr)
            q += 1


@njit(**EXACT)
def int_scores(W, codes, bits, factors, base, scl, corr, out):
    """``out[q, i] = base[q] + f_i ((s_q / 2) (2 V_q . u_i - corr_q))``: float queries against the codes.

    ``W``, ``scl = s / 2`` and ``corr`` come from :func:`int_query`, ``base``
    holds the ``q . c`` terms (float32) and ``factors`` the rows' factors.  The
    integer dot ``V_q . u_i`` is exact and the rest is three float64 roundings
    and one to float32 in this order, so the scores do not depend on the tile,
    the block or the thread that computes them.
    """
    _int_rows(W, codes, bits, factors, base, scl, corr, out, 0, codes.shape[0])


#: ``int_scores_parallel(...)``: the row-block parallel twin of :func:`int_scores` (the same bits).
int_scores_parallel = blocks_driver(_int_rows, rows="codes", block=ROW_BLOCK, fast=False)
