"""A flat (exhaustive) index: stored codes with int64 ids, search, save and memory-mapped load.

:class:`FlatIndex` is the small object a vector store embeds: it keeps the
codes of one format (made by one codec), optional rescoring rows (float32,
float16 or calibrated int8/uint8 codes), and an int64 id per row; it searches
with :func:`quantlib.search` and saves to a directory that loads back with
memory mapping, so a corpus larger than RAM can be searched.

On-disk layout (version 3), no pickle and no ``.npz``::

    path/
      quantlib-index.json   header: format, version, metric, dim, count, the codecs'
                            configs, for each array its file, dtype, shape, SHA-256,
                            and the header's own checksum ("sha256:...", over its
                            canonical JSON without the checksum key)
      codes-<save>.npy      (count, width) codes, NumPy .npy format
      ids-<save>.npy        (count,) int64 ids
      rescore-<save>.npy    (count, d) rescoring rows (only with a rescoring codec)

``<save>`` is 16 random hex digits, new for every save: a save never writes
over a file a header names.  It takes the directory's save lock, writes and
flushes its arrays under their new names, writes the header under a temporary
name of its own, flushes it, and renames it over ``quantlib-index.json``.  That
rename is the commit: before it the directory holds the old index, after it the
new one, whatever point a crash or a kill stops the save at.  The save then
deletes the files of earlier saves and whatever a crashed save left (files of
these names the header does not list); until a save does, such strays are
ignored.  A second save to a directory whose lock is held (another thread or
process) raises :class:`~quantlib.ConfigError` and writes nothing.
:meth:`FlatIndex.load` reads the header, then the files it names; if one has
gone (a save committed and cleaned up meanwhile) it reads the new header and
starts again, so it sees the old or the new index.

:meth:`FlatIndex.load` checks the version, the header's checksum, every
array's dtype, shape and (``verify=True``) checksum before use, and refuses
anything else with a :class:`~quantlib.ConfigError`.  Versions 1 and 2 are
still read: the same arrays in the fixed files ``codes.npy``, ``ids.npy`` and
``rescore.npy`` (version 1, quantlib 0.1, without the header checksum); the
next save to such a directory replaces them with the current layout.

Where things live: the index (adding, searching, and the steps of save and
load) is here; the file names, the save lock, the flushed and hashed ``.npy``
writes and the header checks are in ``quantlib._index_files``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import numpy as np

from . import _checksum
from ._corpus import Corpus, prepare_corpus
from ._filter import allowed_rows
from ._index_files import (
    _LOAD_ATTEMPTS,
    _OWNED,
    FORMAT,
    HEADER,
    VERSION,
    _fsync_directory,
    _read_header,
    _save_lock,
    _sha256,
    _Vanished,
    _write_npy,
)
from ._npyfile import load_npy
from ._validation import as_array, check_dim, describe
from .codecs import Codec, IntegerCodec, codec_from_config, get_codec
from .codecs.binary import resolve_bit_dim
from .errors import ConfigError, DTypeError, QuantlibError, ShapeError
from .metrics import Metric, MetricInfo, metric_info
from .precision import PRECISIONS, PrecisionInfo, precision_info
from .search import _rescore_metric, check_k, search_corpus

__all__ = ["FlatIndex"]

def _names(metric: MetricInfo) -> str:
    """The precisions ``metric`` scores: ``"binary, ubinary"``."""
    return ", ".join(p.name for p in PRECISIONS if p.family in metric.families)


def _codec_of(codec: Any, name: str) -> Codec:
    """A codec from a codec, its config or a precision name (``"int8"``/``"uint8"``: codes without calibration)."""
    if isinstance(codec, Codec):
        return codec
    if isinstance(codec, dict):
        return codec_from_config(codec)
    if isinstance(codec, str):
        info = precision_info(codec, name=name)
        return IntegerCodec(info.name) if info in IntegerCodec.precisions else get_codec(info.name)
    raise DTypeError(
        f"{name}: expected a Codec, its config dict or a precision name, got {describe(codec)}"
    )


class _State:
    """One consistent version of an index's rows: codes, ids and rescoring rows of the same rows.

    Replaced whole when rows are added, never changed in place; the corpora
    prepared from exactly these arrays are filled in lazily, under the index's lock.
    """

    __slots__ = ("codes", "ids", "rescore", "corpus", "rescore_corpus")

    def __init__(self, codes: np.ndarray, ids: np.ndarray, rescore: np.ndarray | None) -> None:
        self.codes = codes
        self.ids = ids
        self.rescore = rescore
        self.corpus: Corpus | None = None
        self.rescore_corpus: Corpus | None = None


class FlatIndex:
    """Stored codes with int64 ids, searched exhaustively.

    Parameters
    ----------
    codec : Codec, dict or str
        The format of the stored codes: a codec (a fitted
        :class:`~quantlib.ScalarCodec` for calibrated int8/uint8), its config,
        or a precision name (``"int8"``/``"uint8"`` then mean uncalibrated codes).
    dim : int
        The embedding dimension.
    metric : {"cosine", "dot", "hamming", "sqeuclidean"}
        What :meth:`search` ranks by (see :func:`quantlib.search`).
    rescore : Codec, dict or str, optional
        Format of rescoring rows kept beside the codes (``"float32"``,
        ``"float16"`` or a calibrated ScalarCodec); :meth:`search` then
        re-ranks ``k * oversample`` candidates with them.

    Notes
    -----
    :meth:`search` may be called from many threads at once (the kernels release
    the GIL, so they run in parallel) and gives each the result a serial call
    would.  :meth:`add` may run beside them, and beside other adds: each search
    sees the rows of the adds finished before it started (and perhaps of adds
    running meanwhile), never part of an add, and its ids are those of the rows
    it scored.  :meth:`save` writes one such consistent state.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((1000, 64)).astype(np.float32)
    >>> index = FlatIndex("ubinary", 64, metric="cosine", rescore="float32")
    >>> index.add(x, ids=np.arange(1000) + 5000)
    >>> scores, ids = index.search(x[:2], k=3)
    >>> ids[:, 0]
    array([5000, 5001])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     index.save(d + "/idx")
    ...     loaded = FlatIndex.load(d + "/idx")
    ...     bool(np.array_equal(loaded.search(x[:2], k=3)[1], ids))
    True
    """

    def __init__(self, codec: Any, dim: int, *, metric: Metric | str = "cosine", rescore: Any = None) -> None:
        self._dim = check_dim(dim)
        self._metric: MetricInfo = metric_info(metric)
        self._codec = _codec_of(codec, "codec")
        self._rescore_codec = None if rescore is None else _codec_of(rescore, "rescore")
        rc = self._rescore_codec
        if rc is not None and (rc.family == "signs" or (rc.affine() is not None and rc.affine().identity)):
            raise ConfigError(
                "rescore: rescoring rows must be float32, float16 or calibrated int8/uint8 codes (or a codec's "
                f"codes that stand for values), got {rc!r}"
            )
        for c, name in ((self._codec, "codec"), (rc, "rescore")):
            if c is not None:
                c.check_dim(self._dim, name)
        info = self._info
        if info.family not in self._metric.families:
            raise ConfigError(f"metric: {self._metric.name!r} scores {_names(self._metric)} codes, got {info.name!r}")
        self._width = self._codec.width(self._dim)
        self._codes_dtype = info.dtype.newbyteorder("=")
        # Everything below is read and replaced under the lock only: the joined rows, the
        # batches added since (joined by the next reader), and every id (for add's checks).
        self._lock = threading.Lock()
        self._state = _State(np.empty((0, self._width), self._codes_dtype), np.empty(0, np.int64),
                             None if self._rescore_codec is None
                             else np.empty((0, self._rescore_codec.width(self._dim)), self._rescore_dtype))
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._all_ids = self._state.ids

    # -- properties ---------------------------------------------------------

    @property
    def _info(self) -> PrecisionInfo:
        return self._codec.info

    @property
    def _rescore_dtype(self) -> np.dtype:
        assert self._rescore_codec is not None
        return self._rescore_codec.dtype

    @property
    def codec(self) -> Codec:
        """The codec of the stored codes (an :class:`~quantlib.IntegerCodec` for codes without calibration)."""
        return self._codec

    @property
    def dim(self) -> int:
        """The embedding dimension."""
        return self._dim

    @property
    def metric(self) -> str:
        """The metric :meth:`search` ranks by."""
        return self._metric.name

    @property
    def codes(self) -> np.ndarray:
        """The stored codes, ``(len(self), width)`` (a memory map after :meth:`load`)."""
        return self._snapshot().codes

    @property
    def ids(self) -> np.ndarray:
        """The int64 id of each stored row."""
        return self._snapshot().ids

    def __len__(self) -> int:
        with self._lock:
            return int(self._all_ids.shape[0])

    def __repr__(self) -> str:
        extra = f", rescore={self._rescore_codec.precision!r}" if self._rescore_codec else ""
        return (f"FlatIndex({self._codec.precision!r}, dim={self._dim}, metric={self.metric!r}{extra}, "
                f"n={len(self)})")

    @property
    def _corpus(self) -> Corpus | None:
        """The corpus the last search prepared from the current rows (None before one; internal)."""
        with self._lock:
            return self._state.corpus

    def _array(self, key: str) -> np.ndarray:
        """One array of the current rows: "codes", "ids" or "rescore"."""
        return getattr(self._snapshot(), key)

    def _snapshot(self, corpus: bool = False, rescore: bool = False) -> _State:
        """The current rows, consistent with each other (and, if asked, their prepared corpora).

        The first reader after an add joins the added batches into a new state, once,
        under the lock; a state is never changed afterwards except to fill in its corpora,
        which are made from exactly its arrays.
        """
        with self._lock:
            state = self._state
            if self._pending:
                codes, ids, extra = zip(*self._pending, strict=True)
                state = _State(np.concatenate([state.codes, *codes]), self._all_ids,
                               None if state.rescore is None else np.concatenate([state.rescore, *extra]))
                self._state = state
                self._pending = []
            if corpus and state.corpus is None and state.ids.shape[0]:
                state.corpus = prepare_corpus(state.codes, self._metric, precision=self._info.name,
                                              codec=self._search_codec(), dim=self._dim, name="codes")
            if rescore and state.rescore is not None and state.rescore_corpus is None and state.ids.shape[0]:
                rm = _rescore_metric(self._metric)
                state.rescore_corpus = prepare_corpus(state.rescore, rm, codec=self._rescore_search_codec(),
                                                      dim=self._dim, name="rescore")
            return state

    # -- adding -------------------------------------------------------------

    def add(self, vectors: Any, ids: Any = None, *, rescore: Any = None) -> None:
        """Add rows: float embeddings (encoded here) or codes in the index format.

        Parameters
        ----------
        vectors : array_like, shape (n, d) or (n, width)
            float embeddings, or codes of the index's codec.
        ids : array_like of int, shape (n,), optional
            New unique ids (default: continue from the largest id, or 0).
        rescore : array_like, optional
            Rescoring rows (in the rescoring format) when ``vectors`` are codes;
            computed from ``vectors`` when they are floats.
        """
        arr = as_array(vectors, "vectors")
        if arr.ndim != 2:
            raise ShapeError(f"vectors: expected a 2-D (n, d) array of rows, got shape {arr.shape}")
        floats = arr.dtype.kind == "f"
        if floats:
            if arr.shape[1] != self._dim:
                raise ShapeError(f"vectors: expected dimension {self._dim}, got {arr.shape[1]}")
            codes = self._encode(self._codec, arr)
        else:
            codes = np.ascontiguousarray(arr)
            want = self._codes_dtype
            if codes.dtype != want or codes.shape[1] != self._width:
                raise ShapeError(
                    f"vectors: codes of this index are ({self._width},) {want} rows, "
                    f"got {describe(codes)}"
                )
            if self._codec.family == "signs":
                resolve_bit_dim(codes, self._dim, "vectors")
        n = codes.shape[0]
        # validate the rows as a search corpus now, so searches never meet NaN or bad codes
        # (and, for cosine, refuse a row of subnormal norm here rather than at every search)
        corpus = prepare_corpus(codes, self._metric, codec=self._search_codec(), precision=self._info.name,
                                dim=self._dim, name="vectors")
        self._metric.check_rows(corpus)
        extra = None
        if self._rescore_codec is not None:
            if rescore is None:
                if not floats:
                    raise ConfigError(
                        "rescore: this index keeps rescoring rows; pass rescore= with the codes"
                    )
                extra = self._encode(self._rescore_codec, arr)
            else:
                extra = np.ascontiguousarray(as_array(rescore, "rescore"))
                if extra.dtype != self._rescore_dtype or extra.shape != (n, self._rescore_codec.width(self._dim)):
                    raise ShapeError(
                        f"rescore: expected ({n}, {self._dim}) {self._rescore_dtype} rows, "
                        f"got {describe(extra)}"
                    )
            rm = _rescore_metric(self._metric)  # hamming is rescored by cosine, see search()
            rm.check_rows(prepare_corpus(extra, rm, codec=self._rescore_search_codec(), dim=self._dim,
                                         name="rescore"))
        elif rescore is not None:
            raise ConfigError("rescore: this index keeps no rescoring rows; create it with rescore=")
        given = None if ids is None else self._given_ids(ids, n)  # outside the lock: may call user code
        with self._lock:  # ids are checked against, and appended to, the same rows
            new_ids = self._new_ids(given, n, self._all_ids)
            self._pending.append((codes, new_ids, extra))
            self._all_ids = np.concatenate([self._all_ids, new_ids])

    def _encode(self, codec: Any, arr: np.ndarray) -> np.ndarray:
        if isinstance(codec, IntegerCodec):
            raise DTypeError(
                f"vectors: uncalibrated {codec.precision} codes cannot be made from floats; "
                "pass the codes, or build the index with a fitted ScalarCodec"
            )
        return codec.encode(arr)

    @staticmethod
    def _given_ids(ids: Any, n: int) -> np.ndarray:
        """``ids=`` as int64, checked on its own (the lock then checks it against the index)."""
        arr = as_array(ids, "ids")
        if arr.dtype.kind not in "iu" or arr.ndim != 1:
            raise DTypeError(f"ids: expected a 1-D array of integers, got {describe(arr)}")
        if arr.shape[0] != n:
            raise ShapeError(f"ids: expected one id per row ({n}), got {arr.shape[0]}")
        if arr.dtype == np.uint64 and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise ShapeError("ids: ids must fit in int64")
        out = arr.astype(np.int64)
        if np.unique(out).size != n:
            raise ShapeError("ids: expected unique ids, got a repeated id within the batch")
        return out

    @staticmethod
    def _new_ids(given: np.ndarray | None, n: int, current: np.ndarray) -> np.ndarray:
        """The ids of ``n`` new rows: ``given`` (none may be in ``current``), or ids after the largest in it."""
        if given is None:
            start = int(current.max()) + 1 if current.size else 0
            if start + n - 1 > np.iinfo(np.int64).max:
                raise ShapeError(
                    f"ids: the default ids continue from the largest id ({start - 1}), and {n} more "
                    "would not fit in int64; pass ids= explicitly"
                )
            return np.arange(start, start + n, dtype=np.int64)
        clash = np.isin(given, current)
        if clash.any():
            raise ShapeError(f"ids: id {int(given[np.argmax(clash)])} is already in the index")
        return given

    def _search_codec(self) -> Codec:
        return self._codec

    def _rescore_search_codec(self) -> Codec | None:
        return self._rescore_codec

    # -- searching ----------------------------------------------------------

    def search(self, queries: Any, k: int = 10, *, oversample: int = 4,
               rescore: bool = True, allow: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows per query: ``(scores, ids)``, best first, ties by lower row number.

        Parameters
        ----------
        queries : array_like, shape (m, d) or (d,)
            float embeddings (or codes in the index format without rescoring).
        k : int
            ``1 <= k <= len(self)``; larger raises :class:`~quantlib.ShapeError`.
        oversample : int
            With rescoring rows, re-rank ``k * oversample`` candidates.
        rescore : bool
            Set False to skip the rescoring rows.
        allow : array_like, optional
            A filter: a boolean mask of one entry per stored row (in the
            order of :attr:`ids`), or the allowed *ids*, sorted and distinct
            (ids the index does not hold are ignored).  See
            :func:`quantlib.search`: the rows are scored in place, and a
            result with fewer allowed rows than ``k`` ends with id ``-1``.

        Returns
        -------
        scores : numpy.ndarray, shape (m, k)
        ids : numpy.ndarray of int64, shape (m, k)
            The stored ids of the rows.
        """
        k = check_k(k)
        # one state throughout: rows added meanwhile by other threads are not part of this search
        state = self._snapshot(corpus=True, rescore=rescore)
        if state.ids.shape[0] == 0:
            raise ShapeError("index: expected at least one row, got an empty index; add() rows first")
        dim = self._dim if self._info.packed else None
        rows = None if allow is None else self._allowed(allow, state.ids)
        scores, found = search_corpus(queries, state.corpus, k, self._metric, dim=dim, allow=rows,
                                      rescore=state.rescore_corpus if rescore else None, oversample=oversample)
        return scores, np.where(found >= 0, state.ids[np.maximum(found, 0)], -1)

    @staticmethod
    def _allowed(allow: Any, ids: np.ndarray) -> np.ndarray:
        """The row numbers of an ``allow=`` mask over the rows, or of sorted distinct allowed ids."""
        arr = as_array(allow, "allow")
        if arr.dtype == np.bool_:
            return allowed_rows(arr, ids.shape[0])
        if arr.ndim != 1 or (arr.dtype.kind not in "iu" and arr.size):
            raise DTypeError(f"allow: expected a boolean mask over the rows or a 1-D list of ids, got {describe(arr)}")
        wanted = arr.astype(np.int64)
        if wanted.size > 1 and not (np.diff(wanted) > 0).all():
            i = int(np.flatnonzero(np.diff(wanted) <= 0)[0])
            raise ShapeError(f"allow: ids must be sorted and distinct, got {int(wanted[i])} before "
                             f"{int(wanted[i + 1])} at position {i}")
        return np.flatnonzero(np.isin(ids, wanted)).astype(np.int64)

    # -- saving and loading ------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to the directory ``path`` (created if needed), replacing any index there.

        The replacement is atomic: whenever the save stops (an error, a crash, the
        process killed), ``path`` holds the old index or the new one, whole.  A save
        writes new files and renames its header over the old one last, so saving to
        the directory the index was memory-mapped from is safe too (the open maps keep
        reading the old files).  Files the directory holds besides the index's own are
        left alone.

        Raises
        ------
        ConfigError
            Another save to ``path`` (from another thread or process) is under way;
            this one wrote nothing.  Or ``path`` exists and is not a directory.
        """
        state = self._snapshot()
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise ConfigError(f"path: expected a directory to save the index in, got the file {root}")
        root.mkdir(parents=True, exist_ok=True)
        with _save_lock(root):
            save = secrets.token_hex(8)
            arrays = {"codes": state.codes, "ids": state.ids}
            if state.rescore is not None:
                arrays["rescore"] = state.rescore
            entries = {}
            header_path = root / HEADER
            tmp = root / f"{HEADER}.{save}.tmp"
            written = [tmp]
            try:
                for key, arr in arrays.items():
                    name = f"{key}-{save}.npy"
                    written.append(root / name)
                    entries[key] = {"file": name, "dtype": arr.dtype.str, "shape": list(arr.shape),
                                    "sha256": _write_npy(root / name, arr)}
                header = {
                    "format": FORMAT,
                    "version": VERSION,
                    "metric": self._metric.name,
                    "dim": self._dim,
                    "count": int(state.ids.shape[0]),
                    "codec": self._codec.get_config(),
                    "rescore_codec": None if self._rescore_codec is None else self._rescore_codec.get_config(),
                    "arrays": entries,
                }
                header[_checksum.KEY] = _checksum.record_checksum(header, "sha256")
                with open(tmp, "xb") as f:
                    f.write(json.dumps(header, indent=1).encode("ascii"))
                    f.flush()
                    os.fsync(f.fileno())
            except BaseException:
                for file in written:
                    with contextlib.suppress(OSError):
                        file.unlink()  # nothing names them yet
                raise
            os.replace(tmp, header_path)  # the commit
            _fsync_directory(root)
            keep = {e["file"] for e in entries.values()}
            for file in sorted(root.iterdir()):
                if file.name not in keep and _OWNED.fullmatch(file.name):
                    with contextlib.suppress(OSError):  # gone already, or (Windows) still mapped
                        file.unlink()

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True, verify: bool = True) -> FlatIndex:
        """Read an index written by :meth:`save` (format version 3, 2 or 1).

        Parameters
        ----------
        path : str or PathLike
            The directory.
        mmap : bool
            Memory-map the arrays read-only (default), so the codes need not fit in RAM.
        verify : bool
            Check each array file's SHA-256 against the header (reads the files
            once).  The header's own checksum is always checked.

        Raises
        ------
        FileNotFoundError
            ``path`` holds no index header.
        ConfigError
            A header or array that is corrupt, truncated, missing, of an
            unknown version, or does not match the header; or an index that
            other saves replaced again and again while this load read it.

        Notes
        -----
        A load that runs while another thread or process saves to ``path``
        returns the old index or the new one: when a file named by the header it
        read has gone, it reads the new header and starts again.
        """
        root = Path(path)
        header_path = root / HEADER
        for _ in range(_LOAD_ATTEMPTS):
            if not header_path.is_file():
                raise FileNotFoundError(f"path: {root} holds no {HEADER}; it is not a saved FlatIndex")
            try:
                text = header_path.read_bytes()
            except FileNotFoundError:
                continue
            header = _read_header(header_path, text)
            try:
                return cls._from_header(root, header, mmap=mmap, verify=verify)
            except _Vanished as gone:
                try:
                    if header_path.read_bytes() != text:
                        continue  # a save committed meanwhile and removed the files of the old header
                except FileNotFoundError:
                    continue
                raise ConfigError(f"path: {gone.name} is missing; the index is incomplete") from None
        raise ConfigError(f"path: the index in {root} was replaced by other saves {_LOAD_ATTEMPTS} times while "
                          "this load read it; load again when the saves have finished")

    @classmethod
    def _from_header(cls, root: Path, header: dict[str, Any], *, mmap: bool, verify: bool) -> FlatIndex:
        header_path = root / HEADER
        try:
            index = cls(header["codec"], header["dim"], metric=header["metric"],
                        rescore=header["rescore_codec"])
        except QuantlibError as exc:
            raise ConfigError(f"path: {header_path} describes an index this quantlib cannot build ({exc})") from None
        n = header["count"]
        want = {"codes": (index._codes_dtype, (n, index._width)), "ids": (np.dtype(np.int64), (n,))}
        if index._rescore_codec is not None:
            want["rescore"] = (index._rescore_dtype, (n, index._dim))
        if set(header["arrays"]) != set(want):
            raise ConfigError(f"path: {header_path} lists arrays {sorted(header['arrays'])}, "
                              f"this index needs {sorted(want)}")
        arrays = {}
        for key, entry in header["arrays"].items():
            file = root / entry["file"]
            try:
                if verify and _sha256(file) != entry["sha256"]:
                    raise ConfigError(f"path: {file.name} does not match its checksum; the index is corrupt")
                arr = load_npy(file, mmap=mmap)
            except FileNotFoundError:
                raise _Vanished(file.name) from None
            except (ValueError, OSError, EOFError) as exc:
                if isinstance(exc, QuantlibError):
                    raise
                raise ConfigError(f"path: {file.name} is not a readable .npy array ({exc}); "
                                  "the index is corrupt or truncated") from None
            if arr.dtype.str != entry["dtype"] or list(arr.shape) != entry["shape"]:
                raise ConfigError(
                    f"path: {file.name} holds {describe(arr)}, "
                    f"the header says {entry['dtype']} {entry['shape']}"
                )
            dtype, shape = want[key]
            if arr.dtype != dtype or arr.shape != shape:
                raise ConfigError(f"path: {file.name} holds {describe(arr)}; this index needs "
                                  f"{dtype} of shape {shape}")
            arrays[key] = arr
        index._state = _State(arrays["codes"], arrays["ids"], arrays.get("rescore"))
        index._all_ids = arrays["ids"]
        return index
