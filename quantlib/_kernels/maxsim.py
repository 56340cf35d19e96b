"""MaxSim kernels: one query's token vectors against ragged multi-vector documents.

Documents are consecutive rows of one token matrix ``X``; document ``i`` owns
rows ``offs[i]:offs[i + 1]`` (at least one).  For every query token ``q`` a
kernel finds the best raw score over the document's tokens and sums::

    score_i = (sum over q < nq of  A[q] * best_q + B[q]) / norm
    best_q  = max over t in doc i of raw(q, t)      (hamming: min)

in float64, then rounds it once to the dtype of ``out`` (or of the top-k keys),
so that a search ranks exactly the scores :func:`maxsim` returns.

Three families of ``raw``:

``dense``
    ``sum_j W[q, j] * x[t, j]``.  Float queries come as ``W`` of shape
    ``(groups, d, 16)``: 16 query tokens transposed per group, scored against
    six document tokens per pass by :func:`~quantlib._kernels.maxtile.max_dots_16`
    (a GEMM-style register tile with vertical running maxima), or, where numba
    compiles for AVX-512, ``(groups, d, 32)`` for
    :func:`~quantlib._kernels.maxtile.max_dots_32` (12 document tokens a pass); float16 rows
    (read from their bits as ``uint16``) and 8-bit codes (read as numbers; a
    calibrated codec's affine map is folded into ``W``, ``A`` and ``B`` by the
    caller) are widened to float32 once per document first; float32 rows are
    read in place, the next document prefetched while one is scored.  Code queries
    against codes come as a 2-D ``W`` and run exactly, four query tokens
    against four document tokens per pass (a 4 x 4 register tile), in the type
    of ``neg`` (the "minus infinity" a running maximum starts from): float32
    while every partial sum is an integer below 2**24, int32, or int64.
``hamming``
    The number of differing bits between the query token's words ``QT[:, q]``
    and the token's packed bytes, read eight at a time with
    :func:`~quantlib._kernels.popcount.load_u64` and counted with the hardware
    popcount; the best is the minimum.  The caller sets ``A = -2`` and
    ``B = d``: ``d - 2 * hamming`` is the dot of the +1/-1 vectors.
``lut``
    A float query against bits read as +1/-1.  ``T[p, v, q]`` is the sum of
    query token ``q``'s components whose bit is set in byte value ``v`` at byte
    position ``p``; a token's raw score is ``sum_p T[p, x[t, p], q]``, one
    contiguous row of ``nq`` floats per byte.  The caller sets ``A = 2`` and
    ``B = -sum(q)``: ``2 * sum_{bits set} q_j - sum_j q_j = q . (2 b - 1)``.

Each family is written once, as a scratch allocator and a scorer of one
document (``hamming`` and ``lut`` share theirs, chosen by the number of
dimensions of the query array, and so their drivers: ``lut_scores is
hamming_scores``); :func:`~quantlib._kernels.drivers.maxsim_drivers` makes from them its
serial scorer over a list of document ids, a parallel one (``prange`` over
chunks of that list), a serial fused top-k search over a range of documents,
and a parallel one (one top-k list per chunk of documents, folded by
:func:`~quantlib._kernels.topk.merge`, which ranks by (key, index), so ties go
to the lower index).  Top-k keys are negated scores (lower is
better).  Kernels trust their input: the public layer
(:mod:`quantlib.multivector`) validates and pads ``W`` to whole tiles.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from ._config import FAST
from .dense import widen
from .drivers import maxsim_drivers
from .maxtile import WIDE_GROUP, dots_16, max_dots_16, max_dots_32
from .popcount import load_u64, popcount64, tail_u64

#: Query tokens per register tile of the dense family (``W`` rows are padded to a multiple).
TILE = 4


def mac(s, a, b):  # pragma: no cover - replaced by the overload inside kernels
    """``s + a * b`` in the type of ``s`` (numba would widen int32 products to int64)."""
    raise NotImplementedError


@overload(mac)
def _mac_impl(s, a, b):
    if s == types.int32:
        return lambda s, a, b: np.int32(s + np.int32(a) * np.int32(b))
    return lambda s, a, b: s + a * b


# --------------------------------------------------------------------------- dense


@njit(inline="always")
def _mac4(s, c, u):
    """One row of the 4 x 4 tile: the four running sums ``s`` plus query component ``c`` times the
    four document components ``u`` (tuples: numba inlines this, LLVM keeps them in registers)."""
    return mac(s[0], c, u[0]), mac(s[1], c, u[1]), mac(s[2], c, u[2]), mac(s[3], c, u[3])


@njit(**FAST)
def _dense_best(W, X, a, b, neg, best):
    """``best[q]`` = max over rows a..b of ``W[q] . X[t]`` for every padded query row."""
    nq, d = W.shape
    zero = widen(0, neg)
    last = b - 1
    for q0 in range(0, nq, 4):
        w0 = W[q0]
        w1 = W[q0 + 1]
        w2 = W[q0 + 2]
        w3 = W[q0 + 3]
        m0 = neg
        m1 = neg
        m2 = neg
        m3 = neg
        for t in range(a, b, 4):
            # Past the end, the last row is scored again: harmless under a maximum.
            x0 = X[t]
            x1 = X[min(t + 1, last)]
            x2 = X[min(t + 2, last)]
            x3 = X[min(t + 3, last)]
            s0 = s1 = s2 = s3 = (zero, zero, zero, zero)
            for j in range(d):
                u = (widen(x0[j], zero), widen(x1[j], zero), widen(x2[j], zero), widen(x3[j], zero))
                s0 = _mac4(s0, widen(w0[j], zero), u)
                s1 = _mac4(s1, widen(w1[j], zero), u)
                s2 = _mac4(s2, widen(w2[j], zero), u)
                s3 = _mac4(s3, widen(w3[j], zero), u)
            m0 = max(m0, max(max(s0[0], s0[1]), max(s0[2], s0[3])))
            m1 = max(m1, max(max(s1[0], s1[1]), max(s1[2], s1[3])))
            m2 = max(m2, max(max(s2[0], s2[1]), max(s2[2], s2[3])))
            m3 = max(m3, max(max(s3[0], s3[1]), max(s3[2], s3[3])))
        best[q0] = m0
        best[q0 + 1] = m1
        best[q0 + 2] = m2
        best[q0 + 3] = m3


def dense_doc(W, X, a, b, neg, best, scratch, na, nb):  # pragma: no cover - replaced by the overload
    """``best`` for rows a..b: the query tiles of ``W`` against the document's tokens.

    Rows na..nb (the next document) are prefetched into L2 meanwhile by the float tiles, so
    they come from memory during the arithmetic instead of after it, and float32 rows are then
    read in place rather than copied (Intel Xeon, 1.6 million 128-d tokens, one thread: 146-163
    ms copied without prefetch, 133 ms copied with it, 110-118 ms in place with it, the time
    numpy takes to sum the same tokens).

    A 3-D ``W`` is float query tokens in groups of 16 or 32, transposed
    (:func:`~quantlib._kernels.maxtile.max_dots_16`, ``max_dots_32``); float16 and
    8-bit rows are widened once per document into the float32 ``scratch`` for it.  A 2-D ``W``
    (code queries) takes the 4 x 4 tiles of :func:`_dense_best`.
    """
    raise NotImplementedError


@njit(**FAST)
def _widen_rows(X, a, b, scratch):
    """``scratch[t - a] = X[t]`` as float32 for rows a..b (uint16 items are float16 bits)."""
    zero = np.float32(0)
    for t in range(b - a):
        x = X[a + t]
        s = scratch[t]
        for j in range(x.shape[0]):
            s[j] = widen(x[j], zero)


@njit(**FAST)
def _grouped_best(QT, X, a, b, best, P, p0, p1):
    """Every group of ``QT`` against rows a..b of ``X``; the first also prefetches rows p0..p1 of ``P``."""
    if QT.shape[2] == WIDE_GROUP:  # the AVX-512 layout (multivector._maxsim_group)
        for g in range(QT.shape[0]):
            max_dots_32(QT, X, a, b, g, best, P, p0, p1 if g == 0 else p0)
    else:
        for g in range(QT.shape[0]):
            max_dots_16(QT, X, a, b, g, best, P, p0, p1 if g == 0 else p0)


@overload(dense_doc)
def _dense_doc_impl(W, X, a, b, neg, best, scratch, na, nb):
    if W.ndim == 3 and X.dtype == types.float32:
        def direct(W, X, a, b, neg, best, scratch, na, nb):
            _grouped_best(W, X, a, b, best, X, na, nb)
        return direct
    if W.ndim == 3:
        def widened(W, X, a, b, neg, best, scratch, na, nb):
            _widen_rows(X, a, b, scratch)
            _grouped_best(W, scratch, 0, b - a, best, X, na, nb)
        return widened
    if X.dtype == types.uint16:
        def impl(W, X, a, b, neg, best, scratch, na, nb):
            # Widening each half once per document, not once per query tile.
            _widen_rows(X, a, b, scratch)
            _dense_best(W, scratch, 0, b - a, neg, best)
        return impl

    def impl(W, X, a, b, neg, best, scratch, na, nb):
        _dense_best(W, X, a, b, neg, best)
    return impl


def make_scratch(W, X, maxlen):  # pragma: no cover - replaced by the overload
    """A float32 ``(maxlen, d)`` buffer for rows that :func:`dense_doc` widens, an empty one otherwise."""
    raise NotImplementedError


@overload(make_scratch)
def _make_scratch_impl(W, X, maxlen):
    if X.dtype == types.uint16 or W.ndim == 3:
        return lambda W, X, maxlen: np.empty((maxlen, X.shape[1]), np.float32)
    return lambda W, X, maxlen: np.empty((0, X.shape[1]), np.float32)


def best_slots(W):  # pragma: no cover - replaced by the overload
    """Length of the per-query-token maxima: the padded query tokens of ``W``."""
    raise NotImplementedError


@overload(best_slots)
def _best_slots_impl(W):
    if W.ndim == 3:
        return lambda W: W.shape[0] * W.shape[2]
    return lambda W: W.shape[0]


@njit(inline="always")
def _total(best, A, B, norm):
    """``(sum_q A[q] * best[q] + B[q]) / norm`` over the real query tokens, in float64."""
    tot = 0.0
    for q in range(A.shape[0]):
        tot += A[q] * np.float64(best[q]) + B[q]
    return tot / norm


@njit(**FAST)
def _dense_state(W, X, offs, A, B, neg, norm, maxlen):
    """The scratch of a dense scan: per-query-token maxima, and rows widened for :func:`dense_doc`."""
    return np.full(best_slots(W), neg), make_scratch(W, X, maxlen)


@njit(**FAST)
def _dense_score(W, X, offs, A, B, neg, norm, maxlen, state, i, j):
    """The score of document ``i``; document ``j`` (-1: none) is prefetched meanwhile."""
    best, scratch = state
    na, nb = (offs[j], offs[j + 1]) if j >= 0 else (0, 0)
    dense_doc(W, X, offs[i], offs[i + 1], neg, best, scratch, na, nb)
    return _total(best, A, B, norm)


#: ``dense_scores(W, X, offs, A, B, neg, norm, maxlen, ids, lo, hi, out)``: ``out[r]`` = score of
#: document ``ids[r]`` for positions r in lo..hi (``maxlen``: the longest document);
#: ``dense_scores_parallel(W, X, offs, A, B, neg, norm, maxlen, ids, bounds, out)``: the same over
#: positions ``bounds[c]:bounds[c + 1]``, chunks in parallel;
#: ``dense_search(W, X, offs, A, B, neg, norm, maxlen, d0, d1, keys, ids)``: fold documents d0..d1
#: into the top-k list ``keys[0]``/``ids[0]`` (negated scores);
#: ``dense_search_parallel(W, X, offs, A, B, neg, norm, maxlen, bounds, keys, ids)``: the same over
#: document chunks in parallel, then merged.
dense_scores, dense_scores_parallel, dense_search, dense_search_parallel = maxsim_drivers(
    "dense", _dense_state, _dense_score)


# --------------------------------------------------------------------------- hamming


@njit(**FAST)
def _hamming_best_2(QT, X, a, b, best):
    """:func:`_hamming_best` for rows of exactly two words (128 bits, ColBERT's usual width).

    One pass over the query tokens per document token, the two counts and the
    minimum in registers: vectorised over query tokens.
    """
    nq = QT.shape[1]
    q0 = QT[0]
    q1 = QT[1]
    for q in range(nq):
        best[q] = 1 << 62
    for t in range(a, b):
        x0 = load_u64(X, 16 * t)
        x1 = load_u64(X, 16 * t + 8)
        for q in range(nq):
            h = np.int64(popcount64(x0 ^ q0[q]) + popcount64(x1 ^ q1[q]))
            best[q] = min(best[q], h)


@njit(**FAST)
def _hamming_best(QT, X, a, b, acc, best):
    """``best[q]`` = min over rows a..b of the Hamming count of query words ``QT[:, q]`` and row ``t``."""
    nw, nq = QT.shape
    w = X.shape[1]
    full = w // 8
    if w == 16:
        _hamming_best_2(QT, X, a, b, best)
        return
    for q in range(nq):
        best[q] = 1 << 62
    for t in range(a, b):
        base = t * w
        for q in range(nq):
            acc[q] = 0
        for j in range(full):
            x = load_u64(X, base + 8 * j)
            qt = QT[j]
            for q in range(nq):
                acc[q] += popcount64(x ^ qt[q])
        if full < nw:
            x = tail_u64(X, t, w, full)
            qt = QT[full]
            for q in range(nq):
                acc[q] += popcount64(x ^ qt[q])
        for q in range(nq):
            h = np.int64(acc[q])
            if h < best[q]:
                best[q] = h


# --------------------------------------------------------------------------- lut


@njit(**FAST)
def _lut_best(T, X, a, b, acc, best):
    """``best[q]`` = max over rows a..b of ``sum_p T[p, X[t, p], q]``."""
    w = X.shape[1]
    nq = T.shape[2]
    for q in range(nq):
        best[q] = -np.inf
    for t in range(a, b):
        x = X[t]
        for q in range(nq):
            acc[q] = 0
        for p in range(w):
            row = T[p, x[p]]
            for q in range(nq):
                acc[q] += row[q]
        for q in range(nq):
            best[q] = max(best[q], acc[q])


# --------------------------------------------------------------------------- hamming and lut: one quartet


@njit(**FAST)
def _bits_state(Q, X, offs, A, B, norm):
    """Per-query-token best and running sums: int64 and uint64 counts (hamming, a 2-D ``Q`` of
    query words), or the table's floats (lut, a 3-D ``Q``; numba keeps the branch of ``Q.ndim``)."""
    nq = Q.shape[-1]
    if Q.ndim == 2:
        return np.empty(nq, np.int64), np.empty(nq, np.uint64)
    return np.empty(nq, Q.dtype), np.empty(nq, Q.dtype)


@njit(**FAST)
def _bits_score(Q, X, offs, A, B, norm, state, i, j):
    """The score of document ``i`` by :func:`_hamming_best` (2-D ``Q``) or :func:`_lut_best` (3-D)."""
    best, acc = state
    if Q.ndim == 2:
        _hamming_best(Q, X, offs[i], offs[i + 1], acc, best)
    else:
        _lut_best(Q, X, offs[i], offs[i + 1], acc, best)
    return _total(best, A, B, norm)


#: The quartet of :func:`dense_scores` for bits, by Hamming counts against code queries
#: (``hamming_*(QT, X, offs, A, B, norm, ...)``, ``QT`` the query tokens' 64-bit words, ``A = -2``,
#: ``B = d``) or by tables of float queries (``lut_*(T, X, offs, A, B, norm, ...)``, ``A = 2``,
#: ``B = -sum(q)``): ``hamming_scores(QT, X, offs, A, B, norm, ids, lo, hi, out)``,
#: ``hamming_scores_parallel(..., norm, ids, bounds, out)``, ``hamming_search(..., norm, d0, d1, keys,
#: ids)``, ``hamming_search_parallel(..., norm, bounds, keys, ids)``; the same for ``lut_*``.
hamming_scores, hamming_scores_parallel, hamming_search, hamming_search_parallel = maxsim_drivers(
    "bits", _bits_state, _bits_score)
lut_scores, lut_scores_parallel, lut_search, lut_search_parallel = (
    hamming_scores, hamming_scores_parallel, hamming_search, hamming_search_parallel)


# --------------------------------------------------------------------------- MUVERA


#: Rows per block of :func:`project_rows` (a multiple of the six-row tile; 96 KB of 128-d float32).
_PROJECT_ROWS = 192


@njit(**FAST)
def project_rows(MT, X, r0, r1, Y):
    """``Y[t - r0] = X[t] @ M`` for rows r0..r1, ``M``'s columns grouped by 16 in ``MT`` (zero-padded).

    :func:`~quantlib._kernels.maxtile.dots_16` sums each component in a fixed
    order, so a token's projection is the same wherever it sits in a block and
    a document's encoding never depends on the batch it came in (BLAS rounds a
    row by its place in a block, and a rounding can move a token across a
    hyperplane into another bucket).
    """
    for s in range(r0, r1, _PROJECT_ROWS):
        e = min(r1, s + _PROJECT_ROWS)
        part = Y[s - r0:e - r0]
        for g in range(MT.shape[0]):  # every column group while the rows are in cache
            dots_16(MT, X, s, e, g, part)


@njit(**FAST)
def muvera_block(Y, offs, d0, d1, k_sim, d_proj, reps, document, out):
    """Fold documents d0..d1 into their MUVERA encodings ``out[i]`` (zeros on entry).

    ``Y`` holds the token rows of those documents (row ``t - offs[d0]`` for
    token ``t``) multiplied by the hyperplanes and projections of every round:
    per round ``k_sim`` hyperplane dots, then ``d_proj`` projected components,
    ``reps`` rounds (columns past them are padding).  Bit ``j`` of a token's
    bucket is ``Y[t, j] > 0``; a bucket's block is the sum (query) or the
    mean (document) of its tokens' projections, and an empty document bucket
    copies the projection of the first token whose bucket is nearest in
    Hamming distance.
    """
    nb = 1 << k_sim
    stride = k_sim + d_proj
    base = offs[d0]
    counts = np.zeros(nb, np.int64)
    for i in range(d0, d1):
        a = offs[i] - base
        b = offs[i + 1] - base
        codes = np.empty(b - a, np.uint64)
        o = out[i]
        for r in range(reps):
            col = r * stride
            blk = r * nb * d_proj
            counts[:] = 0
            for t in range(a, b):
                y = Y[t]
                code = 0
                for j in range(k_sim):
                    if y[col + j] > 0:
                        code |= 1 << j
                codes[t - a] = code
                counts[code] += 1
                dst = blk + code * d_proj
                for c in range(d_proj):
                    o[dst + c] += y[col + k_sim + c]
            if not document:
                continue
            for bucket in range(nb):
                dst = blk + bucket * d_proj
                if counts[bucket] > 0:
                    inv = np.float32(1.0) / np.float32(counts[bucket])
                    for c in range(d_proj):
                        o[dst + c] *= inv
                    continue
                nearest = a
                fewest = np.uint64(65)
                for t in range(a, b):
                    h = popcount64(codes[t - a] ^ np.uint64(bucket))
                    if h < fewest:
                        fewest = h
                        nearest = t
                y = Y[nearest]
                for c in range(d_proj):
                    o[dst + c] = y[col + k_sim + c]
