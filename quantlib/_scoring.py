"""What dense search, MaxSim and sparse search share: threads, cost, the ``k`` rule and re-ranking.

- **Cost model** (:func:`work`): a scan's serial cost in units of one float
  multiply-add per component, ``pairs * width * WORK_PER_WIDTH[kind]``, where
  ``pairs`` counts (query row, stored row) pairs (for MaxSim, token pairs) and
  the weights of :data:`~quantlib._kernels._config.WORK_PER_WIDTH` put
  popcounts and byte-table lookups on that scale.
- **Threading policy** (:func:`use_threads`, :func:`chunk_count`,
  :func:`chunk_bounds`): a scan goes to numba's thread pool when its work
  reaches :data:`~quantlib._kernels._config.PARALLEL_MIN_WORK` and there is
  more than one thread; it is then split into at most ``CHUNKS_PER_THREAD``
  chunks per thread of at least ``MIN_CHUNK_ROWS`` stored rows (tokens for
  MaxSim, whose chunks end on document boundaries and hold about equal token
  counts).  Sparse search's kernels are serial only (one query's posting
  lists are short), so the policy has nothing to decide there yet.
- **The ``k`` rule** (:func:`check_k`, :func:`check_k_fits`): ``1 <= k <= n``; a ``k`` beyond
  the corpus raises :class:`~quantlib.ShapeError` naming ``k`` and ``n``,
  never clipped.
- **Re-ranking** (:func:`best_order`, :func:`rerank`): candidates, their exact
  scores, then the best ``k`` ordered by score (highest first) and, among
  equal scores, by the lower id.

The tuning constants are read from :mod:`quantlib._kernels._config` at call
time, so tests may lower them.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from ._kernels import _config as C
from .errors import DTypeError, ShapeError


def num_threads() -> int:
    """numba's thread count for the calling thread."""
    return int(numba.get_num_threads())


def work(kind: str, pairs: float, width: int) -> float:
    """Estimated serial work of scoring ``pairs`` (query row, stored row) pairs of ``width`` (cost model)."""
    return float(pairs) * max(1, width) * C.WORK_PER_WIDTH[kind]


def use_threads(amount: float) -> bool:
    """Whether a scan of ``amount`` work goes to the thread pool."""
    return amount >= C.PARALLEL_MIN_WORK and num_threads() > 1


def chunk_count(rows: int) -> int:
    """Chunks a parallel scan of ``rows`` stored rows is split into (1: stay serial)."""
    return int(min(C.CHUNKS_PER_THREAD * num_threads(), max(1, rows // max(1, C.MIN_CHUNK_ROWS))))


def chunk_bounds(offsets: np.ndarray, nchunks: int) -> np.ndarray | None:
    """Boundaries of at most ``nchunks`` runs of whole documents of about equal token counts.

    ``offsets`` are the documents' token offsets (``n + 1`` of them).  ``None``
    when fewer than two chunks remain: the scan stays serial.
    """
    n = offsets.shape[0] - 1
    nchunks = min(n, nchunks)
    if nchunks < 2:
        return None
    targets = np.linspace(0, offsets[-1], nchunks + 1)
    bounds = np.unique(np.searchsorted(offsets, targets, side="left").clip(0, n))
    bounds[0], bounds[-1] = 0, n
    bounds = np.unique(bounds).astype(np.int64)
    return bounds if bounds.shape[0] > 2 else None


def check_k(k: Any, name: str = "k") -> int:
    """A positive integer ``k`` (also ``oversample`` and other counts: ``name`` says which)."""
    if isinstance(k, (bool, np.bool_)):
        raise DTypeError(f"{name}: expected a positive integer, got {k!r}")
    try:
        value = operator.index(k)
    except TypeError:
        raise DTypeError(f"{name}: expected a positive integer, got {type(k).__name__} {k!r}") from None
    if value < 1:
        raise ShapeError(f"{name}: expected a positive integer, got {value}")
    return value


def check_k_fits(k: int, n: int, unit: str = "corpus rows") -> None:
    """The one rule for ``k`` beyond the corpus: it raises, naming ``k`` and ``n`` (never clipped).

    Examples
    --------
    >>> check_k_fits(3, 2, "documents")
    Traceback (most recent call last):
    ...
    quantlib.errors.ShapeError: k: expected at most the number of documents (2), got 3; use k=min(k, 2)
    """
    if k > n:
        raise ShapeError(f"k: expected at most the number of {unit} ({n}), got {k}; use k=min(k, {n})")


def best_order(scores: np.ndarray, ids: np.ndarray, k: int, *, lowest_first: bool = False) -> np.ndarray:
    """Positions of the best ``k`` of ``scores``: highest first (distances: ``lowest_first``), ties by the lower id.

    Examples
    --------
    >>> best_order(np.array([0.5, 0.9, 0.9, 0.1]), np.array([7, 5, 3, 1]), 3)
    array([2, 1, 0])
    >>> best_order(np.array([0.5, 0.9, 0.9, 0.1]), np.array([7, 5, 3, 1]), 2, lowest_first=True)
    array([3, 0])
    """
    keys = np.asarray(scores, np.float64)
    return np.lexsort((ids, keys if lowest_first else -keys))[:k]


def rerank(cand: np.ndarray, k: int, score: Callable[[int, np.ndarray], np.ndarray], *,
           keys: np.ndarray | None = None, dtype: type = np.float32,
           lowest_first: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank candidate rows by exact scores: ``(scores, ids)`` of shape ``(m, k)``, best first.

    ``cand`` (m, c) holds each query's candidate rows, distinct per query;
    entries below 0 are padding, dropped.  ``score(qi, rows)`` returns query
    ``qi``'s exact scores of ``rows``.  ``keys`` (default: the row numbers)
    are the ids ties are broken by and that are returned.  A query with fewer
    than ``k`` candidates is padded at the end with id -1 and score -inf
    (+inf with ``lowest_first``, for distances ranked lowest first).
    """
    nq = cand.shape[0]
    out_scores = np.full((nq, k), np.inf if lowest_first else -np.inf, dtype)
    out_ids = np.full((nq, k), -1, np.int64)
    padded = bool((cand < 0).any())
    for qi in range(nq):
        rows = cand[qi]
        if padded:
            rows = rows[rows >= 0]
            if rows.size == 0:
                continue
        s = score(qi, rows)
        ids = rows if keys is None else keys[rows]
        order = best_order(s, ids, k, lowest_first=lowest_first)
        out_scores[qi, :order.size] = s[order]
        out_ids[qi, :order.size] = ids[order]
    return out_scores, out_ids
