"""pgvector's ``vector``, ``halfvec``, ``bit`` and ``sparsevec``, and PostgreSQL's COPY BINARY.

Three forms of each type, to and from quantlib's arrays:

- text, as ``psql`` and psycopg without adapters show it: ``[1,2.5]``, ``0101``, ``{1:0.5,3:2}/5``;
- the Python ``pgvector`` package's objects (``Vector``, ``HalfVector``, ``Bit``, ``SparseVector``), which
  ``pgvector.psycopg.register_vector`` makes psycopg return;
- the binary send/receive layout the server reads in COPY BINARY and binary query results (all big-endian):
  ``vector`` = int16 dim, int16 0, float32 values; ``halfvec`` = int16 dim, int16 0, float16 values;
  ``bit`` = int32 bit length, then the bits packed most significant first; ``sparsevec`` = int32 dim,
  int32 nnz, int32 0, int32 indices (0-based), float32 values.

quantlib's arrays on the other side: ``vector`` is float32 ``(n, d)``, ``halfvec`` float16 ``(n, d)``,
``bit`` uint8 ``(n, ceil(d / 8))`` (quantlib's ``ubinary`` codes: pgvector's ``binary_quantize`` gives
the same bits) and ``sparsevec`` a :class:`~quantlib.SparseBatch`.

:func:`iter_copy_binary` builds a whole ``COPY ... FROM STDIN (FORMAT BINARY)`` stream with numba
kernels and numpy (no per-row Python objects; :mod:`quantlib._kernels.wire`); :func:`copy_to_table`
writes it through a psycopg cursor and :func:`read_copy_binary` parses ``COPY ... TO STDOUT (FORMAT
BINARY)`` back into arrays.

Only :func:`to_objects` imports the ``pgvector`` package and only :func:`copy_to_table` and
:func:`copy_from_query` import psycopg (the extra ``pgvector``); everything else needs only quantlib's
own dependencies (numpy, numba).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .._kernels import wire
from .._validation import as_array, as_float_matrix, check_finite, describe
from ..codecs.binary import UBINARY
from ..errors import DTypeError, NonFiniteError, OutOfRangeError, PayloadError, ShapeError, short_repr

__all__ = [
    "BIT_HNSW_MAX_DIM",
    "HALFVEC_MAX_DIM",
    "SPARSEVEC_MAX_DIM",
    "SPARSEVEC_MAX_NNZ",
    "TYPES",
    "VECTOR_MAX_DIM",
    "copy_binary",
    "copy_from_query",
    "copy_to_table",
    "from_binary",
    "from_pgvector",
    "from_text",
    "iter_copy_binary",
    "read_copy_binary",
    "to_binary",
    "to_objects",
    "to_text",
]

#: pgvector's types.
TYPES = ("vector", "halfvec", "bit", "sparsevec")
#: The most dimensions a ``vector`` holds (pgvector 0.8: "vector cannot have more than 16000 dimensions").
VECTOR_MAX_DIM = 16000
#: The most dimensions a ``halfvec`` holds.
HALFVEC_MAX_DIM = 16000
#: The largest ``sparsevec`` dimension.
SPARSEVEC_MAX_DIM = 1_000_000_000
#: The most non-zero entries of one ``sparsevec``.
SPARSEVEC_MAX_NNZ = 16000
#: The most bits an HNSW index on ``bit`` takes; the ``bit`` type itself holds far more.
BIT_HNSW_MAX_DIM = 64000
#: The most bits quantlib writes in one ``bit`` value (its binary form counts them in an int32).
_BIT_MAX = 2**31 - 1
_HALF_MAX = 65504.0
_F32_MAX = float(np.finfo(np.float32).max)

#: PostgreSQL's COPY BINARY signature, flags (no OIDs) and header-extension length.
SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TRAILER = b"\xff\xff"
#: About this many bytes of rows per chunk of :func:`iter_copy_binary`.
CHUNK_BYTES = 4 << 20
_INT2_OID = 21

_TYPE_RE = re.compile(r"\s*(vector|halfvec|bit|sparsevec)\s*(?:\(\s*(\d+)\s*\))?\s*", re.IGNORECASE)
_SCALARS: dict[str, str] = {
    "bigint": ">i8", "int8": ">i8", "integer": ">i4", "int": ">i4", "int4": ">i4", "smallint": ">i2",
    "int2": ">i2", "real": ">f4", "float4": ">f4", "double precision": ">f8", "float8": ">f8",
}


# ---------------------------------------------------------------------------------------------- checks

def _check_type(type: Any, name: str = "type") -> str:
    if not isinstance(type, str) or type.strip().lower() not in TYPES:
        raise DTypeError(f"{name}: expected one of {', '.join(map(repr, TYPES))}, got {short_repr(type)}")
    return type.strip().lower()


def _limit(type: str) -> int:
    return VECTOR_MAX_DIM if type == "vector" else HALFVEC_MAX_DIM


def _dense(x: Any, name: str, type: str) -> np.ndarray:
    """A finite (n, d) float32 (vector) or float16 (halfvec) matrix within pgvector's limits."""
    arr, _ = as_float_matrix(x, name)
    d = arr.shape[1]
    if d > _limit(type):
        raise ShapeError(f"{name}: pgvector's {type} holds at most {_limit(type)} dimensions, got {d}")
    if type == "halfvec" and arr.dtype == np.float32:
        # quantlib's float16 kernel: one pass that also checks finiteness and overflow (the path below
        # words the error when it fails)
        from .._kernels.codecs import float32_to_float16

        out = np.empty(arr.shape, np.float16)
        if float32_to_float16(arr, arr.view(np.int32), out.view(np.int16)):
            return out
    check_finite(arr, name)
    if type == "vector":
        if arr.dtype == np.float32:
            return arr
        with np.errstate(over="ignore"):
            single = arr.astype(np.float32)  # rounds to nearest: 3.4028235e+38 is float32's largest
        if not np.isfinite(single).all():
            at = tuple(int(i) for i in np.argwhere(~np.isfinite(single))[0])
            raise OutOfRangeError(f"{name}: {float(arr[at])!r} at index {at} is beyond float32 (vector stores "
                                  f"float32; largest {_F32_MAX:g})")
        return single
    with np.errstate(over="ignore"):
        half = arr.astype(np.float16)
    if not np.isfinite(half).all():
        at = tuple(int(i) for i in np.argwhere(~np.isfinite(half))[0])
        raise OutOfRangeError(f"{name}: {float(arr[at])!r} at index {at} is beyond float16 (halfvec stores "
                              f"float16; largest {_HALF_MAX:g})")
    return half


def _bits(x: Any, name: str, dim: int | None) -> tuple[np.ndarray, int]:
    """uint8 packed codes (n, ceil(dim / 8)) with zero padding bits, and the bit length."""
    arr = as_array(x, name)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ShapeError(f"{name}: expected a batch of codes (n, bytes), got an array of shape {arr.shape}")
    if arr.dtype == np.bool_:  # one bool per bit
        if dim is not None and dim != arr.shape[1]:
            raise ShapeError(f"{name}: {arr.shape[1]} bits per row do not match dim={dim}")
        dim = arr.shape[1]
        arr = np.packbits(arr, axis=1)
    elif arr.dtype != np.uint8:
        hint = ("; int8 'binary' codes become pgvector bits with quantlib.convert_codes(codes, 'binary', "
                "'ubinary')" if arr.dtype == np.int8 else "")
        raise DTypeError(f"{name}: bit values are uint8 packed codes (quantlib's 'ubinary'), got dtype "
                         f"{arr.dtype}{hint}")
    width = arr.shape[1]
    if dim is None:
        dim = 8 * width
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not 1 <= dim <= _BIT_MAX:
        raise ShapeError(f"dim: expected a bit length from 1 to {_BIT_MAX}, got {short_repr(dim)}")
    dim = int(dim)
    if width != UBINARY.width(dim):
        raise ShapeError(f"{name}: {dim} bits are {UBINARY.width(dim)} bytes per row, got {width}")
    if dim % 8 and arr.size:
        pad = arr[:, -1] & np.uint8((1 << (8 - dim % 8)) - 1)
        if pad.any():
            r = int(np.flatnonzero(pad)[0])
            raise OutOfRangeError(f"{name}: row {r} has padding bits set beyond bit {dim} (they must be 0)")
    return np.ascontiguousarray(arr), dim


def _sparse(x: Any, name: str) -> Any:
    from ..sparse import SparseBatch

    if not isinstance(x, SparseBatch):
        raise DTypeError(f"{name}: sparsevec values come from a quantlib.SparseBatch, got {describe(x)}")
    return x


def _sparse_dim(batch: Any, name: str, dim: int | None = None) -> int:
    """The sparsevec dimension: ``dim``, else ``vocab_size``, else the largest index + 1 (at least 1)."""
    d = dim if dim is not None else batch.vocab_size if batch.vocab_size is not None else max(batch.n_cols, 1)
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ShapeError(f"dim: expected a positive sparsevec dimension, got {short_repr(d)}")
    if d > SPARSEVEC_MAX_DIM:
        raise ShapeError(f"{name}: pgvector's sparsevec has at most {SPARSEVEC_MAX_DIM} dimensions, got {d}")
    if batch.n_cols > d:
        raise ShapeError(f"{name}: id {batch.n_cols - 1} does not fit a sparsevec of dimension {d}")
    nnz = np.diff(batch.indptr)
    if nnz.size and nnz.max() > SPARSEVEC_MAX_NNZ:
        r = int(np.argmax(nnz))
        raise ShapeError(f"{name}: row {r} has {int(nnz[r])} entries; a sparsevec holds at most "
                         f"{SPARSEVEC_MAX_NNZ} non-zero entries")
    return int(d)


def _nonzero_rows(batch: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per row (ids, values) without explicit zeros (pgvector drops them)."""
    out = []
    ptr = batch.indptr
    for i in range(len(batch)):
        ids, vals = batch.indices[ptr[i]:ptr[i + 1]], batch.values[ptr[i]:ptr[i + 1]]
        keep = vals != 0
        out.append((ids[keep], vals[keep]) if not keep.all() else (ids, vals))
    return out


# ---------------------------------------------------------------------------------------------- text

def _f32_text(v: np.float32) -> str:
    text = str(v)
    return text[:-2] if text.endswith(".0") else text


def to_text(x: Any, type: str, *, dim: int | None = None) -> list[str]:
    """pgvector's text form of each row: ``[1,2.5]``, ``0101`` or ``{1:0.5,3:2}/5``.

    Parameters
    ----------
    x : array_like or SparseBatch
        Floats (n, d) for ``vector``/``halfvec``; uint8 packed codes (n, ceil(d / 8)) or bools (n, d)
        for ``bit``; a :class:`~quantlib.SparseBatch` for ``sparsevec``.
    type : {"vector", "halfvec", "bit", "sparsevec"}
    dim : int, optional
        The bit length of ``bit`` (default: 8 bits per byte), or the ``sparsevec`` dimension (default:
        ``vocab_size``, else the largest index + 1).

    Each value is written in the shortest form that reads back as the same float32 (``halfvec``: the
    float32 form of the half value, as the server prints it), so text round-trips bit-exactly.

    Examples
    --------
    >>> import numpy as np
    >>> from quantlib.stores import pgvector as pg
    >>> pg.to_text(np.array([[1.0, 2.5, -0.1]], np.float32), "vector")
    ['[1,2.5,-0.1]']
    >>> pg.to_text(np.array([[0.1]]), "halfvec")
    ['[0.099975586]']
    >>> pg.to_text(np.array([[0b10100000]], np.uint8), "bit", dim=3)
    ['101']
    """
    type = _check_type(type)
    if type in ("vector", "halfvec"):
        arr = _dense(x, "x", type)
        if type == "halfvec":
            arr = arr.astype(np.float32)
        return ["[" + ",".join(map(_f32_text, row)) + "]" for row in arr]
    if type == "bit":
        codes, d = _bits(x, "x", dim)
        bits = np.unpackbits(codes, axis=1, count=d) + np.uint8(ord("0"))
        return [row.tobytes().decode("ascii") for row in bits]
    batch = _sparse(x, "x")
    return batch.to_pgvector(vocab_size=_sparse_dim(batch, "x", dim))


def _texts(texts: Any, name: str) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, dict)) or not isinstance(texts, Iterable):
        raise DTypeError(f"{name}: expected text or a list of texts, got {describe(texts)}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise DTypeError(f"{name}[{i}]: expected pgvector text, got {describe(t)}")
    return out


def from_text(texts: str | Iterable[str], type: str) -> Any:
    """Rows from pgvector's text form (one text gives a batch of one).

    Returns float32 (n, d) for ``vector``, float16 (n, d) for ``halfvec``, uint8 packed codes for
    ``bit`` (``'0101'`` strings, as psycopg returns ``bit`` columns) and a :class:`~quantlib.SparseBatch`
    for ``sparsevec``.  Numbers are read as float64 and rounded once to the column's type (the server's own
    output reads back exactly); NaN and infinity are refused, as the server refuses them.

    Examples
    --------
    >>> from quantlib.stores import pgvector as pg
    >>> pg.from_text(["[1,2.5]", "[ -3 , 4e-1 ]"], "vector")
    array([[ 1. ,  2.5],
           [-3. ,  0.4]], dtype=float32)
    >>> pg.from_text("0101", "bit")
    array([[80]], dtype=uint8)
    """
    type = _check_type(type)
    if type == "sparsevec":
        from ..sparse import SparseBatch

        return SparseBatch.from_pgvector(texts)
    rows = _texts(texts, "texts")
    if type == "bit":
        return _bits_from_strings(rows, "texts")
    if not rows:
        raise ShapeError("texts: expected at least one text")
    out: np.ndarray | None = None
    for r, text in enumerate(rows):
        body = text.strip()
        if len(body) < 2 or body[0] != "[" or body[-1] != "]":
            raise PayloadError(f"texts[{r}]: expected {type} text like '[1,2.5]', got {short_repr(text, 80)}")
        try:
            row = np.array(body[1:-1].split(","), dtype=np.float64)
        except ValueError:
            raise PayloadError(f"texts[{r}]: expected numbers separated by commas in {type} text, got "
                               f"{short_repr(text, 80)}") from None
        if out is None:
            out = np.empty((len(rows), row.size), np.float64)
        elif row.size != out.shape[1]:
            raise ShapeError(f"texts[{r}]: every text must have the same dimension; texts[0] has "
                             f"{out.shape[1]}, this one {row.size}")
        out[r] = row
    assert out is not None
    if not np.isfinite(out).all():
        at = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise NonFiniteError(f"texts[{at[0]}]: {type} holds no NaN or infinity, got {out[at]} at index {at[1]}")
    return _dense(out, "texts", type)


def _bits_from_strings(rows: Sequence[str], name: str) -> np.ndarray:
    if not rows:
        raise ShapeError(f"{name}: expected at least one text")
    n, d = len(rows), len(rows[0])
    if d == 0:
        raise ShapeError(f"{name}[0]: expected at least one bit, got ''")
    for r, t in enumerate(rows):
        if len(t) != d:
            raise ShapeError(f"{name}[{r}]: every bit string must have the same length; {name}[0] has {d} "
                             f"bits, this one {len(t)}")
    try:
        raw = "".join(rows).encode("ascii")
    except UnicodeEncodeError:
        raw = b""
    bits = np.frombuffer(raw, np.uint8).reshape(n, d) - np.uint8(ord("0")) if len(raw) == n * d else None
    if bits is None or (bits > 1).any():
        bad = next(r for r, t in enumerate(rows) if t.strip("01"))
        raise PayloadError(f"{name}[{bad}]: expected a bit string of 0s and 1s, got {short_repr(rows[bad], 80)}")
    return np.packbits(bits, axis=1)


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
        if dim is None:
            dim = d
        elif d != dim:
            raise ShapeError(f"{name}[{r}]: every value must have the same dimension; {name}[0] has {dim}, "
                             f"this one {d}")
        ids = np.frombuffer(raw, ">i4", nnz, 12).astype(np.int64)
        vals = np.frombuffer(raw, ">f4", nnz, 12 + 4 * nnz).astype(np.float32)
        if ids.size and (ids.min() < 0 or ids.max() >= d):
            raise PayloadError(f"{name}[{r}]: sparsevec indices run from 0 to {d - 1} in binary form, got "
                               f"{int(ids.min()) if ids.min() < 0 else int(ids.max())}")
        parsed.append((ids, vals))
    return _sparse_batch(parsed, dim, name)


def _sparse_batch(parsed: list[tuple[np.ndarray, np.ndarray]], dim: int | None, name: str) -> Any:
    from ..sparse import SparseBatch

    indptr = np.zeros(len(parsed) + 1, np.int64)
    np.cumsum([ids.size for ids, _ in parsed], out=indptr[1:])
    ids = np.concatenate([p[0] for p in parsed]) if parsed else np.zeros(0, np.int64)
    vals = np.concatenate([p[1] for p in parsed]) if parsed else np.zeros(0, np.float32)
    if not np.isfinite(vals).all():
        p = int(np.flatnonzero(~np.isfinite(vals))[0])
        r = int(np.searchsorted(indptr, p, side="right") - 1)
        raise NonFiniteError(f"{name}[{r}]: sparsevec holds no NaN or infinity, got {vals[p]}")
    return SparseBatch(indptr, ids, vals, vocab_size=dim)


# ---------------------------------------------------------------------------------------------- objects

def to_objects(x: Any, type: str, *, dim: int | None = None) -> list[Any]:
    """The Python ``pgvector`` package's objects, one per row (``Vector``, ``HalfVector``, ``Bit``, ``SparseVector``).

    For parameters of single queries; a batch is faster through :func:`copy_to_table`.  ``bit`` rows become
    ``Bit`` objects of exactly ``dim`` bits (``Bit(codes_row)`` itself refuses uint8 codes).
    """
    import pgvector

    type = _check_type(type)
    if type == "vector":
        return [pgvector.Vector(row) for row in _dense(x, "x", type)]
    if type == "halfvec":
        return [pgvector.HalfVector(row) for row in _dense(x, "x", type)]
    if type == "bit":
        return [pgvector.Bit.from_binary(b) for b in to_binary(x, "bit", dim=dim)]
    return [pgvector.SparseVector.from_binary(b) for b in to_binary(x, "sparsevec", dim=dim)]


def _kind_of(value: Any) -> str | None:
    """The pgvector type a value returned by psycopg stands for, when it says so itself."""
    cls = type(value)
    if cls.__module__.split(".")[0] == "pgvector":
        return {"Vector": "vector", "HalfVector": "halfvec", "Bit": "bit", "SparseVector": "sparsevec"}.get(
            cls.__name__)
    if isinstance(value, np.ndarray):
        return {"f": "vector" if value.dtype.itemsize != 2 else "halfvec", "b": "bit"}.get(value.dtype.kind)
    if isinstance(value, str):
        s = value.lstrip()
        return "vector" if s.startswith("[") else "sparsevec" if s.startswith("{") else "bit"
    return None


def from_pgvector(values: Any, type: str | None = None, *, dim: int | None = None) -> Any:
    """Rows from whatever psycopg returns for a pgvector column, with or without ``register_vector``.

    Parameters
    ----------
    values : one value or a list of them
        ``Vector``/``HalfVector``/``Bit``/``SparseVector`` objects (psycopg with
        ``pgvector.psycopg.register_vector``); text (psycopg without it: ``'[1,2]'``, ``'{1:2}/5'``, and
        ``bit`` columns always come back as ``'0101'`` strings); bytes of the binary form (binary cursors);
        numpy arrays (older ``pgvector`` packages returned those: float32 for vector, float16 for halfvec,
        bool for bit).  One value gives a batch of one.
    type : {"vector", "halfvec", "bit", "sparsevec"}, optional
        Needed for bytes, and to read ``'[...]'`` text as halfvec; otherwise read from the values.
    dim : int, optional
        ``bit``: the expected bit length; ``sparsevec``: the vocabulary size, checked against the values'.

    Returns
    -------
    numpy.ndarray or SparseBatch
        float32 (n, d) for vector, float16 (n, d) for halfvec, uint8 packed codes (n, ceil(d / 8)) for
        bit, a :class:`~quantlib.SparseBatch` for sparsevec (``vocab_size`` = the sparsevec dimension).

    Examples
    --------
    >>> from quantlib.stores import pgvector as pg
    >>> pg.from_pgvector(["[1,2]", "[3,4]"])
    array([[1., 2.],
           [3., 4.]], dtype=float32)
    >>> pg.from_pgvector("10100000")
    array([[160]], dtype=uint8)
    >>> pg.from_pgvector(["{1:0.5,3:2}/5"]).to_dicts()
    [{0: 0.5, 2: 2.0}]
    """
    if isinstance(values, (str, bytes, bytearray, memoryview)) or _kind_of(values) in ("vector", "halfvec",
                                                                                      "bit", "sparsevec") and (
            not isinstance(values, np.ndarray) or values.ndim == 1):
        values = [values]
    if isinstance(values, np.ndarray) and values.ndim == 2:
        values = list(values)
    if isinstance(values, dict) or not isinstance(values, Iterable):
        raise DTypeError(f"values: expected pgvector values (or a list of them), got {describe(values)}")
    rows = list(values)
    if not rows:
        raise ShapeError("values: expected at least one value")
    kind = _check_type(type) if type is not None else _kind_of(rows[0])
    if kind is None:
        what = "bytes need type=... (their binary form does not say it)" if isinstance(
            rows[0], (bytes, bytearray, memoryview)) else f"got {describe(rows[0])}"
        raise DTypeError(f"values[0]: expected a pgvector value (Vector, HalfVector, Bit, SparseVector, text, "
                         f"bytes or an array); {what}")
    first = rows[0]
    if isinstance(first, (bytes, bytearray, memoryview)):
        out = from_binary(rows, kind)
    elif isinstance(first, str):
        out = from_text(rows, kind)
    else:
        out = _from_objects(rows, kind)
    if kind == "bit" and dim is not None and out.shape[1] != UBINARY.width(dim):
        raise ShapeError(f"values: bit({dim}) values have {UBINARY.width(dim)} bytes, got {out.shape[1]}")
    if kind == "sparsevec" and dim is not None and out.vocab_size != dim:
        raise ShapeError(f"values: expected sparsevec dimension {dim}, got {out.vocab_size}")
    return out


def _from_objects(rows: list[Any], kind: str) -> Any:
    for i, v in enumerate(rows):
        k = _kind_of(v)
        if k != kind and not (isinstance(v, np.ndarray) and kind in ("vector", "halfvec") and k in ("vector",
                                                                                                    "halfvec")):
            raise DTypeError(f"values[{i}]: expected a {kind} value like values[0], got {describe(v)}")
    if kind == "sparsevec":
        return _sparse_from_binary([v.to_binary() for v in rows], "values")
    if kind == "bit":
        if isinstance(rows[0], np.ndarray):
            lengths = {v.shape for v in rows}
            if len(lengths) != 1:
                raise ShapeError("values: every bit array must have the same length")
            return _bits(np.stack(rows), "values", None)[0]
        return from_binary([v.to_binary() for v in rows], "bit")
    arrays = [v if isinstance(v, np.ndarray) else v.to_numpy() for v in rows]
    for i, a in enumerate(arrays):
        if a.ndim != 1 or a.shape != arrays[0].shape:
            raise ShapeError(f"values[{i}]: every value must have the same dimension; values[0] has "
                             f"{arrays[0].shape}, this one {a.shape}")
    return _dense(np.stack(arrays), "values", kind)


# ---------------------------------------------------------------------------------------------- COPY BINARY

class _Column:
    """One column of a COPY stream, as fields of a numpy record: ``const`` (the int32 length and any
    fixed header, the same in every row) and ``dtype`` (the value, big-endian), filled by ``fill``."""

    def __init__(self, data: Any, spec: str, name: str) -> None:
        key = _column_key(spec)
        self.type = key
        self.name = name
        self.variable: list[bytes] | None = None
        if key == "sparsevec":
            batch = _sparse(data, name)
            d = _sparse_dim(batch, name, _type_modifier(spec))
            self.variable = [_sparse_binary(ids, vals, d) for ids, vals in _nonzero_rows(batch)]
            self.n = len(batch)
            return
        if key in ("vector", "halfvec", "bit"):
            mod = _type_modifier(spec)
            if key == "bit":
                arr, d = _bits(data, name, mod)
                head = struct.pack(">i", d)
                self.dtype = np.dtype((np.uint8, (arr.shape[1],)))
            else:
                arr = _halfvec_source(data, name) if key == "halfvec" else _dense(data, name, key)
                if mod is not None and arr.shape[1] != mod:
                    raise ShapeError(f"{name}: {key}({mod}) expects {mod} dimensions, got {arr.shape[1]}")
                head = _dense_header(key, arr.shape[1])
                # halfvec: swapped as integers (numpy casts float16 to '>f2' through float32)
                self.dtype = np.dtype((">f4" if key == "vector" else ">u2", (arr.shape[1],)))
        else:
            arr = as_array(data, name)
            head = b""
            if key in _SCALARS:
                if arr.ndim != 1:
                    raise ShapeError(f"{name}: a {key} column is one value per row (1-D), got shape {arr.shape}")
                want = np.dtype(_SCALARS[key])
                if want.kind == "i":
                    if arr.dtype.kind not in "iu":
                        raise DTypeError(f"{name}: a {key} column takes integers, got dtype {arr.dtype}")
                    info = np.iinfo(want)
                    if arr.size and (arr.min() < info.min or arr.max() > info.max):
                        raise OutOfRangeError(f"{name}: {key} holds {info.min} to {info.max}, got values from "
                                              f"{arr.min()} to {arr.max()}")
                elif arr.dtype.kind != "f":
                    raise DTypeError(f"{name}: a {key} column takes floats, got dtype {arr.dtype}")
                else:
                    check_finite(arr, name)
                self.dtype = want
            else:  # bytea, smallint[]: codes of one width per row
                if arr.ndim == 1:
                    arr = arr.reshape(1, -1)
                if arr.ndim != 2 or arr.dtype.kind not in "iu":
                    raise DTypeError(f"{name}: a {key} column of codes takes a 2-D integer array (n, width), "
                                     f"got {describe(arr)}")
                w = arr.shape[1]
                if key == "bytea":
                    if arr.dtype.itemsize != 1:
                        raise DTypeError(f"{name}: bytea holds int8 or uint8 codes, got dtype {arr.dtype}")
                    arr = arr.view(np.uint8)
                    self.dtype = np.dtype((np.uint8, (w,)))
                else:
                    if arr.dtype.itemsize > 1 and arr.size and (arr.min() < -(2**15) or arr.max() >= 2**15):
                        raise OutOfRangeError(f"{name}: smallint holds -32768 to 32767, got values from "
                                              f"{arr.min()} to {arr.max()}")
                    head = struct.pack(">iiIii", 1, 0, _INT2_OID, w, 1)
                    self.dtype = np.dtype(([("length", ">i4"), ("value", ">i2")], (w,)))
        self.array = arr
        self.n = arr.shape[0]
        self.size = len(head) + self.dtype.itemsize
        self.const = np.void(struct.pack(">i", self.size) + head)

    def fill(self, dst: np.ndarray, start: int, stop: int) -> None:
        """Write the values of rows start:stop into ``dst`` (a field of the chunk's records)."""
        if self.type == "halfvec":
            dst[...] = _to_half(self.array[start:stop], self.name, start).view(np.uint16)
        elif self.type in ("smallint[]", "int2[]"):
            dst["length"] = 2
            dst["value"] = self.array[start:stop]
        else:
            dst[...] = self.array[start:stop]

    def write_words(self, words: np.ndarray, off: int, start: int, stop: int) -> bool:
        """Write the values of rows start:stop big-endian into ``words[:, off:]`` (the chunk's records as
        uint16) with one kernel, if this column has one (``vector``, and ``halfvec`` from float32)."""
        block = self.array[start:stop]
        if self.type == "vector":
            wire.vector_be(block.view(np.int32), words, off)
            return True
        if self.type == "halfvec" and block.dtype == np.float32:
            if wire.halfvec_be(block, block.view(np.int32), words, off):
                return True
            _to_half(block, self.name, start)  # raises, naming the value
        return False

    def records(self, start: int, stop: int) -> np.ndarray:
        """Length, header and value of rows start:stop, one byte row each: (m, 4 + size) uint8."""
        rec = np.empty(stop - start, [("const", self.const.dtype), ("value", self.dtype)])
        rec["const"] = self.const
        self.fill(rec["value"], start, stop)
        return rec.view(np.uint8).reshape(stop - start, -1)


def _halfvec_source(x: Any, name: str) -> np.ndarray:
    """``x`` for a halfvec column: float32 (float16 input is widened exactly), or float64 input already
    rounded to float16 and checked.

    float32 values are converted, and checked, a chunk at a time as the COPY stream is built
    (:func:`_to_half`): one pass over the batch instead of a check, a 200 MB float16 copy, and a swap.
    """
    arr, _ = as_float_matrix(x, name)
    if arr.shape[1] > HALFVEC_MAX_DIM or arr.dtype != np.float32:
        return _dense(arr, name, "halfvec")  # raises for too many dimensions
    return arr


def _to_half(block: np.ndarray, name: str, start: int) -> np.ndarray:
    """float16 of rows ``start:`` of a halfvec column (NaN, infinity or overflow raise, naming the row)."""
    if block.dtype == np.float16:
        return block
    from .._kernels.codecs import float32_to_float16

    out = np.empty(block.shape, np.float16)
    if not float32_to_float16(block, block.view(np.int32), out.view(np.int16)):
        try:
            _dense(block, name, "halfvec")
        except (NonFiniteError, OutOfRangeError) as exc:
            bad = np.argwhere(~np.isfinite(block) | (np.abs(block) >= np.float32(65520)))[0]
            at = (int(bad[0]) + start, int(bad[1]))
            text = f"{name}: {float(block[tuple(bad)])!r} at index {at} is "
            text += ("not finite (halfvec holds no NaN or infinity)" if isinstance(exc, NonFiniteError) else
                     f"beyond float16 (halfvec stores float16; largest {_HALF_MAX:g})")
            raise type(exc)(text) from None
    return out


def _type_modifier(spec: str) -> int | None:
    m = _TYPE_RE.fullmatch(" ".join(spec.strip().lower().split()))
    return int(m.group(2)) if m and m.group(2) else None


def _columns(columns: Sequence[Any], types: Any) -> list[_Column]:
    if isinstance(types, str):
        types = (types,)
    types = list(types)
    if len(types) != len(columns) or not columns:
        raise ShapeError(f"types: expected one SQL type per column ({len(columns)} columns), got {len(types)}")
    cols = [_Column(c, t, f"columns[{i}]") for i, (c, t) in enumerate(zip(columns, types, strict=True))]
    for i, c in enumerate(cols):
        if c.n != cols[0].n:
            raise ShapeError(f"columns[{i}]: every column must have the same number of rows; columns[0] has "
                             f"{cols[0].n}, this one {c.n}")
    if len(cols) > 1600:
        raise ShapeError(f"columns: a PostgreSQL table has at most 1600 columns, got {len(cols)}")
    return cols


def iter_copy_binary(*columns: Any, types: str | Sequence[str],
                     chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes | memoryview]:
    """The bytes of a ``COPY ... FROM STDIN (FORMAT BINARY)`` stream, in chunks of about ``chunk_bytes``.

    Parameters
    ----------
    *columns
        One argument per table column, all with the same number of rows: float arrays (n, d) for
        ``vector``/``halfvec``, uint8 packed codes for ``bit``, a :class:`~quantlib.SparseBatch` for
        ``sparsevec``, 1-D integer or float arrays for the scalar types, int8/uint8 codes (n, width) for
        ``bytea`` and integer codes for ``smallint[]``.
    types : sequence of str
        The SQL type of each column: ``vector``, ``halfvec``, ``bit``, ``sparsevec`` (each may carry its
        size, ``bit(383)`` for a bit length that is not a multiple of 8), ``bigint``, ``integer``,
        ``smallint``, ``real``, ``double precision``, ``bytea``, ``smallint[]``.

    The first chunk is the header (signature, flags 0, no header extension) and the last the trailer.
    Rows of fixed-width columns are built a chunk at a time: one record array whose fields are each
    column's constant part (length, header) and its big-endian values, handed out as a bytes-like
    ``memoryview`` of the record array (no copy; psycopg's ``copy.write`` and ``b"".join`` take it as it
    is).  One kernel stamps the constant parts; ``vector`` values and float32 values for ``halfvec``
    (rounded to nearest even, as numpy's ``astype('>f2')``) are written straight into the records by one
    kernel each when the record layout is even (other layouts, and the other types, take one numpy cast
    per column: the same bytes).  A ``sparsevec`` column is written row by row.  There are no NULLs.

    Every column is checked before the header is handed out, except float32 values for a ``halfvec``
    column: those are converted and checked a chunk at a time, in one pass, so a value beyond float16
    raises from the iteration before its chunk is handed out.  :func:`copy_to_table` then ends the COPY
    with that error and the server keeps none of its rows; other drivers must abort the COPY likewise.

    Examples
    --------
    >>> import numpy as np
    >>> from quantlib.stores import pgvector as pg
    >>> data = pg.copy_binary(np.array([7]), np.array([[1.0, 2.5]], np.float32), types=["bigint", "vector"])
    >>> data[:11] == pg.SIGNATURE, len(data)
    (True, 51)
    >>> ids, vectors = pg.read_copy_binary(data, ["bigint", "vector"])
    >>> ids, vectors
    (array([7]), array([[1. , 2.5]], dtype=float32))
    """
    cols = _columns(columns, types)
    if isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, (int, np.integer)) or chunk_bytes < 1:
        raise ShapeError(f"chunk_bytes: expected a positive integer, got {short_repr(chunk_bytes)}")
    n = cols[0].n
    count = struct.pack(">h", len(cols))
    yield _HEADER
    if any(c.variable is not None for c in cols):
        for start in range(0, n, 1024):
            stop = min(n, start + 1024)
            fixed = [c.records(start, stop) if c.variable is None else None for c in cols]
            parts: list[bytes] = []
            for r in range(stop - start):
                parts.append(count)
                for c, f in zip(cols, fixed, strict=True):
                    if f is None:
                        value = c.variable[start + r]  # type: ignore[index]
                        parts.append(struct.pack(">i", len(value)) + value)
                    else:
                        parts.append(f[r].tobytes())
            yield b"".join(parts)
    else:
        # one record per row: the field count, then per column its constant part and its big-endian values
        fields = [("count", "V2")]
        for j, c in enumerate(cols):
            fields += [(f"const{j}", c.const.dtype), (f"value{j}", c.dtype)]
        record = np.dtype(fields)
        width = record.itemsize
        # the bytes that are the same in every row (field count, lengths, headers), stamped by one kernel
        first = np.zeros(1, record)
        first["count"] = np.void(count)
        for j, c in enumerate(cols):
            first[f"const{j}"] = c.const
        template = first.view(np.uint8)
        at = [record.fields[f][1] for f in ["count"] + [f"const{j}" for j in range(len(cols))]]
        starts = np.array(at, np.int64)
        stops = starts + np.array([2] + [c.const.dtype.itemsize for c in cols], np.int64)
        # vector and float32 halfvec values go straight into the records as 16-bit words (an even layout)
        words = [record.fields[f"value{j}"][1] // 2 if width % 2 == 0 and record.fields[f"value{j}"][1] % 2 == 0
                 else None for j in range(len(cols))]
        step = max(1, int(chunk_bytes) // width)
        for start in range(0, n, step):
            stop = min(n, start + step)
            out = np.empty(stop - start, record)
            raw = out.view(np.uint8).reshape(stop - start, width)
            wire.stamp(raw, template, starts, stops)
            for j, c in enumerate(cols):
                if words[j] is None or not c.write_words(raw.view(np.uint16), words[j], start, stop):
                    c.fill(out[f"value{j}"], start, stop)
            yield out.view(np.uint8).data
    yield _TRAILER


def copy_binary(*columns: Any, types: str | Sequence[str]) -> bytes:
    """The whole COPY BINARY stream of :func:`iter_copy_binary` as one bytes object."""
    return b"".join(iter_copy_binary(*columns, types=types))


def read_copy_binary(data: Any, types: str | Sequence[str]) -> list[Any]:
    """Columns from the bytes of ``COPY ... TO STDOUT (FORMAT BINARY)``, one array per column.

    ``types`` names each column's SQL type as for :func:`iter_copy_binary`.  When every row has the same
    size (fixed-dimension columns), the whole stream is checked and decoded by numpy at once; otherwise it
    is read row by row.  A malformed stream (signature, flags, field counts, lengths, trailer) or a NULL
    raises :class:`~quantlib.PayloadError`.
    """
    if isinstance(types, str):
        types = (types,)
    specs = list(types)
    if not specs:
        raise ShapeError("types: expected one SQL type per column, got none")
    buf = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else None
    if buf is None:
        raise DTypeError(f"data: expected the bytes of a COPY BINARY stream, got {describe(data)}")
    if len(buf) < 19 or buf[:11] != SIGNATURE:
        raise PayloadError(f"data: a COPY BINARY stream starts with the signature {SIGNATURE!r}, got "
                           f"{short_repr(buf[:11])}")
    flags, ext = struct.unpack_from(">iI", buf, 11)
    if flags & 0x10000:
        raise PayloadError("data: the stream has OIDs (flag bit 16); write it without them")
    if flags & ~0xFFFF:
        raise PayloadError(f"data: unknown critical flags {flags:#x} in the COPY BINARY header")
    pos = 19 + ext
    if len(buf) < pos + 2 or buf[-2:] != _TRAILER:
        raise PayloadError("data: the stream does not end with the COPY BINARY trailer (field count -1)")
    body = np.frombuffer(buf, np.uint8, len(buf) - pos - 2, pos)
    ncol = len(specs)
    keys = [_column_key(s) for s in specs]
    if body.size == 0:
        raise ShapeError("data: the stream holds no rows")
    # the first row's field sizes
    sizes, at = [], 2
    if struct.unpack_from(">h", buf, pos)[0] != ncol:
        raise PayloadError(f"data: row 0 has {struct.unpack_from('>h', buf, pos)[0]} fields, types name {ncol}")
    for _ in range(ncol):
        if pos + at + 4 > len(buf) - 2:
            raise PayloadError("data: row 0 is cut short")
        (k,) = struct.unpack_from(">i", buf, pos + at)
        if k < 0:
            raise PayloadError("data: row 0 holds a NULL; quantlib's arrays have none")
        sizes.append(k)
        at += 4 + k
    row = at
    if body.size % row == 0:
        rows = body.reshape(-1, row)
        prefix = np.ascontiguousarray(rows[:, :2])
        same = (prefix == rows[0, :2]).all()
        offs, o = [], 2
        for k in sizes:
            same = same and (rows[:, o:o + 4] == rows[0, o:o + 4]).all()
            offs.append(o + 4)
            o += 4 + k
        if same:
            return [_decode_column(rows[:, a:a + k], key, f"column {j}")
                    for j, (a, k, key) in enumerate(zip(offs, sizes, keys, strict=True))]
    return _read_rows(buf, pos, len(buf) - 2, keys)


def _column_key(spec: Any) -> str:
    if not isinstance(spec, str):
        raise DTypeError(f"types: expected SQL type names, got {short_repr(spec)}")
    key = " ".join(spec.strip().lower().split())
    m = _TYPE_RE.fullmatch(key)
    if m:
        return m.group(1)
    if key in _SCALARS or key in ("bytea", "smallint[]", "int2[]"):
        return key
    raise DTypeError(f"types: quantlib writes and reads vector, halfvec, bit, sparsevec (each optionally "
                     f"with its size), bigint, integer, smallint, real, double precision, bytea and smallint[]; "
                     f"got {short_repr(spec)}")


def _decode_column(block: np.ndarray, key: str, name: str) -> Any:
    if key in TYPES:
        if key == "sparsevec":
            return _sparse_from_binary([r.tobytes() for r in block], name)
        return _decode_block(block, key, name)
    if key in _SCALARS:
        want = np.dtype(_SCALARS[key])
        if block.shape[1] != want.itemsize:
            raise PayloadError(f"{name}: a {key} value has {want.itemsize} bytes, got {block.shape[1]}")
        return np.ascontiguousarray(block).view(want)[:, 0].astype(want.newbyteorder("="))
    if key == "bytea":
        return np.ascontiguousarray(block)
    n, k = block.shape
    if k < 20:
        raise PayloadError(f"{name}: a binary smallint[] has at least 20 bytes, got {k}")
    head = np.ascontiguousarray(block[:, :20]).view(">i4")
    d = int(head[0, 3])
    want = np.array([1, 0, _INT2_OID, d, 1], ">i4")
    if (head != want).any() or k != 20 + 6 * d:
        raise PayloadError(f"{name}: expected one-dimensional smallint[] values of {d} elements without NULLs")
    elems = np.ascontiguousarray(block[:, 20:]).reshape(n, d, 6)
    if (elems[:, :, :4] != np.frombuffer(struct.pack(">i", 2), np.uint8)).any():
        raise PayloadError(f"{name}: a smallint[] element is NULL or not 2 bytes")
    return np.ascontiguousarray(elems[:, :, 4:]).view(">i2")[:, :, 0].astype(np.int16)


def _read_rows(buf: bytes, pos: int, end: int, keys: list[str]) -> list[Any]:
    """The row-by-row reader, for rows of different sizes."""
    fields: list[list[bytes]] = [[] for _ in keys]
    r = 0
    while pos < end:
        if pos + 2 > end:
            raise PayloadError(f"data: row {r} is cut short")
        (count,) = struct.unpack_from(">h", buf, pos)
        if count != len(keys):
            raise PayloadError(f"data: row {r} has {count} fields, types name {len(keys)}")
        pos += 2
        for j in range(count):
            if pos + 4 > end:
                raise PayloadError(f"data: row {r} is cut short")
            (k,) = struct.unpack_from(">i", buf, pos)
            if k < 0:
                raise PayloadError(f"data: row {r} column {j} is NULL; quantlib's arrays have none")
            if pos + 4 + k > end:
                raise PayloadError(f"data: row {r} column {j} is cut short")
            fields[j].append(buf[pos + 4:pos + 4 + k])
            pos += 4 + k
        r += 1
    out = []
    for j, key in enumerate(keys):
        values = fields[j]
        if key == "sparsevec":
            out.append(_sparse_from_binary(values, f"column {j}"))
            continue
        size = len(values[0])
        bad = next((i for i, v in enumerate(values) if len(v) != size), None)
        if bad is not None:
            raise PayloadError(f"column {j}: rows of different sizes ({size} and {len(values[bad])} bytes, row "
                               f"{bad}); quantlib's {key} arrays have one width")
        block = np.frombuffer(b"".join(values), np.uint8).reshape(len(values), size)
        out.append(_decode_column(block, key, f"column {j}"))
    return out


# ---------------------------------------------------------------------------------------------- psycopg

def copy_to_table(cursor: Any, table: str | Sequence[str], *columns: Any, types: str | Sequence[str],
                  names: Sequence[str] | None = None) -> int:
    """Load ``columns`` into ``table`` through psycopg's ``cursor.copy(... FROM STDIN (FORMAT BINARY))``.

    ``table`` is a name or a ``(schema, name)`` pair and ``names`` the column names (default: the table's
    columns in order); both are quoted as identifiers.  Returns the number of rows written.  The stream is
    built by :func:`iter_copy_binary` a chunk at a time, so memory stays at a few MB beyond the input.
    """
    from psycopg import sql

    target = sql.Identifier(*([table] if isinstance(table, str) else table))
    cols = sql.SQL("")
    if names is not None:
        cols = sql.SQL(" ({})").format(sql.SQL(", ").join(sql.Identifier(c) for c in names))
    query = sql.SQL("COPY {}{} FROM STDIN (FORMAT BINARY)").format(target, cols)
    chunks = iter_copy_binary(*columns, types=types)
    first = next(chunks)  # validates every column before the server sees a byte
    with cursor.copy(query) as copy:
        copy.write(first)
        for chunk in chunks:
            copy.write(chunk)
    return int(cursor.rowcount)


def copy_from_query(cursor: Any, query: Any, types: str | Sequence[str]) -> list[Any]:
    """Run ``COPY (query) TO STDOUT (FORMAT BINARY)`` and parse it with :func:`read_copy_binary`.

    ``query`` is SQL text or a ``psycopg.sql`` object (a ``SELECT``, or a table name wrapped by the caller).
    """
    from psycopg import sql

    inner = sql.SQL(query) if isinstance(query, str) else query
    with cursor.copy(sql.SQL("COPY ({}) TO STDOUT (FORMAT BINARY)").format(inner)) as copy:
        data = b"".join(bytes(block) for block in copy)
    return read_copy_binary(data, types)
