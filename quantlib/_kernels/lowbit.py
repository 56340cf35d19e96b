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
over the bytes meets the query's weights in order, which vectorises.  One bit
is packed most significant first, eight consecutive components to a byte, as
``ubinary``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._config import EXACT, FAST, ROW_BLOCK
from .drivers import blocks_driver

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
def unpack_rows(codes, bits, r0, r1, out):
    """The grid vectors ``w`` of rows ``r0 .. r1`` as float32 ``(r1 - r0, D)`` (half-integers: exact)."""
    D = out.shape[1]
    w = np.empty(D, np.float64)
    for i in range(r0, r1):
        _unpack_one(codes[i], bits, D, w)
        for j in range(D):
            out[i - r0, j] = np.float32(w[j])


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


@njit(**EXACT)
def prepare_query(qr, bits, out):
    """Weights of the rotated query ``qr`` for the byte-wise dot of :func:`_dot_bytes`.

    A byte ``b`` holding codes ``u_0 .. u_{k-1}`` (``k = 8 / bits``, ``u_m`` in
    bits ``m*bits ..``) is ``b = sum_m u_m 2**(m bits)``; with
    ``h_m = floor(b / 2**(m bits))`` (``h_0 = b``), ``u_m = h_m - 2**bits h_{m+1}``, so
    ``sum_m q_m u_m = sum_m (q_m - 2**bits q_{m-1}) h_m`` (``q_{-1} = 0``).  ``out``
    holds those weights in ``qr``'s order; the scan then needs one conversion and
    ``k - 1`` floors per byte, all float32 vector operations.
    """
    D = qr.shape[0]
    if bits == 1:  # bit t of byte p (most significant first) is component 8p + t; weights by t, then p
        nb = D // 8
        for p in range(nb):
            for t in range(8):
                nxt = qr[8 * p + t + 1] if t < 7 else np.float32(0.0)
                out[t * nb + p] = qr[8 * p + t] - np.float32(2.0) * nxt
        return
    per = 8 // bits
    radix = np.float32(1 << bits)
    nb = D // per
    for j in range(D):
        prev = qr[j - nb] if j >= nb else np.float32(0.0)
        out[j] = qr[j] - radix * prev


@njit(**FAST)
def _dot_bytes(qw, code, bits, D):
    """``sum_j qr_j u_j`` of one 4- or 2-bit row from the weights of :func:`prepare_query`.

    Each byte is converted to float32 once; its codes come out of exact floors
    (``b`` below 256, scaled by powers of two), so the sum is the row's dot up to
    the order of the float32 additions.
    """
    acc = np.float32(0.0)
    if bits == 4:
        nb = D // 2
        for t in range(nb):
            b = np.float32(code[t])
            acc += qw[t] * b + qw[nb + t] * np.floor(b * np.float32(0.0625))
    else:
        nb = D // 4
        for t in range(nb):
            b = np.float32(code[t])
            acc += (qw[t] * b + qw[nb + t] * np.floor(b * np.float32(0.25))
                    + qw[2 * nb + t] * np.floor(b * np.float32(0.0625))
                    + qw[3 * nb + t] * np.floor(b * np.float32(0.015625)))
    return acc


@njit(**FAST)
def _dot_bits(qw, code, D):
    """``sum_j qr_j u_j`` of one 1-bit row from the weights of :func:`prepare_query` (``h = floor(b / 2**(7-t))``)."""
    nb = D // 8
    acc = np.float32(0.0)
    for p in range(nb):
        b = np.float32(code[p])
        acc += (qw[p] * np.floor(b * np.float32(0.0078125)) + qw[nb + p] * np.floor(b * np.float32(0.015625))
                + qw[2 * nb + p] * np.floor(b * np.float32(0.03125)) + qw[3 * nb + p] * np.floor(b * np.float32(0.0625))
                + qw[4 * nb + p] * np.floor(b * np.float32(0.125)) + qw[5 * nb + p] * np.floor(b * np.float32(0.25))
                + qw[6 * nb + p] * np.floor(b * np.float32(0.5)) + qw[7 * nb + p] * b)
    return acc


@njit(**FAST)
def _score_rows(QR, QW, base, qsum, codes, factors, bits, out, r0, r1):
    D = QR.shape[1]
    half = np.float32(0.5 * ((1 << bits) - 1))
    for i in range(r0, r1):
        f = factors[i]
        code = codes[i]
        for q in range(QR.shape[0]):
            if bits == 1:
                dot = _dot_bits(QW[q], code, D)
            else:
                dot = _dot_bytes(QW[q], code, bits, D)
            out[q, i] = base[q] + f * (dot - half * qsum[q])


@njit(**FAST)
def scores(QR, QW, base, qsum, codes, factors, bits, out):
    """``out[q, i] = base[q] + f_i ((R q) . w_i)``: float queries against the codes, every row.

    ``QR`` holds the rotated queries ``R q`` (float32 ``(m, D)``), ``QW`` their
    scan weights (:func:`weights`), ``base`` the ``q . shift`` terms and ``qsum``
    the sums of ``R q``, so that ``(R q) . w = (R q) . u - (L/2) sum(R q)``.
    """
    _score_rows(QR, QW, base, qsum, codes, factors, bits, out, 0, codes.shape[0])


_score_blocks = blocks_driver(_score_rows, rows="codes", block=ROW_BLOCK)


@njit(**FAST)
def scores_parallel(QR, QW, base, qsum, codes, factors, bits, out):
    """Row-block parallel twin of :func:`scores`."""
    _score_blocks(QR, QW, base, qsum, codes, factors, bits, out)


@njit(**EXACT)
def weights(QR, bits):
    """The scan weights (:func:`prepare_query`) of each rotated query, ``(m, D)`` float32."""
    QW = np.empty_like(QR)
    for q in range(QR.shape[0]):
        prepare_query(QR[q], bits, QW[q])
    return QW
