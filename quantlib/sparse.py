"""Sparse token-weight vectors (SPLADE, BGE-M3 lexical weights, DashScope ``sparse_embedding``).

A :class:`SparseBatch` holds ``n`` sparse vectors in CSR form:

``indptr`` : int64, shape (n + 1,)
    Row ``i`` owns entries ``indptr[i]:indptr[i + 1]``.
``indices`` : int32 or int64, shape (nnz,)
    Column (token) ids, sorted and unique within each row.  int32 when every
    id fits (less than 2**31), int64 otherwise.
``values`` : float32, shape (nnz,)
    The weights, finite.  Explicit zeros are kept (pgvector text drops them).
``vocab_size`` : int or None
    The vocabulary size when known; every id is below it.
``tokens`` : tuple of str or None
    The token string of each entry (DashScope sends them), aligned with ``indices``.

The arrays are read-only and never share memory with a writeable array the
caller passed in (such input is copied): a batch never changes after it is
built, so kernels and indexes can trust it.  Construction sorts unsorted rows and
refuses duplicate ids (there is no agreed way to merge them), negative ids,
ids at or beyond ``vocab_size`` (or 2**63: uint64 ids are never wrapped),
NaN/inf weights, weights beyond float32 and mismatched lengths.

Scoring (:func:`sparse_dot`, :func:`sparse_cosine`, :func:`sparse_search`,
:class:`SparseIndex`) runs in Numba kernels; :func:`hybrid_scores` mixes a
dense and a sparse score.
"""

from __future__ import annotations

import binascii
import re
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from ._kernels import sparse as K
from ._validation import as_array, describe
from .errors import (
    Base64DecodeError,
    ConfigError,
    DTypeError,
    NonFiniteError,
    OutOfRangeError,
    PayloadError,
    ShapeError,
    short_repr,
)

__all__ = [
    "SparseBatch",
    "SparseIndex",
    "hybrid_scores",
    "sparse_cosine",
    "sparse_dot",
    "sparse_search",
]

Weights = Literal["float32", "float16", "uint8"]
Metric = Literal["dot", "cosine"]

_INT32_LIMIT = 2**31 - 1
#: The largest id (and row pointer): both are stored as int64.
_INT64_MAX = 2**63 - 1
#: The largest vocab_size: every id is an int64 below it.
_VOCAB_LIMIT = 2**63
_F32_MAX = float(np.finfo(np.float32).max)
#: Weights of at most this magnitude round to 0 in float32 (half the smallest subnormal, 2**-149).
_F32_UNDERFLOW = 2.0**-150

#: Magic bytes and version of :meth:`SparseBatch.to_bytes`.  Version 1 left the
#: header's last four bytes 0; version 2 writes a CRC-32 there.  Both are read.
MAGIC = b"QLSP"
FORMAT_VERSION = 2
_READS = (1, 2)
# magic, version, weight code, index width, flags, n_rows, nnz, vocab_size, checksum (0 in version 1)
_HEADER = struct.Struct("<4sHBBIQQQI")
#: Bytes of the header before its checksum field.
_CRC_AT = _HEADER.size - 4
_WEIGHT_CODES: dict[str, int] = {"float32": 0, "float16": 1, "uint8": 2}
_FLAG_VOCAB = 1
_FLAG_TOKENS = 2


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


def _private(arr: np.ndarray, given: Any) -> np.ndarray:
    """``arr``, copied if it shares memory with a writeable array the caller passed in."""
    if isinstance(given, np.ndarray) and given.flags.writeable and np.may_share_memory(arr, given):
        return arr.copy()
    return arr


def _int_array(x: Any, name: str, what: str = "ids", *, check_int64: bool = True) -> np.ndarray:
    """A native 1-D integer array; ``what`` (ids, row pointers) beyond int64 are an OutOfRangeError.

    uint64 input may hold values of 2**63 or more, which a cast to int64 would
    wrap to negative numbers; they are refused here unless ``check_int64`` is
    False (the caller then checks them itself, naming the row).
    """
    try:
        arr = as_array(x, name)
    except ShapeError:
        _refuse_wide_ints(x, name, what)  # numpy reads [2**64] as an object array
        raise
    if arr.ndim != 1:
        raise ShapeError(f"{name}: expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype.kind not in "iu":
        _refuse_wide_ints(x, name, what)  # numpy reads [-1, 2**63] (int64 and uint64 mixed) as float64
        raise DTypeError(f"{name}: expected integers, got dtype {arr.dtype}")
    arr = arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))  # kernels read native ints
    if check_int64 and arr.dtype == np.uint64:
        wide = np.flatnonzero(arr > _INT64_MAX)
        if wide.size:
            p = int(wide[0])
            raise OutOfRangeError(_beyond_int64(name, what, int(arr[p]), p))
    return arr


def _beyond_int64(name: str, what: str, value: int, p: int, row: int | None = None) -> str:
    """The message for an integer that int64 cannot hold (all its digits, unless it is huge)."""
    where = f" (row {row})" if row is not None else ""
    shown = str(value) if abs(value) < 10**40 else short_repr(value)
    if value < 0:
        return f"{name}: expected {what} >= 0, got {shown} at entry {p}{where}"
    return f"{name}: expected {what} below 2**63 ({what} are int64), got {shown} at entry {p}{where}"


def _beyond_vocab(vocab: int, value: int, p: int, row: int) -> OutOfRangeError:
    return OutOfRangeError(f"indices: expected ids below vocab_size={vocab}, got {value} at entry {p} (row {row})")


def _refuse_wide_ints(x: Any, name: str, what: str) -> None:
    """Raise OutOfRangeError if the list ``x`` holds an integer that int64 cannot (slow path, for the message)."""
    if isinstance(x, np.ndarray) or not isinstance(x, (list, tuple)):
        return
    for p, v in enumerate(x):
        if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) \
                and not -_INT64_MAX - 1 <= v <= _INT64_MAX:
            raise OutOfRangeError(_beyond_int64(name, what, int(v), p))


def _check_vocab(vocab_size: Any) -> int | None:
    if vocab_size is None:
        return None
    if isinstance(vocab_size, (bool, np.bool_)) or not isinstance(vocab_size, (int, np.integer)):
        raise DTypeError(f"vocab_size: expected a positive integer or None, got {describe(vocab_size)}")
    if vocab_size < 1:
        raise ShapeError(f"vocab_size: expected a positive integer or None, got {short_repr(vocab_size)}")
    if vocab_size > _VOCAB_LIMIT:
        raise OutOfRangeError(
            f"vocab_size: expected at most 2**63 (ids are int64), got {short_repr(vocab_size)}")
    return int(vocab_size)


class SparseBatch:
    """A batch of sparse token-weight vectors in CSR form (see the module docstring).

    Parameters
    ----------
    indptr : array_like of int, shape (n + 1,)
        Row pointers: ``indptr[0] == 0``, non-decreasing, ``indptr[-1] == nnz``.
    indices : array_like of int, shape (nnz,)
        Column ids; rows are sorted on construction, duplicates are an error.
    values : array_like of float, shape (nnz,)
        Finite weights, stored as float32 (a value beyond float32's range is an error).
    vocab_size : int, optional
        Vocabulary size; ids must be below it.
    tokens : sequence of str, optional
        One token string per entry, aligned with ``indices`` as given.

    Raises
    ------
    ShapeError
        Bad row pointers, lengths that differ, or a duplicate id in a row.
    OutOfRangeError
        A negative id, an id >= ``vocab_size`` (or >= 2**63, which int64 cannot
        hold), or a weight beyond float32 (in float64 or longdouble input).
    NonFiniteError
        A NaN or infinite weight.
    DTypeError
        Non-integer ids or non-numeric weights.

    Examples
    --------
    >>> b = SparseBatch([0, 2, 3], [7, 3, 5], [0.5, 2.0, 1.0], vocab_size=10)
    >>> b.indices.tolist(), b.values.tolist()       # row 0 sorted on construction
    ([3, 7, 5], [2.0, 0.5, 1.0])
    >>> len(b), b.nnz, b.shape
    (2, 3, (2, 10))
    """

    __slots__ = ("indptr", "indices", "values", "vocab_size", "tokens")

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    vocab_size: int | None
    tokens: tuple[str, ...] | None

    def __init__(
        self,
        indptr: Any,
        indices: Any,
        values: Any,
        *,
        vocab_size: int | None = None,
        tokens: Sequence[str] | None = None,
    ) -> None:
        vocab = _check_vocab(vocab_size)
        ptr = _int_array(indptr, "indptr", "row pointers")
        idx = _int_array(indices, "indices", check_int64=False)  # checked below, with the row
        val = as_array(values, "values")
        if val.ndim != 1:
            raise ShapeError(f"values: expected a 1-D array, got shape {val.shape}")
        if val.size and (val.dtype.kind not in "fiu"):
            raise DTypeError(f"values: expected real numbers, got dtype {val.dtype}")
        if not val.size:
            val = np.zeros(0, np.float32)  # an empty array of any dtype (a cast from complex would warn)
        if ptr.size == 0:
            raise ShapeError("indptr: expected n + 1 row pointers (at least [0]), got an empty array")
        if idx.shape[0] != val.shape[0]:
            raise ShapeError(
                f"indices, values: expected the same length, got {idx.shape[0]} indices and "
                f"{val.shape[0]} values"
            )
        nnz = idx.shape[0]
        ptr = np.ascontiguousarray(ptr, dtype=np.int64)
        bad = K.check_indptr(ptr, nnz)
        if bad >= 0:
            raise ShapeError(
                f"indptr: expected 0 first, non-decreasing pointers and {nnz} (the number of values) last; "
                f"entry {bad} is {int(ptr[bad])}" + (f" after {int(ptr[bad - 1])}" if bad else "")
            )
        # Weights: finite and inside float32 (float64 and longdouble can hold more).
        if val.dtype.kind == "f":
            wide = val if val.dtype.itemsize >= 4 else val.astype(np.float32)
            finite = np.isfinite(wide)
            if not finite.all():
                p = int(np.flatnonzero(~finite)[0])
                raise NonFiniteError(
                    f"values: expected finite weights, got {wide[p]} at entry {p} (row {_row_of(ptr, p)})"
                )
            if wide.dtype.itemsize > 4 and wide.size and np.abs(wide).max() > _F32_MAX:
                p = int(np.flatnonzero(np.abs(wide) > _F32_MAX)[0])
                raise OutOfRangeError(
                    f"values: weight {_float_text(wide[p])} at entry {p} is beyond float32's largest value "
                    f"{_F32_MAX:g}"
                )
        weights = np.ascontiguousarray(val, dtype=np.float32)
        # Ids: in range, then the narrowest of int32/int64 that holds them.
        if nnz and idx.dtype == np.uint64:
            # A cast to int64 would wrap ids >= 2**63 to negative ones; numpy compares uint64 exactly.
            wide = np.flatnonzero(idx >= (vocab if vocab is not None else _INT64_MAX + 1))
            if wide.size:
                p = int(wide[0])
                if vocab is not None:
                    raise _beyond_vocab(vocab, int(idx[p]), p, _row_of(ptr, p))
                raise OutOfRangeError(_beyond_int64("indices", "ids", int(idx[p]), p, _row_of(ptr, p)))
            idx = idx.astype(np.int64)
        if nnz:
            lo, hi = K.index_bounds(np.ascontiguousarray(idx))
            if lo < 0:
                p = int(np.flatnonzero(idx < 0)[0])
                raise OutOfRangeError(
                    f"indices: expected ids >= 0, got {int(idx[p])} at entry {p} (row {_row_of(ptr, p)})"
                )
            if vocab is not None and hi >= vocab:
                p = int(np.flatnonzero(idx >= vocab)[0])
                raise _beyond_vocab(vocab, int(idx[p]), p, _row_of(ptr, p))
            bound = vocab if vocab is not None else int(hi) + 1
        else:
            bound = vocab or 0
        ids = np.ascontiguousarray(idx, dtype=np.int32 if bound <= _INT32_LIMIT else np.int64)
        toks: tuple[str, ...] | None = None
        if tokens is not None:
            if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
                raise DTypeError(f"tokens: expected a sequence of str, got {describe(tokens)}")
            toks = tuple(tokens)
            if len(toks) != nnz:
                raise ShapeError(f"tokens: expected one token per entry ({nnz}), got {len(toks)}")
            for p, t in enumerate(toks):
                if not isinstance(t, str):
                    raise DTypeError(f"tokens[{p}]: expected str, got {describe(t)}")
            try:  # to_bytes writes UTF-8; JSON's "\ud800" escapes give lone surrogates it cannot write
                "".join(toks).encode("utf-8")
            except UnicodeEncodeError as exc:
                p = int(np.searchsorted(np.cumsum([len(t) for t in toks]), exc.start, side="right"))
                raise PayloadError(f"tokens[{p}]: expected Unicode text, got {short_repr(toks[p])} "
                                   "(a lone surrogate)") from None
        status, pos = K.check_rows(ptr, ids)
        if status == 1:
            order = np.empty(nnz, np.int64)
            K.sort_rows(ptr, ids, weights, order)
            ids = ids[order]
            weights = weights[order]
            if toks is not None:
                toks = tuple(toks[p] for p in order)
            status, pos = K.check_rows(ptr, ids)
        if status == 2:
            row = _row_of(ptr, pos)
            raise ShapeError(
                f"indices: duplicate id {int(ids[pos])} in row {row}; sum or drop duplicates before "
                "building the batch (there is no agreed way to merge them)"
            )
        # Kernels index with these arrays unchecked: never keep memory the caller can still write.
        self.indptr = _readonly(_private(ptr, indptr))
        self.indices = _readonly(_private(ids, indices))
        self.values = _readonly(_private(weights, values))
        self.vocab_size = vocab
        self.tokens = toks

    # ------------------------------------------------------------------ basics

    def __len__(self) -> int:
        return self.indptr.shape[0] - 1

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.indices.shape[0])

    @property
    def n_cols(self) -> int:
        """``vocab_size`` when known, else one past the largest id (0 for an empty batch)."""
        if self.vocab_size is not None:
            return self.vocab_size
        return int(K.index_bounds(self.indices)[1]) + 1

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)``."""
        return (len(self), self.n_cols)

    def row(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``(indices, values)`` of row ``i`` (read-only views).

        Examples
        --------
        >>> SparseBatch.from_dicts([{4: 1.0, 2: 0.5}]).row(0)
        (array([2, 4], dtype=int32), array([0.5, 1. ], dtype=float32))
        """
        n = len(self)
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise DTypeError(f"i: expected an integer row number, got {describe(i)}")
        if not -n <= i < n:
            raise OutOfRangeError(f"i: expected a row number in [{-n}, {n}), got {i}")
        i = int(i) % n
        a, b = int(self.indptr[i]), int(self.indptr[i + 1])
        return self.indices[a:b], self.values[a:b]

    def row_lengths(self) -> np.ndarray:
        """Number of entries of each row, int64."""
        return np.diff(self.indptr)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SparseBatch):
            return NotImplemented
        return (
            self.vocab_size == other.vocab_size
            and self.tokens == other.tokens
            and np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
            and np.array_equal(self.values, other.values)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        vocab = f", vocab_size={self.vocab_size}" if self.vocab_size is not None else ""
        toks = ", with tokens" if self.tokens is not None else ""
        return f"SparseBatch(n={len(self)}, nnz={self.nnz}{vocab}{toks})"

    def _with(self, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
              tokens: tuple[str, ...] | None) -> SparseBatch:
        """A new batch from arrays already known to be valid (no checks)."""
        out = object.__new__(SparseBatch)
        out.indptr = _readonly(np.ascontiguousarray(indptr, dtype=np.int64))
        out.indices = _readonly(np.ascontiguousarray(indices, dtype=self.indices.dtype))
        out.values = _readonly(np.ascontiguousarray(values, dtype=np.float32))
        out.vocab_size = self.vocab_size
        out.tokens = tokens
        return out

    # ------------------------------------------------------------------ dense

    @classmethod
    def from_dense(cls, matrix: Any) -> SparseBatch:
        """The non-zeros of a dense ``(n, vocab)`` matrix; ``vocab_size`` is its width.

        Examples
        --------
        >>> SparseBatch.from_dense([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]]).to_dicts()
        [{1: 1.5}, {0: 2.0}]
        """
        arr = as_array(matrix, "matrix")
        if arr.ndim != 2 or arr.shape[1] == 0:
            raise ShapeError(f"matrix: expected a 2-D (n, vocab) array, got shape {arr.shape}")
        if arr.dtype.kind not in "fiu":
            raise DTypeError(f"matrix: expected real numbers, got dtype {arr.dtype}")
        rows, cols = np.nonzero(arr)
        indptr = np.zeros(arr.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=arr.shape[0]), out=indptr[1:])
        return cls(indptr, cols, arr[rows, cols], vocab_size=arr.shape[1])

    def to_dense(self) -> np.ndarray:
        """A dense float32 ``(n, n_cols)`` matrix.

        Examples
        --------
        >>> SparseBatch.from_dicts([{1: 2.0}], vocab_size=3).to_dense()
        array([[0., 2., 0.]], dtype=float32)
        """
        out = np.zeros(self.shape, np.float32)
        rows = np.repeat(np.arange(len(self)), self.row_lengths())
        out[rows, self.indices] = self.values
        return out

    # ------------------------------------------------------------------ Python objects

    @classmethod
    def _from_rows(cls, rows: list[tuple[list[int], list[float]]], vocab_size: int | None,
                   tokens: list[str] | None = None) -> SparseBatch:
        lengths = np.fromiter((len(r[0]) for r in rows), np.int64, len(rows))
        indptr = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        flat_i = [i for r in rows for i in r[0]]
        flat_v = [v for r in rows for v in r[1]]
        try:
            indices = np.array(flat_i, dtype=np.int64) if flat_i else np.zeros(0, np.int64)
        except OverflowError:
            p = next(p for p, i in enumerate(flat_i) if not -_INT64_MAX - 1 <= i <= _INT64_MAX)
            raise OutOfRangeError(_beyond_int64("indices", "ids", flat_i[p], p, _row_of(indptr, p))) from None
        values = np.array(flat_v, dtype=np.float64) if flat_v else np.zeros(0, np.float32)
        return cls(indptr, indices, values, vocab_size=vocab_size, tokens=tokens)

    @classmethod
    def from_dicts(cls, rows: Iterable[Mapping[Any, Any]], *, vocab_size: int | None = None) -> SparseBatch:
        """From one ``{index: weight}`` dict per vector (Milvus, BGE-M3 ``lexical_weights``).

        Keys are integers, or strings of decimal digits as a JSON round trip leaves them.

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{3: 0.5, 1: 2}, {}, {"7": 1.0}])
        >>> b.to_dicts()
        [{1: 2.0, 3: 0.5}, {}, {7: 1.0}]
        """
        if isinstance(rows, Mapping):
            raise DTypeError("rows: expected a list of dicts (one per vector), got one dict; wrap it in [ ]")
        parsed = []
        for r, row in enumerate(_iter_rows(rows, "rows")):
            if not isinstance(row, Mapping):
                raise DTypeError(f"rows[{r}]: expected a dict {{index: weight}}, got {describe(row)}")
            keys = [_as_id(k, f"rows[{r}] key {short_repr(k, 40)}") for k in row]
            vals = [_as_weight(v, f"rows[{r}][{short_repr(k, 40)}]") for k, v in row.items()]
            parsed.append((keys, vals))
        return cls._from_rows(parsed, vocab_size)

    def to_dicts(self) -> list[dict[int, float]]:
        """One ``{index: weight}`` dict per vector, ids ascending (explicit zeros kept)."""
        ids = self.indices.tolist()
        vals = self.values.tolist()
        ptr = self.indptr.tolist()
        return [dict(zip(ids[ptr[i]:ptr[i + 1]], vals[ptr[i]:ptr[i + 1]], strict=True))
                for i in range(len(self))]

    @classmethod
    def from_pairs(cls, rows: Iterable[Any], *, vocab_size: int | None = None) -> SparseBatch:
        """From one ``(indices, values)`` pair per vector (Qdrant ``SparseVector``, Milvus, arrays).

        A pair may also be a mapping with ``"indices"`` and ``"values"`` keys
        (Qdrant's JSON) or an object with ``.indices`` and ``.values``.

        Examples
        --------
        >>> b = SparseBatch.from_pairs([([5, 1], [0.5, 2.0]), {"indices": [0], "values": [1.0]}])
        >>> [(i.tolist(), v.tolist()) for i, v in b.to_pairs()]
        [([1, 5], [2.0, 0.5]), ([0], [1.0])]
        """
        arrays_i: list[np.ndarray] = []
        arrays_v: list[np.ndarray] = []
        for r, pair in enumerate(_iter_rows(rows, "rows")):
            name = f"rows[{r}]"
            if isinstance(pair, Mapping):
                if "indices" not in pair or "values" not in pair:
                    raise PayloadError(
                        f"{name}: expected keys 'indices' and 'values', got {sorted(map(str, pair))}")
                ii, vv = pair["indices"], pair["values"]
            elif hasattr(pair, "indices") and hasattr(pair, "values") and not isinstance(pair, tuple):
                ii, vv = pair.indices, pair.values
            elif isinstance(pair, (tuple, list)) and len(pair) == 2:
                ii, vv = pair
            else:
                raise DTypeError(f"{name}: expected an (indices, values) pair, got {describe(pair)}")
            ia = _int_array(ii, f"{name} indices")
            va = as_array(vv, f"{name} values")
            if va.ndim != 1:
                raise ShapeError(f"{name} values: expected a 1-D array, got shape {va.shape}")
            if ia.shape[0] != va.shape[0]:
                raise ShapeError(
                    f"{name}: expected as many indices as values, got {ia.shape[0]} indices and "
                    f"{va.shape[0]} values"
                )
            if va.size and va.dtype.kind not in "fiu":
                raise DTypeError(f"{name} values: expected real numbers, got dtype {va.dtype}")
            arrays_i.append(ia.astype(np.int64, copy=False))  # _int_array refused uint64 beyond int64
            if not va.size:
                va = np.zeros(0, np.float32)  # an empty array of any dtype (a cast from complex would warn)
            # float32, float64 and longdouble as they are (the constructor checks their range), the rest float64
            arrays_v.append(va if va.dtype.kind == "f" and va.dtype.itemsize >= 4 else va.astype(np.float64))
        indptr = np.zeros(len(arrays_i) + 1, np.int64)
        np.cumsum([a.shape[0] for a in arrays_i], out=indptr[1:])
        indices = np.concatenate(arrays_i) if arrays_i else np.zeros(0, np.int64)
        values = np.concatenate(arrays_v) if arrays_v else np.zeros(0, np.float32)
        return cls(indptr, indices, values, vocab_size=vocab_size)

    def to_pairs(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """One ``(indices, values)`` pair of new arrays per vector (int64 ids, float32 weights)."""
        ids = self.indices.astype(np.int64)
        vals = self.values.copy()
        ptr = self.indptr
        return [(ids[ptr[i]:ptr[i + 1]], vals[ptr[i]:ptr[i + 1]]) for i in range(len(self))]

    @classmethod
    def from_dashscope(cls, rows: Iterable[Any], *, vocab_size: int | None = None) -> SparseBatch:
        """From DashScope ``sparse_embedding`` lists of ``{"index", "value", "token"}``.

        ``rows`` is a list with one ``sparse_embedding`` list per text, or the
        list of ``output.embeddings`` records that carry them.  Tokens are kept
        when every entry has one (all or none).

        Examples
        --------
        >>> rows = [[{"index": 7149, "value": 0.829, "token": "swift"},
        ...          {"index": 2490, "value": 0.8579, "token": "back"}]]
        >>> b = SparseBatch.from_dashscope(rows)
        >>> b.indices.tolist(), b.tokens
        ([2490, 7149], ('back', 'swift'))
        >>> b.to_dashscope()[0][0]
        {'index': 2490, 'value': 0.8579, 'token': 'back'}
        """
        parsed = []
        tokens: list[str] = []
        have_tokens: bool | None = None
        for r, row in enumerate(_iter_rows(rows, "rows")):
            if isinstance(row, Mapping) and "sparse_embedding" in row:
                row = row["sparse_embedding"]
            if isinstance(row, (str, bytes, Mapping)) or not isinstance(row, Sequence):
                raise PayloadError(f"rows[{r}]: expected a sparse_embedding list, got {describe(row)}")
            ids, vals = [], []
            for e, item in enumerate(row):
                name = f"rows[{r}][{e}]"
                if not isinstance(item, Mapping) or "index" not in item or "value" not in item:
                    raise PayloadError(f"{name}: expected {{'index': int, 'value': float, 'token': str}}, "
                                       f"got {short_repr(item, 80)}")
                ids.append(_as_id(item["index"], f"{name}['index']", allow_str=False))
                vals.append(_as_weight(item["value"], f"{name}['value']"))
                has = "token" in item
                if have_tokens is None:
                    have_tokens = has
                elif has != have_tokens:
                    raise PayloadError(f"{name}: 'token' must be on every entry or on none")
                if has:
                    tok = item["token"]
                    if not isinstance(tok, str):
                        raise PayloadError(f"{name}['token']: expected str, got {describe(tok)}")
                    tokens.append(tok)
            parsed.append((ids, vals))
        return cls._from_rows(parsed, vocab_size, tokens if have_tokens else None)

    def to_dashscope(self) -> list[list[dict[str, Any]]]:
        """DashScope-style ``sparse_embedding`` lists, ids ascending (``token`` when known)."""
        ids = self.indices.tolist()
        vals = self.values.tolist()
        ptr = self.indptr.tolist()
        out = []
        for i in range(len(self)):
            row = []
            for p in range(ptr[i], ptr[i + 1]):
                item: dict[str, Any] = {"index": ids[p], "value": _short(vals[p])}
                if self.tokens is not None:
                    item["token"] = self.tokens[p]
                row.append(item)
            out.append(row)
        return out

    # ------------------------------------------------------------------ scipy

    @classmethod
    def from_scipy(cls, matrix: Any) -> SparseBatch:
        """From a ``scipy.sparse`` matrix or array (csr, csc, coo; others via ``tocsr``).

        Duplicate entries are an error (scipy would sum them); ``vocab_size``
        is the number of columns.

        Examples
        --------
        >>> import scipy.sparse as sp
        >>> m = sp.csr_array(([1.0, 2.0], [2, 0], [0, 1, 2]), shape=(2, 4))
        >>> SparseBatch.from_scipy(m).to_dicts()
        [{2: 1.0}, {0: 2.0}]
        >>> SparseBatch.from_scipy(m.tocoo()) == SparseBatch.from_scipy(m.tocsc())
        True
        """
        import scipy.sparse as sp

        if not sp.issparse(matrix):
            raise DTypeError(f"matrix: expected a scipy.sparse matrix or array, got {describe(matrix)}")
        if matrix.ndim != 2:
            raise ShapeError(f"matrix: expected a 2-D sparse matrix, got {matrix.ndim}-D")
        n, vocab = matrix.shape
        fmt = matrix.format
        if fmt == "csr":
            return cls(matrix.indptr, matrix.indices, matrix.data, vocab_size=vocab)
        if fmt == "csc":
            col_ptr = np.ascontiguousarray(matrix.indptr, dtype=np.int64)
            bad = K.check_indptr(col_ptr, matrix.indices.shape[0])
            if bad >= 0 or matrix.indices.shape[0] != matrix.data.shape[0]:
                raise ShapeError("matrix: the csc matrix has inconsistent indptr/indices/data")
            data = np.ascontiguousarray(matrix.data)
            if data.dtype.kind not in "fiu":
                raise DTypeError(f"matrix: expected real numbers, got dtype {data.dtype}")
            rows = np.ascontiguousarray(matrix.indices)
            if rows.size and (rows.min() < 0 or rows.max() >= n):
                raise OutOfRangeError("matrix: a csc row index is outside the matrix")
            indptr = np.empty(n + 1, np.int64)
            indices = np.empty(rows.shape[0], np.int64)
            order = np.empty(rows.shape[0], np.int64)
            # Transpose the positions, not the data: the kernel cannot read every dtype (longdouble).
            K.transpose(col_ptr, rows, np.arange(rows.shape[0], dtype=np.int64), n, indptr, indices, order)
            return cls(indptr, indices, data[order], vocab_size=vocab)
        if fmt == "coo":
            rows, cols = np.asarray(matrix.row), np.asarray(matrix.col)
            if rows.size and (rows.min() < 0 or rows.max() >= n):
                raise OutOfRangeError("matrix: a coo row index is outside the matrix")
            order = np.lexsort((cols, rows))
            indptr = np.zeros(n + 1, np.int64)
            np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
            return cls(indptr, cols[order], np.asarray(matrix.data)[order], vocab_size=vocab)
        return cls.from_scipy(matrix.tocsr())

    def to_scipy(self, format: Literal["csr", "csc", "coo"] = "csr") -> Any:
        """A ``scipy.sparse`` array (``csr_array``, ``csc_array`` or ``coo_array``) of shape ``self.shape``.

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{2: 1.0}, {0: 2.0}], vocab_size=4)
        >>> b.to_scipy("csc").toarray()
        array([[0., 0., 1., 0.],
               [2., 0., 0., 0.]], dtype=float32)
        """
        import scipy.sparse as sp

        if format not in ("csr", "csc", "coo"):
            raise ConfigError(f"format: expected 'csr', 'csc' or 'coo', got {format!r}")
        m = sp.csr_array((self.values.copy(), self.indices.copy(), self.indptr.copy()), shape=self.shape)
        m.has_sorted_indices = True
        return m if format == "csr" else m.asformat(format)

    # ------------------------------------------------------------------ pgvector

    @classmethod
    def from_pgvector(cls, values: Any, *, vocab_size: int | None = None) -> SparseBatch:
        """From pgvector ``sparsevec`` values, as psycopg returns them.

        ``values`` is one value or a list of them, each ``sparsevec`` text ``{1:0.5,3:2}/30000`` (1-based
        ids, zeros dropped; what psycopg returns without adapters), a ``pgvector.SparseVector`` (what it
        returns after ``pgvector.psycopg.register_vector``) or the bytes of the binary form (binary
        cursors, COPY BINARY).  Every value must have the same dimension, which becomes ``vocab_size``;
        ``vocab_size=`` checks it.

        Raises
        ------
        PayloadError
            Text that is not ``{i:v,...}/dim``, dimensions that differ, a malformed binary value.
        OutOfRangeError
            An id below 1 or above the dimension.

        Examples
        --------
        >>> b = SparseBatch.from_pgvector(["{1:0.5,3:2}/5", "{}/5", "{5:0,2:1.5}/5"])
        >>> b.to_dicts(), b.vocab_size
        ([{0: 0.5, 2: 2.0}, {}, {1: 1.5}], 5)
        >>> b.to_pgvector()
        ['{1:0.5,3:2}/5', '{}/5', '{2:1.5}/5']
        """
        if not isinstance(values, (str, bytes, bytearray, memoryview, Mapping)) and isinstance(values, Iterable):
            values = list(values)
        one = values[0] if isinstance(values, list) and values else values
        if isinstance(one, (bytes, bytearray, memoryview)) or type(one).__module__.split(".")[0] == "pgvector":
            from .stores.pgvector import from_pgvector

            batch = from_pgvector(values, "sparsevec")
        else:
            batch = cls._from_pgvector_text(values)
        if vocab_size is not None and batch.vocab_size != vocab_size:
            raise ShapeError(f"vocab_size: expected sparsevec dimension {vocab_size}, the values have "
                             f"{batch.vocab_size}")
        return batch

    @classmethod
    def _from_pgvector_text(cls, texts: str | Iterable[str]) -> SparseBatch:
        if isinstance(texts, str):
            texts = [texts]
        parsed = []
        dim: int | None = None
        for r, text in enumerate(_iter_rows(texts, "texts")):
            name = f"texts[{r}]"
            if not isinstance(text, str):
                raise DTypeError(f"{name}: expected pgvector sparsevec text, got {describe(text)}")
            m = _PG_RE.fullmatch(text)
            if m is None:
                raise PayloadError(
                    f"{name}: expected sparsevec text like '{{1:0.5,3:2}}/30000', got {short_repr(text, 80)}")
            d = _parse_int(m.group(2), f"{name} dimension")
            if d < 1:
                raise PayloadError(f"{name}: the dimension must be at least 1, got {d}")
            if dim is None:
                dim = d
            elif d != dim:
                raise PayloadError(f"{name}: every text must have the same dimension; "
                                   f"texts[0] has {dim}, this one {d}")
            ids, vals = [], []
            body = m.group(1).strip()
            if body:
                for e, elem in enumerate(body.split(",")):
                    em = _PG_ELEM_RE.fullmatch(elem)
                    if em is None:
                        raise PayloadError(f"{name}: element {e} {elem.strip()!r} is not 'index:value'")
                    i = _parse_int(em.group(1), f"{name} element {e} index")
                    if not 1 <= i <= d:
                        raise OutOfRangeError(f"{name}: element {e} has index {i}; sparsevec indices run "
                                              f"from 1 to the dimension {d}")
                    v = float(em.group(2))
                    if abs(v) > _F32_UNDERFLOW or v != v:  # pgvector stores float32 and drops zeros (NaN kept)
                        ids.append(i - 1)
                        vals.append(v)
            parsed.append((ids, vals))
        return cls._from_rows(parsed, dim)

    def to_pgvector(self, *, vocab_size: int | None = None) -> list[str]:
        """pgvector ``sparsevec`` text per vector (1-based ids, zero weights dropped).

        Weights are written in the shortest form that reads back as the same float32.  The sparsevec
        dimension is ``vocab_size=`` when given, else the batch's ``vocab_size``, else (providers do not
        state one) the largest index + 1, or 1 for a batch without entries.  pgvector's limits hold:
        a dimension of at most 1,000,000,000 and at most 16,000 non-zero entries per vector.

        Examples
        --------
        >>> SparseBatch.from_dicts([{4: 0.5}, {}]).to_pgvector()
        ['{5:0.5}/5', '{}/5']
        >>> SparseBatch.from_dicts([{4: 0.5}]).to_pgvector(vocab_size=250002)
        ['{5:0.5}/250002']
        """
        from .stores.pgvector._types import _sparse_dim

        dim = _sparse_dim(self, "batch", vocab_size)
        ids = (self.indices.astype(np.int64) + 1).tolist()
        vals = [_short(v) for v in self.values.tolist()]
        ptr = self.indptr.tolist()
        out = []
        for i in range(len(self)):
            elems = ",".join(f"{ids[p]}:{_pg_number(vals[p])}"
                             for p in range(ptr[i], ptr[i + 1]) if vals[p] != 0)
            out.append(f"{{{elems}}}/{dim}")
        return out

    # ------------------------------------------------------------------ pruning

    def prune(
        self,
        *,
        top_k: int | None = None,
        threshold: float | None = None,
        mass: float | None = None,
    ) -> SparseBatch:
        """Keep the largest weights of each vector (by magnitude ``|w|``).

        Entries are ranked by ``|w|`` descending, ties to the lower id, and each
        row keeps the shortest prefix of that ranking that every given
        criterion allows:

        top_k : int >= 0
            at most ``top_k`` entries;
        threshold : float >= 0
            only entries with ``|w| > threshold``;
        mass : float in (0, 1]
            the fewest entries whose ``|w|`` add up to at least ``mass`` times
            the row's L1 mass (``sum |w|``, summed in float64).

        The kept entries stay in id order, with their tokens.

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{0: 0.1, 1: 3.0, 2: 1.0, 3: 2.0}])
        >>> b.prune(top_k=2).to_dicts()
        [{1: 3.0, 3: 2.0}]
        >>> b.prune(threshold=0.5).to_dicts()
        [{1: 3.0, 2: 1.0, 3: 2.0}]
        >>> b.prune(mass=0.8).to_dicts()       # L1 mass 6.1: 3 + 2 = 5 >= 0.8 * 6.1
        [{1: 3.0, 3: 2.0}]
        >>> b.prune(mass=0.9).to_dicts()       # 5 < 0.9 * 6.1 = 5.49 <= 3 + 2 + 1
        [{1: 3.0, 2: 1.0, 3: 2.0}]
        """
        if top_k is None and threshold is None and mass is None:
            raise ConfigError("top_k, threshold, mass: give at least one pruning criterion")
        k = -1
        if top_k is not None:
            if isinstance(top_k, (bool, np.bool_)) or not isinstance(top_k, (int, np.integer)):
                raise DTypeError(f"top_k: expected a non-negative integer, got {describe(top_k)}")
            if top_k < 0:
                raise OutOfRangeError(f"top_k: expected a non-negative integer, got {top_k}")
            k = int(top_k)
        t = -1.0
        if threshold is not None:
            t = _as_weight(threshold, "threshold")
            if t < 0:
                raise OutOfRangeError(f"threshold: expected a finite number >= 0, got {threshold}")
        f = -1.0
        if mass is not None:
            f = _as_weight(mass, "mass")
            if not 0 < f <= 1:
                raise OutOfRangeError(f"mass: expected a fraction in (0, 1], got {mass}")
        keep = np.empty(self.nnz, np.bool_)
        counts = K.prune_counts(self.indptr, self.indices, self.values, k, np.float32(t) if t >= 0 else -1.0,
                                f, keep)
        indptr = np.zeros(len(self) + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        tokens = None
        if self.tokens is not None:
            tokens = tuple(t for t, kp in zip(self.tokens, keep.tolist(), strict=True) if kp)
        return self._with(indptr, self.indices[keep], self.values[keep], tokens)

    # ------------------------------------------------------------------ bytes

    def to_bytes(self, *, weights: Weights = "float32") -> bytes:
        """A compact, self-describing binary form; :meth:`from_bytes` reads it back.

        Layout (little-endian): a 40-byte header (magic ``b"QLSP"``, format
        version u16, weight code u8, id width u8 (4 or 8), flags u32,
        n_rows u64, nnz u64, vocab_size u64 (0 if unknown), and a u32 CRC-32
        (``zlib.crc32``) of every other byte of the message: the header's first
        36 bytes, then the body), then ``indptr`` (int64), the ids, the
        weights, and the tokens when present (u32 UTF-8 lengths, then the bytes).
        This is format version 2; version 1, written by quantlib 0.1 with 0 in
        place of the checksum, is still read.

        Parameters
        ----------
        weights : {"float32", "float16", "uint8"}
            ``"float32"`` is lossless.  ``"float16"`` rounds each weight to
            nearest: relative error at most 2**-11 for ``|w| >= 2**-14``, absolute
            error at most 2**-25 below; ``|w| > 65504`` is an OutOfRangeError.
            ``"uint8"`` needs weights >= 0 and stores ``rint(w / s)`` with one
            float32 scale ``s = max(w) / 255`` per row: absolute error at most
            ``s / 2`` (plus float32 rounding), and weights below ``s / 2``
            become explicit zeros.

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{1: 0.5, 9: 2.0}], vocab_size=10)
        >>> data = b.to_bytes(weights="float16")
        >>> len(data), data[:4]
        (68, b'QLSP')
        >>> SparseBatch.from_bytes(data) == b
        True
        """
        if weights not in _WEIGHT_CODES:
            raise ConfigError(f"weights: expected one of {', '.join(_WEIGHT_CODES)}, got {weights!r}")
        n = len(self)
        width = self.indices.dtype.itemsize
        flags = ((_FLAG_VOCAB if self.vocab_size is not None else 0)
                 | (_FLAG_TOKENS if self.tokens is not None else 0))
        parts = [
            _HEADER.pack(MAGIC, FORMAT_VERSION, _WEIGHT_CODES[weights], width, flags, n, self.nnz,
                         self.vocab_size or 0, 0)[:_CRC_AT],
            _le(self.indptr, "<i8"),
            _le(self.indices, f"<i{width}"),
        ]
        if weights == "float32":
            parts.append(_le(self.values, "<f4"))
        elif weights == "float16":
            with np.errstate(over="ignore"):
                half = self.values.astype(np.float16)
            if not np.isfinite(half).all():
                p = int(np.flatnonzero(~np.isfinite(half))[0])
                raise OutOfRangeError(f"values: weight {float(self.values[p])!r} at entry {p} is beyond "
                                      "float16's largest value 65504; use weights='float32'")
            parts.append(_le(half, "<f2"))
        else:
            if self.nnz and self.values.min() < 0:
                p = int(np.flatnonzero(self.values < 0)[0])
                raise OutOfRangeError(f"values: weights='uint8' needs weights >= 0, got "
                                      f"{float(self.values[p])!r} at entry {p}; use weights='float16' for "
                                      "signed weights")
            codes = np.empty(self.nnz, np.uint8)
            scales = np.empty(n, np.float32)
            K.quantize_u8(self.indptr, self.values, codes, scales)
            parts += [codes.tobytes(), _le(scales, "<f4")]
        if self.tokens is not None:
            encoded = [t.encode("utf-8") for t in self.tokens]
            parts += [_le(np.array([len(e) for e in encoded], np.uint32), "<u4"), b"".join(encoded)]
        crc = 0
        for part in parts:
            crc = zlib.crc32(part, crc)
        return b"".join([parts[0], struct.pack("<I", crc), *parts[1:]])

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> SparseBatch:
        """Read :meth:`to_bytes` output (any weight format; weights come back as float32).

        Raises
        ------
        PayloadError
            Wrong magic, a newer format version, a length that does not match
            the header (a truncated message), or bytes that do not match the
            checksum (a corrupted one).
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise DTypeError(f"data: expected bytes, got {describe(data)}")
        buf = bytes(data)
        if len(buf) < _HEADER.size:
            raise PayloadError(
                f"data: expected at least the {_HEADER.size}-byte header, got {len(buf)} bytes")
        magic, version, wcode, width, flags, n, nnz, vocab, stored_crc = _HEADER.unpack_from(buf)
        if magic != MAGIC:
            raise PayloadError(f"data: expected magic {MAGIC!r} (quantlib sparse batch), got {magic!r}")
        if version not in _READS:
            raise PayloadError(
                f"data: format version {version} is not one this quantlib reads "
                f"({', '.join(map(str, _READS))})")
        if version == 1 and stored_crc != 0:
            raise PayloadError(f"data: version 1 keeps 0 in the header's last 4 bytes, got {stored_crc:#010x}; "
                               "the header is corrupt")
        known_flags = _FLAG_VOCAB | _FLAG_TOKENS
        if wcode not in _WEIGHT_CODES.values() or width not in (4, 8) or flags & ~known_flags:
            raise PayloadError(f"data: bad header (weight code {wcode}, id width {width}, flags {flags})")
        wbytes = {0: 4, 1: 2, 2: 1}[wcode]
        fixed = _HEADER.size + 8 * (n + 1) + nnz * (width + wbytes) + (4 * n if wcode == 2 else 0)
        if flags & _FLAG_TOKENS:
            fixed += 4 * nnz
        if len(buf) < fixed:
            raise PayloadError(f"data: the header announces {n} rows and {nnz} entries ({fixed}+ bytes), "
                               f"got {len(buf)} bytes")
        if version >= 2:
            view = memoryview(buf)
            crc = zlib.crc32(view[_HEADER.size:], zlib.crc32(view[:_CRC_AT]))
            if crc != stored_crc:
                raise PayloadError(f"data: the checksum says {stored_crc:#010x}, the bytes give {crc:#010x}; "
                                   "the message is corrupt")
        off = _HEADER.size
        indptr = np.frombuffer(buf, "<i8", n + 1, off)
        off += 8 * (n + 1)
        indices = np.frombuffer(buf, f"<i{width}", nnz, off)
        off += width * nnz
        if wcode == 0:
            values = np.frombuffer(buf, "<f4", nnz, off)
            off += 4 * nnz
        elif wcode == 1:
            values = np.frombuffer(buf, "<f2", nnz, off).astype(np.float32)
            off += 2 * nnz
        else:
            codes = np.frombuffer(buf, np.uint8, nnz, off)
            off += nnz
            scales = np.frombuffer(buf, "<f4", n, off).astype(np.float32)
            off += 4 * n
            bad = K.check_indptr(indptr.astype(np.int64), nnz)
            if bad >= 0:
                raise ShapeError(f"data: row pointers are corrupt at entry {bad}")
            values = np.empty(nnz, np.float32)
            K.dequantize_u8(indptr.astype(np.int64), codes, scales, values)
        tokens = None
        if flags & _FLAG_TOKENS:
            lengths = np.frombuffer(buf, "<u4", nnz, off).astype(np.int64)
            off += 4 * nnz
            ends = np.cumsum(lengths)
            if off + (int(ends[-1]) if nnz else 0) != len(buf):
                raise PayloadError(f"data: token bytes do not match their lengths ({len(buf)} bytes in all)")
            starts = ends - lengths
            try:
                tokens = [buf[off + s:off + e].decode("utf-8") for s, e in zip(starts.tolist(), ends.tolist(),
                                                                               strict=True)]
            except UnicodeDecodeError as exc:
                raise PayloadError(f"data: a token is not valid UTF-8 ({exc})") from None
            off = len(buf)
        if off != len(buf):
            raise PayloadError(f"data: expected {off} bytes for {n} rows and {nnz} entries, got {len(buf)}")
        return cls(_native(indptr), _native(indices), _native(values),
                   vocab_size=vocab if flags & _FLAG_VOCAB else None, tokens=tokens)

    def to_base64(self, *, weights: Weights = "float32") -> str:
        """:meth:`to_bytes` as base64 text (standard alphabet, padded).

        Examples
        --------
        >>> b = SparseBatch.from_dicts([{2: 1.0}])
        >>> SparseBatch.from_base64(b.to_base64()) == b
        True
        """
        return binascii.b2a_base64(self.to_bytes(weights=weights), newline=False).decode("ascii")

    @classmethod
    def from_base64(cls, text: str | bytes) -> SparseBatch:
        """Read :meth:`to_base64` output."""
        if not isinstance(text, (str, bytes)):
            raise DTypeError(f"text: expected base64 str or bytes, got {describe(text)}")
        try:
            raw = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError) as exc:
            raise Base64DecodeError(f"text: invalid base64 ({exc})") from None
        return cls.from_bytes(raw)


# ---------------------------------------------------------------------- helpers

# One way to match each number (\d+(?:\.\d*)? rather than \d+\.?\d*): an ambiguous pattern backtracks
# quadratically on a long run of digits that fails to match (3000 digits took 0.4 s).
_NUM = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?i:nan|inf|infinity)"
_PG_RE = re.compile(r"\s*\{(.*)\}\s*/\s*([+-]?\d+)\s*", re.DOTALL)
_PG_ELEM_RE = re.compile(rf"\s*([+-]?\d+)\s*:\s*({_NUM})\s*")
#: A decimal integer as a JSON round trip leaves a dict key: what int() reads (not "+-5", not "²").
_DECIMAL_RE = re.compile(r"\s*[+-]?\d+\s*")


def _iter_rows(rows: Any, name: str) -> Iterable[Any]:
    if isinstance(rows, (str, bytes, Mapping)) or not isinstance(rows, Iterable):
        raise DTypeError(f"{name}: expected a list with one item per vector, got {describe(rows)}")
    return rows


def _row_of(indptr: np.ndarray, p: int) -> int:
    return int(np.searchsorted(indptr, p, side="right") - 1)


def _as_id(key: Any, name: str, *, allow_str: bool = True) -> int:
    if isinstance(key, (bool, np.bool_)):
        raise DTypeError(f"{name}: expected an integer id, got bool")
    if isinstance(key, (int, np.integer)):
        return int(key)
    if allow_str and isinstance(key, str) and _DECIMAL_RE.fullmatch(key):
        return _parse_int(key, name)
    raise DTypeError(f"{name}: expected an integer id, got {describe(key)} {short_repr(key, 40)}")


def _parse_int(text: str, name: str) -> int:
    """``int(text)`` for text already known to be decimal digits; too many digits is an OutOfRangeError."""
    try:
        return int(text)
    except ValueError:  # beyond int()'s 4300-digit limit, and far beyond any id
        digits = text.strip()
        raise OutOfRangeError(f"{name}: {digits[:12]}... ({len(digits)} digits) does not fit in 64 bits") from None


def _as_weight(value: Any, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DTypeError(f"{name}: expected a number, got {describe(value)}")
    try:
        v = float(value)
    except OverflowError:  # an integer beyond float64
        raise OutOfRangeError(f"{name}: an integer of {int(value).bit_length()} bits is beyond float32's largest "
                              f"value {_F32_MAX:g}") from None
    if not np.isfinite(v):
        if isinstance(value, np.floating) and np.isfinite(value):  # a longdouble beyond float64
            raise OutOfRangeError(f"{name}: {value!s} is beyond float32's largest value {_F32_MAX:g}")
        raise NonFiniteError(f"{name}: expected a finite number, got {v}")
    return v


def _float_text(v: Any) -> str:
    """A finite float (float64 or longdouble) for a message: ``repr(float(v))``, or numpy's text beyond float64."""
    f = float(v)
    return repr(f) if np.isfinite(f) else str(v)


def _short(v: float) -> float:
    """The float with the shortest decimal form that reads back as the same float32 as ``v``."""
    return float(str(np.float32(v)))


def _pg_number(v: float) -> str:
    """pgvector's way of writing a weight: ``2`` rather than ``2.0``."""
    text = str(v)
    return text[:-2] if text.endswith(".0") else text


def _le(arr: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(arr, dtype=np.dtype(dtype)).tobytes()


def _native(arr: np.ndarray) -> np.ndarray:
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


# The scoring module (quantlib._sparse_search) imports the batch from here.
from ._sparse_search import SparseIndex, hybrid_scores, sparse_cosine, sparse_dot, sparse_search  # noqa: E402
