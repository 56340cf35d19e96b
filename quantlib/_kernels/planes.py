"""Float queries against packed bits by AND and popcount over bit planes of the quantized query.

A float query ``q`` against bits read as +1/-1 scores ``sum_j q_j s_j`` with
``s_j = 2 b_j - 1``.  Quantized in sign and magnitude, ``q_j ~ scale * v_j`` with
integer ``|v_j| < 2**PLANES``, the sum becomes

``scale * sum_j |v_j| (2 (b_j XOR n_j) - 1) = scale * (2 I(x) - sum_j |v_j|)``

where ``n_j`` says ``v_j < 0`` and ``I(x) = sum_p 2**p popcount(M_p AND (x XOR N))``
over the magnitude planes ``M_p`` (bit ``j`` of ``M_p`` is bit ``p`` of ``|v_j|``)
and the sign plane ``N``: one XOR per word of the row, then one AND, one
popcount and one add per plane, all in integers.  The planes are packed like
the codes (bits most significant first in a byte, eight bytes to a
little-endian word, as :func:`~quantlib._kernels.popcount.load_u64` reads a
row); ``binary`` rows (offset binary: each stored byte is the ``ubinary`` byte
XOR 0x80) fold that flip into ``N``.  Padding bits are zero in every plane.

For any row, ``|q.s - scale * (2 I(x) - S)| <= err = sum_j |q_j - scale v_j|``
(:func:`plane_weights` computes ``err`` and chooses ``scale`` from a small grid
to make it small), so the integer score brackets the float score: the planner
uses it as a first stage whose candidates are then scored exactly
(``quantlib._planner.Plan._topk_signs_planes``).

LLVM vectorizes the popcounts of a row's words with AVX2 (``vpshufb`` nibble
tables and ``vpsadbw``; Zen 3 has no vector popcount instruction): checked in
the machine code of :func:`planes_scores_range`.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._config import EXACT, FAST
from .popcount import load_u64, popcount64, tail_u64
from .topk import push

__all__ = ["PLANES", "pack_planes", "plane_weights", "planes_scores_range", "planes_search_parallel",
           "planes_search_range"]

#: Magnitude planes of the quantized query: ``|v_j| <= 2**PLANES - 1`` (sign and
#: magnitude, 63 levels).  Five planes cost 2.6x a Hamming scan of the same rows
#: (one query, 1M x 1024 bits, Zen 3) against 2.1x for four and 2.9x for six, and
#: their error bound keeps the rows left to score exactly few (see the planner).  The scan
#: (:func:`_block_scores`) is written out for five planes: change both together.
PLANES = 5

#: Fractions of ``max |q| / (2**PLANES - 1)`` tried as the quantization step (the one
#: of least ``err`` wins: clipping the largest few components can pay).
_STEPS = (1.0, 0.9, 0.8, 0.7, 0.6)


@njit(**EXACT)
def plane_weights(Q, V, scale, err):
    """Sign-magnitude integer weights: ``V[q] = clip(rint(Q[q] / scale[q]), -L, L)``, ``L = 2**PLANES - 1``.

    ``scale[q]`` is the step of least ``err[q] = sum_j |Q[q, j] - scale[q] * V[q, j]|``
    (float64) among :data:`_STEPS` times ``max_j |Q[q, j]| / L``; ``err`` bounds how far
    ``scale * (2 I(x) - sum |V|)`` is from the exact score of any row.  A zero query
    gets scale 1, zero weights and zero error.
    """
    m, d = Q.shape
    top = (1 << PLANES) - 1
    for q in range(m):
        most = 0.0
        for j in range(d):
            most = max(most, abs(np.float64(Q[q, j])))
        if most == 0.0:
            scale[q] = 1.0
            err[q] = 0.0
            for j in range(d):
                V[q, j] = 0
            continue
        best = np.inf
        best_sc = 1.0
        for f in _STEPS:
            sc = f * most / top
            e = 0.0
            for j in range(d):
                x = np.float64(Q[q, j])
                r = min(max(np.rint(x / sc), -top), top)
                e += abs(x - sc * r)
            if e < best:
                best = e
                best_sc = sc
        for j in range(d):
            V[q, j] = np.int8(min(max(np.rint(np.float64(Q[q, j]) / best_sc), -top), top))
        scale[q] = best_sc
        err[q] = best


def pack_planes(V: np.ndarray, flip: bool, width: int) -> np.ndarray:
    """The planes of weights ``V`` (int8, ``(m, d)``): uint64 ``(m, PLANES + 1, words)``.

    Plane 0 is the sign plane ``N`` (``V < 0``, XOR 0x80 in every byte for
    offset-binary rows), planes ``1 + p`` the magnitude bits ``p``; each packed to
    ``width`` bytes as the codes are (``np.packbits``, most significant bit first),
    zero-padded to whole little-endian words.
    """
    m, d = V.shape
    words = -(-width // 8)
    out = np.zeros((m, PLANES + 1, 8 * words), np.uint8)
    mag = np.abs(V.astype(np.int16))
    out[:, 0, :width] = np.packbits(V < 0, axis=1)
    if flip:
        out[:, 0, :width] ^= np.uint8(0x80)
    for p in range(PLANES):
        out[:, 1 + p, :width] = np.packbits((mag >> p) & 1, axis=1)
    return out.view("<u8").astype(np.uint64, copy=False)


@njit(**FAST)
def _block_scores(X, P, q, s, e, out):
    """``out[i - s] = I(x_i) = sum_p 2**p popcount(M_p AND (x_i XOR N))`` of query ``q`` for rows s..e.

    One function with the row loop inside: a helper per row taking the planes as
    arguments ran 2-3x slower (not vectorized across the words as this loop is).
    """
    w = X.shape[1]
    full = w // 8
    one = np.uint64(1)
    for i in range(s, e):
        base = i * w
        s0 = np.uint64(0)
        s1 = np.uint64(0)
        s2 = np.uint64(0)
        s3 = np.uint64(0)
        s4 = np.uint64(0)
        for j in range(full):
            x = load_u64(X, base + 8 * j) ^ P[q, 0, j]
            s0 += popcount64(x & P[q, 1, j])
            s1 += popcount64(x & P[q, 2, j])
            s2 += popcount64(x & P[q, 3, j])
            s3 += popcount64(x & P[q, 4, j])
            s4 += popcount64(x & P[q, 5, j])
        if 8 * full < w:
            x = tail_u64(X, i, w, full) ^ P[q, 0, full]
            s0 += popcount64(x & P[q, 1, full])
            s1 += popcount64(x & P[q, 2, full])
            s2 += popcount64(x & P[q, 3, full])
            s3 += popcount64(x & P[q, 4, full])
            s4 += popcount64(x & P[q, 5, full])
        out[i - s] = np.int32(s0 + (s1 << one) + (s2 << np.uint64(2)) + (s3 << np.uint64(3)) + (s4 << np.uint64(4)))


@njit(**FAST)
def planes_scores_range(X, P, r0, r1, rb, out):
    """``out[q, i] = I(x_i)`` for query ``q``'s planes ``P[q]`` and rows r0..r1, ``rb`` rows per block."""
    nq = out.shape[0]
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for q in range(nq):
            _block_scores(X, P, q, s, e, out[q, s:e])


@njit(**EXACT)
def _fold(o, s, q, reach, keys, ids, bk, bi, bn):
    """Offer rows ``s + t`` (integer scores ``o[t]``) to heap ``q`` (key ``-I``), and keep in the
    buffer ``bk[q]``/``bi[q]`` (scores, rows; ``bn[q]`` of them, -1 once it overflowed) every row
    whose ``I`` is at least the heap's ``k``-th less ``reach`` (all rows while the heap is not full)."""
    big = np.iinfo(np.int64).max
    cap = bk.shape[1]
    thr = keys[q, 0]
    n = bn[q]
    for t in range(o.shape[0]):
        v = np.int64(o[t])
        if -v < thr:
            push(keys, ids, q, -v, s + t)
            thr = keys[q, 0]
        if n >= 0 and (thr == big or v >= -thr - reach):
            if n == cap:  # drop what the heap has since left behind
                m = 0
                for u in range(n):
                    if thr == big or bk[q, u] >= -thr - reach:
                        bk[q, m] = bk[q, u]
                        bi[q, m] = bi[q, u]
                        m += 1
                n = m if 4 * m <= 3 * cap else -1  # still most of it: too many rows near the top
            if n >= 0:
                bk[q, n] = v
                bi[q, n] = s + t
                n += 1
    bn[q] = n


@njit(**FAST)
def planes_search_range(X, P, r0, r1, rb, reach, keys, ids, bk, bi, bn):
    """The first stage over rows r0..r1: the ``k`` best rows by integer score ``I`` per query into the
    heaps ``keys``/``ids`` (key ``-I``, int64; heaps in and out, see :mod:`~quantlib._kernels.topk`), and
    every row whose ``I`` comes within ``reach[q]`` of the running ``k``-th into the buffer
    ``bk``/``bi``/``bn`` (:func:`_fold`): a superset of the rows with ``I >= I_k - reach[q]`` at the end."""
    nq = keys.shape[0]
    buf = np.empty(max(1, min(rb, r1 - r0)), np.int32)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for q in range(nq):
            o = buf[:e - s]
            _block_scores(X, P, q, s, e, o)
            _fold(o, s, q, reach[q], keys, ids, bk, bi, bn)


@njit(parallel=True, **FAST)
def planes_search_parallel(X, P, rb, reach, bounds, keys, ids, bk, bi, bn):
    """:func:`planes_search_range` over the row ranges ``bounds[c]:bounds[c + 1]`` in parallel, one heap
    and one buffer per range (``keys``/``ids``/``bk``/``bi``/``bn`` with a leading chunk axis)."""
    for c in prange(bounds.shape[0] - 1):
        planes_search_range(X, P, bounds[c], bounds[c + 1], rb, reach, keys[c], ids[c], bk[c], bi[c], bn[c])
