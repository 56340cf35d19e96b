"""Pairwise scores (similarities and bit counts) for every stored format.

One frozen :class:`MetricInfo` record per metric; every table (names,
accepted formats, the kernel used for each pair of query and corpus kinds,
the numpy twin the tests compare with) is derived from :data:`METRICS`.

Scores, never distances
-----------------------
:func:`pairwise` returns the scores :func:`quantlib.search` ranks by:
similarities for ``dot`` and ``cosine`` (higher is better) and the integer
number of differing bits for ``hamming`` (lower is better).  scipy's ``cdist``
returns distances, so a scipy user converts explicitly:

==============  ===========================================  ==========================
quantlib        scipy.spatial.distance.cdist                 relation
==============  ===========================================  ==========================
``cosine``      ``"cosine"``                                 ``cdist = 1 - cosine``
``dot``         none (``"sqeuclidean"`` on unit vectors)     ``|a-b|**2 = 2 - 2 * dot``
``hamming``     ``"hamming"`` on unpacked bits               ``cdist = hamming / d``
==============  ===========================================  ==========================

What the arrays are read as
---------------------------
- float16/float32/float64 arrays are float vectors (computed in float32).
- Packed bits (``binary`` int8 or ``ubinary`` uint8) are vectors of +1/-1
  for ``dot`` and ``cosine`` (a set bit is +1), so for two bit rows of true
  dimension ``d``: ``dot = d - 2 * hamming`` and ``cosine = dot / d``;
  padding bits are ignored.  A float query against bits is scored as that
  float vector against +1/-1 (an *asymmetric* score, better for ranking than
  Hamming; see the search guide).
- ``int8``/``uint8`` codes: with the :class:`~quantlib.ScalarCodec` that made
  them (``codec=``), a float query is scored against the *dequantized* vectors
  the codes stand for; without a codec the codes' own integer values are the
  vector (right for codes that carry no calibration, such as a provider's
  int8).  Two code arrays without a codec give the exact integer dot of codes.
- An int8 or uint8 array is either codes or packed bits: ``hamming`` always
  reads bits; ``dot`` and ``cosine`` need ``precision=`` (or ``codec=``) to say
  which, and raise :class:`~quantlib.DTypeError` without it.

Score dtypes: ``int64`` where the score is an integer by definition (Hamming
counts; ``dot`` of two code arrays or two bit arrays), ``float32`` otherwise.
A zero vector has cosine 0 with everything (scipy returns NaN).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from ._kernels import bits as KB
from ._kernels import dense as KD
from ._kernels import intdot as KI
from ._kernels import lut as KL
from ._kernels import topk as KT
from ._validation import as_array, check_dim, check_finite, describe, refuse_overlap
from .codecs import BitCodec, Codec, ScalarCodec, codec_from_config
from .codecs.binary import resolve_bit_dim
from .errors import ConfigError, DTypeError, OutOfRangeError, ShapeError
from .precision import PrecisionInfo, precision_info

__all__ = [
    "METRICS",
    "Metric",
    "MetricInfo",
    "cosine",
    "dot",
    "hamming",
    "metric_info",
    "pairwise",
]

Metric = Literal["dot", "cosine", "hamming"]

#: Families of stored formats the kernels distinguish.
_FAMILY = {"float32": "float", "float16": "float", "int8": "scalar", "uint8": "scalar",
           "binary": "bits", "ubinary": "bits"}


@dataclass(frozen=True)
class MetricInfo:
    """One metric: its orientation, the formats it scores and how.

    Attributes
    ----------
    name : str
        ``"dot"``, ``"cosine"`` or ``"hamming"``.
    aliases : tuple of str
        Other accepted names.
    higher_is_better : bool
        True for similarities; search returns the highest first.  False for
        Hamming counts; search returns the lowest first.
    formats : tuple of str
        Precisions of stored rows this metric scores.
    kernels : tuple of (str, str, str)
        ``(corpus family, query kind, kernel)``: for a corpus of family
        ``float``/``scalar``/``bits`` and queries that are ``float`` or
        ``codes``, the kernel family that scores them (``dense``, ``hamming``,
        ``signs``; see :mod:`quantlib._kernels`).
    reference : str
        Name of the numpy twin in :mod:`quantlib._reference`.
    scipy : str
        How the score relates to ``scipy.spatial.distance.cdist``.
    """

    name: str
    aliases: tuple[str, ...]
    higher_is_better: bool
    formats: tuple[str, ...]
    kernels: tuple[tuple[str, str, str], ...]
    reference: str
    scipy: str

    def kernel_for(self, family: str, query_kind: str) -> str | None:
        """The kernel family for a corpus ``family`` and ``query_kind``, or None if unsupported."""
        for fam, kind, kernel in self.kernels:
            if fam == family and kind == query_kind:
                return kernel
        return None


_ALL_FORMATS = ("float32", "float16", "int8", "uint8", "binary", "ubinary")
_SIMILARITY_KERNELS = (
    ("float", "float", "dense"),
    ("scalar", "float", "dense"),
    ("scalar", "codes", "dense"),
    ("bits", "float", "signs"),
    ("bits", "codes", "hamming"),
)

METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("dot", ("inner_product", "ip"), True, _ALL_FORMATS, _SIMILARITY_KERNELS,
               "pairwise_scores", "no cdist twin; on unit vectors sqeuclidean = 2 - 2 * dot"),
    MetricInfo("cosine", ("cos",), True, _ALL_FORMATS, _SIMILARITY_KERNELS,
               "pairwise_scores", "cdist(metric='cosine') = 1 - cosine"),
    MetricInfo("hamming", (), False, ("binary", "ubinary"),
               (("bits", "codes", "hamming"), ("bits", "float", "hamming")),
               "pairwise_scores", "cdist(metric='hamming') on unpacked bits = hamming / d"),
)

assert tuple(m.name for m in METRICS) == get_args(Metric)

_BY_NAME = {alias: m for m in METRICS for alias in (m.name, *m.aliases)}


def metric_info(metric: str | MetricInfo) -> MetricInfo:
    """The :class:`MetricInfo` of a metric name or alias.

    Examples
    --------
    >>> metric_info("ip").name, metric_info("hamming").higher_is_better
    ('dot', False)
    """
    if isinstance(metric, MetricInfo):
        return metric
    info = _BY_NAME.get(metric.strip().lower()) if isinstance(metric, str) else None
    if info is None:
        raise ConfigError(f"metric: expected one of {', '.join(get_args(Metric))}, got {metric!r}")
    return info


# ---------------------------------------------------------------------------
# Tuning: block sizes and the serial/parallel threshold
# ---------------------------------------------------------------------------

#: Score computations (query-row pairs times bytes per row) below which a call stays serial.
PARALLEL_MIN_WORK = 1 << 26

#: Bytes of stored rows per cache block, which stays in L1/L2 while every query
#: tile passes over it.
_BLOCK_BYTES = {"dense": 1 << 17, "hamming": 1 << 14}

#: Rows per block of the table kernels (float queries against bits): every query
#: group's tables stream past a block once, so blocks are long; the per-row sums
#: of one group take ``rows * G * 4`` bytes (1 MB at G = 16).
#: Measured here (100 queries, 200,000 x 1024 bits): 8192 rows 1.2x slower, 32768 the same.
_SIGNS_BLOCK_ROWS = 16384

#: Rows per block of the int16 table kernels: their int32 sums take ``rows * 128`` bytes, and
#: 4096 rows (512 KB) beside a pass's 512 KB of tables fill L2; measured here (100 queries,
#: 200,000 x 1024 bits): 2048 rows 1.15x slower, 16384 1.2x slower.
_SIGNS16_BLOCK_ROWS = 4096

#: Batches of at least this many float queries searched over bits take the int16 first stage
#: (:meth:`Plan._topk_signs_wide`): one group of 32 int16 lanes beats two groups of 16 floats.
WIDE_MIN_QUERIES = 17

#: The int16 stage runs when the corpus has at least this many rows per candidate it keeps:
#: the exact finish recomputes each candidate's table entries (about 12 operations a byte
#: instead of one lookup), so it must stay a small fraction of the scan.
WIDE_MIN_ROWS_PER_CANDIDATE = 32

#: ... and for k up to this: its lists of 2k + 16 candidates cost more to keep sorted than
#: the stage saves beyond k of about 200 (100 queries, 200,000 x 1024 bits: 1.4x faster at
#: k = 100, 0.9-1.2x at 200-300, 2.8x slower at 1000).
WIDE_MAX_K = 128

#: Batches of at least this many float queries against int8/uint8 codes take the int16 first
#: stage (:meth:`Plan._topk_dense_wide`): exact int32 multiply-adds of int16 weights instead of
#: float32 ones, then an exact float finish of ``2k + 16`` candidates per query.
DENSE_WIDE_MIN_QUERIES = 8

#: Most bytes of query tables (``nq * w * 1 KB``) per pass over the corpus; more
#: queries take several passes, each reading the (small) bit rows again.
_SIGNS_TABLE_BYTES = 1 << 25

#: Batches of at least this many float queries against float rows are scored by
#: BLAS (``Q @ X_block.T``) block by block, the top-k still fused per block: BLAS
#: reuses each row block for many queries better than any numba loop.
BLAS_MIN_QUERIES = 8

#: Scores per BLAS block (queries x rows: 16 MB of float32), so memory stays
#: bounded; smaller blocks made BLAS measurably slower (10,000 rows x 100 queries: 1.4x).
_BLAS_BLOCK_SCORES = 1 << 22

#: Fewest rows per parallel search chunk.
_MIN_CHUNK_ROWS = 4096


def _rows_per_block(kind: str, row_bytes: int) -> int:
    rows = int(max(16, min(1 << 16, _BLOCK_BYTES[kind] // max(1, row_bytes))))
    return rows - rows % 2  # even: dense kernels score rows in pairs from even offsets


def _parallel(work: int) -> bool:
    """Whether a scan of ``work`` (pairs x bytes per row) goes to the thread pool."""
    return work >= PARALLEL_MIN_WORK and _num_threads() > 1


# ---------------------------------------------------------------------------
# The corpus side
# ---------------------------------------------------------------------------


@dataclass
class Corpus:
    """Stored rows checked once (dtype, shape, codec) and viewed the way the kernels read them.

    Built by :func:`prepare_corpus`; :class:`quantlib.FlatIndex` keeps one so
    repeated searches skip the checks and reuse the row norms.  NaN and
    infinity in float rows are found by the kernels, which flag non-finite
    scores (:meth:`raise_nonfinite` then names the row).
    """

    info: PrecisionInfo
    codec: Codec | None
    rows: np.ndarray  # as given (validated, C-contiguous): floats, codes or packed bytes
    view: np.ndarray  # what kernels read: float32, uint16 (float16 bits), int8, uint8, uint8 bits
    dim: int | None  # known logical dimension (None for bits until a query says)
    name: str = "corpus"  # the argument name, for error messages
    parent: Corpus | None = None  # the corpus this one was taken from (error messages)
    _norms: dict[str, np.ndarray] | None = None

    @property
    def family(self) -> str:
        return _FAMILY[self.info.name]

    @property
    def n(self) -> int:
        return int(self.view.shape[0])

    @property
    def width(self) -> int:
        return int(self.view.shape[1])

    def take(self, rows: np.ndarray) -> Corpus:
        """The sub-corpus of ``rows`` (copied), with the cached norms of those rows."""
        picked = np.ascontiguousarray(self.rows[rows])
        sub = Corpus(self.info, self.codec, picked, picked.view(self.view.dtype), self.dim, self.name,
                     self.parent or self)
        if self._norms:
            sub._norms = {key: value[rows] for key, value in self._norms.items()}
        return sub

    def raise_nonfinite(self) -> None:
        """Raise the error behind a non-finite score: a NaN/inf row, or else float32 overflow."""
        whole = self.parent or self
        if whole.info.is_float:
            rows = whole.rows if whole.rows.dtype == np.float32 else whole.rows.astype(np.float32)
            check_finite(rows, self.name)
        raise OutOfRangeError(
            f"{self.name}: a score overflows float32 (beyond 3.4e+38); scale the vectors down"
        )

    def _cached(self, key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()`` once per corpus, kept under ``key`` (norms, L1 sums)."""
        # Threads may share this corpus (one FlatIndex searched from many): work on one
        # dict object throughout, so a racing first call can never read a dict that
        # lacks the key it just stored; at worst two threads compute the same array.
        cache = self._norms
        if cache is None:
            cache = self._norms = {}
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def inverse_norms(self, dequantized: bool) -> np.ndarray:
        """``1 / |x_i|`` (0 for zero rows) of the raw or dequantized rows, computed once."""

        def compute() -> np.ndarray:
            norms = np.empty(self.n, np.float64)
            if dequantized:
                # the norms of the float32 values decode() gives, a block of rows (4 MB) at a
                # time: rebuilding them in float64 (or with a fused multiply-add) leaves rounding
                # residue where decode gives exactly 0, and a cosine of that residue
                assert isinstance(self.codec, ScalarCodec)
                block = max(1, (1 << 20) // self.width)
                for s in range(0, self.n, block):
                    KD.row_norms(self.codec.decode(self.view[s:s + block]), norms[s:s + block])
            else:
                KD.row_norms(self.view, norms)
            small = np.flatnonzero((norms > 0) & (norms < _FLOAT32_TINY))
            if small.size:  # queries are rescaled instead; corpus rows are read where they lie
                i = int(small[0])
                raise OutOfRangeError(
                    f"{self.name}: row {i}{' (dequantized)' if dequantized else ''} has norm "
                    f"{norms[i]:.3g}, below float32's smallest normal number ({_FLOAT32_TINY:.3g}), "
                    "so its cosine cannot be computed in float32; scale such rows up (cosine "
                    "does not change) or drop them"
                )
            with np.errstate(divide="ignore"):
                inv = np.where(norms > 0, 1.0 / norms, 0.0)
            return inv.astype(np.float32)

        return self._cached("dequantized" if dequantized else "raw", compute)

    def check_bit_dim(self, d: int) -> None:
        """Refuse set padding bits past dimension ``d`` in packed rows (checked once per ``d``)."""

        def compute() -> np.ndarray:
            resolve_bit_dim(self.view, d, self.name)
            return np.zeros(self.n, bool)  # per row, so that take() can pass it on

        if d % 8:
            self._cached(f"bits past {d}", compute)

    def check_cosine_norms(self) -> None:
        """Raise now what a cosine search of these rows would raise for a row of subnormal norm."""
        if self.family != "bits":
            self.inverse_norms(self.family == "scalar" and isinstance(self.codec, ScalarCodec))

    def code_l1(self) -> np.ndarray:
        """``sum_j |x_ij|`` of each row of integer codes (int64, exact), computed once."""

        def compute() -> np.ndarray:
            l1 = np.empty(self.n, np.int64)
            KD.row_l1(self.view, l1)
            return l1

        return self._cached("l1", compute)


#: The smallest normal float32, 2**-126: a corpus row of smaller norm has products that
#: underflow and an inverse norm that may not fit float32, so cosine refuses it.
_FLOAT32_TINY = float(np.finfo(np.float32).tiny)


def _resolve_codec(codec: Any) -> Codec | None:
    if codec is None or isinstance(codec, Codec):
        return codec
    if isinstance(codec, dict):
        return codec_from_config(codec)
    raise DTypeError(f"codec: expected a quantlib Codec or its config dict, got {describe(codec)}")


def _corpus_precision(arr: np.ndarray, metric: MetricInfo, precision: Any, codec: Codec | None,
                      name: str) -> PrecisionInfo:
    """The precision the corpus array is read as (explicit, from the codec, or from its dtype)."""
    if precision is not None:
        info = precision_info(precision)
        if codec is not None and codec.precision != info.name:
            raise ConfigError(
                f"precision, codec: precision {info.name!r} but the codec is {codec.precision!r}"
            )
    elif codec is not None:
        info = codec.info
    elif arr.dtype.kind == "f" and arr.dtype.itemsize in (2, 4, 8):
        info = precision_info("float16" if arr.dtype.itemsize == 2 else "float32")
    elif arr.dtype in (np.int8, np.uint8):
        if metric.name == "hamming":
            info = precision_info("binary" if arr.dtype == np.int8 else "ubinary")
        else:
            kind = "int8" if arr.dtype == np.int8 else "uint8"
            bits = "binary" if arr.dtype == np.int8 else "ubinary"
            raise DTypeError(
                f"{name}: a {arr.dtype} array holds {kind} codes or packed bits; "
                f"pass precision={kind!r} (or the codec that made them) or precision={bits!r}"
            )
    else:
        raise DTypeError(
            f"{name}: expected float embeddings, int8/uint8 codes or packed bits, got dtype {arr.dtype}"
        )
    if info.name not in metric.formats:
        raise ConfigError(
            f"metric: {metric.name!r} scores {', '.join(metric.formats)} rows, got precision {info.name!r}"
            + ("; use metric='dot' or 'cosine' for codes" if metric.name == "hamming" else "")
        )
    return info


def _as_rows(x: Any, name: str) -> np.ndarray:
    arr = as_array(x, name)
    if arr.ndim != 2:
        raise ShapeError(
            f"{name}: expected a 2-D (n, d) array of rows, got shape {arr.shape}"
            + ("; use x[None, :] for one vector" if arr.ndim == 1 else "")
        )
    return arr


def prepare_corpus(corpus: Any, metric: str | MetricInfo = "cosine", *, precision: Any = None,
                   codec: Any = None, name: str = "corpus") -> Corpus:
    """Validate stored rows once and view them as the kernels read them (internal)."""
    m = metric_info(metric)
    codec = _resolve_codec(codec)
    arr = _as_rows(corpus, name)
    info = _corpus_precision(arr, m, precision, codec, name)
    return _make_corpus(arr, info, codec, name)


def _make_corpus(arr: np.ndarray, info: PrecisionInfo, codec: Codec | None, name: str) -> Corpus:
    if info.is_float:
        if arr.dtype.kind != "f":
            raise DTypeError(f"{name}: {info.name} rows must be floating point, got dtype {arr.dtype}")
        if arr.shape[1] == 0:
            raise ShapeError(f"{name}: expected at least one dimension, got shape {arr.shape}")
        if arr.dtype.itemsize == 2:  # float16 of either byte order
            rows = np.ascontiguousarray(arr, np.float16)
            view = rows.view(np.uint16)
            info = precision_info("float16")
        else:
            rows = _to_float32(arr, name, check=False)
            view = rows
            info = precision_info("float32")
        # NaN/inf rows are caught by the kernels, which flag non-finite scores: one pass, not two
        return Corpus(info, codec, rows, view, rows.shape[1], name)
    want = info.dtype.newbyteorder("=")
    if arr.dtype != want:
        raise DTypeError(f"{name}: {info.name} rows must have dtype {want}, got dtype {arr.dtype}")
    rows = np.ascontiguousarray(arr)
    if info.packed:
        if rows.shape[1] == 0:
            raise ShapeError(f"{name}: expected at least one byte per row, got shape {rows.shape}")
        return Corpus(info, codec, rows, rows.view(np.uint8), None, name)
    if isinstance(codec, ScalarCodec):
        codec._check_dim(rows.shape[1], name)
    elif codec is not None:
        raise ConfigError(f"codec: {info.name} codes need a ScalarCodec, got {codec!r}")
    if rows.shape[1] == 0:
        raise ShapeError(f"{name}: expected at least one dimension, got shape {rows.shape}")
    return Corpus(info, codec, rows, rows, rows.shape[1], name)


# ---------------------------------------------------------------------------
# The query side: a plan that scores prepared queries against a corpus
# ---------------------------------------------------------------------------


@dataclass
class Plan:
    """Queries prepared against a :class:`Corpus` for one metric (internal).

    ``kind`` is the kernel family; the arrays are that kernel's arguments.
    """

    kind: str
    metric: MetricInfo
    corpus: Corpus
    nq: int
    score_dtype: np.dtype
    W: np.ndarray | None = None  # dense: (4t, d) prepared queries
    A: np.ndarray | None = None  # dense/signs: per-query scale
    B: np.ndarray | None = None  # dense/signs: per-query offset
    RS: np.ndarray | None = None  # dense: per-row scale
    Q: np.ndarray | None = None  # hamming: (4t, words) uint64 query words
    T: np.ndarray | None = None  # signs: (groups, w, 256, G) byte tables of the queries, built on first use
    Qf: np.ndarray | None = None  # signs: the float32 queries
    flip: bool = False  # signs: the rows are offset binary (``binary``)
    dim: int = 0  # hamming/signs: the true dimension (hamming: dot = d - 2h)

    def tables(self) -> np.ndarray:
        """The float32 byte tables of a ``signs`` plan (search may not need them: built on first use)."""
        if self.T is None:
            nq = self.Qf.shape[0]
            # queries per table group: one alone, up to 8 in one vector of 8 floats, else two vectors
            group = 1 if nq <= 1 else 8 if nq <= 8 else 16
            self.T = _empty_aligned((-(-nq // group), self.corpus.width, 256, group), np.float32)
            KL.build_tables(self.Qf, self.flip, self.T)
        return self.T

    def _work(self) -> int:
        return self.nq * self.corpus.n * max(1, self.corpus.width)

    def _rb(self) -> int:
        if self.kind == "signs":
            return _SIGNS_BLOCK_ROWS
        return _rows_per_block(self.kind, self.corpus.width * self.corpus.view.dtype.itemsize)

    def scores(self, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (nq, n) with the scores; returns it."""
        c = self.corpus
        rb = self._rb()
        par = _parallel(self._work())
        if self.kind == "dense":
            if par:
                bad = KD.scores_parallel(self.W, c.view, self.A, self.B, self.RS, rb, out)
            else:
                bad = KD.scores_range(self.W, c.view, self.A, self.B, self.RS, 0, c.n, rb, out)
            if bad:
                c.raise_nonfinite()
        elif self.kind == "signs":
            if par:
                KB.signs_scores_parallel(c.view, self.tables(), self.A, self.B, rb, out)
            else:
                KB.signs_scores_range(c.view, self.tables(), self.A, self.B, 0, c.n, rb, out)
        else:
            counts = out if self.metric.name == "hamming" else np.empty(out.shape, np.int64)
            if par:
                KB.hamming_scores_parallel(c.view, self.Q, rb, counts)
            else:
                KB.hamming_scores_range(c.view, self.Q, 0, c.n, rb, counts)
            if counts is not out:
                out[...] = self._from_counts(counts)
        return out

    def _topk_blas(self, keys: np.ndarray, ids: np.ndarray) -> bool:
        c = self.corpus
        W = self.W[: self.nq]
        step = int(min(1 << 16, max(1024, _BLAS_BLOCK_SCORES // self.nq)))
        if c.rows.dtype != np.float32:  # float16 blocks are widened: keep that copy near 32 MB
            step = min(step, max(256, (1 << 25) // (4 * c.width)))
        bad = False
        for s in range(0, c.n, step):
            block = c.rows[s:s + step]
            if block.dtype != np.float32:
                block = block.astype(np.float32)
            bad |= bool(KD.topk_block(W @ block.T, self.A, self.B, self.RS, s, keys, ids))
        KT.finish(keys, ids)  # the lists were heaps between blocks
        return bad

    def _from_counts(self, counts: np.ndarray) -> np.ndarray:
        if self.metric.name == "hamming":
            return counts
        dot = self.dim - 2 * counts
        if self.metric.name == "dot":
            return dot
        return (dot / np.float64(self.dim)).astype(np.float32)

    def topk(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` rows per query: ``(scores, indices)``, best first, ties by lower index."""
        c = self.corpus
        rb = self._rb()
        nchunks = min(4 * _num_threads(), max(1, c.n // _MIN_CHUNK_ROWS))
        par = nchunks > 1 and _parallel(self._work())
        ids = np.full((self.nq, k), -1, np.int64)
        if self.kind == "hamming":
            keys = np.full((self.nq, k), np.iinfo(np.int64).max, np.int64)
            if par:
                KB.hamming_search_parallel(c.view, self.Q, rb, nchunks, keys, ids)
            else:
                KB.hamming_search_range(c.view, self.Q, 0, c.n, rb, keys, ids)
            return np.asarray(self._from_counts(keys)), ids
        acc = self.A.dtype
        keys = np.full((self.nq, k), np.inf, acc)
        if self.kind == "dense":
            if c.family == "float" and self.nq >= BLAS_MIN_QUERIES:
                if self._topk_blas(keys, ids):
                    c.raise_nonfinite()
            elif self._dense_wide_applies(k):
                self._topk_dense_wide(keys, ids, par, nchunks)
            else:
                self._topk_dense(keys, ids, par, nchunks)
        elif (self.nq >= WIDE_MIN_QUERIES and k <= WIDE_MAX_K
              and _wide_candidates(k) * WIDE_MIN_ROWS_PER_CANDIDATE <= c.n):
            self._topk_signs_wide(keys, ids, par, nchunks)
        else:
            self._topk_signs(keys, ids, par, nchunks)
        return (-keys).astype(self.score_dtype), ids

    def _dense_wide_applies(self, k: int) -> bool:
        c = self.corpus
        return (c.family == "scalar" and self.W.dtype == np.float32 and self.nq >= DENSE_WIDE_MIN_QUERIES
                and k <= WIDE_MAX_K and _wide_candidates(k) * WIDE_MIN_ROWS_PER_CANDIDATE <= c.n
                and c.width <= KI.MAX_ITEMS[c.info.name] and c.width > 0)

    def _topk_dense(self, keys: np.ndarray, ids: np.ndarray, par: bool, nchunks: int) -> None:
        """The float kernels' search (:func:`~quantlib._kernels.dense.search_range`) into ``keys``/``ids``."""
        c = self.corpus
        rb = self._rb()
        if par:
            bad = KD.search_parallel(self.W, c.view, self.A, self.B, self.RS, rb, nchunks, keys, ids)
        else:
            bad = KD.search_range(self.W, c.view, self.A, self.B, self.RS, 0, c.n, rb, keys, ids)
        if bad:
            c.raise_nonfinite()

    def _topk_dense_wide(self, keys: np.ndarray, ids: np.ndarray, par: bool, nchunks: int) -> int:
        """Float queries against int8/uint8 codes in two stages, with the exact result of the float kernels.

        1. Each query's float32 weights ``W`` become int16 ``V`` and a power-of-two scale ``s``
           with ``|W_j - s * V_j| <= s / 2`` and every int32 sum of ``V`` times codes exact; the
           integer tiles (:func:`~quantlib._kernels.intdot.dot_tile_4x2`, ``vpmaddwd``) keep the
           ``2k + 16`` best rows by ``(s * V.x * A + B) * RS``.
        2. The union of a query tile's candidates is searched by the float kernels themselves,
           so every score is the float path's own.  A row left out has a float sum at most
           ``s * V.x`` plus ``L1(x) * (s / 2 + float32 rounding)``, so its score is at most the
           last candidate's plus ``A * max_i(RS_i * L1_i) * that`` plus the rounding of the
           affine map; when a row at that bound would rank strictly after the k-th key, the
           answer is exact (certified).  The tiles of queries not certified (ties at the
           boundary, duplicate rows) are searched again by the float kernels alone.

        Batches whose scores could come near float32's range skip the stage, so the float
        kernels raise as they do without it.  Returns the number of queries the first stage
        certified.
        """
        c = self.corpus
        nq, k = keys.shape
        kk = _wide_candidates(k)
        W = self.W.astype(np.float64)  # (4t, d), padded with zero rows
        d = W.shape[1]
        xmax = 128.0 if c.info.name == "int8" else 255.0
        absw = np.abs(W)
        wmax = absw.max(axis=1)
        reach = float(np.max(self.RS.astype(np.float64) * c.code_l1()))
        big = absw.sum(axis=1) * xmax * max(1.0, float(self.RS.max(initial=0.0))) * np.abs(self.A)
        if (big + np.abs(self.B) >= 2.0**100).any():  # float32 could overflow: the float kernels raise
            self._topk_dense(keys, ids, par, nchunks)
            return 0
        need = np.maximum(wmax / 32767.0, xmax * absw.sum(axis=1) / (2.0**31 - 1 - xmax * d))
        scale = np.exp2(np.ceil(np.log2(np.where(need > 0, need, 1.0))))
        V = np.rint(W / scale[:, None]).astype(np.int16)
        A = self.A.astype(np.float64)
        B = self.B.astype(np.float64)
        RS = self.RS.astype(np.float64)
        ikeys = np.full((nq, kk), np.inf, np.float64)
        cand = np.full((nq, kk), -1, np.int64)
        rb = self._rb()
        if par:
            KD.search_parallel(V, c.view, A * scale, B, RS, rb, nchunks, ikeys, cand)
        else:
            KD.search_range(V, c.view, A * scale, B, RS, 0, c.n, rb, ikeys, cand)
        for q0 in range(0, nq, 4):
            q1 = min(nq, q0 + 4)
            rows = np.unique(cand[q0:q1])
            rows = rows[rows >= 0]
            sub_ids = ids[q0:q1]
            KD.search_range(self.W[q0:q0 + 4], np.ascontiguousarray(c.view[rows]), self.A[q0:q0 + 4],
                            self.B[q0:q0 + 4], np.ascontiguousarray(self.RS[rows]), 0, len(rows), rb,
                            keys[q0:q1], sub_ids)
            sub_ids[...] = np.where(sub_ids >= 0, rows[np.maximum(sub_ids, 0)], -1)
        # the bound of every row left out (see above), rounded generously: float32 sums of d
        # products err by at most d units of 2^-24 of sum |W_j x_j| <= max|W| L1; the affine map
        # and the float64 first stage add a few units of the values involved.
        a, b = A[:nq], B[:nq]
        per_l1 = scale[:nq] / 2 + (d + 4) * 2.0**-23 * wmax[:nq]
        upper = -ikeys[:, -1] + a * reach * per_l1
        bound = upper + 2.0**-20 * (np.abs(upper) + np.abs(b) * float(RS.max(initial=0.0))) + 2.0**-120
        last = -keys[:, -1].astype(np.float64)
        ok = np.isfinite(bound) & (cand[:, -1] >= 0) & (last > bound)
        if not ok.all():
            tiles = np.unique(np.flatnonzero(~ok) // 4)
            pick = (4 * tiles[:, None] + np.arange(4)).ravel()
            again = Plan("dense", self.metric, c, len(pick), self.score_dtype, W=self.W[pick],
                         A=self.A[pick], B=self.B[pick], RS=self.RS)
            sub_keys = np.full((len(pick), k), np.inf, keys.dtype)
            sub_ids = np.full((len(pick), k), -1, np.int64)
            again._topk_dense(sub_keys, sub_ids, par, nchunks)
            take = pick < nq
            keys[pick[take]] = sub_keys[take]
            ids[pick[take]] = sub_ids[take]
        return int(ok.sum())

    def _topk_signs(self, keys: np.ndarray, ids: np.ndarray, par: bool, nchunks: int) -> None:
        c = self.corpus
        if par:
            KB.signs_search_parallel(c.view, self.tables(), self.A, self.B, _SIGNS_BLOCK_ROWS, nchunks, keys, ids)
        else:
            KB.signs_search_range(c.view, self.tables(), self.A, self.B, 0, c.n, _SIGNS_BLOCK_ROWS, keys, ids)

    def _topk_signs_wide(self, keys: np.ndarray, ids: np.ndarray, par: bool, nchunks: int) -> int:
        """Float queries against bits in two stages, with the exact result of :meth:`_topk_signs`.

        1. Each query becomes int16 weights (:func:`~quantlib._kernels.lut.int16_weights`)
           whose integer score, times the query's scale, is within ``err`` of its
           float score for every row; int16 tables of 32 queries per 64-byte vector
           halve the table bytes per query and double the lanes per add, and the scan
           keeps the ``2k + 16`` best rows by integer score.
        2. Those candidates are scored exactly as the float tables score them, and the
           best ``k`` kept.  Every other row's float sum is at most the last
           candidate's integer score times the scale, plus ``err``, plus the float32
           rounding of a table sum; when a row at that bound would still rank strictly
           after the k-th key, the answer is the exact one (certified).  Queries not
           certified (ties at the boundary, identical rows, overflow) are searched
           again by the float tables alone, so the result never depends on the stage.

        Returns the number of queries the first stage certified.
        """
        c = self.corpus
        q = self.Qf
        nq, d = q.shape
        kk = _wide_candidates(keys.shape[1])
        Qi = np.empty((nq, d), np.int16)
        scale = np.empty(nq, np.float64)
        err = np.empty(nq, np.float64)
        KL.int16_weights(q, Qi, scale, err)
        T16 = _empty_aligned((-(-nq // KL.WIDE_GROUP), c.width, 256, KL.WIDE_GROUP), np.int16)
        KL.build_tables16(Qi, self.flip, T16)
        ikeys = np.full((nq, kk), np.iinfo(np.int64).max, np.int64)
        cand = np.full((nq, kk), -1, np.int64)
        if par:
            KB.signs16_search_parallel(c.view, T16, _SIGNS16_BLOCK_ROWS, nchunks, ikeys, cand)
        else:
            KB.signs16_search_range(c.view, T16, 0, c.n, _SIGNS16_BLOCK_ROWS, ikeys, cand)
        # the float sum of any row left out: its real sum is within err of scale * (an integer
        # score no higher than the last candidate's); summing w float32 entries adds at most
        # w units of rounding (2^-24) of sum |q| (and w subnormal steps): twice that is allowed.
        # That holds while no partial sum can overflow: a query whose sum |q| nears float32's
        # largest value is not certified (a partial sum at inf makes a row's score inf).
        abs1 = np.abs(q).sum(axis=1, dtype=np.float64)
        w = c.width
        bound = scale * (-ikeys[:, -1]).astype(np.float64) + err
        bound += (w + 4) * 2.0 ** -23 * abs1 + 1e-12 * (abs1 + np.abs(bound)) + w * 2.0 ** -149
        bound[abs1 * (1 + 2.0 ** -16) >= float(np.finfo(np.float32).max)] = np.inf
        bound[ikeys[:, -1] == np.iinfo(np.int64).max] = np.inf  # a list not filled bounds nothing
        with np.errstate(over="ignore"):
            b32 = bound.astype(np.float32)
        b32 = np.where(b32 < bound, np.nextafter(b32, np.float32(np.inf)), b32)  # round up, never down
        ok = KB.signs_finish(q, c.view, self.flip, cand, self.A, self.B, b32, keys, ids)
        if not ok.all():
            bad = np.flatnonzero(~ok)
            again = Plan("signs", self.metric, c, len(bad), self.score_dtype, A=self.A[bad], B=self.B[bad],
                         Qf=q[bad], flip=self.flip, dim=self.dim)
            sub_keys = np.full((len(bad), keys.shape[1]), np.inf, keys.dtype)
            sub_ids = np.full((len(bad), keys.shape[1]), -1, np.int64)
            again._topk_signs(sub_keys, sub_ids, par, nchunks)
            keys[bad] = sub_keys
            ids[bad] = sub_ids
        return int(ok.sum())


def _num_threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _pad4(x: np.ndarray) -> np.ndarray:
    """``x`` with zero rows appended up to a multiple of four rows (query tiles); one row stays one."""
    n = x.shape[0]
    padded = -(-n // 4) * 4 if n > 1 else 1
    if padded == n:
        return np.ascontiguousarray(x)
    out = np.zeros((padded, *x.shape[1:]), x.dtype)
    out[:n] = x
    return out


def _inverse_norms(x: np.ndarray) -> np.ndarray:
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    with np.errstate(divide="ignore"):
        return np.where(norms > 0, 1.0 / norms, 0.0)


def plan_queries(queries: Any, corpus: Corpus, metric: str | MetricInfo, *, dim: int | None = None,
                 name: str = "queries") -> Plan:
    """Validate queries and prepare them against ``corpus`` for ``metric`` (internal)."""
    m = metric_info(metric)
    arr = _as_rows(queries, name)
    if arr.dtype.kind == "f":
        return _plan_float(arr, corpus, m, dim, name)
    if arr.dtype.kind in "iu":
        return _plan_codes(arr, corpus, m, dim, name)
    raise DTypeError(f"{name}: expected float embeddings or codes, got dtype {arr.dtype}")


def _to_float32(arr: np.ndarray, name: str, check: bool = True) -> np.ndarray:
    """Float rows as C-contiguous float32; float64 beyond float32's range is refused.

    ``check=False`` skips the NaN/inf pass over float32 input (kernels flag them).
    """
    if arr.dtype.itemsize not in (2, 4, 8):
        raise DTypeError(f"{name}: expected float16, float32 or float64, got dtype {arr.dtype}")
    if arr.dtype == np.float32:
        out = np.ascontiguousarray(arr)
        if check:
            check_finite(out, name)
        return out
    src = np.ascontiguousarray(arr)
    check_finite(src, name)
    with np.errstate(over="ignore"):
        out = src.astype(np.float32)
    if out.size and not np.isfinite(out).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise OutOfRangeError(
            f"{name}: value {float(src[where])!r} at index {where} is beyond float32's "
            "largest finite value 3.4e+38"
        )
    return out


def _float_queries(arr: np.ndarray, name: str) -> np.ndarray:
    return _to_float32(arr, name)


def _scaled_for_cosine(q: np.ndarray) -> np.ndarray:
    """Each row times the power of two that brings its norm into [0.5, 1).

    Cosine does not change, and neither does any score of a query of ordinary size
    (a power of two scales every product and sum exactly, and its inverse norm
    exactly back); but a query of subnormal size no longer has an inverse norm
    beyond float32 (inf scores), nor a huge one sums beyond it.
    """
    norms = np.sqrt(np.einsum("ij,ij->i", q, q, dtype=np.float64))
    exponent = np.where(norms > 0, np.frexp(norms)[1], 0)
    if not exponent.any():
        return q
    return np.ldexp(q, -exponent[:, None]).astype(np.float32)


def _plan_float(arr: np.ndarray, c: Corpus, m: MetricInfo, dim: int | None, name: str) -> Plan:
    q = _float_queries(arr, name)
    if m.name == "cosine":
        q = _scaled_for_cosine(q)
    nq, d = q.shape
    if c.family == "bits":
        w = c.width
        if (d + 7) // 8 != w or d == 0:
            raise ShapeError(
                f"{name}: float queries of dimension {d} take {(d + 7) // 8} bytes as bits, "
                f"but the {c.info.name} rows have {w} bytes"
            )
        if dim is not None and check_dim(dim) != d:
            raise ShapeError(f"dim: the float queries have dimension {d}, got dim={dim}")
        c.check_bit_dim(d)  # the kernels skip padding bits, but set ones mean a wrong dimension
        if m.name == "hamming":  # binarize the queries, then count
            codes = BitCodec(c.info.name).encode(q)
            return _hamming_plan(codes, c, m, d)
        return _signs_plan(q, c, m, name)
    if d != c.width:
        raise ShapeError(f"{name}: dimension {d} does not match the corpus dimension {c.width}")
    A = np.ones(nq, np.float64)
    B = np.zeros(nq, np.float64)
    if c.family == "scalar" and isinstance(c.codec, ScalarCodec):
        W = q * c.codec._step  # float32 weights on the raw codes
        start = c.codec._start.astype(np.float64)
        B = q.astype(np.float64) @ start - float(c.codec._low) * W.astype(np.float64).sum(axis=1)
        dequantized = True
    else:
        W = q
        dequantized = False
    if m.name == "cosine":
        A = _inverse_norms(q)
        B = B * A
        RS = c.inverse_norms(dequantized)
    else:
        RS = np.ones(c.n, np.float32)
    return Plan("dense", m, c, nq, np.dtype(np.float32), W=_pad4(W.astype(np.float32)),
                A=_pad4(A.astype(np.float32)), B=_pad4(B.astype(np.float32)), RS=RS)


def _plan_codes(arr: np.ndarray, c: Corpus, m: MetricInfo, dim: int | None, name: str) -> Plan:
    want = c.rows.dtype
    if arr.dtype != want:
        raise DTypeError(
            f"{name}: codes must have the corpus dtype {want} ({c.info.name}), got dtype {arr.dtype}"
            + ("; float32 queries are scored directly against the codes" if c.family != "float" else "")
        )
    if c.family == "float":  # float corpus: only float queries (dtype check above covers it)
        raise DTypeError(f"{name}: a float corpus takes float queries, got dtype {arr.dtype}")
    if arr.shape[1] != c.width:
        unit = "bytes" if c.family == "bits" else "components"
        raise ShapeError(f"{name}: rows have {arr.shape[1]} {unit}, the corpus rows {c.width}")
    codes = np.ascontiguousarray(arr)
    if c.family == "bits":
        if dim is None:
            d = 8 * c.width
        else:
            d = resolve_bit_dim(codes, dim, name)
            c.check_bit_dim(d)
        return _hamming_plan(codes.view(np.uint8), c, m, d)
    if isinstance(c.codec, ScalarCodec):  # calibrated: score the dequantized query values
        return _plan_float(c.codec.decode(codes), c, m, None, name)
    nq = codes.shape[0]
    acc = np.float64
    A = np.ones(nq, acc)
    RS = np.ones(c.n, acc)
    if m.name == "cosine":
        A = _inverse_norms(codes.astype(np.float64))
        RS = c.inverse_norms(False).astype(acc)
    W, B = _exact_code_queries(codes, c.info.name)
    score_dtype = np.dtype(np.int64) if m.name == "dot" else np.dtype(np.float32)
    return Plan("dense", m, c, nq, score_dtype, W=_pad4(W), A=_pad4(A), B=_pad4(B), RS=RS)


def _exact_code_queries(codes: np.ndarray, precision: str, vnni: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Query codes prepared for the dense kernels' exact integer dots: ``(W, B)``.

    Sums are exact int32 in the tiles and float64 after.  With VNNI (``vnni=None``: where the machine has it)
    ``W`` is int8, the int8 query codes or uint8 ones less 128, and ``B`` undoes the int8 tiles' sign flip
    (see :mod:`quantlib._kernels.intdot`); otherwise ``W`` is int16 for the ``vpmaddwd`` tiles and ``B`` is 0.
    Rows too long for int32 sums take float64 queries.
    """
    nq, d = codes.shape
    B = np.zeros(nq, np.float64)
    if d > KI.MAX_ITEMS[precision]:
        return codes.astype(np.float64), B
    if KI.VNNI if vnni is None else vnni:
        if precision == "int8":
            W = codes.view(np.int8)
            return W, -128.0 * W[:, :d - d % KI.STEP_VNNI].sum(axis=1, dtype=np.int64)
        return (codes.view(np.uint8) ^ np.uint8(0x80)).view(np.int8), B  # q - 128
    return codes.astype(np.int16), B


def _hamming_plan(codes: np.ndarray, c: Corpus, m: MetricInfo, d: int) -> Plan:
    nq, w = codes.shape
    words = -(-w // 8)
    padded = np.zeros((-(-nq // 4) * 4 if nq > 1 else 1, 8 * words), np.uint8)
    padded[:nq, :w] = codes.view(np.uint8)
    dtype = np.dtype(np.float32) if m.name == "cosine" else np.dtype(np.int64)
    return Plan("hamming", m, c, nq, dtype, Q=padded.view(np.uint64), dim=d)


def _empty_aligned(shape: tuple[int, ...], dtype: type, align: int = 64) -> np.ndarray:
    """``np.empty(shape, dtype)`` starting on an ``align``-byte boundary.

    The sign tables' entries are 64-byte vectors loaded at multiples of 64 from the start; numpy
    starts a large array 16 bytes past a page boundary about half the time, and then every load
    splits across two cache lines: 100 queries against 200,000 x 1024 bits took 0.27 s instead
    of 0.17 s on Zen 4.  (A zero-size result has no data to align.)
    """
    itemsize = np.dtype(dtype).itemsize
    count = math.prod(shape)
    buf = np.empty(count * itemsize + align, np.uint8)
    start = -buf.ctypes.data % align
    return buf[start:start + count * itemsize].view(dtype).reshape(shape)


def _signs_plan(q: np.ndarray, c: Corpus, m: MetricInfo, name: str) -> Plan:
    nq, d = q.shape
    # A score against +1/-1 bits is at most sum |q| in size, which some row of bits reaches.
    # Below 2**127 no float32 partial sum can overflow, in any order (d < 2**24); above it
    # the scores could, and would rank as +-inf, so refuse the query (cosine's are rescaled).
    reach = np.abs(q).sum(axis=1, dtype=np.float64)
    if nq and reach.max() >= 2.0 ** 127:
        i = int(np.argmax(reach))
        raise OutOfRangeError(
            f"{name}: row {i} can score {reach[i]:.3g} (the sum of its |values|) against +1/-1 bits, "
            "too near float32's largest value (3.4e+38) to be summed without overflow; scale the "
            "queries down"
        )
    A = np.ones(nq, np.float64)
    if m.name == "cosine":  # every +1/-1 row has norm sqrt(d)
        A = _inverse_norms(q) / math.sqrt(d)
    return Plan("signs", m, c, nq, np.dtype(np.float32), A=A.astype(np.float32),
                B=np.zeros(nq, np.float32), Qf=q, flip=c.info.name == "binary", dim=d)


def _wide_candidates(k: int) -> int:
    """Rows the int16 stage of a float-query search over bits keeps for ``k`` results."""
    return 2 * k + 16


def _query_blocks(nq: int, c: Corpus, float_queries: bool, m: MetricInfo) -> int:
    """Queries per pass over the corpus: all of them, but for float queries scored against bits.

    Most kernels' memory is bounded by ``nq * k``; the tables of float queries
    against +1/-1 bits take ``w`` KB per query, so those passes take at most
    :data:`_SIGNS_TABLE_BYTES` of tables (a multiple of 16 queries).  Hamming
    binarizes float queries and needs no tables.
    """
    if float_queries and c.family == "bits" and m.name != "hamming":
        per_query = c.width * 256 * 4
        return max(16, _SIGNS_TABLE_BYTES // per_query // 16 * 16)
    return max(4, nq)


# ---------------------------------------------------------------------------
# Public functions
# ---------------------------------------------------------------------------


def pairwise(
    XA: Any,
    XB: Any,
    metric: Metric | str = "cosine",
    *,
    precision: str | None = None,
    codec: Any = None,
    dim: int | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Scores of every row of ``XA`` against every row of ``XB`` (similarities, not distances).

    Parameters
    ----------
    XA : array_like, shape (m, d) or (m, w)
        Queries: float embeddings, or codes in the format of ``XB``.
    XB : array_like, shape (n, d) or (n, w)
        Stored rows: float embeddings, int8/uint8 codes or packed bits.
    metric : {"cosine", "dot", "hamming"}
        ``cosine`` and ``dot`` are similarities (higher is better);
        ``hamming`` is the integer number of differing bits (lower is better).
        See the module docstring for the relation to ``scipy.spatial.distance.cdist``.
    precision : str, optional
        The precision of ``XB`` (and of ``XA`` when it holds codes).  Needed
        for int8/uint8 arrays under ``dot``/``cosine`` (codes or bits?).
    codec : Codec or dict, optional
        The codec (or its config) that made ``XB``: a :class:`~quantlib.ScalarCodec`
        makes float queries score against the dequantized vectors.
    dim : int, optional
        True dimension of packed bit rows when both arrays are bits (default
        ``8 * w``); ``dot = dim - 2 * hamming``.
    out : numpy.ndarray, optional
        C-contiguous ``(m, n)`` array of the score dtype to write into.  It
        must not share memory with ``XA`` or ``XB`` (a view or reinterpreted
        bytes of them included): that raises :class:`~quantlib.ShapeError`.

    Returns
    -------
    numpy.ndarray, shape (m, n)
        float32 similarities, or int64 for Hamming counts and for the dot of
        two code or bit arrays.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[1.0, 0.0], [3.0, 4.0]], dtype=np.float32)
    >>> pairwise(a, a, "cosine")
    array([[1. , 0.6],
           [0.6, 1. ]], dtype=float32)
    >>> bits = np.array([[0b10110000], [0b10000000]], dtype=np.uint8)
    >>> pairwise(bits, bits, "hamming")
    array([[0, 2],
           [2, 0]])
    >>> pairwise(bits, bits, "dot", precision="ubinary", dim=4)
    array([[4, 0],
           [0, 4]])
    """
    return _pairwise(XA, XB, metric, precision, codec, dim, out, ("XA", "XB"))


def _pairwise(XA: Any, XB: Any, metric: Metric | str, precision: Any, codec: Any, dim: Any, out: Any,
              names: tuple[str, str]) -> np.ndarray:
    """:func:`pairwise`, its errors naming the arguments ``names`` (``q``/``X`` for the one-to-many forms)."""
    m = metric_info(metric)
    corpus = prepare_corpus(XB, m, precision=precision, codec=codec, name=names[1])
    a = _as_rows(XA, names[0])
    if a.dtype.kind not in "fiu":
        raise DTypeError(f"{names[0]}: expected float embeddings or codes, got dtype {a.dtype}")
    nq = a.shape[0]
    float_q = a.dtype.kind == "f"
    block = _query_blocks(nq, corpus, float_q, m)
    result = None
    for s in range(0, max(nq, 1), block):
        plan = plan_queries(a[s:s + block], corpus, m, dim=dim, name=names[0])
        if result is None:
            result = _check_out(out, (nq, corpus.n), plan.score_dtype)
            if out is not None:  # the kernels read both while they write out
                refuse_overlap(result, {names[0]: a, names[1]: corpus.rows})
        if plan.nq:
            plan.scores(result[s:s + block])
    assert result is not None
    return result


def _check_out(out: Any, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype)
    if not isinstance(out, np.ndarray):
        raise DTypeError(f"out: expected a numpy array, got {describe(out)}")
    if out.dtype != dtype:
        raise DTypeError(f"out: expected dtype {dtype} for these scores, got dtype {out.dtype}")
    if out.shape != shape:
        raise ShapeError(f"out: expected shape {shape}, got shape {out.shape}")
    if not out.flags.c_contiguous:
        raise ShapeError("out: expected a C-contiguous array, got a non-contiguous view; use np.empty(shape)")
    if not out.flags.writeable:
        raise ShapeError("out: expected a writeable array, got a read-only one")
    return out


def _one_to_many(metric: str, q: Any, X: Any, precision: Any, codec: Any, dim: Any, out: Any) -> np.ndarray:
    arr = as_array(q, "q")
    if arr.ndim != 1:
        raise ShapeError(
            f"q: expected one vector of shape (d,), got shape {arr.shape}; "
            f"use quantlib.pairwise(Q, X, {metric!r}) for a batch"
        )
    if out is not None:
        if not isinstance(out, np.ndarray) or out.ndim != 1:
            raise ShapeError(f"out: expected a 1-D array of shape (n,), got {describe(out)}")
        out = out.reshape(1, -1)
    return _pairwise(arr[None, :], X, metric, precision, codec, dim, out, ("q", "X"))[0]


def dot(q: Any, X: Any, *, precision: str | None = None, codec: Any = None,
        dim: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Dot products of one vector ``q`` (d,) with every row of ``X``: ``pairwise(q[None], X, "dot")[0]``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0], [-1.0, 0.5]], dtype=np.float32)
    >>> dot(np.array([2.0, 1.0], dtype=np.float32), X)
    array([ 4. , -1.5], dtype=float32)
    >>> codes = np.array([[-128, 127], [0, 1]], dtype=np.int8)
    >>> dot(np.array([-128, 127], dtype=np.int8), codes, precision="int8")
    array([32513,   127])
    """
    return _one_to_many("dot", q, X, precision, codec, dim, out)


def cosine(q: Any, X: Any, *, precision: str | None = None, codec: Any = None,
           dim: int | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarities of one vector ``q`` (d,) with every row of ``X`` (0 for zero vectors).

    scipy's ``cdist(..., "cosine")`` is ``1 - cosine``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]], dtype=np.float32)
    >>> cosine(np.array([1.0, 0.0], dtype=np.float32), X)
    array([ 0.6,  0. , -1. ], dtype=float32)
    """
    return _one_to_many("cosine", q, X, precision, codec, dim, out)


def hamming(q: Any, X: Any, *, precision: str | None = None, dim: int | None = None,
            out: np.ndarray | None = None) -> np.ndarray:
    """Number of differing bits between packed bits ``q`` (w,) and every row of ``X`` (n, w).

    A float ``q`` is binarized first (bit = value > 0).  scipy's
    ``cdist(..., "hamming")`` on unpacked bits is this count divided by ``d``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0b11110000], [0b00001111]], dtype=np.uint8)
    >>> hamming(np.array([0b11000000], dtype=np.uint8), X)
    array([2, 6])
    """
    return _one_to_many("hamming", q, X, precision, None, dim, out)

