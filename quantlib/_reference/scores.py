"""Numpy twins of quantlib's scores: sparse weights, dense scores and top-k, multi-vector MaxSim, MUVERA.

Sections 8-10 of :mod:`quantlib._reference` (see there for what the twins
promise); they read codes with the format twins of :mod:`quantlib._reference.formats`.
"""

from __future__ import annotations

import numpy as np

from .formats import CODE_RANGE, pack_ubinary, unpack_bits

# ---------------------------------------------------------------------------
# 8. Sparse token weights (issue 5)
# ---------------------------------------------------------------------------


def sparse_dense(indptr: np.ndarray, indices: np.ndarray, values: np.ndarray, n_cols: int) -> np.ndarray:
    """A CSR batch as a dense float64 matrix (the twin every sparse kernel is checked against).

    Examples
    --------
    >>> sparse_dense(np.array([0, 1, 1]), np.array([2]), np.array([0.5]), 3)
    array([[0. , 0. , 0.5],
           [0. , 0. , 0. ]])
    """
    out = np.zeros((len(indptr) - 1, n_cols))
    for i in range(len(indptr) - 1):
        for p in range(indptr[i], indptr[i + 1]):
            out[i, indices[p]] = values[p]
    return out


def sparse_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of dense rows in float64, 0 where either row has norm 0.

    Examples
    --------
    >>> sparse_cosine(np.array([[3.0, 4.0], [0.0, 0.0]]), np.array([[1.0, 0.0]]))
    array([[0.6],
           [0. ]])
    """
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    denom = np.outer(na, nb)
    return np.divide(a @ b.T, denom, out=np.zeros(denom.shape), where=denom > 0)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` of each row, best first, ties to the lower index: ``(scores, indices)``.

    Examples
    --------
    >>> top_k(np.array([[1.0, 3.0, 3.0, 2.0]]), 2)
    (array([[3., 3.]]), array([[1, 2]]))
    """
    scores = np.asarray(scores)
    n = scores.shape[1]
    idx = np.empty((scores.shape[0], min(k, n)), np.int64)
    for i, row in enumerate(scores):
        idx[i] = np.lexsort((np.arange(n), -row))[: min(k, n)]
    return np.take_along_axis(scores, idx, axis=1), idx


def prune_row(
    indices: list[int],
    values: list[float],
    top_k: int | None = None,
    threshold: float | None = None,
    mass: float | None = None,
) -> dict[int, float]:
    """The twin of :meth:`quantlib.SparseBatch.prune` for one row, in plain Python.

    Examples
    --------
    >>> prune_row([0, 1, 2, 3], [0.1, 3.0, 1.0, 2.0], top_k=2)
    {1: 3.0, 3: 2.0}
    """
    ranked = sorted(zip(indices, values, strict=True), key=lambda e: (-abs(e[1]), e[0]))
    keep = len(ranked)
    if top_k is not None:
        keep = min(keep, top_k)
    if threshold is not None:
        keep = min(keep, sum(1 for _, v in ranked if abs(v) > threshold))
    if mass is not None:
        goal = mass * sum(abs(v) for v in values)
        run, c = 0.0, 0
        while c < keep and run < goal:
            run += abs(ranked[c][1])
            c += 1
        keep = c
    return dict(sorted(ranked[:keep]))


def sparse_u8(indptr: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row uint8 codes and scales of non-negative weights: ``scale = max / 255``, ``rint(w / scale)``.

    Examples
    --------
    >>> sparse_u8(np.array([0, 2]), np.array([1.0, 255.0], dtype=np.float32))
    (array([  1, 255], dtype=uint8), array([1.], dtype=float32))
    """
    codes = np.zeros(len(values), np.uint8)
    scales = np.zeros(len(indptr) - 1, np.float32)
    for i in range(len(indptr) - 1):
        row = np.asarray(values[indptr[i] : indptr[i + 1]], np.float32)
        scale = (row.max() if row.size else np.float32(0)) / np.float32(255)
        scales[i] = scale
        if scale > 0:
            codes[indptr[i] : indptr[i + 1]] = np.minimum(np.rint(row / scale), 255).astype(np.uint8)
    return codes, scales


def hybrid_scores(
    dense: np.ndarray, sparse: np.ndarray, dense_weight: float, sparse_weight: float, normalize: str = "none"
) -> np.ndarray:
    """The twin of :func:`quantlib.hybrid_scores` in float64 (rows min-max scaled when asked).

    Examples
    --------
    >>> hybrid_scores(np.array([[1.0, 0.0]]), np.array([[2.0, 6.0]]), 0.75, 0.25)
    array([[1.25, 1.5 ]])
    """

    def scale(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        if normalize == "none":
            return x
        lo = x.min(axis=1, keepdims=True)
        span = x.max(axis=1, keepdims=True) - lo
        return np.divide(x - lo, span, out=np.zeros_like(x), where=span > 0)

    return dense_weight * scale(dense) + sparse_weight * scale(sparse)


# ---------------------------------------------------------------------------
# 9. Scores and search (issue 4): dot, cosine, hamming, top-k
# ---------------------------------------------------------------------------


def score_values(x: np.ndarray, precision: str, ranges: np.ndarray | None = None,
                 dim: int | None = None) -> np.ndarray:
    """The float64 vectors that rows stand for when scored.

    Floats as they are; int8/uint8 codes dequantized with ``ranges`` (float32
    ``start`` and ``step`` widened to float64), or their integer values
    without ranges; packed bits as +1/-1 (the first ``dim`` bits).

    Examples
    --------
    >>> score_values(np.array([[0b10100000]], dtype=np.uint8), "ubinary", dim=3)
    array([[ 1., -1.,  1.]])
    """
    x = np.asarray(x)
    if precision in ("float32", "float16") or x.dtype.kind == "f":
        return x.astype(np.float64)
    if precision in CODE_RANGE:
        if ranges is None:
            return x.astype(np.float64)
        r = np.asarray(ranges, dtype=np.float32)
        step = ((r[1] - r[0]) / np.float32(255)).astype(np.float64)
        return r[0].astype(np.float64) + (x.astype(np.float64) - CODE_RANGE[precision][0]) * step
    return unpack_bits(x, dim, precision).astype(np.float64)


def hamming_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Differing bits of every row of packed ``a`` (m, w) with every row of ``b`` (n, w), as int64.

    Examples
    --------
    >>> hamming_counts(np.array([[0b11000000]], np.uint8), np.array([[0b11110000], [0]], np.uint8))
    array([[2, 2]])
    """
    ua = np.unpackbits(np.asarray(a).view(np.uint8), axis=1).astype(np.int64)
    ub = np.unpackbits(np.asarray(b).view(np.uint8), axis=1).astype(np.int64)
    return (ua[:, None, :] != ub[None, :, :]).sum(axis=2)


def pairwise_scores(a: np.ndarray, b: np.ndarray, metric: str, precision: str,
                    ranges: np.ndarray | None = None, dim: int | None = None) -> np.ndarray:
    """The twin of :func:`quantlib.pairwise`, in float64 (int64 for Hamming counts).

    ``a`` holds float queries or codes of ``precision``; ``b`` holds rows of
    ``precision``.  Float queries against bits are binarized (``> 0``) for
    ``hamming`` and read as floats against +1/-1 otherwise.  ``cosine`` of a
    zero vector is 0; ``sqeuclidean`` is summed from the differences (float64).

    Examples
    --------
    >>> a = np.array([[3.0, 4.0], [0.0, 0.0]])
    >>> pairwise_scores(a, np.array([[1.0, 0.0]]), "cosine", "float32")
    array([[0.6],
           [0. ]])
    """
    a = np.asarray(a)
    b = np.asarray(b)
    packed = precision in ("binary", "ubinary")
    if metric == "hamming":
        if a.dtype.kind == "f":
            a = pack_ubinary(a)
            if precision == "binary":
                a = (a.astype(np.int16) - 128).astype(np.int8)
        return hamming_counts(a, b)
    if packed and a.dtype.kind == "f":
        dim = a.shape[1]
    va = score_values(a, precision, None if a.dtype.kind == "f" else ranges, dim)
    vb = score_values(b, precision, ranges, dim)
    if metric == "sqeuclidean":  # directly from the differences, one query row at a time
        return np.array([((row - vb) ** 2).sum(axis=1) for row in va]).reshape(va.shape[0], vb.shape[0])
    s = va @ vb.T
    if metric == "dot":
        return s
    na = np.sqrt((va * va).sum(axis=1))
    nb = np.sqrt((vb * vb).sum(axis=1))
    denom = na[:, None] * nb[None, :]
    return np.divide(s, denom, out=np.zeros_like(s), where=denom > 0)


def search_top_k(scores: np.ndarray, k: int, higher_is_better: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per row by a stable sort on ``(-score, index)`` (or ``(score, index)``).

    Examples
    --------
    >>> search_top_k(np.array([[1.0, 3.0, 3.0, 2.0]]), 3)
    (array([[3., 3., 2.]]), array([[1, 2, 3]]))
    """
    scores = np.asarray(scores)
    key = -scores if higher_is_better else scores
    order = np.argsort(key, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


# ---------------------------------------------------------------------------
# 10. Multi-vector MaxSim (issue 6)
# ---------------------------------------------------------------------------


def maxsim(query: np.ndarray, documents: list, normalize: bool = False) -> np.ndarray:
    """ColBERT MaxSim in float64: ``(Q @ D.T).max(axis=1).sum()`` for each document matrix ``D``.

    ``query`` and each document are the float vectors the tokens stand for
    (see :func:`score_values`); ``normalize`` divides by the number of query tokens.

    Examples
    --------
    >>> docs = [np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([[0.0, 2.0]])]
    >>> maxsim(np.array([[1.0, 0.0], [0.0, 1.0]]), docs)
    array([1.5, 2. ])
    """
    q = np.asarray(query, np.float64)
    out = np.array([(q @ np.asarray(d, np.float64).T).max(axis=1).sum() for d in documents], np.float64)
    return out / q.shape[0] if normalize else out


def maxsim_top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` highest of a 1-D score list by a stable sort on ``-score`` (ties: lower index first).

    Examples
    --------
    >>> maxsim_top_k(np.array([1.0, 3.0, 3.0, 2.0]), 3)
    (array([3., 3., 2.]), array([1, 2, 3]))
    """
    scores = np.asarray(scores)
    order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], order


def muvera_encode(tokens: np.ndarray, hyperplanes: np.ndarray, projections: np.ndarray,
                  document: bool) -> np.ndarray:
    """The MUVERA encoding of one ``(n_tokens, d)`` matrix, token by token, in float64.

    Per round ``r``: bucket of a token = ``sum_i (x . hyperplanes[r, :, i] > 0) << i``;
    projection = ``x @ projections[r]``; a query block is the sum of its
    bucket's projections, a document block their mean, and an empty document
    bucket takes the projection of the first token of least Hamming distance.

    Examples
    --------
    >>> h = np.ones((1, 2, 1)); p = np.eye(2)[None]
    >>> muvera_encode(np.array([[1.0, 2.0], [-3.0, -1.0]]), h, p, document=True)
    array([-3., -1.,  1.,  2.])
    """
    x = np.asarray(tokens, np.float64)
    reps, _, k = hyperplanes.shape
    nb, dp = 1 << k, projections.shape[2]
    out = np.zeros((reps, nb, dp))
    for r in range(reps):
        codes = [sum(1 << i for i in range(k) if float(t @ hyperplanes[r, :, i].astype(np.float64)) > 0)
                 for t in x]
        projected = x @ projections[r].astype(np.float64)
        for b in range(nb):
            members = [t for t in range(len(x)) if codes[t] == b]
            if members:
                block = projected[members].sum(axis=0)
                out[r, b] = block / len(members) if document else block
            elif document:
                nearest = min(range(len(x)), key=lambda t: (bin(codes[t] ^ b).count("1"), t))
                out[r, b] = projected[nearest]
    return out.reshape(-1)
