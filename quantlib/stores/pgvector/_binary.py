"""pgvector's binary send/receive forms (binary cursors, COPY BINARY fields), all big-endian."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from ..._validation import describe
from ...codecs.binary import UBINARY
from ...errors import DTypeError, NonFiniteError, PayloadError, ShapeError
from ._types import SPARSEVEC_MAX_DIM, _check_type, _limit, _nonzero_rows, _same_dim, _sparse, _sparse_dim

# ---------------------------------------------------------------------------------------------- binary

def _u8(arr: np.ndarray, dtype: str) -> np.ndarray:
    """``arr`` (m, k) cast to the big-endian ``dtype`` and viewed as bytes (m, k * itemsize)."""
    big = np.ascontiguousarray(arr, dtype=np.dtype(dtype))
    return big.view(np.uint8).reshape(big.shape[0], -1)


def _dense_header(type: str, d: int) -> bytes:
    """vector and halfvec: int16 dimension, int16 0."""
    return struct.pack(">HH", d, 0)


def to_binary(x: Any, type: str, *, dim: int | None = None) -> list[bytes]:
    """pgvector's binary (send/receive) form of each row, the bytes of one field of COPY BINARY.

    Examples
    --------
    >>> import numpy as np
    >>> from quantlib.stores import pgvector as pg
    >>> pg.to_binary(np.array([[1.0, 2.5]], np.float32), "vector")[0].hex()
    '000200003f80000040200000'
    >>> pg.to_binary(np.array([[0b10100000]], np.uint8), "bit", dim=3)[0].hex()
    '00000003a0'
    """
    type = _check_type(type)
    if type == "sparsevec":
        batch = _sparse(x, "x")
        d = _sparse_dim(batch, "x", dim)
        return [_sparse_binary(ids, vals, d) for ids, vals in _nonzero_rows(batch)]
    from ._copy import _Column  # COPY's column writer makes the same fields

    col = _Column(x, type if dim is None else f"{type}({int(dim)})", "x")
    return [row[4:].tobytes() for row in col.records(0, col.n)]


def _sparse_binary(ids: np.ndarray, vals: np.ndarray, d: int) -> bytes:
    return (struct.pack(">iii", d, ids.size, 0) + ids.astype(">i4").tobytes() + vals.astype(">f4").tobytes())


def _as_bytes_list(values: Any, name: str) -> list[bytes]:
    if isinstance(values, (bytes, bytearray, memoryview)):
        values = [values]
    if isinstance(values, (str, dict)) or not isinstance(values, Iterable):
        raise DTypeError(f"{name}: expected bytes or a list of bytes, got {describe(values)}")
    out = []
    for i, v in enumerate(values):
        if not isinstance(v, (bytes, bytearray, memoryview)):
            raise DTypeError(f"{name}[{i}]: expected bytes (a binary pgvector value), got {describe(v)}")
        out.append(bytes(v))
    return out


def from_binary(values: Any, type: str) -> Any:
    """Rows from pgvector's binary form (bytes per value, as binary cursors and COPY BINARY carry them).

    Examples
    --------
    >>> from quantlib.stores import pgvector as pg
    >>> pg.from_binary([bytes.fromhex("000200003f80000040200000")], "vector")
    array([[1. , 2.5]], dtype=float32)
    """
    type = _check_type(type)
    rows = _as_bytes_list(values, "values")
    if not rows:
        raise ShapeError("values: expected at least one value")
    if type == "sparsevec":
        return _sparse_from_binary(rows, "values")
    size = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != size:
            raise ShapeError(f"values[{i}]: every value must have the same size; values[0] has {size} bytes, "
                             f"this one {len(r)}")
    block = np.frombuffer(b"".join(rows), np.uint8).reshape(len(rows), size)
    return _decode_block(block, type, "values")


def _decode_block(block: np.ndarray, type: str, name: str) -> np.ndarray:
    """Fixed-width binary values (n, k) uint8 of one type back to quantlib's array."""
    n, k = block.shape
    if type in ("vector", "halfvec"):
        item = 4 if type == "vector" else 2
        if k < 4:
            raise PayloadError(f"{name}: a binary {type} has at least 4 bytes, got {k}")
        head = np.ascontiguousarray(block[:, :4]).view(">u2")
        d = int(head[0, 0])
        if (head[:, 0] != d).any() or k != 4 + item * d:
            r = int(np.flatnonzero(head[:, 0] != d)[0]) if (head[:, 0] != d).any() else 0
            raise PayloadError(f"{name}[{r}]: a binary {type} of {int(head[r, 0])} dimensions has "
                               f"{4 + item * int(head[r, 0])} bytes, got {k}")
        if (head[:, 1] != 0).any():
            r = int(np.flatnonzero(head[:, 1])[0])
            raise PayloadError(f"{name}[{r}]: the unused field of a binary {type} must be 0, got {int(head[r, 1])}")
        if d < 1:
            raise PayloadError(f"{name}: a {type} has at least 1 dimension, got 0")
        if d > _limit(type):
            raise PayloadError(f"{name}: a {type} has at most {_limit(type)} dimensions, got {d}")
        out = np.ascontiguousarray(block[:, 4:]).view(">f4" if item == 4 else ">f2").astype(
            np.float32 if item == 4 else np.float16)
        if not np.isfinite(out).all():
            at = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
            raise NonFiniteError(f"{name}[{at[0]}]: {type} holds no NaN or infinity, got {out[at]} at index {at[1]}")
        return out
    if k < 4:
        raise PayloadError(f"{name}: a binary bit value has at least 4 bytes, got {k}")
    lengths = np.ascontiguousarray(block[:, :4]).view(">i4")[:, 0]
    d = int(lengths[0])
    if (lengths != d).any() or d < 1 or k != 4 + UBINARY.width(d):
        r = int(np.flatnonzero(lengths != d)[0]) if (lengths != d).any() else 0
        raise PayloadError(f"{name}[{r}]: a binary bit value of {int(lengths[r])} bits has "
                           f"{4 + UBINARY.width(max(int(lengths[r]), 0))} bytes, got {k}")
    return np.ascontiguousarray(block[:, 4:])


def _sparse_from_binary(rows: Sequence[bytes], name: str) -> Any:

    parsed, dim = [], None
    for r, raw in enumerate(rows):
        if len(raw) < 12:
            raise PayloadError(f"{name}[{r}]: a binary sparsevec has at least 12 bytes, got {len(raw)}")
        d, nnz, unused = struct.unpack_from(">iii", raw)
        if nnz < 0 or len(raw) != 12 + 8 * nnz:
            raise PayloadError(f"{name}[{r}]: a binary sparsevec of {nnz} entries has {12 + 8 * max(nnz, 0)} "
                               f"bytes, got {len(raw)}")
        if unused != 0:
            raise PayloadError(f"{name}[{r}]: the unused field of a binary sparsevec must be 0, got {unused}")
        if not 1 <= d <= SPARSEVEC_MAX_DIM:
            raise PayloadError(f"{name}[{r}]: a sparsevec dimension runs from 1 to {SPARSEVEC_MAX_DIM}, got {d}")
        dim = _same_dim(dim, d, f"{name}[{r}]", f"{name}[0]", ShapeError)
        ids = np.frombuffer(raw, ">i4", nnz, 12).astype(np.int64)
        vals = np.frombuffer(raw, ">f4", nnz, 12 + 4 * nnz).astype(np.float32)
        if ids.size and (ids.min() < 0 or ids.max() >= d):
            raise PayloadError(f"{name}[{r}]: sparsevec indices run from 0 to {d - 1} in binary form, got "
                               f"{int(ids.min()) if ids.min() < 0 else int(ids.max())}")
        parsed.append((ids, vals))
    return _sparse_batch(parsed, dim, name)


def _sparse_batch(parsed: list[tuple[np.ndarray, np.ndarray]], dim: int | None, name: str) -> Any:
    from ...sparse import SparseBatch

    indptr = np.zeros(len(parsed) + 1, np.int64)
    np.cumsum([ids.size for ids, _ in parsed], out=indptr[1:])
    ids = np.concatenate([p[0] for p in parsed]) if parsed else np.zeros(0, np.int64)
    vals = np.concatenate([p[1] for p in parsed]) if parsed else np.zeros(0, np.float32)
    if not np.isfinite(vals).all():
        p = int(np.flatnonzero(~np.isfinite(vals))[0])
        r = int(np.searchsorted(indptr, p, side="right") - 1)
        raise NonFiniteError(f"{name}[{r}]: sparsevec holds no NaN or infinity, got {vals[p]}")
    return SparseBatch(indptr, ids, vals, vocab_size=dim)
