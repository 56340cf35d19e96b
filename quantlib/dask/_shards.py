"""The worker side of :class:`~quantlib.dask.ShardedIndex`: a shard (FlatIndex directory or Parquet
file) opened once per worker process, checked against its digest, and searched where it lies.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..codecs import Codec
from ..errors import ConfigError, DTypeError, ShapeError
from ..index import HEADER, FlatIndex
from ..precision import precision_info
from ._blocks import ShardError
from ._search import _first_stage, _Part, _rescore_block, _Spec

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
