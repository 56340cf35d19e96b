"""Filtered twins of the search kernels: the same scans, but only allowed rows reach the top-k lists.

A filtered search (``allow=``, :mod:`quantlib._filter`) over rows that are
dense in a stretch of the corpus runs the unfiltered search's own range
kernels' pieces (the dense tiles of :func:`~quantlib._kernels.dense.fill`,
the byte tables of :mod:`~quantlib._kernels.bits`, the Hamming tiles) over
the corpus where it lies, with a mask ``M`` (one bool per corpus row):

- each block of ``rb`` rows is cut into *spans*, from an allowed row to the
  last allowed row before a gap of at least :data:`GAP` rows that are not;
  rows outside every span are never read, so a filter of long runs (a tenant,
  a date range) costs the rows it allows, and one that allows every other row
  costs the unfiltered scan;
- a span is scored by the same tile functions, in the same order, as the
  unfiltered kernel scores those rows, and a row's key is offered to the lists
  only where ``M`` allows it (a masked top-k over each block of scores).

Every row's score is the unfiltered kernels' own (the tiles' sums do not
depend on where a block or span starts, as for the unfiltered search's row
chunks), so a filtered search ranks exactly as the search of the allowed rows
alone.  The non-finite flag looks at allowed rows only, as that search would.
The serial and parallel drivers are made by :mod:`~quantlib._kernels.drivers`
from the range kernels here; :func:`search` picks one.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._config import EXACT, FAST
from .bits import _acc, _at, _hamming_fill, _signs_block
from .dense import add_row, fill, widen
from .drivers import search_drivers
from .sinks import affine
from .topk import push

#: Disallowed rows between two allowed ones that end a span: a shorter gap is scored with its span
#: (scoring a few rows too many costs less than breaking the tiles' loop).
GAP = 16



@njit(**EXACT)
def _span(M, pos, e):
    """The next span of allowed rows at or after ``pos`` before ``e``: ``(lo, hi)``, ``lo == e`` if none.

    Written without a branch on each row's mask entry (a filter of half the rows at random would
    mispredict every other one): ``hi`` follows the last allowed row by a select.
    """
    lo = pos
    while lo < e and not M[lo]:
        lo += 1
    if lo == e:
        return e, e
    hi = lo + 1
    j = hi
    while j < e and j - hi < GAP:
        hi = j + 1 if M[j] else hi
        j += 1
    return lo, hi


@njit(**FAST)
def _dense_heap_range(W, X, A, B, RS, RB, M, r0, r1, rb, keys, ids):
    """:func:`~quantlib._kernels.dense.search_range`'s heap kernel over the rows ``M`` allows."""
    nq = keys.shape[0]
    buf = np.empty((4, rb), A.dtype)
    bad = False
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        lo, hi = _span(M, s, e)
        while lo < e:
            for q0 in range(0, W.shape[0], 4):
                fill(W, X, q0, lo, hi, A, B, RS, RB, buf)
                for t in range(min(4, nq - q0)):
                    q = q0 + t
                    row = buf[t]
                    bad |= _mask_keys(row, M, lo, hi)
                    thr = keys[q, 0]
                    for i in range(lo, hi):
                        key = row[i - lo]
                        if key < thr:
                            push(keys, ids, q, key, i)
                            thr = keys[q, 0]
            lo, hi = _span(M, hi, e)
    return bad


@njit(**FAST)
def _mask_keys(row, M, lo, hi):
    """``row[i - lo]`` = the key (negated score) of row ``i`` if ``M`` allows it, else ``inf`` (never kept).

    A pass of selects the compiler vectorises, apart from the top-k pushes: a branch on each row's
    mask entry in the push loop (a random half mispredicted every other row) cost a quarter of the
    scan.  Returns True if an allowed row's score is NaN or infinite.
    """
    bad = False
    for i in range(lo, hi):
        v = -row[i - lo]
        ok = M[i]
        bad |= ok & (not np.isfinite(v))
        row[i - lo] = v if ok else np.inf
    return bad


@njit(**FAST)
def topk_block(S, A, B, RS, RB, M, r0, keys, ids):
    """:func:`~quantlib._kernels.dense.topk_block` (a block of BLAS dot products, rows ``r0 + i``) for allowed rows.

    ``S`` is overwritten with the keys.
    """
    nq, k = keys.shape
    m = S.shape[1]
    bad = False
    for q in range(nq):
        a = A[q]
        b = B[q]
        row = S[q]
        for i in range(m):
            r = r0 + i
            row[i] = add_row((row[i] * a + b) * RS[r], RB, r)
        bad |= _mask_keys(row, M, r0, r0 + m)
        thr = keys[q, 0]
        for i in range(m):
            key = row[i]
            if key < thr:
                push(keys, ids, q, key, r0 + i)
                thr = keys[q, 0]
    return bad


@njit(**EXACT)
def spans(M, r0, r1, out):
    """The spans of allowed rows of ``r0..r1`` (see :func:`_span`) into ``out[:, 0:2]``; returns their count."""
    count = 0
    lo, hi = _span(M, r0, r1)
    while lo < r1:
        out[count, 0] = lo
        out[count, 1] = hi
        count += 1
        lo, hi = _span(M, hi, r1)
    return count


@njit(inline="always")
def _allowed_in(M, lo, hi, idx):
    """Write the rows ``lo..hi`` that ``M`` allows to ``idx``, in order; returns how many.

    A branch-free append (the count grows by the mask bit), once per span for every query: a
    select on each row's mask bit in the per-query key loop became a branch, which a random half of
    the rows mispredicted every other row (16 queries over 200,000 rows: 31 ms against 20 ms).
    """
    count = 0
    for i in range(lo, hi):
        idx[count] = i
        count += M[i]
    return count


@njit(inline="always")
def _signs_masked(X, T, A, B, M, r0, r1, rb, keys, ids):
    """:func:`~quantlib._kernels.bits.signs_search_range`'s heap kernel (float tables, ``A``/``B`` their
    affine maps) or ``signs16_search_range``'s (int16 tables, ``A``/``B`` None) over the rows ``M`` allows."""
    nq = keys.shape[0]
    G = T.shape[3]
    n = max(1, min(rb, r1 - r0))
    acc = _acc(T, n, G)
    idx = np.empty(n, np.int64)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        lo, hi = _span(M, s, e)
        while lo < e:
            count = _allowed_in(M, lo, hi, idx)
            for c in range(T.shape[0]):
                _signs_block(T[c], X, lo, hi, acc)
                for g in range(min(G, nq - c * G)):
                    q = c * G + g
                    a = _at(A, q)
                    b = _at(B, q)
                    thr = keys[q, 0]
                    for t in range(count):
                        i = idx[t]
                        key = -affine(acc[i - lo, g], a, b)  # the unfiltered sink's key
                        if key < thr:
                            push(keys, ids, q, key, i)
                            thr = keys[q, 0]
            lo, hi = _span(M, hi, e)


@njit(**EXACT)
def _signs_heap_range(X, T, A, B, M, r0, r1, rb, keys, ids):
    """:func:`~quantlib._kernels.bits.signs_search_range`'s heap kernel over the rows ``M`` allows."""
    _signs_masked(X, T, A, B, M, r0, r1, rb, keys, ids)


@njit(**EXACT)
def _signs16_heap_range(X, T, M, r0, r1, rb, keys, ids):
    """:func:`~quantlib._kernels.bits.signs16_search_range`'s heap kernel over the rows ``M`` allows."""
    _signs_masked(X, T, None, None, M, r0, r1, rb, keys, ids)


@njit(**FAST)
def _hamming_heap_range(X, Q, M, r0, r1, rb, keys, ids):
    """:func:`~quantlib._kernels.bits.hamming_search_range`'s heap kernel over the rows ``M`` allows."""
    nq, k = keys.shape
    buf = np.empty((4, rb), np.int64)
    idx = np.empty(rb, np.int64)
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        lo, hi = _span(M, s, e)
        while lo < e:
            count = _allowed_in(M, lo, hi, idx)
            for q0 in range(0, Q.shape[0], 4):
                _hamming_fill(X, Q, q0, lo, hi, buf)
                for t in range(min(4, nq - q0)):
                    q = q0 + t
                    thr = keys[q, 0]
                    for u in range(count):  # the allowed rows only (see _allowed_in)
                        i = idx[u]
                        key = buf[t, i - lo]
                        if key < thr:
                            push(keys, ids, q, key, i)
                            thr = keys[q, 0]
            lo, hi = _span(M, hi, e)


@njit(**EXACT)
def partition(rows, n, seg, fraction, mask, dense, sparse):
    """Split the allowed ``rows`` (sorted) by segments of ``seg`` rows: scanned in place or gathered.

    A segment where at least one row in ``fraction`` is allowed sets its allowed rows in ``mask``
    (all False on entry) and lists them in ``dense``; the rows of the other segments go to
    ``sparse``, in order.  Returns the numbers of dense and of sparse rows, and the number of rows
    of the segments scanned.
    """
    nd = 0
    m = 0
    scanned = 0
    t = 0
    count = rows.shape[0]
    while t < count:
        s = rows[t] // seg
        end = (s + 1) * seg
        u = t
        while u < count and rows[u] < end:
            u += 1
        size = min(seg, n - s * seg)
        if (u - t) * fraction >= size:
            for v in range(t, u):
                mask[rows[v]] = True
                dense[nd] = rows[v]
                nd += 1
            scanned += size
        else:
            for v in range(t, u):
                sparse[m] = rows[v]
                m += 1
        t = u
    return nd, m, scanned


@njit(**FAST)
def row_norms_at(X, rows, out):
    """``out[r]`` = :func:`~quantlib._kernels.dense.row_norms` of row ``r`` for each ``r`` in ``rows``
    (the same loop, so the same float64 sums), read where the rows lie."""
    d = X.shape[1]
    zero = np.float64(0)
    for t in range(rows.shape[0]):
        r = rows[t]
        x = X[r]
        s = zero
        for j in range(d):
            v = widen(x[j], zero)
            s += v * v
        out[r] = np.sqrt(s)


@njit(**FAST)
def row_l1_at(X, rows, out):
    """``out[r]`` = :func:`~quantlib._kernels.dense.row_l1` of row ``r`` for each ``r`` in ``rows`` (exact)."""
    d = X.shape[1]
    for t in range(rows.shape[0]):
        r = rows[t]
        x = X[r]
        s = np.int64(0)
        for j in range(d):
            s += abs(np.int64(x[j]))
        out[r] = s


dense_search_range, dense_search_parallel = search_drivers(_dense_heap_range, align=2)
signs_search_range, signs_search_parallel = search_drivers(_signs_heap_range, fast=False)
signs16_search_range, signs16_search_parallel = search_drivers(_signs16_heap_range, fast=False)
hamming_search_range, hamming_search_parallel = search_drivers(_hamming_heap_range)

_SEARCH = {
    "dense": (dense_search_range, dense_search_parallel),
    "signs": (signs_search_range, signs_search_parallel),
    "signs16": (signs16_search_range, signs16_search_parallel),
    "hamming": (hamming_search_range, hamming_search_parallel),
}


def search(family: str, lead: tuple, M: np.ndarray, rb: int, nchunks: int, keys: np.ndarray,
           ids: np.ndarray) -> bool:
    """Fold the rows ``M`` allows into the top-k lists ``keys``/``ids`` (sorted best first in and out).

    ``family`` names the kernel (``dense``, ``signs``, ``signs16``, ``hamming``), ``lead`` its
    arguments before the mask, as the unfiltered search takes them (the rows second, or first for
    the bit kernels); ``nchunks`` > 1 runs that many row chunks in parallel.  Returns True if an
    allowed row's score is NaN or infinite (dense only).
    """
    serial, parallel = _SEARCH[family]
    if nchunks > 1:
        return bool(parallel(*lead, M, rb, nchunks, keys, ids))
    rows = lead[1] if family == "dense" else lead[0]
    return bool(serial(*lead, M, 0, rows.shape[0], rb, keys, ids))
