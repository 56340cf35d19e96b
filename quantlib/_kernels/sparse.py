"""Sparse kernels: CSR checks, transposition, dot products, top-k search, pruning.

A batch is three arrays in CSR form: ``indptr`` (int64, ``n + 1`` row
pointers), ``indices`` (int32 or int64 column ids, sorted and unique within a
row) and ``values`` (float32).  Kernels trust their input (the public
functions in :mod:`quantlib.sparse` check it) and never write into it, so
read-only arrays (``np.frombuffer`` views, memory maps) are fine.  Every
cursor is an ``intp``/int64: no loop counter can wrap, whatever the number of
non-zeros or the size of the vocabulary.

Sums run in float32 in ascending column order of the left operand, as a
merge of two sorted rows would add them, so the batch kernels and the search
kernel give the same bits for the same pair.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._config import EXACT, FAST
from .topk import finish, heapify, push

# --------------------------------------------------------------------------- checks


@njit(**EXACT)
def check_indptr(indptr, nnz):
    """Index of the first bad row pointer, or -1.

    ``indptr[0]`` must be 0, the pointers non-decreasing and the last equal to ``nnz``.
    """
    n = indptr.shape[0] - 1
    if indptr[0] != 0:
        return 0
    for i in range(n):
        if indptr[i + 1] < indptr[i]:
            return i + 1
    if indptr[n] != nnz:
        return n
    return -1


@njit(**EXACT)
def check_rows(indptr, indices):
    """``(status, position)`` of the column ids of a CSR batch.

    status 0: every row strictly increasing; 1: some row unsorted but no
    duplicate found yet (sort, then check again); 2: a duplicate at
    ``position`` (only reported for sorted rows; an unsorted row is reported
    as 1 first).
    """
    n = indptr.shape[0] - 1
    unsorted = False
    for i in range(n):
        for p in range(indptr[i] + 1, indptr[i + 1]):
            a = indices[p - 1]
            b = indices[p]
            if b == a:
                if not unsorted:
                    return 2, p
            elif b < a:
                unsorted = True
    return (1 if unsorted else 0), -1


@njit(**EXACT)
def index_bounds(indices):
    """``(min, max)`` of the column ids (``(0, -1)`` when empty)."""
    if indices.shape[0] == 0:
        return 0, -1
    lo = indices[0]
    hi = indices[0]
    for p in range(indices.shape[0]):
        v = indices[p]
        lo = min(lo, v)
        hi = max(hi, v)
    return lo, hi


@njit(**EXACT)
def sort_rows(indptr, indices, values, order):
    """Sort each row by column id: ``order`` receives the stable per-row permutation."""
    n = indptr.shape[0] - 1
    for i in range(n):
        a = indptr[i]
        b = indptr[i + 1]
        sorted_already = True
        for p in range(a + 1, b):
            if indices[p] < indices[p - 1]:
                sorted_already = False
                break
        if sorted_already:
            for p in range(a, b):
                order[p] = p
        else:
            local = np.argsort(indices[a:b], kind="mergesort")
            for p in range(b - a):
                order[a + p] = a + local[p]


# --------------------------------------------------------------------------- layout


@njit(**EXACT)
def transpose(indptr, indices, values, n_cols, t_indptr, t_indices, t_values):
    """CSR -> CSC (an inverted index): ``t_indptr`` has ``n_cols + 1`` entries.

    Row ids within each column come out increasing because rows are visited in order.
    """
    n = indptr.shape[0] - 1
    nnz = indices.shape[0]
    for c in range(n_cols + 1):
        t_indptr[c] = 0
    for p in range(nnz):
        t_indptr[indices[p] + 1] += 1
    for c in range(n_cols):
        t_indptr[c + 1] += t_indptr[c]
    cursor = t_indptr[:n_cols].copy()
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            c = indices[p]
            q = cursor[c]
            t_indices[q] = i
            t_values[q] = values[p]
            cursor[c] = q + 1


@njit(**FAST)
def row_norms(indptr, values, out):
    """Euclidean norm of each row, summed in float64 (stored in ``out``'s dtype).

    FAST: the float64 sum may be reassociated (vectorised), which moves it by a few
    float64 rounding units, far below the float32 products it normalises.
    """
    n = indptr.shape[0] - 1
    for i in range(n):
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            v = np.float64(values[p])
            s += v * v
        out[i] = np.sqrt(s)


@njit(**EXACT)
def scale_values(indptr, values, scale, out):
    """``out[p] = values[p] * scale[row of p]``, multiplied in ``scale``'s dtype, stored in ``out``'s."""
    n = indptr.shape[0] - 1
    for i in range(n):
        f = scale[i]
        for p in range(indptr[i], indptr[i + 1]):
            out[p] = values[p] * f


# --------------------------------------------------------------------------- scoring


@njit(**EXACT)
def dot_inverted(a_indptr, a_indices, a_values, t_indptr, t_indices, t_values, out):
    """``out[i, j] = sum_c a[i, c] * b[j, c]`` with ``b`` given as CSC ``t_*``.

    For each stored ``a[i, c]`` the posting list of column ``c`` adds its
    products into row ``i`` of the dense ``out`` (zeroed here).  Work is the
    number of products, never ``n_a * n_b``.
    """
    na = a_indptr.shape[0] - 1
    nb = out.shape[1]
    zero = np.float32(0)
    for i in range(na):
        row = out[i]
        for j in range(nb):
            row[j] = zero
        for p in range(a_indptr[i], a_indptr[i + 1]):
            c = a_indices[p]
            w = a_values[p]
            for q in range(t_indptr[c], t_indptr[c + 1]):
                row[t_indices[q]] += w * t_values[q]


@njit(**EXACT)
def dot_gather(a_indptr, a_indices, a_values, b_indptr, b_indices, b_values, n_cols, out):
    """Same result as :func:`dot_inverted` without an inverted index.

    Row ``i`` of ``a`` is scattered into a dense buffer of ``n_cols`` and each
    row of ``b`` gathers from it: ``n_a`` passes over ``b``, the better plan
    for one or two queries against a batch that has no index yet.  Products
    are added in ascending column order, as in :func:`dot_inverted`.
    """
    na = a_indptr.shape[0] - 1
    nb = b_indptr.shape[0] - 1
    dense = np.zeros(n_cols, np.float32)
    for i in range(na):
        for p in range(a_indptr[i], a_indptr[i + 1]):
            dense[a_indices[p]] = a_values[p]
        for j in range(nb):
            s = np.float32(0)
            for q in range(b_indptr[j], b_indptr[j + 1]):
                s += dense[b_indices[q]] * b_values[q]
            out[i, j] = s
        for p in range(a_indptr[i], a_indptr[i + 1]):
            dense[a_indices[p]] = 0


# --------------------------------------------------------------------------- top-k

#: Scores are checked against the current k-th best 64 at a time (one vectorised pass).
_BLOCK = 64

#: Documents per accumulator block of the search: 128 KiB of float32 stays in L2 while
#: the posting lists stream past, and the block is selected from while it is hot.
DOC_BLOCK = 1 << 15


@njit(**EXACT)
def offer(scores, n, base, keys, ids, q, filled):
    """Offer ``scores[:n]`` (documents ``base ...``) to the running top-k heap ``q``; return its fill.

    ``keys[q]``/``ids[q]`` is a :mod:`~quantlib._kernels.topk` heap of negated
    scores once ``filled`` reaches ``k``; the first ``k`` documents fill it
    unconditionally.  Documents arrive in increasing order, so a later
    document never displaces an equal score: replacing only on a strictly
    greater score keeps the lower index of a tie.  Once the heap is full,
    blocks of 64 scores none of which beats the k-th best are skipped after one
    vectorisable pass.
    """
    k = keys.shape[1]
    j = 0
    while filled < k and j < n:
        keys[q, filled] = -scores[j]
        ids[q, filled] = base + j
        filled += 1
        j += 1
        if filled == k:
            heapify(keys[q:q + 1], ids[q:q + 1])
    while j < n:
        kth = -keys[q, 0]
        if j + _BLOCK <= n:
            above = False
            for t in range(j, j + _BLOCK):
                above |= scores[t] > kth
            stop = j + _BLOCK
        else:
            above = True
            stop = n
        if above:
            for t in range(j, stop):
                key = -scores[t]
                if key < keys[q, 0]:
                    push(keys, ids, q, key, base + t)
        j = stop
    return filled


@njit(**EXACT)
def search_inverted(q_indptr, q_indices, q_values, t_indptr, t_indices, t_values, n_docs, k,
                    out_s, out_i):
    """Top-``k`` documents per query by blocked term-at-a-time accumulation.

    ``t_*`` is the corpus in CSC form (an inverted index; row ids increase
    within each posting list), possibly with values pre-divided by the
    document norms for cosine.  Documents are taken ``DOC_BLOCK`` at a time:
    each query id's posting cursor adds its products for the block into a
    small accumulator, which is then offered to the top-``k`` list and
    cleared.  Per document the products are added in the query's id order,
    as :func:`dot_inverted` adds them, so the scores are the same bits.
    Query ids beyond the index's columns have no postings and are skipped.

    Returns True if a score was not finite (a sum beyond float32's range, or
    inf - inf): such a document might have missed the list, so the caller raises.
    """
    bad = False
    nq = q_indptr.shape[0] - 1
    n_cols = t_indptr.shape[0] - 1
    width = min(DOC_BLOCK, n_docs)
    acc = np.zeros(width, np.float32)
    zero = np.float32(0)
    for i in range(nq):
        a = q_indptr[i]
        m = q_indptr[i + 1] - a
        cur = np.zeros(m, np.int64)
        end = np.zeros(m, np.int64)
        for p in range(m):
            c = q_indices[a + p]
            if c < n_cols:
                cur[p] = t_indptr[c]
                end[p] = t_indptr[c + 1]
        filled = 0
        for base in range(0, n_docs, width):
            stop = min(n_docs, base + width)
            for p in range(m):
                q = cur[p]
                e = end[p]
                if q == e:
                    continue
                w = q_values[a + p]
                while q < e:
                    d = t_indices[q]
                    if d >= stop:
                        break
                    acc[d - base] += w * t_values[q]
                    q += 1
                cur[p] = q
            n = stop - base
            filled = offer(acc, n, base, out_s, out_i, i, filled)
            for j in range(n):
                bad |= not np.isfinite(acc[j])
                acc[j] = zero
    finish(out_s, out_i)
    for i in range(nq):
        for t in range(out_s.shape[1]):
            out_s[i, t] = -out_s[i, t]  # keys back to scores (exact: a sign flip)
    return bad


@njit(**EXACT)
def accumulate(q_indices, q_values, t_indptr, t_indices, t_values, acc):
    """Scores of every document for one query (ids beyond the index skipped), into ``acc``."""
    n_cols = t_indptr.shape[0] - 1
    zero = np.float32(0)
    for j in range(acc.shape[0]):
        acc[j] = zero
    for p in range(q_indices.shape[0]):
        c = q_indices[p]
        if c >= n_cols:
            continue
        w = q_values[p]
        for q in range(t_indptr[c], t_indptr[c + 1]):
            acc[t_indices[q]] += w * t_values[q]


# --------------------------------------------------------------------------- hybrid


@njit(**EXACT)
def hybrid(dense, sparse, w_dense, w_sparse, out):
    """``out = w_dense * dense + w_sparse * sparse`` in float32.

    Returns True if a sum was not finite (beyond float32's range, or inf - inf),
    for the caller to raise; the check costs nothing next to the memory traffic.
    """
    n, m = dense.shape
    bad = False
    for i in range(n):
        for j in range(m):
            v = w_dense * dense[i, j] + w_sparse * sparse[i, j]
            out[i, j] = v
            bad |= not np.isfinite(v)
    return bad


@njit(**EXACT)
def hybrid_minmax(dense, sparse, w_dense, w_sparse, d_lo, d_scale, s_lo, s_scale, out):
    """``out = w_dense * f(dense) + w_sparse * f(sparse)``, ``f`` each row's map onto ``[0, 1]``.

    ``f(x) = (x - lo) * scale`` in float64, rounded to float32, with the row's
    float64 ``lo`` (its min) and ``scale`` (``1 / (max - min)``, or 0 for a
    constant row, which maps to 0); the weighted sum is float32, and the
    return value says whether one was not finite, as in :func:`hybrid`.
    float64 holds the span of any float32 row (at most 2**129) and its
    inverse (at most 2**149), and its rounding error
    (a few float64 ulps) is far below float32's: ``f`` gives 0 at the min, 1 at
    the max, values in ``[0, 1]`` between, and every quotient that is a
    float32 (such as 0.5) exactly.
    """
    n, m = dense.shape
    bad = False
    for i in range(n):
        a = d_lo[i]
        b = d_scale[i]
        c = s_lo[i]
        e = s_scale[i]
        for j in range(m):
            fd = np.float32((np.float64(dense[i, j]) - a) * b)
            fs = np.float32((np.float64(sparse[i, j]) - c) * e)
            v = w_dense * fd + w_sparse * fs
            out[i, j] = v
            bad |= not np.isfinite(v)
    return bad


# --------------------------------------------------------------------------- pruning


@njit(**EXACT)
def prune_counts(indptr, indices, values, top_k, threshold, mass, keep):
    """Mark in ``keep`` the entries each row keeps; return the kept count per row.

    Entries are ranked by ``|w|`` descending, ties to the lower column id; a
    row keeps the shortest prefix of that ranking allowed by every criterion:
    at most ``top_k`` entries (``top_k < 0``: no limit), only ``|w| > threshold``
    (``threshold < 0``: no limit), and the fewest entries whose ``|w|`` add up
    to at least ``mass`` of the row's L1 mass (``mass < 0``: no limit; summed
    in float64).
    """
    n = indptr.shape[0] - 1
    counts = np.zeros(n, np.int64)
    for i in range(n):
        a = indptr[i]
        b = indptr[i + 1]
        m = b - a
        for p in range(a, b):
            keep[p] = False
        if m == 0:
            continue
        mag = np.abs(values[a:b])
        # Stable sort of -|w| keeps ascending column order among ties.
        order = np.argsort(-mag, kind="mergesort")
        limit = m
        if top_k >= 0:
            limit = min(limit, top_k)
        if threshold >= 0:
            c = 0
            while c < limit and mag[order[c]] > threshold:
                c += 1
            limit = c
        if mass >= 0:
            total = 0.0
            for p in range(m):
                total += np.float64(mag[p])
            goal = mass * total
            run = 0.0
            c = 0
            while c < limit and run < goal:
                run += np.float64(mag[order[c]])
                c += 1
            limit = c
        for c in range(limit):
            keep[a + order[c]] = True
        counts[i] = limit
    return counts


# --------------------------------------------------------------------------- compact storage


@njit(**EXACT)
def quantize_u8(indptr, values, codes, scales):
    """Per-row uint8 codes: ``scale = max(w) / 255``, ``code = rint(w / scale)``.

    Weights must be >= 0 (checked by the caller).  A row whose largest weight is
    0 gets scale 0 and codes 0.  Decoding is ``code * scale``, off by at most
    ``scale / 2`` (plus float32 rounding).
    """
    n = indptr.shape[0] - 1
    for i in range(n):
        hi = np.float32(0)
        for p in range(indptr[i], indptr[i + 1]):
            hi = max(hi, values[p])
        scale = hi / np.float32(255)
        scales[i] = scale
        for p in range(indptr[i], indptr[i + 1]):
            if scale > 0:
                codes[p] = np.uint8(min(np.rint(values[p] / scale), np.float32(255)))
            else:
                codes[p] = 0


#: ``dequantize_u8(indptr, codes, scales, out)``: ``out[p] = codes[p] * scales[row of p]`` in float32:
#: :func:`scale_values`, whose float32 result is the same whichever float type numba multiplies a
#: uint8 code and a float32 scale in (the exact product has at most 32 significant bits, one rounding).
dequantize_u8 = scale_values
