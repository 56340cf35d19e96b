"""Pairwise scores for every stored format: :func:`pairwise` and its one-to-many forms.

See :mod:`quantlib.metrics` for what the scores are, how they relate to
``scipy.spatial.distance.cdist``, and how each kind of array is read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._corpus import _as_rows, prepare_corpus
from ._planner import _query_blocks, plan_queries
from ._validation import as_array, describe, refuse_overlap
from .errors import DTypeError, ShapeError
from .metrics import Metric, metric_info

__all__ = ["cosine", "dot", "hamming", "pairwise"]


def pairwise(
    XA: Any,
    XB: Any,
    metric: Metric | str = "cosine",
    *,
    precision: str | None = None,
    codec: Any = None,
    dim: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Scores of every row of ``XA`` against every row of ``XB`` (what :func:`quantlib.search` ranks by).

    Parameters
    ----------
    XA : array_like, shape (m, d) or (m, w)
        Queries: float embeddings, or codes in the format of ``XB``.
    XB : array_like, shape (n, d) or (n, w)
        Stored rows: float embeddings, int8/uint8 codes or packed bits.
    metric : {"cosine", "dot", "hamming", "sqeuclidean"}
        ``cosine`` and ``dot`` are similarities (higher is better);
        ``hamming`` is the integer number of differing bits and
        ``sqeuclidean`` (alias ``l2``) the squared Euclidean distance (lower
        is better; equal to scipy's ``cdist(..., "sqeuclidean")``).
        See the module docstring for the relation to ``scipy.spatial.distance.cdist``.
    precision : str, optional
        The precision of ``XB`` (and of ``XA`` when it holds codes).  Needed
        for int8/uint8 arrays under ``dot``/``cosine`` (codes or bits?).
    codec : Codec or dict, optional
        The codec (or its config) that made ``XB``: a :class:`~quantlib.ScalarCodec`
        makes float queries score against the dequantized vectors.
    dim : int, optional
        True dimension of packed bit rows when both arrays are bits (default
        ``8 * w``); ``dot = dim - 2 * hamming``.
    out : numpy.ndarray, optional
        C-contiguous ``(m, n)`` array of the score dtype to write into.  It
        must not share memory with ``XA`` or ``XB`` (a view or reinterpreted
        bytes of them included): that raises :class:`~quantlib.ShapeError`.

    Returns
    -------
    numpy.ndarray, shape (m, n)
        float32 similarities or squared distances, or int64 for Hamming counts
        and for the dot or squared distance of two code or bit arrays.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [3.0, 4.0]], dtype=np.float32)
    >>> pairwise(a, a, "cosine")
    array([[1. , 0.6],
           [0.6, 1. ]], dtype=float32)
    >>> bits = np.array([[0b10110000], [0b10000000]], dtype=np.uint8)
    >>> pairwise(bits, bits, "hamming")
    array([[0, 2],
           [2, 0]])
    >>> pairwise(bits, bits, "dot", precision="ubinary", dim=4)
    array([[4, 0],
           [0, 4]])
    """
    return _pairwise(XA, XB, metric, precision, codec, dim, out, ("XA", "XB"))


def _pairwise(XA: Any, XB: Any, metric: Metric | str, precision: Any, codec: Any, dim: Any, out: Any,
              names: tuple[str, str]) -> np.ndarray:
    """:func:`pairwise`, its errors naming the arguments ``names`` (``q``/``X`` for the one-to-many forms)."""
    m = metric_info(metric)
    corpus = prepare_corpus(XB, m, precision=precision, codec=codec, name=names[1])
    a = _as_rows(XA, names[0])
    if a.dtype.kind not in "fiu":
        raise DTypeError(f"{names[0]}: expected float embeddings or codes, got dtype {a.dtype}")
    nq = a.shape[0]
    float_q = a.dtype.kind == "f"
    block = _query_blocks(nq, corpus, float_q, m)
    result = None
    for s in range(0, max(nq, 1), block):
        plan = plan_queries(a[s:s + block], corpus, m, dim=dim, name=names[0])
        if result is None:
            result = _check_out(out, (nq, corpus.n), plan.score_dtype)
            if out is not None:  # the kernels read both while they write out
                refuse_overlap(result, {names[0]: a, names[1]: corpus.rows})
        if plan.nq:
            plan.scores(result[s:s + block])
    assert result is not None
    return result


def _check_out(out: Any, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise DTypeError(f"out: expected a numpy array, got {describe(out)}")
    if out.dtype != dtype:
        raise DTypeError(f"out: expected dtype {dtype} for these scores, got dtype {out.dtype}")
    if out.shape != shape:
        raise ShapeError(f"out: expected shape {shape}, got shape {out.shape}")
    if not out.flags.c_contiguous:
        raise ShapeError("out: expected a C-contiguous array, got a non-contiguous view; use np.empty(shape)")
    if not out.flags.writeable:
        raise ShapeError("out: expected a writeable array, got a read-only one")
    return out


def _one_to_many(metric: str, q: Any, X: Any, precision: Any, codec: Any, dim: Any, out: Any) -> np.ndarray:
    arr = as_array(q, "q")
    if arr.ndim != 1:
        raise ShapeError(
            f"q: expected one vector of shape (d,), got shape {arr.shape}; "
            f"use quantlib.pairwise(Q, X, {metric!r}) for a batch"
        )
    if out is not None:
        if not isinstance(out, np.ndarray) or out.ndim != 1:
            raise ShapeError(f"out: expected a 1-D array of shape (n,), got {describe(out)}")
        out = out.reshape(1, -1)
    return _pairwise(arr[None, :], X, metric, precision, codec, dim, out, ("q", "X"))[0]


def dot(q: Any, X: Any, *, precision: str | None = None, codec: Any = None,
        dim: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Dot products of one vector ``q`` (d,) with every row of ``X``: ``pairwise(q[None], X, "dot")[0]``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [-1.0, 0.5]], dtype=np.float32)
    >>> dot(np.array([2.0, 1.0], dtype=np.float32), X)
    array([ 4. , -1.5], dtype=float32)
    >>> codes = np.array([[-128, 127], [0, 1]], dtype=np.int8)
    >>> dot(np.array([-128, 127], dtype=np.int8), codes, precision="int8")
    array([32513,   127])
    """
    return _one_to_many("dot", q, X, precision, codec, dim, out)


def cosine(q: Any, X: Any, *, precision: str | None = None, codec: Any = None,
           dim: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarities of one vector ``q`` (d,) with every row of ``X`` (0 for zero vectors).

    scipy's ``cdist(..., "cosine")`` is ``1 - cosine``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    >>> cosine(np.array([1.0, 0.0], dtype=np.float32), X)
    array([ 0.6,  0. , -1. ], dtype=float32)
    """
    return _one_to_many("cosine", q, X, precision, codec, dim, out)


def hamming(q: Any, X: Any, *, precision: str | None = None, dim: int | None = None,
            out: np.ndarray | None = None) -> np.ndarray:
    """Number of differing bits between packed bits ``q`` (w,) and every row of ``X`` (n, w).

    A float ``q`` is binarized first (bit = value > 0).  scipy's
    ``cdist(..., "hamming")`` on unpacked bits is this count divided by ``d``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0b11110000], [0b00001111]], dtype=np.uint8)
    >>> hamming(np.array([0b11000000], dtype=np.uint8), X)
    array([2, 6])
    """
    return _one_to_many("hamming", q, X, precision, None, dim, out)

