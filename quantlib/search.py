"""Exhaustive top-k search over any stored format, with optional rescoring.

:func:`search` scans the whole corpus once per block of queries and keeps, per
query, a bounded list of the ``k`` best rows (one comparison rejects most
rows), so memory stays ``O(n_queries * k)`` whatever the corpus size; no
``n_queries x n_corpus`` matrix is made.  Large scans run on several threads
(:func:`quantlib.set_num_threads`); small ones stay on one, where waking
threads would cost more than the work.

How queries meet the corpus (the same rules as :func:`quantlib.pairwise`):

- float queries against float rows: float32 dot or cosine;
- float queries against int8/uint8 codes: scored *asymmetrically* against
  the dequantized vectors when the codec is given (``codec=``) - this is the
  default for calibrated codes because it finds the true neighbours far more
  often than the raw dot of codes (about 99% against 67% of the top-10 for
  int8 on 384-dimensional sentence embeddings); without a codec, against the
  codes' integer values;
- code queries (already in the corpus format): the exact integer dot of codes,
  or Hamming counts for bits - quantize queries yourself to get this fast path;
- float queries against packed bits: ``metric="hamming"`` binarizes the
  queries and counts differing bits (fastest); ``"dot"``/``"cosine"`` score
  the float query against the bits read as +1/-1 (slower, better ranking).

With ``rescore=`` the first stage fetches ``k * oversample`` candidates and
re-ranks them by the float32 queries' scores against better rows (float
embeddings, or codes with their codec), as sentence-transformers'
``semantic_search`` rescoring and Qdrant's oversampling do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._corpus import Corpus, prepare_corpus
from ._filter import allowed_rows, restrict, topk_allowed
from ._planner import _query_blocks, plan_queries
from ._scoring import check_k, check_k_fits, rerank
from ._validation import as_array, describe
from .codecs import Codec, ScalarCodec
from .errors import ConfigError, DTypeError, NonFiniteError, OutOfRangeError, ShapeError
from .metrics import Metric, MetricInfo, metric_info
from .precision import precision_info

__all__ = ["rescore", "search"]


def search(
    queries: Any,
    corpus: Any,
    k: int = 10,
    *,
    metric: Metric | str = "cosine",
    precision: str | None = None,
    codec: Any = None,
    dim: int | None = None,
    rescore: Any = None,
    oversample: int = 4,
    allow: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best rows of ``corpus`` for each query: ``(scores, indices)``.

    Parameters
    ----------
    queries : array_like, shape (m, d) or (d,), or EmbeddingResponse
        float embeddings, or codes in the corpus format.  One vector counts
        as one query: the result still has shape ``(1, k)``.
    corpus : array_like, shape (n, d) or (n, w), or EmbeddingResponse
        float32/float16 embeddings, int8/uint8 codes or packed bits.  A
        decoded :class:`~quantlib.EmbeddingResponse` (for either argument)
        stands for its ``embeddings``, with its ``precision`` and, for bits,
        its ``dim``; int8/uint8 codes from a provider are uncalibrated and
        are scored by their integer values.
    k : int
        Rows per query, ``1 <= k <= n``.  A larger ``k`` raises
        :class:`~quantlib.ShapeError` (it is never clipped silently); ask for
        ``min(k, len(corpus))`` if the corpus may be small.
    metric : {"cosine", "dot", "hamming", "sqeuclidean"}
        Similarities are ranked highest first; distances (Hamming counts,
        squared Euclidean distances; ``"l2"`` is an alias of ``"sqeuclidean"``)
        lowest first.
    precision : str, optional
        The corpus precision; needed for int8/uint8 arrays under ``dot``,
        ``cosine`` and ``sqeuclidean`` (codes or packed bits?) unless ``codec`` says it.
    codec : Codec or dict, optional
        The codec (or its config) that made the corpus codes, so a calibrated
        int8/uint8 corpus is searched as the vectors it stands for.
    dim : int, optional
        True dimension of packed bits when queries are bits too (default ``8 * w``).
    rescore : array_like or (codes, codec), optional
        Rows of the same corpus to re-rank the first stage's candidates with:
        float embeddings ``(n, d)``, or a pair of codes and the codec that made
        them.  Needs float queries.  The final scores are the rescoring scores
        (by ``metric``; a ``"hamming"`` first stage is rescored by cosine).
    oversample : int
        With ``rescore``, fetch ``min(n, k * oversample)`` candidates first.
    allow : array_like, optional
        A filter: a boolean mask of one entry per corpus row, or the allowed
        row numbers, sorted and distinct.  Only those rows are scored, in
        place (the corpus is never copied; see docs/search.md), for every
        format and with rescoring.  With fewer than ``k`` allowed rows the
        end of a result is padded with row ``-1`` and the worst score
        (``-inf``/``+inf``, or the smallest/largest int64 for integer scores).

    Returns
    -------
    scores : numpy.ndarray, shape (m, k)
        Best first; the dtype of :func:`quantlib.pairwise` for the same inputs.
    indices : numpy.ndarray of int64, shape (m, k)
        Row numbers in ``corpus``; equal scores are ordered by the lower index.

    Examples
    --------
    >>> import numpy as np
    >>> corpus = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    >>> scores, ids = search(np.array([[0.0, 1.0]], dtype=np.float32), corpus, k=3)
    >>> ids
    array([[2, 1, 3]])
    >>> scores
    array([[1. , 0.8, 0.8]], dtype=float32)
    >>> bits = np.array([[0b11110000], [0b11000000], [0b00001111]], dtype=np.uint8)
    >>> search(np.array([[0b11100000]], dtype=np.uint8), bits, k=2, metric="hamming")
    (array([[1, 1]]), array([[0, 1]]))
    >>> search(np.array([[0.0, 2.0]], dtype=np.float32), corpus, k=2, metric="l2")  # lowest first
    (array([[1. , 1.8]], dtype=float32), array([[2, 1]]))
    """
    m = metric_info(metric)
    k = check_k(k)
    queries, _, qdim = _from_response(queries, "queries", None)
    corpus, precision, cdim = _from_response(corpus, "corpus", precision)
    if dim is None and (qdim is not None or cdim is not None):
        dim = qdim if qdim is not None else cdim
    c = prepare_corpus(corpus, m, precision=precision, codec=codec, name="corpus")
    extra = prepare_rescore(rescore, c.n, m) if rescore is not None else None
    rows = None if allow is None else allowed_rows(allow, c.n)
    return search_corpus(queries, c, k, m, dim=dim, rescore=extra, oversample=oversample, allow=rows)


def _from_response(value: Any, name: str, precision: Any) -> tuple[Any, Any, int | None]:
    """An EmbeddingResponse's dense embeddings, its precision and (for bits) its dimension; else ``value``.

    Returns ``(array, precision, dim)``: ``dim`` only for packed bits, where the
    byte width does not say it.  A response without dense vectors, or whose
    precision contradicts ``precision=``, is refused naming what to pass.
    """
    from .providers import EmbeddingResponse

    if not isinstance(value, EmbeddingResponse):
        return value, precision, None
    if value.embeddings is None:
        if value.multivectors is not None:
            hint = "search multi-vectors with quantlib.maxsim_search(queries, MultiVectorBatch.from_response(r))"
        else:
            hint = "search sparse vectors with quantlib.sparse_search (SparseBatch from r.sparse)"
        raise DTypeError(f"{name}: the EmbeddingResponse holds no dense embeddings; {hint}")
    if precision is not None and precision_info(precision).name != value.precision:
        raise ConfigError(f"precision, {name}: precision {precision_info(precision).name!r} but the "
                          f"response's embeddings are {value.precision!r}")
    info = precision_info(value.precision or "float32")
    return value.embeddings, info.name, (value.dim if info.packed else None)


def _rescore_metric(m: MetricInfo) -> MetricInfo:
    """The metric a rescoring stage ranks by (the record says: Hamming counts are rescored by cosine)."""
    return metric_info(m.rescored_by) if m.rescored_by else m


def prepare_rescore(rescore: Any, n: int, m: MetricInfo, *, name: str = "rescore") -> Corpus:
    """Validate the rescoring rows (float rows, or ``(codes, codec)``) against a corpus of ``n`` rows (-1: any)."""
    rm = _rescore_metric(m)
    if isinstance(rescore, tuple):
        if len(rescore) != 2 or not isinstance(rescore[1], (Codec, dict)):
            raise DTypeError(
                f"{name}: expected float rows or a (codes, codec) pair, got a tuple of {len(rescore)} items"
            )
        rc = prepare_corpus(rescore[0], rm, codec=rescore[1], name=name)
    else:
        arr = as_array(rescore, name)
        if arr.dtype.kind != "f":
            raise DTypeError(
                f"{name}: expected float rows or a (codes, codec) pair, got {describe(arr)}; "
                "pass (codes, codec) for int8/uint8 codes"
            )
        rc = prepare_corpus(arr, rm, name=name)
    if n >= 0 and rc.n != n:
        raise ShapeError(f"rescore: expected one row per corpus row ({n}), got {rc.n} rows")
    return rc


def search_corpus(
    queries: Any,
    c: Corpus,
    k: int,
    m: MetricInfo,
    *,
    dim: int | None = None,
    rescore: Corpus | None = None,
    oversample: int = 4,
    allow: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`search` over a prepared corpus (also what :class:`~quantlib.FlatIndex` calls).

    ``allow``: the allowed row numbers (sorted, distinct; :func:`~quantlib._filter.allowed_rows`), or None.
    """
    if c.n == 0:
        raise ShapeError("corpus: expected at least one row, got an empty corpus")
    check_k_fits(k, c.n)
    arr, oversample = _check_queries(queries, oversample, rescore)
    if rescore is not None:
        first = min(c.n if allow is None else max(1, allow.size), k * oversample)
    else:
        first = k
    nq = arr.shape[0]
    if allow is not None:  # norms of the allowed rows only
        c = restrict(c, allow)
    block = _query_blocks(nq, c, arr.dtype.kind == "f", m)
    parts = []
    for s in range(0, nq, block):
        plan = plan_queries(arr[s:s + block], c, m, dim=dim)
        parts.append(plan.topk(first) if allow is None else topk_allowed(plan, first, allow))
    if not parts:  # no queries: validate their width through an empty plan
        plan = plan_queries(arr, c, m, dim=dim)
        dtype = plan.score_dtype if rescore is None else np.dtype(np.float32)
        return np.empty((0, k), dtype), np.empty((0, k), np.int64)
    scores = np.concatenate([p[0] for p in parts])
    ids = np.concatenate([p[1] for p in parts])
    if rescore is None:
        return scores, ids
    return _rescore(arr, ids, rescore, _rescore_metric(m), k)


def _rescore(queries: np.ndarray, cand: np.ndarray, rc: Corpus, m: MetricInfo,
             k: int, *, keys: np.ndarray | None = None, check: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank candidate rows ``cand`` (m, kk) by the queries' scores against ``rc``.

    Entries of ``cand`` below 0 are padding, dropped; the rows of a query must
    be distinct.  ``keys`` (the ids the caller knows the rows by, default the
    row numbers) are what ties are broken by and what is returned.  A query with
    fewer than ``k`` candidates is padded at the end with id -1 and score -inf
    (+inf for a metric that ranks lowest first).
    ``check``: refuse NaN/inf among the candidate rows, naming the row (search's
    first stage has already scored every row, so it does not need this).
    """
    def score(qi: int, rows: np.ndarray) -> np.ndarray:
        sub = rc.take(rows)
        plan = plan_queries(queries[qi:qi + 1], sub, m, name="queries")
        try:
            s = plan.scores(np.empty((1, rows.size), plan.score_dtype))[0]
        except (NonFiniteError, OutOfRangeError):
            # the kernel flagged a non-finite score: name the candidate row behind it (the corpus's
            # own message names the first bad row of the whole corpus, which may be no candidate)
            bad = ~np.isfinite(sub.rows.astype(np.float32)).all(axis=1) if sub.info.is_float else None
            if not check or bad is None or not bad.any():
                raise
            at = int(rows[int(np.flatnonzero(bad)[0])])
            who = at if keys is None else int(keys[at])
            raise NonFiniteError(f"{rc.name}: row {who}, a candidate of query {qi}, holds NaN or infinity") from None
        return s

    return rerank(cand, k, score, keys=keys, lowest_first=not m.higher_is_better)


def rescore(
    queries: Any,
    candidate_ids: Any,
    rows: Any,
    k: int = 10,
    *,
    metric: Metric | str | None = None,
    codec: Any = None,
    precision: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank candidates found elsewhere (an ANN index, a database) by exact scores: ``(scores, ids)``.

    The second stage of :func:`search` with ``rescore=``, for candidates from
    faiss, usearch, pgvector, LanceDB...: each query is scored against its own
    candidate rows only, gathered from ``rows`` (the corpus is never copied: a
    memory map or a loaded :class:`~quantlib.FlatIndex` is read only where the
    candidates lie).  For float rows and int8/uint8 codes the queries are
    checked and prepared once per call, and one kernel gathers, scores and
    ranks every query's candidates (split over threads for large calls), with
    the scores each query would get alone; packed bits are scored a query at
    a time.

    Parameters
    ----------
    queries : array_like, shape (m, d) or (d,)
        float embeddings (one vector counts as one query).
    candidate_ids : array_like of int, shape (m, c), or a list of m lists
        Row numbers in ``rows`` (or the stored ids of a FlatIndex) per query,
        in any order.  ``-1`` is padding (faiss's and usearch's marker for
        "no result"), dropped; ragged lists are accepted.  An id listed twice
        for one query counts once.  Any other negative id, or one beyond the
        rows, is an :class:`~quantlib.OutOfRangeError` naming its place.
    rows : array_like, (codes, codec) pair, or FlatIndex
        The rows to score: float embeddings ``(n, d)`` (float32/float16 are
        read in place; other float dtypes are converted to float32 once),
        int8/uint8 codes with ``codec=`` (or as a ``(codes, codec)`` pair),
        or packed bits with ``precision=``.  A :class:`~quantlib.FlatIndex` is
        read through its rescoring rows if it has them, else its codes and
        codec; ``candidate_ids`` are then its stored ids (what its ``search``
        and a store keyed by them return), mapped to rows once per call
        (a sort of its ids unless they are ``0..n-1``), and the ids returned
        are stored ids too.
    k : int
        Results per query.
    metric : {"cosine", "dot", "sqeuclidean"}, optional
        Default ``"cosine"``, or the FlatIndex's metric; ``"hamming"``
        rescores by cosine, as :func:`search` does.
    codec, precision
        As in :func:`search`, for code rows.

    Returns
    -------
    scores : numpy.ndarray of float32, shape (m, k)
        Best first (for ``sqeuclidean``, the lowest distance first).
    ids : numpy.ndarray of int64, shape (m, k)
        Equal scores are ordered by the lower id.  A query with fewer than
        ``k`` valid candidates gets them all, then padding: id ``-1`` with
        score ``-inf`` (``+inf`` for ``sqeuclidean``; unlike :func:`search` and ``FlatIndex.search``, which
        refuse ``k`` beyond the corpus, candidates may legitimately be few).

    Raises
    ------
    NonFiniteError
        A candidate row holding NaN or infinity (rows that are not
        candidates are never read).

    Examples
    --------
    >>> import numpy as np
    >>> rows = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.8, 0.6]], dtype=np.float32)
    >>> q = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    >>> scores, ids = rescore(q, [[3, 1, 0], [2, -1]], rows, k=2)
    >>> ids
    array([[ 1,  3],
           [ 2, -1]])
    >>> scores
    array([[ 0.8,  0.6],
           [ 0. , -inf]], dtype=float32)
    """
    from .index import FlatIndex  # index imports this module

    k = check_k(k)
    keys = None
    if isinstance(rows, FlatIndex):
        if codec is not None or precision is not None:
            raise ConfigError("codec, precision: a FlatIndex knows its own; pass neither")
        if len(rows) == 0:
            raise ShapeError("rows: expected at least one row, got an empty FlatIndex")
        m = _rescore_metric(metric_info(rows.metric if metric is None else metric))
        rc = _flat_index_rows(rows, m)
        keys = np.asarray(rows.ids)
    else:
        m = _rescore_metric(metric_info("cosine" if metric is None else metric))
        if isinstance(rows, tuple):
            if codec is not None:
                raise ConfigError("codec: given twice, in rows=(codes, codec) and as codec=")
            rc = prepare_rescore(rows, -1, m, name="rows")
        else:
            rc = prepare_corpus(rows, m, precision=precision, codec=codec, name="rows")
    arr = as_array(queries, "queries")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ShapeError(f"queries: expected a vector (d,) or a batch (m, d), got shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise DTypeError(f"queries: rescoring needs float queries, got dtype {arr.dtype}")
    cand = _candidate_matrix(candidate_ids, arr.shape[0])
    cand = _candidate_rows(cand, rc.n, keys)
    if arr.shape[0] == 0:
        plan_queries(arr, rc, m)  # checks the queries' width
        return np.empty((0, k), np.float32), np.empty((0, k), np.int64)
    if m.dense_terms is not None and m.from_kernel is None and _batchable(rc):  # dot and cosine
        return _rescore_batch(arr, cand, rc, m, k, keys=keys)
    return _rescore(arr, cand, rc, m, k, keys=keys, check=True)


def _batchable(rc: Corpus) -> bool:
    """Whether :func:`_rescore_batch` scores these rows: float (or decoded) rows, and codes of an affine
    codec (dense plans) whose values are ScalarCodec's own decode (the kernel decodes them for cosine)."""
    if rc.family == "float":
        return True
    if rc.family != "affine":
        return False
    return not rc.dequantized or (isinstance(rc.codec, ScalarCodec)
                                  and type(rc.codec).decode is ScalarCodec.decode)


def _rescore_batch(queries: np.ndarray, cand: np.ndarray, rc: Corpus, m: MetricInfo, k: int, *,
                   keys: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_rescore` for dense rows in one pass: the queries are checked and prepared once, and one
    kernel gathers each query's candidate rows from ``rc`` (never a copy of the corpus), scores them
    and keeps the best ``k``.

    The scores have the bits of :func:`_rescore`'s one-query plans: the kernel calls the same scoring
    functions, and each query's weights are those a one-query plan computes (see
    :func:`_one_query_offsets`).  Ties and padding follow the same rule (lower id first, then -1/-inf).
    """
    from ._kernels import _config as C
    from ._kernels import candidates as KC
    from ._scoring import num_threads, use_threads

    probe = rc.take(np.zeros(0, np.intp))  # no rows: the plan checks and prepares the queries alone
    plan = plan_queries(queries, probe, m, name="queries")
    if plan.kind != "dense" or plan.RB is not None:  # not the terms the kernel applies
        return _rescore(queries, cand, rc, m, k, keys=keys, check=True)
    nq, c = cand.shape
    W, A, B = plan.W[:nq], plan.A[:nq], plan.B[:nq]
    codec = rc.codec
    scalar = rc.dequantized
    if scalar:
        affine = rc.affine
        B = _one_query_offsets(queries, W, affine, m, probe)
        start, step, low = affine.start, affine.step, np.float32(affine.low)
    else:
        start = step = np.zeros(1, np.float32)
        low = np.float32(0)
    mode = (KC.COSINE_DEQUANTIZED if scalar else KC.COSINE) if m.unit_rows else KC.DOT
    use_keys = keys is not None
    key_arr = np.ascontiguousarray(keys, np.int64) if use_keys else np.zeros(0, np.int64)
    scores = np.full((nq, k), -np.inf, np.float32)
    ids = np.full((nq, k), -1, np.int64)
    args = (W, A, B, rc.view, cand, mode, start, step, low, key_arr, use_keys)
    # the work is the bytes gathered, not the multiply-adds: rows read at random wait on memory
    if use_threads(nq * c * rc.width * rc.view.dtype.itemsize):
        status, qi, j = KC.score_candidates_parallel(*args, C.CHUNKS_PER_THREAD * num_threads(), scores, ids)
    else:
        status, qi, j = KC.score_candidates(*args, scores, ids)
    if status:
        row = int(cand[qi][cand[qi] >= 0][j])
        who = row if keys is None else int(keys[row])
        if status == 2:
            values = (codec.decode(rc.view[row:row + 1], dim=rc.dim) if scalar else
                      rc.rows[row:row + 1] if rc.view.dtype == np.uint16 else rc.view[row:row + 1])
            norm = float(np.sqrt(np.sum(values.astype(np.float64) ** 2)))
            raise OutOfRangeError(
                f"{rc.name}: row {who}{' (dequantized)' if scalar else ''} has norm {norm:.3g}, below "
                f"float32's smallest normal number ({float(np.finfo(np.float32).tiny):.3g}), so its cosine "
                "cannot be computed in float32; scale such rows up (cosine does not change) or drop them")
        if rc.info.is_float:
            valid = cand[qi][cand[qi] >= 0]
            bad = ~np.isfinite(rc.rows[valid].astype(np.float32)).all(axis=1)
            if bad.any():
                at = int(valid[int(np.flatnonzero(bad)[0])])
                who = at if keys is None else int(keys[at])
                raise NonFiniteError(f"{rc.name}: row {who}, a candidate of query {qi}, holds NaN or infinity")
        raise OutOfRangeError(f"{rc.name}: a score overflows float32 (beyond 3.4e+38); scale the vectors down")
    return scores, ids


def _one_query_offsets(queries: np.ndarray, W: np.ndarray, affine: Any, m: MetricInfo,
                       probe: Corpus) -> np.ndarray:
    """The per-query offsets ``B`` of a calibrated int8/uint8 plan, each as a one-query plan computes it.

    The planner's ``q @ start`` is a BLAS matrix-vector product, whose float64 sums round differently
    for a batch than for one row; computed a row at a time here (about 2 us a query), the offsets,
    and so the scores, keep the bits a query scored alone gets.  ``W`` is ``q * step`` (exact, so
    ``q`` is not needed again); the metric's own dense terms then finish ``B`` as the plan does.
    """
    from ._planner import _float_queries

    q = m.prepare_queries(_float_queries(queries, "queries"))
    q64 = q.astype(np.float64)
    w64 = W.astype(np.float64)
    start = affine.start.astype(np.float64)
    low = float(affine.low)
    B = np.empty(q.shape[0], np.float64)
    for i in range(q.shape[0]):
        B[i] = (q64[i:i + 1] @ start - low * w64[i:i + 1].sum(axis=1))[0]
    _, B, _, _ = m.dense_terms(q64, B, probe, True)
    return B.astype(np.float32)


def _flat_index_rows(index: Any, m: MetricInfo) -> Corpus:
    """A FlatIndex's rescoring rows if it keeps them, else its codes, as a corpus (read in place)."""
    if index._rescore_codec is not None:
        return prepare_corpus(index._array("rescore"), m, codec=index._rescore_search_codec(), name="rows")
    return prepare_corpus(index.codes, m, precision=index._info.name, codec=index._search_codec(), name="rows")


def _candidate_matrix(candidate_ids: Any, nq: int) -> np.ndarray:
    """``candidate_ids`` as an int64 matrix, one row per query, ragged lists padded with -1."""
    if isinstance(candidate_ids, np.ndarray):
        arr = candidate_ids
    elif isinstance(candidate_ids, (list, tuple)) and any(
            isinstance(r, (list, tuple, np.ndarray)) for r in candidate_ids):
        if len(candidate_ids) != nq:
            raise ShapeError(f"candidate_ids: expected one list per query ({nq}), got {len(candidate_ids)}")
        parts = [np.asarray(r) for r in candidate_ids]
        width = max((p.size for p in parts), default=0)
        arr = np.full((nq, width), -1, np.int64)
        for i, p in enumerate(parts):
            if p.ndim != 1:
                raise ShapeError(f"candidate_ids[{i}]: expected a list of ids, got shape {p.shape}")
            if p.size:
                arr[i, :p.size] = _int_ids(p, f"candidate_ids[{i}]")
        return arr
    else:
        arr = as_array(candidate_ids, "candidate_ids")
    if arr.ndim == 1 and nq == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] != nq:
        raise ShapeError(f"candidate_ids: expected shape ({nq}, c), one row per query, got shape {arr.shape}")
    return _int_ids(arr, "candidate_ids")


def _int_ids(arr: np.ndarray, name: str) -> np.ndarray:
    if arr.dtype.kind not in "iu" or arr.dtype == np.bool_:
        raise DTypeError(f"{name}: expected integer ids, got {describe(arr)}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise OutOfRangeError(f"{name}: id {int(arr.max())} is beyond int64")
    return arr.astype(np.int64, copy=False)


def _candidate_rows(cand: np.ndarray, n: int, keys: np.ndarray | None) -> np.ndarray:
    """Candidate ids as row numbers (-1 padding kept), each row's duplicates dropped."""
    bad = (cand < -1) if keys is not None else (cand < -1) | (cand >= n)
    if keys is None and bad.any():
        qi, j = (int(v) for v in np.argwhere(bad)[0])
        raise OutOfRangeError(f"candidate_ids[{qi}, {j}]: expected a row number in 0..{n - 1} or -1 "
                              f"(padding), got {int(cand[qi, j])}")
    if keys is not None:
        if bad.any():
            qi, j = (int(v) for v in np.argwhere(bad)[0])
            raise OutOfRangeError(f"candidate_ids[{qi}, {j}]: expected a stored id or -1 (padding), "
                                  f"got {int(cand[qi, j])}")
        cand = _ids_to_rows(cand, keys)
    if cand.shape[1] > 1:
        srt = np.sort(cand, axis=1)
        dup = np.zeros(cand.shape, bool)
        dup[:, 1:] = (srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)
        if dup.any():
            srt[dup] = -1
            cand = srt
    return cand


def _ids_to_rows(cand: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Stored ids to row numbers (-1 stays -1); an id the index does not hold is an error."""
    n = keys.shape[0]
    valid = cand >= 0
    if n and keys[0] == 0 and keys[-1] == n - 1 and np.array_equal(keys, np.arange(n)):
        pos = cand.copy()
        missing = valid & (cand >= n)
    else:
        order = np.argsort(keys, kind="stable")
        at = np.searchsorted(keys[order], cand)
        at = np.minimum(at, n - 1)
        pos = np.where(valid, order[at], -1)
        missing = valid & (keys[pos] != cand)
    if missing.any():
        qi, j = (int(v) for v in np.argwhere(missing)[0])
        raise OutOfRangeError(f"candidate_ids[{qi}, {j}]: id {int(cand[qi, j])} is not in the FlatIndex")
    return np.where(valid, pos, -1)


def _check_queries(queries: Any, oversample: Any, rescore: Corpus | None) -> tuple[np.ndarray, int]:
    """The queries as an ``(m, d)`` array and ``oversample`` as an int, checked as :func:`search` checks them
    before its first stage (with ``rescore``: float queries of the rescoring rows' width); quantlib.dask's
    client-side checks call it too."""
    arr = as_array(queries, "queries")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ShapeError(f"queries: expected a vector (d,) or a batch (m, d), got shape {arr.shape}")
    oversample = check_k(oversample, "oversample")
    if rescore is not None:
        if arr.dtype.kind != "f":
            raise DTypeError(
                f"queries: rescoring needs float queries, got dtype {arr.dtype}; pass the float32 "
                "embeddings (the first stage quantizes or scores them against the codes itself)"
            )
        if arr.shape[1] != rescore.width:  # before the first stage, and naming the right argument
            raise ShapeError(f"rescore: rows of dimension {rescore.width} cannot rescore float queries of "
                             f"dimension {arr.shape[1]}")
    return arr, oversample
