""":class:`ShardedIndex`, the client side: opening the shards on their workers, checking they agree,
sending searches to them (moving a shard when its worker dies) and merging the results.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._corpus import prepare_corpus
from ..codecs import codec_from_config
from ..errors import ConfigError, DTypeError, ShapeError
from ..metrics import Metric, metric_info
from ..precision import precision_info
from ..search import prepare_rescore
from ._blocks import ShardError, _offsets
from ._search import _check_whole, _client_checks, _finish_rescore, _no_queries, _Spec, _tree_local
from ._shards import _shard_first_stage, _shard_info, _shard_rescore, _Source


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
        client, retries
            As for :class:`ShardedIndex`.
        column : str
            The vector column (it must carry quantlib's field metadata).
        id_column : str, optional
            An integer column of ids to return instead of row numbers.
        rescore_column : str, optional
            The rows that rescore the candidates (``search(rescore=True)``).
        metric : str
            A Parquet file records no metric: the one to rank by.

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
