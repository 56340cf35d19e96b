"""Where a range kernel's scores go: a score matrix, or top-k heaps.

A family of range kernels (dense, Hamming, float tables over bits) scores a
block of rows for a tile of queries into a small buffer, then hands each
query's scores on with :func:`emit`, to a ``sink``:

- a 2-D array ``out``: ``out[q, i] = score`` (cast to ``out``'s dtype);
- a tuple ``(keys, ids)``: the score's key is offered to query ``q``'s top-k
  heap (:func:`~quantlib._kernels.topk.push`: keys lower first, the heap's
  worst at ``keys[q, 0]``).

So a family writes its block loop once and numba compiles it once per sink
type.  :func:`emit` takes a whole row of a block, not one score: a call per
score that passes arrays measured 20x slower in the heap loop (the hot loop
must hold no call but the rare ``push``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

from .topk import push

__all__ = ["affine", "emit", "finite", "n_queries"]


def n_queries(sink):
    """The number of queries of ``sink`` (rows of ``out``, or of ``keys``)."""
    return (sink if isinstance(sink, np.ndarray) else sink[0]).shape[0]


@overload(n_queries)
def _n_queries_impl(sink):
    if isinstance(sink, types.Array):
        return lambda sink: sink.shape[0]
    return lambda sink: sink[0].shape[0]


def affine(x, a, b):
    """``x * a + b``; ``x * a`` where ``b`` is None; ``x`` itself where ``a`` is None too (a score already)."""
    return x if a is None else x * a if b is None else x * a + b


@overload(affine, inline="always")
def _affine_impl(x, a, b):
    if isinstance(a, types.NoneType):
        return lambda x, a, b: x
    if isinstance(b, types.NoneType):
        return lambda x, a, b: x * a
    return lambda x, a, b: x * a + b


def finite(v):
    """Whether ``v`` is finite (an integer always is)."""
    return bool(np.isfinite(v))


@overload(finite, inline="always")
def _finite_impl(v):
    if isinstance(v, types.Integer):
        return lambda v: True
    return lambda v: np.isfinite(v)


@njit(inline="always")
def _negated(v):
    return -v


@njit(inline="always")
def _itself(v):
    return v


def emit(sink, q, vals, s, e, a, b, negate):  # pragma: no cover - replaced by the overload inside kernels
    """Hand on query ``q``'s scores of rows s..e, ``affine(vals[i - s], a, b)``, to ``sink``.

    ``negate`` (a constant) says whether a score's heap key is its negation
    (scores ranked highest first) or the score itself (counts, lowest first).
    Returns True if a score is NaN or infinite.
    """
    raise NotImplementedError


@overload(emit, prefer_literal=True)
def _emit_impl(sink, q, vals, s, e, a, b, negate):
    if not isinstance(negate, types.BooleanLiteral):
        return None
    if isinstance(sink, types.Array):
        def scores(sink, q, vals, s, e, a, b, negate):
            o = sink[q]
            bad = False
            for i in range(s, e):
                v = affine(vals[i - s], a, b)
                bad |= not finite(v)
                o[i] = v
            return bad
        return scores

    key_of = _negated if negate.literal_value else _itself

    def heap(sink, q, vals, s, e, a, b, negate):
        keys, ids = sink
        thr = keys[q, 0]
        bad = False
        for i in range(s, e):
            key = key_of(affine(vals[i - s], a, b))
            bad |= not finite(key)
            if key < thr:
                push(keys, ids, q, key, i)
                thr = keys[q, 0]
        return bad
    return heap
