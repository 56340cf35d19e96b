""":class:`quantlib.SparseBatch` from and to Python objects (dicts, pairs, DashScope lists) and scipy.sparse."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._kernels import sparse as K
from ._sparse_checks import (
    _INT64_MAX,
    _as_id,
    _as_weight,
    _beyond_int64,
    _int_array,
    _iter_rows,
    _row_of,
)
from ._validation import as_array, describe
from .errors import DTypeError, OutOfRangeError, PayloadError, ShapeError, short_repr

if TYPE_CHECKING:
    from .sparse import SparseBatch


def from_rows(cls: type[SparseBatch], rows: list[tuple[list[int], list[float]]], vocab_size: int | None,
              tokens: list[str] | None = None) -> SparseBatch:
    """A batch from one (ids, weights) pair of lists per row, already read from Python objects."""
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


def from_dicts(cls: type[SparseBatch], rows: Iterable[Mapping[Any, Any]], vocab_size: int | None) -> SparseBatch:
    """:meth:`SparseBatch.from_dicts`."""
    if isinstance(rows, Mapping):
        raise DTypeError("rows: expected a list of dicts (one per vector), got one dict; wrap it in [ ]")
    parsed = []
    for r, row in enumerate(_iter_rows(rows, "rows")):
        if not isinstance(row, Mapping):
            raise DTypeError(f"rows[{r}]: expected a dict {{index: weight}}, got {describe(row)}")
        keys = [_as_id(k, f"rows[{r}] key {short_repr(k, 40)}") for k in row]
        vals = [_as_weight(v, f"rows[{r}][{short_repr(k, 40)}]") for k, v in row.items()]
        parsed.append((keys, vals))
    return from_rows(cls, parsed, vocab_size)


def from_pairs(cls: type[SparseBatch], rows: Iterable[Any], vocab_size: int | None) -> SparseBatch:
    """:meth:`SparseBatch.from_pairs`."""
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


def from_dashscope(cls: type[SparseBatch], rows: Iterable[Any], vocab_size: int | None) -> SparseBatch:
    """:meth:`SparseBatch.from_dashscope`."""
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
    return from_rows(cls, parsed, vocab_size, tokens if have_tokens else None)


def to_dashscope(batch: SparseBatch) -> list[list[dict[str, Any]]]:
    """:meth:`SparseBatch.to_dashscope`."""
    ids = batch.indices.tolist()
    vals = batch.values.tolist()
    ptr = batch.indptr.tolist()
    out = []
    for i in range(len(batch)):
        row = []
        for p in range(ptr[i], ptr[i + 1]):
            item: dict[str, Any] = {"index": ids[p], "value": _short(vals[p])}
            if batch.tokens is not None:
                item["token"] = batch.tokens[p]
            row.append(item)
        out.append(row)
    return out


def from_scipy(cls: type[SparseBatch], matrix: Any) -> SparseBatch:
    """:meth:`SparseBatch.from_scipy`."""
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


def _short(v: float) -> float:
    """The float with the shortest decimal form that reads back as the same float32 as ``v``."""
    return float(str(np.float32(v)))
