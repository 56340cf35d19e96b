"""Kernels over packed bit rows: Hamming counts and float queries against bits.

Rows are ``uint8`` bytes, ``w`` per row, bits most significant first (the
``binary`` precision is viewed as ``uint8`` by the caller: XOR of two
offset-binary bytes equals XOR of the plain bytes, so counts are the same).

``hamming``: the number of differing bits, not normalised.  Rows are read
eight bytes at a time (:func:`~quantlib._kernels.popcount.load_u64`, any
width, no copy), XOR-ed with the query words and counted with the hardware
popcount.  The last ``w % 8`` bytes of a row form one partial word (high bytes
zero); queries arrive as ``uint64`` words built the same way.  Padding bits are
zero in both, so they never count.

``signs``: a float query against bits read as +1/-1 (the first ``d`` bits;
padding ignored), by table lookup (:mod:`~quantlib._kernels.lut`): per byte
position a table of the query's partial score for each of the 256 byte values,
``G`` queries side by side, so a row costs one vector load and add per byte
for ``G`` queries instead of eight multiply-adds per query.  Measured here
(AVX2, 100 queries, 200,000 x 1024 bits) 2.2-2.9x faster than unpacking a block
of rows to float32 signs and multiplying (the previous kernel).

A batch of float queries searched over bits first scans int16 tables of
integer query weights (:func:`signs16_search_range`, 32 queries per table
vector: half the table bytes and adds per query), keeping ``2k + 16`` rows by
integer score; :func:`signs_finish` scores those exactly as the float tables
would and certifies, from the weights' error bound, that no other row can reach
the top k (``quantlib.metrics.Plan._topk_signs_wide``).

The Hamming kernels score four queries per pass over a row, the table kernels
``G``; both take rows ``rb`` at a time so a block stays in cache while every
query tile passes over it.  Each family is written once as range kernels over
rows r0..r1, a ``*_scores_range`` and a ``_*_heap_range`` that folds rows into
top-k heaps (:mod:`~quantlib._kernels.topk`); the serial ``*_search_range``
(lists sorted best first in and out) and the ``*_parallel`` drivers (prange over
row blocks for scores, over row chunks for search, one heap per chunk merged by
:func:`~quantlib._kernels.topk.merge`) are made from them by
:mod:`~quantlib._kernels.drivers`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._config import EXACT, FAST
from .drivers import blocks_driver, search_drivers
from .lut import WIDE_SPAN, lut16_rows_1, lut16_rows_8, lut_rows_1, lut_rows_8, signs_row, signs_terms
from .popcount import load_u64, popcount64, tail_u64
from .topk import finish, offer, push


@njit(**FAST)
def _hamming_one(X, Q, r0, r1, buf):
    """:func:`_hamming_tile` for a single query (``Q`` has one row)."""
    w = X.shape[1]
    full = w // 8
    a = Q[0]
    for i in range(r0, r1):
        base = i * w
        s0 = np.uint64(0)
        for j in range(full):
            s0 += popcount64(load_u64(X, base + 8 * j) ^ a[j])
        if 8 * full < w:
            s0 += popcount64(tail_u64(X, i, w, full) ^ a[full])
        buf[0, i - r0] = np.int64(s0)


@njit(**EXACT)
def _hamming_fill(X, Q, q0, r0, r1, buf):
    if Q.shape[0] == 1:
        _hamming_one(X, Q, r0, r1, buf)
    else:
        _hamming_tile(X, Q, q0, r0, r1, buf)


@njit(**FAST)
def _hamming_tile(X, Q, q0, r0, r1, buf):
    """``buf[t, i - r0]`` = Hamming count of query ``q0 + t`` (t < 4) and row ``i``."""
    w = X.shape[1]
    full = w // 8
    a = Q[q0]
    b = Q[q0 + 1]
    c = Q[q0 + 2]
    e = Q[q0 + 3]
    for i in range(r0, r1):
        base = i * w
        s0 = np.uint64(0)
        s1 = np.uint64(0)
        s2 = np.uint64(0)
        s3 = np.uint64(0)
        for j in range(full):
            x = load_u64(X, base + 8 * j)
            s0 += popcount64(x ^ a[j])
            s1 += popcount64(x ^ b[j])
            s2 += popcount64(x ^ c[j])
            s3 += popcount64(x ^ e[j])
        if 8 * full < w:
            x = tail_u64(X, i, w, full)
            s0 += popcount64(x ^ a[full])
            s1 += popcount64(x ^ b[full])
            s2 += popcount64(x ^ c[full])
            s3 += popcount64(x ^ e[full])
        o = i - r0
        buf[0, o] = np.int64(s0)
        buf[1, o] = np.int64(s1)
        buf[2, o] = np.int64(s2)
        buf[3, o] = np.int64(s3)


@njit(**FAST)
def hamming_scores_range(X, Q, r0, r1, rb, out):
    """``out[q, i]`` = Hamming count of query ``q`` and row ``i`` for rows r0..r1."""
    nq = out.shape[0]
    buf = np.empty((4, rb), np.int64)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for q0 in range(0, Q.shape[0], 4):
            _hamming_fill(X, Q, q0, s, e, buf)
            for t in range(min(4, nq - q0)):
                o = out[q0 + t]
                for i in range(s, e):
                    o[i] = buf[t, i - s]


@njit(**FAST)
def _hamming_heap_range(X, Q, r0, r1, rb, keys, ids):
    """Fold rows r0..r1 into the top-k heaps (:mod:`~quantlib._kernels.topk`); the key is the Hamming count."""
    nq, k = keys.shape
    buf = np.empty((4, rb), np.int64)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for q0 in range(0, Q.shape[0], 4):
            _hamming_fill(X, Q, q0, s, e, buf)
            for t in range(min(4, nq - q0)):
                q = q0 + t
                thr = keys[q, 0]
                for i in range(s, e):
                    key = buf[t, i - s]
                    if key < thr:
                        push(keys, ids, q, key, i)
                        thr = keys[q, 0]


#: ``hamming_scores_parallel(X, Q, rb, out)``: :func:`hamming_scores_range` over all rows, one
#: row block per work item.
hamming_scores_parallel = blocks_driver(hamming_scores_range)

#: ``hamming_search_range(X, Q, r0, r1, rb, keys, ids)``: fold rows r0..r1 into the top-k lists
#: (sorted best first in and out); the key is the Hamming count.
#: ``hamming_search_parallel(X, Q, rb, nchunks, keys, ids)``: the same over ``nchunks`` row ranges
#: in parallel, then merged.
hamming_search_range, hamming_search_parallel = search_drivers(_hamming_heap_range)


#: Byte positions per pass of the table kernels: 16 tables of ``256 * G`` floats (256 KB at
#: G = 16) stay in L2 while a block of rows passes; 8 and 32 measured 10-30% slower here.
SIGNS_BYTES_PER_PASS = 16


@njit(**EXACT)
def _signs_block(T, X, s, e, acc):
    """``acc[i - s, g]`` = ``sum_p T[p, X[i, p], g]`` for rows s..e (one table group ``T``)."""
    w = X.shape[1]
    for i in range(e - s):
        for g in range(acc.shape[1]):
            acc[i, g] = 0.0
    for p0 in range(0, w, SIGNS_BYTES_PER_PASS):
        p1 = min(w, p0 + SIGNS_BYTES_PER_PASS)
        i = s
        while i + 8 <= e:
            lut_rows_8(T, X, i, i - s, p0, p1, acc)
            i += 8
        while i < e:
            lut_rows_1(T, X, i, i - s, p0, p1, acc)
            i += 1


@njit(**EXACT)
def signs_scores_range(X, T, A, B, r0, r1, rb, out):
    """``out[q, i]`` = float query ``q`` against row ``i`` read as +1/-1, times ``A[q]``, plus ``B[q]``.

    ``T`` holds the queries' byte tables (:func:`~quantlib._kernels.lut.build_tables`),
    ``T.shape[3]`` queries per group; rows are taken ``rb`` at a time and every
    group's tables pass over a block.
    """
    nq = out.shape[0]
    G = T.shape[3]
    acc = np.empty((max(1, min(rb, r1 - r0)), G), np.float32)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for c in range(T.shape[0]):
            _signs_block(T[c], X, s, e, acc)
            for g in range(min(G, nq - c * G)):
                q = c * G + g
                a = A[q]
                b = B[q]
                o = out[q]
                for i in range(s, e):
                    o[i] = acc[i - s, g] * a + b


@njit(**EXACT)
def _signs_heap_range(X, T, A, B, r0, r1, rb, keys, ids):
    """Fold rows r0..r1 into the top-k heaps (:mod:`~quantlib._kernels.topk`); the key is the negated score."""
    nq, k = keys.shape
    G = T.shape[3]
    acc = np.empty((max(1, min(rb, r1 - r0)), G), np.float32)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for c in range(T.shape[0]):
            _signs_block(T[c], X, s, e, acc)
            for g in range(min(G, nq - c * G)):
                q = c * G + g
                a = A[q]
                b = B[q]
                thr = keys[q, 0]
                for i in range(s, e):
                    key = -(acc[i - s, g] * a + b)
                    if key < thr:
                        push(keys, ids, q, key, i)
                        thr = keys[q, 0]


#: ``signs_scores_parallel(X, T, A, B, rb, out)``: :func:`signs_scores_range` over all rows, one
#: row block per work item.
signs_scores_parallel = blocks_driver(signs_scores_range, fast=False)

#: ``signs_search_range(X, T, A, B, r0, r1, rb, keys, ids)``: fold rows r0..r1 into the top-k lists
#: (sorted best first in and out); ``signs_search_parallel(X, T, A, B, rb, nchunks, keys, ids)``:
#: the same over ``nchunks`` row ranges in parallel, then merged.
signs_search_range, signs_search_parallel = search_drivers(_signs_heap_range, fast=False)


# ---------------------------------------------------------------------------
# The int16 first stage of a float-query search over bits, and its exact finish
# ---------------------------------------------------------------------------


@njit(**EXACT)
def _signs16_block(T, X, s, e, acc):
    """``acc[i - s, g]`` = ``sum_p T[p, X[i, p], g]`` in int32 for rows s..e (one int16 table group)."""
    w = X.shape[1]
    for i in range(e - s):
        for g in range(acc.shape[1]):
            acc[i, g] = 0
    for p0 in range(0, w, WIDE_SPAN):  # the windows int16_weights bounded: no int16 lane overflows
        p1 = min(w, p0 + WIDE_SPAN)
        i = s
        while i + 8 <= e:
            lut16_rows_8(T, X, i, i - s, p0, p1, acc)
            i += 8
        while i < e:
            lut16_rows_1(T, X, i, i - s, p0, p1, acc)
            i += 1


@njit(**EXACT)
def _signs16_heap_range(X, T, r0, r1, rb, keys, ids):
    """Fold rows r0..r1 into int64 top-k heaps of the integer scores (key = -score), ``T`` int16 groups."""
    nq, k = keys.shape
    G = T.shape[3]
    acc = np.empty((max(1, min(rb, r1 - r0)), G), np.int32)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for c in range(T.shape[0]):
            _signs16_block(T[c], X, s, e, acc)
            for g in range(min(G, nq - c * G)):
                q = c * G + g
                thr = keys[q, 0]
                for i in range(s, e):
                    key = -np.int64(acc[i - s, g])
                    if key < thr:
                        push(keys, ids, q, key, i)
                        thr = keys[q, 0]


#: ``signs16_search_range(X, T, r0, r1, rb, keys, ids)``: fold rows r0..r1 into int64 top-k lists
#: (sorted best first in and out); ``signs16_search_parallel(X, T, rb, nchunks, keys, ids)``: the
#: same over ``nchunks`` row ranges in parallel, then merged.
signs16_search_range, signs16_search_parallel = search_drivers(_signs16_heap_range, fast=False)


@njit(**EXACT)
def signs_finish(Q, X, flip, cand, A, B, bound, keys, ids):
    """Exact float keys of the candidates, the best ``k`` of them, and whether that is the true top-k.

    ``cand[q]`` are the rows the int16 stage kept (sorted by integer score, -1
    for an empty slot); each is scored as the table kernels score it
    (:func:`~quantlib._kernels.lut.signs_row`: the same float32 entries added in
    byte order from 0, then ``-(acc * A + B)``), and the best ``k = keys.shape[1]``
    by (key, row) go to ``keys[q]``/``ids[q]``.  ``bound[q]`` is a float32 upper
    bound of the float sum of every row *not* kept; row ``q`` is certified
    (``ok[q]``) when a row at that bound would still rank strictly after the k-th
    key, so no row outside the candidates can enter the top-k, not even on a tie.
    """
    nq, kk = cand.shape
    k = keys.shape[1]
    w = X.shape[1]
    ok = np.zeros(nq, np.bool_)
    cand_keys = np.empty(kk, np.float32)
    base = np.empty(w, np.float64)
    two = np.empty(8 * w, np.float64)
    for q in range(nq):
        a = A[q]
        b = B[q]
        signs_terms(Q, q, base, two)
        for t in range(kk):
            if cand[q, t] < 0:  # an empty slot (fewer rows than candidates): never a result
                cand_keys[t] = np.inf
                continue
            acc = signs_row(X[cand[q, t]], flip, base, two)
            cand_keys[t] = -(acc * a + b)
        keys[q, :] = np.inf  # an empty heap
        ids[q, :] = -1
        for t in range(kk):  # candidates come in any row order: the heap ranks by (key, row)
            if cand[q, t] >= 0:
                offer(keys, ids, q, cand_keys[t], cand[q, t])
    finish(keys, ids)
    for q in range(nq):
        a = A[q]
        b = B[q]
        last = keys[q, k - 1]
        u = bound[q]
        # a non-finite k-th key or bound (float32 overflow) is never certified: the exact scan decides
        ok[q] = np.isfinite(last) and np.isfinite(u) and -(u * a + b) > last
    return ok
