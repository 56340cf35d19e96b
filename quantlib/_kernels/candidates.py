"""Scoring external candidates (:func:`quantlib.rescore`): each query against its own rows only.

One call scores every query: its candidate rows are gathered from the corpus
(read where they lie, a memory map included; the corpus is never copied) into
a small scratch block, scored there by the very functions a search plan over
those rows calls (:func:`dense._tile1`, :func:`dense.row_norms`,
:func:`codecs.scalar_decode`, with the same argument types, so every score has
the bits of the one-query plans it replaces), and the best ``k`` kept in order.

The rows lie anywhere in the corpus, so the gather waits on memory: each
candidate's row is requested :data:`AHEAD` candidates before it is copied
(measured 47 -> 35 ms for 1000 x 100 rows of 1.5 KB out of 1.5 GB, one core),
and large calls split the queries over threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._config import EXACT
from .codecs import _prefetch, scalar_decode
from .dense import _tile1, row_norms

#: float32's smallest normal number: a row of smaller (nonzero) norm has no float32 cosine.
_TINY = float(np.finfo(np.float32).tiny)

#: How many candidates ahead of the one being copied its row is requested from memory (4-32 did
#: about as well; 0 was 1.3x slower).
AHEAD = 8

#: ``norms`` modes: row scale 1, the stored rows' inverse norms, the dequantized rows' inverse norms.
DOT, COSINE, COSINE_DEQUANTIZED = 0, 1, 2


@njit(**EXACT)
def _better(s, i, t, j):
    """Whether score ``s`` of id ``i`` ranks before score ``t`` of id ``j``: higher first, then lower id."""
    return s > t or (s == t and i < j)


@njit(**EXACT)
def _score_range(W, A, B, X, cand, norms, start, step, off, keys, use_keys, q0, q1, out_scores, out_ids):
    """:func:`score_candidates` for queries q0..q1."""
    nq, c = cand.shape
    d = X.shape[1]
    k = out_scores.shape[1]
    width = max(c, 1)
    scratch = np.zeros((width, d), X.dtype)
    values = np.zeros((width if norms == COSINE_DEQUANTIZED else 1, d), np.float32)
    lengths = np.zeros(width, np.float64)
    RS = np.ones(width, np.float32)
    buf = np.empty((4, width), A.dtype)
    rows = np.empty(width, np.int64)
    wq = np.empty((1, d), W.dtype)
    aq = np.empty(1, A.dtype)
    bq = np.empty(1, B.dtype)
    line = max(1, 64 // X.itemsize)
    for q in range(q0, q1):
        n = 0
        for j in range(c):
            f = q * c + j + AHEAD
            if f < q1 * c:
                ahead = cand[f // c, f % c]
                if ahead >= 0:
                    for t in range(0, d, line):
                        _prefetch(X, ahead * d + t)
            r = cand[q, j]
            if r >= 0:
                src = X[r]
                dst = scratch[n]
                for t in range(d):
                    dst[t] = src[t]
                rows[n] = r
                n += 1
        if n == 0:
            continue
        if norms != DOT:
            if norms == COSINE_DEQUANTIZED:
                scalar_decode(scratch, start, step, off, values)
                row_norms(values, lengths)
            else:
                row_norms(scratch, lengths)
            for j in range(n):
                v = lengths[j]
                if v > 0 and v < _TINY:
                    out_scores[q, 0] = v
                    return 2, q, j
                RS[j] = np.float32(1.0 / v) if v > 0 else np.float32(0.0)
        for t in range(d):
            wq[0, t] = W[q, t]
        aq[0] = A[q]
        bq[0] = B[q]
        _tile1(wq, scratch, 0, n, aq, bq, RS, None, buf)  # no per-row term (dot, cosine)
        # the best k by insertion: out_scores/out_ids come in as -inf/-1 padding
        s_out = out_scores[q]
        i_out = out_ids[q]
        filled = 0
        for j in range(n):
            v = buf[0, j]
            if not np.isfinite(v):
                return 1, q, j
            ident = keys[rows[j]] if use_keys else rows[j]
            if filled == k and not _better(v, ident, s_out[k - 1], i_out[k - 1]):
                continue
            p = filled if filled < k else k - 1
            while p > 0 and _better(v, ident, s_out[p - 1], i_out[p - 1]):
                s_out[p] = s_out[p - 1]
                i_out[p] = i_out[p - 1]
                p -= 1
            s_out[p] = v
            i_out[p] = ident
            if filled < k:
                filled += 1
    return 0, 0, 0


@njit(**EXACT)
def score_candidates(W, A, B, X, cand, norms, start, step, off, keys, use_keys, out_scores, out_ids):
    """The best ``k`` of each query's candidates, best first: ``out_scores``/``out_ids`` (nq, k).

    Query ``q`` (``W[q]``, ``A[q]``, ``B[q]`` as a one-query dense plan holds them) is scored against
    the rows ``cand[q, j] >= 0`` of ``X`` (-1 is skipped; the rows of a query are distinct).  Ids are
    ``keys[row]`` if ``use_keys`` else the row numbers; equal scores rank the lower id first.  The
    outputs come in filled with -inf / -1, which stay where a query has fewer than ``k`` rows.
    ``norms``: :data:`DOT`, :data:`COSINE` or :data:`COSINE_DEQUANTIZED` (rows decoded as
    ``start + (code - off) * step``).

    Returns ``(status, q, j)``: 0 when done; 1 if query ``q``'s score of its ``j``-th valid candidate
    is NaN or infinite; 2 if that row's norm is below float32's smallest normal number (the norm is
    then in ``out_scores[q, 0]``).  Both stop at the first such query.
    """
    return _score_range(W, A, B, X, cand, norms, start, step, off, keys, use_keys, 0, cand.shape[0],
                        out_scores, out_ids)


@njit(parallel=True, **EXACT)
def score_candidates_parallel(W, A, B, X, cand, norms, start, step, off, keys, use_keys, nchunks,
                              out_scores, out_ids):
    """:func:`score_candidates` with the queries split into ``nchunks`` runs over threads (the same
    results, and the same first failing query)."""
    nq = cand.shape[0]
    status = np.zeros((nchunks, 3), np.int64)
    for b in prange(nchunks):
        s, q, j = _score_range(W, A, B, X, cand, norms, start, step, off, keys, use_keys, b * nq // nchunks,
                               (b + 1) * nq // nchunks, out_scores, out_ids)
        status[b, 0] = s
        status[b, 1] = q
        status[b, 2] = j
    for b in range(nchunks):
        if status[b, 0] != 0:
            return status[b, 0], status[b, 1], status[b, 2]
    return 0, 0, 0
