"""Base64 <-> numpy, as embedding APIs carry vectors through JSON.

The bytes are the array's items in little-endian order (``<f4``, ``<f2``,
``i1``, ``u1``), rows one after the other: what Voyage, Cohere, Jina and
OpenAI send for ``encoding_format="base64"``.  The payload never says its
dtype, so decoding always takes it.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._kernels import codecs as K
from ._validation import check_dim, describe
from .codecs.binary import resolve_bit_dim
from .errors import Base64DecodeError, DTypeError, QuantlibError, short_repr
from .precision import PrecisionInfo, code_width, wire_dtype

__all__ = ["b64decode", "b64encode", "b64encode_rows"]

Base64Data = str | bytes | bytearray | memoryview | Sequence[str | bytes]

#: Inputs shorter than this many characters are decoded by binascii alone: the
#: kernel's gain (it decodes 4-8 times faster than ``binascii.a2b_base64``)
#: would not pay for its compilation or its call overhead on small strings.
FAST_DECODE_MIN_CHARS = 1 << 14

#: Characters of text per kernel call.  Joining or encoding a whole response
#: at once allocated fresh pages (about 5 MB for 1000 float32 rows of 1024) and
#: doubled the decode time; pieces of 128 KB stay in cache and reuse memory.
_CHUNK_CHARS = 1 << 17

# Storage dtypes that have a base64 form, little-endian, by (kind, itemsize).
_WIRE = {
    ("f", 4): np.dtype("<f4"), ("f", 2): np.dtype("<f2"), ("i", 1): np.dtype("i1"), ("u", 1): np.dtype("u1"),
}


def _wire_dtype(array: np.ndarray, name: str, dtype: Any = None) -> np.dtype:
    wire = _WIRE.get((array.dtype.kind, array.dtype.itemsize))
    if dtype is not None and wire is not None:
        info, stated = _dtype_precision(dtype)
        if (stated.kind, stated.itemsize) != (wire.kind, wire.itemsize):
            raise DTypeError(
                f"dtype: {short_repr(dtype)} ({info.name}, {stated.itemsize}-byte {stated.kind} items) does not "
                f"match the {name}'s dtype {array.dtype}; cast or quantize the {name} first"
            )
        return stated
    if wire is None:
        raise DTypeError(
            f"{name}: expected float32, float16, int8 or uint8 (the embedding wire dtypes), "
            f"got dtype {array.dtype}"
            + ("; cast float64 to float32 first" if array.dtype == np.float64 else "")
        )
    return wire


def b64encode(array: Any, dtype: Any = None) -> str:
    """Base64 of an array's items, little-endian, row after row.

    Parameters
    ----------
    array : numpy.ndarray
        float32, float16, int8 or uint8 (bit-packed codes are uint8 or int8),
        in either byte order: the values are written, not the memory.
    dtype : str or numpy dtype, optional
        The layout to write, when it is not the little-endian one: ``">f4"``
        or ``np.dtype(">f2")`` writes big-endian items (read them back with
        :func:`b64decode` and the same ``dtype``).  It must be the array's own
        type in some byte order or spelling (``"float32"``, ``"<f4"``...);
        anything else is a :class:`~quantlib.DTypeError`, never a cast.

    Returns
    -------
    str
        ASCII base64 with ``=`` padding.

    Examples
    --------
    >>> import numpy as np
    >>> b64encode(np.array([1.0, -2.0], dtype=np.float32))
    'AACAPwAAAMA='
    >>> b64encode(np.array([1.0, -2.0], dtype=np.float32), ">f4")
    'P4AAAMAAAAA='
    """
    if not isinstance(array, np.ndarray):
        raise DTypeError(f"array: expected a numpy array, got {describe(array)}")
    wire = _wire_dtype(array, "array", dtype)
    data = np.ascontiguousarray(array, dtype=wire)
    return binascii.b2a_base64(data.reshape(-1).view(np.uint8), newline=False).decode("ascii")


def b64encode_rows(array: Any, dtype: Any = None) -> list[str]:
    """One base64 string per row of a 2-D array, as provider responses carry them.

    ``dtype`` states a big-endian layout to write, as in :func:`b64encode`.

    Examples
    --------
    >>> import numpy as np
    >>> b64encode_rows(np.array([[77], [3]], dtype=np.uint8))
    ['TQ==', 'Aw==']
    """
    if not isinstance(array, np.ndarray):
        raise DTypeError(f"array: expected a numpy array, got {describe(array)}")
    if array.ndim != 2:
        from .errors import ShapeError

        raise ShapeError(f"array: expected a 2-D (n, d) array, got shape {array.shape}")
    wire = _wire_dtype(array, "array", dtype)
    data = np.ascontiguousarray(array, dtype=wire).view(np.uint8)
    return [binascii.b2a_base64(row, newline=False).decode("ascii") for row in data]


def b64decode(data: Base64Data, dtype: str | Any, *, dim: int | None = None) -> np.ndarray:
    """Decode base64 into a writable, aligned numpy array.

    Parameters
    ----------
    data : str, bytes or list of str/bytes
        One base64 string (a vector, or several rows back to back when ``dim``
        is given) or a list of strings, one per row.
    dtype : str or numpy dtype
        A precision word (``"float32"``/``"float"``, ``"float16"``, ``"int8"``,
        ``"uint8"``, ``"binary"``, ``"ubinary"``) or any numpy spelling of
        float32, float16, int8 or uint8 (``np.float32``, ``"f4"``, ``"<f4"``,
        ``"single"``, ``"e"``, ``"i1"``, ``"B"``...).  The bytes are read
        little-endian, the providers' order, unless the dtype states
        big-endian order (``">f4"``, ``np.dtype(">f2")``): then they are read
        big-endian.  Either way the result is in native order.  For bits say
        ``"binary"``/``"ubinary"``: that makes ``dim`` count bits.
    dim : int, optional
        Components per row; for ``binary``/``ubinary`` the logical dimension,
        so a row is ``ceil(dim / 8)`` bytes (and its padding bits must be zero).

    Returns
    -------
    numpy.ndarray
        In native byte order: ``(k,)`` for one string without ``dim``,
        ``(n, width)`` for a list of strings or with ``dim``.

    Raises
    ------
    Base64DecodeError
        Characters outside the base64 alphabet, bad padding, or a byte length
        that is not a whole number of items, rows, or ``dim``-sized rows.

    Examples
    --------
    >>> b64decode("AACAPwAAAMA=", "float32")
    array([ 1., -2.], dtype=float32)
    >>> b64decode("P4AAAMAAAAA=", ">f4")
    array([ 1., -2.], dtype=float32)
    >>> b64decode(["TQ==", "Aw=="], "ubinary", dim=8)
    array([[77],
           [ 3]], dtype=uint8)
    """
    info, wire = _dtype_precision(dtype)
    if dim is not None:
        dim = check_dim(dim)
    width = code_width(info, dim) if dim is not None else None
    if isinstance(data, (str, bytes, bytearray, memoryview)):
        out = _decode_fast([data], wire, width, one=True)
        if out is None:
            out = _frame(_a2b(data, "data"), wire, width, "data")
    elif isinstance(data, Sequence):
        out = decode_rows(data, wire, width=width)
    else:
        raise DTypeError(f"data: expected base64 str or bytes, or a list of them, got {describe(data)}")
    if info.family == "signs" and dim is not None and out.ndim == 2:  # zero padding bits, MSB first
        resolve_bit_dim(out, dim, "data")
    return out


def _dtype_precision(dtype: Any) -> tuple[PrecisionInfo, np.dtype]:
    """The precision of ``dtype`` and the byte layout of its items (big-endian only if ``dtype`` says so)."""
    if dtype is None:  # np.dtype(None) is float64, which the message would name instead
        raise DTypeError("dtype: expected a precision name or numpy dtype, got None")
    if not isinstance(dtype, (str, PrecisionInfo)):  # a dtype object of another type stays a DTypeError
        try:
            npd = np.dtype(dtype)
        except TypeError:
            raise DTypeError(f"dtype: expected a precision name or numpy dtype, got {short_repr(dtype)}") from None
        if npd.newbyteorder("=") not in (np.float32, np.float16, np.int8, np.uint8):
            raise DTypeError(f"dtype: expected float32, float16, int8 or uint8, got {npd}")
    return wire_dtype(dtype, name="dtype")


def _decode_fast(rows: Sequence[Any], wire: np.dtype, width: int | None, *, one: bool) -> np.ndarray | None:
    """Decode straight into the output array with the kernel, or None to take the binascii path.

    Only well-formed input of at least :data:`FAST_DECODE_MIN_CHARS` takes this
    path: rows that are all ``str`` (ASCII) or all bytes, of one length that is
    a multiple of 4, each ending in the padding its byte count needs.  Anything
    else, and anything the kernel refuses, returns None, and the binascii path
    (``strict_mode=True``) then decodes it or raises the error with its message,
    so both paths accept the same input and give the same bytes.
    """
    n = len(rows)
    if n == 0 or not wire.isnative:
        return None
    first = rows[0]
    if not isinstance(first, (str, bytes)):
        return None
    chars = len(first)
    if chars < 4 or chars % 4 or chars * n < FAST_DECODE_MIN_CHARS:
        return None
    try:
        if n > 1 and not all(map(chars.__eq__, map(len, rows))):  # one C-level pass, stops at the first
            return None
    except TypeError:  # an item without a length
        return None
    eq = "=" if isinstance(first, str) else b"="
    pad = 2 if first.endswith(eq * 2) else 1 if first.endswith(eq) else 0
    row_bytes = chars // 4 * 3 - pad
    if row_bytes % wire.itemsize:
        return None
    count = row_bytes // wire.itemsize
    if width is not None and (count % width if one else count != width):
        return None
    if one:
        out = np.empty(count if width is None else (count // width, width), wire)
    else:
        out = np.empty((n, count), wire)
    raw = out.view(np.uint8).reshape(n, row_bytes)
    try:
        ok = _decode_text(first, row_bytes, raw[0]) if one else decode_equal_rows(rows, chars, row_bytes, raw)
    except (TypeError, UnicodeEncodeError):  # mixed str and bytes, non-ASCII text
        return None
    return out if ok else None


def _decode_text(text: str | bytes, nbytes: int, out: np.ndarray) -> bool:
    """Decode one string into ``out`` (uint8, ``nbytes``), a piece of :data:`_CHUNK_CHARS` at a time.

    bytes are decoded in place; a str is encoded to ASCII piece by piece, so
    the copy stays in cache instead of being a second buffer as large as the text.
    """
    chars = len(text)
    if isinstance(text, bytes):
        return bool(K.b64decode_rows(np.frombuffer(text, np.uint8), chars, nbytes, K.B64_TABLE, out[None]))
    for a in range(0, chars, _CHUNK_CHARS):
        b = min(chars, a + _CHUNK_CHARS)
        o0, o1 = a // 4 * 3, (nbytes if b == chars else b // 4 * 3)
        piece = np.frombuffer(text[a:b].encode("ascii"), np.uint8)
        if not K.b64decode_rows(piece, b - a, o1 - o0, K.B64_TABLE, out[None, o0:o1]):
            return False
    return True


def decode_equal_rows(rows: Sequence[Any], chars: int, row_bytes: int, out: np.ndarray) -> bool:
    """Decode equal-length rows into ``out`` (uint8, ``(n, row_bytes)``), joining a cache-sized group at a time."""
    rows = rows if isinstance(rows, (list, tuple)) else list(rows)
    per = max(1, _CHUNK_CHARS // chars)
    joiner = "" if isinstance(rows[0], str) else b""
    for c in range(0, len(rows), per):
        block = joiner.join(rows[c:c + per])
        src = np.frombuffer(block.encode("ascii") if isinstance(block, str) else block, np.uint8)
        part = out[c:c + per]
        if src.size != chars * part.shape[0] or not K.b64decode_rows(src, chars, row_bytes, K.B64_TABLE, part):
            return False
    return True


def _a2b(data: str | bytes | bytearray | memoryview, name: str) -> bytes:
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII characters in a str
        raise Base64DecodeError(f"{name}: invalid base64 ({exc})") from None


def _frame(raw: bytes, wire: np.dtype, width: int | None, name: str) -> np.ndarray:
    size = wire.itemsize
    if len(raw) % size:
        raise Base64DecodeError(
            f"{name}: {len(raw)} decoded bytes are not a whole number of {wire.name} items "
            f"({size} bytes each)"
        )
    count = len(raw) // size
    if width is None:
        out = np.empty(count, wire.newbyteorder("="))
    else:
        if count % width:
            raise Base64DecodeError(
                f"{name}: {count} decoded {wire.name} items are not a whole number of rows of {width}"
            )
        out = np.empty((count // width, width), wire.newbyteorder("="))
    out.reshape(-1)[:] = np.frombuffer(raw, wire)
    return out


def _data_row(i: int) -> str:
    return f"data[{i}]"


@dataclass(frozen=True)
class RowWords:
    """How :func:`decode_rows` words its errors; the defaults are :func:`b64decode`'s, rows named ``data[i]``.

    The provider decoders name payload fields (``data[3].embedding``), call a
    row that is not text a :class:`~quantlib.PayloadError` and suspect the
    request's ``output_dtype``.

    Attributes
    ----------
    where : callable
        ``where(i)``: the name of row ``i``.
    items : str or None
        What the items are called (default: the wire dtype's name).
    not_text : type
        The error for a row that is not text, and ``text`` the words it expects, ``describe`` how it shows the row.
    hint : str
        Added to the message about bytes that are not whole items.
    ragged : str
        After "rows must all have the same length; ": ``{i}``, ``{where}``, ``{first_where}``, ``{nbytes}``,
        ``{first}`` (bytes), ``{items}``, ``{first_items}``.
    """

    where: Callable[[int], str] = _data_row
    items: str | None = None
    not_text: type[QuantlibError] = DTypeError
    text: str = "a base64 str or bytes"
    describe: Callable[[Any], str] = describe
    hint: str = ""
    ragged: str = "row 0 has {first_items} items, row {i} has {items}"


_WORDS = RowWords()


def decode_rows(
    rows: Sequence[Any], wire: np.dtype, *, width: int | None = None, words: RowWords = _WORDS
) -> np.ndarray:
    """Base64 rows, one string per row, to an ``(n, items)`` array in native byte order.

    The one row decoder of quantlib: :func:`b64decode` of a list and every
    provider decoder come here.  Rows of one length and well formed go through
    the compiled kernel (:func:`_decode_fast`); anything else is decoded row by
    row with binascii (``strict_mode=True``), which words the first error,
    as ``words`` says: a row that is not text, invalid base64, bytes that are
    not whole items, a first row that is not ``width`` items, a row of another
    length than the first.  No row is sized from another: the output is
    allocated at the first row's size only once every row is known to have it
    (or, when every row has the first row's number of characters, row by row).
    """
    n = len(rows)
    if n == 0:
        return np.empty((0, width or 0), wire.newbyteorder("="))
    out = _decode_fast(rows, wire, width, one=False)
    if out is not None:
        return out
    first = _row_bytes(rows, 0, wire, words)
    if width is not None and len(first) // wire.itemsize != width:
        raise Base64DecodeError(f"{words.where(0)}: expected {width} items per row, got {len(first) // wire.itemsize}")
    chars = len(rows[0])
    same_chars = all(isinstance(row, (str, bytes)) and len(row) == chars for row in rows)
    raws: list[bytes] = [first]
    if not same_chars:  # check every row before allocating at the first one's size
        raws.extend(_same_row_bytes(rows, r, first, wire, words) for r in range(1, n))
    out = np.empty((n, len(first) // wire.itemsize), wire.newbyteorder("="))
    for r in range(n):
        raw = raws[r] if r < len(raws) else _same_row_bytes(rows, r, first, wire, words)
        out[r] = np.frombuffer(raw, wire)
    return out


def _row_bytes(rows: Sequence[Any], r: int, wire: np.dtype, words: RowWords) -> bytes:
    row = rows[r]
    if not isinstance(row, (str, bytes, bytearray, memoryview)):
        raise words.not_text(f"{words.where(r)}: expected {words.text}, got {words.describe(row)}")
    try:
        raw = binascii.a2b_base64(row, strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII characters in a str
        raise Base64DecodeError(f"{words.where(r)}: invalid base64 ({exc})") from None
    if len(raw) % wire.itemsize:
        raise Base64DecodeError(
            f"{words.where(r)}: {len(raw)} decoded bytes are not a whole number of {words.items or wire.name} items "
            f"({wire.itemsize} bytes each){words.hint}"
        )
    return raw


def _same_row_bytes(rows: Sequence[Any], r: int, first: bytes, wire: np.dtype, words: RowWords) -> bytes:
    raw = _row_bytes(rows, r, wire, words)
    if len(raw) != len(first):
        size = wire.itemsize
        raise Base64DecodeError(f"{words.where(r)}: rows must all have the same length; " + words.ragged.format(
            i=r, where=words.where(r), first_where=words.where(0), nbytes=len(raw), first=len(first),
            items=len(raw) // size, first_items=len(first) // size))
    return raw
