"""Provider rows to arrays: lists of numbers or base64 strings, one per input, checked after the fact.

Rows are read into arrays in one numpy conversion (lists) or by
:func:`quantlib.encoding.decode_rows` (base64: the compiled kernel, or
``binascii`` row by row) and checked after the fact: equal lengths, no
strings, ``null`` or booleans where numbers belong, finite floats, integer
codes inside their dtype's range, zero padding bits.  Checks cost a few
vectorised passes; the slow work of finding *where* a payload is wrong runs
only once something is known to be wrong, so that a good payload pays little.

Every provider decoder reaches these through :mod:`quantlib.providers._common`, which re-exports them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np

from .. import encoding
from ..codecs.binary import resolve_bit_dim
from ..encoding import RowWords
from ..errors import (
    Base64DecodeError,
    NonFiniteError,
    OutOfRangeError,
    PayloadError,
    ShapeError,
    short_repr,
)
from ..precision import PrecisionInfo, code_width, precision_info

#: Names one payload position, for error messages: ``where(r)`` -> ``"data[3].embedding"``.
Where = Callable[[int], str]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, np.number)):
        return f"a number ({short_repr(value)})"
    if isinstance(value, str):
        return f"a string ({value[:20]!r}{'...' if len(value) > 20 else ''})"
    if isinstance(value, Mapping):
        return f"an object with keys {sorted(map(str, value))[:8]}"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)} items"
    return type(value).__name__



# ---------------------------------------------------------------- rows -> arrays


def wire_precision(output_dtype: Any) -> PrecisionInfo:
    """``output_dtype`` as a precision; ``"base64"`` (Jina, Cohere: float32 bytes) means float32."""
    if isinstance(output_dtype, str) and output_dtype.strip().lower() == "base64":
        return precision_info("float32")
    return precision_info(output_dtype, name="output_dtype")


def check_output_dimension(output_dimension: Any) -> int | None:
    from .._validation import check_dim

    if output_dimension is None:
        return None
    return check_dim(output_dimension, "output_dimension")


def rows_to_array(
    rows: Sequence[Any],
    info: PrecisionInfo | None,
    where: Where,
    output_dimension: int | None,
) -> tuple[np.ndarray, PrecisionInfo, int]:
    """Lists of numbers, one per row, to an array of ``info``'s storage dtype.

    ``info`` None means the payload did not say: float values are float32,
    integer-only rows are refused (their precision cannot be known).

    Returns the array, the precision and the logical dimension.
    """
    n = len(rows)
    if n == 0:
        info = info or precision_info("float32")
        width = 0 if output_dimension is None else code_width(info, output_dimension)
        return np.empty((0, width), info.dtype.newbyteorder("=")), info, output_dimension or 0
    try:
        arr = np.array(rows)
    except (ValueError, TypeError, OverflowError):
        arr = None
    if arr is None or arr.dtype.kind not in "fiu" or arr.ndim != 2:
        arr = _with_big_integers(rows, info, where)
    if arr is None or arr.dtype.kind not in "fiu" or arr.ndim != 2:
        _raise_bad_rows(rows, where)
    assert arr is not None
    if arr.shape[1] == 0:
        raise ShapeError(f"{where(0)}: expected at least one value per row, got an empty list")
    if info is None:
        if arr.dtype.kind != "f":
            _refuse_booleans(rows, arr, where)
            raise PayloadError(
                f"{where(0)}: the rows hold only integers, so their precision cannot be known: int8 and "
                "binary codes are both int8 on the wire, uint8 and ubinary both uint8, and a float "
                "embedding written without decimals looks the same; pass output_dtype= the value of the "
                "request ('float', 'int8', 'uint8', 'binary' or 'ubinary')"
            )
        info = precision_info("float32")
    if info.is_float:
        out = _floats(arr, info, where)
    else:
        out = _codes(arr, info, where)
    _refuse_booleans(rows, out, where)
    dim = _check_width(out, info, where, output_dimension)
    return out, info, dim


def _big_integer(rows: Sequence[Any]) -> tuple[int, int, int] | None:
    """The first integer beyond 64 bits (row, item, value) in rows of numbers, if any."""
    for r, row in enumerate(rows):
        if not isinstance(row, (list, tuple)):
            return None
        for j, v in enumerate(row):
            if type(v) is int and not -(1 << 63) <= v < (1 << 64):
                return r, j, v
    return None


def _with_big_integers(rows: Sequence[Any], info: PrecisionInfo | None, where: Where) -> np.ndarray | None:
    """Rows that numpy could not read because an integer is beyond 64 bits: as float64, or the error.

    Float rows take such a value as the float it is (later refused if beyond
    float32, naming it); code rows and integer-only rows cannot hold it.
    """
    found = _big_integer(rows)
    if found is None:
        return None
    r, j, v = found
    floats = info.is_float if info is not None else any(
        isinstance(x, float) for row in rows for x in row)
    if info is None and not floats:
        raise PayloadError(f"{where(r)}[{j}]: {short_repr(v)} is beyond 64 bits, and the rows hold only integers, "
                           "so their precision cannot be known; pass output_dtype= the value of the request "
                           "('float' reads it as a float)")
    if not floats:
        raise OutOfRangeError(f"{where(r)}[{j}]: {short_repr(v)} is beyond 64 bits, outside {info.name}'s range")
    try:
        return np.array(rows, dtype=np.float64)
    except OverflowError:
        raise OutOfRangeError(f"{where(r)}[{j}]: {short_repr(v)} is beyond float32's largest finite value "
                              f"{float(np.finfo(np.float32).max):g}") from None
    except (ValueError, TypeError):
        return None  # something else is wrong too: _raise_bad_rows words it


def _raise_bad_rows(rows: Sequence[Any], where: Where) -> NoReturn:
    """Find the first row or value that keeps ``rows`` from being a numeric matrix, and say so."""
    width = None
    for r, row in enumerate(rows):
        if isinstance(row, np.ndarray):
            row = row.tolist()
        if not isinstance(row, (list, tuple)):
            raise PayloadError(f"{where(r)}: expected a list of numbers, got {_json_type(row)}")
        for j, v in enumerate(row):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)):
                hint = ""
                if isinstance(v, (list, tuple)):
                    hint = "; rows hold one vector each (a list of vectors is a multi-vector payload)"
                raise PayloadError(f"{where(r)}[{j}]: expected a number, got {_json_type(v)}{hint}")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise ShapeError(
                f"{where(r)}: rows must all have the same length; {where(0)} has {width} values, "
                f"{where(r)} has {len(row)}"
            )
    raise PayloadError(f"{where(0)}: the rows cannot form a matrix of numbers (integers beyond 64 bits?)")


def _refuse_booleans(rows: Sequence[Any], arr: np.ndarray, where: Where) -> None:
    """Refuse the booleans that ``np.array(rows)`` read as 1 and 0 among numbers.

    ``arr`` is the matrix made of ``rows``.  Only an item equal to 0 or 1 can
    have been a boolean, so only those items' types are looked at (a float
    embedding has almost none, 8-bit codes about one in a hundred); when they
    are many, the rows that hold them are scanned whole, which is cheaper.
    """
    mask = arr == 0
    mask |= arr == 1
    hits = np.flatnonzero(mask)
    if hits.size == 0:
        return
    if hits.size * 4 <= mask.size:
        rs, js = np.divmod(hits, arr.shape[1])
        types = set(map(type, [rows[r][j] for r, j in zip(rs.tolist(), js.tolist(), strict=True)]))
    else:
        types = set()
        for r in np.flatnonzero(mask.any(axis=1)).tolist():
            types.update(map(type, rows[r]))
    if bool not in types and np.bool_ not in types:
        return
    for r, j in zip(*(ix.tolist() for ix in np.nonzero(mask)), strict=True):
        if isinstance(rows[r][j], (bool, np.bool_)):
            raise PayloadError(f"{where(r)}[{j}]: expected a number, got a boolean")


def _locate(mask: np.ndarray) -> tuple[int, int]:
    r, j = np.argwhere(mask)[0]
    return int(r), int(j)


def _floats(arr: np.ndarray, info: PrecisionInfo, where: Where) -> np.ndarray:
    target = info.dtype.newbyteorder("=")
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(target)
    if not np.isfinite(out).all():
        r, j = _locate(~np.isfinite(out))
        value = arr[r, j].item()
        if math.isfinite(value):
            raise OutOfRangeError(
                f"{where(r)}[{j}]: {value!r} is beyond {info.name}'s largest finite value "
                f"{float(np.finfo(target).max):g}"
            )
        raise NonFiniteError(f"{where(r)}[{j}]: expected a finite number, got {value}")
    return out


def _codes(arr: np.ndarray, info: PrecisionInfo, where: Where) -> np.ndarray:
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            r, j = _locate(~finite)
            raise NonFiniteError(
                f"{where(r)}[{j}]: expected an integer {info.name} code, got {arr[r, j].item()}"
            )
        fractional = arr != np.trunc(arr)
        if fractional.any():
            r, j = _locate(fractional)
            raise PayloadError(
                f"{where(r)}[{j}]: expected an integer {info.name} code, got {arr[r, j].item()!r}; "
                "float values are decoded with output_dtype='float'"
            )
    limits = np.iinfo(info.dtype)
    low, high = arr.min(), arr.max()
    if low < limits.min or high > limits.max:
        r, j = _locate((arr < limits.min) | (arr > limits.max))
        value = arr[r, j].item()
        hint = ""
        if info.dtype.kind == "i" and value > limits.max and low >= 0:
            hint = f"; codes 0..255 are {'ubinary' if info.packed else 'uint8'}: pass that output_dtype"
        elif info.dtype.kind == "u" and value < 0:
            hint = f"; negative codes are {'binary' if info.packed else 'int8'}: pass that output_dtype"
        raise OutOfRangeError(
            f"{where(r)}[{j}]: {value:g} is outside {info.name}'s range {limits.min}..{limits.max}{hint}"
        )
    return arr.astype(info.dtype.newbyteorder("="))


def _check_width(out: np.ndarray, info: PrecisionInfo, where: Where, output_dimension: int | None) -> int:
    width = out.shape[1]
    if info.packed:
        try:
            return resolve_bit_dim(out, output_dimension, where(0))
        except ShapeError as exc:
            raise ShapeError(f"{exc} (output_dimension={output_dimension})") from None
    if output_dimension is not None and width != output_dimension:
        raise ShapeError(f"{where(0)}: output_dimension={output_dimension} but the rows have {width} values")
    return width


def base64_rows_to_array(
    rows: Sequence[Any],
    info: PrecisionInfo,
    where: Where,
    output_dimension: int | None,
) -> tuple[np.ndarray, int]:
    """Base64 strings, one per row, to an array of ``info``'s storage dtype, and the dimension.

    The rows are decoded by :func:`quantlib.encoding.decode_rows`; this adds
    the payload's checks: rows that are not empty, finite floats, the
    request's ``output_dimension`` (bits: zero padding).
    """
    if not rows:
        width = 0 if output_dimension is None else code_width(info, output_dimension)
        return np.empty((0, width), info.dtype.newbyteorder("=")), output_dimension or 0
    if isinstance(rows[0], (str, bytes)) and not rows[0]:
        raise ShapeError(f"{where(0)}: expected at least one value per row, got an empty base64 string")
    words = RowWords(where=where, items=info.name, not_text=PayloadError, text="a base64 string",
                     describe=_json_type, hint="; is output_dtype right?",
                     ragged="{first_where} decodes to {first} bytes, {where} to {nbytes}")
    out = encoding.decode_rows(rows, info.dtype, words=words)
    if info.is_float and not np.isfinite(out).all():
        r, j = _locate(~np.isfinite(out))
        raise NonFiniteError(f"{where(r)}: expected finite values, got {out[r, j].item()} at position {j}")
    if info.packed:
        try:
            dim = resolve_bit_dim(out, output_dimension, where(0))
        except ShapeError as exc:
            raise ShapeError(f"{exc} (output_dimension={output_dimension})") from None
        return out, dim
    if output_dimension is not None and out.shape[1] != output_dimension:
        raise Base64DecodeError(
            f"{where(0)}: output_dimension={output_dimension} but the row decodes to {out.shape[1]} "
            f"{info.name} values ({out.shape[1] * info.dtype.itemsize} bytes); is output_dtype right?"
        )
    return out, out.shape[1]


def decode_rows(
    rows: Sequence[Any],
    info: PrecisionInfo | None,
    where: Where,
    output_dimension: int | None,
    base64_hint: Callable[[], PrecisionInfo | None],
    base64_needs: str,
) -> tuple[np.ndarray, PrecisionInfo, int]:
    """Rows that are all lists or all base64 strings, to one array.

    ``base64_hint`` gives the precision of base64 rows when ``info`` is None
    (or None if it cannot be known, and then ``base64_needs`` says why).
    """
    if rows and all(isinstance(r, str) for r in rows):
        if info is None:
            info = base64_hint()
            if info is None:
                raise PayloadError(f"{where(0)}: base64 embeddings do not say their dtype; {base64_needs}")
        out, dim = base64_rows_to_array(rows, info, where, output_dimension)
        return out, info, dim
    strings = [r for r, row in enumerate(rows) if isinstance(row, str)]
    if strings:
        r = (
            strings[0]
            if not isinstance(rows[0], str)
            else next(k for k, row in enumerate(rows) if not isinstance(row, str))
        )
        raise PayloadError(
            f"{where(r)}: rows mix base64 strings and lists; expected one encoding for every row, "
            f"got {_json_type(rows[r])}"
        )
    return rows_to_array(rows, info, where, output_dimension)
