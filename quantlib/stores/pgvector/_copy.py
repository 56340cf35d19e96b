"""PostgreSQL's COPY BINARY streams of pgvector columns, and the psycopg helpers that send and read them."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..._kernels import wire
from ..._validation import as_array, as_float_matrix, check_finite, describe
from ...errors import DTypeError, NonFiniteError, OutOfRangeError, PayloadError, ShapeError, short_repr
from ._binary import _decode_block, _dense_header, _sparse_binary, _sparse_from_binary
from ._types import _HALF_MAX, HALFVEC_MAX_DIM, TYPES, _bits, _dense, _nonzero_rows, _sparse, _sparse_dim

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
    from ..._kernels.codecs import float32_to_float16

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
