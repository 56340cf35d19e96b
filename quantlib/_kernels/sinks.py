"""Where a range kernel's scores go: a score matrix, or top-k heaps.

A family of range kernels (dense, Hamming, float tables over bits) scores a
block of rows for a tile of queries into a small buffer, then hands each score
on.  That loop is written once per family, over a ``sink``:

- a 2-D array ``out``: ``out[q, i] = score`` (cast to ``out``'s dtype);
- a tuple ``(keys, ids)``: ``key`` is offered to query ``q``'s top-k heap
  (:func:`~quantlib._kernels.topk.push`: keys lower first, the heap's worst at
  ``keys[q, 0]``).

The loop passes both the score and its heap key (its negation for scores that
rank highest first, the score itself for counts); the sink keeps the one it
stores and LLVM drops the other.  Numba compiles the loop once per sink type,
so each compiled kernel holds only its own store.  ``thr`` carries the heap's
current worst key through a row loop (the scores sink ignores it)::

    thr = threshold(sink, q)
    for i in range(s, e):
        thr = put(sink, q, i, score, key, thr)
"""

from __future__ import annotations

from numba import types
from numba.extending import overload

from .topk import push

__all__ = ["n_queries", "put", "threshold"]


def _is_scores(sink) -> bool:
    return isinstance(sink, types.Array)


def n_queries(sink):  # pragma: no cover - replaced by the overload inside kernels
    """The number of queries of ``sink`` (rows of ``out``, or of ``keys``)."""
    raise NotImplementedError


@overload(n_queries, inline="always")
def _n_queries_impl(sink):
    if _is_scores(sink):
        return lambda sink: sink.shape[0]
    return lambda sink: sink[0].shape[0]


def threshold(sink, q):  # pragma: no cover - replaced by the overload inside kernels
    """The key a row must beat to enter query ``q``'s heap (0 for a scores sink: unused)."""
    raise NotImplementedError


@overload(threshold, inline="always")
def _threshold_impl(sink, q):
    if _is_scores(sink):
        return lambda sink, q: 0
    return lambda sink, q: sink[0][q, 0]


def put(sink, q, i, score, key, thr):  # pragma: no cover - replaced by the overload inside kernels
    """Store ``score`` as ``out[q, i]``, or offer ``key`` (row ``i``) to heap ``q``; the new threshold."""
    raise NotImplementedError


@overload(put, inline="always")
def _put_impl(sink, q, i, score, key, thr):
    if _is_scores(sink):
        def store(sink, q, i, score, key, thr):
            sink[q, i] = score
            return thr
        return store

    def offer(sink, q, i, score, key, thr):
        if key < thr:
            keys, ids = sink
            push(keys, ids, q, key, i)
            return keys[q, 0]
        return thr
    return offer
