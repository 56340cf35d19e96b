"""Filtered search: the top-k among the rows a filter allows, scanned in place.

A filter (``allow=``) is a boolean mask over the corpus rows or a sorted list
of row numbers.  The allowed rows are split into runs of consecutive rows:

- a run of at least :data:`~quantlib._kernels._config.ALLOW_MIN_RUN` rows is
  searched where it lies, by the same kernels and plan as an unfiltered
  search over a slice of the corpus (a view: nothing is copied);
- where the rows of shorter runs are dense (at least one in
  :data:`~quantlib._kernels._config.ALLOW_DENSE_FRACTION` of a span of rows),
  the whole span is scored in place and only the allowed rows' scores reach
  the top-k lists: reading the others costs less than gathering these;
- the remaining, scattered rows are gathered, a block of
  :data:`~quantlib._kernels._config.ALLOW_BLOCK_ROWS` rows at a time, into a
  small buffer (bounded memory, never a copy of the corpus) and searched there.

Each part keeps its own ``k`` best, and the parts are merged by the same rule
as every search (score, then the lower row number), so a filtered search
returns exactly the rows an unfiltered search over the allowed rows alone
would.  Fewer than ``k`` allowed rows leave the end of a result padded: row
``-1`` with the worst score of the score dtype (``-inf`` or ``+inf``; the
smallest or largest int64).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._corpus import Corpus
from ._kernels import _config as C
from ._kernels import dense as KD
from ._kernels import topk as KT
from ._validation import as_array, describe
from .errors import DTypeError, ShapeError


def allowed_rows(allow: Any, n: int, name: str = "allow") -> np.ndarray:
    """The row numbers ``allow`` lets through: a boolean mask of ``n`` rows, or sorted distinct row numbers.

    Returns them as a sorted int64 array.  A mask of another length, row
    numbers out of ``0..n-1``, unsorted or repeated ones, and anything else are
    refused with an error naming ``name``.
    """
    arr = as_array(allow, name)
    if arr.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D boolean mask or a 1-D list of row numbers, got shape {arr.shape}")
    if arr.dtype == np.bool_:
        if arr.shape[0] != n:
            raise ShapeError(f"{name}: a boolean mask needs one entry per corpus row ({n}), got {arr.shape[0]}")
        return np.flatnonzero(arr).astype(np.int64)
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "f" and arr.size == 0):
        raise DTypeError(f"{name}: expected a boolean mask or integer row numbers, got {describe(arr)}")
    rows = arr.astype(np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= n):
        raise ShapeError(f"{name}: row numbers must lie in 0..{n - 1}, got {int(rows.min())}..{int(rows.max())}")
    bad = np.flatnonzero(np.diff(rows) <= 0)
    if bad.size:
        i = int(bad[0])
        raise ShapeError(f"{name}: row numbers must be sorted and distinct, got {int(rows[i])} before "
                         f"{int(rows[i + 1])} at position {i}")
    return rows


def topk_allowed(plan: Any, k: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``plan.topk(k)`` over the corpus rows ``rows`` only (sorted, distinct): ``(scores, row numbers)``."""
    c: Corpus = plan.corpus
    if plan.kind == "signs":
        plan.tables()  # built once, shared by every part
    scores_parts: list[np.ndarray] = []
    ids_parts: list[np.ndarray] = []
    if rows.size:
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [rows.size]))
        long = (ends - starts) >= C.ALLOW_MIN_RUN
        for s, e in zip(starts[long], ends[long], strict=True):  # long runs: searched where they lie
            r0, r1 = int(rows[s]), int(rows[e - 1]) + 1
            part = _over(plan, c.slice(r0, r1), slice(r0, r1))
            sc, ids = part.topk(min(k, r1 - r0))
            scores_parts.append(sc)
            ids_parts.append(ids + r0)
        short = rows[np.repeat(~long, ends - starts)]
        span = _mask_rows(plan)
        sparse = []
        for b0 in range(0, c.n, span) if short.size else ():
            lo, hi = np.searchsorted(short, [b0, b0 + span])
            if hi == lo:
                continue
            picked = short[lo:hi]
            if (hi - lo) * C.ALLOW_DENSE_FRACTION >= min(span, c.n - b0):  # dense: score the span, keep the picked
                sc, ids = _masked(plan, b0, min(c.n, b0 + span), picked, k)
                scores_parts.append(sc)
                ids_parts.append(ids)
            else:
                sparse.append(picked)
        sparse_rows = np.concatenate(sparse) if sparse else short[:0]
        for b in range(0, sparse_rows.size, C.ALLOW_BLOCK_ROWS):  # few and scattered: gathered
            block = sparse_rows[b:b + C.ALLOW_BLOCK_ROWS]
            part = _over(plan, c.take(block), block)
            sc, ids = part.topk(min(k, block.size))
            scores_parts.append(sc)
            ids_parts.append(block[ids])
    return _merge(scores_parts, ids_parts, plan, k)


def _mask_rows(plan: Any) -> int:
    """Rows per span scored whole for a dense filter: the BLAS blocks' size in scores (16 MB of float32).

    Rows BLAS reads widened (float16) are widened a span at a time: that copy is kept near 32 MB too.
    """
    span = int(max(C.ALLOW_BLOCK_ROWS, C.BLAS_BLOCK_SCORES // max(1, plan.nq)))
    floats = plan.corpus.floats
    if floats.dtype != np.float32:
        span = min(span, max(C.ALLOW_BLOCK_ROWS, (1 << 25) // (4 * max(1, plan.corpus.width))))
    return span


def _masked(plan: Any, r0: int, r1: int, picked: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of the rows ``picked`` among ``r0:r1``, from the scores of every row of the span.

    The span is scored in place (a view of the corpus, by the plan's own kernels or BLAS) and only the
    picked columns reach the top-k lists: reading a few rows too many costs less than gathering them
    when they are most of the span.
    """
    nq = plan.nq
    local = picked - r0
    part = _over(plan, plan.corpus.slice(r0, r1), slice(r0, r1))
    kk = min(k, picked.size)
    keys = np.full((nq, kk), np.inf, np.float64)
    ids = np.full((nq, kk), -1, np.int64)
    c = part.corpus
    if plan.kind == "dense" and c.family == "float" and nq >= C.BLAS_MIN_QUERIES:
        rows = c.floats if c.floats.dtype == np.float32 else c.floats.astype(np.float32)
        raw = np.ascontiguousarray((part.W[:nq] @ rows.T)[:, local])
        RB = None if part.RB is None else np.ascontiguousarray(part.RB[local])
        if KD.topk_block(raw, part.A, part.B, np.ascontiguousarray(part.RS[local]), RB, 0, keys, ids):
            c.raise_nonfinite()
        KT.finish(keys, ids)
        return part.scores_from_keys(keys.astype(part.A.dtype)), np.where(ids >= 0, picked[ids], -1)
    S = part.scores(np.empty((nq, r1 - r0), part.score_dtype))
    sub = np.ascontiguousarray(S[:, local])
    sign = np.full(nq, 1.0 if plan.metric.higher_is_better else -1.0)
    KD.topk_block(sub, sign, np.zeros(nq), np.ones(picked.size), None, 0, keys, ids)
    KT.finish(keys, ids)
    return np.take_along_axis(sub, np.maximum(ids, 0), 1), np.where(ids >= 0, picked[ids], -1)


def _over(plan: Any, sub: Corpus, index: Any) -> Any:
    """``plan`` against the sub-corpus ``sub`` of the rows ``index`` (its per-row arrays cut to them)."""
    n = plan.corpus.n
    changes: dict[str, Any] = {"corpus": sub}
    for field in ("RS", "RB"):
        value = getattr(plan, field, None)
        if isinstance(value, np.ndarray) and value.ndim == 1 and value.shape[0] == n:
            changes[field] = np.ascontiguousarray(value[index])
    return dataclasses.replace(plan, **changes)


def _merge(scores: list[np.ndarray], ids: list[np.ndarray], plan: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best ``k`` of every part's lists, by score then lower row number, padded with row -1."""
    nq = plan.nq
    dtype = np.dtype(plan.score_dtype)
    higher = plan.metric.higher_is_better
    if dtype.kind == "f":
        worst = -np.inf if higher else np.inf
    else:
        worst = np.iinfo(dtype).min if higher else np.iinfo(dtype).max
    out_scores = np.full((nq, k), worst, dtype)
    out_ids = np.full((nq, k), -1, np.int64)
    if not scores:
        return out_scores, out_ids
    s = np.concatenate([p.astype(dtype, copy=False) for p in scores], axis=1)
    i = np.concatenate(ids, axis=1)
    present = i >= 0
    key = np.where(present, -s if higher else s, np.inf if dtype.kind == "f" else np.iinfo(np.int64).max)
    tie = np.where(present, i, np.iinfo(np.int64).max)
    order = np.lexsort((tie, key), axis=-1)[:, :k]
    take = np.take_along_axis(present, order, 1)
    width = order.shape[1]
    out_scores[:, :width] = np.where(take, np.take_along_axis(s, order, 1), worst)
    out_ids[:, :width] = np.where(take, np.take_along_axis(i, order, 1), -1)
    return out_scores, out_ids
