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
from numba import njit, types
from numba.extending import overload

from ._config import EXACT, FAST
from .drivers import blocks_driver, search_drivers
from .lut import WIDE_SPAN, lut16_rows_1, lut16_rows_8, lut_rows_1, lut_rows_8, signs_row, signs_terms
from .popcount import load_u64, popcount64, tail_u64
from .sinks import affine, emit, n_queries
from .topk import finish, offer


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


@njit(inline="always")
def _hamming_scan(X, Q, r0, r1, rb, sink):
    """Hamming counts of rows r0..r1, block by block, into ``sink`` (:mod:`~quantlib._kernels.sinks`; key = count)."""
    nq = n_queries(sink)
    buf = np.empty((4, rb), np.int64)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for q0 in range(0, Q.shape[0], 4):
            _hamming_fill(X, Q, q0, s, e, buf)
            for t in range(min(4, nq - q0)):
                emit(sink, q0 + t, buf[t], s, e, None, None, False)


@njit(**FAST)
def hamming_scores_range(X, Q, r0, r1, rb, out):
    """``out[q, i]`` = Hamming count of query ``q`` and row ``i`` for rows r0..r1."""
    _hamming_scan(X, Q, r0, r1, rb, out)


@njit(**FAST)
def _hamming_heap_range(X, Q, r0, r1, rb, keys, ids):
    """Fold rows r0..r1 into the top-k heaps (:mod:`~quantlib._kernels.topk`); the key is the Hamming count."""
    _hamming_scan(X, Q, r0, r1, rb, (keys, ids))


#: ``hamming_scores_parallel(X, Q, rb, out)``: :func:`hamming_scores_range` over all rows, one
#: row block per work item.
hamming_scores_parallel = blocks_driver(hamming_scores_range)

#: ``hamming_search_range(X, Q, r0, r1, rb, keys, ids)``: fold rows r0..r1 into the top-k lists
#: (sorted best first in and out); the key is the Hamming count.
#: ``hamming_search_parallel(X, Q, rb, nchunks, keys, ids)``: the same over ``nchunks`` row ranges
#: in parallel, then merged.
hamming_search_range, hamming_search_parallel = search_drivers(_hamming_heap_range)


#: Byte positions per pass of the float table kernels: 16 tables of ``256 * G`` floats (256 KB
#: at G = 16) stay in L2 while a block of rows passes; 8 and 32 measured 10-30% slower here.
SIGNS_BYTES_PER_PASS = 16

# The float tables (float32 ``T``, G queries a group) and the int16 tables of the first stage
# (int16 ``T``, int32 sums) share their kernels; the overloads below give what differs.


def _span(T):  # pragma: no cover - replaced by the overload inside kernels
    """Byte positions per pass: :data:`SIGNS_BYTES_PER_PASS`, or for int16 tables the windows
    :func:`~quantlib._kernels.lut.int16_weights` bounded (no int16 lane overflows within one)."""
    raise NotImplementedError


@overload(_span, inline="always")
def _span_impl(T):
    if T.dtype == types.int16:
        return lambda T: WIDE_SPAN
    return lambda T: SIGNS_BYTES_PER_PASS


def _lut_rows(T, X, i, o, p0, p1, acc, nrows):  # pragma: no cover - replaced by the overload inside kernels
    """:func:`~quantlib._kernels.lut.lut_rows_8` or ``lut_rows_1`` (``nrows``, a constant: 8 or 1),
    or their int16 twins for int16 ``T``."""
    raise NotImplementedError


@overload(_lut_rows, inline="always", prefer_literal=True)
def _lut_rows_impl(T, X, i, o, p0, p1, acc, nrows):
    if not isinstance(nrows, types.IntegerLiteral):
        return None
    wide = T.dtype == types.int16
    rows = {(8, False): lut_rows_8, (1, False): lut_rows_1, (8, True): lut16_rows_8, (1, True): lut16_rows_1}[
        nrows.literal_value, wide]
    return lambda T, X, i, o, p0, p1, acc, nrows: rows(T, X, i, o, p0, p1, acc)


def _acc(T, n, G):  # pragma: no cover - replaced by the overload inside kernels
    """The ``(n, G)`` sums of a block: float32 for float tables, int32 for int16 ones."""
    raise NotImplementedError


@overload(_acc, inline="always")
def _acc_impl(T, n, G):
    if T.dtype == types.int16:
        return lambda T, n, G: np.empty((n, G), np.int32)
    return lambda T, n, G: np.empty((n, G), np.float32)


def _at(A, q):  # pragma: no cover - replaced by the overload inside kernels
    """``A[q]``, or None where ``A`` is None (the int16 stage has no affine map)."""
    raise NotImplementedError


@overload(_at, inline="always")
def _at_impl(A, q):
    if isinstance(A, types.NoneType):
        return lambda A, q: None
    return lambda A, q: A[q]


@njit(**EXACT)
def _signs_block(T, X, s, e, acc):
    """``acc[i - s, g]`` = ``sum_p T[p, X[i, p], g]`` for rows s..e (one table group ``T``)."""
    w = X.shape[1]
    span = _span(T)
    for i in range(e - s):
        for g in range(acc.shape[1]):
            acc[i, g] = 0
    for p0 in range(0, w, span):
        p1 = min(w, p0 + span)
        i = s
        while i + 8 <= e:
            _lut_rows(T, X, i, i - s, p0, p1, acc, 8)
            i += 8
        while i < e:
            _lut_rows(T, X, i, i - s, p0, p1, acc, 1)
            i += 1


@njit(inline="always")
def _signs_scan(X, T, A, B, r0, r1, rb, sink):
    """Table scores of rows r0..r1 (``acc * A[q] + B[q]``; int16 tables: the integer sum, ``A``/``B``
    None) into ``sink`` (:mod:`~quantlib._kernels.sinks`; key = -score).  ``T`` holds the queries'
    byte tables (:func:`~quantlib._kernels.lut.build_tables`), ``T.shape[3]`` queries per group;
    rows are taken ``rb`` at a time and every group's tables pass over a block."""
    nq = n_queries(sink)
    G = T.shape[3]
    acc = _acc(T, max(1, min(rb, r1 - r0)), G)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for c in range(T.shape[0]):
            _signs_block(T[c], X, s, e, acc)
            for g in range(min(G, nq - c * G)):
                q = c * G + g
                emit(sink, q, acc[:, g], s, e, _at(A, q), _at(B, q), True)


@njit(**EXACT)
def signs_scores_range(X, T, A, B, r0, r1, rb, out):
    """``out[q, i]`` = float query ``q`` against row ``i`` read as +1/-1, times ``A[q]``, plus ``B[q]``."""
    _signs_scan(X, T, A, B, r0, r1, rb, out)


@njit(**EXACT)
def _signs_heap_range(X, T, A, B, r0, r1, rb, keys, ids):
    """Fold rows r0..r1 into the top-k heaps (:mod:`~quantlib._kernels.topk`); the key is the negated score."""
    _signs_scan(X, T, A, B, r0, r1, rb, (keys, ids))


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
def _signs16_heap_range(X, T, r0, r1, rb, keys, ids):
    """Fold rows r0..r1 into int64 top-k heaps of the integer scores (key = -score), ``T`` int16 groups."""
    _signs_scan(X, T, None, None, r0, r1, rb, (keys, ids))
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
    cand_keys = np.empty(kk, np.float32)
    base = np.empty(X.shape[1], np.float64)  # signs_terms' per-byte terms of one query
    two = np.empty(8 * base.shape[0], np.float64)
    for q in range(nq):
        signs_terms(Q, q, base, two)
        for t in range(kk):
            if cand[q, t] < 0:  # an empty slot (fewer rows than candidates): never a result
                cand_keys[t] = np.inf
                continue
            cand_keys[t] = -affine(signs_row(X[cand[q, t]], flip, base, two), A[q], B[q])
        keys[q, :] = np.inf  # an empty heap
        ids[q, :] = -1
        for t in range(kk):  # candidates come in any row order: the heap ranks by (key, row)
            if cand[q, t] >= 0:
                offer(keys, ids, q, cand_keys[t], cand[q, t])
    finish(keys, ids)
    k = keys.shape[1]
    ok = np.zeros(nq, np.bool_)
    for q in range(nq):
        last = keys[q, k - 1]
        u = bound[q]
        # a non-finite k-th key or bound (float32 overflow) is never certified: the exact scan decides
        ok[q] = np.isfinite(last) and np.isfinite(u) and -affine(u, A[q], B[q]) > last
    return ok
