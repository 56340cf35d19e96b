"""The query side of scoring: a plan that scores prepared queries against a corpus, and its top-k.

:func:`plan_queries` validates queries against a :class:`~quantlib._corpus.Corpus`
and prepares them for one kernel family (``dense``, ``signs`` or ``hamming``);
:meth:`Plan.scores` fills a score matrix and :meth:`Plan.topk` keeps the best
``k`` rows per query.  The tuning constants they read live in
:mod:`quantlib._kernels._config`, with the measurements behind them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._corpus import Corpus, _as_rows, _to_float32
from ._kernels import _config as C
from ._kernels import bits as KB
from ._kernels import dense as KD
from ._kernels import intdot as KI
from ._kernels import lut as KL
from ._kernels import masked as KM
from ._kernels import topk as KT
from ._scoring import chunk_count, use_threads, work
from ._scoring import num_threads as _num_threads  # noqa: F401 - the names quantlib.dask imports
from ._scoring import use_threads as _parallel  # noqa: F401
from ._stages import _empty_aligned, _pad4, _TwoStages, _wide_candidates
from ._validation import check_dim
from .codecs.binary import resolve_bit_dim
from .errors import DTypeError, OutOfRangeError, ShapeError
from .metrics import MetricInfo, metric_info


def _rows_per_block(kind: str, row_bytes: int) -> int:
    rows = int(max(16, min(1 << 16, C.BLOCK_BYTES[kind] // max(1, row_bytes))))
    return rows - rows % 2  # even: dense kernels score rows in pairs from even offsets


@dataclass
class Plan(_TwoStages):
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
    RB: np.ndarray | None = None  # dense: per-row term (added after RS), None where it is 0
    Q: np.ndarray | None = None  # hamming: (4t, words) uint64 query words
    T: np.ndarray | None = None  # signs: (groups, w, 256, G) byte tables of the queries, built on first use
    Qf: np.ndarray | None = None  # signs: the float32 queries
    flip: bool = False  # signs: the rows are offset binary (``binary``)
    dim: int = 0  # hamming/signs: the true dimension (hamming: dot = d - 2h)
    allow: np.ndarray | None = None  # a filter: one bool per row; topk ranks only the rows it allows
    scan_rows: int | None = None  # with ``allow``: the rows its scan reads (the cost model's), else all

    def tables(self) -> np.ndarray:
        """The float32 byte tables of a ``signs`` plan (search may not need them: built on first use)."""
        if self.T is None:
            nq = self.Qf.shape[0]
            # queries per table group: one alone, up to 8 in one vector of 8 floats, else two vectors
            group = 1 if nq <= 1 else 8 if nq <= 8 else 16
            self.T = _empty_aligned((-(-nq // group), self.corpus.width, 256, group), np.float32)
            KL.build_tables(self.Qf, self.flip, self.T)
        return self.T

    def _work(self) -> float:
        """The scan's work in the shared cost model (:func:`quantlib._scoring.work`)."""
        rows = self.corpus.n if self.scan_rows is None else self.scan_rows
        return work(self.kind, self.nq * rows, self.corpus.width)

    def _rb(self) -> int:
        if self.kind == "signs":
            return C.SIGNS_BLOCK_ROWS
        return _rows_per_block(self.kind, self.corpus.width * self.corpus.view.dtype.itemsize)

    def scores(self, out: np.ndarray) -> np.ndarray:
        """Fill ``out`` (nq, n) with the scores; returns it."""
        c = self.corpus
        rb = self._rb()
        par = use_threads(self._work())
        if self.kind == "dense":
            if par:
                bad = KD.scores_parallel(self.W, c.view, self.A, self.B, self.RS, self.RB, rb, out)
            else:
                bad = KD.scores_range(self.W, c.view, self.A, self.B, self.RS, self.RB, 0, c.n, rb, out)
            if bad:
                c.raise_nonfinite()
        elif self.kind == "signs":
            if par:
                KB.signs_scores_parallel(c.view, self.tables(), self.A, self.B, rb, out)
            else:
                KB.signs_scores_range(c.view, self.tables(), self.A, self.B, 0, c.n, rb, out)
        else:
            counts = out if out.dtype == np.int64 else np.empty(out.shape, np.int64)
            if par:
                KB.hamming_scores_parallel(c.view, self.Q, rb, counts)
            else:
                KB.hamming_scores_range(c.view, self.Q, 0, c.n, rb, counts)
            if self.metric.from_counts is not None:
                out[...] = self._from_counts(counts)
            return out
        if self.metric.from_kernel is not None:
            out[...] = self.metric.from_kernel(out)
        return out

    def _topk_blas(self, keys: np.ndarray, ids: np.ndarray) -> bool:
        c = self.corpus
        W = self.W[: self.nq]
        step = int(min(1 << 16, max(1024, C.BLAS_BLOCK_SCORES // self.nq)))
        floats = c.floats
        if floats.dtype != np.float32:  # float16 blocks are widened: keep that copy near 32 MB
            step = min(step, max(256, (1 << 25) // (4 * c.width)))
        bad = False
        for s in range(0, c.n, step):
            if self.allow is not None:  # BLAS over the spans of allowed rows, only those ranked
                for a, b in _blas_spans(self.allow, s, min(c.n, s + step)):
                    block = floats[a:b]
                    if block.dtype != np.float32:
                        block = block.astype(np.float32)
                    bad |= KM.topk_block(W @ block.T, self.A, self.B, self.RS, self.RB, self.allow, a, keys, ids)
                continue
            block = floats[s:s + step]
            if block.dtype != np.float32:
                block = block.astype(np.float32)
            bad |= bool(KD.topk_block(W @ block.T, self.A, self.B, self.RS, self.RB, s, keys, ids))
        KT.finish(keys, ids)  # the lists were heaps between blocks
        return bad

    def _from_counts(self, counts: np.ndarray) -> np.ndarray:
        """The metric's scores of bit rows from their Hamming counts (the record says how)."""
        f = self.metric.from_counts
        return counts if f is None else f(counts, self.dim)

    def scores_from_keys(self, keys: np.ndarray) -> np.ndarray:
        """Scores of the dense and signs kernels' top-k keys (negated kernel values), in the score dtype."""
        s = -keys
        f = self.metric.from_kernel
        return (s if f is None else f(s)).astype(self.score_dtype)

    def topk(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` rows per query: ``(scores, indices)``, best first, ties by lower index."""
        c = self.corpus
        rb = self._rb()
        nchunks = chunk_count(c.n)
        par = nchunks > 1 and use_threads(self._work())
        ids = np.full((self.nq, k), -1, np.int64)
        if self.kind == "hamming":
            keys = np.full((self.nq, k), np.iinfo(np.int64).max, np.int64)
            if self.allow is not None:
                KM.search("hamming", (c.view, self.Q), self.allow, rb, nchunks if par else 1, keys, ids)
            elif par:
                KB.hamming_search_parallel(c.view, self.Q, rb, nchunks, keys, ids)
            else:
                KB.hamming_search_range(c.view, self.Q, 0, c.n, rb, keys, ids)
            return np.asarray(self._from_counts(keys)), ids
        acc = self.A.dtype
        keys = np.full((self.nq, k), np.inf, acc)
        if self.kind == "dense":
            if c.family == "float" and self.nq >= C.BLAS_MIN_QUERIES:
                if self._topk_blas(keys, ids):
                    c.raise_nonfinite()
            elif self._dense_wide_applies(k):
                self._topk_dense_wide(keys, ids, par, nchunks)
            else:
                self._topk_dense(keys, ids, par, nchunks)
        elif (self.nq >= C.WIDE_MIN_QUERIES and k <= C.WIDE_MAX_K
              and _wide_candidates(k) * C.WIDE_MIN_ROWS_PER_CANDIDATE <= c.n):
            self._topk_signs_wide(keys, ids, par, nchunks)
        elif self._planes_applies(k):  # --- the bit-plane first stage (planes-bits) ---
            self._topk_signs_planes(keys, ids, par, nchunks)
        else:
            self._topk_signs(keys, ids, par, nchunks)
        return self.scores_from_keys(keys), ids


    def _topk_dense(self, keys: np.ndarray, ids: np.ndarray, par: bool, nchunks: int) -> None:
        """The float kernels' search (:func:`~quantlib._kernels.dense.search_range`) into ``keys``/``ids``."""
        c = self.corpus
        rb = self._rb()
        if self.allow is not None:
            bad = KM.search("dense", (self.W, c.view, self.A, self.B, self.RS, self.RB), self.allow, rb,
                            nchunks if par else 1, keys, ids)
        elif par:
            bad = KD.search_parallel(self.W, c.view, self.A, self.B, self.RS, self.RB, rb, nchunks, keys, ids)
        else:
            bad = KD.search_range(self.W, c.view, self.A, self.B, self.RS, self.RB, 0, c.n, rb, keys, ids)
        if bad:
            c.raise_nonfinite()


    def _topk_signs(self, keys: np.ndarray, ids: np.ndarray, par: bool, nchunks: int) -> None:
        c = self.corpus
        if self.allow is not None:
            KM.search("signs", (c.view, self.tables(), self.A, self.B), self.allow, C.SIGNS_BLOCK_ROWS,
                      nchunks if par else 1, keys, ids)
        elif par:
            KB.signs_search_parallel(c.view, self.tables(), self.A, self.B, C.SIGNS_BLOCK_ROWS, nchunks, keys, ids)
        else:
            KB.signs_search_range(c.view, self.tables(), self.A, self.B, 0, c.n, C.SIGNS_BLOCK_ROWS, keys, ids)


    # ------------------------------------------------------------------------------------------------
    # Float queries against bits, few at a time: the bit-plane first stage (quantlib/_kernels/planes.py)
    # ------------------------------------------------------------------------------------------------

def _blas_spans(allow: np.ndarray, r0: int, r1: int) -> list[tuple[int, int]]:
    """The spans of allowed rows of ``r0..r1`` (:func:`quantlib._kernels.masked.spans`), those less than
    :data:`~quantlib._kernels._config.ALLOW_BLAS_GAP` rows apart joined: one matrix product each."""
    out = np.empty(((r1 - r0) // KM.GAP + 2, 2), np.int64)
    found = out[:KM.spans(allow, r0, r1, out)]
    if found.shape[0] > 1:
        join = np.flatnonzero(found[1:, 0] - found[:-1, 1] >= C.ALLOW_BLAS_GAP) + 1
        found = np.column_stack((found[np.concatenate(([0], join)), 0], found[np.concatenate((join - 1, [-1])), 1]))
    return [(int(a), int(b)) for a, b in found]


@dataclass
class OwnPlan:
    """Float queries against the rows of a codec that scores them itself (family ``"own"``).

    The codec prepares the queries once (:meth:`Codec.prepare_queries
    <quantlib.Codec.prepare_queries>`) and scores blocks of rows with its own
    kernels (:meth:`Codec.score_rows <quantlib.Codec.score_rows>`, dot
    products of the values the rows stand for); the metric's terms (as the
    dense kernels take them: ``(S * A + B) * RS + RB``) and the top-k lists
    are quantlib's, as for BLAS blocks.
    """

    metric: MetricInfo
    corpus: Corpus
    nq: int
    prepared: Any
    A: np.ndarray
    B: np.ndarray
    RS: np.ndarray
    RB: np.ndarray | None
    score_dtype: np.dtype = np.dtype(np.float32)
    kind: str = "own"
    allow: np.ndarray | None = None  # as Plan's
    scan_rows: int | None = None

    def _work(self) -> int:
        return self.nq * (self.corpus.n if self.scan_rows is None else self.scan_rows) * max(1, self.corpus.width)

    def _blocks(self) -> range:
        return range(0, self.corpus.n, max(1024, C.BLAS_BLOCK_SCORES // max(1, self.nq)))

    def scores(self, out: np.ndarray) -> np.ndarray:
        c = self.corpus
        step = self._blocks().step
        for s in self._blocks():
            block = out[:, s:s + step]
            c.codec.score_rows(self.prepared, c.rows[s:s + step], block)  # type: ignore[attr-defined]
            block *= self.A[: self.nq, None]
            block += self.B[: self.nq, None]
            block *= self.RS[s:s + step]
            if self.RB is not None:
                block += self.RB[s:s + step]
        if out.size and not np.isfinite(out).all():
            c.raise_nonfinite()
        if self.metric.from_kernel is not None:
            out[...] = self.metric.from_kernel(out)
        return out

    def topk(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        c = self.corpus
        keys = np.full((self.nq, k), np.inf, np.float32)
        ids = np.full((self.nq, k), -1, np.int64)
        step = self._blocks().step
        S = np.empty((self.nq, min(step, c.n)), np.float32)
        bad = False
        for s in self._blocks():
            if self.allow is not None:  # the spans of allowed rows, only those ranked
                for a, b in _blas_spans(self.allow, s, min(c.n, s + step)):
                    block = S[:, : b - a]
                    c.codec.score_rows(self.prepared, c.rows[a:b], block)  # type: ignore[attr-defined]
                    bad |= KM.topk_block(block, self.A, self.B, self.RS, self.RB, self.allow, a, keys, ids)
                continue
            block = S[:, : min(step, c.n - s)]
            c.codec.score_rows(self.prepared, c.rows[s:s + step], block)  # type: ignore[attr-defined]
            bad |= bool(KD.topk_block(block, self.A, self.B, self.RS, self.RB, s, keys, ids))
        KT.finish(keys, ids)
        if bad:
            c.raise_nonfinite()
        s = -keys
        f = self.metric.from_kernel
        return (s if f is None else f(s)).astype(self.score_dtype), ids


def _own_plan(q: np.ndarray, c: Corpus, m: MetricInfo, dim: int | None, name: str) -> OwnPlan:
    d = q.shape[1]
    if c.dim is not None and d != c.dim:
        raise ShapeError(f"{name}: dimension {d} does not match the corpus dimension {c.dim}")
    if dim is not None and check_dim(dim) != d:
        raise ShapeError(f"dim: the float queries have dimension {d}, got dim={dim}")
    c.codec.check_dim(d, name)
    A, B, RS, RB = m.dense_terms(q.astype(np.float64), np.zeros(q.shape[0]), c, True)
    f32 = np.float32
    return OwnPlan(m, c, q.shape[0], c.codec.prepare_queries(q), A.astype(f32), B.astype(f32),  # type: ignore[attr-defined]
                   np.ascontiguousarray(RS, f32), None if RB is None else np.ascontiguousarray(RB, f32))


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


def _float_queries(arr: np.ndarray, name: str) -> np.ndarray:
    return _to_float32(arr, name)


def _plan_float(arr: np.ndarray, c: Corpus, m: MetricInfo, dim: int | None, name: str) -> Plan:
    q = m.prepare_queries(_float_queries(arr, name))
    nq, d = q.shape
    if c.family == "signs":
        w = c.width
        if c.info.width(d) != w or d == 0:
            raise ShapeError(
                f"{name}: float queries of dimension {d} take {c.info.width(d)} bytes as bits, "
                f"but the {c.info.name} rows have {w} bytes"
            )
        if dim is not None and check_dim(dim) != d:
            raise ShapeError(f"dim: the float queries have dimension {d}, got dim={dim}")
        c.check_bit_dim(d)  # the kernels skip padding bits, but set ones mean a wrong dimension
        if m.kernel_for(c.family, "float") == "hamming":  # binarize the queries, then count
            codes = c.codec.encode(q)
            return _hamming_plan(codes, c, m, d)
        return _signs_plan(q, c, m, name)
    if c.family == "own":
        return _own_plan(q, c, m, dim, name)
    if d != c.width:
        raise ShapeError(f"{name}: dimension {d} does not match the corpus dimension {c.width}")
    B = np.zeros(nq, np.float64)
    dequantized = c.dequantized
    if dequantized:  # the codec's map folded into the query: q . value(c) = (q * step) . c + B
        a = c.affine
        W = q * a.step  # float32 weights on the raw codes
        B = q.astype(np.float64) @ a.start.astype(np.float64) - float(a.low) * W.astype(np.float64).sum(axis=1)
    else:
        W = q
    A, B, RS, RB = m.dense_terms(q.astype(np.float64), B, c, dequantized)
    return Plan("dense", m, c, nq, np.dtype(np.float32), W=_pad4(W.astype(np.float32)),
                A=_pad4(A.astype(np.float32)), B=_pad4(B.astype(np.float32)),
                RS=RS.astype(np.float32, copy=False), RB=None if RB is None else RB.astype(np.float32, copy=False))


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
        unit = "bytes" if c.info.packed else "components"
        raise ShapeError(f"{name}: rows have {arr.shape[1]} {unit}, the corpus rows {c.width}")
    codes = np.ascontiguousarray(arr)
    if c.family == "signs":
        if dim is None:
            d = 8 * c.width
        else:
            d = resolve_bit_dim(codes, dim, name)
            c.check_bit_dim(d)
        return _hamming_plan(codes.view(np.uint8), c, m, d)
    if c.dequantized or c.codec.family in ("decoded", "own"):  # score the values the query codes stand for
        return _plan_float(c.codec.decode(codes, dim=c.dim), c, m, None, name)
    nq = codes.shape[0]
    acc = np.float64
    A, B, RS, RB = m.dense_terms(codes.astype(acc), np.zeros(nq, acc), c, False)
    W, Bc = _exact_code_queries(codes, codes.dtype.name)
    if W.dtype == np.int8 and B.any():  # the VNNI tiles carry no per-query offset: the int16 ones do
        W, Bc = _exact_code_queries(codes, codes.dtype.name, vnni=False)
    return Plan("dense", m, c, nq, np.dtype(m.code_dtype), W=_pad4(W), A=_pad4(A.astype(acc)),
                B=_pad4(B + Bc), RS=RS.astype(acc), RB=None if RB is None else RB.astype(acc))


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
    return Plan("hamming", m, c, nq, np.dtype(m.count_dtype), Q=padded.view(np.uint64), dim=d)


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
    A, B = m.signs_terms(q, d)
    with np.errstate(over="ignore"):
        A, B = A.astype(np.float32), B.astype(np.float32)
    if not (np.isfinite(A).all() and np.isfinite(B).all()):
        i = int(np.flatnonzero(~(np.isfinite(A) & np.isfinite(B)))[0])
        raise OutOfRangeError(
            f"{name}: row {i} has a {m.name} term beyond float32's largest value (3.4e+38) against "
            "+1/-1 bits; scale the queries down"
        )
    return Plan("signs", m, c, nq, np.dtype(np.float32), A=A, B=B, Qf=q, flip=c.view.dtype != c.rows.dtype, dim=d)


def _query_blocks(nq: int, c: Corpus, float_queries: bool, m: MetricInfo) -> int:
    """Queries per pass over the corpus: all of them, but for float queries scored against bits.

    Most kernels' memory is bounded by ``nq * k``; the tables of float queries
    against +1/-1 bits take ``w`` KB per query, so those passes take at most
    :data:`~quantlib._kernels._config.SIGNS_TABLE_BYTES` of tables (a multiple of 16 queries).  Hamming
    binarizes float queries and needs no tables.
    """
    if float_queries and m.kernel_for(c.family, "float") == "signs":
        per_query = c.width * 256 * 4
        return max(16, C.SIGNS_TABLE_BYTES // per_query // 16 * 16)
    return max(4, nq)
