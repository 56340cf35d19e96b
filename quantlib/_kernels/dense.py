"""Dense scoring kernels: weighted dot products of queries with stored rows.

Every dense score in quantlib (float32, float16, int8 and uint8 rows, raw
codes or dequantized values, dot or cosine) is one formula::

    score[q, i] = (sum_j W[q, j] * x[i, j] * A[q] + B[q]) * RS[i] + RB[i]

where ``x[i, j]`` is the stored item widened to the accumulator type (float16
read from its bits, integer codes exactly), ``W`` holds the prepared queries,
``A``/``B`` a per-query affine map, ``RS`` a per-row scale and ``RB`` a
per-row term, or None where it is 0 (the kernels then compile without the
add, exactly as before it existed).  The metric records
(:mod:`quantlib.metrics`) prepare them:

- dot of floats: ``W = q``, ``A = 1``, ``B = 0``, ``RS = 1``, ``RB = None``;
- cosine: ``A = 1 / |q|`` and ``RS = 1 / |x_i|`` (0 for a zero vector);
- sqeuclidean, negated (the kernels rank the highest first):
  ``-|q - x|^2 = 2 q.x - |q|^2 - |x|^2``, so ``A = 2``, ``B = -|q|^2`` and
  ``RB = -|x_i|^2`` (of the dequantized rows for a calibrated codec);
- a float query against codes of a calibrated codec, whose code ``c`` stands
  for ``start + (c - low) * step``: ``W = q * step`` and
  ``B = q . start - low * sum(W)``, so the codes are read once, unconverted;
- the dot of integer codes: ``W`` the query codes as int16, summed exactly in
  int32 by :mod:`~quantlib._kernels.intdot` (``A``, ``B``, ``RS`` float64);
  where AVX-512 VNNI is there, ``W`` is int8 instead (the int8 query codes,
  or uint8 ones less 128) for the ``vpdpbusd`` tiles, and for int8 rows ``B``
  holds the exact integer that undoes their sign flip, ``-128 * sum(W[q, :n])``
  over the items the tiles cover, added inside the int32 sum rather than after
  ``A``; rows too long for int32 sums take float ``W`` (float64 accumulation).

Float rows are not checked for NaN or infinity before scoring: a row that
holds one gives a non-finite score with every finite query, so each driver
reports whether it saw a non-finite score and the caller raises (one pass
over the rows instead of two).  The accumulator type is the dtype of ``A``.  Queries come in tiles of four
(``W`` has a multiple of four rows, or exactly one for a single query) so that each stored item is loaded and
widened once for four queries; rows are taken ``rb`` at a time so that a block
stays in cache while every query tile passes over it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._config import FAST
from .drivers import blocks_driver, search_drivers
from .intdot import STEP, STEP_VNNI, dot_tile_1x2, dot_tile_4x2, vnni_tile_1x2, vnni_tile_4x2
from .popcount import half_to_float
from .sinks import affine, emit, n_queries
from .topk import push


def widen(x, zero):  # pragma: no cover - replaced by the overload inside kernels
    """``x`` as the accumulator type of ``zero`` (uint16 items are float16 bits).

    Shared by the dense and MaxSim kernels: float32/float64 accumulators for
    float and dequantized scores, int32/int64 for exact dots of codes.
    """
    raise NotImplementedError


@overload(widen)
def _widen_impl(x, zero):
    if zero == types.float32:
        if x == types.uint16:
            return lambda x, zero: half_to_float(x)
        return lambda x, zero: np.float32(x)
    if zero == types.float64:
        if x == types.uint16:
            return lambda x, zero: np.float64(half_to_float(x))
        return lambda x, zero: np.float64(x)
    if zero == types.int32:
        return lambda x, zero: np.int32(x)
    if zero == types.int64:
        return lambda x, zero: np.int64(x)
    return None


@njit(inline="always")
def _pair(r0, r1, k):
    """The ``k``-th pair of rows of the block r0..r1: ``(i, i2, second)``.

    Row ``r0 + k`` is paired with the row half a block later, not with its
    neighbour: two rows read in lockstep 1 KB apart (int8 rows of 1024 items)
    defeat the hardware prefetcher, which measured 2.8x slower than two streams
    in separate halves.  With an odd count the last row is paired with itself
    (``second`` False), so every score comes from the same loop and its rounding
    never depends on where a block or a thread's chunk starts.
    """
    m = (r1 - r0 + 1) // 2
    i = r0 + k
    second = i + m < r1
    return i, (i + m if second else i), second


def add_row(v, RB, i):  # pragma: no cover - replaced by the overload inside kernels
    """``v + RB[i]``, the per-row term; ``RB`` None (dot, cosine) compiles to ``v`` alone, unchanged."""
    raise NotImplementedError


@overload(add_row, inline="always")
def _add_row_impl(v, RB, i):
    if isinstance(RB, types.NoneType):
        return lambda v, RB, i: v
    return lambda v, RB, i: v + RB[i]


@njit(inline="always")
def _score(total, scale, shift, RS, RB, row):
    """The score of row ``row`` from its raw sum: ``(total * scale + shift) * RS[row] + RB[row]``."""
    return add_row(affine(total, scale, shift) * RS[row], RB, row)


@njit(inline="always")
def _store_pair(buf, r0, second, RS, RB, i, i2, s, t, a, b):
    """``buf[:, i - r0]`` (and ``buf[:, i2 - r0]`` if ``second``) = the scores of rows i, i2 from their sums."""
    o = i - r0
    buf[0, o] = _score(s[0], a[0], b[0], RS, RB, i)
    buf[1, o] = _score(s[1], a[1], b[1], RS, RB, i)
    buf[2, o] = _score(s[2], a[2], b[2], RS, RB, i)
    buf[3, o] = _score(s[3], a[3], b[3], RS, RB, i)
    if second:
        o = i2 - r0
        buf[0, o] = _score(t[0], a[0], b[0], RS, RB, i2)
        buf[1, o] = _score(t[1], a[1], b[1], RS, RB, i2)
        buf[2, o] = _score(t[2], a[2], b[2], RS, RB, i2)
        buf[3, o] = _score(t[3], a[3], b[3], RS, RB, i2)


# The three kinds of query tile (float W; int16 code queries, whose first items go through
# intdot's vector tiles; int8 code queries of the VNNI tiles) differ only in what the
# overloads below give, so each tile shape is written once for all three.


def _head(W, X, q0, rows, n, corr, zero):  # pragma: no cover - replaced by the overload inside kernels
    """The sums over items ``:n`` of queries ``q0..`` (one or four) with the two rows ``rows``.

    ``s[r * nq + t]`` for row ``rows[r]`` and query ``q0 + t`` as ``zero``'s type: zeros for
    float ``W`` (``n`` is 0), :func:`~quantlib._kernels.intdot.dot_tile_4x2` sums for int16
    ``W``, :func:`~quantlib._kernels.intdot.vnni_tile_4x2` sums (with ``corr``) for int8 ``W``.
    """
    raise NotImplementedError


@overload(_head, inline="always")
def _head_impl(W, X, q0, rows, n, corr, zero):
    one = isinstance(corr, types.BaseTuple) and len(corr) == 1
    if W.dtype == types.int8:
        tile = vnni_tile_1x2 if one else vnni_tile_4x2
        return lambda W, X, q0, rows, n, corr, zero: wide(tile(W, X, q0, rows, n, corr))
    if W.dtype == types.int16:
        tile = dot_tile_1x2 if one else dot_tile_4x2
        return lambda W, X, q0, rows, n, corr, zero: wide(tile(W, X, q0, rows, n))
    if one:
        return lambda W, X, q0, rows, n, corr, zero: (zero, zero)
    return lambda W, X, q0, rows, n, corr, zero: (zero, zero, zero, zero, zero, zero, zero, zero)


def wide(sums):  # pragma: no cover - replaced by the overload inside kernels
    """A tuple of int32 sums as int64 (the tail items are added in int64)."""
    raise NotImplementedError


@overload(wide, inline="always")
def _wide_impl(sums):
    if len(sums) == 2:
        return lambda sums: (np.int64(sums[0]), np.int64(sums[1]))
    return lambda sums: (np.int64(sums[0]), np.int64(sums[1]), np.int64(sums[2]), np.int64(sums[3]),
                         np.int64(sums[4]), np.int64(sums[5]), np.int64(sums[6]), np.int64(sums[7]))


def _head_items(W, d):  # pragma: no cover - replaced by the overload inside kernels
    """How many leading items the vector tiles of :func:`_head` sum (a multiple of their step)."""
    raise NotImplementedError


@overload(_head_items)
def _head_items_impl(W, d):
    if W.dtype == types.int8:
        return lambda W, d: d - d % STEP_VNNI
    if W.dtype == types.int16:
        return lambda W, d: d - d % STEP
    return lambda W, d: 0


def _acc_zero(W, A):  # pragma: no cover - replaced by the overload inside kernels
    """The accumulator's zero: of ``A``'s dtype for float ``W``, int64 for code queries (exact sums)."""
    raise NotImplementedError


@overload(_acc_zero)
def _acc_zero_impl(W, A):
    if isinstance(W.dtype, types.Integer):
        return lambda W, A: np.int64(0)
    return lambda W, A: A[0] - A[0]


def _query_item(w, x):  # pragma: no cover - replaced by the overload inside kernels
    """A query item of a tail (``x``: a row item, for its type): float ``w`` as it is; a code as int64,
    plus 128 for a VNNI query over uint8 rows.

    (VNNI query codes for uint8 rows are stored less 128: see :mod:`~quantlib._kernels.intdot`.)
    """
    raise NotImplementedError


@overload(_query_item)
def _query_item_impl(w, x):
    if w == types.int8 and x == types.uint8:
        return lambda w, x: np.int64(w) + np.int64(128)
    if isinstance(w, types.Integer):
        return lambda w, x: np.int64(w)
    return lambda w, x: w


def _offset(W, B, q):  # pragma: no cover - replaced by the overload inside kernels
    """``B[q]``, added after ``A``; None for the VNNI tiles, whose ``B`` went into the integer sums."""
    raise NotImplementedError


@overload(_offset)
def _offset_impl(W, B, q):
    if W.dtype == types.int8:
        return lambda W, B, q: None
    return lambda W, B, q: B[q]


def _correction(W, B, q):  # pragma: no cover - replaced by the overload inside kernels
    """``corr`` of the VNNI tiles for query ``q``: ``B[q]`` as int32 (0 for the other tiles: unused)."""
    raise NotImplementedError


@overload(_correction)
def _correction_impl(W, B, q):
    if W.dtype == types.int8:
        return lambda W, B, q: np.int32(B[q])
    return lambda W, B, q: 0


@njit(**FAST)
def _tile(W, X, q0, r0, r1, A, B, RS, RB, buf):
    """``buf[t, i - r0]`` = score of query ``q0 + t`` (t < 4) and row ``i`` for rows r0..r1.

    Rows are taken two at a time (a 4 x 2 register tile: each query item
    loaded once for two rows, each row item widened once for four queries),
    which measured 1.15-1.35x faster than one row at a time; see :func:`_pair`
    for which two.  Code queries (``W`` int16 or int8) against int8/uint8 rows
    sum exactly: the first ``d - d % STEP`` items by the vector tiles of
    :mod:`~quantlib._kernels.intdot` (:func:`_head`), the rest here in int64,
    and the affine map is applied in float64, which holds every int32 sum
    exactly.  For int8 ``W`` (VNNI), ``B[q]`` carries the exact integer the
    int8 sign flip adds to a sum (``-128 * sum(W[q, :n])``, 0 for uint8 rows)
    and is added before ``A``, so these tiles have no per-query offset (the
    planner takes the int16 tiles for a metric that needs one).
    """
    d = W.shape[1]
    n = _head_items(W, d)
    zero = _acc_zero(W, A)
    scales = (A[q0], A[q0 + 1], A[q0 + 2], A[q0 + 3])
    shifts = (_offset(W, B, q0), _offset(W, B, q0 + 1), _offset(W, B, q0 + 2), _offset(W, B, q0 + 3))
    corr = (_correction(W, B, q0), _correction(W, B, q0 + 1), _correction(W, B, q0 + 2), _correction(W, B, q0 + 3))
    w0 = W[q0]
    w1 = W[q0 + 1]
    w2 = W[q0 + 2]
    w3 = W[q0 + 3]
    for k in range((r1 - r0 + 1) // 2):
        i, i2, second = _pair(r0, r1, k)
        s0, s1, s2, s3, t0, t1, t2, t3 = _head(W, X, q0, (i, i2), n, corr, zero)
        x = X[i]
        y = X[i2]
        for j in range(n, d):
            v = widen(x[j], zero)
            u = widen(y[j], zero)
            c0 = _query_item(w0[j], x[j])
            c1 = _query_item(w1[j], x[j])
            c2 = _query_item(w2[j], x[j])
            c3 = _query_item(w3[j], x[j])
            s0 += c0 * v
            s1 += c1 * v
            s2 += c2 * v
            s3 += c3 * v
            t0 += c0 * u
            t1 += c1 * u
            t2 += c2 * u
            t3 += c3 * u
        _store_pair(buf, r0, second, RS, RB, i, i2, (s0, s1, s2, s3), (t0, t1, t2, t3), scales, shifts)


@njit(**FAST)
def _tile1(W, X, r0, r1, A, B, RS, RB, buf):
    """:func:`_tile` of float queries for a single query (``W`` has one row): no work wasted on padding."""
    d = W.shape[1]
    w0 = W[0]
    zero = A[0] - A[0]
    for i in range(r0, r1):
        x = X[i]
        s0 = zero
        for j in range(d):
            s0 += w0[j] * widen(x[j], zero)
        buf[0, i - r0] = _score(s0, A[0], B[0], RS, RB, i)


@njit(**FAST)
def _codes_tile1(W, X, r0, r1, A, B, RS, RB, buf):
    """:func:`_tile` of code queries (int16 or int8 ``W``) for a single query (``W`` has one row)."""
    d = W.shape[1]
    n = _head_items(W, d)
    b = _offset(W, B, 0)
    corr = (_correction(W, B, 0),)
    w0 = W[0]
    for k in range((r1 - r0 + 1) // 2):
        i, i1, second = _pair(r0, r1, k)
        s0, t0 = _head(W, X, 0, (i, i1), n, corr, np.int64(0))
        x = X[i]
        y = X[i1]
        for j in range(n, d):
            c = _query_item(w0[j], x[j])
            s0 += c * np.int64(x[j])
            t0 += c * np.int64(y[j])
        buf[0, i - r0] = _score(s0, A[0], b, RS, RB, i)
        if second:
            buf[0, i1 - r0] = _score(t0, A[0], b, RS, RB, i1)


def fill(W, X, q0, r0, r1, A, B, RS, RB, buf):  # pragma: no cover - replaced by the overload inside kernels
    """Scores of the query tile at ``q0`` (one query if ``W`` has one row, else four).

    ``W`` of int16 (or int8, the VNNI tiles) holds code queries for int8/uint8 rows (exact
    integer sums); float ``W`` holds float queries (or weights) for any dense rows.
    """
    raise NotImplementedError


@overload(fill)
def _fill_impl(W, X, q0, r0, r1, A, B, RS, RB, buf):
    one = _codes_tile1 if isinstance(W.dtype, types.Integer) else _tile1

    def tiles(W, X, q0, r0, r1, A, B, RS, RB, buf):
        if W.shape[0] == 1:
            one(W, X, r0, r1, A, B, RS, RB, buf)
        else:
            _tile(W, X, q0, r0, r1, A, B, RS, RB, buf)
    return tiles


@njit(inline="always")
def _scan(W, X, A, B, RS, RB, r0, r1, rb, sink):
    """Score rows r0..r1 block by block into ``sink`` (:mod:`~quantlib._kernels.sinks`; key = -score).

    Returns True if a score is NaN or infinite (a non-finite row, or overflow).
    """
    nq = n_queries(sink)
    buf = np.empty((4, rb), A.dtype)
    bad = False
    for s in range(r0, r1, rb):
        e = min(r1, s + rb)
        for q0 in range(0, W.shape[0], 4):
            fill(W, X, q0, s, e, A, B, RS, RB, buf)
            for t in range(min(4, nq - q0)):
                bad |= emit(sink, q0 + t, buf[t], s, e, None, None, True)
    return bad


@njit(**FAST)
def scores_range(W, X, A, B, RS, RB, r0, r1, rb, out):
    """``out[q, i]`` for ``q < out.shape[0]`` and rows r0..r1 (cast to ``out``'s dtype).

    Returns True if a score is NaN or infinite (a non-finite row, or overflow).
    """
    return _scan(W, X, A, B, RS, RB, r0, r1, rb, out)


@njit(**FAST)
def _heap_range(W, X, A, B, RS, RB, r0, r1, rb, keys, ids):
    """Fold rows r0..r1 into the top-k heaps (rows r0..r1 come after every id already kept).

    Returns True if a score is NaN or infinite.
    """
    return _scan(W, X, A, B, RS, RB, r0, r1, rb, (keys, ids))
#: ``scores_parallel(W, X, A, B, RS, RB, rb, out)``: :func:`scores_range` over all rows, one row block
#: per work item; True if a score is NaN or infinite.
scores_parallel = blocks_driver(scores_range)

#: ``search_range(W, X, A, B, RS, RB, r0, r1, rb, keys, ids)``: fold rows r0..r1 into the top-k lists
#: (keys are negated scores, lower is better), which come and go sorted best first
#: (:mod:`~quantlib._kernels.topk`).  Returns True if a score is NaN or infinite: such a
#: score never enters a list silently; the caller raises.
#: ``search_parallel(W, X, A, B, RS, RB, rb, nchunks, keys, ids)``: the same over ``nchunks`` row
#: ranges in parallel, then merged; chunks start at even rows, so a row is always the same
#: member of its row pair (:func:`_pair`).
search_range, search_parallel = search_drivers(_heap_range, align=2)


@njit(**FAST)
def topk_block(S, A, B, RS, RB, r0, keys, ids):
    """Fold a block of raw dot products ``S[q, i]`` (rows ``r0 + i``) into the top-k lists.

    The score is ``(S[q, i] * A[q] + B[q]) * RS[r0 + i] + RB[r0 + i]``, as :func:`_tile`
    computes it; ``S`` comes from BLAS for batches of float queries.  Blocks
    come in row order.  The lists stay heaps between blocks (start from empty
    lists, which are heaps): the caller sorts them with
    :func:`~quantlib._kernels.topk.finish` after the last block.  Returns True
    if a score is NaN or infinite.
    """
    nq, k = keys.shape
    m = S.shape[1]
    bad = False
    for q in range(nq):
        a = A[q]
        b = B[q]
        thr = keys[q, 0]
        row = S[q]
        for i in range(m):
            key = -_score(row[i], a, b, RS, RB, r0 + i)
            bad |= not np.isfinite(key)
            if key < thr:
                push(keys, ids, q, key, r0 + i)
                thr = keys[q, 0]
    return bad


@njit(**FAST)
def row_norms(X, out):
    """``out[i]`` = Euclidean norm of the stored values of row ``i`` (floats, float16 bits or
    raw codes), summed in float64."""
    d = X.shape[1]
    zero = np.float64(0)
    for i in range(X.shape[0]):
        x = X[i]
        s = zero
        for j in range(d):
            v = widen(x[j], zero)
            s += v * v
        out[i] = np.sqrt(s)


@njit(**FAST)
def row_l1(X, out):
    """``out[i]`` = the sum of ``|x[i, j]|`` of integer codes (int64: exact).

    Bounds how far an int16 approximation of a float query can move the score
    of row ``i`` (see :meth:`quantlib.metrics.Plan._topk_dense_wide`).
    """
    d = X.shape[1]
    for i in range(X.shape[0]):
        x = X[i]
        s = np.int64(0)
        for j in range(d):
            s += abs(np.int64(x[j]))
        out[i] = s
