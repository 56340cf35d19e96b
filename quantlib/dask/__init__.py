"""Quantize and search beyond one machine: Dask arrays and sharded :class:`~quantlib.FlatIndex` directories.

Needs the ``dask`` extra (``pip install "quantlib-embeddings[dask]"``: dask[array] and
distributed); ``import quantlib`` never imports Dask, this module does, when it is imported.

Every function here gives the answer of its single-process twin on the concatenated rows:

- :func:`quantize`, :func:`calibration_ranges`, :func:`fit_codec` and :func:`truncate` work
  block by block; calibration ranges come from one Dask reduction (per-dimension min and
  max, exactly what :func:`quantlib.calibration_ranges` computes), so the codes and the
  codec config equal those of :func:`quantlib.quantize` on the whole array, bit for bit.
- :func:`search` over a Dask array and :meth:`ShardedIndex.search` over FlatIndex
  directories or Parquet files (:meth:`ShardedIndex.from_parquet`): each block or shard
  returns its fused top-k with global row numbers, and a tree of merges keeps the best
  ``k`` by (score, row), so ties go to the lower row as in :func:`quantlib.search`.
  With ``rescore=``, the first stage keeps ``k * oversample`` candidates over the whole
  corpus (as the single-process search does), and each block or shard rescores the
  candidates whose rows it holds.

Scores equal the single-process scores bit for bit, with one exception that
:func:`quantlib.search` shares with :func:`quantlib.pairwise`: float32/float16 rows
searched by 8 or more float queries at once go through BLAS, whose sums depend on the
shape of the block it is given, so those scores may differ in the last bit (one float32
rounding step) and near-ties may order differently (see ``docs/scale-out.md``).

Bad input (rows split along the vector dimension, blocks or shards of different widths,
codecs or dimensions, ``k`` beyond the corpus, queries that do not fit) raises a quantlib
error before any work is sent to the cluster.  A worker that dies mid-search is replaced:
Dask runs its task again elsewhere and the answer is the same, or, when it keeps failing,
:class:`ShardError` is raised; a partial top-k is never returned.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np

from .._corpus import Corpus, prepare_corpus
from .._kernels import _config as _tuning
from .._planner import _num_threads, _parallel, _query_blocks, plan_queries
from .._validation import as_array, describe
from ..codecs import Codec, ScalarCodec, codec_from_config, get_codec
from ..codecs.scalar import MIN_CALIBRATION_ROWS, Rounding
from ..errors import (
    CalibrationError,
    CalibrationWarning,
    ConfigError,
    DTypeError,
    NonFiniteError,
    QuantlibError,
    ShapeError,
)
from ..index import HEADER, FlatIndex
from ..matryoshka import ZeroPolicy
from ..matryoshka import truncate as _truncate
from ..metrics import Metric, MetricInfo, metric_info
from ..precision import Precision, precision_info
from ..search import _rescore_metric, check_k, prepare_rescore

__all__ = [
    "ShardError",
    "ShardedIndex",
    "calibration_ranges",
    "fit_codec",
    "quantize",
    "search",
    "truncate",
]


class ShardError(QuantlibError, RuntimeError):
    """A block or shard could not be searched (its worker kept dying, or it changed on disk).

    Raised instead of returning a top-k that misses rows.
    """


# ---------------------------------------------------------------------------
# Validation on the client: shapes and dtypes only, no data
# ---------------------------------------------------------------------------


def _rows_array(x: Any, name: str) -> da.Array:
    """A 2-D Dask array of rows, whole along axis 1, with known row counts.

    A list or tuple of blocks (Dask or numpy arrays) is concatenated after checking that
    every block has the same width and dtype.
    """
    if isinstance(x, (list, tuple)):
        if not x:
            raise ShapeError(f"{name}: expected at least one block, got an empty {type(x).__name__}")
        blocks = []
        for i, b in enumerate(x):
            if not isinstance(b, da.Array):
                b = as_array(b, f"{name}[{i}]")
                b = da.from_array(b, chunks=b.shape or (0,))
            if b.ndim != 2:
                raise ShapeError(f"{name}: block {i} has shape {b.shape}; expected 2-D (n, d) rows")
            first = blocks[0] if blocks else b
            if b.shape[1] != first.shape[1]:
                raise ShapeError(f"{name}: block {i} has rows of width {b.shape[1]}, block 0 of width "
                                 f"{first.shape[1]}; every block must have the same width")
            if b.dtype != first.dtype:
                raise DTypeError(f"{name}: block {i} has dtype {b.dtype}, block 0 has dtype {first.dtype}; "
                                 "every block must have the same dtype")
            blocks.append(b)
        x = blocks[0] if len(blocks) == 1 else da.concatenate(blocks, axis=0)
    if not isinstance(x, da.Array):
        raise DTypeError(f"{name}: expected a dask.array.Array (or a list of blocks), got {describe(x)}; "
                         "use quantlib.search / quantlib.quantize for numpy arrays")
    if x.ndim != 2:
        raise ShapeError(f"{name}: expected a 2-D (n, d) Dask array of rows, got shape {x.shape}")
    if any(np.isnan(c) for c in x.chunks[0]) or np.isnan(x.shape[1]):
        raise ShapeError(f"{name}: the Dask array has unknown chunk sizes {x.chunks}; call "
                         "compute_chunk_sizes() first, so that row numbers are known")
    if x.numblocks[1] != 1:
        raise ShapeError(
            f"{name}: expected one chunk along axis 1 (whole rows per block), got chunks {x.chunks[1]} "
            f"along axis 1; rechunk with {name}.rechunk({{1: -1}})"
        )
    return x


def _float_rows(x: Any, name: str) -> da.Array:
    x = _rows_array(x, name)
    if x.dtype.kind != "f" or x.dtype.itemsize > 8:
        raise DTypeError(f"{name}: expected floating-point rows (float16, float32 or float64), got dtype {x.dtype}")
    if x.shape[1] == 0:
        raise ShapeError(f"{name}: expected at least one dimension, got shape {x.shape}")
    return x


def _offsets(chunks: Sequence[int]) -> list[int]:
    return [int(s) for s in np.concatenate(([0], np.cumsum(chunks)))[:-1]]


def _tree(parts: list[Any], combine: Callable[..., Any], split_every: int) -> Any:
    """Reduce Dask delayed ``parts`` with ``combine`` in a tree of fan-in ``split_every``."""
    while len(parts) > 1:
        parts = [dask.delayed(combine, pure=True)(*parts[i:i + split_every])
                 for i in range(0, len(parts), split_every)]
    return parts[0]


def _check_split_every(split_every: Any) -> int:
    value = check_k(split_every, "split_every")
    if value < 2:
        raise ShapeError(f"split_every: expected an integer >= 2, got {value}")
    return value


def _compute(*objects: Any) -> Any:
    """``dask.compute``, turning a worker that kept dying into :class:`ShardError`."""
    try:
        return dask.compute(*objects)
    except Exception as exc:
        if type(exc).__name__ == "KilledWorker":
            raise ShardError(f"a block's task failed on several workers in a row, which all died ({exc}); "
                             "no partial result is returned") from exc
        raise


# ---------------------------------------------------------------------------
# Quantization
# ---------------------------------------------------------------------------


def _block_stats(block: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...] | None, Any]:
    arr = np.asarray(block)
    if arr.dtype.itemsize == 2:  # as quantlib's own float16 path: widened (exactly) first
        arr = arr.astype(np.float32)
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("="))
    if arr.shape[0] == 0:
        return np.full(arr.shape[1], np.inf, arr.dtype), np.full(arr.shape[1], -np.inf, arr.dtype), None, None
    finite = np.isfinite(arr)
    if not finite.all():
        i, j = (int(v) for v in np.argwhere(~finite)[0])
        return arr[0], arr[0], (start + i, j), arr[i, j].item()
    return arr.min(axis=0), arr.max(axis=0), None, None


def _combine_stats(*parts: tuple[np.ndarray, np.ndarray, Any, Any]) -> tuple[np.ndarray, np.ndarray, Any, Any]:
    bad = [p for p in parts if p[2] is not None]
    if bad:
        return min(bad, key=lambda p: p[2])
    lo = parts[0][0]
    hi = parts[0][1]
    for p in parts[1:]:
        lo = np.minimum(lo, p[0])
        hi = np.maximum(hi, p[1])
    return lo, hi, None, None


def calibration_ranges(x: Any, *, split_every: int = 8) -> np.ndarray:
    """Per-dimension ``[min, max]`` of a Dask array, shape ``(2, d)``, float32: one reduction.

    Equal to :func:`quantlib.calibration_ranges` of the concatenated rows (min and max are
    exact, so the order of the reduction does not matter); warns
    (:class:`~quantlib.CalibrationWarning`) with fewer than 100 rows, as it does.

    Raises
    ------
    NonFiniteError
        A NaN or infinity, named by its global ``(row, column)``.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = da.from_array(np.array([[0.0, 1.0], [2.0, -1.0]] * 50, dtype=np.float32), chunks=(30, 2))
    >>> calibration_ranges(x)
    array([[ 0., -1.],
           [ 2.,  1.]], dtype=float32)
    """
    x = _float_rows(x, "calibration_embeddings")
    split_every = _check_split_every(split_every)
    return _ranges(x, "calibration_embeddings", split_every, stacklevel=3)


def _ranges(x: da.Array, name: str, split_every: int, stacklevel: int) -> np.ndarray:
    import warnings

    n = int(x.shape[0])
    if n == 0:
        raise CalibrationError(f"{name}: expected at least one row to compute ranges from, got 0")
    if n < MIN_CALIBRATION_ROWS:
        warnings.warn(
            f"{name}: int8/uint8 ranges computed from {n} row(s); quantization is more "
            f"stable with ranges or calibration_embeddings of at least {MIN_CALIBRATION_ROWS} rows",
            CalibrationWarning,
            stacklevel=stacklevel,
        )
    blocks = x.to_delayed().ravel()
    parts = [dask.delayed(_block_stats, pure=True)(b, off)
             for b, off in zip(blocks, _offsets(x.chunks[0]), strict=True)]
    (lo, hi, where, value), = _compute(_tree(parts, _combine_stats, split_every))
    if where is not None:
        raise NonFiniteError(f"{name}: expected finite values, got {value} at index {where}")
    return np.vstack((lo, hi)).astype(np.float32)


def fit_codec(x: Any, precision: str = "int8", *, rounding: Rounding = "nearest",
              split_every: int = 8) -> ScalarCodec:
    """The :class:`~quantlib.ScalarCodec` fitted to a Dask array (its ranges from one reduction).

    Equal (same config) to ``ScalarCodec.fit`` of the concatenated rows.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float32)
    >>> codec = fit_codec(da.from_array(x, chunks=(300, 8)), "uint8")
    >>> codec == ScalarCodec.fit(x, "uint8")
    True
    """
    info = precision_info(precision)
    if not info.is_scalar:
        raise ConfigError(f"precision: only int8 and uint8 codecs are fitted, got precision {info.name!r}")
    x = _float_rows(x, "calibration_embeddings")
    ranges = _ranges(x, "calibration_embeddings", _check_split_every(split_every), stacklevel=3)
    return ScalarCodec(info.name, ranges, rounding=rounding)


def _encode_block(block: np.ndarray, codec: Codec, block_info: Any = None) -> np.ndarray:
    try:
        return codec.encode(block)
    except QuantlibError as exc:
        start = block_info[0]["array-location"][0][0] if block_info else 0
        raise type(exc)(f"block of rows from {start}: {exc} (row numbers within the block)") from None


def quantize(
    x: Any,
    precision: Precision | str | Codec,
    *,
    ranges: Any = None,
    calibration_embeddings: Any = None,
    rounding: Rounding = "nearest",
    split_every: int = 8,
) -> da.Array:
    """:func:`quantlib.quantize` of a Dask array, block by block: a lazy Dask array of codes.

    Parameters are those of :func:`quantlib.quantize`.  For int8/uint8 without ``ranges``,
    the ranges come from ``calibration_embeddings`` (a Dask or numpy array) or else from
    ``x`` itself, by one Dask reduction computed now; the codes are computed when you
    compute the result.  Keep the codec: ``fit_codec(x)`` gives it, and
    ``quantize(x, codec)`` then encodes without a second calibration pass.

    The codes equal ``quantlib.quantize`` of the concatenated rows bit for bit (with the
    same ranges, rounding and warnings).

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> import quantlib
    >>> x = np.random.default_rng(0).standard_normal((1000, 16)).astype(np.float32)
    >>> codes = quantize(da.from_array(x, chunks=(256, 16)), "int8")
    >>> codes.chunks[0]
    (256, 256, 256, 232)
    >>> bool(np.array_equal(codes.compute(), quantlib.quantize(x, "int8")))
    True
    """
    x = _float_rows(x, "embeddings")
    split_every = _check_split_every(split_every)
    if isinstance(precision, Codec):
        if ranges is not None or calibration_embeddings is not None or rounding != "nearest":
            raise ConfigError(
                "ranges/calibration_embeddings/rounding: a codec already holds them; pass one or the other"
            )
        codec = precision
    else:
        info = precision_info(precision)
        if not info.is_scalar:
            if ranges is not None or calibration_embeddings is not None or rounding != "nearest":
                raise ConfigError(
                    f"ranges/calibration_embeddings/rounding: only int8 and uint8 use calibration, "
                    f"got precision {info.name!r}"
                )
            codec = get_codec(info.name)
        else:
            if ranges is not None and calibration_embeddings is not None:
                raise ConfigError("ranges, calibration_embeddings: pass one or the other, got both")
            if ranges is None:
                if calibration_embeddings is None:
                    src, name = x, "embeddings"
                elif isinstance(calibration_embeddings, (da.Array, list, tuple)):
                    src, name = _float_rows(calibration_embeddings, "calibration_embeddings"), "calibration_embeddings"
                else:
                    arr = as_array(calibration_embeddings, "calibration_embeddings")
                    src = _float_rows(da.from_array(arr, chunks=arr.shape) if arr.ndim == 2 else arr,
                                      "calibration_embeddings")
                    name = "calibration_embeddings"
                ranges = _ranges(src, name, split_every, stacklevel=3)
            codec = ScalarCodec(info.name, ranges, rounding=rounding)
    # what a block of x becomes, checked on one row now (dimension against the codec's ranges)
    probe = codec.encode(np.zeros((1, int(x.shape[1])), x.dtype))
    return x.map_blocks(_encode_block, codec, dtype=probe.dtype, chunks=(x.chunks[0], (probe.shape[1],)),
                        meta=np.empty((0, 0), probe.dtype))


def _truncate_block(block: np.ndarray, dim: int, precision: Any, renormalize: Any, zero_policy: Any,
                    ranges: Any, block_info: Any = None) -> np.ndarray:
    try:
        return _truncate(block, dim, precision=precision, renormalize=renormalize, zero_policy=zero_policy,
                         ranges=ranges)
    except QuantlibError as exc:
        start = block_info[0]["array-location"][0][0] if block_info else 0
        raise type(exc)(f"block of rows from {start}: {exc} (row numbers within the block)") from None


def truncate(
    x: Any,
    dim: int,
    *,
    precision: Precision | str | Codec = "float32",
    renormalize: bool | None = None,
    zero_policy: ZeroPolicy = "keep",
    ranges: Any = None,
) -> da.Array:
    """:func:`quantlib.truncate` of a Dask array, block by block (Matryoshka prefixes): a lazy Dask array.

    Equal to :func:`quantlib.truncate` of the concatenated rows, bit for bit.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> x = da.from_array(np.array([[3.0, 4.0, 12.0]] * 4, dtype=np.float32), chunks=(2, 3))
    >>> truncate(x, 2).compute()[0]
    array([0.6, 0.8], dtype=float32)
    """
    x = _rows_array(x, "embeddings")
    probe = _truncate(np.ones((1, int(x.shape[1])), x.dtype), dim, precision=precision, renormalize=renormalize,
                      zero_policy=zero_policy, ranges=ranges)
    return x.map_blocks(_truncate_block, dim, precision, renormalize, zero_policy, ranges, dtype=probe.dtype,
                        chunks=(x.chunks[0], (probe.shape[1],)), meta=np.empty((0, 0), probe.dtype))


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
    if k > n:
        raise ShapeError(f"k: expected at most the number of corpus rows ({n}), got {k}; use k=min(k, {n})")
    arr = as_array(queries, "queries")
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ShapeError(f"queries: expected a vector (d,) or a batch (m, d), got shape {arr.shape}")
    oversample = check_k(oversample, "oversample")
    # the plan checks widths, dtypes and bit dimensions; the record names the metric that does so without
    # the dummy row's per-row terms (a norm of a zero row, which cosine may refuse)
    plan_queries(arr, dummy, metric_info(m.checked_as) if m.checked_as else m, dim=dim)
    first = k
    if rescore_dtype is not None:
        given = (np.zeros((1, rescore_width), rescore_dtype), rescore_codec) if rescore_codec is not None \
            else np.zeros((1, rescore_width), rescore_dtype)
        rc = prepare_rescore(given, 1, m)
        if arr.dtype.kind != "f":
            raise DTypeError(
                f"queries: rescoring needs float queries, got dtype {arr.dtype}; pass the float32 "
                "embeddings (the first stage quantizes or scores them against the codes itself)"
            )
        if arr.shape[1] != rc.width:
            raise ShapeError(f"rescore: rows of dimension {rc.width} cannot rescore float queries of "
                             f"dimension {arr.shape[1]}")
        first = min(n, k * oversample)
    return np.ascontiguousarray(arr), dummy, k, first


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
    split_every: int = 8,
) -> tuple[np.ndarray, np.ndarray]:
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


# ---------------------------------------------------------------------------
# Sharded FlatIndex directories: each searched by the worker that holds it
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Source:
    """Where a shard lives and how to read it: a FlatIndex directory, or a Parquet file's columns."""

    path: str
    verify: bool = True
    column: str | None = None  # None: a FlatIndex directory; else the Parquet file's vector column
    id_column: str | None = None
    rescore_column: str | None = None
    metric: str | None = None  # a Parquet file records no metric: the one given to from_parquet


class _ParquetShard:
    """A Parquet file's vector column (with its ids and rescoring rows, if named), as numpy.

    Read once by the worker that searches it: ``pyarrow.parquet.read_table(memory_map=True)``
    of the named columns only, then :func:`quantlib.stores.arrow.from_arrow` (read-only
    views of Arrow's buffers; row groups are joined first, which copies when there are
    several).  Offers what the search tasks use of a :class:`FlatIndex`.
    """

    def __init__(self, source: _Source) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..stores.arrow import from_arrow

        path = source.path
        names = pq.read_schema(path, memory_map=True).names
        for what, name in (("column", source.column), ("id_column", source.id_column),
                           ("rescore_column", source.rescore_column)):
            if name is not None and name not in names:
                raise ConfigError(f"{what}: the Parquet file {path} has no column {name!r}; its columns are {names}")
        wanted = [c for c in (source.column, source.id_column, source.rescore_column) if c is not None]
        table = pq.read_table(path, columns=wanted, memory_map=True)

        def dense(name: str, what: str) -> tuple[np.ndarray, Codec | None, int]:
            values, codec, dim = from_arrow(table.select([name]).combine_chunks(), name)
            if not isinstance(values, np.ndarray):
                raise DTypeError(f"{what}: column {name!r} of {path} holds a {type(values).__name__}; "
                                 "a ShardedIndex searches dense vector columns")
            return values, codec, int(values.shape[1] if dim is None else dim)

        self.codes, codec, self.dim = dense(source.column, "column")  # type: ignore[arg-type]
        self.precision = codec.precision if codec is not None else self.codes.dtype.name  # raw int8/uint8 codes
        self._info = precision_info(self.precision)
        self.config = codec.get_config() if codec is not None else {"id": self.precision}
        self.search_codec = codec
        self.ids: np.ndarray | None = None
        if source.id_column is not None:
            col = table.column(source.id_column)
            if not pa.types.is_integer(col.type):
                raise DTypeError(f"id_column: column {source.id_column!r} of {path} has type {col.type}; "
                                 "expected integers")
            if col.null_count:
                raise ShapeError(f"id_column: column {source.id_column!r} of {path} has {col.null_count} "
                                 "null(s); expected an id in every row")
            ids = col.to_numpy()
            if ids.dtype == np.uint64 and ids.size and ids.max() > np.iinfo(np.int64).max:
                raise DTypeError(f"id_column: column {source.id_column!r} of {path} has ids beyond int64")
            self.ids = ids.astype(np.int64, copy=False)
        self.rescore: np.ndarray | None = None
        self.rescore_config: dict[str, Any] | None = None
        self.rescore_search_codec: Codec | None = None
        if source.rescore_column is not None:
            self.rescore, rcodec, rdim = dense(source.rescore_column, "rescore_column")
            if rdim != self.dim:
                raise ShapeError(f"rescore_column: column {source.rescore_column!r} of {path} has dimension "
                                 f"{rdim}, the vector column {source.column!r} has dimension {self.dim}")
            rprecision = rcodec.precision if rcodec is not None else self.rescore.dtype.name
            self.rescore_config = rcodec.get_config() if rcodec is not None else {"id": rprecision}
            self.rescore_search_codec = rcodec

    def __len__(self) -> int:
        return int(self.codes.shape[0])


#: Shards opened in this (worker) process: source -> (digest, FlatIndex or _ParquetShard).
_OPEN: dict[_Source, tuple[str, Any]] = {}
_OPEN_LOCK = threading.Lock()


def _header_digest(path: str) -> str:
    try:
        return hashlib.sha256((Path(path) / HEADER).read_bytes()).hexdigest()
    except FileNotFoundError:
        raise FileNotFoundError(f"path: {path} holds no {HEADER}; it is not a saved FlatIndex") from None


def _digest(source: _Source) -> str:
    """What says the shard is still the one opened: the FlatIndex header, or the Parquet file's identity."""
    if source.column is None:
        return _header_digest(source.path)
    try:
        st = os.stat(source.path)
    except FileNotFoundError:
        raise FileNotFoundError(f"path: no Parquet file {source.path} (as the worker sees it)") from None
    return f"parquet:{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}"


def _load_shard(source: _Source) -> tuple[str, Any]:
    """The shard at ``source``, opened once per process (again when its digest changes)."""
    digest = _digest(source)
    key = replace(source, metric=None)  # the same rows, whichever metric ranks them
    with _OPEN_LOCK:
        held = _OPEN.get(key)
        if held is not None and held[0] == digest:
            return held
    shard: Any
    if source.column is None:
        shard = FlatIndex.load(source.path, mmap=True, verify=source.verify)
    else:
        shard = _ParquetShard(source)
    if _digest(source) != digest:
        raise ShardError(f"shard {source.path}: it was saved again while being opened; try again")
    with _OPEN_LOCK:
        _OPEN[key] = (digest, shard)
    return digest, shard


def loaded_shards() -> list[str]:
    """Paths of the shards (FlatIndex directories, Parquet files) this process holds open (for tests and monitoring)."""
    with _OPEN_LOCK:
        return sorted({s.path for s in _OPEN})


@dataclass(frozen=True)
class _View:
    """What the search tasks read from a shard, whichever its kind."""

    codes: np.ndarray
    ids: np.ndarray | None  # None: the global row numbers
    precision: str
    codec: Codec | None  # the ScalarCodec the codes were made with, if any
    dim: int
    packed: bool
    rescore: Any
    rescore_codec: Codec | None


def _view(shard: Any) -> _View:
    if isinstance(shard, _ParquetShard):
        return _View(shard.codes, shard.ids, shard.precision, shard.search_codec, shard.dim, shard._info.packed,
                     shard.rescore, shard.rescore_search_codec)
    rescore = shard._array("rescore") if shard._rescore_codec is not None else None
    return _View(shard.codes, shard.ids, precision_info(shard._codec.precision).name, shard._search_codec(),
                 shard.dim, shard._info.packed, rescore, shard._rescore_search_codec())


def _shard_info(source: _Source) -> dict[str, Any]:
    digest, shard = _load_shard(source)
    if isinstance(shard, _ParquetShard):
        codec, rescore, metric = shard.config, shard.rescore_config, source.metric
    else:
        codec = shard._codec.get_config()
        rescore = None if shard._rescore_codec is None else shard._rescore_codec.get_config()
        metric = shard.metric
    return {"digest": digest, "n": len(shard), "dim": shard.dim, "metric": metric, "codec": codec,
            "rescore": rescore, "pid": os.getpid()}


def _opened(source: _Source, digest: str, index: int) -> _View:
    got, shard = _load_shard(source)
    if got != digest:
        raise ShardError(f"shard {index} ({source.path}) changed on disk since it was opened; "
                         "open the ShardedIndex again")
    return _view(shard)


def _shard_first_stage(source: _Source, digest: str, queries: np.ndarray, spec: _Spec, offset: int,
                       index: int) -> _Part:
    shard = _opened(source, digest, index)
    spec = _Spec(spec.metric, shard.precision, shard.codec, shard.dim if shard.packed else None, spec.first)
    part = _first_stage(shard.codes, queries, spec, offset, index, ids=None)
    if shard.ids is not None:
        part.ids = shard.ids[part.rows - offset]
    return part


def _shard_rescore(source: _Source, digest: str, queries: np.ndarray, cand: _Part, spec: _Spec,
                   offset: int, index: int) -> tuple[np.ndarray, np.ndarray, int]:
    shard = _opened(source, digest, index)
    spec = _Spec(spec.metric, None, None, None, spec.first, shard.rescore_codec)
    return _rescore_block(shard.rescore, queries, cand, spec, offset, index)


class ShardedIndex:
    """FlatIndex directories (or Parquet files: :meth:`from_parquet`) searched as one index, each by the Dask
    worker that holds it.

    Opening asks each shard's worker (shard ``i`` goes to worker ``i mod n_workers``)
    to memory-map its directory (:meth:`FlatIndex.load`, checksums verified once) and
    report its header; the shards must agree on codec, dimension, metric and rescoring
    codec.  A search sends the queries to the shards' workers, which search their own
    memory maps; only ``n_queries x k`` results travel back, and the client merges them.
    No corpus is ever gathered, and no worker opens another's shard, unless that worker
    died: then its shards move to the living workers.

    Results equal :meth:`FlatIndex.search` of one index holding the shards' rows in
    order: the stored int64 ids, ties by the lower row of that concatenation.  Ids should
    be unique across shards (each shard checks its own).

    Parameters
    ----------
    paths : sequence of str or PathLike
        The shard directories, as the workers see them.
    client : distributed.Client, optional
        Default: the current client.
    verify : bool
        Check each array file's SHA-256 when a worker first opens a shard.
    retries : int
        How many times a shard's task may be moved to another worker after its worker died.
    """

    def __init__(self, paths: Sequence[str | os.PathLike], client: Any = None, *, verify: bool = True,
                 retries: int = 3) -> None:
        self.verify = bool(verify)
        self._open([_Source(p, verify=self.verify) for p in _paths(paths, "shard directories")], client, retries)

    @classmethod
    def from_parquet(cls, paths: Sequence[str | os.PathLike], client: Any = None, *, column: str = "vector",
                     id_column: str | None = None, rescore_column: str | None = None,
                     metric: Metric | str = "cosine", retries: int = 3) -> ShardedIndex:
        """Parquet files searched as one index, each read only by the Dask worker that searches it.

        Each file is a shard, as :func:`quantlib.stores.arrow.to_table` and
        ``pyarrow.parquet.write_table`` wrote it: a vector column whose field metadata
        records its codec and dimension, an optional integer id column and an optional
        rescoring column (float32/float16 rows, or int8 codes with their codec).  Shard
        ``i``'s worker reads its file's named columns (``read_table(memory_map=True)``,
        into numpy without a further copy) when the index is opened and keeps them for
        later searches; the client never opens a file.

        Results equal :func:`quantlib.search` of the files' rows concatenated in order
        (with ``metric``, the recorded codec and dimension, and ``rescore=`` the rescoring
        column): the same scores and tie order, and as ids the id column's values, or
        without one the global row number in file order.

        Parameters
        ----------
        paths : sequence of str or PathLike
            The Parquet files, as the workers see them.
        client : distributed.Client, optional
            Default: the current client.
        column : str
            The vector column (it must carry quantlib's field metadata).
        id_column : str, optional
            An integer column of ids to return instead of row numbers.
        rescore_column : str, optional
            The rows that rescore the candidates (``search(rescore=True)``).
        metric : str
            A Parquet file records no metric: the one to rank by.
        retries : int
            As for :class:`ShardedIndex`.

        Raises
        ------
        ConfigError
            A missing column (named, with the file's columns), a column without quantlib
            metadata, or shards that disagree on codec, dimension or rescoring codec.
        FileNotFoundError
            A file the worker cannot find.

        Examples
        --------
        See ``docs/scale-out.md``.
        """
        m = metric_info(metric)
        names = {"column": column, "id_column": id_column, "rescore_column": rescore_column}
        for what, name in names.items():
            if name is not None and (not isinstance(name, str) or not name):
                raise DTypeError(f"{what}: expected a column name (a non-empty str), got {name!r}")
        given = [n for n in names.values() if n is not None]
        if len(set(given)) != len(given):
            raise ConfigError(f"column, id_column, rescore_column: expected different columns, got {names}")
        self = cls.__new__(cls)
        self.verify = False  # Parquet pages carry no quantlib checksums; the field metadata's is checked
        self._open([_Source(p, verify=False, column=column, id_column=id_column, rescore_column=rescore_column,
                            metric=m.name) for p in _paths(paths, "Parquet files")], client, retries)
        return self

    def _open(self, sources: list[_Source], client: Any, retries: int) -> None:
        from distributed import get_client

        self._sources = sources
        self.paths = [s.path for s in sources]
        self.client = client if client is not None else get_client()
        if isinstance(retries, bool) or not isinstance(retries, (int, np.integer)) or retries < 0:
            raise DTypeError(f"retries: expected an integer >= 0, got {retries!r}")
        self.retries = int(retries)
        workers = self._workers()
        self._assigned = [workers[i % len(workers)] for i in range(len(self.paths))]
        infos = self._run("open", [(_shard_info, (s,)) for s in sources])
        first = infos[0]
        for i, info in enumerate(infos):
            for key, what in (("dim", "dimension"), ("metric", "metric"), ("codec", "codec"),
                              ("rescore", "rescoring codec")):
                if not _same_config(info[key], first[key]):
                    raise ConfigError(f"paths: shard {i} ({self.paths[i]}) has {what} {info[key]!r}, shard 0 "
                                      f"({self.paths[0]}) has {first[key]!r}; all shards must agree")
        self._infos = infos
        self._counts = [int(info["n"]) for info in infos]
        self._offsets = _offsets(self._counts)
        self._metric = metric_info(first["metric"])
        self._codec = codec_from_config(first["codec"]) if "ranges" in first["codec"] else None
        self._precision = first["codec"]["id"]
        self._dim = int(first["dim"])
        self._rescore = first["rescore"]
        # what a FlatIndex checked when it was made, checked here for Parquet files: metric and codecs usable
        info = precision_info(self._precision)
        width = info.width(self._dim)
        prepare_corpus(np.zeros((1, width), info.dtype.newbyteorder("=")), self._metric, precision=info.name,
                       codec=self._codec, name="corpus")
        if self._rescore is not None:
            rcodec = codec_from_config(self._rescore) if "ranges" in self._rescore else None
            rows = np.zeros((1, self._dim), precision_info(self._rescore["id"]).dtype.newbyteorder("="))
            prepare_rescore((rows, rcodec) if rcodec is not None else rows, 1, self._metric)

    def __len__(self) -> int:
        return sum(self._counts)

    @property
    def dim(self) -> int:
        """The embedding dimension of every shard."""
        return self._dim

    @property
    def metric(self) -> str:
        """The metric the shards rank by."""
        return self._metric.name

    @property
    def counts(self) -> list[int]:
        """Rows per shard, in order."""
        return list(self._counts)

    def __repr__(self) -> str:
        return (f"ShardedIndex({len(self.paths)} shards, {self._precision!r}, dim={self._dim}, "
                f"metric={self.metric!r}, n={len(self)})")

    def _workers(self) -> list[str]:
        workers = sorted(self.client.scheduler_info()["workers"])
        if not workers:
            raise ShardError("client: the cluster has no workers")
        return workers

    def _run(self, what: str, calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
        """Run ``calls[i]`` on shard ``i``'s worker; move it to a living worker if that one dies."""
        from distributed import wait

        futures = {}
        tries = [0] * len(calls)

        def submit(i: int) -> None:
            fn, args = calls[i]
            futures[i] = self.client.submit(fn, *args, workers=[self._assigned[i]], allow_other_workers=False,
                                            pure=False, retries=0,
                                            key=f"quantlib-shard-{what}-{i}-{os.urandom(6).hex()}")

        for i in range(len(calls)):
            submit(i)
        results: dict[int, Any] = {}
        while len(results) < len(calls):
            pending = [f for i, f in futures.items() if i not in results]
            try:
                wait(pending, timeout=0.5, return_when="FIRST_COMPLETED")
                waited = False
            except TimeoutError:
                waited = True  # nothing finished for a while: look at the workers below
            for i, f in list(futures.items()):
                if i in results or f.status == "pending":
                    continue
                if f.status == "finished":
                    results[i] = f.result()
                    continue
                exc = f.exception() if f.status == "error" else None
                if exc is not None and type(exc).__name__ != "KilledWorker":
                    raise exc
                self._move(i, tries, exc, submit)  # killed, lost or cancelled: run it again elsewhere
            if not waited:
                continue
            alive = set(self.client.scheduler_info()["workers"])
            for i, f in list(futures.items()):
                if i not in results and self._assigned[i] not in alive:
                    f.cancel()
                    self._move(i, tries, None, submit)
        return [results[i] for i in range(len(calls))]

    def _move(self, i: int, tries: list[int], exc: Any, submit: Callable[[int], None]) -> None:
        tries[i] += 1
        if tries[i] > self.retries:
            raise ShardError(f"shard {i} ({self.paths[i]}): its worker died {tries[i]} times; "
                             "no partial result is returned") from exc
        deadline = time.monotonic() + 60
        while True:
            workers = sorted(self.client.scheduler_info()["workers"])
            if workers:
                break
            if time.monotonic() > deadline:  # pragma: no cover - a cluster without workers for a minute
                raise ShardError(f"shard {i} ({self.paths[i]}): no living worker to move it to")
            time.sleep(0.2)
        load = {w: self._assigned.count(w) for w in workers}
        self._assigned[i] = min(workers, key=lambda w: (load[w], w))
        submit(i)

    def search(self, queries: Any, k: int = 10, *, oversample: int = 4,
               rescore: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`FlatIndex.search` over every shard: ``(scores, ids)``, ids as stored in the shards.

        Examples
        --------
        See ``docs/scale-out.md``.
        """
        m = self._metric
        n = len(self)
        use_rescore = bool(rescore) and self._rescore is not None
        rcodec = codec_from_config(self._rescore) if use_rescore else None
        info = precision_info(self._precision)
        width = info.width(self._dim)
        q, dummy, k, first = _client_checks(
            queries, width, info.dtype.newbyteorder("="), n, k, m, precision=info.name, codec=self._codec,
            dim=self._dim if info.packed else None, oversample=oversample,
            rescore_dtype=precision_info(rcodec.precision).dtype.newbyteorder("=") if use_rescore else None,
            rescore_codec=rcodec,
            rescore_width=self._dim if use_rescore else None)
        spec = _Spec(m.name, info.name, self._codec, None, first)
        if q.shape[0] == 0:
            return _no_queries(q, dummy, m, k, use_rescore)
        qf = q  # small (n_queries x d): travels inside each task, so no worker holds the only copy
        digests = [info_["digest"] for info_ in self._infos]
        parts = self._run("search", [(_shard_first_stage, (s, digests[i], qf, spec, self._offsets[i], i))
                                     for i, s in enumerate(self._sources)])
        merged = _tree_local(parts, first)
        _check_whole(merged, len(self.paths), n, first)
        if not use_rescore:
            return merged.scores, merged.ids
        rparts = self._run("rescore", [(_shard_rescore, (s, digests[i], qf, merged, spec, self._offsets[i], i))
                                       for i, s in enumerate(self._sources)])
        return _finish_rescore(merged, k, len(self.paths), spec.metric, *rparts)


def _paths(paths: Any, what: str) -> list[str]:
    if isinstance(paths, (str, os.PathLike)) or not len(paths):
        raise ShapeError(f"paths: expected a non-empty sequence of {what}, got {paths!r}")
    return [os.fspath(p) for p in paths]


def _same_config(a: Any, b: Any) -> bool:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return bool(a == b)
    strip = ("checksum",)
    return {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}


def _tree_local(parts: list[_Part], first: int, split_every: int = 8) -> _Part:
    while len(parts) > 1:
        parts = [_merge(*parts[i:i + split_every], first=first) for i in range(0, len(parts), split_every)]
    return parts[0]

