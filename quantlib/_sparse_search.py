"""Sparse scoring: :func:`sparse_dot`, :func:`sparse_cosine`, :class:`SparseIndex` search and :func:`hybrid_scores`.

The :class:`~quantlib.SparseBatch` container and its formats live in
:mod:`quantlib.sparse`.  Search follows the rules dense search and MaxSim
share (:mod:`quantlib._scoring`): ``1 <= k <= n`` (a ``k`` beyond the corpus
raises, naming both), a result of shape ``(len(queries), k)``, and the best
``k`` ordered by score and, among equal scores, by the lower row.  Its kernels
are serial (one query's posting lists are short; a batch of queries is
scanned query by query).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ._kernels import sparse as K
from ._scoring import best_order, check_k, check_k_fits
from ._validation import as_array, describe, first_nonfinite, overflow_error, refuse_overflow
from .errors import ConfigError, DTypeError, NonFiniteError, OutOfRangeError, ShapeError
from .metrics import METRICS, MetricInfo, metric_info
from .sparse import _F32_MAX, _INT32_LIMIT, Metric, SparseBatch, _as_weight, _float_text, _readonly

__all__ = ["SparseIndex", "hybrid_scores", "sparse_cosine", "sparse_dot", "sparse_search"]


def _as_batch(x: Any, name: str) -> SparseBatch:
    if not isinstance(x, SparseBatch):
        raise DTypeError(f"{name}: expected a SparseBatch (see SparseBatch.from_dicts, from_scipy, ...), "
                         f"got {describe(x)}")
    return x


def _common_cols(a: SparseBatch, b: SparseBatch, na: str, nb: str) -> int:
    if a.vocab_size is not None and b.vocab_size is not None and a.vocab_size != b.vocab_size:
        raise ShapeError(f"{na}, {nb}: vocabularies differ ({a.vocab_size} and {b.vocab_size} ids)")
    return max(a.n_cols, b.n_cols)


def _inverse_norms(batch: SparseBatch) -> np.ndarray:
    """``1 / |row|`` in float64 (0 for rows of norm 0), norms summed in float64."""
    norms = np.empty(len(batch), np.float64)
    K.row_norms(batch.indptr, batch.values, norms)
    with np.errstate(divide="ignore"):
        return np.where(norms > 0, 1.0 / norms, 0.0)


def _unit_rows(batch: SparseBatch) -> SparseBatch:
    """``batch`` with each row divided by its norm (rows of norm 0 stay zero).

    Cosine divides before the products, in float64, rather than scaling the dot
    products after: a row of tiny values has an inverse norm beyond float32
    (1e-41 gives 1e41) and products that underflow, yet its unit row is ordinary.
    """
    values = np.empty(batch.nnz, np.float32)
    K.scale_values(batch.indptr, batch.values, _inverse_norms(batch), values)
    return batch._with(batch.indptr, batch.indices, values, batch.tokens)


def _transposed(indptr: np.ndarray, ids: np.ndarray, values: np.ndarray,
                n_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CSR batch in CSC form: (col_ptr, row ids, values); row ids int32 when they fit."""
    t_ptr = np.empty(n_cols + 1, np.int64)
    t_idx = np.empty(ids.shape[0], np.int32 if indptr.shape[0] - 1 <= _INT32_LIMIT else np.int64)
    t_val = np.empty(ids.shape[0], np.float32)
    K.transpose(indptr, ids, values, n_cols, t_ptr, t_idx, t_val)
    return t_ptr, t_idx, t_val


#: Vocabularies wider than this are renumbered to the ids in use before an
#: inverted index or a dense scatter buffer is built (hashed, 2**31-wide
#: vocabularies): both cost memory per column.
_DENSE_COLS_MAX = 1 << 22


def _renumber(ids: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Positions of ``ids`` in the sorted unique ``cols``; ids not in ``cols`` map to ``len(cols)``.

    The map is increasing, so rows stay sorted; kernels skip ids ``>= len(cols)``.
    """
    pos = np.searchsorted(cols, ids)
    hit = pos < cols.size
    hit[hit] = cols[pos[hit]] == ids[hit]
    return np.where(hit, pos, cols.size).astype(np.int64)


#: With at most this many left rows and no index, :func:`sparse_dot` scans the right batch per row.
_GATHER_MAX_ROWS = 2


def sparse_dot(a: SparseBatch, b: SparseBatch) -> np.ndarray:
    """Dot products of every row of ``a`` with every row of ``b``, as a dense float32 matrix.

    ``out[i, j] = sum_c a[i, c] * b[j, c]``, summed in float32 over the shared
    ids in ascending order (scipy's ``(a @ b.T).toarray()`` up to rounding).
    One query against a batch is ``sparse_dot(query, batch)`` with a batch of one.
    The smaller side is turned into an inverted index, so the work is the number
    of products plus one pass over the other side.
    A sum beyond float32's range raises :class:`OutOfRangeError`.

    Examples
    --------
    >>> a = SparseBatch.from_dicts([{0: 1.0, 2: 2.0}])
    >>> b = SparseBatch.from_dicts([{2: 3.0}, {1: 5.0}, {0: 1.0, 2: 1.0}])
    >>> sparse_dot(a, b)
    array([[6., 0., 3.]], dtype=float32)
    """
    a = _as_batch(a, "a")
    b = _as_batch(b, "b")
    n_cols = _common_cols(a, b, "a", "b")
    na, nb = len(a), len(b)
    if na == 0 or nb == 0 or a.nnz == 0 or b.nnz == 0:
        return np.zeros((na, nb), np.float32)
    a_ids, b_ids = a.indices, b.indices
    if n_cols > _DENSE_COLS_MAX:
        cols = np.unique(np.concatenate((a_ids, b_ids)))
        a_ids, b_ids, n_cols = np.searchsorted(cols, a_ids), np.searchsorted(cols, b_ids), cols.size
    if na <= _GATHER_MAX_ROWS and a.nnz * nb > b.nnz:
        out = np.empty((na, nb), np.float32)
        K.dot_gather(a.indptr, a_ids, a.values, b.indptr, b_ids, b.values, n_cols, out)
    elif b.nnz <= a.nnz:
        out = np.empty((na, nb), np.float32)
        K.dot_inverted(a.indptr, a_ids, a.values, *_transposed(b.indptr, b_ids, b.values, n_cols), out)
    else:
        out_t = np.empty((nb, na), np.float32)
        K.dot_inverted(b.indptr, b_ids, b.values, *_transposed(a.indptr, a_ids, a.values, n_cols), out_t)
        out = np.ascontiguousarray(out_t.T)
    return refuse_overflow(out)


def sparse_cosine(a: SparseBatch, b: SparseBatch) -> np.ndarray:
    """Cosine similarities ``dot / (|a_i| |b_j|)``, dense ``(len(a), len(b))`` float32.

    Each row is divided by its norm first (both in float64, then rounded to
    float32), and the unit rows' dot products are summed as :func:`sparse_dot`
    sums them; so rows of any size, even of subnormal values, score right.
    A row of norm 0 (empty, or only explicit zeros) has cosine 0 with every
    row, where scipy's distance would give NaN.

    Examples
    --------
    >>> a = SparseBatch.from_dicts([{0: 3.0, 1: 4.0}, {}])
    >>> b = SparseBatch.from_dicts([{0: 1.0}, {1: 2.0}])
    >>> sparse_cosine(a, b)
    array([[0.6, 0.8],
           [0. , 0. ]], dtype=float32)
    """
    a = _as_batch(a, "a")
    b = _as_batch(b, "b")
    return sparse_dot(_unit_rows(a), _unit_rows(b))


class SparseIndex:
    """An inverted index over a corpus of sparse vectors, for repeated top-k search.

    Building it transposes the corpus once (about as long as ``tocsc`` in
    scipy, and as much memory as the corpus); each search then touches only
    the posting lists of the query's ids, accumulates the scores of all
    documents in a dense float32 array, and selects the best ``k`` in one pass.

    Parameters
    ----------
    corpus : SparseBatch
        The documents.
    metric : {"dot", "cosine"}
        ``"cosine"`` stores each document divided by its norm (documents of
        norm 0 score 0) and divides each query by its norm before scoring (in
        float64, so vectors of any size, even of subnormal values, score right).

    Examples
    --------
    >>> corpus = SparseBatch.from_dicts([{1: 1.0}, {1: 2.0, 4: 1.0}, {3: 1.0}])
    >>> index = SparseIndex(corpus)
    >>> index.search(SparseBatch.from_dicts([{1: 1.0, 3: 0.5}]), k=2)
    (array([[2., 1.]], dtype=float32), array([[1, 0]]))
    """

    def __init__(self, corpus: SparseBatch, *, metric: Metric = "dot") -> None:
        corpus = _as_batch(corpus, "corpus")
        m = _sparse_metric(metric)
        self.metric: Metric = m.name  # type: ignore[assignment]
        self._normalize = m.unit_rows  # cosine: the dot of unit rows
        self.n_docs = len(corpus)
        self.vocab_size = corpus.vocab_size
        self.n_cols = corpus.n_cols
        if self._normalize:
            corpus = _unit_rows(corpus)
        ids, width = corpus.indices, self.n_cols
        self._cols: np.ndarray | None = None
        if width > _DENSE_COLS_MAX:
            self._cols = _readonly(np.unique(ids))
            ids, width = np.searchsorted(self._cols, ids), self._cols.size
        t_ptr, t_idx, t_val = _transposed(corpus.indptr, ids, corpus.values, width)
        self._t = (_readonly(t_ptr), _readonly(t_idx), _readonly(t_val))

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        return f"SparseIndex(n_docs={self.n_docs}, metric={self.metric!r})"

    def search(self, queries: SparseBatch, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best documents of each query: ``(scores, indices)``, best first.

        Parameters
        ----------
        queries : SparseBatch
            One query per row (a single query is a batch of one: the result
            still has one row).
        k : int
            Documents per query, ``1 <= k <= len(index)``.  A larger ``k``
            raises :class:`~quantlib.ShapeError` (never clipped silently), as
            :func:`quantlib.search` does; ask for ``min(k, len(index))`` if the
            corpus may be small.

        Returns
        -------
        scores : float32, shape (len(queries), k)
        indices : int64, shape (len(queries), k)
            Document rows; ties go to the lower row.  Documents that share no id
            with a query score 0 and compete like any other.
        """
        queries = _as_batch(queries, "queries")
        k = check_k(k)
        if None not in (self.vocab_size, queries.vocab_size) and queries.vocab_size != self.vocab_size:
            raise ShapeError(
                f"queries: vocabularies differ (index {self.vocab_size}, queries {queries.vocab_size})")
        if self.n_docs == 0:
            raise ShapeError("corpus: expected at least one document, got an empty SparseIndex")
        check_k_fits(k, self.n_docs, "documents")
        if self._normalize:
            queries = _unit_rows(queries)
        nq = len(queries)
        scores = np.empty((nq, k), np.float32)
        ids = np.empty((nq, k), np.int64)
        if nq == 0:
            return scores, ids
        t_ptr, t_idx, t_val = self._t
        q_ids = queries.indices if self._cols is None else _renumber(queries.indices, self._cols)
        if k <= _STREAM_K_MAX:
            if K.search_inverted(queries.indptr, q_ids, queries.values, t_ptr, t_idx, t_val,
                                 self.n_docs, k, scores, ids):
                raise overflow_error(scores.dtype)
        else:  # a long result list: score every document, then select with numpy
            acc = np.empty(self.n_docs, np.float32)
            for i in range(nq):
                a, b = int(queries.indptr[i]), int(queries.indptr[i + 1])
                K.accumulate(q_ids[a:b], queries.values[a:b], t_ptr, t_idx, t_val, acc)
                refuse_overflow(acc)
                ids[i] = _select(acc, k)
                scores[i] = acc[ids[i]]
        return scores, ids


#: Up to this ``k`` the search keeps a sorted list while it streams; beyond, numpy selects.
_STREAM_K_MAX = 256


def _select(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest scores, best first, ties to the lower index (``k <= len``)."""
    cut = -np.partition(-scores, k - 1)[k - 1]
    above = np.flatnonzero(scores > cut)
    tied = np.flatnonzero(scores == cut)[: k - above.size]
    cand = np.concatenate((above, tied))
    return cand[best_order(scores[cand], cand, k)]


def sparse_search(
    queries: SparseBatch,
    corpus: SparseBatch | SparseIndex,
    k: int = 10,
    *,
    metric: Metric = "dot",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` search of sparse queries over a sparse corpus: ``(scores, indices)``, best first.

    ``corpus`` may be a :class:`SparseIndex` (built once, reused) or a
    :class:`SparseBatch` (an index is built for this call).  Scores are those
    of :func:`sparse_dot` (or :func:`sparse_cosine`); ties go to the lower
    document row.  The result has shape ``(len(queries), k)``; ``k`` beyond the
    number of documents raises :class:`~quantlib.ShapeError`, as in
    :func:`quantlib.search`.

    Examples
    --------
    >>> corpus = SparseBatch.from_dicts([{0: 1.0}, {0: 0.5, 2: 2.0}, {2: 1.0}])
    >>> sparse_search(SparseBatch.from_dicts([{2: 1.0}]), corpus, k=2)
    (array([[2., 1.]], dtype=float32), array([[1, 2]]))
    """
    if isinstance(corpus, SparseIndex):
        if _sparse_metric(metric).name != corpus.metric:
            raise ConfigError(f"metric: the index was built for {corpus.metric!r}, got metric={metric!r}")
        return corpus.search(queries, k)
    return SparseIndex(corpus, metric=metric).search(queries, k)


def hybrid_scores(
    dense: Any,
    sparse: Any,
    *,
    dense_weight: float = 0.5,
    sparse_weight: float = 0.5,
    normalize: Literal["none", "minmax"] = "none",
) -> np.ndarray:
    """Weighted sum of a dense and a sparse score of the same candidates.

    ``out = dense_weight * f(dense) + sparse_weight * f(sparse)``, with ``f``
    the identity (``normalize="none"``) or, per row, the map of the row's
    ``[min, max]`` onto ``[0, 1]`` (``"minmax"``; a constant row maps to 0),
    which puts scores of different scales (cosine in [-1, 1], unbounded sparse
    dots) on one footing.  The map is ``(x - min) / (max - min)`` computed in
    float64 (which holds the span and its inverse for any float32 row, even
    ``[-3e38, 3e38]`` or ``[0, 1e-45]``) and rounded to float32: the min gives
    exactly 0, the max exactly 1, every other score a value in ``[0, 1]``.
    The weighted sum is float32; a sum beyond its range raises
    :class:`OutOfRangeError`, as the other scoring functions do.

    Parameters
    ----------
    dense, sparse : array_like, shape (m,) or (n, m)
        Scores of the same candidates (for example ``Q @ X.T`` and :func:`sparse_dot`),
        finite and within float32's range.
    dense_weight, sparse_weight : float
        Finite weights within float32's range.

    Returns
    -------
    numpy.ndarray of float32, the shape of the inputs.

    Raises
    ------
    OutOfRangeError
        A weight beyond float32's range, or a weighted sum that overflows float32.
    NonFiniteError
        A NaN or infinite score or weight.

    Examples
    --------
    >>> hybrid_scores([1.0, 0.0], [2.0, 6.0], dense_weight=0.75, sparse_weight=0.25)
    array([1.25, 1.5 ], dtype=float32)
    >>> hybrid_scores([0.9, 0.1, 0.5], [2.0, 6.0, 4.0], normalize="minmax")
    array([0.5, 0.5, 0.5], dtype=float32)
    """
    if normalize not in ("none", "minmax"):
        raise ConfigError(f"normalize: expected 'none' or 'minmax', got {normalize!r}")
    wd = _as_weight(dense_weight, "dense_weight")
    ws = _as_weight(sparse_weight, "sparse_weight")
    for w, name in ((wd, "dense_weight"), (ws, "sparse_weight")):
        if abs(w) > _F32_MAX:
            raise OutOfRangeError(f"{name}: {w!r} is beyond float32's largest value {_F32_MAX:g}")
    d = _score_matrix(dense, "dense")
    s = _score_matrix(sparse, "sparse")
    if d.shape != s.shape:
        raise ShapeError(f"dense, sparse: expected scores of the same shape, got {np.shape(dense)} and "
                         f"{np.shape(sparse)}")
    out = np.empty(d.shape, np.float32)
    if normalize == "none":
        bad = K.hybrid(d, s, np.float32(wd), np.float32(ws), out)
    else:  # numpy's min and max are vectorised: 2x faster here than a numba loop, which keeps NaN semantics
        bad = d.size > 0 and K.hybrid_minmax(d, s, np.float32(wd), np.float32(ws), *_row_map(d), *_row_map(s), out)
    if bad:
        raise overflow_error(out.dtype, "a weighted sum")
    return out.reshape(np.shape(dense))


def _row_map(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's float64 ``lo`` and ``scale`` mapping ``[min, max]`` onto ``[0, 1]`` (scale 0 for a constant row).

    float64 holds ``max - min`` of any float32 row and its inverse, where
    float32 overflowed (``3e38 - -3e38``, ``1 / 1e-45``).
    """
    lo = x.min(axis=1).astype(np.float64)
    span = x.max(axis=1).astype(np.float64) - lo
    return lo, np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)


def _score_matrix(x: Any, name: str) -> np.ndarray:
    arr = as_array(x, name)
    if arr.dtype.kind not in "fiu":
        raise DTypeError(f"{name}: expected real-valued scores, got dtype {arr.dtype}")
    if arr.ndim not in (1, 2):
        raise ShapeError(f"{name}: expected scores of shape (m,) or (n, m), got shape {arr.shape}")
    arr = arr.reshape(1, -1) if arr.ndim == 1 else arr
    wide = arr.dtype.kind == "f" and arr.dtype.itemsize > 4  # float64, longdouble: finite, yet maybe beyond float32
    if wide:
        _check_scores(arr, name)
        if arr.size and np.abs(arr).max() > _F32_MAX:
            where = tuple(int(i) for i in np.argwhere(np.abs(arr) > _F32_MAX)[0])
            raise OutOfRangeError(f"{name}: score {_float_text(arr[where])} at index {where} is beyond float32's "
                                  f"largest value {_F32_MAX:g}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not wide:  # checked above: finite and in range, so the cast is too
        _check_scores(arr, name)
    return arr


def _check_scores(arr: np.ndarray, name: str) -> None:
    if not np.isfinite(arr).all():
        where = first_nonfinite(arr)
        raise NonFiniteError(f"{name}: expected finite scores, got {arr[where]} at index {where}")


def _sparse_metric(metric: Any) -> MetricInfo:
    """The record of a metric that scores sparse vectors (its ``sparse`` flag), or a ConfigError."""
    try:
        m = metric_info(metric)
    except ConfigError:
        m = None
    if m is None or not m.sparse:
        names = " or ".join(repr(x.name) for x in METRICS if x.sparse)
        raise ConfigError(f"metric: expected {names}, got {metric!r}")
    return m
