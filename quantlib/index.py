"""A flat (exhaustive) index: stored codes with int64 ids, search, save and memory-mapped load.

:class:`FlatIndex` is the small object a vector store embeds: it keeps the
codes of one format (made by one codec), optional rescoring rows (float32,
float16 or calibrated int8/uint8 codes), and an int64 id per row; it searches
with :func:`quantlib.search` and saves to a directory that loads back with
memory mapping, so a corpus larger than RAM can be searched.

On-disk layout (version 2), no pickle and no ``.npz``::

    path/
      quantlib-index.json   header: format, version, metric, dim, count, the codecs'
                            configs, for each array its file, dtype, shape, SHA-256,
                            and the header's own checksum ("sha256:...", over its
                            canonical JSON without the checksum key)
      codes.npy             (count, width) codes, NumPy .npy format
      ids.npy               (count,) int64 ids
      rescore.npy           (count, d) rescoring rows (only with a rescoring codec)

The header is written last, so a directory with a header is complete.
:meth:`FlatIndex.load` checks the version, the header's checksum, every
array's dtype, shape and (``verify=True``) checksum before use, and refuses
anything else with a :class:`~quantlib.ConfigError`.  Version 1 (quantlib 0.1:
the same without the header checksum) is still read.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from . import _checksum
from ._npyfile import load_npy
from ._validation import as_array, check_dim, describe
from .codecs import BitCodec, Codec, ScalarCodec, codec_from_config, get_codec
from .codecs.binary import resolve_bit_dim
from .errors import ConfigError, DTypeError, QuantlibError, ShapeError, short_repr
from .metrics import Corpus, Metric, MetricInfo, metric_info, prepare_corpus
from .precision import PrecisionInfo, precision_info
from .search import check_k, search_corpus

__all__ = ["FlatIndex"]

#: Name of the header file and the format written into it.
HEADER = "quantlib-index.json"
FORMAT = "quantlib.FlatIndex"
VERSION = 2
#: Versions :meth:`FlatIndex.load` reads (tests/golden/formats holds one index of each).
_READS = (1, 2)
_FILES = {"codes": "codes.npy", "ids": "ids.npy", "rescore": "rescore.npy"}


def _codec_of(codec: Any, name: str) -> Any:
    """A codec, or a _RawScalar for uncalibrated int8/uint8 codes."""
    if isinstance(codec, (Codec, _RawScalar)):
        return codec
    if isinstance(codec, dict):
        if codec.get("raw"):
            return _RawScalar(precision_info(codec.get("id"), name=f"{name}['id']").name)
        return codec_from_config(codec)
    if isinstance(codec, str):
        info = precision_info(codec, name=name)
        return _RawScalar(info.name) if info.is_scalar else get_codec(info.name)
    raise DTypeError(
        f"{name}: expected a Codec, its config dict or a precision name, got {describe(codec)}"
    )


class _RawScalar:
    """int8/uint8 codes without calibration: their integer values are the vectors (a provider's int8)."""

    def __init__(self, precision: str) -> None:
        self.precision = precision

    def get_config(self) -> dict[str, Any]:
        return {"id": self.precision, "raw": True}


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
    metric : {"cosine", "dot", "hamming"}
        What :meth:`search` ranks by (see :func:`quantlib.search`).
    rescore : Codec, dict or str, optional
        Format of rescoring rows kept beside the codes (``"float32"``,
        ``"float16"`` or a calibrated ScalarCodec); :meth:`search` then
        re-ranks ``k * oversample`` candidates with them.

    Notes
    -----
    :meth:`search` may be called from many threads at once (the kernels release
    the GIL, so they run in parallel) and gives each the result a serial call
    would; :meth:`add` must not run while another thread searches.

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
        if isinstance(self._rescore_codec, (BitCodec, _RawScalar)):
            raise ConfigError(
                "rescore: rescoring rows must be float32, float16 or calibrated int8/uint8 codes"
            )
        for c, name in ((self._codec, "codec"), (self._rescore_codec, "rescore")):
            if isinstance(c, ScalarCodec) and c.dim != self._dim:
                raise ShapeError(f"{name}: the codec's ranges are for dimension {c.dim}, got dim={self._dim}")
        info = self._info
        if info.name not in self._metric.formats:
            raise ConfigError(
                f"metric: {self._metric.name!r} scores {', '.join(self._metric.formats)} codes, "
                f"got {info.name!r}"
            )
        self._width = (self._dim + 7) // 8 if info.packed else self._dim
        self._parts: dict[str, list[np.ndarray]] = {"codes": [], "ids": [], "rescore": []}
        self._arrays: dict[str, np.ndarray] = {
            "codes": np.empty((0, self._width), info.dtype.newbyteorder("=")),
            "ids": np.empty(0, np.int64),
        }
        if self._rescore_codec is not None:
            self._arrays["rescore"] = np.empty((0, self._dim), self._rescore_dtype)
        self._corpus: Corpus | None = None
        self._rescore_corpus: Corpus | None = None
        self._lock = threading.RLock()

    # -- properties ---------------------------------------------------------

    @property
    def _info(self) -> PrecisionInfo:
        return precision_info(self._codec.precision)

    @property
    def _rescore_dtype(self) -> np.dtype:
        assert self._rescore_codec is not None
        return precision_info(self._rescore_codec.precision).dtype.newbyteorder("=")

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
        return self._array("codes")

    @property
    def ids(self) -> np.ndarray:
        """The int64 id of each stored row."""
        return self._array("ids")

    def __len__(self) -> int:
        return int(self._array("ids").shape[0])

    def __repr__(self) -> str:
        extra = f", rescore={self._rescore_codec.precision!r}" if self._rescore_codec else ""
        return (f"FlatIndex({self._codec.precision!r}, dim={self._dim}, metric={self.metric!r}{extra}, "
                f"n={len(self)})")

    def _array(self, key: str) -> np.ndarray:
        # Searches may run in many threads at once (add() may not run beside them): the
        # lock makes the first one after an add() join the pending parts exactly once.
        with self._lock:
            if self._parts[key]:
                self._arrays[key] = np.concatenate([self._arrays[key], *self._parts[key]])
                self._parts[key] = []
            return self._arrays[key]

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
            want = self._arrays["codes"].dtype
            if codes.dtype != want or codes.shape[1] != self._width:
                raise ShapeError(
                    f"vectors: codes of this index are ({self._width},) {want} rows, "
                    f"got {describe(codes)}"
                )
            if self._info.packed:
                resolve_bit_dim(codes, self._dim, "vectors")
        n = codes.shape[0]
        # validate the rows as a search corpus now, so searches never meet NaN or bad codes
        # (and, for cosine, refuse a row of subnormal norm here rather than at every search)
        corpus = prepare_corpus(codes, self._metric, codec=self._search_codec(), precision=self._info.name,
                                name="vectors")
        if self._metric.name == "cosine":
            corpus.check_cosine_norms()
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
                if extra.dtype != self._rescore_dtype or extra.shape != (n, self._dim):
                    raise ShapeError(
                        f"rescore: expected ({n}, {self._dim}) {self._rescore_dtype} rows, "
                        f"got {describe(extra)}"
                    )
            extra_corpus = prepare_corpus(extra, "cosine", codec=self._rescore_search_codec(), name="rescore")
            if self._metric.name != "dot":  # rescored by cosine (after hamming too), see search()
                extra_corpus.check_cosine_norms()
        elif rescore is not None:
            raise ConfigError("rescore: this index keeps no rescoring rows; create it with rescore=")
        new_ids = self._new_ids(ids, n)
        self._parts["codes"].append(codes)
        self._parts["ids"].append(new_ids)
        if extra is not None:
            self._parts["rescore"].append(extra)
        self._corpus = None
        self._rescore_corpus = None

    def _encode(self, codec: Any, arr: np.ndarray) -> np.ndarray:
        if isinstance(codec, _RawScalar):
            raise DTypeError(
                f"vectors: uncalibrated {codec.precision} codes cannot be made from floats; "
                "pass the codes, or build the index with a fitted ScalarCodec"
            )
        return codec.encode(arr)

    def _new_ids(self, ids: Any, n: int) -> np.ndarray:
        current = self.ids
        if ids is None:
            start = int(current.max()) + 1 if current.size else 0
            if start + n - 1 > np.iinfo(np.int64).max:
                raise ShapeError(
                    f"ids: the default ids continue from the largest id ({start - 1}), and {n} more "
                    "would not fit in int64; pass ids= explicitly"
                )
            return np.arange(start, start + n, dtype=np.int64)
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
        clash = np.isin(out, current)
        if clash.any():
            raise ShapeError(f"ids: id {int(out[np.argmax(clash)])} is already in the index")
        return out

    def _search_codec(self) -> Codec | None:
        return self._codec if isinstance(self._codec, ScalarCodec) else None

    def _rescore_search_codec(self) -> Codec | None:
        return self._rescore_codec if isinstance(self._rescore_codec, ScalarCodec) else None

    # -- searching ----------------------------------------------------------

    def search(self, queries: Any, k: int = 10, *, oversample: int = 4,
               rescore: bool = True) -> tuple[np.ndarray, np.ndarray]:
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

        Returns
        -------
        scores : numpy.ndarray, shape (m, k)
        ids : numpy.ndarray of int64, shape (m, k)
            The stored ids of the rows.
        """
        k = check_k(k)
        if len(self) == 0:
            raise ShapeError("index: expected at least one row, got an empty index; add() rows first")
        # local references: another thread's search may be filling the same lazy fields
        corpus = self._corpus
        if corpus is None:
            corpus = self._corpus = prepare_corpus(self.codes, self._metric, precision=self._info.name,
                                                   codec=self._search_codec(), name="codes")
        extra = None
        if rescore and self._rescore_codec is not None:
            extra = self._rescore_corpus
            if extra is None:
                rm = metric_info("cosine") if self._metric.name == "hamming" else self._metric
                extra = self._rescore_corpus = prepare_corpus(self._array("rescore"), rm,
                                                              codec=self._rescore_search_codec(), name="rescore")
        dim = self._dim if self._info.packed else None
        scores, rows = search_corpus(queries, corpus, k, self._metric, dim=dim, rescore=extra,
                                     oversample=oversample)
        return scores, self.ids[rows]

    # -- saving and loading ------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to the directory ``path`` (created; existing index files are replaced).

        Saving to the directory the index was loaded from is safe: the arrays are
        written to new files first, which then take the old names, so an index
        memory-mapped from those files never reads its own truncated files.
        """
        root = Path(path)
        root.mkdir(parents=True, exist_ok=True)
        header_path = root / HEADER
        arrays = {"codes": self.codes, "ids": self.ids}
        if self._rescore_codec is not None:
            arrays["rescore"] = self._array("rescore")
        entries = {}
        written = {}
        for key, arr in arrays.items():
            tmp = root / (_FILES[key] + ".tmp")
            with open(tmp, "wb") as f:
                np.save(f, np.ascontiguousarray(arr), allow_pickle=False)
            written[key] = tmp
            entries[key] = {"file": _FILES[key], "dtype": arr.dtype.str, "shape": list(arr.shape),
                            "sha256": _sha256(tmp)}
        if header_path.exists():
            header_path.unlink()  # an interrupted save then leaves no header: never half an index
        for key, tmp in written.items():
            tmp.replace(root / _FILES[key])  # a memory map of the old file keeps the old data
        header = {
            "format": FORMAT,
            "version": VERSION,
            "metric": self._metric.name,
            "dim": self._dim,
            "count": len(self),
            "codec": self._codec.get_config(),
            "rescore_codec": None if self._rescore_codec is None else self._rescore_codec.get_config(),
            "arrays": entries,
        }
        header[_checksum.KEY] = _checksum.record_checksum(header, "sha256")
        tmp = root / (HEADER + ".tmp")
        tmp.write_text(json.dumps(header, indent=1))
        tmp.replace(header_path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, mmap: bool = True, verify: bool = True) -> FlatIndex:
        """Read an index written by :meth:`save` (format version 2, or 1).

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
            unknown version, or does not match the header.
        """
        root = Path(path)
        header_path = root / HEADER
        if not header_path.is_file():
            raise FileNotFoundError(f"path: {root} holds no {HEADER}; it is not a saved FlatIndex")
        header = _read_header(header_path)
        try:
            index = cls(header["codec"], header["dim"], metric=header["metric"],
                        rescore=header["rescore_codec"])
        except QuantlibError as exc:
            raise ConfigError(f"path: {header_path} describes an index this quantlib cannot build ({exc})") from None
        n = header["count"]
        want = {"codes": (index._arrays["codes"].dtype, (n, index._width)), "ids": (np.dtype(np.int64), (n,))}
        if index._rescore_codec is not None:
            want["rescore"] = (index._rescore_dtype, (n, index._dim))
        if set(header["arrays"]) != set(want):
            raise ConfigError(f"path: {header_path} lists arrays {sorted(header['arrays'])}, "
                              f"this index needs {sorted(want)}")
        for key, entry in header["arrays"].items():
            file = root / _FILES[key]
            if not file.is_file():
                raise ConfigError(f"path: {file.name} is missing; the index is incomplete")
            if verify and _sha256(file) != entry["sha256"]:
                raise ConfigError(f"path: {file.name} does not match its checksum; the index is corrupt")
            try:
                arr = load_npy(file, mmap=mmap)
            except (ValueError, OSError, EOFError) as exc:
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
            index._arrays[key] = arr
        return index


def _read_header(header_path: Path) -> dict[str, Any]:
    """The header, checked for everything :meth:`FlatIndex.load` reads from it."""
    try:
        header = json.loads(header_path.read_bytes().decode("utf-8"))
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer too long to parse
        raise ConfigError(f"path: {header_path} is not valid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"path: {header_path} nests too deeply to be an index header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigError(f"path: {header_path} is not a {FORMAT} header")
    version = header.get("version")
    if isinstance(version, bool) or version not in _READS:
        raise ConfigError(
            f"path: index format version {short_repr(version)} is not one this quantlib reads "
            f"({', '.join(map(str, _READS))})"
        )
    if version >= 2:
        problem = _checksum.record_mismatch(header)
        if problem:
            raise ConfigError(f"path: {header_path.name}: {problem}; the index is corrupt")

    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(f"path: {header_path}: expected {key!r} to be {expected}, "
                           f"got {short_repr(header.get(key, '(missing)'))}")

    count = header.get("count")
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise bad("count", "a row count (an integer >= 0)")
    for key in ("codec", "dim", "metric"):
        if key not in header:
            raise bad(key, "present")
    header.setdefault("rescore_codec", None)
    arrays = header.get("arrays")
    if not isinstance(arrays, dict):
        raise bad("arrays", "a dict of array entries")
    for key, entry in arrays.items():
        if key not in _FILES:
            raise ConfigError(f"path: unknown array {short_repr(key)} in {header_path}")
        if (not isinstance(entry, dict) or entry.get("file") != _FILES[key]
                or not isinstance(entry.get("dtype"), str) or not isinstance(entry.get("shape"), list)
                or not isinstance(entry.get("sha256"), str)):
            raise ConfigError(f"path: {header_path}: array {key!r} needs file {_FILES[key]!r}, a dtype, "
                              f"a shape and a sha256, got {short_repr(entry, 120)}")
    return header


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()
