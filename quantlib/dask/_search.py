""":func:`search` over a Dask array: each block's fused top-k with global row numbers, merged by
(key, global row) in a tree, then rescored block by block; the per-block steps here are also what each
shard of a :class:`~quantlib.dask.ShardedIndex` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dask
import numpy as np

from .._corpus import Corpus, prepare_corpus
from .._kernels import _config as _tuning
from .._planner import _num_threads, _parallel, _query_blocks, plan_queries
from .._scoring import check_k_fits
from ..codecs import Codec, codec_from_config
from ..errors import DTypeError, QuantlibError, ShapeError
from ..metrics import Metric, MetricInfo, metric_info
from ..search import _check_queries, _rescore_metric, check_k, prepare_rescore
from ._blocks import ShardError, _check_split_every, _compute, _offsets, _rows_array, _tree

# ---------------------------------------------------------------------------
# Search: per block top-k, merged by (key, global row)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """What every block needs to search: the metric and how to read the rows."""

    metric: str
    precision: str | None
    codec: Codec | None
    dim: int | None
    first: int  # candidates per query the whole first stage keeps (k, or min(n, k * oversample))
    rescore_codec: Codec | None = None  # for (codes, codec) rescoring rows


@dataclass
class _Part:
    """The merged top lists of some blocks: keys (lower is better), scores, global rows, payload ids."""

    keys: np.ndarray
    scores: np.ndarray
    rows: np.ndarray
    ids: np.ndarray
    blocks: tuple[int, ...]
    searched: int


def _plan_topk(plan: Any, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``plan.topk(k)`` with its ranking keys: ``(keys, scores, rows)``, keys ascending is best.

    Scores come back cast to the score dtype; where that cast could merge different
    ranking keys (cosine of uncalibrated int8/uint8 code queries: float64 keys, float32
    scores) the keys are taken from the same kernel before the cast.
    """
    if plan.kind == "dense" and plan.A.dtype == np.float64 and plan.score_dtype == np.float32:
        c = plan.corpus
        nchunks = min(4 * _num_threads(), max(1, c.n // _tuning.MIN_CHUNK_ROWS))
        par = nchunks > 1 and _parallel(plan._work())
        keys = np.full((plan.nq, k), np.inf, np.float64)
        rows = np.full((plan.nq, k), -1, np.int64)
        plan._topk_dense(keys, rows, par, nchunks)
        return keys, plan.scores_from_keys(keys), rows
    scores, rows = plan.topk(k)
    if not plan.metric.higher_is_better:
        return scores, scores, rows  # Hamming counts, squared distances: lowest first
    return -scores, scores, rows  # int64 dots, float32 scores; cosine of bits is (d - 2h) / d, monotonic in h


def _search_rows(queries: np.ndarray, c: Corpus, m: MetricInfo, dim: int | None,
                 k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first stage of :func:`quantlib.search` on one block, query blocks as it takes them."""
    nq = queries.shape[0]
    block = _query_blocks(nq, c, queries.dtype.kind == "f", m)
    parts = [_plan_topk(plan_queries(queries[s:s + block], c, m, dim=dim), k) for s in range(0, nq, block)]
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]


def _first_stage(rows: np.ndarray, queries: np.ndarray, spec: _Spec, offset: int, index: int,
                 ids: np.ndarray | None = None) -> _Part:
    m = metric_info(spec.metric)
    c = prepare_corpus(np.asarray(rows), m, precision=spec.precision, codec=spec.codec, name="corpus")
    kb = min(spec.first, c.n)
    if kb == 0:
        nq = queries.shape[0]
        empty = np.empty((nq, 0))
        return _Part(empty, empty, np.empty((nq, 0), np.int64), np.empty((nq, 0), np.int64), (index,), 0)
    keys, scores, local = _search_rows(queries, c, m, spec.dim, kb)
    if (local < 0).any():
        raise ShardError(f"block {index}: its top-k list was not filled ({kb} of {c.n} rows expected)")
    return _Part(keys, scores, local + offset, local + offset if ids is None else np.asarray(ids)[local],
                 (index,), c.n)


def _merge(*given: _Part, first: int) -> _Part:
    """The best ``first`` of several top lists, by (key, global row): ties go to the lower row."""
    blocks = tuple(sorted(b for p in given for b in p.blocks))
    searched = sum(p.searched for p in given)
    parts = [p for p in given if p.keys.shape[1]] or [given[0]]  # empty blocks add nothing (nor a dtype)
    keys = np.concatenate([p.keys for p in parts], axis=1)
    rows = np.concatenate([p.rows for p in parts], axis=1)
    keep = min(first, keys.shape[1])
    order = np.lexsort((rows, keys), axis=-1)[:, :keep]

    def take(name: str) -> np.ndarray:
        return np.take_along_axis(np.concatenate([getattr(p, name) for p in parts], axis=1), order, axis=1)

    return _Part(np.take_along_axis(keys, order, axis=1), take("scores"), np.take_along_axis(rows, order, axis=1),
                 take("ids"), blocks, searched)


def _check_whole(part: _Part, nblocks: int, n: int, first: int) -> None:
    """Refuse a merged top-k that is missing a block (never returned as if whole)."""
    if part.blocks != tuple(range(nblocks)) or part.searched != n or part.rows.shape[1] != first:
        raise ShardError(
            f"the merged top-k covers blocks {part.blocks} and {part.searched} rows, expected {nblocks} "
            f"blocks and {n} rows; no partial result is returned"
        )


def _rescore_block(rows: Any, queries: np.ndarray, cand: _Part, spec: _Spec, offset: int,
                   index: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Rescoring scores of the candidates that lie in this block, and where they go: ``(scores, mask, index)``."""
    m = metric_info(spec.metric)
    rm = _rescore_metric(m)
    given = (np.asarray(rows), spec.rescore_codec) if spec.rescore_codec is not None else np.asarray(rows)
    n = given[0].shape[0] if isinstance(given, tuple) else given.shape[0]
    rc = prepare_rescore(given, n, m)
    local = cand.rows - offset
    mask = (local >= 0) & (local < n)
    out = np.zeros(cand.rows.shape, np.float32)
    for qi in range(queries.shape[0]):
        picked = np.flatnonzero(mask[qi])
        if picked.size == 0:
            continue
        sub = rc.take(local[qi, picked])
        plan = plan_queries(queries[qi:qi + 1], sub, rm, name="queries")
        out[qi, picked] = plan.scores(np.empty((1, picked.size), plan.score_dtype))[0]
    return out, mask, index


def _finish_rescore(cand: _Part, k: int, nblocks: int, metric: str, *parts: tuple[np.ndarray, np.ndarray, int]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Re-rank the candidates by their rescoring scores, as :func:`quantlib.search` does.

    ``metric`` is the first stage's (its record names the metric rescoring ranks by).
    """
    rm = _rescore_metric(metric_info(metric))
    seen = sorted(p[2] for p in parts)
    count = sum(p[1].astype(np.int64) for p in parts)
    if seen != list(range(nblocks)) or not (count == 1).all():
        raise ShardError("rescoring: not every candidate was rescored exactly once; no partial result is returned")
    scores = sum(p[0] for p in parts)  # exactly one block wrote each score, the rest added +0.0
    nq = cand.rows.shape[0]
    out_scores = np.empty((nq, k), np.float32)
    out_ids = np.empty((nq, k), np.int64)
    for qi in range(nq):
        s = scores[qi]
        order = np.lexsort((cand.rows[qi], rm.order_keys(s)))[:k]
        out_scores[qi] = s[order]
        out_ids[qi] = cand.ids[qi, order]
    return out_scores, out_ids


def _client_checks(queries: Any, width: int, dtype: np.dtype, n: int, k: Any, m: MetricInfo, *,
                   precision: Any, codec: Any, dim: Any, oversample: Any, rescore_dtype: np.dtype | None,
                   rescore_codec: Any, rescore_width: int | None) -> tuple[np.ndarray, Corpus, int, int]:
    """Everything :func:`quantlib.search` checks, on one dummy row of the corpus's format."""
    k = check_k(k)
    dummy = prepare_corpus(np.zeros((1, width), dtype), m, precision=precision, codec=codec, name="corpus")
    if n == 0:
        raise ShapeError("corpus: expected at least one row, got an empty corpus")
    check_k_fits(k, n)
    rc = None
    if rescore_dtype is not None:
        rows = np.zeros((1, rescore_width), rescore_dtype)
        rc = prepare_rescore((rows, rescore_codec) if rescore_codec is not None else rows, 1, m)
    arr, oversample = _check_queries(queries, oversample, rc)
    # the plan checks widths, dtypes and bit dimensions; the record names the metric that does so without
    # the dummy row's per-row terms (a norm of a zero row, which cosine may refuse)
    plan_queries(arr, dummy, metric_info(m.checked_as) if m.checked_as else m, dim=dim)
    first = k if rc is None else min(n, k * oversample)
    return np.ascontiguousarray(arr), dummy, k, first


def search(queries: Any, corpus: Any, k: int = 10, *, metric: Metric | str = "cosine", precision: str | None = None,
           codec: Any = None, dim: int | None = None, rescore: Any = None, oversample: int = 4,
           split_every: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantlib.search` over a Dask array of rows: per-block top-k, tree-merged; computed now.

    Parameters are those of :func:`quantlib.search`, with ``corpus`` a Dask array (whole
    rows per chunk: one chunk along axis 1) or a list of blocks of the same width and
    dtype, and ``rescore`` a Dask array of rescoring rows (or ``(rows, codec)``) with the
    same number of rows; it is rechunked to the corpus's row chunks if needed, so each
    block rescores the candidates it holds.  ``split_every`` is the fan-in of the merge tree.

    Runs on the current Dask scheduler (a ``distributed.Client`` when one is active).

    Returns
    -------
    scores, indices : numpy.ndarray
        Those of :func:`quantlib.search` on the concatenated rows: global row numbers,
        equal scores ordered by the lower row.  (Float rows searched by 8 or more float
        queries: BLAS scores, see the module notes.)

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> import quantlib
    >>> x = np.random.default_rng(0).standard_normal((1000, 64)).astype(np.float32)
    >>> bits = quantlib.quantize(x, "ubinary")
    >>> scores, ids = search(bits[:3], da.from_array(bits, chunks=(300, 8)), k=5, metric="hamming")
    >>> ids[:, 0]
    array([0, 1, 2])
    >>> all(np.array_equal(a, b) for a, b in zip((scores, ids), quantlib.search(bits[:3], bits, 5, metric="hamming")))
    True
    """
    m = metric_info(metric)
    split_every = _check_split_every(split_every)
    x = _rows_array(corpus, "corpus")
    n = int(x.shape[0])
    rescore_codec = None
    rx = None
    if rescore is not None:
        if isinstance(rescore, tuple):
            if len(rescore) != 2 or not isinstance(rescore[1], (Codec, dict)):
                raise DTypeError(
                    f"rescore: expected float rows or a (codes, codec) pair, got a tuple of {len(rescore)} items"
                )
            rx, rescore_codec = rescore
            rescore_codec = codec_from_config(rescore_codec) if isinstance(rescore_codec, dict) else rescore_codec
        else:
            rx = rescore
        rx = _rows_array(rx, "rescore")
        if int(rx.shape[0]) != n:
            raise ShapeError(f"rescore: expected one row per corpus row ({n}), got {int(rx.shape[0])} rows")
        if rx.chunks[0] != x.chunks[0]:
            rx = rx.rechunk({0: x.chunks[0]})
    q, dummy, k, first = _client_checks(
        queries, int(x.shape[1]), x.dtype, n, k, m, precision=precision, codec=codec, dim=dim,
        oversample=oversample, rescore_dtype=None if rx is None else rx.dtype, rescore_codec=rescore_codec,
        rescore_width=None if rx is None else int(rx.shape[1]))
    if q.shape[0] == 0:
        return _no_queries(q, dummy, m, k, rx is not None)
    spec = _Spec(m.name, precision, dummy.codec, dim, first, rescore_codec)
    qd = dask.delayed(q, pure=True)
    offsets = _offsets(x.chunks[0])
    blocks = x.to_delayed().ravel()
    nb = len(blocks)
    parts = [dask.delayed(_first_stage, pure=True)(b, qd, spec, off, i)
             for i, (b, off) in enumerate(zip(blocks, offsets, strict=True))]
    merged = _tree(parts, _merger(first), split_every)
    checked = dask.delayed(_checked, pure=True)(merged, nb, n, first)
    if rx is None:
        result = dask.delayed(_final, pure=True)(checked, m.higher_is_better)
    else:
        rparts = [dask.delayed(_rescore_block, pure=True)(b, qd, checked, spec, off, i)
                  for i, (b, off) in enumerate(zip(rx.to_delayed().ravel(), offsets, strict=True))]
        result = dask.delayed(_finish_rescore, pure=True)(checked, k, nb, m.name, *rparts)
    (scores, ids), = _compute(result)
    return scores, ids


def _no_queries(q: np.ndarray, dummy: Corpus, m: MetricInfo, k: int, rescored: bool) -> tuple[np.ndarray, np.ndarray]:
    """The empty result of no queries, in the dtype quantlib.search gives."""
    dtype = np.dtype(np.float32)
    if not rescored:
        try:
            dtype = plan_queries(q, dummy, m).score_dtype
        except QuantlibError:  # a cosine of the dummy row cannot be taken: the dtype is float32 then
            pass
    return np.empty((0, k), dtype), np.empty((0, k), np.int64)


class _merger:
    """``_merge`` with its ``first``, as a picklable callable with a stable name for Dask keys."""

    def __init__(self, first: int) -> None:
        self.first = first
        self.__name__ = "quantlib-merge"

    def __call__(self, *parts: _Part) -> _Part:
        return _merge(*parts, first=self.first)

    def __dask_tokenize__(self) -> Any:
        return ("quantlib-merge", self.first)


def _checked(part: _Part, nblocks: int, n: int, first: int) -> _Part:
    _check_whole(part, nblocks, n, first)
    return part


def _final(part: _Part, higher_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    return part.scores, part.ids


def _tree_local(parts: list[_Part], first: int, split_every: int = 8) -> _Part:
    while len(parts) > 1:
        parts = [_merge(*parts[i:i + split_every], first=first) for i in range(0, len(parts), split_every)]
    return parts[0]
