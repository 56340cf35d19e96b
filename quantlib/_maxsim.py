"""MaxSim scoring: query plans against a :class:`~quantlib.MultiVectorBatch`, :func:`maxsim` and :func:`maxsim_search`.

A query is prepared (:func:`_plan`) for one of the MaxSim kernel families of
:mod:`quantlib._kernels.maxsim` (``dense``: float or integer dots, ``hamming``:
popcounts of bits, ``lut``: byte tables of a float query against bits).  The
scan follows the scoring stack that dense and sparse search share
(:mod:`quantlib._scoring`): its cost model and threading policy decide serial
or parallel and the chunks, the ``k`` rule refuses ``k`` beyond the corpus, and
rescoring re-ranks the first stage's candidates by exact scores with the
library's tie rule.  The batch container and its formats stay in
:mod:`quantlib.multivector`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._kernels import maxsim as K
from ._kernels import maxtile as KT
from ._multivector_input import _check_finite_tokens
from ._scoring import check_k, check_k_fits, chunk_bounds, chunk_count, rerank, use_threads, work
from ._validation import as_array, as_code_matrix, describe, refuse_overflow
from .codecs.binary import resolve_bit_dim
from .errors import ConfigError, DTypeError, ShapeError
from .multivector import MultiVectorBatch
from .precision import Precision, precision_info

__all__ = ["maxsim", "maxsim_search"]

#: Codes whose dot products stay below this are summed exactly in float32 (every partial sum an integer).
_FLOAT32_EXACT = 1 << 24

class _Plan:
    """A query prepared against a batch: the kernel family, its leading arguments and the score dtype."""

    __slots__ = ("args", "dtype", "family", "n", "work")

    def __init__(self, family: str, args: tuple, dtype: type, work: float, n: int) -> None:
        self.family = family
        self.args = args
        self.dtype = np.dtype(dtype)
        self.work = work  # the whole batch's, in the shared cost model (quantlib._scoring.work)
        self.n = n

    def _kernels(self) -> tuple[Any, Any, Any, Any]:
        f = self.family
        return (getattr(K, f"{f}_scores"), getattr(K, f"{f}_scores_parallel"),
                getattr(K, f"{f}_search"), getattr(K, f"{f}_search_parallel"))

    def _bounds(self, offsets: np.ndarray) -> np.ndarray | None:
        """Document chunk boundaries for the thread pool (the shared policy), or None to stay serial."""
        if self.n < 2 or not use_threads(self.work):
            return None
        return chunk_bounds(offsets, chunk_count(int(offsets[-1])))

    def scores(self, offsets: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        serial, parallel, _, _ = self._kernels()
        if ids is None:
            ids = np.arange(self.n, dtype=np.int64)
            bounds = self._bounds(offsets)
        else:
            bounds = None  # a shortlist: small by construction
        out = np.empty(ids.shape[0], self.dtype)
        if bounds is None:
            serial(*self.args, ids, 0, ids.shape[0], out)
        else:
            parallel(*self.args, ids, bounds, out)
        return refuse_overflow(out, "a MaxSim score")

    def search(self, offsets: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The best ``k`` documents: ``(scores, ids)`` of shape ``(1, k)``."""
        _, _, serial, parallel = self._kernels()
        keys = np.full((1, k), np.inf, self.dtype)
        ids = np.full((1, k), -1, np.int64)
        bounds = self._bounds(offsets)
        if bounds is None:
            serial(*self.args, 0, self.n, keys, ids)
        else:
            parallel(*self.args, bounds, keys, ids)
        return refuse_overflow(-keys, "a MaxSim score"), ids  # a non-finite one is listed first


def _as_batch(documents: Any, precision: Any) -> MultiVectorBatch:
    if isinstance(documents, MultiVectorBatch):
        if precision is not None and precision_info(precision).name != documents.precision:
            raise ConfigError(
                f"precision: the documents are a {documents.precision} batch, got precision={precision!r}"
            )
        return documents
    if isinstance(documents, np.ndarray):
        raise DTypeError(
            "documents: expected a MultiVectorBatch or a list of (tokens, d) matrices, "
            f"got {describe(documents)}; for a flat token matrix build MultiVectorBatch(tokens, offsets)"
        )
    return MultiVectorBatch.from_arrays(documents, precision=precision)


def _query_matrix(query: Any, docs: MultiVectorBatch, name: str = "query") -> tuple[np.ndarray, bool]:
    """The query's token matrix and whether it holds floats (else codes in the documents' precision)."""
    if isinstance(query, MultiVectorBatch):
        if len(query) != 1:
            raise ShapeError(
                f"{name}: expected one query (a batch of 1 document), got a batch of {len(query)}"
            )
        if query.info.family == "float":
            arr = query.tokens
        else:
            if query.precision != docs.precision:
                raise DTypeError(
                    f"{name}: {query.precision} query tokens cannot be scored against {docs.precision} "
                    "documents; pass a float query or codes in the documents' precision"
                )
            if query.dim != docs.dim:
                raise ShapeError(f"{name}: expected dimension {docs.dim} (the documents'), got {query.dim}")
            return query.tokens, False
    else:
        arr = as_array(query, name)
    if arr.ndim != 2:
        raise ShapeError(
            f"{name}: expected a (tokens, d) matrix of token vectors, got shape {arr.shape}"
            + ("; use q[None, :] for a query of one token" if arr.ndim == 1 else "")
        )
    if arr.shape[0] == 0:
        raise ShapeError(f"{name}: a query needs at least one token vector, got 0")
    if arr.dtype.kind == "f":
        if arr.dtype.itemsize > 8:
            raise DTypeError(f"{name}: expected float16, float32 or float64 values, got dtype {arr.dtype}")
        if arr.shape[1] != docs.dim:
            raise ShapeError(
                f"{name}: expected token vectors of dimension {docs.dim} (the documents'), got {arr.shape[1]}"
            )
        source = arr
        if arr.dtype != np.float32:
            with np.errstate(over="ignore"):  # overflow is reported by _check_finite_tokens
                arr = arr.astype(np.float32)
        _check_finite_tokens(arr, None, name, source=source)
        return np.ascontiguousarray(arr), True
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{name}: expected float token vectors or integer codes, got dtype {arr.dtype}")
    if docs.info.family == "float":
        raise DTypeError(
            f"{name}: integer codes cannot be scored against {docs.precision} documents; "
            "pass float token vectors"
        )
    codes, _ = as_code_matrix(arr, name, docs.info)
    if codes.shape[1] != docs.width:
        unit = "bytes" if docs.info.packed else "components"  # packed: the width does not count dimensions
        raise ShapeError(
            f"{name}: {docs.precision} tokens of dimension {docs.dim} have {docs.width} {unit}, "
            f"got {codes.shape[1]}"
        )
    if docs.info.family == "signs":
        resolve_bit_dim(codes, docs.dim, name)  # refuses set padding bits
    return codes, False


def _pad_rows(x: np.ndarray, multiple: int) -> np.ndarray:
    n = x.shape[0]
    m = -(-n // multiple) * multiple
    if m == n:
        return np.ascontiguousarray(x)
    out = np.zeros((m, x.shape[1]), x.dtype)
    out[:n] = x
    return out


def _maxsim_group(nq: int) -> int:
    """Query tokens per MaxSim tile group: 32 where the AVX-512 tile runs and the query has more than 16."""
    return KT.WIDE_GROUP if KT.WIDE and nq > KT.GROUP else KT.GROUP


def _group_query(W: np.ndarray, g: int = KT.GROUP) -> np.ndarray:
    """Float query tokens as ``(groups, d, g)`` float32: each group of ``g`` transposed (zero tokens pad it)."""
    padded = _pad_rows(np.asarray(W, np.float32), g)
    return np.ascontiguousarray(padded.reshape(-1, g, padded.shape[1]).transpose(0, 2, 1))


def _plan(q: np.ndarray, is_float: bool, docs: MultiVectorBatch, normalize: bool) -> _Plan:
    """Prepare the kernel arguments for a query ``q`` against ``docs``, by the family of the tokens' codec.

    ``float``: float dots; ``affine``: the integer codes, a float query folded
    into the codec's map (code queries: the exact integer dot of the codes);
    ``signs``: byte tables of a float query, popcounts of bit queries;
    ``decoded``/``own``: the tokens decoded to float32 once per batch (the
    generic path) and float dots, code queries decoded too.
    """
    nq = q.shape[0]
    norm = float(nq) if normalize else 1.0
    info = docs.info
    X = docs.tokens
    offs = docs.offsets
    pairs = float(nq) * docs.n_tokens
    ones = np.ones(nq)
    zeros = np.zeros(nq)
    neg = np.float32(-np.inf)
    family = info.family
    if family == "signs":
        raw = X.view(np.uint8)
        w = docs.width
        if is_float:
            # T[p, v, q]: the sum of query components whose bit is set in byte value v at position p.
            qpad = np.zeros((nq, 8 * w), np.float64)
            qpad[:, :docs.dim] = q
            bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float64)
            table = np.einsum("vk,qpk->pvq", bits, qpad.reshape(nq, w, 8)).astype(np.float32)
            if info.dtype.kind == "i":  # signed storage is offset binary (u - 128): index the table by the raw byte
                table = table[:, np.arange(256) ^ 0x80]
            A = np.full(nq, 2.0)
            B = -q.astype(np.float64).sum(axis=1)
            return _Plan("lut", (np.ascontiguousarray(table), raw, offs, A, B, norm), np.float32,
                         work("lut", pairs, w), len(docs))
        words = np.zeros((nq, -(-w // 8) * 8), np.uint8)  # whole 64-bit words
        words[:, :w] = q.view(np.uint8)
        QT = np.ascontiguousarray(words.view("<u8").astype(np.uint64).T)
        A = np.full(nq, -2.0)
        B = np.full(nq, float(docs.dim))
        return _Plan("hamming", (QT, raw, offs, A, B, norm), np.float64, work("hamming", pairs, w), len(docs))
    maxlen = docs._maxlen
    cost = work("dense", pairs, docs.dim)
    if family in ("decoded", "own"):
        # the generic path: the float32 values of the tokens (decoded once per batch), float dots
        X = docs._float_values()
        W = q if is_float else _decoded_query(q, docs)
        args = (_group_query(W, _maxsim_group(nq)), X, offs, ones, zeros, neg, norm, maxlen)
        return _Plan("dense", args, np.float32, cost, len(docs))
    if family == "float":
        if X.dtype.itemsize == 2:
            X = X.view(np.uint16)  # the kernels read halves from their bits
        args = (_group_query(q, _maxsim_group(nq)), X, offs, ones, zeros, neg, norm, maxlen)
        return _Plan("dense", args, np.float32, cost, len(docs))
    affine = docs._reader().affine()
    if affine is None:
        raise ConfigError(f"documents: {docs._reader()!r} has family 'affine' but returns no affine() map")
    if is_float:
        A, B, W = ones, zeros, q
        if not affine.identity:
            # value(c) = start + (c - low) * step, so q . value = (q * step) . c + q . start - low * sum(q * step):
            # the map folded into weights W on the codes and an offset B (A = 1)
            W = q * affine.step
            B = q.astype(np.float64) @ affine.start.astype(np.float64) - float(affine.low) * \
                W.astype(np.float64).sum(axis=1)
        args = (_group_query(W, _maxsim_group(nq)), X, offs, A, B, neg, norm, maxlen)
        return _Plan("dense", args, np.float32, cost, len(docs))
    # Codes against codes: exact integer dot products.  float32 holds every partial sum exactly
    # while sum |w| |x| < 2**24, so those run in the float kernel of float queries (1.9x faster
    # here than the 4 x 4 tiles); beyond, int32 or int64 tiles.
    lo, hi = np.iinfo(info.dtype).min, np.iinfo(info.dtype).max  # the dtype's range: query codes may fill it
    bound = max(abs(lo), hi) ** 2 * docs.dim
    if bound < _FLOAT32_EXACT:
        return _Plan("dense", (_group_query(q, _maxsim_group(nq)), X, offs, ones, zeros, neg, norm, maxlen),
                     np.float64, cost, len(docs))
    if bound < 2**31:
        W, neg = q, np.int32(np.iinfo(np.int32).min)
    else:
        W, neg = q.astype(np.int64), np.int64(np.iinfo(np.int64).min)
    return _Plan("dense", (_pad_rows(W, K.TILE), X, offs, ones, zeros, neg, norm, maxlen), np.float64,
                 cost, len(docs))


def _decoded_query(codes: np.ndarray, docs: MultiVectorBatch) -> np.ndarray:
    """Query codes in the documents' precision as the float32 values they stand for (generic path)."""
    values = np.ascontiguousarray(docs._reader("query").decode(codes, dim=docs.dim), np.float32)
    if values.shape != (codes.shape[0], docs.dim):
        raise ShapeError(f"query: the codec decoded the query codes to shape {values.shape}, "
                         f"expected {(codes.shape[0], docs.dim)}")
    return values


def maxsim(
    query: Any,
    documents: Any,
    *,
    precision: Precision | str | None = None,
    normalize: bool = False,
) -> np.ndarray:
    """Late-interaction (ColBERT) MaxSim scores of one query against every document.

    ``score(Q, D) = sum over query tokens q of (max over document tokens d of sim(q, d))``,
    with ``sim`` the dot product.  This is ColBERT's, Weaviate's and Qdrant's
    MaxSim: a *similarity*, higher is better.  (NumKong calls a sum of *minimum
    distances* MaxSim; that is a different quantity.)

    How the tokens are read, by the scoring family of the documents' codec
    (:attr:`PrecisionInfo.family <quantlib.PrecisionInfo>`):

    - ``float`` (``float32``/``float16``): dot products of float32 values;
    - ``affine`` (``int8``/``uint8``) with a float query: the dequantized values
      ``start + (code - low) * step`` of the codec's :meth:`~quantlib.Codec.affine`
      map, folded into the query and scored by the integer kernels; without a
      codec, int8/uint8 codes are their own integer values;
    - ``affine`` with a query of codes in the same precision: the exact
      integer dot of the codes (int32 arithmetic; run in float32 while every
      partial sum is an integer below 2**24, where both give the same result);
    - ``signs`` (``binary``/``ubinary``): vectors of +1/-1 (a set bit is +1).  A query of bits
      gives ``d - 2 * hamming`` per token pair (popcount, exact, ``d`` the true
      dimension); a float query is scored against the +1/-1 values;
    - ``decoded`` and ``own`` (codecs registered without a kernel family quantlib's
      MaxSim kernels read): the tokens are decoded to float32 once per batch
      (a float32 copy kept with the batch) and scored as floats; a query of
      codes is decoded too.

    Parameters
    ----------
    query : array_like, shape (n_query_tokens, d), or MultiVectorBatch of one document
        Float token vectors, or codes in the documents' precision
        (``(n, ceil(d / 8))`` bytes for bits).  At least one token.
    documents : MultiVectorBatch or list of (tokens, d) matrices
        The documents; a list is turned into a batch with ``precision``.
    precision : str, optional
        The documents' precision when they are given as a list (checked when
        they are a batch).  A code query is taken to be in this precision.
    normalize : bool
        Divide each score by the number of query tokens (so scores of queries of
        different lengths compare; with unit vectors they lie in [-1, 1]).

    Returns
    -------
    numpy.ndarray, shape (n_documents,)
        float32 for a float query; float64 (exact integers) for codes or bits
        against codes or bits.  Each is the float64 sum rounded once.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    >>> docs = MultiVectorBatch.from_lists([[[0.5, 0.5], [1.0, 0.0]], [[0.0, 2.0]]])
    >>> maxsim(q, docs)
    array([1.5, 2. ], dtype=float32)
    >>> maxsim(q, docs, normalize=True)
    array([0.75, 1.  ], dtype=float32)
    >>> from quantlib import quantize
    >>> maxsim(quantize(q, "ubinary"), docs.quantize("ubinary"))  # d - 2 * hamming, summed
    array([2., 0.])
    """
    docs = _as_batch(documents, precision)
    if not isinstance(normalize, (bool, np.bool_)):
        raise DTypeError(f"normalize: expected True or False, got {describe(normalize)}")
    q, is_float = _query_matrix(query, docs)
    plan = _plan(q, is_float, docs, bool(normalize))
    return plan.scores(docs.offsets)


def maxsim_search(query: Any, documents: Any, k: int = 10, *, precision: Precision | str | None = None,
                  normalize: bool = False, rescore: MultiVectorBatch | None = None, oversample: int = 4,
                  quantize_query: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` documents with the highest :func:`maxsim` score: ``(scores, indices)``.

    The scan is fused: each document's score is compared with the current
    k-th best and most are rejected at once, so memory stays ``O(k)``.  Large
    scans run on all of numba's threads (:func:`quantlib.set_num_threads`),
    small ones on one.

    With ``rescore`` the first stage keeps ``min(n, k * oversample)`` candidates
    on the quantized ``documents`` (for example binary tokens) and re-ranks
    them by exact float32 MaxSim of the float query against ``rescore``, the
    same documents in better precision (Qdrant's and PLAID's oversampling).

    Parameters
    ----------
    query : array_like, shape (n_query_tokens, d)
        Float token vectors, or codes in the documents' precision (not with ``rescore``).
    documents : MultiVectorBatch or list of (tokens, d) matrices
        The documents scanned first.
    k : int
        Documents to return, ``1 <= k <= n``.  A larger ``k`` raises
        :class:`~quantlib.ShapeError` (it is never clipped silently), as in
        :func:`quantlib.search`; ask for ``min(k, len(documents))`` if the
        batch may be small.
    precision : str, optional
        As in :func:`maxsim`.
    normalize : bool
        Divide scores by the number of query tokens.
    rescore : MultiVectorBatch, optional
        The same documents (identical offsets) as float tokens, or int8/uint8
        codes with their codec.  The returned scores are then its scores.
        Codes without a codec are a :class:`~quantlib.ConfigError`: their raw
        dot products are not the similarities of the vectors they stand for.
    oversample : int
        With ``rescore``, candidates kept from the first stage per result.
    quantize_query : bool
        Quantize a float query into the documents' precision first (with their
        codec for int8/uint8) and score codes against codes: Hamming by popcount
        for bits, the fastest first stage, at some cost in ranking quality.

    Returns
    -------
    scores : numpy.ndarray, shape (1, k)
        Best first; the dtype of :func:`maxsim` for the stage that produced them.
        One row for the one query, as :func:`quantlib.search` returns ``(1, k)``
        for one query vector (``scores[0]`` is the list).
    indices : numpy.ndarray of int64, shape (1, k)
        Document numbers; equal scores are ordered by the lower index.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    >>> docs = MultiVectorBatch.from_lists([[[1.0, 0.0]], [[0.0, 2.0]], [[0.0, 2.0]], [[1.0, 1.0]]])
    >>> maxsim_search(q, docs, k=3)
    (array([[2., 2., 2.]], dtype=float32), array([[1, 2, 3]]))
    >>> bits = docs.quantize("ubinary")
    >>> maxsim_search(q, bits, k=2, rescore=docs, oversample=2, quantize_query=True)
    (array([[2., 2.]], dtype=float32), array([[1, 2]]))
    """
    docs = _as_batch(documents, precision)
    k = check_k(k)
    oversample = check_k(oversample, "oversample")
    if not isinstance(normalize, (bool, np.bool_)):
        raise DTypeError(f"normalize: expected True or False, got {describe(normalize)}")
    n = len(docs)
    if n == 0:
        raise ShapeError("documents: expected at least one document, got an empty batch")
    check_k_fits(k, n, "documents")
    q, is_float = _query_matrix(query, docs)
    if rescore is not None:
        if not isinstance(rescore, MultiVectorBatch):
            raise DTypeError(
                f"rescore: expected a MultiVectorBatch of the same documents, got {describe(rescore)}"
            )
        if not is_float:
            raise DTypeError(
                "query: rescoring needs the float query (the first stage quantizes it itself with "
                "quantize_query=True)"
            )
        if rescore.n_tokens != docs.n_tokens or not np.array_equal(rescore.offsets, docs.offsets):
            raise ShapeError(
                "rescore: expected the same documents with the same token counts (identical offsets) as "
                f"documents, got {len(rescore)} documents and {rescore.n_tokens} tokens for "
                f"{len(docs)} documents and {docs.n_tokens} tokens"
            )
        if rescore.dim != docs.dim:
            raise ShapeError(f"rescore: expected dimension {docs.dim} (the documents'), got {rescore.dim}")
        if rescore.info.family == "signs":  # +1/-1 values: not the vectors' similarities
            raise DTypeError(
                "rescore: expected float tokens or int8/uint8 codes with a codec, got packed bits"
            )
        if rescore.info.calibrated and rescore.codec is None:
            # maxsim would read them as their integer values: dots on another scale, not the vectors' similarity
            raise ConfigError(
                f"rescore: the {rescore.info.name} codes have no codec, so they cannot stand for the documents' "
                "vectors; build the batch with codec= (the codec that made them), or rescore with float "
                "tokens"
            )
    first_q, first_float = q, is_float
    if quantize_query:
        if not is_float:
            raise ConfigError("quantize_query: the query is already codes")
        first_q, first_float = _quantize_query(q, docs), False
    plan = _plan(first_q, first_float, docs, bool(normalize))
    first = k if rescore is None else min(n, k * oversample)
    scores, ids = plan.search(docs.offsets, first)
    if rescore is None:
        return scores, ids
    exact = _plan(q, True, rescore, bool(normalize))
    return rerank(ids, k, lambda _, rows: exact.scores(rescore.offsets, rows), dtype=exact.dtype)


def _quantize_query(q: np.ndarray, docs: MultiVectorBatch) -> np.ndarray:
    info = docs.info
    if info.family == "float":
        raise ConfigError(
            f"quantize_query: the documents are {info.name}; there is no quantized form to score the query in"
        )
    if info.calibrated and docs.codec is None:
        raise ConfigError(
            f"quantize_query: the {info.name} documents have no codec to quantize the query with; "
            "build the batch with codec="
        )
    return np.ascontiguousarray(docs._reader("quantize_query").encode(q))
