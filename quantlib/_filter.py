"""Filtered search: the top-k among the rows a filter allows, scanned in place.

A filter (``allow=``) is a boolean mask over the corpus rows or a sorted list
of row numbers.  The corpus is cut into segments of
:data:`~quantlib._kernels._config.ALLOW_SEGMENT_ROWS` rows:

- where a segment's allowed rows are dense (at least one in
  :data:`~quantlib._kernels._config.ALLOW_DENSE_FRACTION`), the segment is
  scanned where it lies, by the unfiltered search's own plan: the same
  kernels, BLAS blocks, int16 first stages and threads, with a mask that keeps
  every other row out of the top-k lists (:mod:`quantlib._kernels.masked`).
  Segments with no allowed row are skipped, so long runs of allowed rows cost
  what they hold, and a filter of half the rows at random costs the
  unfiltered scan and a look at the mask;
- the allowed rows of the other segments, few and scattered, are gathered, a
  block of :data:`~quantlib._kernels._config.ALLOW_BLOCK_ROWS` rows at a time,
  into a small buffer (bounded memory, never a copy of the corpus) and
  searched there.

The per-row terms a metric needs (cosine's inverse norms, sqeuclidean's
squared norms, the L1 sums of the int8 first stage) are computed for the
allowed rows only (:func:`restrict`), unless the corpus has them already.

Both parts keep their own ``k`` best, and the parts are merged by the same
rule as every search (score, then the lower row number), so a filtered search
returns exactly the rows an unfiltered search over the allowed rows alone
would.  Fewer than ``k`` allowed rows leave the end of a result padded: row
``-1`` with the worst score of the score dtype (``-inf`` or ``+inf``; the
smallest or largest int64).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ._corpus import _FLOAT32_TINY, Corpus
from ._kernels import _config as C
from ._kernels import dense as KD
from ._kernels import masked as KM
from ._validation import as_array, describe
from .errors import DTypeError, OutOfRangeError, ShapeError


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
    """``plan.topk(k)`` over the corpus rows ``rows`` only (sorted, distinct): ``(scores, row numbers)``.

    ``plan`` was made against :func:`restrict`'s corpus of these rows (or against any corpus: it is
    split here then).
    """
    c = plan.corpus
    split = c if isinstance(c, _Restricted) and c.allowed is rows else restrict(c, rows)
    if plan.kind == "signs":
        plan.tables()  # built once, shared by every part
    scores_parts: list[np.ndarray] = []
    ids_parts: list[np.ndarray] = []
    if split.mask is not None:  # scanned in place: the plan's own search, only allowed rows ranked
        part = dataclasses.replace(plan, allow=split.mask, scan_rows=split.scan_rows)
        sc, ids = part.topk(k)
        scores_parts.append(sc)
        ids_parts.append(ids)
    for block, sub in split.gathered:  # few and scattered: gathered
        part = _over(plan, sub, block)
        sc, ids = part.topk(min(k, block.size))
        scores_parts.append(sc)
        ids_parts.append(np.where(ids >= 0, block[np.maximum(ids, 0)], -1))
    return _merge(scores_parts, ids_parts, plan, k)


@dataclasses.dataclass
class _Restricted(Corpus):
    """The corpus as a filtered search of the ``allowed`` rows sees it (made by :func:`restrict`).

    The rows are the whole corpus's, not copied; ``mask`` marks the allowed rows of the segments
    scanned in place (None if there are none), ``gathered`` holds the other allowed rows, copied a
    block at a time, as sub-corpora.  Per-row terms (norms, L1 sums) are computed for the allowed
    rows only, 0 for the others (never ranked, so never read); those the corpus had are shared.
    """

    allowed: np.ndarray | None = None
    mask: np.ndarray | None = None
    dense: np.ndarray | None = None
    scan_rows: int = 0
    gathered: list = dataclasses.field(default_factory=list)

    def _blocks(self) -> Any:
        """The allowed rows scanned in place, 1 MB of rows at a time (as Corpus computes norms), then the gathered."""
        if self.mask is not None:
            dense = self.dense
            step = max(1, (1 << 20) // max(1, self.width))
            for s in range(0, dense.size, step):
                block = dense[s:s + step]
                yield block, self.view[block]
        for block, sub in self.gathered:
            yield block, sub.view

    def inverse_norms(self, dequantized: bool) -> np.ndarray:
        """:meth:`Corpus.inverse_norms` of the allowed rows (the same float64 sums, the same refusal)."""

        def compute() -> np.ndarray:
            rows = self.allowed
            norms = np.zeros(self.n, np.float64)
            if dequantized:  # the norms of decode()'s float32 values, a block of codes at a time
                for block, codes in self._blocks():
                    part = np.empty(block.size, np.float64)
                    KD.row_norms(self.codec.decode(codes, dim=self.dim), part)
                    norms[block] = part
            else:  # scanned rows read where they lie, gathered ones from their copy
                if self.mask is not None:
                    KM.row_norms_at(self.view, self.dense, norms)
                for block, sub in self.gathered:
                    part = np.empty(block.size, np.float64)
                    KD.row_norms(sub.view, part)
                    norms[block] = part
            kept = norms[rows]
            small = np.flatnonzero((kept > 0) & (kept < _FLOAT32_TINY))
            if small.size:
                i = int(rows[small[0]])
                raise OutOfRangeError(
                    f"{self.name}: row {i}{' (dequantized)' if dequantized else ''} has norm "
                    f"{norms[i]:.3g}, below float32's smallest normal number ({_FLOAT32_TINY:.3g}), "
                    "so its cosine cannot be computed in float32; scale such rows up (cosine "
                    "does not change) or drop them"
                )
            out = np.zeros(self.n, np.float32)
            with np.errstate(divide="ignore"):
                out[rows] = np.where(kept > 0, 1.0 / kept, 0.0)
            return out

        return self._cached("dequantized" if dequantized else "raw", compute)

    def squared_norms(self, dequantized: bool) -> np.ndarray:
        def compute() -> np.ndarray:
            out = np.zeros(self.n, np.float64)
            step = max(1, (1 << 20) // max(1, self.width))
            for s in range(0, self.allowed.size, step):
                block = self.allowed[s:s + step]
                out[block] = Corpus.take(self, block).squared_norms(dequantized)
            return out

        return self._cached("squared dequantized" if dequantized else "squared raw", compute)

    def code_l1(self) -> np.ndarray:
        def compute() -> np.ndarray:
            out = np.zeros(self.n, np.int64)
            KM.row_l1_at(self.view, self.allowed, out)
            return out

        return self._cached("l1", compute)


def restrict(c: Corpus, rows: np.ndarray) -> Corpus:
    """``c`` as a filtered search of ``rows`` (sorted, distinct) sees it: split and gathered once per search.

    The corpus is cut into segments of :data:`~quantlib._kernels._config.ALLOW_SEGMENT_ROWS` rows;
    the allowed rows of a segment where at least one row in
    :data:`~quantlib._kernels._config.ALLOW_DENSE_FRACTION` is allowed are scanned in place, the
    others gathered, :data:`~quantlib._kernels._config.ALLOW_BLOCK_ROWS` at a time.  Norms are
    computed for the allowed rows only: a cosine search of 1% of the rows would otherwise compute
    the norms of every row first, a pass that costs about what the unfiltered scan does.
    """
    fields = {f.name: getattr(c, f.name) for f in dataclasses.fields(Corpus)}
    fields["_norms"] = dict(c._norms) if c._norms else None
    mask = np.zeros(c.n, np.bool_)
    dense = np.empty(rows.size, np.int64)
    sparse = np.empty(rows.size, np.int64)
    nd, m, scanned = KM.partition(rows, c.n, int(C.ALLOW_SEGMENT_ROWS), int(C.ALLOW_DENSE_FRACTION), mask,
                                  dense, sparse)
    blocks = [sparse[b:min(m, b + C.ALLOW_BLOCK_ROWS)] for b in range(0, m, C.ALLOW_BLOCK_ROWS)]
    base = c if not isinstance(c, _Restricted) else Corpus(**{f: getattr(c, f) for f in fields})
    return _Restricted(**fields, allowed=rows, mask=mask if nd else None, dense=dense[:nd], scan_rows=int(scanned),
                       gathered=[(block, Corpus.take(base, block)) for block in blocks])


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
