"""quantlib's arrays as Arrow columns and Parquet files, self-describing and zero-copy.

Each precision has the Arrow type that pyarrow, Parquet, LanceDB, DuckDB and
Polars already read as a vector column:

===================================  ==============================================
quantlib                             Arrow type
===================================  ==============================================
float32 / float16 ``(n, d)``         ``fixed_size_list<float | halffloat>[d]``
int8 / uint8 codes ``(n, d)``        ``fixed_size_list<int8 | uint8>[d]``
binary / ubinary bits ``(n, w)``     ``fixed_size_list<uint8>[ceil(d / 8)]``, the packed sign bits
:class:`~quantlib.MultiVectorBatch`  ``list<fixed_size_list<T>[w]>`` (``large_list`` beyond 2**31 - 1 tokens)
:class:`~quantlib.SparseBatch`       ``struct<indices: list<int32 | int64>, values: list<float>>``
                                     (and ``tokens: list<string>`` when the batch has them)
===================================  ==============================================

Bits are always stored as the packed sign bits (most significant bit first,
``numpy.packbits(x > 0, axis=-1)``), the bytes LanceDB's Hamming search and
other stores compare; ``binary`` codes (the same bytes minus 128, as int8) are
converted on the way in and back on the way out.

The field's metadata (key ``b"quantlib"``) holds what the values alone cannot
say: the kind of column, the precision, the logical dimension (bits of a packed
row, which may not be a multiple of 8), the codec config (with its own
checksum; ``null`` for int8/uint8 codes that no calibrated codec made, such as
a provider's) and, for sparse columns, the vocabulary size.  The record has a
version and a CRC-32 checksum of its own, so a Parquet or LanceDB file is
self-describing and a damaged record is refused.

Zero-copy both ways: a C-contiguous array in the storage dtype becomes the
child buffer of the Arrow column, and :func:`from_arrow` returns read-only
numpy views of the column's buffers.  The exceptions are ``binary`` codes (one
subtraction each way), a :class:`~quantlib.MultiVectorBatch`'s offsets
(int64 to Arrow's int32 and back, ``n + 1`` integers) and columns split into
several chunks (joined, which copies).  Values are not inspected on the way
in: NaN stays NaN, as in ``numpy.save``; the searches refuse it.

Examples
--------
>>> import numpy as np, pyarrow as pa
>>> from quantlib import ScalarCodec
>>> from quantlib.stores import arrow
>>> x = np.array([[0.1, -0.5, 0.3], [0.9, 0.2, -0.7]], dtype=np.float32)
>>> codec = ScalarCodec("int8", [[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
>>> codes = codec.encode(x)
>>> table = arrow.to_table(codes, codec=codec, columns={"id": [10, 11]})
>>> table.schema.field("vector").type
FixedSizeListType(fixed_size_list<item: int8>[3])
>>> back, codec2, dim = arrow.from_arrow(table, "vector")
>>> np.array_equal(back, codes), codec2 == codec, dim
(True, True, 3)
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .. import _checksum
from .._validation import check_dim
from ..codecs import Codec, ScalarCodec, codec_from_config, get_codec
from ..codecs.binary import from_offset_binary, to_offset_binary
from ..errors import ConfigError, DTypeError, QuantlibError, ShapeError, short_repr
from ..multivector import MultiVectorBatch
from ..precision import PrecisionInfo, code_width, precision_info
from ..sparse import SparseBatch

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["METADATA_KEY", "field", "from_arrow", "read_parquet", "to_arrow", "to_table"]

#: The field metadata key quantlib writes and reads.
METADATA_KEY = b"quantlib"

#: Version of the metadata record; bumped only with a reader for the old one.
FORMAT_VERSION = 1

Kind = Literal["dense", "multivector", "sparse"]
Column = np.ndarray | MultiVectorBatch | SparseBatch

_INT32_MAX = 2**31 - 1


def _pa() -> Any:
    try:
        import pyarrow
    except ImportError:  # pragma: no cover - the extra is installed in every test environment
        raise ImportError("quantlib.stores.arrow needs pyarrow: pip install 'quantlib-embeddings[arrow]'") from None
    return pyarrow


@dataclass(frozen=True)
class _Plan:
    """What a column holds: its kind, precision, logical dimension, codec and storage."""

    kind: Kind
    info: PrecisionInfo | None  # None for sparse
    dim: int | None
    codec: Codec | None  # the codec recorded: None for uncalibrated int8/uint8 codes and sparse
    values: np.ndarray | None = None  # dense: the (n, w) storage matrix, ready for Arrow
    vocab_size: int | None = None
    index_dtype: np.dtype | None = None  # sparse

    def metadata(self) -> dict[bytes, bytes]:
        record: dict[str, Any] = {
            "kind": self.kind,
            "precision": self.info.name if self.info is not None else None,
            "dim": self.dim,
            "codec": self.codec.get_config() if self.codec is not None else None,
            "version": FORMAT_VERSION,
        }
        if self.kind == "sparse":
            record["vocab_size"] = self.vocab_size
        record[_checksum.KEY] = _record_checksum(record)
        return {METADATA_KEY: json.dumps(record, sort_keys=True).encode("ascii")}

    def arrow_type(self) -> Any:
        """The ``fixed_size_list`` type of one vector (dense and multi-vector tokens)."""
        pa = _pa()
        assert self.info is not None and self.dim is not None
        item = pa.uint8() if self.info.packed else pa.from_numpy_dtype(self.info.dtype)
        return pa.list_(item, code_width(self.info, self.dim))


# ---------------------------------------------------------------------------------------------- writing


def _plan(data: Any, codec: Any, precision: Any, dim: Any, name: str = "data") -> _Plan:
    """Check ``data`` and the format arguments against each other; nothing is converted yet."""
    if isinstance(codec, dict):
        codec = codec_from_config(codec)
    if codec is not None and not isinstance(codec, Codec):
        raise DTypeError(f"codec: expected a quantlib codec or its config dict, got {type(codec).__name__}")
    if isinstance(data, SparseBatch):
        if codec is not None or precision is not None or dim is not None:
            raise ConfigError(f"{name}: a SparseBatch takes no codec, precision or dim (its values are float32)")
        return _Plan("sparse", None, None, None, vocab_size=data.vocab_size, index_dtype=data.indices.dtype)
    if isinstance(data, MultiVectorBatch):
        if precision is not None and precision_info(precision).name != data.precision:
            raise ConfigError(f"precision: the batch holds {data.precision} tokens, got precision={precision!r}")
        if dim is not None and dim != data.dim:
            raise ShapeError(f"dim: the batch's tokens have dimension {data.dim}, got dim={dim!r}")
        bcodec = data.codec
        if codec is not None and bcodec is not None and codec != bcodec:
            raise ConfigError(f"codec: the batch carries a different codec ({bcodec!r}) than the one given")
        if codec is not None and codec.precision != data.precision:
            raise ConfigError(f"codec: the codec is for {codec.precision}, but the batch holds {data.precision}")
        mcodec = _record_codec(data.info, codec if codec is not None else bcodec)
        return _Plan("multivector", data.info, data.dim, mcodec)
    if not isinstance(data, np.ndarray):
        raise DTypeError(
            f"{name}: expected a 2-D numpy array, a MultiVectorBatch or a SparseBatch, got {type(data).__name__}"
        )
    if data.ndim != 2:
        raise ShapeError(f"{name}: expected a batch of shape (n, d), got an array of shape {data.shape}"
                         + ("; use data[None, :] for one vector" if data.ndim == 1 else ""))
    if precision is not None:
        info = precision_info(precision)
    elif codec is not None:
        info = codec.info
    elif data.dtype.kind == "f" and data.dtype.itemsize in (2, 4):
        info = precision_info("float16" if data.dtype.itemsize == 2 else "float32")
    elif data.dtype.kind in "iu" and data.dtype.itemsize == 1:
        codes, bits = ("int8", "binary") if data.dtype.kind == "i" else ("uint8", "ubinary")
        raise DTypeError(f"{name}: {data.dtype} arrays hold either {codes} codes or packed bits; "
                         f"pass codec=, precision={codes!r} or precision={bits!r}")
    else:
        hint = "; cast to float32 or quantize first" if data.dtype.kind == "f" else ""
        raise DTypeError(f"{name}: expected float32, float16, int8 or uint8 values, got dtype {data.dtype}{hint}")
    if codec is not None and codec.precision != info.name:
        raise ConfigError(f"codec: the codec is for {codec.precision}, but precision is {info.name!r}")
    want = info.dtype.newbyteorder("=")
    if data.dtype.kind != want.kind or data.dtype.itemsize != want.itemsize:
        raise DTypeError(f"{name}: {info.name} values must have dtype {want}, got dtype {data.dtype}")
    width = data.shape[1]
    if width == 0:
        raise ShapeError(f"{name}: expected at least one component per row, got shape {data.shape}")
    if info.packed:
        true_dim = 8 * width if dim is None else _checked_dim(dim)
        if code_width(info, true_dim) != width:
            raise ShapeError(f"{name}: packed bits of dimension {true_dim} take {code_width(info, true_dim)} "
                             f"bytes per row, got {width}")
    else:
        true_dim = width
        if dim is not None and _checked_dim(dim) != width:
            raise ShapeError(f"dim: {name} has {width} components per row, got dim={dim!r}")
    if isinstance(codec, ScalarCodec) and codec.dim != width:
        raise ShapeError(f"codec: the codec was calibrated for dimension {codec.dim}, {name} has {width}")
    return _Plan("dense", info, true_dim, _record_codec(info, codec), values=data)


def _checked_dim(dim: Any) -> int:
    return check_dim(dim, "dim")


def _record_codec(info: PrecisionInfo, codec: Codec | None) -> Codec | None:
    """The codec to record: the given one, the precision's own for floats and bits, None for bare codes."""
    if codec is not None:
        return codec
    return None if info.is_scalar else get_codec(info.name)


def _flat(values: np.ndarray, info: PrecisionInfo) -> Any:
    """The Arrow child array of a (rows, w) storage matrix: a view when it can be one."""
    pa = _pa()
    want = info.dtype.newbyteorder("=")
    arr = np.ascontiguousarray(values, dtype=want)
    if info.name == "binary":
        arr = from_offset_binary(arr)  # the packed sign bits (a new array)
    item = pa.uint8() if info.packed else pa.from_numpy_dtype(want)
    return pa.array(arr.reshape(-1), type=item)


def to_arrow(data: Column, *, codec: Codec | dict[str, Any] | None = None, precision: str | None = None,
             dim: int | None = None) -> pa.Array:
    """An Arrow column of vectors, codes, bits, multi-vectors or sparse vectors, zero-copy where possible.

    Parameters
    ----------
    data : numpy.ndarray (n, d) or (n, w), MultiVectorBatch or SparseBatch
        float32/float16 embeddings, int8/uint8 codes or packed bits (uint8
        ``ubinary``, int8 ``binary``).
    codec : Codec or dict, optional
        The codec that made the codes (a calibrated :class:`~quantlib.ScalarCodec`
        for int8/uint8); also sets the precision.
    precision : str, optional
        Needed for int8/uint8 arrays without a codec: ``"int8"``/``"uint8"``
        for codes, ``"binary"``/``"ubinary"`` for packed bits.
    dim : int, optional
        The bits of a packed row (default ``8 * w``); checked against the width otherwise.

    Returns
    -------
    pyarrow.Array
        The column without its metadata; put it in a table with :func:`field`
        (or use :func:`to_table`) so that it can be read back.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(6, dtype=np.float32).reshape(2, 3)
    >>> col = to_arrow(x)
    >>> col.type, np.shares_memory(col.values.to_numpy(), x)
    (FixedSizeListType(fixed_size_list<item: float>[3]), True)
    """
    return _to_arrow(_plan(data, codec, precision, dim), data)


def _to_arrow(plan: _Plan, data: Any) -> Any:
    pa = _pa()
    if plan.kind == "dense":
        assert plan.info is not None and plan.values is not None
        return pa.FixedSizeListArray.from_arrays(_flat(plan.values, plan.info), plan.values.shape[1])
    typ = _arrow_type(plan, data)
    if plan.kind == "multivector":
        tokens, offsets = data.to_flat()
        rows = pa.FixedSizeListArray.from_arrays(_flat(tokens, data.info), tokens.shape[1])
        return _lists(typ, offsets, rows)
    parts = [data.indices, data.values]
    if data.tokens is not None:
        parts.append(pa.array(data.tokens, pa.string()))
    children = [_lists(typ.field(i).type, data.indptr, part if isinstance(part, pa.Array) else pa.array(part))
                for i, part in enumerate(parts)]
    return pa.StructArray.from_arrays(children, fields=list(typ))


def _lists(typ: Any, offsets: np.ndarray, values: Any) -> Any:
    """A list (int32 offsets) or large_list (int64) array of ``values`` split at ``offsets``."""
    pa = _pa()
    if pa.types.is_large_list(typ):
        return pa.LargeListArray.from_arrays(pa.array(offsets), values, type=typ)
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), values, type=typ)


def _arrow_type(plan: _Plan, data: Any) -> Any:
    """The column's Arrow type (list offsets widen to large_list beyond 2**31 - 1 items)."""
    pa = _pa()
    if plan.kind == "dense":
        return plan.arrow_type()
    if plan.kind == "multivector":
        kind = pa.list_ if data.offsets[-1] <= _INT32_MAX else pa.large_list
        return kind(pa.field("item", plan.arrow_type(), nullable=False))
    kind = pa.list_ if data.indptr[-1] <= _INT32_MAX else pa.large_list
    fields = [pa.field("indices", kind(pa.from_numpy_dtype(plan.index_dtype)), nullable=False),
              pa.field("values", kind(pa.float32()), nullable=False)]
    if data.tokens is not None:
        fields.append(pa.field("tokens", kind(pa.string()), nullable=False))
    return pa.struct(fields)


def field(name: str, data: Column, *, codec: Codec | dict[str, Any] | None = None, precision: str | None = None,
          dim: int | None = None, nullable: bool = False) -> pa.Field:
    """The Arrow field of :func:`to_arrow` ``(data, ...)``: its type and quantlib's metadata.

    ``pyarrow.Table.append_column(field(...), to_arrow(...))`` adds the column
    to a table of your own; :func:`to_table` does both.

    Examples
    --------
    >>> import numpy as np
    >>> bits = np.packbits(np.ones((2, 12)) > 0, axis=-1)
    >>> f = field("bits", bits, precision="ubinary", dim=12)
    >>> f.type, sorted(f.metadata)
    (FixedSizeListType(fixed_size_list<item: uint8>[2]), [b'quantlib'])
    """
    return _field(name, _plan(data, codec, precision, dim), data, nullable)


def _field(name: str, plan: _Plan, data: Any, nullable: bool) -> Any:
    return _pa().field(name, _arrow_type(plan, data), nullable=nullable, metadata=plan.metadata())


def to_table(data: Column, *, column: str = "vector", codec: Codec | dict[str, Any] | None = None,
             precision: str | None = None, dim: int | None = None,
             columns: dict[str, Any] | None = None) -> pa.Table:
    """A ``pyarrow.Table`` of ``columns`` (ids, text, ...) and the vector column last.

    Write it with ``pyarrow.parquet.write_table`` or hand it to
    ``lancedb``'s ``create_table``; :func:`from_arrow` and :func:`read_parquet`
    read the vector column back with its codec.

    Parameters
    ----------
    data, codec, precision, dim
        As for :func:`to_arrow`.
    column : str
        The name of the vector column.
    columns : dict of str to array_like, optional
        Other columns, converted by ``pyarrow.table``; one value per row of ``data``.

    Examples
    --------
    >>> import numpy as np
    >>> t = to_table(np.eye(2, dtype=np.float16), columns={"id": [7, 8]})
    >>> t.column_names, t.num_rows
    (['id', 'vector'], 2)
    """
    pa = _pa()
    plan = _plan(data, codec, precision, dim)
    vectors = _to_arrow(plan, data)
    table = pa.table(columns) if columns else pa.table({})
    if columns and table.num_rows != len(vectors):
        raise ShapeError(f"columns: expected {len(vectors)} rows (one per vector), got {table.num_rows}")
    if column in table.column_names:
        raise ShapeError(f"column: {column!r} is also a key of columns")
    if not columns:
        return pa.Table.from_arrays([vectors], schema=pa.schema([_field(column, plan, data, False)]))
    return table.append_column(_field(column, plan, data, False), vectors)


# ---------------------------------------------------------------------------------------------- reading


def from_arrow(data: Any, column: str | None = None, *, field: pa.Field | None = None,
               codec: Codec | dict[str, Any] | None = None, precision: str | None = None,
               dim: int | None = None) -> tuple[Column, Codec | None, int | None]:
    """The column's values as numpy (read-only views of Arrow's buffers), its codec and its dimension.

    Parameters
    ----------
    data : pyarrow.Table, RecordBatch, Array or ChunkedArray
        A table (with ``column``), or a column (with its ``field``).  A chunked
        column of several chunks is refused (see Raises).
    column : str, optional
        The vector column of a table; default: the only column with quantlib metadata.
    field : pyarrow.Field, optional
        The field of an array given alone, carrying the metadata.
    codec, precision, dim : optional
        For columns that quantlib did not write (no metadata): what they hold,
        as for :func:`to_arrow`.  With metadata, they must agree with it.

    Returns
    -------
    values : numpy.ndarray (n, w), MultiVectorBatch or SparseBatch
        Read-only; dense values share memory with the column.
    codec : Codec or None
        The codec recorded (float and bit columns get their precision's codec),
        None for int8/uint8 codes that no calibrated codec made, and for sparse columns.
    dim : int or None
        The logical dimension (bits of a packed row); the vocabulary size of a sparse column.

    Raises
    ------
    ConfigError
        Metadata missing (and no ``precision``/``codec``), unreadable, damaged
        (checksum) or contradicting the column or the arguments.
    DTypeError
        A column that is not Arrow, or of the wrong Arrow type.
    ShapeError
        A list width that does not fit the dimension, nulls, or several chunks
        (join them with ``combine_chunks()``, which copies).

    Examples
    --------
    >>> import numpy as np
    >>> bits = np.packbits(np.array([[1, -1, 1]]) > 0, axis=-1)
    >>> t = to_table(bits, precision="ubinary", dim=3)
    >>> from_arrow(t)
    (array([[160]], dtype=uint8), BitCodec('ubinary'), 3)
    """
    pa = _pa()
    name = "data"
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        if field is not None:
            raise ConfigError("field: a table carries its own fields; pass field= only with an array")
        schema = data.schema
        if column is None:
            marked = [f.name for f in schema if f.metadata and METADATA_KEY in f.metadata]
            if len(marked) != 1:
                raise ConfigError(f"column: expected the name of the vector column, got none, and the table has "
                                  f"{len(marked)} columns with quantlib metadata ({', '.join(marked) or 'none'})")
            column = marked[0]
        if not isinstance(column, str) or column not in schema.names:
            raise ConfigError(f"column: expected one of the table's columns {schema.names}, got {short_repr(column)}")
        field = schema.field(column)
        arr = data.column(column)
        name = f"column {column!r}"
    elif isinstance(data, (pa.Array, pa.ChunkedArray)):
        if column is not None:
            raise ConfigError("column: names a column of a table; pass the field with field= for an array")
        if field is not None and not isinstance(field, pa.Field):
            raise DTypeError(f"field: expected a pyarrow.Field, got {type(field).__name__}")
        arr = data
    else:
        raise DTypeError(f"data: expected a pyarrow Table, RecordBatch, Array or ChunkedArray, "
                         f"got {type(data).__name__}")
    if isinstance(arr, pa.ChunkedArray):
        if arr.num_chunks == 0:  # an empty table
            arr = pa.array([], type=arr.type)
        elif arr.num_chunks != 1:
            raise ShapeError(f"{name}: expected one chunk, got a chunked array of {arr.num_chunks} chunks; "
                             "join them with combine_chunks() (a copy) or read one chunk at a time")
        else:
            arr = arr.chunk(0)
    record = _read_metadata(field, name) if field is not None else None
    if field is not None and not arr.type.equals(field.type):
        raise DTypeError(f"field: the field has type {field.type}, the column {arr.type}")
    plan = _read_plan(record, codec, precision, dim, arr.type, name)
    try:
        return _read(arr, plan, name)
    except QuantlibError as exc:  # the constructors name their own arguments (tokens, offsets, indices)
        if str(exc).startswith(name):
            raise
        raise type(exc)(f"{name}: {exc}") from None


def _record_checksum(record: dict[str, Any]) -> str:
    """The record's checksum: its canonical JSON with the codec config stood for by the config's own checksum.

    The codec config carries a checksum of everything in it, so the chain still
    covers every byte while the record's own sum stays cheap (a 1024-dimension
    int8 codec is 2048 floats of JSON, milliseconds to print).  A config without
    a checksum (version 1) is covered whole.
    """
    body = dict(record)
    cfg = body.get("codec")
    if isinstance(cfg, dict) and isinstance(cfg.get(_checksum.KEY), str):
        body["codec"] = {_checksum.KEY: cfg[_checksum.KEY]}
    return _checksum.record_checksum(body)


@dataclass(frozen=True)
class _Recorded:
    """A checked metadata record."""

    kind: Kind
    precision: str | None
    dim: int | None
    codec_class: type[Codec] | None
    codec_config: dict[str, Any] | None
    vocab_size: int | None

    def codec(self) -> Codec | None:
        """A new codec from the checked config (a caller may change what it gets; the cache keeps the config)."""
        if self.codec_class is None or self.codec_config is None:
            return None
        return self.codec_class.from_config(self.codec_config)


def _read_metadata(field: Any, name: str) -> _Recorded | None:
    raw = (field.metadata or {}).get(METADATA_KEY)
    return None if raw is None else _parse_metadata(raw, name)


@functools.lru_cache(maxsize=32)
def _parse_metadata(raw: bytes, name: str) -> _Recorded:
    """Parse and check a metadata record once per distinct record (reading a column again is then cheap)."""
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(f"{name}: the field's {METADATA_KEY.decode()} metadata is not JSON: "
                          f"{short_repr(raw)}") from None
    if not isinstance(record, dict):
        raise ConfigError(f"{name}: the field's quantlib metadata is not a JSON object: {short_repr(record)}")
    if record.get("version") != FORMAT_VERSION or isinstance(record.get("version"), bool):
        raise ConfigError(f"{name}: quantlib metadata version {short_repr(record.get('version'))} is not one "
                          f"this quantlib reads ({FORMAT_VERSION})")
    stored = record.get(_checksum.KEY)
    try:
        actual = _record_checksum(record)
    except (TypeError, ValueError, RecursionError) as exc:  # pragma: no cover - json.loads gives JSON data
        raise ConfigError(f"{name}: quantlib metadata is not JSON data ({short_repr(str(exc), 120)})") from None
    if stored != actual:
        raise ConfigError(f"{name}: quantlib metadata: the checksum says {short_repr(stored)}, the content gives "
                          f"{actual}: it was changed or corrupted")
    try:
        kind = record["kind"]
        if kind not in ("dense", "multivector", "sparse"):
            raise ConfigError(f"{name}: quantlib metadata has an unknown kind {short_repr(kind)}")
        if kind == "sparse":
            vocab = record.get("vocab_size")
            if vocab is not None and (not isinstance(vocab, int) or isinstance(vocab, bool) or vocab < 1):
                raise ConfigError(f"{name}: quantlib metadata has a bad vocab_size {short_repr(vocab)}")
            return _Recorded("sparse", None, None, None, None, vocab)
        info = precision_info(record["precision"], name=f"{name} metadata precision")
        dim = check_dim(record["dim"], f"{name} metadata dim")
        codec = codec_from_config(record["codec"]) if record["codec"] is not None else None
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{name}: quantlib metadata lacks or garbles {exc}") from None
    except (ConfigError, ShapeError, ValueError) as exc:
        if isinstance(exc, ConfigError) and str(exc).startswith(name):
            raise
        raise ConfigError(f"{name}: quantlib metadata: {exc}") from None
    if codec is not None and codec.precision != info.name:
        raise ConfigError(f"{name}: quantlib metadata records a {codec.precision} codec for {info.name} values")
    if codec is None and not info.is_scalar:
        raise ConfigError(f"{name}: quantlib metadata records no codec for {info.name} values")
    config = None if codec is None else {**record["codec"], "id": codec.precision}
    return _Recorded(kind, info.name, dim, None if codec is None else type(codec), config, None)


def _read_plan(rec: _Recorded | None, codec: Any, precision: Any, dim: Any, typ: Any, name: str) -> _Plan:
    pa = _pa()
    if isinstance(codec, dict):
        codec = codec_from_config(codec)
    if codec is not None and not isinstance(codec, Codec):
        raise DTypeError(f"codec: expected a quantlib codec or its config dict, got {type(codec).__name__}")
    if rec is None:
        if pa.types.is_struct(typ):
            return _Plan("sparse", None, None, None)
        if precision is None and codec is None:
            raise ConfigError(f"{name}: the field has no quantlib metadata; pass precision= (and dim= for bits, "
                              "codec= for calibrated codes), or write the column with quantlib.stores.arrow")
        info = precision_info(precision) if precision is not None else codec.info
        if codec is not None and codec.precision != info.name:
            raise ConfigError(f"codec: the codec is for {codec.precision}, but precision is {info.name!r}")
        kind: Kind = "multivector" if (pa.types.is_list(typ) or pa.types.is_large_list(typ)) else "dense"
        return _Plan(kind, info, None if dim is None else _checked_dim(dim), _record_codec(info, codec))
    if rec.kind == "sparse":
        if codec is not None or precision is not None or dim is not None:
            raise ConfigError(f"{name}: a sparse column takes no codec, precision or dim")
        return _Plan("sparse", None, None, None, vocab_size=rec.vocab_size)
    info = precision_info(rec.precision)
    mcodec = rec.codec()
    if precision is not None and precision_info(precision).name != info.name:
        raise ConfigError(f"precision: the column holds {info.name} values, got precision={precision!r}")
    if dim is not None and _checked_dim(dim) != rec.dim:
        raise ShapeError(f"dim: the column's dimension is {rec.dim}, got dim={dim!r}")
    if codec is not None and codec != mcodec:
        raise ConfigError(f"codec: the column records {mcodec!r}, a different codec than the one given")
    return _Plan(rec.kind, info, rec.dim, mcodec)


def _no_nulls(arr: Any, name: str, what: str = "") -> None:
    if arr.null_count:
        raise ShapeError(f"{name}: expected no nulls, got {arr.null_count} null{'s' if arr.null_count > 1 else ''}"
                         f"{what}; drop or fill them first")


def _values(arr: Any, info: PrecisionInfo, dim: int | None, name: str) -> tuple[np.ndarray, int]:
    """The (n, w) storage matrix of a fixed_size_list column (a read-only view) and the dimension."""
    pa = _pa()
    typ = arr.type
    if not pa.types.is_fixed_size_list(typ):
        raise DTypeError(f"{name}: {info.name} vectors are a fixed_size_list column, got {typ}")
    item = pa.uint8() if info.packed else pa.from_numpy_dtype(info.dtype)
    if not typ.value_type.equals(item):
        raise DTypeError(f"{name}: {info.name} vectors are fixed_size_list<{item}>, got {typ}")
    width = typ.list_size
    if dim is None:
        dim = 8 * width if info.packed else width
    if code_width(info, dim) != width:
        unit = "bytes" if info.packed else "components"
        raise ShapeError(f"{name}: {info.name} vectors of dimension {dim} have {code_width(info, dim)} {unit} "
                         f"per row, got fixed_size_list of {width}")
    _no_nulls(arr, name)
    flat = arr.flatten()  # the parent's slice of the child, without copying
    _no_nulls(flat, name, " inside the vectors")
    if len(flat) != len(arr) * width:  # pragma: no cover - Arrow guarantees it for valid arrays
        raise ShapeError(f"{name}: expected {len(arr) * width} values, got {len(flat)}")
    values = flat.to_numpy(zero_copy_only=True).reshape(len(arr), width)
    if info.name == "binary":
        values = to_offset_binary(values)
    if values.flags.writeable:
        values.flags.writeable = False
    return values, dim


def _offsets(arr: Any, name: str) -> np.ndarray:
    """int64 list offsets starting at 0 (the list's own slice)."""
    offs = arr.offsets.to_numpy(zero_copy_only=True)
    return (offs - offs[0]).astype(np.int64) if offs.size else np.zeros(1, np.int64)


def _read(arr: Any, plan: _Plan, name: str) -> tuple[Column, Codec | None, int | None]:
    pa = _pa()
    if plan.kind == "dense":
        assert plan.info is not None
        values, dim = _values(arr, plan.info, plan.dim, name)
        return values, plan.codec, dim
    if plan.kind == "multivector":
        assert plan.info is not None
        if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
            raise DTypeError(f"{name}: multi-vectors are a list<fixed_size_list> column, got {arr.type}")
        _no_nulls(arr, name)
        tokens, dim = _values(arr.flatten(), plan.info, plan.dim, name)
        batch = MultiVectorBatch(tokens, _offsets(arr, name), precision=plan.info.name, dim=dim,
                                 codec=plan.codec)
        return batch, plan.codec, dim
    typ = arr.type
    keys = ("indices", "values", "tokens")[:typ.num_fields if pa.types.is_struct(typ) else 0]
    if len(keys) < 2 or any(typ.get_field_index(key) < 0 for key in keys):
        raise DTypeError(f"{name}: sparse vectors are a struct<indices: list<int>, values: list<float>"
                         f"[, tokens: list<string>]> column, got {typ}")
    _no_nulls(arr, name)
    parts = {}
    for key in keys:
        child = arr.field(key)
        if not (pa.types.is_list(child.type) or pa.types.is_large_list(child.type)):
            raise DTypeError(f"{name}: the sparse {key} are a list column, got {child.type}")
        _no_nulls(child, name, f" in {key}")
        parts[key] = child
    ptr = _offsets(parts["indices"], name)
    if any(not np.array_equal(ptr, _offsets(parts[key], name)) for key in keys[1:]):
        raise ShapeError(f"{name}: the {' and '.join(keys)} lists have different lengths in some row")
    tokens = None
    if "tokens" in parts:
        flat = parts["tokens"].flatten()
        if not (pa.types.is_string(flat.type) or pa.types.is_large_string(flat.type)):
            raise DTypeError(f"{name}: sparse tokens must be strings, got list<{flat.type}>")
        _no_nulls(flat, name, " inside the tokens")
        tokens = flat.to_pylist()
    idx, val = (parts[k].flatten() for k in ("indices", "values"))
    if not pa.types.is_integer(idx.type):
        raise DTypeError(f"{name}: sparse indices must be integers, got list<{idx.type}>")
    if not val.type.equals(pa.float32()):
        raise DTypeError(f"{name}: sparse values must be float32, got list<{val.type}>")
    _no_nulls(idx, name, " inside the indices")
    _no_nulls(val, name, " inside the values")
    batch = SparseBatch(ptr, idx.to_numpy(zero_copy_only=True), val.to_numpy(zero_copy_only=True),
                        vocab_size=plan.vocab_size, tokens=tokens)
    return batch, None, plan.vocab_size


def read_parquet(source: Any, column: str = "vector", *, memory_map: bool = False
                 ) -> tuple[Column, Codec | None, int | None]:
    """Read one vector column of a Parquet file back to numpy, with its codec and dimension.

    Only that column is read; its row groups are joined into one array.
    ``source`` is a path or a file object, as for ``pyarrow.parquet.read_table``.

    Examples
    --------
    >>> import io, numpy as np, pyarrow.parquet as pq
    >>> buf = io.BytesIO()
    >>> pq.write_table(to_table(np.ones((2, 4), np.float32)), buf)
    >>> values, codec, dim = read_parquet(io.BytesIO(buf.getvalue()))
    >>> values.shape, codec, dim
    ((2, 4), FloatCodec('float32'), 4)
    """
    import pyarrow.parquet as pq

    with pq.ParquetFile(source, memory_map=memory_map) as pf:
        names = pf.schema_arrow.names
        if not isinstance(column, str) or column not in names:
            raise ConfigError(f"column: expected one of the file's columns {names}, got {short_repr(column)}")
        table = pf.read(columns=[column])
    return from_arrow(table.combine_chunks(), column)
